// libjpeg reports errors through error_exit, which must not return: it longjmps
// back to decode_jpeg, whose locals between setjmp and the jump are plain data.
#include "vision/jpeg.h"

#include <jpeglib.h>

#include <csetjmp>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "vision/png.h"
#include "vision/webp.h"

namespace mmgen::vision {
namespace {

struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
};

void on_jpeg_error(j_common_ptr info) {
  auto* manager = reinterpret_cast<ErrorManager*>(info->err);
  (*info->err->format_message)(info, manager->message);
  std::longjmp(manager->jump, 1);
}

void on_jpeg_message(j_common_ptr, int) {}  // warnings (e.g. extraneous bytes) are ignored

std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open the image");
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Runs libjpeg; returns false with `manager.message` set on failure. Everything with
// a destructor lives in the caller, so the jump skips none.
bool run_decoder(const std::vector<uint8_t>& bytes, ErrorManager& manager,
                 jpeg_decompress_struct& info, Image& image, std::vector<uint8_t>& row) {
  if (setjmp(manager.jump)) return false;
  jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  const bool cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
  info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&info);
  image = Image(static_cast<int>(info.output_width), static_cast<int>(info.output_height));
  row.assign(static_cast<size_t>(info.output_width) * info.output_components, 0);
  while (info.output_scanline < info.output_height) {
    const int y = static_cast<int>(info.output_scanline);
    JSAMPROW rows[1] = {row.data()};
    jpeg_read_scanlines(&info, rows, 1);
    for (int x = 0; x < image.width; ++x) {
      uint8_t* out = image.pixel(x, y);
      const uint8_t* in = row.data() + static_cast<size_t>(x) * info.output_components;
      if (cmyk) {
        // Adobe JPEGs store inverted CMYK: the channel values already are (255 - ink).
        for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>(in[c] * in[3] / 255);
      } else {
        out[0] = in[0], out[1] = in[1], out[2] = in[2];
      }
    }
  }
  jpeg_finish_decompress(&info);
  return true;
}

}  // namespace

Image decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& source) {
  MMGEN_CHECK(bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8, source,
              ": not a JPEG (no SOI marker)");
  jpeg_decompress_struct info{};
  ErrorManager manager;
  info.err = jpeg_std_error(&manager.base);
  manager.base.error_exit = on_jpeg_error;
  manager.base.emit_message = on_jpeg_message;
  jpeg_create_decompress(&info);
  Image image;
  std::vector<uint8_t> row;
  const bool ok = run_decoder(bytes, manager, info, image, row);
  jpeg_destroy_decompress(&info);
  MMGEN_CHECK(ok, source, ": invalid JPEG: ", manager.message);
  return image;
}

Image read_jpeg(const std::filesystem::path& path) {
  return decode_jpeg(read_bytes(path), path.string());
}

Image read_image(const std::filesystem::path& path) {
  const std::vector<uint8_t> bytes = read_bytes(path);
  if (bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8) {
    return decode_jpeg(bytes, path.string());
  }
  if (bytes.size() >= 8 && bytes[0] == 0x89 && bytes[1] == 'P' && bytes[2] == 'N' &&
      bytes[3] == 'G') {
    return decode_png(bytes, path.string()).image;
  }
  if (is_webp(bytes)) return decode_webp(bytes, path.string());
  fail(path.string(), ": not a PNG, JPEG or WebP image");
}

}  // namespace mmgen::vision
