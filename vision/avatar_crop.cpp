#include "vision/avatar_crop.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/thread_pool.h"
#include "vision/avatar_mesh.h"

namespace mmgen::vision {

SquareCrop face_square_crop(const FaceBox& box, int width, int height) {
  const float w = box.right - box.left, h = box.bottom - box.top;
  MMGEN_CHECK(w > 0 && h > 0, "the face box is empty");
  float side = 2.3f * std::max(w, h);
  side = std::min({side, static_cast<float>(width), static_cast<float>(height)});
  const float cx = 0.5f * (box.left + box.right), cy = 0.5f * (box.top + box.bottom) - 0.05f * h;
  SquareCrop crop;
  crop.side = side;
  crop.left = std::clamp(cx - 0.5f * side, 0.0f, static_cast<float>(width) - side);
  crop.top = std::clamp(cy - 0.5f * side, 0.0f, static_cast<float>(height) - side);
  return crop;
}

Image crop_and_resize(const Image& image, const SquareCrop& crop, int size) {
  MMGEN_CHECK(size > 0, "the output size must be positive, got ", size);
  MMGEN_CHECK(crop.side > 0, "the crop is empty");
  Image out(size, size);
  const float scale = crop.side / static_cast<float>(size);
  const int taps = std::max(1, static_cast<int>(std::ceil(scale)));
  parallel_for(
      size,
      [&](int64_t begin, int64_t end) {
        for (int64_t y = begin; y < end; ++y) {
          for (int x = 0; x < size; ++x) {
            float sum[3] = {0, 0, 0};
            for (int j = 0; j < taps; ++j) {
              for (int i = 0; i < taps; ++i) {
                const float sx = crop.left + (x + (i + 0.5f) / taps) * scale;
                const float sy = crop.top + (static_cast<float>(y) + (j + 0.5f) / taps) * scale;
                uint8_t rgb[3];
                sample_bilinear(image, sx, sy, rgb);
                for (int c = 0; c < 3; ++c) sum[c] += rgb[c];
              }
            }
            uint8_t* o = out.pixel(x, static_cast<int>(y));
            for (int c = 0; c < 3; ++c)
              o[c] = static_cast<uint8_t>(sum[c] / static_cast<float>(taps * taps) + 0.5f);
          }
        }
      },
      8);
  return out;
}

}  // namespace mmgen::vision
