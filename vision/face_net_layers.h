// Building blocks of the face-api networks, written against kernels/ops.h so they
// run on either backend. The networks were trained in TF.js (NHWC, "same"/"valid"
// padding); these helpers reproduce TF's arithmetic on NCHW tensors.
#pragma once

#include <string>

#include "core/tensor.h"
#include "vision/image.h"
#include "vision/tfjs_weights.h"

namespace mmgen::vision::face_net {

// A convolution in TF.js layout converted to ours: weight [O, C / groups, kh, kw].
struct Conv {
  Tensor weight;
  Tensor bias;  // [O] or undefined
  int groups = 1;
};
// "<prefix>/filters" [kh, kw, C, O] and "<prefix>/bias" [O].
Conv load_conv(const TfjsWeights& w, const std::string& prefix, Device device);
// A separable convolution: "<prefix>/depthwise_filter" [kh, kw, C, 1],
// "<prefix>/pointwise_filter" [1, 1, C, O] and "<prefix>/bias" [O].
struct SeparableConv {
  Conv depthwise;  // groups = C, no bias
  Conv pointwise;  // 1x1 with the bias
};
SeparableConv load_separable_conv(const TfjsWeights& w, const std::string& prefix, Device device);

enum class Padding { kSame, kValid };
// TF's conv2d: "same" pads (total - total / 2) after and total / 2 before.
Tensor conv2d(const Tensor& x, const Conv& conv, int stride, Padding padding);
// TF's separableConv2d followed by the bias: depthwise (stride, padding), then pointwise.
Tensor separable_conv2d(const Tensor& x, const SeparableConv& conv, int stride, Padding padding);

// TF's maxPool with a 2x2 window and "same" padding (padded cells never win).
Tensor max_pool_2x2_same(const Tensor& x, int stride);
// Mean over H and W: [N, C, H, W] -> [N, C] (TF's avgPool whose window is the whole map).
Tensor global_average_pool(const Tensor& x);

// An image region padded to a square with zeros and resized to size x size with
// TF's resizeBilinear (alignCorners = false, halfPixelCenters = false), minus the
// per-channel mean, divided by 255: [1, 3, size, size] f32 on the CPU.
// `centered` splits the padding as face-api's padToSquare does (the rounded half
// after the image, the rest before); otherwise all padding goes after.
struct Crop {
  int x = 0, y = 0, width = 0, height = 0;  // inside the image
};
Tensor square_network_input(const Image& image, const Crop& crop, int size, bool centered,
                            const float mean_rgb[3]);

}  // namespace mmgen::vision::face_net
