// Where a tensor's memory lives.
#pragma once

#include <string>
#include <string_view>

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

// "cpu", "cuda" (device 0) or "cuda:N"; throws Error naming the text otherwise.
Device parse_device(std::string_view text);
// Throws Error when `device` cannot run here: a build without CUDA, no CUDA device,
// or an ordinal past the devices present. `what` names the setting, e.g. "--device".
void require_device(Device device, std::string_view what = "device");
// parse_device then require_device: a device named by the user that can run here.
Device resolve_device(std::string_view text, std::string_view what = "device");

// True when the library was built with CUDA and a device is present at run time.
bool cuda_available();
// Number of CUDA devices (0 without CUDA or without a device).
int cuda_device_count();

}  // namespace mmgen
