// An 8-bit RGB image in memory, and its conversions to and from f32 tensors.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace mmgen::vision {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // row-major, 3 bytes (R, G, B) per pixel

  Image() = default;
  Image(int width, int height);  // black; throws Error for non-positive sizes
  uint8_t* pixel(int x, int y) { return pixels.data() + (static_cast<size_t>(y) * width + x) * 3; }
  const uint8_t* pixel(int x, int y) const {
    return pixels.data() + (static_cast<size_t>(y) * width + x) * 3;
  }
};

// x: [3, H, W] (or [1, 3, H, W]) f32 in [0, 1] -> round(clamp(x, 0, 1) * 255).
Image image_from_tensor(const Tensor& x);
// [1, 3, H, W] f32 in [0, 1] (value / 255).
Tensor image_to_tensor(const Image& image);

}  // namespace mmgen::vision
