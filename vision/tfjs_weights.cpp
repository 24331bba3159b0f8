#include "vision/tfjs_weights.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/half.h"

namespace mmgen::vision {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string shape_text(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// How one manifest entry is stored in the shard bytes.
struct Entry {
  std::string name;
  Shape shape;
  std::string dtype;        // float32 or int32: the tensor's dtype after dequantisation
  std::string stored = "";  // "" (plain), uint8, uint16 or float16
  double scale = 1.0, min = 0.0;

  size_t bytes_per_element() const {
    if (stored == "uint8") return 1;
    if (stored == "uint16" || stored == "float16") return 2;
    return 4;
  }
};

Entry parse_entry(const json& w, const std::string& where) {
  MMGEN_CHECK(w.is_object(), where, ": expected an object with name, shape and dtype");
  Entry e;
  MMGEN_CHECK(w.contains("name") && w["name"].is_string(), where, ": missing string \"name\"");
  e.name = w["name"].get<std::string>();
  const std::string at = where + " (" + e.name + ")";
  MMGEN_CHECK(w.contains("shape") && w["shape"].is_array(), at, ": missing array \"shape\"");
  for (const json& d : w["shape"]) {
    MMGEN_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, at,
                ": \"shape\" must hold non-negative integers");
    e.shape.push_back(d.get<int64_t>());
  }
  MMGEN_CHECK(w.contains("dtype") && w["dtype"].is_string(), at, ": missing string \"dtype\"");
  e.dtype = w["dtype"].get<std::string>();
  MMGEN_CHECK(e.dtype == "float32" || e.dtype == "int32", at, ": dtype \"", e.dtype,
              "\" is not supported (expected float32 or int32)");
  if (w.contains("quantization")) {
    const json& q = w["quantization"];
    MMGEN_CHECK(q.is_object() && q.contains("dtype") && q["dtype"].is_string(), at,
                ": \"quantization\" must be an object with a \"dtype\"");
    e.stored = q["dtype"].get<std::string>();
    MMGEN_CHECK(e.stored == "uint8" || e.stored == "uint16" || e.stored == "float16", at,
                ": quantization dtype \"", e.stored,
                "\" is not supported (uint8, uint16, float16)");
    if (e.stored != "float16") {
      MMGEN_CHECK(q.contains("scale") && q["scale"].is_number() && q.contains("min") &&
                      q["min"].is_number(),
                  at, ": ", e.stored, " quantization needs numeric \"scale\" and \"min\"");
      e.scale = q["scale"].get<double>();
      e.min = q["min"].get<double>();
    }
  }
  return e;
}

Tensor decode_entry(const Entry& e, const uint8_t* bytes) {
  const int64_t n = shape_numel(e.shape);
  if (e.dtype == "int32" && e.stored.empty()) {
    std::vector<int32_t> values(static_cast<size_t>(n));
    std::memcpy(values.data(), bytes, values.size() * 4);
    return Tensor::from_vector(values, e.shape);
  }
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (e.stored == "uint8") {
      values[i] = static_cast<float>(bytes[i] * e.scale + e.min);
    } else if (e.stored == "uint16") {
      uint16_t q;
      std::memcpy(&q, bytes + 2 * i, 2);
      values[i] = static_cast<float>(q * e.scale + e.min);
    } else if (e.stored == "float16") {
      uint16_t h;
      std::memcpy(&h, bytes + 2 * i, 2);
      values[i] = f16_to_f32(h);
    } else {
      std::memcpy(&values[i], bytes + 4 * i, 4);
    }
  }
  return Tensor::from_vector(values, e.shape);
}

std::vector<uint8_t> read_file(const fs::path& path, const std::string& manifest) {
  std::ifstream in(path, std::ios::binary);
  MMGEN_CHECK(in.good(), manifest, ": cannot open weight shard ", path.string());
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TfjsWeights::TfjsWeights(std::map<std::string, Tensor> tensors, std::string source)
    : tensors_(std::move(tensors)), source_(std::move(source)) {}

const Tensor& TfjsWeights::get(const std::string& name, const Shape& shape) const {
  const auto it = tensors_.find(name);
  MMGEN_CHECK(it != tensors_.end(), source_, ": missing weight \"", name, "\"");
  MMGEN_CHECK(shape.empty() || it->second.shape() == shape, source_, ": weight \"", name,
              "\" has shape ", shape_text(it->second.shape()), ", expected ", shape_text(shape));
  return it->second;
}

TfjsWeights parse_tfjs_weights(const json& manifest, const ShardReader& shards,
                               const std::string& source) {
  // model.json wraps the groups in "weightsManifest"; *-weights_manifest.json is the array.
  const json* groups = &manifest;
  if (manifest.is_object()) {
    MMGEN_CHECK(manifest.contains("weightsManifest"), source,
                ": expected a \"weightsManifest\" array (or a manifest that is an array)");
    groups = &manifest["weightsManifest"];
  }
  MMGEN_CHECK(groups->is_array() && !groups->empty(), source,
              ": the weights manifest must be a non-empty array of groups");
  std::map<std::string, Tensor> tensors;
  for (size_t g = 0; g < groups->size(); ++g) {
    const json& group = (*groups)[g];
    const std::string where = source + ": weightsManifest[" + std::to_string(g) + "]";
    MMGEN_CHECK(group.is_object() && group.contains("paths") && group["paths"].is_array() &&
                    group.contains("weights") && group["weights"].is_array(),
                where, ": expected an object with \"paths\" and \"weights\" arrays");
    // The shards of a group are one buffer cut into files.
    std::vector<uint8_t> buffer;
    for (const json& p : group["paths"]) {
      MMGEN_CHECK(p.is_string(), where, ": \"paths\" must hold strings");
      const std::vector<uint8_t> bytes = shards(p.get<std::string>());
      buffer.insert(buffer.end(), bytes.begin(), bytes.end());
    }
    size_t offset = 0;
    const json& weights = group["weights"];
    for (size_t i = 0; i < weights.size(); ++i) {
      const Entry e = parse_entry(weights[i], where + ".weights[" + std::to_string(i) + "]");
      const size_t size = static_cast<size_t>(shape_numel(e.shape)) * e.bytes_per_element();
      MMGEN_CHECK(offset + size <= buffer.size(), where, ": weight \"", e.name, "\" needs bytes ",
                  offset, "..", offset + size, " but the shards hold only ", buffer.size());
      MMGEN_CHECK(tensors.count(e.name) == 0, where, ": weight \"", e.name, "\" appears twice");
      tensors.emplace(e.name, decode_entry(e, buffer.data() + offset));
      offset += size;
    }
    MMGEN_CHECK(offset == buffer.size(), where, ": the shards hold ", buffer.size(),
                " bytes but the weights use ", offset);
  }
  return TfjsWeights(std::move(tensors), source);
}

TfjsWeights read_tfjs_weights(const fs::path& manifest_path) {
  const std::string source = manifest_path.string();
  std::ifstream in(manifest_path);
  MMGEN_CHECK(in.good(), source, ": cannot open the TF.js weights manifest");
  json manifest;
  try {
    manifest = json::parse(in);
  } catch (const json::exception& e) {
    fail(source, ": invalid JSON: ", e.what());
  }
  const fs::path dir = manifest_path.parent_path();
  return parse_tfjs_weights(
      manifest, [&](const std::string& path) { return read_file(dir / path, source); }, source);
}

}  // namespace mmgen::vision
