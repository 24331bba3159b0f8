// vision.load_image (PNG, JPEG or WebP) and vision.avatar_video (a talking head: a
// portrait animated by speech). The avatar node does the work that needs the
// whole clip up front (face analysis, crop, the driving signals of every frame);
// its video value renders each frame on demand, so io.save_video writes a long
// clip without holding its frames in memory.
#include <cctype>
#include <memory>
#include <vector>

#include "core/error.h"
#include "pipelines/node_context.h"
#include "pipelines/node_types.h"
#include "vision/avatar_audio_drive.h"
#include "vision/avatar_motion.h"
#include "vision/avatar_renderer.h"
#include "vision/avatar_visemes.h"
#include "vision/face_analysis.h"
#include "vision/jpeg.h"
#include "vision/png.h"

namespace mmgen::pipelines {
namespace {

namespace fs = std::filesystem;

NodeSpec load_image_node() {
  NodeSpec s;
  s.type = "vision.load_image";
  s.help = "An image from a PNG or JPEG file";
  s.fields = {file_field("path", "PNG or JPEG file")};
  s.outputs = {{"image", PortType::kImage, "the image (8-bit RGB)"}};
  s.run = [](NodeContext& c) {
    const fs::path path = c.file("path");
    std::string ext = path.extension().string();
    for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    Metadata meta;
    if (ext != ".jpg" && ext != ".jpeg") {
      vision::PngFile png = vision::read_png(path);
      if (const std::string p = png.text_value("parameters"); !p.empty())
        meta.emplace_back("parameters", p);
      c.set_output("image", Value::of_image(std::move(png.image), std::move(meta)));
    } else {
      c.set_output("image", Value::of_image(vision::read_image(path)));
    }
  };
  return s;
}

// The soundtrack as mono samples (channels averaged).
audio::WavAudio mono_audio(const audio::WavAudio& input) {
  audio::WavAudio mono;
  mono.sample_rate = input.sample_rate;
  mono.channels = 1;
  const int64_t frames = input.frames();
  mono.samples.resize(static_cast<size_t>(frames));
  for (int64_t i = 0; i < frames; ++i) {
    float sum = 0;
    for (int ch = 0; ch < input.channels; ++ch) sum += input.samples[i * input.channels + ch];
    mono.samples[i] = sum / static_cast<float>(input.channels);
  }
  return mono;
}

void run_avatar_video(NodeContext& c) {
  const int fps = static_cast<int>(c.integer("fps"));
  const int size = static_cast<int>(c.integer("size"));
  const uint64_t seed = c.seed("seed");

  // The face first: a portrait without one fails before the audio is looked at.
  vision::Image portrait;
  std::string source;
  if (c.has("portrait")) {
    source = c.file("portrait").string();
    portrait = vision::read_image(source);
  } else {
    source = "the image of field \"image\"";
    portrait = *c.value("image").image;
  }
  const fs::path face_models =
      c.has("face_models") ? c.file("face_models") : vision::default_face_model_dir();
  const auto analyzer = c.models().get<vision::FaceAnalyzer>(
      ModelCache::key("face-api", face_models, c.device(), ""), [&] {
        return std::make_shared<const vision::FaceAnalyzer>(
            vision::FaceAnalyzer::load(face_models, {}, c.device()));
      });
  auto renderer = std::make_shared<const vision::AvatarRenderer>(
      vision::AvatarRenderer::from_portrait(portrait, source, *analyzer, size));
  c.check_cancelled();

  const Value& speech = c.value("audio");
  auto audio = std::make_shared<const audio::WavAudio>(mono_audio(*speech.audio));
  MMGEN_CHECK(audio->sample_rate > 0 && !audio->samples.empty(), "field \"audio\": no samples");
  const double seconds = static_cast<double>(audio->samples.size()) / audio->sample_rate;
  const int64_t frames = vision::frames_for_duration(seconds, fps);
  const bool from_phonemes = speech.phonemes && !speech.phonemes->empty();
  const std::vector<vision::MouthShape> mouth =
      from_phonemes ? vision::mouth_track_from_phonemes(*speech.phonemes, frames, fps)
                    : vision::mouth_track_from_audio(audio->samples.data(), audio->samples.size(),
                                                     audio->sample_rate, frames, fps);
  auto signals = std::make_shared<const std::vector<vision::AvatarFrameSignals>>(
      vision::combine_signals(mouth, vision::blink_track(frames, fps, seed),
                              vision::head_motion_track(frames, fps, seed)));

  VideoClip clip;
  clip.width = clip.height = renderer->size();
  clip.fps = fps;
  clip.frame_count = frames;
  clip.audio = audio;
  clip.render_frame = [renderer, signals, fps](int64_t index, vision::Image& out) {
    MMGEN_CHECK(index >= 0 && index < static_cast<int64_t>(signals->size()), "video frame ", index,
                " is outside the clip (", signals->size(), " frames)");
    renderer->render((*signals)[index], index, fps, out);
  };
  Metadata meta{{"seed", std::to_string(seed)}, {"mouth", from_phonemes ? "phonemes" : "audio"}};
  if (const std::string voice_seed = speech.meta("seed"); !voice_seed.empty())
    meta.emplace_back("voice_seed", voice_seed);
  c.set_output("video", Value::of_video(std::move(clip), std::move(meta)));
}

NodeSpec avatar_video_node() {
  NodeSpec s;
  s.type = "vision.avatar_video";
  s.help = "A talking-head video of a portrait speaking an audio track";
  FieldSpec portrait = file_field("portrait", "portrait picture (PNG or JPEG) with one clear face",
                                  /*optional=*/true);
  FieldSpec image = port_field("image", PortType::kImage, "the portrait as an image (instead)");
  image.optional = true;
  FieldSpec size = int_field("size", "video width and height in pixels (even)", 512, 64, 4096);
  size.multiple_of = 2;
  FieldSpec models = file_field(
      "face_models", "folder with the face-api models (default: as `mmgen avatar`)", true);
  s.fields = {portrait,
              image,
              port_field("audio", PortType::kAudio,
                         "the speech (audio.tts's phoneme timings shape the mouth when present)"),
              int_field("fps", "frames per second", 25, 1, 120),
              size,
              seed_field("Seed of the blinks and head motion; -1 picks one (recorded)"),
              models};
  s.outputs = {{"video", PortType::kVideo,
                "the clip: frames rendered on demand (by io.save_video) and the soundtrack"}};
  s.check = [](const NodeContext& known) {
    const bool has_portrait = known.has("portrait") || known.connected("portrait");
    const bool has_image = known.has("image") || known.connected("image");
    if (!has_portrait && !has_image)
      field_fail("portrait", "no portrait: give a picture file in \"portrait\" or connect an ",
                 "image to \"image\"");
    if (has_portrait && has_image)
      field_fail("image", "give the portrait once: either \"portrait\" (a file) or \"image\"");
  };
  s.run = run_avatar_video;
  return s;
}

}  // namespace

void add_vision_nodes(std::vector<NodeSpec>& specs) {
  specs.push_back(load_image_node());
  specs.push_back(avatar_video_node());
}

}  // namespace mmgen::pipelines
