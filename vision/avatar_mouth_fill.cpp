#include "vision/avatar_mouth_fill.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "vision/avatar_face_frame.h"
#include "vision/avatar_mesh.h"

namespace mmgen::vision {
namespace {

// A lip line in the mouth's own axes: u along the mouth, v down the face.
struct Chain {
  std::vector<Point2> points;  // sorted by u (x = u, y = v)

  // v at u by linear interpolation (ends held).
  float at(float u) const {
    if (u <= points.front().x) return points.front().y;
    for (size_t i = 1; i < points.size(); ++i) {
      if (u <= points[i].x) {
        const Point2& a = points[i - 1];
        const Point2& b = points[i];
        const float t = b.x > a.x ? (u - a.x) / (b.x - a.x) : 0.0f;
        return a.y + t * (b.y - a.y);
      }
    }
    return points.back().y;
  }
};

// Catmull-Rom through the control points, `steps` samples per segment, so the
// lip line is a curve rather than a polygon of five corners.
Chain smooth_chain(const std::vector<Point2>& c, int steps) {
  Chain out;
  const int n = static_cast<int>(c.size());
  for (int i = 0; i + 1 < n; ++i) {
    const Point2 p0 = c[std::max(i - 1, 0)], p1 = c[i], p2 = c[i + 1],
                 p3 = c[std::min(i + 2, n - 1)];
    for (int s = 0; s < steps; ++s) {
      const float t = static_cast<float>(s) / steps, t2 = t * t, t3 = t2 * t;
      const auto blend = [&](float a, float b, float cc, float d) {
        return 0.5f * (2 * b + (-a + cc) * t + (2 * a - 5 * b + 4 * cc - d) * t2 +
                       (-a + 3 * b - 3 * cc + d) * t3);
      };
      out.points.push_back({blend(p0.x, p1.x, p2.x, p3.x), blend(p0.y, p1.y, p2.y, p3.y)});
    }
  }
  out.points.push_back(c.back());
  std::sort(out.points.begin(), out.points.end(),
            [](const Point2& a, const Point2& b) { return a.x < b.x; });
  return out;
}

float smoothstep(float a, float b, float x) {
  const float t = std::clamp((x - a) / (b - a), 0.0f, 1.0f);
  return t * t * (3 - 2 * t);
}

// The inner-lip outline of a face in the mouth's axes.
struct MouthOutline {
  FaceFrame frame;
  Chain top, bottom;
  float u_left = 0, u_right = 0;
  float gap = 0;  // widest opening, pixels

  explicit MouthOutline(const FaceLandmarks68& p) : frame(face_frame(p)) {
    std::vector<Point2> upper, lower;
    for (int i : {60, 61, 62, 63, 64}) upper.push_back(local(p[i]));
    for (int i : {60, 67, 66, 65, 64}) lower.push_back(local(p[i]));
    top = smooth_chain(upper, 6);
    bottom = smooth_chain(lower, 6);
    u_left = std::min(upper.front().x, upper.back().x);
    u_right = std::max(upper.front().x, upper.back().x);
    for (float u = u_left; u <= u_right; u += 0.5f) gap = std::max(gap, bottom.at(u) - top.at(u));
  }
  Point2 local(Point2 q) const {
    const Point2 d = q - frame.mouth_centre;
    return {d.x * frame.right.x + d.y * frame.right.y, d.x * frame.down.x + d.y * frame.down.y};
  }
  Point2 pixel(Point2 l) const { return frame.mouth_centre + l.x * frame.right + l.y * frame.down; }
  float half_width() const { return std::max(0.5f * (u_right - u_left), 1.0f); }

  // Calls body(x, y, q, alpha) for each pixel of `image` near the region, with
  // q its mouth coordinates and alpha its coverage (soft one-pixel edge).
  template <typename Body>
  void for_each_pixel(const Image& image, const FaceLandmarks68& p, Body body) const {
    float min_x = 1e30f, max_x = -1e30f, min_y = 1e30f, max_y = -1e30f;
    for (int i = 60; i < 68; ++i) {
      min_x = std::min(min_x, p[i].x), max_x = std::max(max_x, p[i].x);
      min_y = std::min(min_y, p[i].y), max_y = std::max(max_y, p[i].y);
    }
    const int x0 = std::max(0, static_cast<int>(std::floor(min_x - gap)) - 2);
    const int x1 = std::min(image.width, static_cast<int>(std::ceil(max_x + gap)) + 3);
    const int y0 = std::max(0, static_cast<int>(std::floor(min_y - gap)) - 2);
    const int y1 = std::min(image.height, static_cast<int>(std::ceil(max_y + gap)) + 3);
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) {
        const Point2 q = local({x + 0.5f, y + 0.5f});
        if (q.x < u_left - 1 || q.x > u_right + 1) continue;
        const float inside = std::min(q.y - top.at(q.x), bottom.at(q.x) - q.y);
        const float alpha = std::clamp(inside + 0.5f, 0.0f, 1.0f);
        if (alpha > 0) body(x, y, q, alpha);
      }
    }
  }
};

void blend(uint8_t* out, const float colour[3], float alpha) {
  for (int c = 0; c < 3; ++c)
    out[c] = static_cast<uint8_t>(
        std::clamp(out[c] + alpha * (colour[c] - out[c]) + 0.5f, 0.0f, 255.0f));
}

}  // namespace

void fill_mouth_interior(Image& image, const FaceLandmarks68& neutral, const FaceLandmarks68& p) {
  const MouthOutline m(p);
  // Fully painted once the lips are two pixels further apart than in the portrait.
  const float strength = smoothstep(0.25f, 2.0f, m.gap - MouthOutline(neutral).gap);
  if (m.gap < 0.75f || strength <= 0) return;
  const float width = std::max(m.frame.mouth_width, 1.0f);
  // Teeth show below the upper lip once the gap is about a sixth of the mouth width.
  const float teeth_alpha = smoothstep(0.1f, 0.25f, m.gap / width);
  const float teeth_height = std::min(0.4f * m.gap, 0.12f * width);
  const float half = m.half_width();
  m.for_each_pixel(image, p, [&](int x, int y, Point2 q, float alpha) {
    const float v_top = m.top.at(q.x), v_bottom = m.bottom.at(q.x);
    const float depth = std::clamp((q.y - v_top) / std::max(v_bottom - v_top, 1e-3f), 0.0f, 1.0f);
    const float across = std::min(std::abs(q.x) / half, 1.0f);
    // The cavity: near black at the corners and under the upper lip, a dim
    // red tongue towards the bottom centre.
    const float tongue = smoothstep(0.45f, 1.0f, depth) * (1.0f - across * across);
    float r = 26 + 60 * tongue, g = 10 + 20 * tongue, b = 12 + 22 * tongue;
    // Upper teeth: a band a little inside the upper lip line, ending before the
    // corners and fading at its lower edge.
    const float below_lip = q.y - v_top;
    if (teeth_alpha > 0 && below_lip < teeth_height) {
      const float edge = smoothstep(0.05f, 0.3f, below_lip / teeth_height) *
                         (1.0f - smoothstep(0.55f, 1.0f, below_lip / teeth_height));
      const float sides = 1.0f - smoothstep(0.3f, 0.7f, across);
      const float light = 0.75f * edge * sides * teeth_alpha;
      r += light * (186 - r), g += light * (178 - g), b += light * (164 - b);
    }
    // A soft shadow right under the upper lip.
    const float shadow = 1.0f - 0.35f * (1.0f - smoothstep(0.0f, 2.5f, below_lip));
    const float colour[3] = {r * shadow, g * shadow, b * shadow};
    blend(image.pixel(x, y), colour, alpha * strength);
  });
}

void reveal_open_mouth(Image& image, const Image& portrait, const FaceLandmarks68& neutral,
                       const FaceLandmarks68& landmarks) {
  const MouthOutline source(neutral), target(landmarks);
  if (target.gap < 0.75f) return;
  // Across the mouth the target maps onto the source proportionally (the
  // corners may have moved with a spread or a pout).
  const float source_span = std::max(source.u_right - source.u_left, 1.0f);
  const float target_span = std::max(target.u_right - target.u_left, 1.0f);
  const float half = target.half_width();
  target.for_each_pixel(image, landmarks, [&](int x, int y, Point2 q, float alpha) {
    const float u = source.u_left + (q.x - target.u_left) * source_span / target_span;
    const float source_gap = std::max(source.bottom.at(u) - source.top.at(u), 0.0f);
    const float below_top = q.y - target.top.at(q.x);
    const float above_bottom = target.bottom.at(q.x) - q.y;
    // The dark new gap, and how much of each half of the portrait's interior shows.
    const float across = std::min(std::abs(q.x) / half, 1.0f);
    const float half_gap = 0.5f * source_gap;
    // The new gap: a dark cavity, warmer towards the tongue at its bottom.
    const float new_gap = std::max(below_top + above_bottom - source_gap, 1.0f);
    const float depth = std::clamp((below_top - half_gap) / new_gap, 0.0f, 1.0f);
    const float tongue = smoothstep(0.4f, 1.0f, depth) * (1.0f - across * across);
    const float dark[3] = {26 + 50 * tongue, 10 + 16 * tongue, 12 + 18 * tongue};
    float colour[3] = {dark[0], dark[1], dark[2]};
    // Each pixel shows the nearer lip's half; past the half's end (the new gap)
    // it fades to the dark over one pixel.
    const float past_upper = below_top - half_gap, past_lower = above_bottom - half_gap;
    const bool upper = past_upper <= past_lower;
    const float past = upper ? past_upper : past_lower;
    const float w = std::clamp(1.0f - past, 0.0f, 1.0f);
    if (w > 0) {
      const float v = upper ? source.top.at(u) + below_top : source.bottom.at(u) - above_bottom;
      const Point2 s = source.pixel({u, v});
      uint8_t rgb[3];
      sample_bilinear(portrait, s.x, s.y, rgb);
      for (int c = 0; c < 3; ++c) colour[c] = dark[c] + w * (rgb[c] - dark[c]);
    }
    blend(image.pixel(x, y), colour, alpha);
  });
}

}  // namespace mmgen::vision
