// A block of bytes on one device, shared by the tensors that view it.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

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

  // A model's weights, once loaded, are marked read-only: their owner promises the bytes
  // no longer change, so kernels may keep derived forms of them (a packed copy for the
  // AMX tiles) instead of deriving them on every call. Nothing enforces the promise.
  void mark_read_only() { read_only_ = true; }
  bool read_only() const { return read_only_; }

  // The derived form of read-only bytes under `key` (naming the form and the view of
  // the bytes it was made from), made by `make` on the first request and kept for the
  // storage's life. Two threads asking at once may both make it; one is kept.
  std::shared_ptr<const void> derived(const std::string& key,
                                      const std::function<std::shared_ptr<const void>()>& make);

 private:
  std::byte* data_;
  size_t size_;
  Device device_;
  std::function<void()> release_;
  std::atomic<bool> read_only_{false};
  std::mutex derived_mutex_;
  std::map<std::string, std::shared_ptr<const void>> derived_;
};

// New uninitialised memory: 64-byte aligned host memory, or device memory. Device
// blocks come from a per-device cache of freed blocks (sizes rounded up by at most
// 25%) before cudaMalloc is asked; when the device is full the cache is emptied and
// the allocation tried again.
std::shared_ptr<Storage> allocate_storage(size_t bytes, Device device);

// Bytes of freed device memory held for reuse (0 for the CPU or without CUDA).
size_t cached_device_bytes(Device device);
// Waits for the device, then returns its cached blocks to the driver.
void release_cached_device_memory(Device device);

// Sets `bytes` bytes at `dst` to zero (ordered with the device's other work).
void zero_bytes(void* dst, Device device, size_t bytes);

// Copies `bytes` between two storages' addresses on any pair of devices.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace mmgen
