// Tensors over the bytes of a memory-mapped weight file.
#pragma once

#include <memory>

#include "core/tensor.h"

namespace mmgen {

// A zero-copy view of `shape` x `dtype` at `byte_offset` in `storage` when the address
// suits the element type; otherwise an aligned copy, since kernels load elements
// through typed pointers. The caller has checked that the bytes lie inside the storage.
Tensor mapped_tensor(const std::shared_ptr<Storage>& storage, size_t byte_offset,
                     const Shape& shape, DType dtype);

// The alignment in bytes that typed access to one element (or block) of dtype needs.
size_t element_alignment(DType dtype);

}  // namespace mmgen
