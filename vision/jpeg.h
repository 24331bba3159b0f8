// JPEG decoding (libjpeg), and reading a PNG or JPEG picture by its content.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "vision/image.h"

namespace mmgen::vision {

// Decodes a baseline or progressive JPEG with libjpeg's defaults (grey and CMYK are
// converted to RGB). Throws Error naming `source` for data that is not a valid JPEG.
Image decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& source = "JPEG data");
Image read_jpeg(const std::filesystem::path& path);

// A PNG, JPEG or WebP file, told apart by its first bytes; throws Error naming the
// file for anything else.
Image read_image(const std::filesystem::path& path);

}  // namespace mmgen::vision
