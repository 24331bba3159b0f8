#include "text/kv_cache.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::text {

namespace {
// The first allocation: enough for a typical prompt without reallocating.
constexpr int64_t kInitialCapacity = 256;
}  // namespace

KvCache::KvCache(int64_t layers, int64_t kv_heads, int64_t head_dim, int64_t limit, Device device)
    : kv_heads_(kv_heads), head_dim_(head_dim), limit_(limit), device_(device) {
  MMGEN_CHECK(layers > 0 && kv_heads > 0 && head_dim > 0 && limit > 0, "kv cache: layers (", layers,
              "), kv heads (", kv_heads, "), head dim (", head_dim, ") and context limit (", limit,
              ") must be positive");
  keys_.resize(static_cast<size_t>(layers));
  values_.resize(static_cast<size_t>(layers));
}

void KvCache::check_room(int64_t count) const {
  MMGEN_CHECK(limit_ > 0, "kv cache: the cache was not created for a model");
  MMGEN_CHECK(length_ + count <= limit_, "context limit exceeded: ", length_,
              " positions are cached and ", count, " more were given, but the context holds ",
              limit_, " positions");
}

void KvCache::reserve(int64_t positions) {
  if (positions <= capacity_) return;
  const int64_t capacity =
      std::min(limit_, std::max({positions, 2 * capacity_, std::min(limit_, kInitialCapacity)}));
  const size_t row_bytes = static_cast<size_t>(kv_heads_ * head_dim_) * sizeof(float);
  for (std::vector<Tensor>* stores : {&keys_, &values_}) {
    for (Tensor& store : *stores) {
      Tensor grown = Tensor::empty({capacity, kv_heads_, head_dim_}, DType::kF32, device_);
      if (store.defined() && length_ > 0)
        copy_bytes(grown.data(), device_, store.data(), device_,
                   static_cast<size_t>(length_) * row_bytes);
      store = grown;
    }
  }
  capacity_ = capacity;
}

void KvCache::write(int64_t layer, const Tensor& keys, const Tensor& values) {
  MMGEN_CHECK(layer >= 0 && layer < layers(), "kv cache: layer ", layer, " is outside [0, ",
              layers(), ")");
  const Shape expected = {keys.dim(0), kv_heads_, head_dim_};
  MMGEN_CHECK(keys.shape() == expected && values.shape() == expected &&
                  keys.dtype() == DType::kF32 && values.dtype() == DType::kF32,
              "kv cache: keys ", keys.str(), " and values ", values.str(), " must be f32 ",
              shape_str(expected));
  MMGEN_CHECK(keys.device() == device_ && values.device() == device_, "kv cache: keys on ",
              keys.device().str(), " and values on ", values.device().str(),
              " must be on the cache's device ", device_.str());
  const int64_t count = keys.dim(0);
  check_room(count);
  reserve(length_ + count);
  const size_t row_bytes = static_cast<size_t>(kv_heads_ * head_dim_) * sizeof(float);
  const size_t offset = static_cast<size_t>(length_) * row_bytes;
  // A strided input is gathered on its own device (kernels::contiguous, not a host trip).
  const auto dense = [](const Tensor& t) { return t.is_contiguous() ? t : kernels::contiguous(t); };
  const Tensor k = dense(keys), v = dense(values);
  Tensor& key_store = keys_[static_cast<size_t>(layer)];
  Tensor& value_store = values_[static_cast<size_t>(layer)];
  copy_bytes(static_cast<std::byte*>(key_store.data()) + offset, device_, k.data(), device_,
             static_cast<size_t>(count) * row_bytes);
  copy_bytes(static_cast<std::byte*>(value_store.data()) + offset, device_, v.data(), device_,
             static_cast<size_t>(count) * row_bytes);
}

void KvCache::commit(int64_t count) {
  check_room(count);
  length_ += count;
}

Tensor KvCache::view(const Tensor& storage, int64_t positions) const {
  MMGEN_CHECK(storage.defined() && positions <= capacity_, "kv cache: ", positions,
              " positions were requested but only ", capacity_, " are stored");
  // [L, H, D] -> [1, H, L, D]: the attention layout (a strided view).
  return storage.narrow(0, 0, positions).permute({1, 0, 2}).unsqueeze(0);
}

Tensor KvCache::keys(int64_t layer, int64_t pending) const {
  return view(keys_.at(static_cast<size_t>(layer)), length_ + pending);
}

Tensor KvCache::values(int64_t layer, int64_t pending) const {
  return view(values_.at(static_cast<size_t>(layer)), length_ + pending);
}

}  // namespace mmgen::text
