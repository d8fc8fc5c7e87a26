// Helpers of the crypto/ tests: test vectors are written in hex.
#ifndef QUIPU_TESTS_CRYPTO_CRYPTO_TEST_UTIL_H_
#define QUIPU_TESTS_CRYPTO_CRYPTO_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "util/hex.h"

namespace quipu::crypto {

// The bytes of a hex test vector (fails the test on a typo).
inline std::string Unhex(std::string_view hex) {
  std::string out;
  EXPECT_TRUE(HexDecode(hex, &out)) << hex;
  return out;
}

}  // namespace quipu::crypto

#endif  // QUIPU_TESTS_CRYPTO_CRYPTO_TEST_UTIL_H_
