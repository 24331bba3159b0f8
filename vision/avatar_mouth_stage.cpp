#include "vision/avatar_mouth_stage.h"

#include <algorithm>

#include "vision/avatar_face_frame.h"
#include "vision/avatar_mouth_fill.h"

namespace mmgen::vision {
namespace {

// How far each point follows the jaw drop (fraction of the opening). The inner
// lower lip moves fully; the upper lip lifts a little; the chin follows most.
struct Follow {
  int index;
  float down;
};
constexpr Follow kJawFollow[] = {
    {65, 0.85f},  {66, 1.0f},   {67, 0.85f},  {56, 0.92f},  {57, 0.95f},  {58, 0.92f},  {55, 0.55f},
    {59, 0.55f},  {48, 0.22f},  {54, 0.22f},  {60, 0.28f},  {64, 0.28f},  {61, -0.08f}, {62, -0.1f},
    {63, -0.08f}, {49, -0.02f}, {50, -0.04f}, {51, -0.05f}, {52, -0.04f}, {53, -0.02f}, {8, 0.85f},
    {7, 0.8f},    {9, 0.8f},    {6, 0.65f},   {10, 0.65f},  {5, 0.45f},   {11, 0.45f},  {4, 0.25f},
    {12, 0.25f},  {3, 0.1f},    {13, 0.1f}};

// Sideways movement with the spread (positive: away from the mouth centre).
struct Side {
  int index;
  float amount;
};
constexpr Side kSpread[] = {{48, 1.0f},  {54, 1.0f},  {60, 0.9f},  {64, 0.9f},
                            {49, 0.5f},  {53, 0.5f},  {59, 0.5f},  {55, 0.5f},
                            {61, 0.35f}, {63, 0.35f}, {67, 0.35f}, {65, 0.35f},
                            {50, 0.15f}, {52, 0.15f}, {58, 0.15f}, {56, 0.15f}};

}  // namespace

void LandmarkMouthStage::shape_landmarks(const MouthFrame& frame, FaceLandmarks68& p) const {
  const FaceFrame f = face_frame(p);
  const MouthShape& s = frame.shape;
  // A portrait that already shows its teeth opens somewhat less: its own
  // interior is only split, and the gap between the teeth is invented.
  const float travel = inner_lip_gap(p) > kOpenPortraitGap * f.mouth_width ? 0.7f : 1.0f;
  const float open = std::clamp(s.open, 0.0f, 1.2f) * travel * max_open_ * f.mouth_width;
  const float spread = std::clamp(s.width - 0.6f * s.round, -1.0f, 1.0f) * 0.09f * f.mouth_width;
  const float pout = std::clamp(s.round, 0.0f, 1.0f) * 0.05f * f.mouth_width;
  const FaceLandmarks68 base = p;
  for (const Follow& k : kJawFollow) p[k.index] = p[k.index] + (k.down * open) * f.down;
  for (const Side& k : kSpread) {
    const float side = (base[k.index].x - f.mouth_centre.x) * f.right.x +
                       (base[k.index].y - f.mouth_centre.y) * f.right.y;
    p[k.index] = p[k.index] + ((side < 0 ? -1.0f : 1.0f) * k.amount * spread) * f.right;
  }
  // Rounded lips push out and look fuller: the outer lip line moves away from the mouth.
  for (int i : {50, 51, 52}) p[i] = p[i] - pout * f.down;
  for (int i : {56, 57, 58}) p[i] = p[i] + pout * f.down;
}

void LandmarkMouthStage::paint(const MouthFrame& frame, const Image& portrait,
                               const FaceLandmarks68& neutral, const FaceLandmarks68& landmarks,
                               Image& image) const {
  (void)frame;
  const FaceFrame f = face_frame(neutral);
  if (inner_lip_gap(neutral) > kOpenPortraitGap * f.mouth_width)
    reveal_open_mouth(image, portrait, neutral, landmarks);
  else
    fill_mouth_interior(image, neutral, landmarks);
}

}  // namespace mmgen::vision
