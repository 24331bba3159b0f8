// The talking-head renderer: driving signals, the mesh warp, and rendered
// frames whose re-detected mouth opens with the audio. The face tests need the
// models and samples fetched by scripts/fetch_face_models.sh.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/support/test_support.h"
#include "vision/avatar_audio_drive.h"
#include "vision/avatar_mesh.h"
#include "vision/avatar_motion.h"
#include "vision/avatar_renderer.h"
#include "vision/avatar_visemes.h"
#include "vision/face_analysis.h"
#include "vision/jpeg.h"

namespace mmgen::vision {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

fs::path face_api_dir() {
  const fs::path dir = test::test_data_dir() / ".." / ".." / "third_party" / "face-api";
  MMGEN_CHECK(fs::exists(dir / "model" / "tiny_face_detector_model-weights_manifest.json"),
              dir.string(), ": face-api models not fetched (run scripts/fetch_face_models.sh)");
  return dir;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// Speech-like audio: voiced syllables (a 140 Hz buzz with a few harmonics)
// of random length and loudness separated by short pauses.
std::vector<float> syllable_audio(int sample_rate, double seconds, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> length(0.12, 0.3), gap(0.05, 0.25), loud(0.25, 0.9);
  std::vector<float> out(static_cast<size_t>(seconds * sample_rate), 0.0f);
  double t = 0.2;
  while (t < seconds - 0.1) {
    const double len = length(rng), amplitude = loud(rng);
    const auto begin = static_cast<size_t>(t * sample_rate);
    const auto end = std::min(out.size(), static_cast<size_t>((t + len) * sample_rate));
    for (size_t i = begin; i < end; ++i) {
      const double u = static_cast<double>(i - begin) / static_cast<double>(end - begin);
      const double envelope = std::sin(M_PI * u);  // rise and fall within the syllable
      const double s = static_cast<double>(i) / sample_rate;
      double buzz = 0;
      for (int h = 1; h <= 5; ++h) buzz += std::sin(2 * M_PI * 140.0 * h * s) / h;
      out[i] = static_cast<float>(0.4 * amplitude * envelope * buzz);
    }
    t += len + gap(rng);
  }
  return out;
}

float distance(Point2 a, Point2 b) { return std::hypot(a.x - b.x, a.y - b.y); }

// The inner-lip gap relative to the distance between the eyes.
double mouth_opening(const FaceLandmarks68& p) {
  Point2 left, right;
  for (int i = 36; i < 42; ++i) left = {left.x + p[i].x / 6, left.y + p[i].y / 6};
  for (int i = 42; i < 48; ++i) right = {right.x + p[i].x / 6, right.y + p[i].y / 6};
  const double gap = (distance(p[61], p[67]) + distance(p[62], p[66]) + distance(p[63], p[65])) / 3;
  return gap / distance(left, right);
}

}  // namespace

TEST_CASE("The frame count covers the audio", "[avatar]") {
  CHECK(frames_for_duration(2.0, 25) == 50);
  CHECK(frames_for_duration(2.001, 25) == 51);
  CHECK(frames_for_duration(0.01, 25) == 1);
  CHECK(frames_for_duration(1.0 / 3.0, 30) == 10);
  CHECK_THROWS_WITH(frames_for_duration(1.0, 0), Contains("fps"));
}

TEST_CASE("Phonemes map to visemes and a mouth track", "[avatar]") {
  CHECK(viseme_for_phoneme("a") == Viseme::kOpenVowel);
  CHECK(viseme_for_phoneme("m") == Viseme::kBilabial);
  CHECK(viseme_for_phoneme("u") == Viseme::kRoundVowel);
  CHECK(viseme_for_phoneme("i") == Viseme::kSpreadVowel);
  CHECK(viseme_for_phoneme("ʃ") == Viseme::kPostalveolar);
  CHECK(viseme_for_phoneme("ˈ") == Viseme::kRest);
  // "m a ː u" then silence, at 25 fps.
  const std::vector<PhonemeTiming> phonemes = {
      {"m", 0.0, 0.2}, {"a", 0.2, 0.5}, {"ː", 0.5, 0.6}, {"u", 0.6, 0.9}, {"_", 0.9, 1.2}};
  const std::vector<MouthShape> track = mouth_track_from_phonemes(phonemes, 30, 25);
  REQUIRE(track.size() == 30);
  CHECK(track[2].open < 0.05f);   // lips closed for /m/
  CHECK(track[11].open > 0.85f);  // jaw dropped for the long /a/
  CHECK(track[19].round > 0.6f);  // rounded for /u/
  CHECK(track[19].width < 0.0f);
  CHECK(track[29].open < 0.05f);  // back to rest
}

TEST_CASE("The audio mouth track follows the energy envelope", "[avatar]") {
  const int rate = 16000, fps = 25;
  const std::vector<float> audio = syllable_audio(rate, 4.0, 7);
  const int64_t frames = frames_for_duration(4.0, fps);
  const std::vector<MouthShape> track =
      mouth_track_from_audio(audio.data(), audio.size(), rate, frames, fps);
  const std::vector<float> energy =
      audio_energy_envelope(audio.data(), audio.size(), rate, frames, fps);
  REQUIRE(track.size() == static_cast<size_t>(frames));
  std::vector<double> open, level;
  for (int64_t f = 0; f < frames; ++f) {
    open.push_back(track[f].open);
    level.push_back(energy[f]);
    CHECK(track[f].open >= 0.0f);
    CHECK(track[f].open <= 1.0f);
  }
  CHECK(pearson(open, level) > 0.8);
  CHECK(track[0].open < 0.02f);  // silence before the first syllable
}

TEST_CASE("Blinks come every 2 to 6 seconds and close fully", "[avatar]") {
  const int fps = 25;
  const std::vector<float> blinks = blink_track(60 * fps, fps, 42);
  std::vector<int> peaks;
  for (int f = 0; f < static_cast<int>(blinks.size()); ++f)
    if (blinks[f] == 1.0f) peaks.push_back(f);
  REQUIRE(peaks.size() >= 10);
  REQUIRE(peaks.size() <= 30);
  CHECK(peaks.front() <= 3 * fps);
  for (size_t i = 1; i < peaks.size(); ++i) {
    const double interval = static_cast<double>(peaks[i] - peaks[i - 1]) / fps;
    CHECK(interval >= 2.0 - 1.0 / fps);
    CHECK(interval <= 6.0 + 1.0 / fps);
  }
  // A closure lasts about 150 ms: no more than 5 frames are closed a quarter or more.
  int closed = 0;
  for (int f = peaks[0] - 5; f <= peaks[0] + 5; ++f) closed += blinks[f] >= 0.25f;
  CHECK(closed >= 2);
  CHECK(closed <= 5);
  CHECK(blink_track(60 * fps, fps, 42) == blinks);  // the seed decides
  CHECK(blink_track(60 * fps, fps, 43) != blinks);
}

TEST_CASE("Head motion is slight and smooth", "[avatar]") {
  const std::vector<HeadPose> head = head_motion_track(250, 25, 3);
  for (size_t f = 0; f < head.size(); ++f) {
    CHECK(std::abs(head[f].roll) <= 0.031f);
    CHECK(std::abs(head[f].dx) <= 0.0121f);
    CHECK(std::abs(head[f].scale - 1.0f) <= 0.0101f);
    if (f > 0) CHECK(std::abs(head[f].roll - head[f - 1].roll) < 0.01f);
  }
}

TEST_CASE("The Delaunay mesh tiles the hull and the identity warp copies the picture", "[avatar]") {
  std::vector<Point2> points = {{0, 0}, {64, 0}, {64, 48}, {0, 48}};
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> x(4, 60), y(4, 44);
  for (int i = 0; i < 30; ++i) points.push_back({x(rng), y(rng)});
  const std::vector<Triangle> triangles = delaunay_triangulation(points);
  double area = 0;
  for (const Triangle& t : triangles) {
    const Point2 a = points[t[0]], b = points[t[1]], c = points[t[2]];
    const double twice = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
    CHECK(twice > 0);  // counter-clockwise in the maths sense of the formula
    area += twice / 2;
  }
  CHECK(area == Approx(64.0 * 48.0).epsilon(1e-4));
  // Euler: a triangulation of n points with h on the hull has 2n - h - 2 triangles.
  CHECK(triangles.size() == 2 * points.size() - 4 - 2);

  Image source(64, 48);
  for (int yy = 0; yy < 48; ++yy)
    for (int xx = 0; xx < 64; ++xx)
      for (int c = 0; c < 3; ++c)
        source.pixel(xx, yy)[c] = static_cast<uint8_t>((xx * 7 + yy * 13 + c * 50) % 256);
  Image target(64, 48);
  warp_triangles(source, points, points, triangles, target);
  CHECK(target.pixels == source.pixels);  // every pixel covered, sampled at its centre

  // Shifting every point by whole pixels shifts the picture.
  std::vector<Point2> moved = points;
  for (Point2& p : moved) p.x += 3;
  Image shifted(64, 48);
  warp_triangles(source, points, moved, triangles, shifted);
  CHECK(shifted.pixel(20, 10)[0] == source.pixel(17, 10)[0]);
  CHECK(shifted.pixel(40, 30)[2] == source.pixel(37, 30)[2]);
  CHECK_THROWS_WITH(delaunay_triangulation({{0, 0}, {1, 1}, {1, 1}}), Contains("coincide"));

  // A flat rhombus: Delaunay takes the short diagonal; the long one can be forced.
  const std::vector<Point2> rhombus = {{0, 5}, {20, 4}, {40, 5}, {20, 6}};
  std::vector<Triangle> flat = delaunay_triangulation(rhombus);
  REQUIRE(flat.size() == 2);
  const auto has = [&](int a, int b) {
    for (const Triangle& t : flat)
      for (int e = 0; e < 3; ++e)
        if ((t[e] == a && t[(e + 1) % 3] == b) || (t[e] == b && t[(e + 1) % 3] == a)) return true;
    return false;
  };
  CHECK(has(1, 3));
  CHECK(!has(0, 2));
  CHECK(enforce_edges(rhombus, flat, {{0, 2}}) == 0);
  CHECK(has(0, 2));
  CHECK(!has(1, 3));
}

TEST_CASE("A portrait without a face is refused clearly", "[avatar][faces]") {
  const FaceAnalyzer analyzer = FaceAnalyzer::load(face_api_dir() / "model");
  Image grey(320, 240);
  std::fill(grey.pixels.begin(), grey.pixels.end(), uint8_t{128});
  CHECK_THROWS_WITH(AvatarRenderer::from_portrait(grey, "grey.png", analyzer, 256),
                    Contains("grey.png") && Contains("no face found"));
}

TEST_CASE("The rendered mouth opens with the audio energy", "[avatar][faces]") {
  const fs::path dir = face_api_dir();
  const FaceAnalyzer analyzer = FaceAnalyzer::load(dir / "model");
  const Image portrait = read_image(dir / "samples" / "sample2.jpg");
  const AvatarRenderer renderer =
      AvatarRenderer::from_portrait(portrait, "sample2.jpg", analyzer, 384);
  REQUIRE(renderer.size() == 384);
  // No triangle joins the upper lip to the lower one except inside the mouth,
  // so opening the jaw never stretches lip pixels across the gap.
  const FaceRig& rig = renderer.rig();
  const auto in = [](int i, std::initializer_list<int> set) {
    return std::find(set.begin(), set.end(), i) != set.end();
  };
  int interior = 0;
  for (size_t t = 0; t < rig.triangles.size(); ++t) {
    bool upper = false, lower = false;
    for (int i : rig.triangles[t]) {
      upper |= in(i, {49, 50, 51, 52, 53, 61, 62, 63});
      lower |= in(i, {55, 56, 57, 58, 59, 65, 66, 67});
    }
    interior += rig.mouth_interior[t];
    if (!rig.mouth_interior[t]) CHECK_FALSE((upper && lower));  // triangle t spans the mouth
  }
  CHECK(interior >= 4);  // the inner-lip octagon is tiled by its own points
  Image rest;
  renderer.render(AvatarFrameSignals{}, 0, 25, rest);
  CHECK(rest.pixels == renderer.base().pixels);  // neutral signals: the portrait itself

  const int rate = 16000, fps = 25;
  const double seconds = 3.0;
  const std::vector<float> audio = syllable_audio(rate, seconds, 11);
  const int64_t frames = frames_for_duration(seconds, fps);
  REQUIRE(frames == 75);
  const std::vector<AvatarFrameSignals> signals =
      combine_signals(mouth_track_from_audio(audio.data(), audio.size(), rate, frames, fps),
                      blink_track(frames, fps, 1), head_motion_track(frames, fps, 1));
  const std::vector<float> energy =
      audio_energy_envelope(audio.data(), audio.size(), rate, frames, fps);

  // The portrait's face looks down and scores near the default threshold (0.5)
  // at this size; a lower one keeps every frame's face.
  FaceAnalyzerOptions options;
  options.detector.score_threshold = 0.3f;
  const FaceAnalyzer redetect = FaceAnalyzer::load(dir / "model", options);
  std::vector<double> opening, level;
  Image frame;
  for (int64_t f = 0; f < frames; ++f) {
    renderer.render(signals[f], f, fps, frame);
    const std::vector<FaceAnalysis> faces = redetect.analyse(frame);
    REQUIRE(faces.size() == 1);
    REQUIRE(faces[0].has_landmarks);
    opening.push_back(mouth_opening(faces[0].landmarks));
    level.push_back(energy[f]);
  }
  const double r = pearson(opening, level);
  WARN("Pearson r between the re-detected mouth opening and the audio energy: " << r);
  CHECK(r > 0.5);
}

}  // namespace mmgen::vision
