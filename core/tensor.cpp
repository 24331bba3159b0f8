#include "core/tensor.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <sstream>

#include "core/convert.h"

namespace mmgen {

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

namespace {

void check_shape(const Shape& shape) {
  for (int64_t d : shape) MMGEN_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
}

int wrap_dim(int i, int ndim, const char* what) {
  const int wrapped = i < 0 ? i + ndim : i;
  MMGEN_CHECK(wrapped >= 0 && wrapped < ndim, what, ": dimension ", i, " out of range for ", ndim,
              "-d tensor");
  return wrapped;
}

}  // namespace

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  check_shape(shape);
  const int64_t n = shape_numel(shape);
  MMGEN_CHECK(!is_quantized(dtype) || (!shape.empty() && shape.back() % block_size(dtype) == 0),
              "a ", dtype_name(dtype), " tensor needs a last dimension that is a multiple of ",
              block_size(dtype), ", got ", shape_str(shape));
  Tensor t;
  t.storage_ = allocate_storage(bytes_for(dtype, n), device);
  t.dtype_ = dtype;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, device);
  zero_bytes(t.data(), device, t.nbytes());
  return t;
}

Tensor Tensor::full(Shape shape, float value, Device device) {
  Tensor t = empty(std::move(shape), DType::kF32, Device::cpu());
  std::fill_n(t.typed_data<float>(), t.numel(), value);
  return t.to(device);
}

Tensor Tensor::from_data(const void* data, Shape shape, DType dtype) {
  Tensor t = empty(std::move(shape), dtype, Device::cpu());
  if (t.nbytes()) std::memcpy(t.data(), data, t.nbytes());
  return t;
}

Tensor Tensor::view_of(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape,
                       DType dtype) {
  check_shape(shape);
  MMGEN_CHECK(storage != nullptr, "view_of: no storage");
  const size_t bytes = bytes_for(dtype, shape_numel(shape));
  MMGEN_CHECK(byte_offset <= storage->size() && bytes <= storage->size() - byte_offset, "view of ",
              bytes, " bytes at offset ", byte_offset, " exceeds storage of ", storage->size(),
              " bytes");
  Tensor t;
  t.storage_ = std::move(storage);
  t.offset_ = byte_offset;
  t.dtype_ = dtype;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::strided_view_of(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape,
                               Shape strides, DType dtype) {
  check_shape(shape);
  MMGEN_CHECK(storage != nullptr, "strided_view_of: no storage");
  MMGEN_CHECK(!is_quantized(dtype), "strided_view_of: ", dtype_name(dtype),
              " is quantised; only plain dtypes have element strides");
  MMGEN_CHECK(shape.size() == strides.size(), "strided_view_of: shape ", shape_str(shape),
              " and strides ", shape_str(strides), " differ in length");
  // The furthest element is at sum((size - 1) * stride); computed without overflow.
  uint64_t last = 0;
  bool empty = false;
  bool overflow = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    MMGEN_CHECK(strides[i] >= 0, "strided_view_of: negative stride in ", shape_str(strides));
    if (shape[i] == 0) empty = true;
    uint64_t reach = 0;
    overflow |= shape[i] > 0 && __builtin_mul_overflow(static_cast<uint64_t>(shape[i] - 1),
                                                       static_cast<uint64_t>(strides[i]), &reach);
    overflow |= __builtin_add_overflow(last, reach, &last);
  }
  int64_t numel = 1;
  for (int64_t d : shape) overflow |= __builtin_mul_overflow(numel, d, &numel);
  MMGEN_CHECK(!overflow && static_cast<uint64_t>(numel) <= SIZE_MAX / block_bytes(dtype),
              "strided view of shape ", shape_str(shape), " is too large");
  if (!empty) {
    uint64_t end_byte = 0;
    overflow |= __builtin_add_overflow(last, uint64_t{1}, &end_byte);
    overflow |= __builtin_mul_overflow(end_byte, uint64_t{block_bytes(dtype)}, &end_byte);
    MMGEN_CHECK(
        !overflow && byte_offset <= storage->size() && end_byte <= storage->size() - byte_offset,
        "strided view ", shape_str(shape), " with strides ", shape_str(strides), " at byte ",
        byte_offset, " reaches past the end of its storage of ", storage->size(), " bytes");
  } else {
    MMGEN_CHECK(byte_offset <= storage->size(), "strided view at byte ", byte_offset,
                " lies past the end of its storage of ", storage->size(), " bytes");
  }
  Tensor t;
  t.storage_ = std::move(storage);
  t.offset_ = byte_offset;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.strides_ = std::move(strides);
  return t;
}

int64_t Tensor::dim(int i) const { return shape_[wrap_dim(i, ndim(), "dim")]; }
int64_t Tensor::stride(int i) const { return strides_[wrap_dim(i, ndim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

size_t Tensor::nbytes() const { return bytes_for(dtype_, numel()); }

void* Tensor::data() const {
  MMGEN_CHECK(defined(), "use of an undefined tensor");
  return storage_->data() + offset_;
}

float Tensor::item_f32(int64_t flat_index) const {
  MMGEN_CHECK(device().is_cpu(), "item_f32 needs a CPU tensor, got ", str());
  MMGEN_CHECK(!is_quantized(dtype_), "item_f32 on a quantised tensor ", str());
  MMGEN_CHECK(flat_index >= 0 && flat_index < numel(), "index ", flat_index, " out of range for ",
              str());
  int64_t offset = 0;
  for (size_t i = shape_.size(); i-- > 0;) {
    offset += (flat_index % shape_[i]) * strides_[i];
    flat_index /= shape_[i];
  }
  float value;
  convert_elements(dtype_, static_cast<const std::byte*>(data()) + offset * block_bytes(dtype_),
                   DType::kF32, &value, 1);
  return value;
}

std::vector<float> Tensor::to_f32_vector() const {
  Tensor t = to(Device::cpu()).contiguous().to(DType::kF32);
  const float* p = t.typed_data<float>();
  return std::vector<float>(p, p + t.numel());
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  Tensor t = to(Device::cpu()).contiguous().to(DType::kI64);
  const int64_t* p = t.typed_data<int64_t>();
  return std::vector<int64_t>(p, p + t.numel());
}

namespace {

Shape resolve_shape(Shape shape, int64_t numel, const std::string& from) {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      MMGEN_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      MMGEN_CHECK(shape[i] >= 0, "reshape: negative dimension in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    MMGEN_CHECK(known > 0 && numel % known == 0, "cannot reshape ", from, " to ", shape_str(shape));
    shape[infer] = numel / known;
  }
  MMGEN_CHECK(shape_numel(shape) == numel, "cannot reshape ", from, " (", numel, " elements) to ",
              shape_str(shape));
  return shape;
}

}  // namespace

Tensor Tensor::view(Shape shape) const {
  MMGEN_CHECK(is_contiguous(), "view of a non-contiguous tensor ", str());
  Tensor t = *this;
  t.shape_ = resolve_shape(std::move(shape), numel(), str());
  MMGEN_CHECK(
      !is_quantized(dtype_) || (!t.shape_.empty() && t.shape_.back() % block_size(dtype_) == 0),
      "view would split the blocks of ", str());
  t.strides_ = contiguous_strides(t.shape_);
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  return is_contiguous() ? view(std::move(shape)) : contiguous().view(std::move(shape));
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
  MMGEN_CHECK(static_cast<int>(dims.size()) == ndim(), "permute: ", dims.size(), " dims given for ",
              str());
  MMGEN_CHECK(!is_quantized(dtype_), "permute of a quantised tensor ", str());
  std::vector<bool> seen(dims.size(), false);
  Tensor t = *this;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int d = wrap_dim(dims[i], ndim(), "permute");
    MMGEN_CHECK(!seen[d], "permute: dimension ", d, " repeated");
    seen[d] = true;
    t.shape_[i] = shape_[d];
    t.strides_[i] = strides_[d];
  }
  return t;
}

Tensor Tensor::transpose(int a, int b) const {
  std::vector<int> dims(ndim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(a, ndim(), "transpose")], dims[wrap_dim(b, ndim(), "transpose")]);
  return permute(dims);
}

Tensor Tensor::narrow(int d, int64_t start, int64_t length) const {
  d = wrap_dim(d, ndim(), "narrow");
  MMGEN_CHECK(start >= 0 && length >= 0 && start + length <= shape_[d], "narrow(", d, ", ", start,
              ", ", length, ") out of range for ", str());
  MMGEN_CHECK(!is_quantized(dtype_) || d != ndim() - 1 ||
                  (start % block_size(dtype_) == 0 && length % block_size(dtype_) == 0),
              "narrow would split the blocks of ", str());
  Tensor t = *this;
  t.offset_ += bytes_for(dtype_, start * strides_[d]);
  t.shape_[d] = length;
  return t;
}

Tensor Tensor::unsqueeze(int d) const {
  d = wrap_dim(d, ndim() + 1, "unsqueeze");
  Tensor t = *this;
  const int64_t stride = d < ndim() ? strides_[d] * shape_[d] : 1;
  t.shape_.insert(t.shape_.begin() + d, 1);
  t.strides_.insert(t.strides_.begin() + d, stride);
  return t;
}

Tensor Tensor::squeeze(int d) const {
  d = wrap_dim(d, ndim(), "squeeze");
  MMGEN_CHECK(shape_[d] == 1, "squeeze: dimension ", d, " of ", str(), " is not 1");
  Tensor t = *this;
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

namespace {

// Strided copy on the host of a plain-dtype tensor into contiguous memory.
void gather_strided(const std::byte* src, const Shape& shape, const Shape& strides,
                    size_t element_bytes, std::byte* dst) {
  const int nd = static_cast<int>(shape.size());
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  std::vector<int64_t> index(nd, 0);
  // Copy runs along the innermost dimension at a time.
  const int64_t inner = nd ? shape[nd - 1] : 1;
  const int64_t inner_stride = nd ? strides[nd - 1] : 1;
  for (int64_t done = 0; done < n; done += inner) {
    int64_t offset = 0;
    for (int i = 0; i < nd - 1; ++i) offset += index[i] * strides[i];
    const std::byte* row = src + offset * static_cast<int64_t>(element_bytes);
    if (inner_stride == 1) {
      std::memcpy(dst, row, inner * element_bytes);
      dst += inner * element_bytes;
    } else {
      for (int64_t j = 0; j < inner; ++j) {
        std::memcpy(dst, row + j * inner_stride * static_cast<int64_t>(element_bytes),
                    element_bytes);
        dst += element_bytes;
      }
    }
    for (int i = nd - 2; i >= 0; --i) {
      if (++index[i] < shape[i]) break;
      index[i] = 0;
    }
  }
}

}  // namespace

// A strided device tensor comes to the host as the byte span its elements cover (one
// copy), viewed there with the same strides; the caller gathers it.
Tensor Tensor::strided_span_on_host() const {
  int64_t span = 1;
  for (size_t i = 0; i < shape_.size(); ++i) span += (shape_[i] - 1) * strides_[i];
  const size_t bytes = static_cast<size_t>(span) * block_bytes(dtype_);
  Tensor host = empty({span}, dtype_, Device::cpu());
  copy_bytes(host.data(), Device::cpu(), data(), device(), bytes);
  return strided_view_of(host.storage_, 0, shape_, strides_, dtype_);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  MMGEN_CHECK(!is_quantized(dtype_), "non-contiguous quantised tensor ", str());
  if (numel() == 0) return empty(shape_, dtype_, device());
  if (device().is_cuda()) return strided_span_on_host().contiguous().to(device());
  Tensor out = empty(shape_, dtype_, Device::cpu());
  gather_strided(static_cast<const std::byte*>(data()), shape_, strides_, block_bytes(dtype_),
                 static_cast<std::byte*>(out.data()));
  return out;
}

Tensor Tensor::clone() const {
  Tensor src = contiguous();
  if (src.storage_ != storage_ || src.offset_ != offset_) return src;  // already a fresh copy
  Tensor out = empty(shape_, dtype_, device());
  copy_bytes(out.data(), out.device(), data(), device(), nbytes());
  return out;
}

Tensor Tensor::to(Device target) const {
  if (device() == target) return *this;
  if (device().is_cuda() && !is_contiguous() && numel() > 0)
    return strided_span_on_host().contiguous().to(target);
  Tensor src = contiguous();
  Tensor out = empty(shape_, dtype_, target);
  copy_bytes(out.data(), target, src.data(), src.device(), src.nbytes());
  return out;
}

Tensor Tensor::to(DType target) const {
  if (dtype_ == target) return *this;
  MMGEN_CHECK(device().is_cpu(), "dtype conversion of ", str(),
              " runs on the CPU; use kernels::cast on CUDA");
  Tensor src = contiguous();
  Tensor out = empty(shape_, target, Device::cpu());
  convert_elements(dtype_, src.data(), target, out.data(), numel());
  return out;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " + device().str();
}

}  // namespace mmgen
