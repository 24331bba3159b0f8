// PNG files (libpng): 8-bit RGB images with tEXt metadata, such as the
// "parameters" chunk image generators record their settings in.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "vision/image.h"

namespace mmgen::vision {

// tEXt chunks in file order: keyword (1-79 Latin-1 characters) and text.
using PngText = std::vector<std::pair<std::string, std::string>>;

struct PngFile {
  Image image;
  PngText text;  // tEXt, zTXt and iTXt chunks
  // The text of the first chunk with this keyword, or "" when there is none.
  std::string text_value(const std::string& keyword) const;
};

// Encodes the image with the text chunks. Throws Error for a malformed image or
// an invalid keyword.
std::vector<uint8_t> encode_png(const Image& image, const PngText& text = {});
// Writes atomically (a temporary name, then a rename): the file is complete or absent.
void write_png(const std::filesystem::path& path, const Image& image, const PngText& text = {});

// Decodes any PNG (grey, palette, 16-bit and alpha are converted to 8-bit RGB;
// alpha is dropped). Throws Error naming `source` for data that is not a valid PNG.
PngFile decode_png(const std::vector<uint8_t>& bytes, const std::string& source = "PNG data");
PngFile read_png(const std::filesystem::path& path);

}  // namespace mmgen::vision
