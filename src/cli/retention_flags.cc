// cli/retention_flags.cc — parsing --max-age and --max-bytes.
#include "cli/retention_flags.h"

#include <cctype>
#include <optional>
#include <string_view>
#include <utility>

namespace quipu::cli {

namespace {

struct Unit {
  std::string_view name;
  uint64_t factor;
};

// digits, then one of `units` (or none when `bare` is allowed, factor 1);
// nullopt when malformed or when the product overflows.
std::optional<uint64_t> Parse(std::string_view text, std::initializer_list<Unit> units, bool bare) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 19) return std::nullopt;
  uint64_t count = 0;
  for (size_t i = 0; i < digits; ++i) count = count * 10 + static_cast<uint64_t>(text[i] - '0');
  const std::string_view unit = text.substr(digits);
  uint64_t factor = 0;
  if (unit.empty() && bare) factor = 1;
  for (const Unit& u : units) {
    if (unit == u.name) factor = u.factor;
  }
  if (factor == 0 || count > UINT64_MAX / factor) return std::nullopt;
  return count * factor;
}

constexpr uint64_t kSecond = 1'000'000;  // microseconds

std::optional<uint64_t> ParseAge(std::string_view text) {
  auto micros = Parse(
      text, {{"s", kSecond}, {"m", 60 * kSecond}, {"h", 3600 * kSecond}, {"d", 86400 * kSecond}},
      /*bare=*/false);
  if (!micros || *micros == 0 || *micros > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return micros;
}

std::optional<uint64_t> ParseBytes(std::string_view text) {
  constexpr uint64_t K = 1024;
  auto bytes = Parse(text,
                     {{"B", 1},
                      {"K", K},
                      {"KiB", K},
                      {"M", K * K},
                      {"MiB", K * K},
                      {"G", K * K * K},
                      {"GiB", K * K * K},
                      {"T", K * K * K * K},
                      {"TiB", K * K * K * K}},
                     /*bare=*/true);
  if (!bytes || *bytes == 0) return std::nullopt;
  return bytes;
}

CLI::Validator Check(std::optional<uint64_t> (*parse)(std::string_view), const char* what) {
  return CLI::Validator(
      [parse, what](std::string& value) -> std::string {
        return parse(value) ? std::string() : "'" + value + "' is not " + what;
      },
      "", "retention");
}

}  // namespace

RetentionPolicy RetentionFlags::Policy() const {
  RetentionPolicy policy;
  if (!max_age.empty()) {
    policy.max_age = std::chrono::microseconds(static_cast<int64_t>(*ParseAge(max_age)));
  }
  if (!max_bytes.empty()) policy.max_bytes = *ParseBytes(max_bytes);
  return policy;
}

void AddRetentionFlags(CLI::App* verb, RetentionFlags* flags, const std::string& prefix) {
  verb->add_option(prefix + "max-age", flags->max_age,
                   "drop sealed segments whose newest event is older than this: a count and a "
                   "unit, s, m, h or d (e.g. 400d)")
      ->check(Check(ParseAge, "a positive age such as 30s, 90m, 12h or 400d"));
  verb->add_option(prefix + "max-bytes", flags->max_bytes,
                   "drop the oldest sealed segments while the log is larger than this: bytes, "
                   "or a count with K, M, G or T (binary; e.g. 50G)")
      ->check(Check(ParseBytes, "a positive size such as 4096, 512M or 50G"));
}

}  // namespace quipu::cli
