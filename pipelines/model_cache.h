// Loaded models shared by the nodes of a run and by later runs: each model is
// loaded once per (kind, file, device, options) key and kept until clear().
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/device.h"

namespace mmgen::pipelines {

class ModelCache {
 public:
  // The key of a model: its kind ("sd", "llm", "tts", ...), the absolute file
  // path, the device and any extra text that changes what is loaded (configs).
  static std::string key(const std::string& kind, const std::filesystem::path& path, Device device,
                         const std::string& extra = "");

  // The cached object for `key`, or the result of `load()` stored under it.
  // Loading holds the cache's lock, so two nodes never load the same file twice.
  template <typename T>
  std::shared_ptr<const T> get(const std::string& key,
                               const std::function<std::shared_ptr<const T>()>& load) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) return std::static_pointer_cast<const T>(it->second);
    std::shared_ptr<const T> model = load();
    ++loads_;
    entries_.emplace(key, model);
    return model;
  }

  size_t size() const;
  // How many times a loader ran (for tests and the run summary).
  size_t loads() const;
  void clear();

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const void>> entries_;
  size_t loads_ = 0;
};

}  // namespace mmgen::pipelines
