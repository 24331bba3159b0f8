// A block of bytes on one device, shared by the tensors that view it.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "core/device.h"

namespace mmgen {

class Storage {
 public:
  // Takes ownership through `release`, which runs once when the last tensor
  // referring to the storage goes away (free, munmap, cudaFree, or nothing).
  Storage(std::byte* data, size_t size, Device device, std::function<void()> release)
      : data_(data), size_(size), device_(device), release_(std::move(release)) {}
  ~Storage() {
    if (release_) release_();
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  Device device() const { return device_; }

 private:
  std::byte* data_;
  size_t size_;
  Device device_;
  std::function<void()> release_;
};

// New uninitialised memory: 64-byte aligned host memory, or cudaMalloc'd memory.
std::shared_ptr<Storage> allocate_storage(size_t bytes, Device device);

// Copies `bytes` between two storages' addresses on any pair of devices.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace mmgen
