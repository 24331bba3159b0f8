// Tensor: a typed, shaped, strided view into a Storage on the CPU or a CUDA device.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/storage.h"

namespace mmgen {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& shape);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;  // undefined; defined() is false

  // New contiguous tensors.
  static Tensor empty(Shape shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(Shape shape, DType dtype = DType::kF32, Device device = Device::cpu());
  static Tensor full(Shape shape, float value, Device device = Device::cpu());  // f32
  // Copies `data` (numel elements of dtype, or the block bytes of a quantised dtype).
  static Tensor from_data(const void* data, Shape shape, DType dtype);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, Shape shape) {
    MMGEN_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
                "from_vector: ", values.size(), " values do not fill shape ", shape_str(shape));
    return from_data(values.data(), std::move(shape), dtype_of<T>());
  }
  // A contiguous view of existing bytes (a memory-mapped file, another tensor's storage).
  static Tensor view_of(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape,
                        DType dtype);
  // A strided view of existing bytes (a checkpoint tensor that is transposed, expanded
  // or shares its storage); strides in elements, non-negative, plain dtypes only. Checks
  // that every element it can reach lies inside the storage.
  static Tensor strided_view_of(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape,
                                Shape strides, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }  // in elements
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;     // negative i counts from the end
  int64_t stride(int i) const;  // negative i counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  bool is_contiguous() const;
  size_t nbytes() const;  // bytes of the elements when contiguous
  size_t byte_offset() const { return offset_; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Raw address of element 0. typed_data<T>() also checks the dtype.
  void* data() const;
  template <typename T>
  T* typed_data() const {
    MMGEN_CHECK(dtype_ == dtype_of<T>(), "tensor is ", dtype_name(dtype_), ", not ",
                dtype_name(dtype_of<T>()));
    return static_cast<T*>(data());
  }
  // Element accessors for tests and small host-side code (CPU, any plain dtype).
  float item_f32(int64_t flat_index) const;  // flat index over the logical shape
  std::vector<float> to_f32_vector() const;
  std::vector<int64_t> to_i64_vector() const;

  // Views (share storage).
  Tensor reshape(Shape shape) const;  // one dim may be -1; copies if not contiguous
  Tensor view(Shape shape) const;     // like reshape but never copies
  Tensor permute(const std::vector<int>& dims) const;
  Tensor transpose(int a, int b) const;
  Tensor narrow(int dim, int64_t start, int64_t length) const;
  Tensor unsqueeze(int dim) const;
  Tensor squeeze(int dim) const;

  // Copies.
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;
  Tensor to(Device device) const;  // itself when already there
  // Converts on the CPU between any plain dtypes; quantised types convert to
  // f32 (dequantisation) and f32 to quantised where a quantiser exists.
  Tensor to(DType dtype) const;
  Tensor cpu() const { return to(Device::cpu()); }

  std::string str() const;  // "f32[2, 3] cpu"

 private:
  Tensor strided_span_on_host() const;

  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;  // bytes from storage start to element 0
  DType dtype_ = DType::kF32;
  Shape shape_;
  Shape strides_;
};

// Row-major strides for a shape.
Shape contiguous_strides(const Shape& shape);

}  // namespace mmgen
