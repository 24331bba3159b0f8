#include "core/mapped_tensor.h"

#include <cstdint>
#include <cstring>

namespace mmgen {

size_t element_alignment(DType dtype) {
  const size_t bytes = block_bytes(dtype);
  if (is_quantized(dtype)) return bytes % 4 == 0 ? 4 : 2;  // f16 or f32 scale fields
  return bytes;
}

Tensor mapped_tensor(const std::shared_ptr<Storage>& storage, size_t byte_offset,
                     const Shape& shape, DType dtype) {
  const auto address = reinterpret_cast<uintptr_t>(storage->data()) + byte_offset;
  if (address % element_alignment(dtype) == 0)
    return Tensor::view_of(storage, byte_offset, shape, dtype);
  Tensor copy = Tensor::empty(shape, dtype);
  if (copy.nbytes()) std::memcpy(copy.data(), storage->data() + byte_offset, copy.nbytes());
  return copy;
}

}  // namespace mmgen
