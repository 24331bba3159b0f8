#include "audio/weight_norm.h"

#include <cmath>

#include "core/error.h"

namespace mmgen::audio {

namespace {

struct Pair {
  std::string g, v;
};

Pair weight_norm_pair(const ModelFile& file, const std::string& name) {
  const Pair classic{name + ".weight_g", name + ".weight_v"};
  if (file.contains(classic.g) || file.contains(classic.v)) return classic;
  return {name + ".parametrizations.weight.original0", name + ".parametrizations.weight.original1"};
}

}  // namespace

Tensor fold_weight_norm(const Tensor& g, const Tensor& v, const std::string& name) {
  MMGEN_CHECK(v.ndim() >= 1 && v.dim(0) >= 1, name, ": weight-norm direction has shape ",
              shape_str(v.shape()));
  const int64_t rows = v.dim(0);
  MMGEN_CHECK(g.numel() == rows && (g.ndim() == 1 || g.ndim() == v.ndim()) && g.dim(0) == rows,
              name, ": weight-norm magnitude ", shape_str(g.shape()), " does not match direction ",
              shape_str(v.shape()), " (expected [", rows, ", 1, ...])");
  const std::vector<float> direction = v.cpu().to_f32_vector();
  const std::vector<float> magnitude = g.cpu().to_f32_vector();
  const int64_t row_size = v.numel() / rows;
  std::vector<float> folded(direction.size());
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = direction.data() + r * row_size;
    double sum = 0.0;
    for (int64_t i = 0; i < row_size; ++i) sum += static_cast<double>(in[i]) * in[i];
    // A zero direction folds to zero rather than NaN.
    const double factor = sum > 0 ? magnitude[r] / std::sqrt(sum) : 0.0;
    float* out = folded.data() + r * row_size;
    for (int64_t i = 0; i < row_size; ++i) out[i] = static_cast<float>(in[i] * factor);
  }
  return Tensor::from_vector(folded, v.shape());
}

bool has_weight(const ModelFile& file, const std::string& name) {
  const Pair pair = weight_norm_pair(file, name);
  return file.contains(name + ".weight") || file.contains(pair.g) || file.contains(pair.v);
}

Tensor load_weight(const ModelFile& file, const std::string& name) {
  if (file.contains(name + ".weight")) return file.tensor(name + ".weight").to(DType::kF32);
  const Pair pair = weight_norm_pair(file, name);
  const bool has_g = file.contains(pair.g), has_v = file.contains(pair.v);
  MMGEN_CHECK(has_g || has_v, file.path().string(), ": no tensor '", name, ".weight' (nor '", name,
              ".weight_g' / '", name, ".weight_v')");
  MMGEN_CHECK(has_g && has_v, file.path().string(), ": tensor '", has_g ? pair.g : pair.v,
              "' has no partner '", has_g ? pair.v : pair.g, "'");
  return fold_weight_norm(file.tensor(pair.g), file.tensor(pair.v),
                          file.path().string() + ": '" + name + "'");
}

}  // namespace mmgen::audio
