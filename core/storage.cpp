#include "core/storage.h"

#include <cstdlib>
#include <cstring>

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

std::shared_ptr<Storage> allocate_storage(size_t bytes, Device device) {
  // Allocate at least one byte so every storage has a distinct, valid address.
  const size_t size = bytes ? bytes : 1;
  if (device.is_cpu()) {
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
  return std::make_shared<Storage>(static_cast<std::byte*>(p), bytes, device,
                                   [p] { cudaFree(p); });
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
