#include "vision/webp.h"

#include <webp/decode.h>
#include <webp/encode.h>

#include <cstring>

#include "core/error.h"

namespace mmgen::vision {

bool is_webp(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 12 && std::memcmp(bytes.data(), "RIFF", 4) == 0 &&
         std::memcmp(bytes.data() + 8, "WEBP", 4) == 0;
}

Image decode_webp(const std::vector<uint8_t>& bytes, const std::string& source) {
  WebPBitstreamFeatures features;
  MMGEN_CHECK(WebPGetFeatures(bytes.data(), bytes.size(), &features) == VP8_STATUS_OK, source,
              ": not a valid WebP image");
  MMGEN_CHECK(!features.has_animation, source,
              ": an animated WebP; only still pictures can be read");
  Image image(features.width, features.height);
  const size_t stride = static_cast<size_t>(features.width) * 3;
  const uint8_t* decoded = WebPDecodeRGBInto(bytes.data(), bytes.size(), image.pixels.data(),
                                             image.pixels.size(), static_cast<int>(stride));
  MMGEN_CHECK(decoded != nullptr, source, ": the WebP data is damaged or truncated");
  return image;
}

std::vector<uint8_t> encode_webp(const Image& image, float quality) {
  MMGEN_CHECK(quality <= 100.0f, "WebP quality ", quality, " is above 100");
  uint8_t* output = nullptr;
  const int stride = image.width * 3;
  const size_t size =
      quality < 0
          ? WebPEncodeLosslessRGB(image.pixels.data(), image.width, image.height, stride, &output)
          : WebPEncodeRGB(image.pixels.data(), image.width, image.height, stride, quality, &output);
  MMGEN_CHECK(size > 0 && output != nullptr, "WebP encoding of a ", image.width, "x", image.height,
              " image failed");
  std::vector<uint8_t> bytes(output, output + size);
  WebPFree(output);
  return bytes;
}

}  // namespace mmgen::vision
