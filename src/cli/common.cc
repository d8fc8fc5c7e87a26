#include "cli/common.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

#include "quipu/env.h"
#include "util/quote.h"

namespace quipu::cli {

namespace {

VerbOutcome& MutableOutcome() {
  static VerbOutcome outcome;
  return outcome;
}

// Length of the UTF-8 sequence starting at `lead`, or 0 if no sequence can
// start with it (continuation bytes, overlong C0/C1, leads past U+10FFFF).
size_t SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// The allowed range of the byte after `lead`; it is narrower than 80..BF
// exactly where the shortest form, the surrogates or U+10FFFF would be crossed.
bool SecondByteOk(unsigned char lead, unsigned char second) {
  switch (lead) {
    case 0xE0:
      return second >= 0xA0 && second <= 0xBF;
    case 0xED:
      return second >= 0x80 && second <= 0x9F;
    case 0xF0:
      return second >= 0x90 && second <= 0xBF;
    case 0xF4:
      return second >= 0x80 && second <= 0x8F;
    default:
      return second >= 0x80 && second <= 0xBF;
  }
}

// The code point of the valid UTF-8 sequence of `len` bytes at `p`.
uint32_t DecodeUtf8(const unsigned char* p, size_t len) {
  static constexpr unsigned char kLeadBits[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  uint32_t cp = p[0] & kLeadBits[len];
  for (size_t i = 1; i < len; i++) cp = (cp << 6) | (p[i] & 0x3F);
  return cp;
}

// Length of the valid UTF-8 sequence at the start of [p, end), or 0.
size_t ValidSequence(const unsigned char* p, const unsigned char* end) {
  size_t len = SequenceLength(*p);
  if (len == 0 || static_cast<size_t>(end - p) < len) return 0;
  if (len > 1 && !SecondByteOk(p[0], p[1])) return 0;
  for (size_t i = 2; i < len; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
  }
  return len;
}

void AppendHexEscape(const char* prefix, uint32_t value, int digits, std::string* out) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s%0*x", prefix, digits, value);
  out->append(buf);
}

// The escape of ASCII control character `c` in `style`.
void AppendControl(unsigned char c, EscapeStyle style, std::string* out) {
  if (style == EscapeStyle::kJson) return AppendHexEscape("\\u", c, 4, out);
  switch (c) {
    case '\n':
      out->append("\\n");
      return;
    case '\t':
      out->append("\\t");
      return;
    case '\r':
      out->append("\\r");
      return;
    default:
      AppendHexEscape("\\x", c, 2, out);
  }
}

}  // namespace

const VerbOutcome& LastOutcome() { return MutableOutcome(); }

void SetAction(CLI::App* verb, std::function<Status()> action) {
  verb->callback([verb, action = std::move(action)] {
    VerbOutcome& outcome = MutableOutcome();
    // A nested verb is named with its parents: "token create".
    outcome.verb = verb->get_name();
    for (const CLI::App* p = verb->get_parent(); p != nullptr && p->get_parent() != nullptr;
         p = p->get_parent()) {
      outcome.verb = p->get_name() + " " + outcome.verb;
    }
    outcome.status = action();
  });
}

void AddDurabilityFlag(CLI::App* verb, std::string* spec) {
  *spec = "always";
  CLI::Validator parses(
      [](std::string& value) -> std::string {
        Result<DurabilityPolicy> policy = DurabilityPolicy::Parse(value);
        return policy.ok() ? std::string() : policy.status().ToString();
      },
      "POLICY");
  verb->add_option("--durability", *spec,
                   "when appends reach stable storage: always | every:N | every:N,MS | "
                   "group[:MS] | os")
      ->check(parses)
      ->capture_default_str();
}

CLI::Validator Unsigned(uint64_t min, uint64_t max) {
  const std::string bounds = "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
  const bool bounded = min > 0 || max < std::numeric_limits<uint64_t>::max();
  return CLI::Validator(
      [min, max, bounds](std::string& text) -> std::string {
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
          return QuoteInput(text) + " is not an unsigned decimal number";
        }
        uint64_t value = 0;
        // All digits, so from_chars can only fail by overflow.
        std::errc ec = std::from_chars(text.data(), text.data() + text.size(), value).ec;
        if (ec != std::errc() || value < min || value > max) {
          return QuoteInput(text) + " is out of range " + bounds;
        }
        return std::string();
      },
      bounded ? "UINT in " + bounds : "");
}

Status CreateDirectories(const std::string& path) {
  Env* env = Env::Default();
  // Parents first: every prefix that ends just before a '/', then the whole.
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    std::string prefix = path.substr(0, slash);
    if (!prefix.empty() && prefix.back() != '/') QUIPU_RETURN_IF_ERROR(env->CreateDir(prefix));
    if (slash == std::string::npos) return Status::OK();
  }
}

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    size_t len = ValidSequence(p, end);
    if (len == 0) return false;
    p += len;
  }
  return true;
}

std::string EscapeControls(std::string_view text, EscapeStyle style) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  std::string out;
  out.reserve(text.size());
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7F) {
        AppendControl(c, style, &out);
      } else {
        if (c == '\\' && style == EscapeStyle::kPlain) out.push_back('\\');
        out.push_back(static_cast<char>(c));
      }
      p++;
      continue;
    }
    size_t len = ValidSequence(p, end);
    if (len == 0) {
      AppendHexEscape("\\x", c, 2, &out);  // not UTF-8: show the byte
      p++;
      continue;
    }
    uint32_t cp = DecodeUtf8(p, len);
    if (cp <= 0x9F) {
      AppendHexEscape("\\u", cp, 4, &out);  // C1 control
    } else {
      out.append(reinterpret_cast<const char*>(p), len);
    }
    p += len;
  }
  return out;
}

std::string FormatTable(const std::vector<std::vector<std::string>>& raw, bool text_last,
                        size_t json_column) {
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> width;
  for (const auto& raw_row : raw) {
    std::vector<std::string>& row = rows.emplace_back();
    for (size_t i = 0; i < raw_row.size(); i++) {
      row.push_back(
          EscapeControls(raw_row[i], i == json_column ? EscapeStyle::kJson : EscapeStyle::kPlain));
    }
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); i++) width[i] = std::max(width[i], row[i].size());
  }
  std::string text;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); i++) {
      bool left = i == 0 || (text_last && i + 1 == width.size());
      std::string pad(width[i] - row[i].size(), ' ');
      if (i > 0) line += "  ";
      line += left ? row[i] + pad : pad + row[i];
    }
    // Trailing padding would only show up as noise in diffs and terminals.
    line.erase(line.find_last_not_of(' ') + 1);
    text += line + "\n";
  }
  return text;
}

FdWriter::FdWriter(int fd, size_t flush_at) : fd_(fd), flush_at_(flush_at) {
  pending_.reserve(flush_at_ + 4096);
}

Status FdWriter::Write(std::string_view text) {
  pending_.append(text);
  return MaybeFlush();
}

Status FdWriter::WriteNumberLine(std::string_view word, uint64_t number) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), number);
  (void)ec;  // 24 chars always hold a uint64_t
  pending_.append(word);
  pending_.push_back(' ');
  pending_.append(digits, end);
  pending_.push_back('\n');
  return MaybeFlush();
}

Status FdWriter::MaybeFlush() { return pending_.size() >= flush_at_ ? Flush() : error_; }

Status FdWriter::Flush() {
  if (!error_.ok()) return error_;
  size_t done = 0;
  while (done < pending_.size()) {
    ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      error_ =
          Status::IOError("write to fd " + std::to_string(fd_) + ": " + std::strerror(err), err);
      break;
    }
    done += static_cast<size_t>(n);
  }
  pending_.clear();
  return error_;
}

Status PrintStdout(const std::string& text) {
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(text));
  return out.Flush();
}

}  // namespace quipu::cli
