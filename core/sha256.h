// SHA-256 (FIPS 180-4): the checkpoint hash recorded in image metadata.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace mmgen {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t bytes);
  // The 32-byte digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> finish();

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lower-case hex of a digest.
std::string to_hex(const std::array<uint8_t, 32>& digest);
// Hex digest of a string.
std::string sha256_hex(std::string_view data);
// Hex digest of a file's bytes; throws Error naming the file when it cannot be read.
std::string sha256_file_hex(const std::filesystem::path& path);

}  // namespace mmgen
