// 64-byte aligned buffers for kernel scratch: vector and tile loads never straddle
// cache lines (std::vector's 16-byte alignment left them to chance).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace mmgen::kernels::cpu {

// Grows, never shrinks; contents are not initialised and not kept across growth.
template <typename T>
class AlignedBuffer {
 public:
  T* get(size_t n) {
    n = std::max<size_t>(n, 1);
    if (n > size_) {
      const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
      auto* p = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!p) throw std::bad_alloc();
      data_.reset(p);
      size_ = n;
    }
    return data_.get();
  }
  // What the last get() returned (null before the first).
  T* data() const { return data_.get(); }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  size_t size_ = 0;
};

using AlignedFloats = AlignedBuffer<float>;

}  // namespace mmgen::kernels::cpu
