#include "util/quote.h"

namespace quipu {

namespace {

bool IsContinuationByte(unsigned char c) { return (c & 0xC0) == 0x80; }

void AppendEscaped(unsigned char c, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  if (c == '\'' || c == '\\') {
    out->push_back('\\');
    out->push_back(static_cast<char>(c));
  } else if (c < 0x20 || c == 0x7F) {
    out->append("\\x");
    out->push_back(kDigits[c >> 4]);
    out->push_back(kDigits[c & 0xF]);
  } else {
    // Bytes from 0x80 up pass through: names and ids may be UTF-8.
    out->push_back(static_cast<char>(c));
  }
}

}  // namespace

std::string QuoteInput(std::string_view input, size_t max_bytes) {
  size_t shown = input.size();
  if (shown > max_bytes) {
    shown = max_bytes;
    // Back up to a character boundary so the cut never leaves half a
    // character for the terminal to render as garbage. A UTF-8 sequence has
    // at most 3 continuation bytes; more is not UTF-8, and is cut anywhere.
    for (int k = 0; k < 3 && IsContinuationByte(static_cast<unsigned char>(input[shown])); k++) {
      shown--;
    }
  }
  std::string out = "'";
  for (size_t i = 0; i < shown; i++) AppendEscaped(static_cast<unsigned char>(input[i]), &out);
  out.push_back('\'');
  if (shown < input.size()) out += "\u2026(" + std::to_string(input.size()) + " bytes)";
  return out;
}

}  // namespace quipu
