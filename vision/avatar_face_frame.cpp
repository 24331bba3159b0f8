#include "vision/avatar_face_frame.h"

#include <algorithm>
#include <cmath>

namespace mmgen::vision {
namespace {

Point2 mean(const FaceLandmarks68& p, int begin, int end) {
  Point2 sum;
  for (int i = begin; i < end; ++i) sum = sum + p[i];
  return (1.0f / static_cast<float>(end - begin)) * sum;
}

float distance(Point2 a, Point2 b) { return std::hypot(a.x - b.x, a.y - b.y); }

}  // namespace

FaceFrame face_frame(const FaceLandmarks68& p) {
  FaceFrame f;
  const Point2 axis = mean(p, 42, 48) - mean(p, 36, 42);
  const float length = std::hypot(axis.x, axis.y);
  f.right = length > 0 ? (1.0f / length) * axis : Point2{1, 0};
  f.down = {-f.right.y, f.right.x};
  f.mouth_width = distance(p[48], p[54]);
  f.face_height = distance(0.5f * (p[21] + p[22]), p[8]);
  f.mouth_centre = mean(p, 60, 68);
  return f;
}

float inner_lip_gap(const FaceLandmarks68& p) {
  return std::max({distance(p[61], p[67]), distance(p[62], p[66]), distance(p[63], p[65])});
}

}  // namespace mmgen::vision
