// The pixel-based check of a shapes-sd picture against its prompt: the C++ twin of
// tools/train/shapes_detector.py (the same palette, thresholds and rules), used by the
// default image model's tests. The background must be the most common palette colour;
// each requested object is the largest 4-connected region of its colour, classified
// by how much of its bounding box it fills (square ~1, circle ~pi/4, triangle ~1/2),
// and must stand where the prompt says. A count ("three green squares") wants exactly
// that many regions of its colour (specks aside), each of the shape.
#pragma once

#include <string>

#include "vision/image.h"

namespace mmgen::test {

struct ShapesVerdict {
  bool accepted = false;
  std::string why;  // "ok", or what the picture shows instead
};

// picture: square. prompt: a shapes-sd caption such as
// "a red circle above a blue square on a yellow background". With check_shapes false the
// objects' shapes are not checked: colours, counts, places and relations only.
ShapesVerdict check_shapes_picture(const vision::Image& picture, const std::string& prompt,
                                   bool check_shapes = true);

}  // namespace mmgen::test
