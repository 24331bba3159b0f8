#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace mmgen {

std::shared_ptr<Storage> map_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  MMGEN_CHECK(fd >= 0, path.string(), ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path.string(), ": not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    static std::byte empty[1];
    return std::make_shared<Storage>(empty, 0, Device::cpu(), nullptr);
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  MMGEN_CHECK(p != MAP_FAILED, path.string(), ": cannot map: ", std::strerror(map_errno));
  return std::make_shared<Storage>(static_cast<std::byte*>(p), size, Device::cpu(),
                                   [p, size] { ::munmap(p, size); });
}

}  // namespace mmgen
