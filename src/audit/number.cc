// audit/number.cc — the one reading of numbers in the audit store.
//
// A number that changes on its way in is data loss nobody sees: an order id
// 9007199254740993 stored as ...992, or 1e400 stored as infinity. So the
// rule is exact where the text promises exactness (integers) and refuses
// what binary64 cannot hold at all (out of range).
#include <charconv>
#include <cmath>
#include <string>

#include "quipu/audit_types.h"

namespace quipu {

namespace {

// 2^53: every integer of smaller magnitude is a binary64.
constexpr double kExactIntegers = 9007199254740992.0;
constexpr size_t kShownBytes = 40;

// `text` for an error message: quoted, shortened, control bytes as '?'.
std::string Shown(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, kShownBytes)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  out += "'";
  if (text.size() > kShownBytes) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

// True if `text` is exactly one number of JSON's grammar; `*integer` says
// whether it had neither a fraction nor an exponent.
bool IsJsonNumber(std::string_view text, bool* integer) {
  size_t i = 0;
  auto at = [&](char c) { return i < text.size() && text[i] == c; };
  auto digits = [&] {
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i > start;
  };
  if (at('-')) ++i;
  if (at('0')) {
    ++i;
  } else if (!digits()) {
    return false;
  }
  *integer = true;
  if (at('.')) {
    ++i;
    if (!digits()) return false;
    *integer = false;
  }
  if (at('e') || at('E')) {
    ++i;
    if (at('+') || at('-')) ++i;
    if (!digits()) return false;
    *integer = false;
  }
  return i == text.size();
}

// True if the integer literal `text` is exactly `d`.
bool IsExactly(std::string_view text, double d) {
  if (std::fabs(d) < kExactIntegers) return true;
  // With a precision, to_chars prints the exact decimal value of `d`.
  char buf[400];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed, 0);
  return ec == std::errc() && std::string_view(buf, end - buf) == text;
}

}  // namespace

Result<double> ParseNumber(std::string_view text) {
  bool integer = false;
  if (!IsJsonNumber(text, &integer)) {
    return Status::InvalidArgument(Shown(text) + " is not a number (JSON number syntax)");
  }
  double d = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (ec == std::errc::result_out_of_range) {
    return Status::InvalidArgument("number " + Shown(text) +
                                   " is out of the range of a binary64 number");
  }
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(d)) {
    return Status::InvalidArgument(Shown(text) + " is not a number");
  }
  if (integer && !IsExactly(text, d)) {
    return Status::InvalidArgument("integer " + Shown(text) +
                                   " is not exactly a binary64 number (integers beyond 2^53 "
                                   "may not be); write it as a string");
  }
  return d;
}

}  // namespace quipu
