// Read-only access to the entries of a zip archive held in memory (a mapped
// PyTorch checkpoint). Handles zip64 (archives over 4 GB), STORED entries as
// zero-copy views and DEFLATE entries as inflated copies. Every offset and size
// read from the archive is bounds-checked; errors name the archive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/storage.h"

namespace mmgen {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 STORED, 8 DEFLATE
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;         // uncompressed
  uint64_t data_offset = 0;  // absolute offset of the entry's (compressed) bytes
};

// An entry's bytes: [offset, offset + size) of `storage`.
struct ZipBytes {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;
  size_t size = 0;
  const std::byte* data() const { return storage->data() + offset; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data()), size}; }
};

// True when the bytes start like a zip archive ("PK\3\4").
bool looks_like_zip(const std::byte* data, size_t size);

class ZipReader {
 public:
  // Parses the end records, the central directory and every local header.
  // `label` (normally the file path) starts every error message.
  ZipReader(std::shared_ptr<Storage> archive, std::string label);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const ZipEntry* find(std::string_view name) const;
  // A view into the archive for STORED entries; an inflated, CRC-checked copy for
  // DEFLATE entries.
  ZipBytes read(const ZipEntry& entry) const;
  const std::string& label() const { return label_; }

 private:
  struct Directory {
    uint64_t count = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
  };
  Directory find_directory() const;
  void parse_directory(const Directory& dir);
  ZipBytes inflate(const ZipEntry& entry) const;

  std::shared_ptr<Storage> archive_;
  std::string label_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace mmgen
