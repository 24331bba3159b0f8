// Writing a file so that readers see either nothing new or the complete file.
#pragma once

#include <cstddef>
#include <cstdio>
#include <filesystem>

namespace mmgen {

// Writes to "<path>.tmp-<pid>" and renames it over `path` on commit(); without a
// commit (an exception on the way) the temporary file is removed.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t bytes);
  void write_zeros(size_t bytes);
  size_t written() const { return written_; }
  // Flushes, closes and renames into place; throws Error naming the file on failure.
  void commit();

 private:
  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  std::FILE* file_ = nullptr;
  size_t written_ = 0;
};

}  // namespace mmgen
