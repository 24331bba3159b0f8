// The safetensors format: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the
// tensor bytes. Reading goes through ModelFile::open / open_safetensors (model_file.h).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace mmgen {

// The format's dtype names ("F32", "BF16", "F8_E4M3", ...) and back.
std::string_view safetensors_dtype_name(DType dtype);  // throws for quantised types
std::optional<DType> dtype_from_safetensors_name(std::string_view name);

// Writes the tensors (any device, any layout; stored contiguous, in the given order) and
// the metadata to `path` atomically: a temporary file beside it is renamed into place.
// The header is padded with spaces so that the data starts at a multiple of 8 bytes.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace mmgen
