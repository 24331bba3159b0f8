// The inside of an open mouth, painted where the warp has nothing to show.
#pragma once

#include "vision/face_landmarks68.h"
#include "vision/image.h"

namespace mmgen::vision {

// For a portrait with closed lips: paints the region between the inner-lip
// landmarks (60-67) with a dark cavity, lighter towards the tongue at the
// bottom, shadowed under the upper lip, with the edge of the upper teeth once
// the mouth is open wide enough; soft (one-pixel) edge. The paint fades in as
// the gap grows past the portrait's own (`neutral`), so a face at rest shows
// the portrait's own lips untouched.
void fill_mouth_interior(Image& image, const FaceLandmarks68& neutral,
                         const FaceLandmarks68& landmarks);

// For a portrait whose mouth is already open: the portrait's own mouth
// interior, split along its middle, its upper part carried with the upper lip
// and its lower part with the lower lip (teeth keep their size), and the new
// gap between them dark. `neutral` are the portrait's landmarks, `landmarks`
// the frame's.
void reveal_open_mouth(Image& image, const Image& portrait, const FaceLandmarks68& neutral,
                       const FaceLandmarks68& landmarks);

}  // namespace mmgen::vision
