#include "vision/avatar_rig.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "vision/avatar_face_frame.h"
#include "vision/avatar_mouth_stage.h"

namespace mmgen::vision {
namespace {

bool is_inner_lip(int i) { return i >= 60 && i < 68; }

}  // namespace

FaceRig build_face_rig(const FaceLandmarks68& landmarks, int width, int height) {
  MMGEN_CHECK(width > 2 && height > 2, "the frame is too small: ", width, "x", height);
  FaceRig rig;
  rig.landmarks = landmarks;
  const FaceFrame f = face_frame(landmarks);
  rig.face_size = f.face_height;
  MMGEN_CHECK(rig.face_size > 4 && f.mouth_width > 2,
              "the face is too small or its landmarks are degenerate (face height ", rig.face_size,
              " px, mouth width ", f.mouth_width, " px)");
  const Point2 up = -1.0f * f.down;
  rig.pivot = landmarks[8] + (0.35f * rig.face_size) * f.down;

  const auto inside = [&](Point2 p, float margin) {
    return p.x > margin && p.y > margin && p.x < width - margin && p.y < height - margin;
  };
  rig.points.assign(landmarks.begin(), landmarks.end());
  // Forehead: above the brows, so the top of the head moves with the face.
  rig.forehead_begin = static_cast<int>(rig.points.size());
  for (int i : {17, 19, 21, 22, 24, 26}) {
    const Point2 p = landmarks[i] + (0.45f * rig.face_size) * up;
    if (inside(p, 2.0f)) rig.points.push_back(p);
  }

  // A ring around the head: an ellipse around the face's landmarks and forehead.
  rig.ring_begin = static_cast<int>(rig.points.size());
  Point2 centre;
  for (const Point2& p : rig.points) centre = centre + p;
  centre = (1.0f / static_cast<float>(rig.points.size())) * centre;
  float radius_right = 0, radius_down = 0;
  for (const Point2& p : rig.points) {
    const Point2 d = p - centre;
    radius_right = std::max(radius_right, std::abs(d.x * f.right.x + d.y * f.right.y));
    radius_down = std::max(radius_down, std::abs(d.x * f.down.x + d.y * f.down.y));
  }
  constexpr int kRing = 16;
  for (int k = 0; k < kRing; ++k) {
    const float a = 2.0f * std::numbers::pi_v<float> * (k + 0.5f) / kRing;
    const Point2 p = centre + (1.3f * radius_right * std::cos(a)) * f.right +
                     (1.25f * radius_down * std::sin(a)) * f.down;
    if (inside(p, 0.04f * static_cast<float>(std::min(width, height)))) rig.points.push_back(p);
  }

  // The border, fixed.
  rig.border_begin = static_cast<int>(rig.points.size());
  constexpr int kPerSide = 6;
  const float w = static_cast<float>(width), h = static_cast<float>(height);
  for (int k = 0; k < kPerSide; ++k) {
    const float t = static_cast<float>(k) / kPerSide;
    rig.points.push_back({t * w, 0});
    rig.points.push_back({w, t * h});
    rig.points.push_back({w - t * w, h});
    rig.points.push_back({0, h - t * h});
  }

  // Triangulate with the mouth open as the mouth stage opens it (jaw
  // included), where each lip has room of its own; then make sure the lip and
  // eye outlines are mesh edges, so no triangle reaches across the mouth.
  std::vector<Point2> layout = rig.points;
  FaceLandmarks68 opened = landmarks;
  LandmarkMouthStage().shape_landmarks(MouthFrame{0, 0.0, MouthShape{0.6f, 0.0f, 0.0f}}, opened);
  std::copy(opened.begin(), opened.end(), layout.begin());
  rig.triangles = delaunay_triangulation(layout);
  std::vector<std::array<int, 2>> outlines;
  const auto loop = [&](int begin, int end) {
    for (int i = begin; i < end; ++i) outlines.push_back({i, i + 1 < end ? i + 1 : begin});
  };
  loop(60, 68);  // inner lips
  loop(48, 60);  // outer lips
  outlines.push_back({48, 60});
  outlines.push_back({54, 64});
  loop(36, 42);  // eyes
  loop(42, 48);
  enforce_edges(layout, rig.triangles, outlines);
  rig.mouth_interior.resize(rig.triangles.size());
  for (size_t t = 0; t < rig.triangles.size(); ++t) {
    const Triangle& v = rig.triangles[t];
    rig.mouth_interior[t] = is_inner_lip(v[0]) && is_inner_lip(v[1]) && is_inner_lip(v[2]);
  }
  return rig;
}

void close_eyes(FaceLandmarks68& p, float amount) {
  const float b = std::clamp(amount, 0.0f, 1.0f);
  if (b <= 0) return;
  // Upper lid point -> the lower lid point below it.
  constexpr int kPairs[4][2] = {{37, 41}, {38, 40}, {43, 47}, {44, 46}};
  for (const auto& pair : kPairs) {
    const Point2 upper = p[pair[0]], lower = p[pair[1]];
    // The lids meet a quarter of the way up from the lower lid; a hair of gap
    // keeps the triangles between them from folding over.
    const Point2 meet = lower + 0.25f * (upper - lower);
    p[pair[0]] = upper + (0.96f * b) * (meet - upper);
    p[pair[1]] = lower + (0.96f * b) * (meet - lower);
  }
}

Point2 apply_head_pose(const FaceRig& rig, const HeadPose& head, Point2 p) {
  const float c = std::cos(head.roll) * head.scale, s = std::sin(head.roll) * head.scale;
  const Point2 d = p - rig.pivot;
  return Point2{rig.pivot.x + c * d.x - s * d.y + head.dx * rig.face_size,
                rig.pivot.y + s * d.x + c * d.y + head.dy * rig.face_size};
}

std::vector<Point2> pose_rig(const FaceRig& rig, const FaceLandmarks68& face,
                             const HeadPose& head) {
  std::vector<Point2> out(rig.points.size());
  for (int i = 0; i < 68; ++i) out[i] = apply_head_pose(rig, head, face[i]);
  for (int i = 68; i < rig.border_begin; ++i) {
    const Point2 moved = apply_head_pose(rig, head, rig.points[i]);
    // The ring takes half the motion, the background beyond it less and less.
    const float follow = i < rig.ring_begin ? 1.0f : 0.5f;
    out[i] = rig.points[i] + follow * (moved - rig.points[i]);
  }
  for (size_t i = static_cast<size_t>(rig.border_begin); i < out.size(); ++i)
    out[i] = rig.points[i];
  return out;
}

}  // namespace mmgen::vision
