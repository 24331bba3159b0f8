// Weight normalisation folded at load time: checkpoints trained with
// torch.nn.utils.weight_norm store a direction v and a magnitude g per output
// slice instead of the weight; w = g * v / ||v||, the norm over every
// dimension but the first.
#pragma once

#include <string>

#include "core/model_file.h"
#include "core/tensor.h"

namespace mmgen::audio {

// g: [d0, 1, ..., 1] (or [d0]), v: [d0, ...] -> f32 weight shaped like v.
// `name` (the tensor's name without the suffix) appears in errors.
Tensor fold_weight_norm(const Tensor& g, const Tensor& v, const std::string& name);

// The weight of module `name` as f32: `<name>.weight` when the file holds it,
// else folded from `<name>.weight_g` / `<name>.weight_v` (torch.nn.utils.weight_norm)
// or `<name>.parametrizations.weight.original0` / `original1` (the newer
// parametrization). Throws naming the file and every name tried when none is there.
Tensor load_weight(const ModelFile& file, const std::string& name);
// Whether any of the names load_weight accepts exists.
bool has_weight(const ModelFile& file, const std::string& name);

}  // namespace mmgen::audio
