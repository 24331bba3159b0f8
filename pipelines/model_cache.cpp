#include "pipelines/model_cache.h"

namespace mmgen::pipelines {

std::string ModelCache::key(const std::string& kind, const std::filesystem::path& path,
                            Device device, const std::string& extra) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::weakly_canonical(path, ec);
  if (ec) absolute = std::filesystem::absolute(path);
  return kind + "|" + absolute.string() + "|" + device.str() + "|" + extra;
}

size_t ModelCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

size_t ModelCache::loads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return loads_;
}

void ModelCache::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.clear();
}

}  // namespace mmgen::pipelines
