// audit/protect.cc — sealing, showing and matching protected values.
#include "audit/protect.h"

#include <openssl/crypto.h>

#include <bit>
#include <cstring>

#include "audit/index_keys.h"
#include "crypto/aead.h"
#include "crypto/mac.h"
#include "privacy/master_keys.h"
#include "util/coding.h"

namespace quipu::audit {

namespace {

constexpr uint8_t kSealedFormat = 2;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const uint8_t b = static_cast<uint8_t>((*in)[0]);
    in->remove_prefix(1);
    result |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool GetBytes(std::string_view* in, size_t n, std::string_view* out) {
  if (in->size() < n) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

bool Encrypts(Protection p) {
  return p == Protection::kEncrypted || p == Protection::kEncryptedIndexed;
}

std::string ScopeBytes(Scope scope) {
  std::string out(1, scope.where);
  char buf[8];
  EncodeFixed32(buf, scope.type);
  EncodeFixed32(buf + 4, scope.ordinal);
  out.append(buf, 8);
  return out;
}

// `purpose` 'v' for the value body, 't' for the token body.
std::string Aad(char purpose, Scope scope, FieldKind kind, std::string_view key_id) {
  std::string aad = "quipu value v1";
  aad.push_back(purpose);
  aad += ScopeBytes(scope);
  aad.push_back(static_cast<char>(kind));
  aad.append(key_id);
  return aad;
}

// The bytes a value's plaintext is sealed as.
std::string PlainBytes(const Value& v) {
  if (v.kind != FieldKind::kNumber) return v.text;
  std::string out(8, '\0');
  EncodeFixed64(out.data(), std::bit_cast<uint64_t>(v.number));
  return out;
}

Value FromPlainBytes(FieldKind kind, std::string bytes) {
  if (kind != FieldKind::kNumber) return Value{kind, std::move(bytes), 0};
  return Value::Number(std::bit_cast<double>(DecodeFixed64(bytes.data())));
}

Value HiddenValue(FieldKind kind, Hidden why) {
  Value v;
  v.kind = kind;
  v.hidden = why;
  return v;
}

void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

}  // namespace

Status DecodeSealed(std::string_view text, SealedParts* out) {
  auto bad = [] { return Status::Corruption("a protected value does not decode"); };
  std::string_view in = text;
  std::string_view head;
  if (!GetBytes(&in, 3, &head) || static_cast<uint8_t>(head[0]) != kSealedFormat) return bad();
  const uint8_t protection = static_cast<uint8_t>(head[1]);
  const uint8_t kind = static_cast<uint8_t>(head[2]);
  if (protection < 1 || protection > 3 || kind < 1 || kind > 3) return bad();
  out->protection = static_cast<Protection>(protection);
  out->kind = static_cast<FieldKind>(kind);
  uint64_t version = 0, n = 0, m = 0;
  if (!GetBytes(&in, privacy::kKeyIdSize, &out->key_id) || !GetVarint(&in, &version) ||
      version == 0 || version > UINT32_MAX || !GetBytes(&in, crypto::kAeadNonceSize, &out->nonce) ||
      !GetVarint(&in, &n) || !GetBytes(&in, n, &out->value_body) || !GetVarint(&in, &m) ||
      !GetBytes(&in, m, &out->token_body) || !in.empty()) {
    return bad();
  }
  // Each body is there exactly when its protection keeps it.
  const bool values = Encrypts(out->protection);
  const bool tokens = out->protection != Protection::kEncrypted;
  if ((n >= crypto::kAeadTagSize) != values || (n == 0) == values ||
      (m >= crypto::kAeadTagSize) != tokens || (m == 0) == tokens) {
    return bad();
  }
  out->index_version = static_cast<uint32_t>(version);
  return Status::OK();
}

Result<Value> ShowSealedWithoutKeys(const Value& stored) {
  if (stored.kind != FieldKind::kSealed) return stored;
  SealedParts parts;
  QUIPU_RETURN_IF_ERROR(DecodeSealed(stored.text, &parts));
  return HiddenValue(parts.kind,
                     parts.protection == Protection::kHashed ? Hidden::kHashed : Hidden::kLocked);
}

Protector::Protector(std::shared_ptr<const MasterKeys> master, Env* env, std::string dir,
                     bool writable)
    : master_(std::move(master)), env_(env), dir_(std::move(dir)), writable_(writable) {}

Result<privacy::SubjectKeys*> Protector::Keys(bool create) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (keys_ != nullptr) return keys_.get();
  auto exists = env_->FileExists(dir_ + "/" + std::string(privacy::kSubjectKeysFile));
  if (!exists.ok()) return exists.status();
  if (!*exists && !(create && writable_)) return static_cast<privacy::SubjectKeys*>(nullptr);
  auto keys = privacy::SubjectKeys::Open(env_, dir_, writable_);
  if (!keys.ok()) return keys.status();
  keys_ = std::move(*keys);
  return keys_.get();
}

Result<std::string> Protector::Token(uint32_t version, char tag, std::string_view bytes,
                                     Scope scope) const {
  auto key = privacy::Impl(*master_).Derived(version,
                                             std::string(privacy::kIndexLabel) + ScopeBytes(scope));
  if (!key.ok()) return key.status();
  std::string input(1, tag);
  input.append(bytes);
  auto mac = crypto::HmacSha256((*key)->view(), input);
  Wipe(&input);
  if (!mac.ok()) return mac.status();
  std::string token(1, tag);
  token.append(reinterpret_cast<const char*>(mac->data()), kTokenSize - 1);
  return token;
}

Result<Value> Protector::Seal(const Value& plain, Protection protection, uint32_t prefix_tokens,
                              Scope scope, uint32_t subject_type, std::string_view subject_id) {
  if (master_ == nullptr) {
    return Status::FailedPrecondition(
        "writing a protected field needs the master key (AuditOptions::keys, --key-file)");
  }
  auto keys = Keys(/*create=*/true);
  if (!keys.ok()) return keys.status();
  const auto& master = privacy::Impl(*master_);
  auto key = (*keys)->KeyFor(master, subject_type, subject_id);
  if (!key.ok()) return key.status();
  const std::string& key_id = key->key_id;
  const uint32_t version = master.Newest();
  std::string tokens;
  if (protection == Protection::kHashed || protection == Protection::kEncryptedIndexed) {
    const std::string bytes = keys::IndexBytes(plain);
    std::vector<std::pair<char, std::string>> inputs = {{kExactToken, bytes}};
    if (plain.kind != FieldKind::kNumber) inputs.emplace_back(kFoldedToken, keys::Folded(bytes));
    if (protection == Protection::kEncryptedIndexed && plain.kind != FieldKind::kNumber) {
      for (size_t n = 1; n <= prefix_tokens && n <= bytes.size(); ++n) {
        inputs.emplace_back(kPrefixToken, bytes.substr(0, n));
      }
    }
    PutVarint(&tokens, inputs.size());
    for (auto& [tag, input] : inputs) {
      auto token = Token(version, tag, input, scope);
      Wipe(&input);
      if (!token.ok()) return token.status();
      tokens += *token;
    }
  }
  auto nonce = (*keys)->NextNonce();
  if (!nonce.ok()) return nonce.status();
  std::string out;
  out.push_back(static_cast<char>(kSealedFormat));
  out.push_back(static_cast<char>(protection));
  out.push_back(static_cast<char>(plain.kind));
  out.append(key_id);
  PutVarint(&out, version);
  out.append(*nonce);
  // Two bodies under one nonce and two keys: the value under the value key,
  // the tokens under the token key (privacy/subject_keys.h).
  std::string value_body, token_body;
  if (Encrypts(protection)) {
    std::string value = PlainBytes(plain);
    Status s = crypto::AeadSeal(key->value_key->view(), *nonce, Aad('v', scope, plain.kind, key_id),
                                value, &value_body);
    Wipe(&value);
    QUIPU_RETURN_IF_ERROR(s);
  }
  if (!tokens.empty()) {
    Status s = crypto::AeadSeal(key->token_key->view(), *nonce, Aad('t', scope, plain.kind, key_id),
                                tokens, &token_body);
    Wipe(&tokens);
    QUIPU_RETURN_IF_ERROR(s);
  }
  PutVarint(&out, value_body.size());
  out.append(value_body);
  PutVarint(&out, token_body.size());
  out.append(token_body);
  return Value{FieldKind::kSealed, std::move(out), 0};
}

Status Protector::CheckMaster() const {
  if (master_ == nullptr) return Status::OK();
  auto keys = Keys(/*create=*/false);
  if (!keys.ok()) return keys.status();
  if (*keys == nullptr) return Status::OK();
  return (*keys)->CheckMaster(privacy::Impl(*master_));
}

Result<OpenedValue> Protector::Open(const Value& stored, Scope scope, bool ignore_forgotten) const {
  SealedParts parts;
  QUIPU_RETURN_IF_ERROR(DecodeSealed(stored.text, &parts));
  OpenedValue out;
  if (!ignore_forgotten && Forgotten(parts.key_id)) {
    out.state = OpenedValue::State::kForgotten;
    return out;
  }
  if (master_ == nullptr) {
    out.state = OpenedValue::State::kNoKey;
    return out;
  }
  auto keys = Keys(/*create=*/false);
  if (!keys.ok()) return keys.status();
  // A value names a key synced before the value was appended: a key the
  // file does not hold is damage (or a subject key file lost or replaced),
  // never a quiet "erased".
  auto missing = [&] {
    return Status::Corruption("a protected value names a data key that " +
                              std::string(privacy::kSubjectKeysFile) +
                              " does not hold (lost or replaced?)");
  };
  if (*keys == nullptr) return missing();
  privacy::SubjectKeys::State state;
  auto key = (*keys)->Unwrap(privacy::Impl(*master_), parts.key_id, &state);
  if (!key.ok()) return key.status();
  if (state == privacy::SubjectKeys::State::kUnknown) return missing();
  if (key->token_key == nullptr) {
    out.state = OpenedValue::State::kForgotten;
    return out;
  }
  auto failed = [](const Status& s) {
    return Status::Corruption("a protected value fails authentication: " + s.message());
  };
  if (!parts.value_body.empty() && key->value_key != nullptr) {
    Status s =
        crypto::AeadOpen(key->value_key->view(), parts.nonce,
                         Aad('v', scope, parts.kind, parts.key_id), parts.value_body, &out.value);
    if (!s.ok()) return failed(s);
    if (parts.kind == FieldKind::kNumber && out.value.size() != 8) {
      Wipe(&out.value);
      return Status::Corruption("a protected number does not decode");
    }
    out.value_known = true;
  }
  if (!parts.token_body.empty()) {
    std::string body;
    Status s = crypto::AeadOpen(key->token_key->view(), parts.nonce,
                                Aad('t', scope, parts.kind, parts.key_id), parts.token_body, &body);
    if (!s.ok()) return failed(s);
    std::string_view in = body;
    uint64_t count = 0;
    if (!GetVarint(&in, &count) || count != in.size() / kTokenSize || in.size() % kTokenSize != 0) {
      return Status::Corruption("a protected value's tokens do not decode");
    }
    for (uint64_t i = 0; i < count; ++i) {
      out.tokens.emplace_back(in.substr(i * kTokenSize, kTokenSize));
    }
  }
  return out;
}

Result<bool> Protector::Holds(const Value& sealed, const Value& plain, Scope scope) const {
  if (sealed.kind != FieldKind::kSealed) return sealed == plain;
  SealedParts parts;
  QUIPU_RETURN_IF_ERROR(DecodeSealed(sealed.text, &parts));
  if (parts.kind != plain.kind) return false;
  auto opened = Open(sealed, scope);
  if (!opened.ok()) return opened.status();
  if (opened->state != OpenedValue::State::kOpen) return false;
  if (parts.protection == Protection::kHashed) {
    auto token = Token(parts.index_version, kExactToken, keys::IndexBytes(plain), scope);
    if (!token.ok()) return false;  // a retired version: written anew
    return !opened->tokens.empty() && opened->tokens[0] == *token;
  }
  if (!opened->value_known) return false;  // writer keys: written anew
  std::string given = PlainBytes(plain);
  const bool same = opened->value == given;
  Wipe(&given);
  Wipe(&opened->value);
  return same;
}

Result<bool> Protector::Matches(const Value& v, const std::vector<std::string>& needles,
                                Scope scope) const {
  if (v.kind != FieldKind::kSealed) return false;
  auto opened = Open(v, scope);
  if (!opened.ok()) return opened.status();
  Wipe(&opened->value);
  for (const std::string& token : opened->tokens) {
    for (const std::string& needle : needles) {
      if (token == needle) return true;
    }
  }
  return false;
}

Result<Value> Protector::Show(const Value& stored, Scope scope) const {
  if (stored.kind != FieldKind::kSealed) return stored;
  SealedParts parts;
  QUIPU_RETURN_IF_ERROR(DecodeSealed(stored.text, &parts));
  auto opened = Open(stored, scope);
  if (!opened.ok()) return opened.status();
  switch (opened->state) {
    case OpenedValue::State::kForgotten:
      return HiddenValue(parts.kind, Hidden::kErased);
    case OpenedValue::State::kNoKey:
      return ShowSealedWithoutKeys(stored);
    case OpenedValue::State::kOpen:
      break;
  }
  if (parts.protection == Protection::kHashed) return HiddenValue(parts.kind, Hidden::kHashed);
  if (!opened->value_known) return HiddenValue(parts.kind, Hidden::kLocked);
  return FromPlainBytes(parts.kind, std::move(opened->value));
}

Result<FilterNeedles> NeedlesFor(const Protector* protector, const FieldSpec& spec, MatchOp op,
                                 std::string_view value, Scope scope, const std::string& what) {
  const std::string is = what + " is " + std::string(ProtectionName(spec.protection));
  std::string bytes(value);
  if (spec.kind == FieldKind::kNumber) {
    if (op != MatchOp::kExact) {
      return Status::InvalidArgument(what + " is a number: only the exact operator applies");
    }
    Result<double> number = ParseNumber(value);
    if (!number.ok()) return number.status().WithContext(what);
    bytes = keys::IndexBytes(Value::Number(*number));
  }
  char token = kExactToken;
  switch (op) {
    case MatchOp::kExact:
      break;
    case MatchOp::kExactCi:
      token = kFoldedToken;
      bytes = keys::Folded(bytes);
      break;
    case MatchOp::kPrefix:
      if (spec.protection != Protection::kEncryptedIndexed || value.empty() ||
          value.size() > spec.prefix_tokens) {
        return Status::InvalidArgument(is + " with " + std::to_string(spec.prefix_tokens) +
                                       " prefix tokens: prefix matches 1.." +
                                       std::to_string(spec.prefix_tokens) + " bytes");
      }
      token = kPrefixToken;
      break;
    case MatchOp::kContains:
      return Status::InvalidArgument(is + ": its blind index cannot match substrings");
  }
  if (protector == nullptr) {
    return Status::FailedPrecondition(is + ": matching it needs the master key");
  }
  auto needles = protector->Needles(token, bytes, scope);
  if (!needles.ok()) return needles.status().WithContext(is);
  return FilterNeedles{token == kFoldedToken ? keys::kFolded : keys::kExact, std::move(*needles)};
}

Result<Terms> TermsOf(const Protector* protector, const Value& v, Scope scope) {
  if (v.kind != FieldKind::kSealed) return keys::FieldTerms(v);
  if (protector == nullptr || !protector->has_master()) {
    return Status::FailedPrecondition(
        "indexing a protected value needs the master key (AuditOptions::keys, --key-file)");
  }
  auto opened = protector->Open(v, scope);
  if (!opened.ok()) return opened.status();
  Terms terms;
  for (std::string& token : opened->tokens) {
    const char tag = token[0] == kFoldedToken ? keys::kFolded : keys::kExact;
    terms.emplace_back(tag, std::move(token));
  }
  return terms;
}

Result<std::vector<std::string>> Protector::Needles(char tag, std::string_view bytes,
                                                    Scope scope) const {
  if (master_ == nullptr) {
    return Status::FailedPrecondition(
        "matching a protected field needs the master key (AuditOptions::keys, --key-file)");
  }
  std::vector<std::string> out;
  for (uint32_t version : master_->Versions()) {
    auto token = Token(version, tag, bytes, scope);
    if (!token.ok()) return token.status();
    out.push_back(std::move(*token));
  }
  return out;
}

bool Protector::Forgotten(std::string_view key_id) const {
  privacy::SubjectKeys* keys = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (forgotten_.count(std::string(key_id)) > 0) return true;
    keys = keys_.get();
  }
  return keys != nullptr && keys->StateOf(key_id) == privacy::SubjectKeys::State::kForgotten;
}

void Protector::AddForgotten(const std::string& key_id) {
  std::lock_guard<std::mutex> lock(mu_);
  forgotten_.insert(key_id);
}

Result<std::string> Protector::KeyedFingerprint(std::string_view input) const {
  if (master_ == nullptr) {
    return Status::FailedPrecondition(
        "writing a protected field needs the master key (AuditOptions::keys, --key-file)");
  }
  auto key = privacy::Impl(*master_).Derived(master_->Newest(), privacy::kFingerprintLabel);
  if (!key.ok()) return key.status();
  auto mac = crypto::HmacSha256((*key)->view(), input);
  if (!mac.ok()) return mac.status();
  return std::string(reinterpret_cast<const char*>(mac->data()), mac->size());
}

}  // namespace quipu::audit
