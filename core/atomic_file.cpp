#include "core/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/error.h"

namespace mmgen {

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path)
    : path_(std::move(path)), temp_path_(path_.string() + ".tmp-" + std::to_string(::getpid())) {
  file_ = std::fopen(temp_path_.c_str(), "wb");
  MMGEN_CHECK(file_ != nullptr, path_.string(), ": cannot create ", temp_path_.string(), ": ",
              std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_) {
    std::fclose(file_);
    std::error_code ignored;
    std::filesystem::remove(temp_path_, ignored);
  }
}

void AtomicFileWriter::write(const void* data, size_t bytes) {
  MMGEN_CHECK(file_ != nullptr, path_.string(), ": write after commit");
  if (bytes == 0) return;
  if (std::fwrite(data, 1, bytes, file_) != bytes)
    fail(path_.string(), ": write failed: ", std::strerror(errno));
  written_ += bytes;
}

void AtomicFileWriter::write_zeros(size_t bytes) {
  static const char zeros[256] = {};
  while (bytes > 0) {
    const size_t n = bytes < sizeof(zeros) ? bytes : sizeof(zeros);
    write(zeros, n);
    bytes -= n;
  }
}

void AtomicFileWriter::commit() {
  MMGEN_CHECK(file_ != nullptr, path_.string(), ": committed twice");
  const bool flushed = std::fflush(file_) == 0;
  const int flush_errno = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  std::error_code ec;
  if (!flushed || !closed) {
    std::filesystem::remove(temp_path_, ec);
    fail(path_.string(), ": write failed: ", std::strerror(flushed ? errno : flush_errno));
  }
  std::filesystem::rename(temp_path_, path_, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp_path_, ignored);
    fail(path_.string(), ": cannot rename ", temp_path_.string(), " into place: ", ec.message());
  }
}

}  // namespace mmgen
