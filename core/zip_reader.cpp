#include "core/zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/byte_reader.h"
#include "core/error.h"

namespace mmgen {
namespace {

constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;

constexpr size_t kEndRecordBytes = 22;
constexpr size_t kZip64LocatorBytes = 20;
constexpr size_t kZip64EndBytes = 56;
constexpr size_t kCentralHeaderBytes = 46;
constexpr size_t kLocalHeaderBytes = 30;
constexpr size_t kMaxCommentBytes = 0xffff;

constexpr uint16_t kStored = 0;
constexpr uint16_t kDeflate = 8;
// DEFLATE cannot expand data by more than about 1032:1; a larger claimed size is corruption
// (or a decompression bomb) and must not drive an allocation.
constexpr uint64_t kMaxDeflateRatio = 1032;

uint32_t load_u32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

bool looks_like_zip(const std::byte* data, size_t size) {
  return size >= 4 && load_u32(data) == kLocalHeaderSignature;
}

ZipReader::ZipReader(std::shared_ptr<Storage> archive, std::string label)
    : archive_(std::move(archive)), label_(std::move(label)) {
  MMGEN_CHECK(archive_ != nullptr, label_, ": no archive bytes");
  parse_directory(find_directory());
}

ZipReader::Directory ZipReader::find_directory() const {
  const size_t file_size = archive_->size();
  const std::byte* base = archive_->data();
  MMGEN_CHECK(file_size >= kEndRecordBytes, label_, ": zip archive of ", file_size,
              " bytes is too short to hold an end-of-central-directory record; the file is "
              "truncated");

  // The end record sits at the very end, followed only by a comment of up to 64 KiB.
  size_t end_pos = std::numeric_limits<size_t>::max();
  const size_t lowest = file_size - kEndRecordBytes > kMaxCommentBytes
                            ? file_size - kEndRecordBytes - kMaxCommentBytes
                            : 0;
  for (size_t pos = file_size - kEndRecordBytes + 1; pos-- > lowest;) {
    if (load_u32(base + pos) != kEndSignature) continue;
    uint16_t comment_bytes;
    std::memcpy(&comment_bytes, base + pos + 20, 2);
    if (pos + kEndRecordBytes + comment_bytes <= file_size) {
      end_pos = pos;
      break;
    }
  }
  MMGEN_CHECK(end_pos != std::numeric_limits<size_t>::max(), label_,
              ": no zip end-of-central-directory record; the file is truncated or not a zip "
              "archive");

  ByteReader end(base + end_pos, kEndRecordBytes, label_ + ": zip end record");
  end.skip(4, "signature");
  const uint16_t disk = end.read<uint16_t>("disk number");
  const uint16_t directory_disk = end.read<uint16_t>("directory disk");
  const uint16_t disk_count = end.read<uint16_t>("entries on this disk");
  Directory dir;
  dir.count = end.read<uint16_t>("entry count");
  dir.size = end.read<uint32_t>("directory size");
  dir.offset = end.read<uint32_t>("directory offset");

  // A zip64 locator directly before the end record points at the zip64 end record,
  // whose 64-bit fields replace the saturated 16/32-bit ones.
  const bool has_locator = end_pos >= kZip64LocatorBytes &&
                           load_u32(base + end_pos - kZip64LocatorBytes) == kZip64LocatorSignature;
  if (has_locator) {
    ByteReader locator(base + end_pos - kZip64LocatorBytes, kZip64LocatorBytes,
                       label_ + ": zip64 end locator");
    locator.skip(4, "signature");
    locator.skip(4, "disk");
    const uint64_t zip64_end = locator.read<uint64_t>("zip64 end record offset");
    MMGEN_CHECK(zip64_end <= end_pos - kZip64LocatorBytes &&
                    end_pos - kZip64LocatorBytes - zip64_end >= kZip64EndBytes,
                label_, ": zip64 end record offset ", zip64_end,
                " lies outside the archive; the file is truncated or corrupt");
    ByteReader record(base + zip64_end, kZip64EndBytes, label_ + ": zip64 end record");
    MMGEN_CHECK(record.read<uint32_t>("signature") == kZip64EndSignature, label_,
                ": no zip64 end record at offset ", zip64_end, "; the archive is corrupt");
    record.skip(8 + 2 + 2, "record size and versions");
    const uint32_t disk64 = record.read<uint32_t>("disk number");
    const uint32_t directory_disk64 = record.read<uint32_t>("directory disk");
    const uint64_t disk_count64 = record.read<uint64_t>("entries on this disk");
    dir.count = record.read<uint64_t>("entry count");
    dir.size = record.read<uint64_t>("directory size");
    dir.offset = record.read<uint64_t>("directory offset");
    MMGEN_CHECK(disk64 == 0 && directory_disk64 == 0 && disk_count64 == dir.count, label_,
                ": multi-part zip archives are not supported");
  } else {
    MMGEN_CHECK(dir.count != 0xffff && dir.size != 0xffffffff && dir.offset != 0xffffffff, label_,
                ": zip end record needs a zip64 end record that is missing; the file "
                "is truncated or corrupt");
    MMGEN_CHECK(disk == 0 && directory_disk == 0 && disk_count == dir.count, label_,
                ": multi-part zip archives are not supported");
  }

  const uint64_t directory_end_limit = has_locator ? end_pos - kZip64LocatorBytes : end_pos;
  MMGEN_CHECK(dir.offset <= directory_end_limit && dir.size <= directory_end_limit - dir.offset,
              label_, ": zip central directory (", dir.size, " bytes at offset ", dir.offset,
              ") lies outside the archive of ", file_size,
              " bytes; the file is truncated or corrupt");
  MMGEN_CHECK(dir.count <= dir.size / kCentralHeaderBytes, label_, ": zip archive claims ",
              dir.count, " entries, more than its ", dir.size,
              "-byte central directory can hold; the archive is corrupt");
  return dir;
}

void ZipReader::parse_directory(const Directory& dir) {
  const std::byte* base = archive_->data();
  const uint64_t file_size = archive_->size();
  ByteReader reader(base + dir.offset, static_cast<size_t>(dir.size),
                    label_ + ": zip central directory");
  entries_.reserve(static_cast<size_t>(dir.count));
  for (uint64_t i = 0; i < dir.count; ++i) {
    MMGEN_CHECK(reader.read<uint32_t>("header signature") == kCentralHeaderSignature, label_,
                ": zip central directory entry ", i,
                " has a bad signature; the archive is corrupt");
    reader.skip(2 + 2, "versions");
    const uint16_t flags = reader.read<uint16_t>("flags");
    ZipEntry entry;
    entry.method = reader.read<uint16_t>("compression method");
    reader.skip(2 + 2, "time and date");
    entry.crc32 = reader.read<uint32_t>("crc32");
    entry.compressed_size = reader.read<uint32_t>("compressed size");
    entry.size = reader.read<uint32_t>("uncompressed size");
    const uint16_t name_bytes = reader.read<uint16_t>("name length");
    const uint16_t extra_bytes = reader.read<uint16_t>("extra length");
    const uint16_t comment_bytes = reader.read<uint16_t>("comment length");
    const uint16_t disk = reader.read<uint16_t>("disk number");
    reader.skip(2 + 4, "attributes");
    uint64_t local_offset = reader.read<uint32_t>("local header offset");
    entry.name = std::string(reader.read_bytes(name_bytes, "entry name"));
    const std::string_view extra = reader.read_bytes(extra_bytes, "extra fields");
    reader.skip(comment_bytes, "entry comment");
    const std::string at = label_ + ": zip entry '" + entry.name + "'";

    // Saturated 32-bit fields continue in the zip64 extra field, in this order.
    const bool wide_size = entry.size == 0xffffffff;
    const bool wide_compressed = entry.compressed_size == 0xffffffff;
    const bool wide_offset = local_offset == 0xffffffff;
    const bool wide_disk = disk == 0xffff;
    if (wide_size || wide_compressed || wide_offset || wide_disk) {
      ByteReader fields(reinterpret_cast<const std::byte*>(extra.data()), extra.size(),
                        at + ": extra fields");
      bool found = false;
      while (fields.remaining() >= 4) {
        const uint16_t id = fields.read<uint16_t>("extra field id");
        const uint16_t length = fields.read<uint16_t>("extra field length");
        const std::string_view body = fields.read_bytes(length, "extra field");
        if (id != kZip64ExtraId) continue;
        ByteReader zip64(reinterpret_cast<const std::byte*>(body.data()), body.size(),
                         at + ": zip64 extra field");
        if (wide_size) entry.size = zip64.read<uint64_t>("uncompressed size");
        if (wide_compressed) entry.compressed_size = zip64.read<uint64_t>("compressed size");
        if (wide_offset) local_offset = zip64.read<uint64_t>("local header offset");
        found = true;
        break;
      }
      MMGEN_CHECK(found, at, ": 32-bit sizes are saturated but there is no zip64 extra field");
    }
    MMGEN_CHECK(!wide_disk && disk == 0, at, ": multi-part zip archives are not supported");
    MMGEN_CHECK((flags & 1) == 0, at, ": encrypted zip entries are not supported");
    MMGEN_CHECK(entry.method == kStored || entry.method == kDeflate, at, ": compression method ",
                entry.method, " is not supported (expected 0 STORED or 8 DEFLATE)");
    MMGEN_CHECK(entry.method != kStored || entry.size == entry.compressed_size, at,
                ": STORED entry has a compressed size of ", entry.compressed_size,
                " bytes but an uncompressed size of ", entry.size);

    // The local header repeats the name and has its own extra field (PyTorch pads
    // it to align the data); the data follows it.
    MMGEN_CHECK(local_offset <= file_size && file_size - local_offset >= kLocalHeaderBytes, at,
                ": local header offset ", local_offset, " lies outside the archive");
    ByteReader local(base + local_offset, static_cast<size_t>(file_size - local_offset),
                     at + ": local header");
    MMGEN_CHECK(local.read<uint32_t>("signature") == kLocalHeaderSignature, at,
                ": no local header at offset ", local_offset, "; the archive is corrupt");
    local.skip(22, "local header fields");
    const uint16_t local_name_bytes = local.read<uint16_t>("name length");
    const uint16_t local_extra_bytes = local.read<uint16_t>("extra length");
    MMGEN_CHECK(local.read_bytes(local_name_bytes, "name") == entry.name, at,
                ": the local header names a different entry; the archive is corrupt");
    local.skip(local_extra_bytes, "extra field");
    entry.data_offset = local_offset + local.offset();
    MMGEN_CHECK(entry.compressed_size <= file_size - entry.data_offset, at, ": ",
                entry.compressed_size, " bytes at offset ", entry.data_offset,
                " run past the end of the archive (", file_size, " bytes); the file is truncated");
    MMGEN_CHECK(
        entry.method != kDeflate || entry.size <= entry.compressed_size * kMaxDeflateRatio + 1024,
        at, ": claims ", entry.size, " bytes inflated from only ", entry.compressed_size,
        " compressed bytes; the archive is corrupt");

    const bool inserted = index_.emplace(entry.name, entries_.size()).second;
    MMGEN_CHECK(inserted, at, ": the name appears twice in the archive");
    entries_.push_back(std::move(entry));
  }
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

ZipBytes ZipReader::read(const ZipEntry& entry) const {
  if (entry.method == kDeflate) return inflate(entry);
  return ZipBytes{archive_, static_cast<size_t>(entry.data_offset),
                  static_cast<size_t>(entry.size)};
}

ZipBytes ZipReader::inflate(const ZipEntry& entry) const {
  const std::string at = label_ + ": zip entry '" + entry.name + "'";
  auto out = allocate_storage(static_cast<size_t>(entry.size), Device::cpu());
  z_stream stream{};
  MMGEN_CHECK(inflateInit2(&stream, -MAX_WBITS) == Z_OK, at, ": cannot start zlib inflate");
  // zlib counts in 32-bit units; large entries are fed in pieces.
  constexpr uint64_t kChunk = uint64_t{1} << 30;
  const std::byte* in = archive_->data() + entry.data_offset;
  uint64_t in_left = entry.compressed_size;
  int status = Z_OK;
  while (status == Z_OK) {
    if (stream.avail_in == 0 && in_left > 0) {
      const uint64_t n = std::min(in_left, kChunk);
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in));
      stream.avail_in = static_cast<uInt>(n);
      in += n;
      in_left -= n;
    }
    const uint64_t produced = std::min<uint64_t>(stream.total_out, entry.size);
    stream.next_out = reinterpret_cast<Bytef*>(out->data()) + produced;
    stream.avail_out = static_cast<uInt>(std::min(entry.size - produced, kChunk));
    status = ::inflate(&stream, Z_NO_FLUSH);
    // Z_BUF_ERROR: no progress possible (input ended early, or more output than claimed).
    if (status == Z_BUF_ERROR) status = Z_DATA_ERROR;
  }
  const uint64_t out_done = stream.total_out;
  const char* message = stream.msg;
  inflateEnd(&stream);
  MMGEN_CHECK(status == Z_STREAM_END, at, ": DEFLATE data is corrupt or truncated",
              message ? std::string(" (") + message + ")" : std::string());
  MMGEN_CHECK(out_done == entry.size, at, ": inflated to ", out_done, " bytes, expected ",
              entry.size);
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < entry.size;) {
    const uint64_t n = std::min(entry.size - done, kChunk);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(out->data()) + done, static_cast<uInt>(n));
    done += n;
  }
  MMGEN_CHECK(static_cast<uint32_t>(crc) == entry.crc32, at,
              ": CRC-32 mismatch after inflating; the archive is corrupt");
  return ZipBytes{out, 0, static_cast<size_t>(entry.size)};
}

}  // namespace mmgen
