// vision.load_image, and the talking-head node this build does not have yet.
#include "core/error.h"
#include "pipelines/node_context.h"
#include "pipelines/node_types.h"
#include "vision/png.h"

namespace mmgen::pipelines {
namespace {

NodeSpec load_image_node() {
  NodeSpec s;
  s.type = "vision.load_image";
  s.help = "An image from a PNG file";
  s.fields = {file_field("path", "PNG file")};
  s.outputs = {{"image", PortType::kImage, "the image (8-bit RGB)"}};
  s.run = [](NodeContext& c) {
    vision::PngFile png = vision::read_png(c.file("path"));
    Metadata meta;
    if (const std::string p = png.text_value("parameters"); !p.empty())
      meta.emplace_back("parameters", p);
    c.set_output("image", Value::of_image(std::move(png.image), std::move(meta)));
  };
  return s;
}

NodeSpec avatar_video_node() {
  NodeSpec s;
  s.type = "vision.avatar_video";
  s.help = "A talking-head video of a face image speaking an audio track";
  s.available = false;
  s.unavailable_reason = "the talking-head renderer is not part of this version";
  s.fields = {port_field("image", PortType::kImage, "the face"),
              port_field("audio", PortType::kAudio, "the speech")};
  s.outputs = {{"video", PortType::kVideo, "the video"}};
  return s;
}

}  // namespace

void add_vision_nodes(std::vector<NodeSpec>& specs) {
  specs.push_back(load_image_node());
  specs.push_back(avatar_video_node());
}

}  // namespace mmgen::pipelines
