// SHA-256 against the FIPS 180-4 / NIST test vectors.
#include "core/sha256.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "tests/support/test_support.h"

namespace mmgen {

TEST_CASE("SHA-256 of the empty string and abc", "[sha256]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("SHA-256 of the two-block NIST message and of a million a", "[sha256]") {
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // Fed in uneven pieces so the buffering between updates is exercised.
  Sha256 hash;
  const std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left > 0) {
    const size_t n = std::min(left, chunk.size());
    hash.update(chunk.data(), n);
    left -= n;
  }
  CHECK(to_hex(hash.finish()) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 of a file equals the hash of its bytes", "[sha256]") {
  const auto dir = test::temp_dir("sha256");
  const auto path = dir / "data.bin";
  std::string bytes;
  for (int i = 0; i < 3000000; ++i) bytes += static_cast<char>((i * 7) & 255);
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  CHECK(sha256_file_hex(path) == sha256_hex(bytes));
  CHECK_THROWS_WITH(sha256_file_hex(dir / "missing.bin"), Catch::Contains("missing.bin"));
}

}  // namespace mmgen
