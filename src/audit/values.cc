// audit/values.cc — names and printing of the public audit value types.
#include <charconv>
#include <cmath>

#include "quipu/audit_types.h"
#include "util/quote.h"

namespace quipu {

std::string_view FieldKindName(FieldKind kind) {
  switch (kind) {
    case FieldKind::kText:
      return "text";
    case FieldKind::kNumber:
      return "number";
    case FieldKind::kJson:
      return "json";
    case FieldKind::kSealed:
      return "sealed";
  }
  return "unknown";
}

Result<FieldKind> ParseFieldKind(std::string_view name) {
  if (name == "text") return FieldKind::kText;
  if (name == "number") return FieldKind::kNumber;
  if (name == "json") return FieldKind::kJson;
  return Status::InvalidArgument("unknown field kind " + QuoteInput(name) +
                                 " (expected text, number or json)");
}

std::string Value::ToString() const {
  if (kind != FieldKind::kNumber) return text;
  char buf[64];
  // Shortest round-trip form, so the CLI prints what the caller gave.
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, number);
  if (ec != std::errc()) return "nan";
  return std::string(buf, end);
}

bool Value::operator==(const Value& other) const {
  if (kind != other.kind || hidden != other.hidden) return false;
  return kind == FieldKind::kNumber ? number == other.number : text == other.text;
}

std::string_view ProtectionName(Protection p) {
  switch (p) {
    case Protection::kPlain:
      return "plain";
    case Protection::kHashed:
      return "hashed";
    case Protection::kEncrypted:
      return "encrypted";
    case Protection::kEncryptedIndexed:
      return "encrypted+indexed";
  }
  return "unknown";
}

Result<Protection> ParseProtection(std::string_view name) {
  if (name == "plain") return Protection::kPlain;
  if (name == "hashed") return Protection::kHashed;
  if (name == "encrypted") return Protection::kEncrypted;
  if (name == "encrypted+indexed") return Protection::kEncryptedIndexed;
  return Status::InvalidArgument("unknown protection " + QuoteInput(name) +
                                 " (expected plain, hashed, encrypted or encrypted+indexed)");
}

std::string_view MatchOpName(MatchOp op) {
  switch (op) {
    case MatchOp::kExact:
      return "exact";
    case MatchOp::kContains:
      return "contains";
    case MatchOp::kPrefix:
      return "prefix";
    case MatchOp::kExactCi:
      return "exact_ci";
  }
  return "unknown";
}

Result<MatchOp> ParseMatchOp(std::string_view name) {
  if (name == "exact") return MatchOp::kExact;
  if (name == "contains") return MatchOp::kContains;
  if (name == "prefix") return MatchOp::kPrefix;
  if (name == "exact_ci") return MatchOp::kExactCi;
  return Status::InvalidArgument("unknown match operator " + QuoteInput(name) +
                                 " (expected exact, contains, prefix or exact_ci)");
}

}  // namespace quipu
