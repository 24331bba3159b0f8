#include "text/tokenizer_golden.h"

#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "core/error.h"
#include "core/golden.h"
#include "text/tokenizer_loader.h"

namespace mmgen::text {

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  MMGEN_CHECK(in.good(), path.string(), ": cannot be read");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// One tokenizer per vocabulary file for the whole run.
std::shared_ptr<const Tokenizer> tokenizer_for(const GoldenContext& context,
                                               const std::filesystem::path& path) {
  static std::mutex mutex;
  static std::map<std::filesystem::path, std::shared_ptr<const Tokenizer>> cache;
  std::lock_guard lock(mutex);
  auto& entry = cache[path];
  if (!entry) {
    entry = tokenizer_from_gguf_metadata(context.open(path).metadata(), path.string());
  }
  return entry;
}

// Every string's ids as one i64 tensor: for each string its count, then its ids.
// Equal tensors mean equal ids for every string (counts keep the strings apart).
Tensor flatten(const std::vector<std::vector<int64_t>>& rows) {
  std::vector<int64_t> values;
  for (const auto& row : rows) {
    values.push_back(static_cast<int64_t>(row.size()));
    values.insert(values.end(), row.begin(), row.end());
  }
  const auto size = static_cast<int64_t>(values.size());
  return Tensor::from_vector(values, {size});
}

GoldenOutputs golden_tokenizer_vectors(const GoldenContext& context) {
  const auto tokenizer = tokenizer_for(context, context.path("vocab"));
  const auto inputs = read_vocab_test_inputs(context.path("inp"));
  const auto expected = read_vocab_test_outputs(context.expected_file("ids"));
  MMGEN_CHECK(inputs.size() == expected.size(), context.expected_file("ids").string(), ": ",
              expected.size(), " lines for ", inputs.size(), " test strings in ",
              context.path("inp").string());
  std::vector<std::vector<int64_t>> produced;
  for (const auto& text : inputs) {
    const auto ids = tokenizer->encode(text, false, false);
    produced.emplace_back(ids.begin(), ids.end());
  }
  GoldenOutputs out;
  out.values["ids"] = flatten(produced);
  out.expected["ids"] = flatten(expected);
  return out;
}

GoldenOutputs golden_tokenize(const GoldenContext& context) {
  const auto tokenizer = tokenizer_for(context, context.path("vocab"));
  const auto ids = tokenizer->encode(context.string("text"), context.boolean("add_special"),
                                     context.boolean("parse_special"));
  GoldenOutputs out;
  const std::vector<int64_t> values(ids.begin(), ids.end());
  out.values["token_ids"] = Tensor::from_vector(values, {static_cast<int64_t>(values.size())});
  return out;
}

}  // namespace

std::vector<std::string> read_vocab_test_inputs(const std::filesystem::path& path) {
  static constexpr std::string_view kSeparator = "\n__ggml_vocab_test__\n";
  const std::string data = read_file(path);
  std::vector<std::string> strings;
  size_t begin = 0;
  while (begin < data.size()) {
    const size_t end = data.find(kSeparator, begin);
    MMGEN_CHECK(end != std::string::npos, path.string(),
                ": the text after the last separator line is not followed by one");
    strings.push_back(data.substr(begin, end - begin));
    begin = end + kSeparator.size();
  }
  return strings;
}

std::vector<std::vector<int64_t>> read_vocab_test_outputs(const std::filesystem::path& path) {
  const std::string data = read_file(path);
  std::vector<std::vector<int64_t>> rows;
  std::istringstream lines(data);
  std::string line;
  size_t number = 0;
  while (std::getline(lines, line)) {
    ++number;
    std::istringstream fields(line);
    std::vector<int64_t> row;
    std::string field;
    while (fields >> field) {
      size_t used = 0;
      int64_t id = -1;
      try {
        id = std::stoll(field, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      MMGEN_CHECK(used == field.size() && id >= 0, path.string(), ":", number, ": '", field,
                  "' is not a token id");
      row.push_back(id);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void register_tokenizer_golden_kinds() {
  register_golden_kind("tokenizer_vectors", golden_tokenizer_vectors);
  register_golden_kind("tokenize", golden_tokenize);
}

}  // namespace mmgen::text
