// Helpers of the privacy/ tests: recognisable key material, files, slots.
#ifndef QUIPU_TESTS_PRIVACY_PRIVACY_TEST_UTIL_H_
#define QUIPU_TESTS_PRIVACY_PRIVACY_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "io/fault_env.h"
#include "privacy/master_keys.h"
#include "privacy/subject_keys.h"
#include "quipu/keys.h"
#include "step_env.h"
#include "test_dir.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu::testing {

using privacy::Impl;
using privacy::KeyUsage;
using privacy::SubjectKeys;
using State = SubjectKeys::State;
using Code = Status::Code;

// Recognisable key material: no error message may contain a piece of it.
inline const std::string kHexA = "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc";
inline const std::string kHexB = "b0b0b0b0a1a2a3a4a5a6a7a8a9aaabacadaeaf0123456789abcdeffedcba9876";
// privacy/subject_keys.h: slot size and offsets.
constexpr size_t kSlot = 256;
constexpr size_t kDataStart = 2 * kSlot;
constexpr size_t kCrcAt = 252;
constexpr size_t kValueWrappedAt = 92, kTokenNonceAt = 140, kTokenWrappedAt = 152;

inline std::string Line(uint32_t version, const std::string& hex) {
  return "quipu-master-key " + std::to_string(version) + " " + hex + "\n";
}

inline std::shared_ptr<const MasterKeys> Keys(std::string_view text) {
  auto keys = MasterKeys::Parse(text);
  EXPECT_TRUE(keys.ok()) << keys.status().ToString();
  return keys.ok() ? *keys : nullptr;
}

// The derived key's bytes, or "<error>".
inline std::string Derived(const MasterKeys& keys, uint32_t version, std::string_view label) {
  auto key = Impl(keys).Derived(version, label);
  return key.ok() ? std::string((*key)->view()) : "<error>";
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

inline void WritePrivate(const std::string& path, const std::string& text) {
  WriteFile(path, text);
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

inline uint64_t SessionOf(std::string_view nonce) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(nonce[i]);
  return v;
}

// ---------------------------------------------------------------------------
// Master key files

}  // namespace quipu::testing

#endif  // QUIPU_TESTS_PRIVACY_PRIVACY_TEST_UTIL_H_
