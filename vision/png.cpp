// libpng reports errors by longjmp; the functions that call it keep only plain
// locals so the jump skips no destructor, and turn a failure into an Error after.
#include "vision/png.h"

#include <png.h>

#include <csetjmp>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/atomic_file.h"
#include "core/error.h"

namespace mmgen::vision {
namespace {

struct ErrorSlot {
  char message[256] = {0};
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* slot = static_cast<ErrorSlot*>(png_get_error_ptr(png));
  if (slot) std::snprintf(slot->message, sizeof(slot->message), "%s", message);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

struct WriteBuffer {
  std::vector<uint8_t>* bytes;
};

void write_callback(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<WriteBuffer*>(png_get_io_ptr(png));
  out->bytes->insert(out->bytes->end(), data, data + length);
}

void flush_callback(png_structp) {}

struct ReadCursor {
  const uint8_t* data;
  size_t size;
  size_t offset;
};

void read_callback(png_structp png, png_bytep data, png_size_t length) {
  auto* in = static_cast<ReadCursor*>(png_get_io_ptr(png));
  if (length > in->size - in->offset) png_error(png, "truncated PNG data");
  std::memcpy(data, in->data + in->offset, length);
  in->offset += length;
}

bool valid_keyword(const std::string& keyword) {
  if (keyword.empty() || keyword.size() > 79) return false;
  if (keyword.front() == ' ' || keyword.back() == ' ') return false;
  for (unsigned char c : keyword)
    if (c < 32 || (c > 126 && c < 161)) return false;
  return true;
}

// Returns false with slot.message set on failure.
bool encode_raw(const Image& image, png_text* texts, int text_count, png_bytep* rows,
                std::vector<uint8_t>* out, ErrorSlot* slot) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, slot, on_png_error, on_png_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  WriteBuffer buffer{out};
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return false;
  }
  png_set_write_fn(png, &buffer, write_callback, flush_callback);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (text_count > 0) png_set_text(png, info, texts, text_count);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

struct DecodedRaw {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;
  PngText text;
  std::vector<png_bytep> rows;
};

bool decode_raw(const uint8_t* data, size_t size, DecodedRaw* out, ErrorSlot* slot) {
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, slot, on_png_error, on_png_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  png_infop end_info = info ? png_create_info_struct(png) : nullptr;
  ReadCursor cursor{data, size, 0};
  if (!info || !end_info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info ? &info : nullptr, end_info ? &end_info : nullptr);
    return false;
  }
  png_set_read_fn(png, &cursor, read_callback);
  // A decoded image of more than 2^28 pixels is refused rather than allocated.
  png_set_user_limits(png, 1 << 15, 1 << 15);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  if (static_cast<uint64_t>(width) * height > (uint64_t{1} << 28))
    png_error(png, "image too large");
  const int color_type = png_get_color_type(png, info);
  if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_expand_gray_1_2_4_to_8(png);
    png_set_gray_to_rgb(png);
  }
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != static_cast<size_t>(width) * 3)
    png_error(png, "unexpected row size after conversion to RGB");
  out->width = static_cast<int>(width);
  out->height = static_cast<int>(height);
  out->pixels.resize(static_cast<size_t>(width) * height * 3);
  out->rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y)
    out->rows[y] = out->pixels.data() + static_cast<size_t>(y) * width * 3;
  png_read_image(png, out->rows.data());
  png_read_end(png, end_info);
  for (png_infop source : {info, end_info}) {
    png_textp texts = nullptr;
    const int count = png_get_text(png, source, &texts, nullptr);
    for (int i = 0; i < count; ++i)
      out->text.emplace_back(
          texts[i].key,
          std::string(texts[i].text ? texts[i].text : "",
                      texts[i].compression > 0 ? texts[i].itxt_length : texts[i].text_length));
  }
  png_destroy_read_struct(&png, &info, &end_info);
  return true;
}

}  // namespace

std::string PngFile::text_value(const std::string& keyword) const {
  for (const auto& [key, value] : text)
    if (key == keyword) return value;
  return "";
}

std::vector<uint8_t> encode_png(const Image& image, const PngText& text) {
  MMGEN_CHECK(image.width > 0 && image.height > 0 &&
                  image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
              "PNG: malformed image ", image.width, "x", image.height, " with ",
              image.pixels.size(), " bytes");
  std::vector<png_text> texts(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    MMGEN_CHECK(valid_keyword(text[i].first), "PNG: invalid text keyword '", text[i].first,
                "' (1-79 printable Latin-1 characters, no leading or trailing space)");
    std::memset(&texts[i], 0, sizeof(png_text));
    // Text beyond Latin-1 (any non-ASCII byte) goes into an iTXt chunk, which holds UTF-8.
    bool ascii = true;
    for (unsigned char c : text[i].second) ascii = ascii && c < 128;
    texts[i].compression = ascii ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
    texts[i].key = const_cast<char*>(text[i].first.c_str());
    texts[i].text = const_cast<char*>(text[i].second.c_str());
    texts[i].text_length = ascii ? text[i].second.size() : 0;
    texts[i].itxt_length = ascii ? 0 : text[i].second.size();
  }
  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y)
    rows[y] = const_cast<png_bytep>(image.pixels.data() + static_cast<size_t>(y) * image.width * 3);
  std::vector<uint8_t> out;
  ErrorSlot slot;
  MMGEN_CHECK(
      encode_raw(image, texts.data(), static_cast<int>(texts.size()), rows.data(), &out, &slot),
      "PNG: encoding failed: ", slot.message);
  return out;
}

void write_png(const std::filesystem::path& path, const Image& image, const PngText& text) {
  const std::vector<uint8_t> bytes = encode_png(image, text);
  AtomicFileWriter writer(path);
  writer.write(bytes.data(), bytes.size());
  writer.commit();
}

PngFile decode_png(const std::vector<uint8_t>& bytes, const std::string& source) {
  MMGEN_CHECK(bytes.size() >= 8 && png_sig_cmp(bytes.data(), 0, 8) == 0, source,
              ": not a PNG file (bad signature)");
  DecodedRaw raw;
  ErrorSlot slot;
  MMGEN_CHECK(decode_raw(bytes.data(), bytes.size(), &raw, &slot), source,
              ": invalid PNG: ", slot.message);
  PngFile file;
  file.image.width = raw.width;
  file.image.height = raw.height;
  file.image.pixels = std::move(raw.pixels);
  file.text = std::move(raw.text);
  return file;
}

PngFile read_png(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open the PNG file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  return decode_png(bytes, path.string());
}

}  // namespace mmgen::vision
