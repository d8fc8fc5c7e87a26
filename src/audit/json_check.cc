// audit/json_check.cc — recursive-descent JSON checker (RFC 8259 grammar).
#include "audit/json_check.h"

#include <string>

namespace quipu::audit {

namespace {

constexpr int kMaxDepth = 512;

class Checker {
 public:
  explicit Checker(std::string_view s) : s_(s) {}

  Status Run() {
    SkipSpace();
    if (!Value(0)) return Error();
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
  bool Fail(const char* what) {
    what_ = what;
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

  bool Value(int depth) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    switch (Peek()) {
      case '{':
        return Object(depth);
      case '[':
        return Array(depth);
      case '"':
        return String();
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
    while (true) {
      SkipSpace();
      if (Peek() != '"') return Fail("expected a string key");
      if (!String()) return false;
      SkipSpace();
      if (Peek() != ':') return Fail("expected ':'");
      ++pos_;
      SkipSpace();
      if (!Value(depth + 1)) return false;
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
      if (!Value(depth + 1)) return false;
      SkipSpace();
      if (Peek() == ']') return ++pos_, true;
      if (Peek() != ',') return Fail("expected ',' or ']'");
      ++pos_;
    }
  }

  static bool IsHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  bool String() {
    ++pos_;  // opening quote
    while (!AtEnd()) {
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') return ++pos_, true;
      if (c < 0x20) return Fail("control character in string");
      if (c != '\\') {
        ++pos_;
        continue;
      }
      ++pos_;
      const char e = Peek();
      if (e == 'u') {
        for (int i = 1; i <= 4; ++i) {
          if (pos_ + i >= s_.size() || !IsHex(s_[pos_ + i])) return Fail("bad \\u escape");
        }
        pos_ += 5;
      } else if (std::string_view("\"\\/bfnrt").find(e) != std::string_view::npos && e != '\0') {
        ++pos_;
      } else {
        return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }

  bool Digits() {
    const size_t start = pos_;
    while (Peek() >= '0' && Peek() <= '9') ++pos_;
    return pos_ > start;
  }

  bool Number() {
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
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  const char* what_ = "";
};

}  // namespace

Status CheckJson(std::string_view text) { return Checker(text).Run(); }

}  // namespace quipu::audit
