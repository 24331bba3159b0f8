// io.save_image (PNG with the image's "parameters" text chunk) and io.save_audio
// (WAV). Both write atomically (a temporary name, then a rename) into the run's
// output folder; the file path is the node's output.
#include "audio/wav.h"
#include "core/error.h"
#include "pipelines/node_context.h"
#include "pipelines/node_types.h"
#include "vision/png.h"

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

NodeSpec save_video_node() {
  NodeSpec s;
  s.type = "io.save_video";
  s.help = "Writes a video file";
  s.available = false;
  s.unavailable_reason = "video writing is not part of this version";
  s.fields = {port_field("video", PortType::kVideo, "the video"), filename_field(".mp4")};
  s.outputs = {{"path", PortType::kFile, "the video written"}};
  return s;
}

}  // namespace

void add_io_nodes(std::vector<NodeSpec>& specs) {
  specs.push_back(save_image_node());
  specs.push_back(save_audio_node());
  specs.push_back(save_video_node());
}

}  // namespace mmgen::pipelines
