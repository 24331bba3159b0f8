#include "kernels/cuda/cuda_context.h"

#include <cstdlib>
#include <string_view>

#include <memory>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace mmgen::kernels::cuda {

void check_cuda(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so later calls are not blamed for it
  fail("CUDA error in ", call, ": ", cudaGetErrorName(status), " (", cudaGetErrorString(status),
       ")");
}

void check_cublas(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail("cuBLAS error in ", call, ": ", cublasGetStatusName(status), " (",
       cublasGetStatusString(status), ")");
}

void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) return;
  fail("CUDA error launching kernel ", kernel, ": ", cudaGetErrorName(status), " (",
       cudaGetErrorString(status), ")");
}

DeviceGuard::DeviceGuard(Device device) {
  MMGEN_CHECK(device.is_cuda(), "CUDA backend called with a ", device.str(), " tensor");
  check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
  if (previous_ != device.index) {
    check_cuda(cudaSetDevice(device.index), "cudaSetDevice");
    changed_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (changed_) cudaSetDevice(previous_);
}

namespace {

// The handles of one device; destroyed when the process's contexts go away.
struct DeviceHandles {
  cublasHandle_t blas = nullptr;
  cublasLtHandle_t blas_lt = nullptr;

  DeviceHandles() = default;
  DeviceHandles(const DeviceHandles&) = delete;
  DeviceHandles& operator=(const DeviceHandles&) = delete;
  ~DeviceHandles() {
    // Errors are ignored here: at process exit the runtime may already be unloading.
    if (blas) cublasDestroy(blas);
    if (blas_lt) cublasLtDestroy(blas_lt);
  }
};

// Handles of every device, indexed by ordinal; guarded by contexts_mutex().
std::vector<std::unique_ptr<DeviceHandles>>& contexts() {
  static std::vector<std::unique_ptr<DeviceHandles>> devices;
  return devices;
}

std::mutex& contexts_mutex() {
  static std::mutex mutex;
  return mutex;
}

// The handles slot of a device; the caller holds contexts_mutex().
DeviceHandles& handles_of(Device device) {
  auto& devices = contexts();
  if (devices.empty()) {
    int count = 0;
    check_cuda(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    devices.resize(static_cast<size_t>(count));
  }
  MMGEN_CHECK(device.index >= 0 && device.index < static_cast<int>(devices.size()), "CUDA device ",
              device.index, " does not exist (", devices.size(), " devices present)");
  auto& slot = devices[static_cast<size_t>(device.index)];
  if (!slot) slot = std::make_unique<DeviceHandles>();
  return *slot;
}

}  // namespace

bool tf32_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("MMGEN_CUDA_TF32");
    return env != nullptr && std::string_view(env) == "1";
  }();
  return enabled;
}

cublasHandle_t cublas_handle(Device device) {
  std::lock_guard<std::mutex> lock(contexts_mutex());
  DeviceHandles& handles = handles_of(device);
  if (!handles.blas) {
    DeviceGuard guard(device);
    cublasHandle_t handle = nullptr;
    check_cublas(cublasCreate(&handle), "cublasCreate");
    // Accuracy first: plain f32 arithmetic unless the user opts into TF32 tensor cores.
    const cublasStatus_t math = cublasSetMathMode(
        handle, tf32_enabled() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    const cublasStatus_t bind = cublasSetStream(handle, stream());
    if (math != CUBLAS_STATUS_SUCCESS || bind != CUBLAS_STATUS_SUCCESS) {
      cublasDestroy(handle);
      check_cublas(math, "cublasSetMathMode");
      check_cublas(bind, "cublasSetStream");
    }
    handles.blas = handle;
  }
  return handles.blas;
}

cublasLtHandle_t cublaslt_handle(Device device) {
  std::lock_guard<std::mutex> lock(contexts_mutex());
  DeviceHandles& handles = handles_of(device);
  if (!handles.blas_lt) {
    DeviceGuard guard(device);
    check_cublas(cublasLtCreate(&handles.blas_lt), "cublasLtCreate");
  }
  return handles.blas_lt;
}

}  // namespace mmgen::kernels::cuda
