// io.save_image (PNG with the image's "parameters" text chunk) and io.save_audio
// (WAV) and io.save_video (MP4, or a PNG sequence). All write atomically (a temporary name, then a
// rename) into the run's output folder; the file path is the node's output.
#include <cctype>
#include <chrono>
#include <cstdio>

#include "audio/wav.h"
#include "core/error.h"
#include "core/progress.h"
#include "pipelines/node_context.h"
#include "pipelines/node_types.h"
#include "vision/png.h"
#include "vision/video_writer.h"

namespace mmgen::pipelines {
namespace {

namespace fs = std::filesystem;

// A file name inside the output folder: relative, without "..".
void check_file_name(const Value& v) {
  const fs::path p(v.text);
  MMGEN_CHECK(!v.text.empty(), "the file name is empty");
  MMGEN_CHECK(p.is_relative(), "\"", v.text, "\" must be relative to the output folder");
  for (const auto& part : p)
    MMGEN_CHECK(part != "..", "\"", v.text, "\" must stay inside the output folder (no \"..\")");
}

fs::path output_path(NodeContext& c, const std::string& extension) {
  const std::string name = c.has("filename") ? c.text("filename") : c.node_id() + extension;
  const fs::path path = c.output_dir() / name;
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  return path;
}

FieldSpec filename_field(const std::string& extension) {
  FieldSpec f =
      text_field("filename", "file name in the output folder (default: NODE_ID" + extension + ")");
  f.optional = true;
  f.check = check_file_name;
  return f;
}

NodeSpec save_image_node() {
  NodeSpec s;
  s.type = "io.save_image";
  s.help = "Writes an image as PNG, its settings (prompt, seed, ...) in the parameters chunk";
  s.fields = {port_field("image", PortType::kImage, "the image"), filename_field(".png")};
  s.outputs = {{"path", PortType::kFile, "the PNG written"}};
  s.run = [](NodeContext& c) {
    const Value& image = c.value("image");
    const fs::path path = output_path(c, ".png");
    vision::PngText text;
    if (const std::string p = image.meta("parameters"); !p.empty()) {
      text.emplace_back("parameters", p);
    } else if (const std::string seed = image.meta("seed"); !seed.empty()) {
      text.emplace_back("seed", seed);
    }
    vision::write_png(path, *image.image, text);
    Value out = Value::of_text(path.string(), PortType::kFile);
    out.image = image.image;
    out.metadata = image.metadata;
    c.set_output("path", std::move(out));
  };
  return s;
}

NodeSpec save_audio_node() {
  NodeSpec s;
  s.type = "io.save_audio";
  s.help = "Writes audio as a WAV file (16-bit PCM or 32-bit float)";
  FieldSpec encoding = text_field("encoding", "\"pcm16\" or \"float32\"", "pcm16");
  encoding.check = [](const Value& v) {
    MMGEN_CHECK(v.text == "pcm16" || v.text == "float32",
                "must be \"pcm16\" or \"float32\", got \"", v.text, "\"");
  };
  s.fields = {port_field("audio", PortType::kAudio, "the audio"), filename_field(".wav"), encoding};
  s.outputs = {{"path", PortType::kFile, "the WAV written"}};
  s.run = [](NodeContext& c) {
    const Value& audio = c.value("audio");
    const fs::path path = output_path(c, ".wav");
    audio::write_wav(path, *audio.audio,
                     c.text("encoding") == "float32" ? audio::WavEncoding::kFloat32
                                                     : audio::WavEncoding::kPcm16);
    Value out = Value::of_text(path.string(), PortType::kFile);
    out.audio = audio.audio;
    out.metadata = audio.metadata;
    c.set_output("path", std::move(out));
  };
  return s;
}

// "mp4" or "png" (a PNG sequence): the `format` field, else the file name's extension.
bool writes_mp4(NodeContext& c) {
  const std::string format = c.text("format");
  if (format != "auto") return format == "mp4";
  if (!c.has("filename")) return true;
  std::string ext = fs::path(c.text("filename")).extension().string();
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".mp4";
}

void run_save_video(NodeContext& c) {
  const Value& video = c.value("video");
  const VideoClip& clip = *video.video;
  MMGEN_CHECK(clip.frame_count > 0 && clip.render_frame, "field \"video\": the clip has no frames");
  const bool mp4 = writes_mp4(c);
  const fs::path path = output_path(c, mp4 ? ".mp4" : "");
  const std::string seed = video.meta("seed");
  const std::string comment = seed.empty() ? "" : "Seed: " + seed;

  // One step event per frame; a cancel stops before the next frame.
  ProgressCallback progress = c.step_progress();
  const auto started = std::chrono::steady_clock::now();
  const auto frame_done = [&](int64_t done) {
    ProgressEvent e;
    e.stage = "rendering";
    e.step = done;
    e.total = clip.frame_count;
    e.elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!progress(e)) c.check_cancelled();
  };

  vision::Image frame;
  if (mp4) {
    vision::VideoOptions options;
    options.width = clip.width;
    options.height = clip.height;
    options.fps = clip.fps;
    options.crf = static_cast<int>(c.integer("crf"));
    if (clip.audio) options.audio_sample_rate = clip.audio->sample_rate;
    if (!comment.empty()) options.metadata.emplace_back("comment", comment);
    // Removes its temporary file when a frame fails or the run is cancelled.
    vision::Mp4Writer writer(path, options);
    if (clip.audio) writer.add_audio(clip.audio->samples.data(), clip.audio->samples.size());
    for (int64_t f = 0; f < clip.frame_count; ++f) {
      clip.render_frame(f, frame);
      writer.add_frame(frame);
      frame_done(f + 1);
    }
    writer.finish();
  } else {
    // A folder of frame_000001.png ... (each with the seed) and audio.wav, as
    // `mmgen avatar` and vision::write_png_sequence lay them out.
    std::error_code ec;
    fs::create_directories(path, ec);
    MMGEN_CHECK(fs::is_directory(path), path.string(), ": cannot create the folder");
    vision::PngText text;
    if (!seed.empty()) text.emplace_back("seed", seed);
    for (int64_t f = 0; f < clip.frame_count; ++f) {
      clip.render_frame(f, frame);
      char name[32];
      std::snprintf(name, sizeof(name), "frame_%06lld.png", static_cast<long long>(f + 1));
      vision::write_png(path / name, frame, text);
      frame_done(f + 1);
    }
    if (clip.audio) audio::write_wav(path / "audio.wav", *clip.audio, audio::WavEncoding::kPcm16);
  }
  Value out = Value::of_text(path.string(), PortType::kFile);
  out.video = video.video;
  out.metadata = video.metadata;
  c.set_output("path", std::move(out));
}

NodeSpec save_video_node() {
  NodeSpec s;
  s.type = "io.save_video";
  s.help = "Writes a video as MP4 (H.264 + AAC) or as a PNG sequence with a WAV";
  FieldSpec format = text_field(
      "format", "\"mp4\", \"png\" (a folder of frames + audio.wav) or \"auto\" (by the name)",
      "auto");
  format.check = [](const Value& v) {
    MMGEN_CHECK(v.text == "auto" || v.text == "mp4" || v.text == "png",
                "must be \"auto\", \"mp4\" or \"png\", got \"", v.text, "\"");
  };
  s.fields = {port_field("video", PortType::kVideo, "the video"),
              filename_field(".mp4; a folder for a PNG sequence"), format,
              int_field("crf", "H.264 quality (lower is better and larger)", 20, 0, 51)};
  s.outputs = {{"path", PortType::kFile, "the MP4 (or the PNG sequence's folder) written"}};
  s.run = run_save_video;
  return s;
}

}  // namespace

void add_io_nodes(std::vector<NodeSpec>& specs) {
  specs.push_back(save_image_node());
  specs.push_back(save_audio_node());
  specs.push_back(save_video_node());
}

}  // namespace mmgen::pipelines
