#include "diffusion/sd_blocks.h"

#include <set>

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::diffusion {

namespace ops = mmgen::kernels;

// ---- WeightReader ------------------------------------------------------------------

WeightReader::WeightReader(std::shared_ptr<const ModelFile> file, std::string prefix,
                           std::string network, Device device)
    : file_(std::move(file)),
      prefix_(std::move(prefix)),
      network_(std::move(network)),
      device_(device) {
  MMGEN_CHECK(file_ != nullptr, "WeightReader: no model file");
}

bool WeightReader::contains(const std::string& name) const {
  return file_->contains(full_name(name));
}

const Shape& WeightReader::shape(const std::string& name) const {
  const std::string full = full_name(name);
  MMGEN_CHECK(file_->contains(full), file_->path().string(), ": no tensor '", full,
              "' (needed by the ", network_, ")");
  return file_->info(full).shape;
}

Tensor WeightReader::get(const std::string& name, const Shape& expected) const {
  const Shape& stored = shape(name);
  MMGEN_CHECK(stored == expected, file_->path().string(), ": tensor '", full_name(name),
              "' has shape ", shape_str(stored), ", expected ", shape_str(expected), " (", network_,
              ")");
  return file_->tensor(full_name(name)).to(device_);
}

Tensor WeightReader::vec(const std::string& name, int64_t length) const {
  const Shape& stored = shape(name);
  MMGEN_CHECK(stored == Shape{length}, file_->path().string(), ": tensor '", full_name(name),
              "' has shape ", shape_str(stored), ", expected ", shape_str({length}), " (", network_,
              ")");
  // Converted on the host (where the file lives), then moved once.
  const Tensor t = file_->tensor(full_name(name));
  return (t.dtype() == DType::kF32 ? t : t.to(DType::kF32)).to(device_);
}

int64_t WeightReader::count_indexed(const std::string& stem) const {
  const std::string head = full_name(stem);
  std::set<int64_t> indices;
  for (const TensorInfo& info : file_->tensors()) {
    if (info.name.compare(0, head.size(), head) != 0) continue;
    size_t pos = head.size();
    int64_t index = 0;
    bool digits = false;
    while (pos < info.name.size() && info.name[pos] >= '0' && info.name[pos] <= '9' &&
           index < 1000000) {
      index = index * 10 + (info.name[pos] - '0');
      digits = true;
      ++pos;
    }
    if (digits && pos < info.name.size() && info.name[pos] == '.') indices.insert(index);
  }
  if (indices.empty()) return 0;
  const int64_t count = *indices.rbegin() + 1;
  MMGEN_CHECK(count == static_cast<int64_t>(indices.size()), file_->path().string(), ": tensors '",
              head, "<i>.*' of the ", network_, " skip indices (found ", indices.size(),
              " indices up to ", count - 1, ")");
  return count;
}

// ---- blocks --------------------------------------------------------------------------

Tensor GroupNorm::forward(const Tensor& x) const {
  return ops::group_norm(x, groups, weight, bias, eps);
}

Tensor Conv2d::forward(const Tensor& x) const {
  ops::Conv2dParams params;
  params.stride_h = params.stride_w = stride;
  params.pad_h = params.pad_w = padding;
  return ops::conv2d(x, weight, bias, params);
}

Tensor ResnetBlock::forward(const Tensor& x, const Tensor& emb) const {
  Tensor h = conv1.forward(ops::silu(norm1.forward(x)));
  if (emb_weight.defined()) {
    MMGEN_CHECK(emb.defined(), "ResnetBlock: this block needs a timestep embedding");
    const Tensor e = ops::linear(ops::silu(emb), emb_weight, emb_bias);  // [N, C]
    h = ops::add(h, e.view({e.dim(0), e.dim(1), 1, 1}));
  }
  h = conv2.forward(ops::silu(norm2.forward(h)));
  const Tensor skip = shortcut.defined() ? shortcut.forward(x) : x;
  return ops::add(skip, h);
}

Tensor SpatialSelfAttention::forward(const Tensor& x) const {
  const int64_t n = x.dim(0), c = x.dim(1), height = x.dim(2), width = x.dim(3);
  // [N, C, H, W] -> [N, H*W, C]: positions as rows, so the 1x1 convs are linears.
  const Tensor h = ops::permute(norm.forward(x).view({n, c, height * width}), {0, 2, 1});
  const Tensor q = ops::linear(h, q_weight, q_bias).unsqueeze(1);
  const Tensor k = ops::linear(h, k_weight, k_bias).unsqueeze(1);
  const Tensor v = ops::linear(h, v_weight, v_bias).unsqueeze(1);
  const Tensor attended = ops::attention(q, k, v).squeeze(1);  // [N, H*W, C], scale C^-1/2
  const Tensor projected = ops::linear(attended, proj_weight, proj_bias);
  const Tensor back = ops::permute(projected, {0, 2, 1}).view({n, c, height, width});
  return ops::add(x, back);
}

Tensor Downsample::forward(const Tensor& x) const {
  if (!pad_right_bottom) return conv.forward(x);
  const int64_t n = x.dim(0), c = x.dim(1), height = x.dim(2), width = x.dim(3);
  const Tensor right = Tensor::zeros({n, c, height, 1}, DType::kF32, x.device());
  const Tensor wide = ops::concat({x, right}, 3);
  const Tensor bottom = Tensor::zeros({n, c, 1, width + 1}, DType::kF32, x.device());
  return conv.forward(ops::concat({wide, bottom}, 2));
}

Tensor Upsample::forward(const Tensor& x) const {
  return conv.forward(ops::upsample_nearest2d(x, 2));
}

// ---- loaders -------------------------------------------------------------------------

Conv2d load_conv2d(const WeightReader& reader, const std::string& name, int64_t out, int64_t in,
                   int64_t kernel, int stride, int padding) {
  Conv2d conv;
  conv.weight = reader.get(name + ".weight", {out, in, kernel, kernel});
  conv.bias = reader.vec(name + ".bias", out);
  conv.stride = stride;
  conv.padding = padding >= 0 ? padding : static_cast<int>(kernel / 2);
  return conv;
}

GroupNorm load_group_norm(const WeightReader& reader, const std::string& name, int64_t channels,
                          int groups, float eps) {
  MMGEN_CHECK(groups >= 1 && channels % groups == 0, reader.file().path().string(), ": GroupNorm '",
              reader.full_name(name), "' over ", channels, " channels does not split into ", groups,
              " groups");
  GroupNorm norm;
  norm.weight = reader.vec(name + ".weight", channels);
  norm.bias = reader.vec(name + ".bias", channels);
  norm.groups = groups;
  norm.eps = eps;
  return norm;
}

}  // namespace mmgen::diffusion
