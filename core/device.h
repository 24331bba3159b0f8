// Where a tensor's memory lives.
#pragma once

#include <string>

namespace mmgen {

enum class DeviceType : uint8_t { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;  // CUDA ordinal; 0 for the CPU

  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {DeviceType::kCUDA, index}; }
  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool is_cuda() const { return type == DeviceType::kCUDA; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

// True when the library was built with CUDA and a device is present at run time.
bool cuda_available();
// Number of CUDA devices (0 without CUDA or without a device).
int cuda_device_count();

}  // namespace mmgen
