#include "tests/support/media_probe.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/cli_runner.h"

namespace mmgen::test {

MediaProbe probe_media(const std::filesystem::path& path) {
  const CommandRun run = run_command("ffprobe -v error -show_streams -show_format -of json " +
                                     shell_quoted(path.string()) + " 2>&1");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const nlohmann::json json = nlohmann::json::parse(run.output);
  MediaProbe probe;
  for (const nlohmann::json& stream : json["streams"]) {
    const double duration = std::stod(stream.value("duration", std::string("0")));
    if (stream["codec_type"] == "video") {
      ++probe.video_streams;
      probe.video_duration = duration;
      probe.video_codec = stream["codec_name"];
      probe.width = stream["width"];
      probe.height = stream["height"];
    } else if (stream["codec_type"] == "audio") {
      ++probe.audio_streams;
      probe.audio_duration = duration;
    }
  }
  if (json.contains("format") && json["format"].contains("tags"))
    probe.comment = json["format"]["tags"].value("comment", "");
  return probe;
}

}  // namespace mmgen::test
