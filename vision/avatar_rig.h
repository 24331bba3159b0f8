// The control points of the talking-head warp and how a frame moves them: the
// 68 landmarks, a few forehead points above the brows, a ring around the head
// and fixed points on the frame border, triangulated once (Delaunay, on the
// neutral face with the mouth held open so that lip triangles never span the
// mouth). A frame moves the mouth (the mouth stage), closes the eyelids
// (blink) and moves the head rigidly; the ring follows the head partly and
// the border stays, so the background bends smoothly instead of tearing.
#pragma once

#include <vector>

#include "vision/avatar_mesh.h"
#include "vision/avatar_signals.h"
#include "vision/face_landmarks68.h"

namespace mmgen::vision {

struct FaceRig {
  FaceLandmarks68 landmarks{};  // neutral face in frame pixels
  std::vector<Point2> points;   // landmarks, forehead, ring, border: the warp's source points
  std::vector<Triangle> triangles;
  std::vector<bool> mouth_interior;  // triangles with all corners on the inner lips (60-67)
  int forehead_begin = 68, ring_begin = 0, border_begin = 0;
  Point2 pivot;         // where the head turns (the neck, below the chin)
  float face_size = 0;  // brow-to-chin distance, pixels
};

// Builds the rig of a face in a width x height frame.
FaceRig build_face_rig(const FaceLandmarks68& landmarks, int width, int height);

// Closes both eyes by `amount` (0 open .. 1 closed): the upper lids come down
// to just above the lower lids, which rise a little.
void close_eyes(FaceLandmarks68& landmarks, float amount);

// The frame's target points: `face` (the neutral landmarks as moved by the
// mouth stage and the blink) with the rig's extra points, all moved by `head`.
std::vector<Point2> pose_rig(const FaceRig& rig, const FaceLandmarks68& face, const HeadPose& head);

// Applies the head pose to one point (what pose_rig does to the face points).
Point2 apply_head_pose(const FaceRig& rig, const HeadPose& head, Point2 p);

}  // namespace mmgen::vision
