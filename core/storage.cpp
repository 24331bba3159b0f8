#include "core/storage.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

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
  void* p = nullptr;
  check_cuda(cudaMalloc(&p, size), "cudaMalloc");
  return std::make_shared<Storage>(static_cast<std::byte*>(p), bytes, device, [p] { cudaFree(p); });
#else
  fail("cannot allocate on ", device.str(), ": mmgen was built without CUDA");
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
