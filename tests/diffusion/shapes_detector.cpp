#include "tests/diffusion/shapes_detector.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <utility>
#include <vector>

namespace mmgen::test {
namespace {

struct PaletteColour {
  const char* name;
  std::array<float, 3> rgb;
};

// tools/train/shapes_data.py's COLOURS, in its order.
constexpr std::array<PaletteColour, 7> kPalette = {{
    {"red", {220, 30, 30}},
    {"green", {30, 170, 50}},
    {"blue", {30, 60, 220}},
    {"yellow", {245, 215, 20}},
    {"purple", {140, 40, 180}},
    {"white", {245, 245, 245}},
    {"black", {20, 20, 20}},
}};
constexpr std::array<const char*, 4> kRelations = {"above", "below", "to the left of",
                                                   "to the right of"};
constexpr std::array<const char*, 5> kPlaces = {"on the left", "on the right", "at the top",
                                                "at the bottom", "in the middle"};
// shapes_data.py's COUNT_WORDS: "three green squares" is three objects of one colour and shape.
constexpr std::array<std::pair<const char*, int>, 2> kCountWords = {{{"two", 2}, {"three", 3}}};

struct ParsedPrompt {
  std::vector<std::pair<std::string, std::string>> objects;  // (colour, shape)
  std::string relation, place, background;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// "a red circle" -> (red, circle): the second and third words.
std::pair<std::string, std::string> object_words(const std::string& text) {
  std::istringstream in(text);
  std::string article, colour, shape;
  in >> article >> colour >> shape;
  return {colour, shape};
}

ParsedPrompt parse(std::string text) {
  ParsedPrompt p;
  const std::string bg_tail = " background";
  const size_t on_a = text.rfind(" on a ");
  if (on_a != std::string::npos && ends_with(text, bg_tail)) {
    p.background = text.substr(on_a + 6, text.size() - bg_tail.size() - on_a - 6);
    text = text.substr(0, on_a);
  }
  for (const char* r : kRelations) {
    if (text.find(std::string(" ") + r + " a ") != std::string::npos) {
      p.relation = r;
      break;
    }
  }
  for (const char* place : kPlaces) {
    if (ends_with(text, std::string(" ") + place)) {
      p.place = place;
      break;
    }
  }
  std::istringstream words(text);
  std::string first, colour, shapes;
  words >> first >> colour >> shapes;
  for (const auto& [word, count] : kCountWords) {
    if (first == word && !shapes.empty()) {
      p.objects.assign(static_cast<size_t>(count), {colour, shapes.substr(0, shapes.size() - 1)});
      p.relation.clear();
      p.place.clear();
      return p;
    }
  }
  if (!p.relation.empty()) {
    const std::string sep = " " + p.relation + " ";
    const size_t at = text.find(sep);
    p.objects = {object_words(text.substr(0, at)), object_words(text.substr(at + sep.size()))};
  } else {
    p.objects = {object_words(text)};
  }
  return p;
}

int colour_index(const std::string& name) {
  for (size_t i = 0; i < kPalette.size(); ++i) {
    if (name == kPalette[i].name) return static_cast<int>(i);
  }
  return -2;  // matches no pixel label
}

struct Region {
  int64_t area = 0;
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // bounding box, end exclusive
  double cx = 0, cy = 0;               // centroid in pixels (pixel centres at +0.5)
};

// Every 4-connected region of pixels labelled `label`, seeds visited row by row.
std::vector<Region> regions(const std::vector<int>& labels, int size, int label) {
  std::vector<uint8_t> seen(labels.size(), 0);
  std::vector<Region> out;
  std::vector<int> stack;
  for (int start = 0; start < size * size; ++start) {
    if (labels[start] != label || seen[start]) continue;
    Region r;
    r.x0 = r.y0 = size;
    double sx = 0, sy = 0;
    stack.assign(1, start);
    seen[start] = 1;
    while (!stack.empty()) {
      const int at = stack.back();
      stack.pop_back();
      const int y = at / size, x = at % size;
      ++r.area;
      sx += x;
      sy += y;
      r.x0 = std::min(r.x0, x);
      r.y0 = std::min(r.y0, y);
      r.x1 = std::max(r.x1, x + 1);
      r.y1 = std::max(r.y1, y + 1);
      const std::array<std::pair<int, int>, 4> next = {
          {{y - 1, x}, {y + 1, x}, {y, x - 1}, {y, x + 1}}};
      for (const auto& [ny, nx] : next) {
        if (ny < 0 || ny >= size || nx < 0 || nx >= size) continue;
        const int n = ny * size + nx;
        if (labels[n] == label && !seen[n]) {
          seen[n] = 1;
          stack.push_back(n);
        }
      }
    }
    r.cx = sx / r.area + 0.5;
    r.cy = sy / r.area + 0.5;
    out.push_back(r);
  }
  return out;
}

// The largest region (ties keep the first, as the Python detector does).
Region largest_region(const std::vector<int>& labels, int size, int label) {
  Region best;
  for (const Region& r : regions(labels, size, label))
    if (r.area > best.area) best = r;
  return best;
}

std::string shape_of(const Region& r, double* fill) {
  *fill = static_cast<double>(r.area) / static_cast<double>((r.x1 - r.x0) * (r.y1 - r.y0));
  return *fill < 0.64 ? "triangle" : *fill < 0.89 ? "circle" : "square";
}

std::string fixed2(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", v);
  return text;
}

}  // namespace

ShapesVerdict check_shapes_picture(const vision::Image& picture, const std::string& prompt,
                                   bool check_shapes) {
  const ParsedPrompt p = parse(prompt);
  const int size = picture.width;
  const std::vector<uint8_t>& rgb = picture.pixels;
  std::vector<int> labels(static_cast<size_t>(size) * size, -1);
  std::array<int64_t, kPalette.size()> counts{};
  for (size_t i = 0; i < labels.size(); ++i) {
    float best = 0;
    int best_index = -1;
    for (size_t c = 0; c < kPalette.size(); ++c) {
      float d = 0;
      for (int k = 0; k < 3; ++k) {
        const float diff = static_cast<float>(rgb[i * 3 + k]) - kPalette[c].rgb[k];
        d += diff * diff;
      }
      if (best_index < 0 || d < best) {
        best = d;
        best_index = static_cast<int>(c);
      }
    }
    if (best < 90.0f * 90.0f) {
      labels[i] = best_index;
      ++counts[best_index];
    }
  }
  const auto most = std::max_element(counts.begin(), counts.end()) - counts.begin();
  if (!p.background.empty() && p.background != kPalette[most].name) {
    return {false, std::string("background is ") + kPalette[most].name};
  }
  if (p.objects.size() > 1 && p.relation.empty()) {
    // A count: every region of the colour bigger than a speck is one object.
    const auto& [colour, shape] = p.objects[0];
    std::vector<Region> parts;
    for (const Region& r : regions(labels, size, colour_index(colour)))
      if (static_cast<double>(r.area) >= 0.006 * size * size) parts.push_back(r);
    if (parts.size() != p.objects.size())
      return {false, std::to_string(parts.size()) + " " + colour + " regions"};
    for (const Region& r : parts) {
      double fill = 0;
      const std::string seen = shape_of(r, &fill);
      if (check_shapes && seen != shape)
        return {false, colour + " " + seen + " (fill " + fixed2(fill) + ")"};
    }
    return {true, "ok"};
  }
  std::vector<std::pair<double, double>> found;
  for (const auto& [colour, shape] : p.objects) {
    const Region r = largest_region(labels, size, colour_index(colour));
    if (static_cast<double>(r.area) < 0.02 * size * size)
      return {false, "no " + colour + " region"};
    double fill = 0;
    const std::string seen = shape_of(r, &fill);
    if (check_shapes && seen != shape)
      return {false, colour + " " + seen + " (fill " + fixed2(fill) + ")"};
    found.emplace_back(r.cx / size, r.cy / size);
  }
  if (!p.relation.empty()) {
    const auto [x1, y1] = found[0];
    const auto [x2, y2] = found[1];
    const bool ok = p.relation == "above"            ? y1 < y2 - 0.1
                    : p.relation == "below"          ? y1 > y2 + 0.1
                    : p.relation == "to the left of" ? x1 < x2 - 0.1
                                                     : x1 > x2 + 0.1;
    if (!ok) {
      return {false, "not " + p.relation + " (" + fixed2(x1) + "," + fixed2(y1) + ") vs (" +
                         fixed2(x2) + "," + fixed2(y2) + ")"};
    }
  }
  if (!p.place.empty()) {
    const auto [x, y] = found[0];
    const bool ok = p.place == "on the left"    ? x < 0.4
                    : p.place == "on the right" ? x > 0.6
                    : p.place == "at the top"   ? y < 0.4
                    : p.place == "at the bottom"
                        ? y > 0.6
                        : std::abs(x - 0.5) < 0.15 && std::abs(y - 0.5) < 0.15;
    if (!ok) return {false, "not " + p.place + " (" + fixed2(x) + "," + fixed2(y) + ")"};
  }
  return {true, "ok"};
}

}  // namespace mmgen::test
