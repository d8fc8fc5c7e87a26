// audit/json_check.cc — recursive-descent JSON checker (RFC 8259 grammar).
//
// The recursion is one frame per open array or object, and at most
// kMaxJsonDepth of those are allowed, so no input can exhaust the stack.
#include "audit/json_check.h"

#include <cstdint>
#include <set>
#include <string>

#include "quipu/audit_types.h"

namespace quipu::audit {

namespace {

// Bytes of a duplicate key quoted in an error.
constexpr size_t kShownKey = 60;

// Appends code point `cp` as UTF-8. Lone surrogates get the 3-byte form:
// only equality of keys depends on it.
void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Checker {
 public:
  explicit Checker(std::string_view s) : s_(s) {}

  Status Run() {
    SkipSpace();
    if (!Value(/*depth=*/0)) return Error();
    SkipSpace();
    if (pos_ != s_.size()) {
      what_ = "unexpected text after the value";
      return Error();
    }
    return Status::OK();
  }

 private:
  Status Error() const {
    return Status::InvalidArgument("invalid JSON at byte " + std::to_string(pos_) + ": " + what_);
  }
  bool Fail(std::string what) {
    what_ = std::move(what);
    return false;
  }
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }
  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }
  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return Fail("unknown literal");
    pos_ += word.size();
    return true;
  }

  // `depth`: the arrays and objects open around this value.
  bool Value(int depth) {
    const char c = Peek();
    if ((c == '{' || c == '[') && depth == kMaxJsonDepth) {
      return Fail("nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    switch (c) {
      case '{':
        return Object(depth + 1);
      case '[':
        return Array(depth + 1);
      case '"':
        return String(nullptr);
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number();
    }
  }

  bool Object(int depth) {
    ++pos_;  // '{'
    SkipSpace();
    if (Peek() == '}') return ++pos_, true;
    std::set<std::string> keys;
    while (true) {
      SkipSpace();
      if (Peek() != '"') return Fail("expected a string key");
      const size_t key_start = pos_;
      std::string key;
      if (!String(&key)) return false;
      if (!keys.insert(std::move(key)).second) {
        std::string_view source = s_.substr(key_start, pos_ - key_start);
        pos_ = key_start;
        return Fail("duplicate key " + std::string(source.substr(0, kShownKey)) +
                    (source.size() > kShownKey ? "..." : ""));
      }
      SkipSpace();
      if (Peek() != ':') return Fail("expected ':'");
      ++pos_;
      SkipSpace();
      if (!Value(depth)) return false;
      SkipSpace();
      if (Peek() == '}') return ++pos_, true;
      if (Peek() != ',') return Fail("expected ',' or '}'");
      ++pos_;
    }
  }

  bool Array(int depth) {
    ++pos_;  // '['
    SkipSpace();
    if (Peek() == ']') return ++pos_, true;
    while (true) {
      SkipSpace();
      if (!Value(depth)) return false;
      SkipSpace();
      if (Peek() == ']') return ++pos_, true;
      if (Peek() != ',') return Fail("expected ',' or ']'");
      ++pos_;
    }
  }

  static bool IsHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  // A string; its unescaped value goes to `*value` unless that is null.
  bool String(std::string* value) {
    ++pos_;  // opening quote
    while (!AtEnd()) {
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') return ++pos_, true;
      if (c < 0x20) return Fail("control character in string");
      if (c != '\\') {
        if (value != nullptr) value->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      const char e = Peek();
      if (e == 'u') {
        uint32_t unit = 0;
        if (!Hex4(pos_, &unit)) return Fail("bad \\u escape");
        pos_ += 5;
        if (value != nullptr) AppendEscaped(unit, value);
      } else if (e != '\0' && std::string_view("\"\\/bfnrt").find(e) != std::string_view::npos) {
        if (value != nullptr) value->push_back(Unescape(e));
        ++pos_;
      } else {
        return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }

  // The value of the 4 hex digits after the 'u' at `at`, if they are there.
  bool Hex4(size_t at, uint32_t* unit) const {
    *unit = 0;
    for (size_t i = at + 1; i <= at + 4; ++i) {
      if (i >= s_.size() || !IsHex(s_[i])) return false;
      const char h = s_[i];
      *unit = *unit * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    return true;
  }

  // Appends an escaped UTF-16 unit (pos_ past its escape). A high surrogate
  // joins a low one escaped right after it, so "\ud83d\ude00" and the raw
  // UTF-8 of U+1F600 are the same key.
  void AppendEscaped(uint32_t unit, std::string* value) {
    uint32_t low = 0;
    if (unit >= 0xD800 && unit <= 0xDBFF && s_.substr(pos_, 2) == "\\u" && Hex4(pos_ + 1, &low) &&
        low >= 0xDC00 && low <= 0xDFFF) {
      pos_ += 6;
      AppendUtf8(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), value);
      return;
    }
    AppendUtf8(unit, value);
  }

  static char Unescape(char e) {
    switch (e) {
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      default:
        return e;  // '"', '\\', '/'
    }
  }

  bool Digits() {
    const size_t start = pos_;
    while (Peek() >= '0' && Peek() <= '9') ++pos_;
    return pos_ > start;
  }

  // The grammar is checked here for the byte position of an error;
  // ParseNumber then applies the store's rule for every number.
  bool Number() {
    const size_t start = pos_;
    if (Peek() == '-') ++pos_;
    if (Peek() == '0') {
      ++pos_;
    } else if (!Digits()) {
      return Fail("expected a value");
    }
    if (Peek() == '.') {
      ++pos_;
      if (!Digits()) return Fail("expected digits after '.'");
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!Digits()) return Fail("expected exponent digits");
    }
    Result<double> number = ParseNumber(s_.substr(start, pos_ - start));
    if (!number.ok()) {
      pos_ = start;
      return Fail(number.status().message());
    }
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string what_;
};

}  // namespace

Status CheckJson(std::string_view text) { return Checker(text).Run(); }

}  // namespace quipu::audit
