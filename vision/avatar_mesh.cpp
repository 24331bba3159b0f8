#include "vision/avatar_mesh.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/thread_pool.h"

namespace mmgen::vision {
namespace {

struct Circle {
  double x, y, r2;
};

Circle circumcircle(const Point2& a, const Point2& b, const Point2& c) {
  const double ax = a.x, ay = a.y, bx = b.x, by = b.y, cx = c.x, cy = c.y;
  const double d = 2.0 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by));
  if (std::abs(d) < 1e-12) return {0, 0, 1e300};  // degenerate: contains everything
  const double a2 = ax * ax + ay * ay, b2 = bx * bx + by * by, c2 = cx * cx + cy * cy;
  const double ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d;
  const double uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d;
  return {ux, uy, (ax - ux) * (ax - ux) + (ay - uy) * (ay - uy)};
}

double cross(const Point2& a, const Point2& b, const Point2& c) {
  return (static_cast<double>(b.x) - a.x) * (static_cast<double>(c.y) - a.y) -
         (static_cast<double>(b.y) - a.y) * (static_cast<double>(c.x) - a.x);
}

// One triangle prepared for rasterising: the affine map from target to source
// coordinates and its target bounding rows.
struct PreparedTriangle {
  Point2 p[3];             // target corners
  float ax, bx, cx;        // source x = ax * x + bx * y + cx
  float ay, by, cy;        // source y = ay * x + by * y + cy
  int row_begin, row_end;  // [begin, end) rows whose centres may lie inside
};

bool prepare(const Point2 s[3], const Point2 t[3], int height, PreparedTriangle& out) {
  const double det = cross(t[0], t[1], t[2]);
  if (std::abs(det) < 1e-6) return false;  // collapsed: covers no pixel centre
  // Solve [x y 1] -> source for the three corners (Cramer's rule).
  const auto solve = [&](float s0, float s1, float s2, float& a, float& b, float& c) {
    const double x0 = t[0].x, y0 = t[0].y, x1 = t[1].x, y1 = t[1].y, x2 = t[2].x, y2 = t[2].y;
    a = static_cast<float>((s0 * (y1 - y2) + s1 * (y2 - y0) + s2 * (y0 - y1)) / det);
    b = static_cast<float>((s0 * (x2 - x1) + s1 * (x0 - x2) + s2 * (x1 - x0)) / det);
    c = static_cast<float>(
        (s0 * (x1 * y2 - x2 * y1) + s1 * (x2 * y0 - x0 * y2) + s2 * (x0 * y1 - x1 * y0)) / det);
  };
  solve(s[0].x, s[1].x, s[2].x, out.ax, out.bx, out.cx);
  solve(s[0].y, s[1].y, s[2].y, out.ay, out.by, out.cy);
  for (int i = 0; i < 3; ++i) out.p[i] = t[i];
  const float top = std::min({t[0].y, t[1].y, t[2].y}), bottom = std::max({t[0].y, t[1].y, t[2].y});
  out.row_begin = std::clamp(static_cast<int>(std::floor(top - 0.5f)), 0, height);
  out.row_end = std::clamp(static_cast<int>(std::ceil(bottom + 0.5f)) + 1, 0, height);
  return true;
}

// The [x_begin, x_end) pixel columns whose centres lie in the triangle on row y
// (centre y + 0.5), with a hair of tolerance so neighbours leave no seam.
void row_span(const PreparedTriangle& t, float yc, int width, int& x_begin, int& x_end) {
  float lo = -1e30f, hi = 1e30f;
  for (int i = 0; i < 3; ++i) {
    const Point2& a = t.p[i];
    const Point2& b = t.p[(i + 1) % 3];
    // Crossing of edge a-b with the row, if the row meets the edge's span.
    const float dy = b.y - a.y;
    if (std::abs(dy) < 1e-9f) {
      continue;  // horizontal edge: the other two bound the row
    }
    const float x = a.x + (yc - a.y) * (b.x - a.x) / dy;
    // The third corner tells which side is inside.
    const Point2& c = t.p[(i + 2) % 3];
    const float xc = a.x + (c.y - a.y) * (b.x - a.x) / dy;
    if (c.x > xc)
      lo = std::max(lo, x);
    else
      hi = std::min(hi, x);
  }
  const float top = std::min({t.p[0].y, t.p[1].y, t.p[2].y});
  const float bottom = std::max({t.p[0].y, t.p[1].y, t.p[2].y});
  constexpr float kTolerance = 1e-3f;
  if (yc < top - kTolerance || yc > bottom + kTolerance || lo > hi) {
    x_begin = x_end = 0;
    return;
  }
  x_begin = std::clamp(static_cast<int>(std::ceil(lo - 0.5f - kTolerance)), 0, width);
  x_end = std::clamp(static_cast<int>(std::floor(hi - 0.5f + kTolerance)) + 1, 0, width);
}

}  // namespace

std::vector<Triangle> delaunay_triangulation(const std::vector<Point2>& points) {
  const int n = static_cast<int>(points.size());
  MMGEN_CHECK(n >= 3, "a triangulation needs at least 3 points, got ", n);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      MMGEN_CHECK(std::hypot(points[i].x - points[j].x, points[i].y - points[j].y) > 1e-3f,
                  "mesh points ", i, " and ", j, " coincide at (", points[i].x, ", ", points[i].y,
                  ")");
  // A super triangle far around every point.
  float min_x = points[0].x, max_x = min_x, min_y = points[0].y, max_y = min_y;
  for (const Point2& p : points) {
    min_x = std::min(min_x, p.x), max_x = std::max(max_x, p.x);
    min_y = std::min(min_y, p.y), max_y = std::max(max_y, p.y);
  }
  const float span = std::max(max_x - min_x, max_y - min_y) + 1.0f;
  const float mx = 0.5f * (min_x + max_x), my = 0.5f * (min_y + max_y);
  std::vector<Point2> all = points;
  all.push_back({mx - 20 * span, my - span});
  all.push_back({mx, my + 20 * span});
  all.push_back({mx + 20 * span, my - span});

  struct Tri {
    Triangle v;
    Circle c;
  };
  std::vector<Tri> tris = {{{n, n + 1, n + 2}, circumcircle(all[n], all[n + 1], all[n + 2])}};
  for (int i = 0; i < n; ++i) {
    const Point2& p = all[i];
    std::vector<std::array<int, 2>> edges;
    std::vector<Tri> kept;
    kept.reserve(tris.size() + 2);
    for (const Tri& t : tris) {
      const double dx = p.x - t.c.x, dy = p.y - t.c.y;
      if (dx * dx + dy * dy < t.c.r2) {
        for (int e = 0; e < 3; ++e) edges.push_back({t.v[e], t.v[(e + 1) % 3]});
      } else {
        kept.push_back(t);
      }
    }
    // The boundary of the cavity: edges that belong to one removed triangle only.
    for (size_t a = 0; a < edges.size(); ++a) {
      bool shared = false;
      for (size_t b = 0; b < edges.size() && !shared; ++b)
        shared = a != b && edges[a][0] == edges[b][1] && edges[a][1] == edges[b][0];
      if (shared) continue;
      const Triangle v = {edges[a][0], edges[a][1], i};
      kept.push_back({v, circumcircle(all[v[0]], all[v[1]], all[v[2]])});
    }
    tris = std::move(kept);
  }
  std::vector<Triangle> out;
  for (const Tri& t : tris) {
    if (t.v[0] >= n || t.v[1] >= n || t.v[2] >= n) continue;
    Triangle v = t.v;
    if (cross(points[v[0]], points[v[1]], points[v[2]]) < 0) std::swap(v[1], v[2]);
    out.push_back(v);
  }
  return out;
}

namespace {

bool has_edge(const Triangle& t, int a, int b) {
  for (int e = 0; e < 3; ++e)
    if ((t[e] == a && t[(e + 1) % 3] == b) || (t[e] == b && t[(e + 1) % 3] == a)) return true;
  return false;
}

// Segments a-b and c-d cross at a point inside both.
bool crosses(const Point2& a, const Point2& b, const Point2& c, const Point2& d) {
  return cross(a, b, c) * cross(a, b, d) < 0 && cross(c, d, a) * cross(c, d, b) < 0;
}

int third(const Triangle& t, int a, int b) {
  for (int v : t)
    if (v != a && v != b) return v;
  return -1;
}

// Flips one edge of the triangulation that crosses a-b; false when none can be.
bool flip_one_crossing(const std::vector<Point2>& p, std::vector<Triangle>& tris, int a, int b) {
  for (size_t i = 0; i < tris.size(); ++i) {
    for (int e = 0; e < 3; ++e) {
      const int c = tris[i][e], d = tris[i][(e + 1) % 3];
      if (c == a || c == b || d == a || d == b || !crosses(p[a], p[b], p[c], p[d])) continue;
      for (size_t j = 0; j < tris.size(); ++j) {
        if (j == i || !has_edge(tris[j], c, d)) continue;
        const int x = third(tris[i], c, d), y = third(tris[j], c, d);
        // The quadrilateral c-x-d-y must be convex: x and y on opposite sides of
        // c-d (they are) and c, d on opposite sides of x-y.
        if (!(cross(p[x], p[y], p[c]) * cross(p[x], p[y], p[d]) < 0)) continue;
        Triangle t1 = {x, y, c}, t2 = {y, x, d};
        if (cross(p[t1[0]], p[t1[1]], p[t1[2]]) < 0) std::swap(t1[1], t1[2]);
        if (cross(p[t2[0]], p[t2[1]], p[t2[2]]) < 0) std::swap(t2[1], t2[2]);
        tris[i] = t1;
        tris[j] = t2;
        return true;
      }
    }
  }
  return false;
}

}  // namespace

int enforce_edges(const std::vector<Point2>& points, std::vector<Triangle>& triangles,
                  const std::vector<std::array<int, 2>>& edges) {
  int missing = 0;
  for (const auto& [a, b] : edges) {
    bool present = false;
    for (int step = 0; step < 64 && !present; ++step) {
      present = std::any_of(triangles.begin(), triangles.end(),
                            [&](const Triangle& t) { return has_edge(t, a, b); });
      if (!present && !flip_one_crossing(points, triangles, a, b)) break;
    }
    missing += present ? 0 : 1;
  }
  return missing;
}

void sample_bilinear(const Image& image, float x, float y, uint8_t* out) {
  const float fx = std::clamp(x - 0.5f, 0.0f, static_cast<float>(image.width - 1));
  const float fy = std::clamp(y - 0.5f, 0.0f, static_cast<float>(image.height - 1));
  const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
  const int x1 = std::min(x0 + 1, image.width - 1), y1 = std::min(y0 + 1, image.height - 1);
  const float wx = fx - x0, wy = fy - y0;
  const uint8_t* p00 = image.pixel(x0, y0);
  const uint8_t* p01 = image.pixel(x1, y0);
  const uint8_t* p10 = image.pixel(x0, y1);
  const uint8_t* p11 = image.pixel(x1, y1);
  for (int c = 0; c < 3; ++c) {
    const float top = p00[c] + wx * (p01[c] - p00[c]);
    const float bottom = p10[c] + wx * (p11[c] - p10[c]);
    out[c] = static_cast<uint8_t>(top + wy * (bottom - top) + 0.5f);
  }
}

void warp_triangles(const Image& source, const std::vector<Point2>& source_points,
                    const std::vector<Point2>& target_points,
                    const std::vector<Triangle>& triangles, Image& target,
                    const std::vector<bool>& skip) {
  MMGEN_CHECK(source_points.size() == target_points.size(), "the warp has ", source_points.size(),
              " source points but ", target_points.size(), " targets");
  MMGEN_CHECK(skip.empty() || skip.size() == triangles.size(), "the skip list has ", skip.size(),
              " entries for ", triangles.size(), " triangles");
  MMGEN_CHECK(target.width > 0 && target.height > 0, "the warp target has no size");
  std::vector<PreparedTriangle> prepared;
  prepared.reserve(triangles.size());
  for (size_t i = 0; i < triangles.size(); ++i) {
    if (!skip.empty() && skip[i]) continue;
    const Triangle& t = triangles[i];
    for (int k : t)
      MMGEN_CHECK(k >= 0 && static_cast<size_t>(k) < source_points.size(), "triangle ", i,
                  " names point ", k, " of ", source_points.size());
    const Point2 s[3] = {source_points[t[0]], source_points[t[1]], source_points[t[2]]};
    const Point2 d[3] = {target_points[t[0]], target_points[t[1]], target_points[t[2]]};
    PreparedTriangle p;
    if (prepare(s, d, target.height, p)) prepared.push_back(p);
  }
  const int width = target.width;
  parallel_for(
      target.height,
      [&](int64_t row_begin, int64_t row_end) {
        for (const PreparedTriangle& t : prepared) {
          const int y0 = std::max<int>(t.row_begin, static_cast<int>(row_begin));
          const int y1 = std::min<int>(t.row_end, static_cast<int>(row_end));
          for (int y = y0; y < y1; ++y) {
            const float yc = y + 0.5f;
            int x_begin = 0, x_end = 0;
            row_span(t, yc, width, x_begin, x_end);
            if (x_begin >= x_end) continue;
            float sx = t.ax * (x_begin + 0.5f) + t.bx * yc + t.cx;
            float sy = t.ay * (x_begin + 0.5f) + t.by * yc + t.cy;
            uint8_t* out = target.pixel(x_begin, y);
            for (int x = x_begin; x < x_end; ++x, out += 3, sx += t.ax, sy += t.ay)
              sample_bilinear(source, sx, sy, out);
          }
        }
      },
      16);
}

}  // namespace mmgen::vision
