// Per-device CUDA state of the backend (library handles) and the checks that
// turn CUDA / cuBLAS status codes into mmgen::Error.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/device.h"

namespace mmgen::kernels::cuda {

// Throws Error naming the call when status is not success.
void check_cuda(cudaError_t status, const char* call);
void check_cublas(cublasStatus_t status, const char* call);
// Checks the launch of the kernel just enqueued (bad configuration, missing image).
void check_launch(const char* kernel);

// All backend work goes to the legacy default stream: it orders every kernel,
// cuBLAS call and the synchronous copies of core/storage.cpp with no extra events.
inline cudaStream_t stream() { return nullptr; }

// Makes `device` current for the scope and restores the previous device after.
class DeviceGuard {
 public:
  explicit DeviceGuard(Device device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

// True when MMGEN_CUDA_TF32=1: cuBLAS may then run f32 products on TF32 tensor cores
// (inputs rounded to 10-bit mantissas, ~1e-3 relative error; several times faster).
bool tf32_enabled();

// The cuBLAS handle of a device, created on first use (full f32 math unless tf32_enabled())
// and bound to stream(). The caller's current device must be `device`.
cublasHandle_t cublas_handle(Device device);
// The cuBLASLt handle of a device, created on first use.
cublasLtHandle_t cublaslt_handle(Device device);

}  // namespace mmgen::kernels::cuda
