// The talking head's frame: a square of the portrait around the face, scaled
// to the video size.
#pragma once

#include "vision/image.h"
#include "vision/tiny_face_detector.h"

namespace mmgen::vision {

struct SquareCrop {
  float left = 0, top = 0, side = 0;  // in portrait pixels
};

// A square about 2.3 times the face box, centred a little above the box centre
// (hair and neck both show), shrunk to fit the portrait and moved inside it.
SquareCrop face_square_crop(const FaceBox& box, int width, int height);

// The crop resampled to size x size (bilinear, averaging several taps per
// output pixel when shrinking so fine detail does not alias).
Image crop_and_resize(const Image& image, const SquareCrop& crop, int size);

}  // namespace mmgen::vision
