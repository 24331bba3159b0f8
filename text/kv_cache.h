// The key/value cache of a decoder-only model: for every layer, the keys and values
// of all positions seen so far, so that a decode step only computes its new token.
//
// Storage is token-major ([positions, kv_heads, head_dim] f32 per layer), so that a
// step appends one contiguous block. It grows geometrically up to the context limit
// (the model's, or a smaller n_ctx chosen by the caller); going past the limit is an
// Error that names both numbers.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace mmgen::text {

class KvCache {
 public:
  KvCache() = default;
  // An empty cache for `layers` layers of `kv_heads` x `head_dim` keys and values,
  // holding at most `limit` positions.
  KvCache(int64_t layers, int64_t kv_heads, int64_t head_dim, int64_t limit,
          Device device = Device::cpu());

  int64_t length() const { return length_; }  // positions stored (the next position)
  int64_t limit() const { return limit_; }    // the context limit
  int64_t layers() const { return static_cast<int64_t>(keys_.size()); }
  Device device() const { return device_; }  // where keys and values live
  // Forgets every position (the memory is kept).
  void clear() { length_ = 0; }

  // Throws Error when `count` more positions would exceed the limit.
  void check_room(int64_t count) const;

  // Writes the keys and values [count, kv_heads, head_dim] of positions
  // length()..length()+count-1 for one layer, from tensors on the cache's device
  // (any layout; an Error otherwise). All layers write the same count;
  // commit() then advances length().
  void write(int64_t layer, const Tensor& keys, const Tensor& values);
  void commit(int64_t count);

  // Keys / values of positions 0..length()+pending-1 as [1, kv_heads, L, head_dim]
  // views (pending: positions written but not committed yet).
  Tensor keys(int64_t layer, int64_t pending) const;
  Tensor values(int64_t layer, int64_t pending) const;

 private:
  void reserve(int64_t positions);
  Tensor view(const Tensor& storage, int64_t positions) const;

  int64_t kv_heads_ = 0, head_dim_ = 0;
  int64_t limit_ = 0, length_ = 0, capacity_ = 0;
  Device device_ = Device::cpu();
  std::vector<Tensor> keys_, values_;  // [capacity, kv_heads, head_dim] per layer
};

}  // namespace mmgen::text
