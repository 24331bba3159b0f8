// WebP decoding and encoding (libwebp): lossy and lossless stills.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vision/image.h"

namespace mmgen::vision {

// True when `bytes` start like a WebP file ("RIFF" size "WEBP").
bool is_webp(const std::vector<uint8_t>& bytes);

// Decodes a still WebP picture to RGB (an alpha channel is dropped). Throws Error naming
// `source` for data libwebp cannot decode, and for animated WebP files.
Image decode_webp(const std::vector<uint8_t>& bytes, const std::string& source = "WebP data");

// Encodes RGB losslessly (quality < 0) or lossy at `quality` in [0, 100].
std::vector<uint8_t> encode_webp(const Image& image, float quality = -1.0f);

}  // namespace mmgen::vision
