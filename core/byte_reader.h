// Bounds-checked little-endian reading of a byte range (file headers).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/error.h"

namespace mmgen {

static_assert(std::endian::native == std::endian::little,
              "the model-file readers assume a little-endian host");

// Reads values one after another from [data, data + size); every read checks the
// remaining length first and throws Error "<context>: ..." instead of running past it.
class ByteReader {
 public:
  ByteReader(const std::byte* data, size_t size, std::string context)
      : data_(data), size_(size), context_(std::move(context)) {}

  size_t offset() const { return offset_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - offset_; }
  const std::string& context() const { return context_; }

  template <typename T>
  T read(std::string_view what) {
    static_assert(std::is_arithmetic_v<T>);
    require(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  // A view of the next n bytes.
  std::string_view read_bytes(uint64_t n, std::string_view what) {
    require(n, what);
    std::string_view bytes(reinterpret_cast<const char*>(data_ + offset_), static_cast<size_t>(n));
    offset_ += static_cast<size_t>(n);
    return bytes;
  }

  void skip(uint64_t n, std::string_view what) {
    require(n, what);
    offset_ += static_cast<size_t>(n);
  }

  // Throws unless n more bytes are there.
  void require(uint64_t n, std::string_view what) const {
    if (n > remaining())
      fail(context_, ": truncated: ", what, " needs ", n, " bytes at offset ", offset_,
           " but only ", remaining(), " remain");
  }

 private:
  const std::byte* data_;
  size_t size_;
  size_t offset_ = 0;
  std::string context_;
};

// a * b, or false when it does not fit in uint64_t.
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

}  // namespace mmgen
