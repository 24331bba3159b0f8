#include "vision/image.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mmgen::vision {

Image::Image(int w, int h) : width(w), height(h) {
  MMGEN_CHECK(w > 0 && h > 0, "image size must be positive, got ", w, "x", h);
  pixels.assign(static_cast<size_t>(w) * h * 3, 0);
}

Image image_from_tensor(const Tensor& x) {
  Tensor t = x;
  if (t.ndim() == 4) {
    MMGEN_CHECK(t.dim(0) == 1, "image_from_tensor: expected one image, got ", t.str());
    t = t.squeeze(0);
  }
  MMGEN_CHECK(t.ndim() == 3 && t.dim(0) == 3, "image_from_tensor: expected [3, H, W], got ",
              t.str());
  const std::vector<float> values = t.cpu().to_f32_vector();
  Image image(static_cast<int>(t.dim(2)), static_cast<int>(t.dim(1)));
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) {
      const float v = values[c * plane + i];
      const float clamped = std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f);
      image.pixels[i * 3 + c] = static_cast<uint8_t>(std::lround(clamped * 255.0f));
    }
  return image;
}

Tensor image_to_tensor(const Image& image) {
  MMGEN_CHECK(image.width > 0 && image.height > 0 &&
                  image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
              "image_to_tensor: malformed image ", image.width, "x", image.height);
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  std::vector<float> values(plane * 3);
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) values[c * plane + i] = image.pixels[i * 3 + c] / 255.0f;
  return Tensor::from_vector(values, {1, 3, image.height, image.width});
}

}  // namespace mmgen::vision
