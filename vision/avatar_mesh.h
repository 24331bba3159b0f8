// The triangle mesh of the talking-head warp: a Delaunay triangulation of the
// control points, and a piecewise-affine warp that maps each triangle of the
// source picture onto the same triangle at its moved position, with bilinear
// sampling. The frames therefore keep the photograph's own pixels.
#pragma once

#include <array>
#include <vector>

#include "vision/face_landmarks68.h"
#include "vision/image.h"

namespace mmgen::vision {

using Triangle = std::array<int, 3>;  // indices into a point list, counter-clockwise on screen

// Bowyer-Watson Delaunay triangulation. Throws Error for fewer than three points
// or coincident points (closer than 1e-3 px).
std::vector<Triangle> delaunay_triangulation(const std::vector<Point2>& points);

// Makes each of `edges` (pairs of point indices) an edge of the triangulation
// by flipping the edges that cross it (where the two triangles around a
// crossing edge form a convex quadrilateral), so outlines such as the lips stay
// whole. Returns the number of edges that could not be made.
int enforce_edges(const std::vector<Point2>& points, std::vector<Triangle>& triangles,
                  const std::vector<std::array<int, 2>>& edges);

// Renders `target`: every pixel inside a triangle at `target_points` takes the
// bilinear sample of `source` at the corresponding place in the triangle at
// `source_points`. Triangles whose `skip` flag is set (when given) are left
// untouched, as are pixels outside every triangle. Runs on the thread pool over
// bands of rows. `target` must already have its size.
void warp_triangles(const Image& source, const std::vector<Point2>& source_points,
                    const std::vector<Point2>& target_points,
                    const std::vector<Triangle>& triangles, Image& target,
                    const std::vector<bool>& skip = {});

// Bilinear sample of `image` at continuous coordinates (x, y) (pixel i covers
// [i, i + 1)), edges replicated; writes three bytes.
void sample_bilinear(const Image& image, float x, float y, uint8_t* out);

}  // namespace mmgen::vision
