// The face's own axes in the picture, from its 68 landmarks: the talking-head
// stages move points "down the face" or "along the mouth" with these, so a
// tilted portrait opens its jaw along its own chin line.
#pragma once

#include "vision/face_landmarks68.h"

namespace mmgen::vision {

struct FaceFrame {
  Point2 right;         // unit vector from the picture-left eye to the picture-right eye
  Point2 down;          // unit vector perpendicular to `right`, towards the chin
  float mouth_width;    // outer mouth corners (48-54), pixels
  float face_height;    // brow middle to chin, pixels
  Point2 mouth_centre;  // mean of the inner-lip points (60-67)
};

FaceFrame face_frame(const FaceLandmarks68& landmarks);

// The widest gap between the inner lips (61-67, 62-66, 63-65), pixels.
float inner_lip_gap(const FaceLandmarks68& landmarks);
// Above this gap (a fraction of the mouth width) a portrait's mouth counts as open.
inline constexpr float kOpenPortraitGap = 0.06f;

inline Point2 operator+(Point2 a, Point2 b) { return {a.x + b.x, a.y + b.y}; }
inline Point2 operator-(Point2 a, Point2 b) { return {a.x - b.x, a.y - b.y}; }
inline Point2 operator*(float s, Point2 a) { return {s * a.x, s * a.y}; }

}  // namespace mmgen::vision
