#include "core/storage.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/error.h"

#if MMGEN_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace mmgen {

#if MMGEN_HAS_CUDA
namespace {
void check_cuda(cudaError_t status, const char* what) {
  MMGEN_CHECK(status == cudaSuccess, "CUDA error in ", what, ": ", cudaGetErrorString(status));
}
}  // namespace

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return count;
}
#else
int cuda_device_count() { return 0; }
#endif

bool cuda_available() { return cuda_device_count() > 0; }

std::shared_ptr<const void> Storage::derived(
    const std::string& key, const std::function<std::shared_ptr<const void>()>& make) {
  {
    const std::lock_guard<std::mutex> lock(derived_mutex_);
    const auto found = derived_.find(key);
    if (found != derived_.end()) return found->second;
  }
  // Made outside the lock: making may take a while and run on the thread pool.
  std::shared_ptr<const void> made = make();
  const std::lock_guard<std::mutex> lock(derived_mutex_);
  return derived_.emplace(key, std::move(made)).first->second;
}

Device parse_device(std::string_view text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.starts_with("cuda:") && text.size() > 5 && text.size() <= 8) {
    int index = 0;
    bool digits = true;
    for (char c : text.substr(5)) {
      digits &= c >= '0' && c <= '9';
      index = index * 10 + (c - '0');
    }
    if (digits) return Device::cuda(index);
  }
  fail("unknown device '", text, "': expected cpu, cuda or cuda:N");
}

Device resolve_device(std::string_view text, std::string_view what) {
  const Device device = parse_device(text);
  require_device(device, what);
  return device;
}

void require_device(Device device, std::string_view what) {
  if (device.is_cpu()) return;
#if !MMGEN_HAS_CUDA
  fail(what, " ", device.str(),
       ": this build of mmgen has no CUDA support (configure with -DMMGEN_CUDA=ON)");
#else
  const int count = cuda_device_count();
  MMGEN_CHECK(count > 0, what, " ", device.str(), ": no CUDA device is present");
  MMGEN_CHECK(device.index < count, what, " ", device.str(), ": only ", count,
              " CUDA device(s) present");
#endif
}

#if MMGEN_HAS_CUDA
namespace {
// Device memory freed by tensors is kept for the next tensor of the same rounded size:
// cudaMalloc/cudaFree cost tens of microseconds and cudaFree waits for the whole device,
// which would serialise every layer. Reuse is safe without events because all work goes
// to the one legacy default stream (kernels/cuda/cuda_context.h): a kernel that writes a
// reused block is ordered after every kernel that read it before.
class DeviceBlockCache {
 public:
  // Sizes are rounded up to one of four steps per power of two (at most 25% slack), at
  // least 512 bytes, so blocks of similar sizes are interchangeable.
  static size_t round_size(size_t bytes) {
    constexpr size_t kMinimum = 512;
    if (bytes <= kMinimum) return kMinimum;
    const int top = 63 - __builtin_clzll(bytes - 1);  // bytes - 1 < 2^(top + 1)
    const size_t step = size_t{1} << (top - 2);
    return (bytes + step - 1) / step * step;
  }

  void* take(size_t rounded) {
    std::lock_guard lock(mutex_);
    auto it = free_.find(rounded);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_bytes_ -= rounded;
    return p;
  }

  void give(void* p, size_t rounded) {
    std::lock_guard lock(mutex_);
    free_[rounded].push_back(p);
    cached_bytes_ += rounded;
  }

  size_t cached_bytes() {
    std::lock_guard lock(mutex_);
    return cached_bytes_;
  }

  void release_all() {
    std::lock_guard lock(mutex_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) cudaFree(p);
    free_.clear();
    cached_bytes_ = 0;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_bytes_ = 0;
};

// One cache per device ordinal. Never destroyed: at exit the CUDA runtime may already
// be gone, and the driver reclaims the memory with the process.
DeviceBlockCache& device_block_cache(int index) {
  static std::mutex mutex;
  static auto* caches = new std::map<int, std::unique_ptr<DeviceBlockCache>>();
  std::lock_guard lock(mutex);
  auto& slot = (*caches)[index];
  if (!slot) slot = std::make_unique<DeviceBlockCache>();
  return *slot;
}
}  // namespace

size_t cached_device_bytes(Device device) {
  if (!device.is_cuda()) return 0;
  return device_block_cache(device.index).cached_bytes();
}

void release_cached_device_memory(Device device) {
  if (!device.is_cuda()) return;
  check_cuda(cudaSetDevice(device.index), "cudaSetDevice");
  check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  device_block_cache(device.index).release_all();
}
#else
size_t cached_device_bytes(Device) { return 0; }
void release_cached_device_memory(Device) {}
#endif

namespace {
// Tensors of tens of megabytes come and go at every layer. By default glibc
// serves them with fresh mmap()s and unmaps them on free, so every new tensor
// is page-faulted in again (a 64 MB copy then runs at a tenth of the memory
// bandwidth). Keeping blocks up to 1 GiB in the heap lets them be reused.
void tune_host_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  });
}
}  // namespace

std::shared_ptr<Storage> allocate_storage(size_t bytes, Device device) {
  // Allocate at least one byte so every storage has a distinct, valid address.
  const size_t size = bytes ? bytes : 1;
  if (device.is_cpu()) {
    tune_host_allocator();
    constexpr size_t kAlign = 64;
    const size_t rounded = (size + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, rounded);
    MMGEN_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
    return std::make_shared<Storage>(static_cast<std::byte*>(p), bytes, device,
                                     [p] { std::free(p); });
  }
#if MMGEN_HAS_CUDA
  check_cuda(cudaSetDevice(device.index), "cudaSetDevice");
  DeviceBlockCache& cache = device_block_cache(device.index);
  const size_t rounded = DeviceBlockCache::round_size(size);
  void* p = cache.take(rounded);
  if (p == nullptr) {
    cudaError_t status = cudaMalloc(&p, rounded);
    if (status == cudaErrorMemoryAllocation) {
      // Out of memory: give the cached blocks back to the driver and try once more.
      cudaGetLastError();
      cache.release_all();
      status = cudaMalloc(&p, rounded);
    }
    check_cuda(status, "cudaMalloc");
  }
  return std::make_shared<Storage>(static_cast<std::byte*>(p), bytes, device,
                                   [&cache, p, rounded] { cache.give(p, rounded); });
#else
  fail("cannot allocate on ", device.str(), ": mmgen was built without CUDA");
#endif
}

void zero_bytes(void* dst, Device device, size_t bytes) {
  if (bytes == 0) return;
  if (device.is_cpu()) {
    std::memset(dst, 0, bytes);
    return;
  }
#if MMGEN_HAS_CUDA
  // The legacy default stream, like every other piece of device work.
  check_cuda(cudaMemsetAsync(dst, 0, bytes, nullptr), "cudaMemsetAsync");
#else
  fail("cannot clear memory on ", device.str(), ": mmgen was built without CUDA");
#endif
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if MMGEN_HAS_CUDA
  const cudaMemcpyKind kind = dst_device.is_cpu()   ? cudaMemcpyDeviceToHost
                              : src_device.is_cpu() ? cudaMemcpyHostToDevice
                                                    : cudaMemcpyDeviceToDevice;
  check_cuda(cudaMemcpy(dst, src, bytes, kind), "cudaMemcpy");
#else
  fail("cannot copy to or from a CUDA device: mmgen was built without CUDA");
#endif
}

}  // namespace mmgen
