// What ffprobe reports of a media file: the tests check MP4 output from outside, as a
// user's player or editor would read it.
#pragma once

#include <filesystem>
#include <string>

namespace mmgen::test {

struct MediaProbe {
  int video_streams = 0, audio_streams = 0;
  double video_duration = 0, audio_duration = 0;  // seconds, of the last stream of each kind
  int width = 0, height = 0;
  std::string video_codec;
  std::string comment;  // the container's "comment" tag, if any
};

// Runs `ffprobe -show_streams -show_format` on `path`; fails the test when ffprobe is
// missing or cannot read the file.
MediaProbe probe_media(const std::filesystem::path& path);

}  // namespace mmgen::test
