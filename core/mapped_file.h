// Read-only memory mapping of a whole file, shared by the tensors that view it.
#pragma once

#include <filesystem>
#include <memory>

#include "core/storage.h"

namespace mmgen {

// Maps the file read-only; the mapping lives while any Storage reference does.
// An empty file gives a zero-size storage. Errors name the file.
std::shared_ptr<Storage> map_file(const std::filesystem::path& path);

}  // namespace mmgen
