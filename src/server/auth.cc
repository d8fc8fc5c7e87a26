// server/auth.cc — grants, scopes, the token file's format, new tokens, and
// the check of one request's Authorization header. Reading and replacing
// the file is token_file.cc.
#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <optional>
#include <set>
#include <utility>

#include "json/input.h"
#include "quipu/audit_types.h"
#include "server/token_file.h"
#include "util/hex.h"
#include "util/quote.h"

namespace quipu::server {

namespace {

using json::Json;
using json::OrderedJson;
using Digest = std::array<uint8_t, 32>;

constexpr std::string_view kHashPrefix = "sha256:";
constexpr std::string_view kTokenPrefix = "qpt_";
constexpr size_t kSecretBytes = 32;
constexpr size_t kHexDigits = 2 * kSecretBytes;  // of a secret and of a digest alike
constexpr size_t kIdHexDigits = 8;
constexpr size_t kMaxNameBytes = 256;
constexpr size_t kMaxIdentifierBytes = 128;
// In the order grants are listed, in the file and elsewhere.
constexpr Grant kGrants[] = {Grant::kEmit, Grant::kQuery, Grant::kAdmin};
constexpr uint8_t kAllGrants = 7;

bool IsLowerHex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A column name, and the same rule for token ids: [A-Za-z_][A-Za-z0-9_.-]{0,127}.
bool IsIdentifier(std::string_view text) {
  if (text.empty() || text.size() > kMaxIdentifierBytes) return false;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  const char first = text[0];
  return !((first >= '0' && first <= '9') || first == '.' || first == '-');
}

Status CheckIdentifier(std::string_view what, std::string_view text) {
  if (IsIdentifier(text)) return Status::OK();
  return Status::InvalidArgument(std::string(what) + " " + QuoteInput(text) +
                                 " must be 1..128 letters, digits, '_', '.' or '-', not starting "
                                 "with a digit, '.' or '-'");
}

// nlohmann's dump turns each byte that is not UTF-8 into U+FFFD under
// `replace` and drops it under `ignore`, so the two agree only on UTF-8.
// Checked where text comes from the command line rather than the parser,
// so that writing the file can never throw or change it.
bool IsUtf8(const std::string& text) {
  const Json value(text);
  return value.dump(-1, ' ', false, Json::error_handler_t::replace) ==
         value.dump(-1, ' ', false, Json::error_handler_t::ignore);
}

Status CheckName(const std::string& name) {
  if (name.size() > kMaxNameBytes) {
    return Status::InvalidArgument("token name is longer than 256 bytes");
  }
  if (!IsUtf8(name)) return Status::InvalidArgument("token name is not UTF-8");
  return Status::OK();
}

Status CheckScope(const TokenScope& scope) {
  QUIPU_RETURN_IF_ERROR(CheckIdentifier("scope column", scope.column));
  if (scope.value.empty()) return Status::InvalidArgument("scope value is empty");
  if (!IsUtf8(scope.value)) return Status::InvalidArgument("scope value is not UTF-8");
  return Status::OK();
}

// Adds the grant called `name` to `*grants`; refuses unknown and repeated names.
Status AddGrant(std::string_view name, uint8_t* grants) {
  for (Grant grant : kGrants) {
    if (name != GrantName(grant)) continue;
    const auto bit = static_cast<uint8_t>(grant);
    if ((*grants & bit) != 0) {
      return Status::InvalidArgument("grant " + QuoteInput(name) + " is listed twice");
    }
    *grants |= bit;
    return Status::OK();
  }
  return Status::InvalidArgument("unknown grant " + QuoteInput(name) +
                                 " (expected emit, query or admin)");
}

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

// The SHA-256 of a token's text as presented ("qpt_..."), so an operator can
// check a file entry with any sha256 tool.
bool Sha256(std::string_view text, Digest* out) {
  unsigned int len = 0;
  return EVP_Digest(text.data(), text.size(), out->data(), &len, EVP_sha256(), nullptr) == 1 &&
         len == out->size();
}

std::string HashText(const Digest& hash) {
  return std::string(kHashPrefix) +
         HexEncode(std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
}

// --- reading the file -------------------------------------------------------

Status OnlyKeys(const Json& object, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    if (!known) return Status::InvalidArgument("unknown key " + QuoteInput(key));
  }
  return Status::OK();
}

// The string member `key` of `object`: nullptr if absent, an error if not a string.
Result<const std::string*> StringMember(const Json& object, const char* key, bool required) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (!required) return static_cast<const std::string*>(nullptr);
    return Status::InvalidArgument("\"" + std::string(key) + "\" is missing");
  }
  if (!it->is_string()) {
    return Status::InvalidArgument("\"" + std::string(key) + "\" must be a string");
  }
  return &it->get_ref<const std::string&>();
}

Result<Digest> HashFromJson(const std::string& text) {
  std::string_view hex = std::string_view(text).substr(std::min(text.size(), kHashPrefix.size()));
  if (!text.starts_with(kHashPrefix) || hex.size() != kHexDigits || !IsLowerHex(hex)) {
    return Status::InvalidArgument("\"hash\" must be \"sha256:\" and 64 lower-case hex digits");
  }
  std::string bytes;
  HexDecode(hex, &bytes);
  Digest digest;
  std::copy(bytes.begin(), bytes.end(), digest.begin());
  return digest;
}

Result<uint8_t> GrantsFromJson(const Json& object) {
  auto it = object.find("grants");
  if (it == object.end()) return Status::InvalidArgument("\"grants\" is missing");
  if (!it->is_array() || it->empty()) {
    return Status::InvalidArgument("\"grants\" must be a non-empty array of grant names");
  }
  uint8_t grants = 0;
  for (const Json& name : *it) {
    if (!name.is_string()) return Status::InvalidArgument("\"grants\" holds a non-string");
    QUIPU_RETURN_IF_ERROR(AddGrant(name.get_ref<const std::string&>(), &grants));
  }
  return grants;
}

Result<TokenScope> ScopeFromJson(const Json& scope) {
  if (!scope.is_object()) return Status::InvalidArgument("\"scope\" must be an object");
  QUIPU_RETURN_IF_ERROR(OnlyKeys(scope, {"column", "value"}));
  Result<const std::string*> column = StringMember(scope, "column", true);
  if (!column.ok()) return column.status().WithContext("scope");
  Result<const std::string*> value = StringMember(scope, "value", true);
  if (!value.ok()) return value.status().WithContext("scope");
  TokenScope out{**column, **value};
  QUIPU_RETURN_IF_ERROR(CheckScope(out));
  return out;
}

// The optional members of an entry: name, expires, scope.
Status OptionalsFromJson(const Json& object, TokenEntry* entry) {
  Result<const std::string*> name = StringMember(object, "name", false);
  if (!name.ok()) return name.status();
  if (*name != nullptr) entry->name = **name;
  QUIPU_RETURN_IF_ERROR(CheckName(entry->name));
  Result<const std::string*> expires = StringMember(object, "expires", false);
  if (!expires.ok()) return expires.status();
  if (*expires != nullptr) {
    Result<int64_t> micros = ParseRfc3339(**expires);
    if (!micros.ok()) return micros.status().WithContext("\"expires\"");
    entry->expires_micros = *micros;
  }
  if (auto it = object.find("scope"); it != object.end()) {
    Result<TokenScope> scope = ScopeFromJson(*it);
    if (!scope.ok()) return scope.status();
    entry->scope = std::move(*scope);
  }
  return Status::OK();
}

// Reads one entry; `*id` is set as soon as the id is known, for the error.
Result<TokenEntry> EntryFromJson(const Json& object, std::string* id) {
  if (!object.is_object()) return Status::InvalidArgument("not an object");
  QUIPU_RETURN_IF_ERROR(OnlyKeys(object, {"id", "name", "hash", "grants", "expires", "scope"}));
  TokenEntry entry;
  Result<const std::string*> id_text = StringMember(object, "id", true);
  if (!id_text.ok()) return id_text.status();
  *id = **id_text;
  QUIPU_RETURN_IF_ERROR(CheckIdentifier("id", *id));
  entry.id = *id;
  Result<const std::string*> hash_text = StringMember(object, "hash", true);
  if (!hash_text.ok()) return hash_text.status();
  Result<Digest> hash = HashFromJson(**hash_text);
  if (!hash.ok()) return hash.status();
  entry.hash = *hash;
  Result<uint8_t> grants = GrantsFromJson(object);
  if (!grants.ok()) return grants.status();
  entry.grants = *grants;
  QUIPU_RETURN_IF_ERROR(OptionalsFromJson(object, &entry));
  return entry;
}

// "tokens[2] (id 't_1a2b3c4d')", naming an entry in an error.
std::string EntryLabel(size_t index, const std::string& id) {
  std::string label = "tokens[" + std::to_string(index) + "]";
  return id.empty() ? label : label + " (id " + QuoteInput(id) + ")";
}

// Two entries with one id would make logs ambiguous; two with one hash would
// make the token's grants depend on the order of the file.
Status CheckUnique(const std::vector<TokenEntry>& entries) {
  std::set<std::string> ids;
  std::set<Digest> hashes;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!ids.insert(entries[i].id).second) {
      return Status::InvalidArgument(EntryLabel(i, entries[i].id) + ": id used twice");
    }
    if (!hashes.insert(entries[i].hash).second) {
      return Status::InvalidArgument(EntryLabel(i, entries[i].id) +
                                     ": same hash as an earlier entry");
    }
  }
  return Status::OK();
}

Result<std::vector<TokenEntry>> EntriesFromJson(const Json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("the top level must be an object");
  QUIPU_RETURN_IF_ERROR(OnlyKeys(doc, {"tokens"}));
  auto tokens = doc.find("tokens");
  if (tokens == doc.end() || !tokens->is_array()) {
    return Status::InvalidArgument("\"tokens\" must be an array");
  }
  std::vector<TokenEntry> entries;
  for (size_t i = 0; i < tokens->size(); ++i) {
    std::string id;
    Result<TokenEntry> entry = EntryFromJson((*tokens)[i], &id);
    if (!entry.ok()) return entry.status().WithContext(EntryLabel(i, id));
    entries.push_back(std::move(*entry));
  }
  QUIPU_RETURN_IF_ERROR(CheckUnique(entries));
  return entries;
}

// --- the Authorization header -------------------------------------------------

bool EqualsIgnoringCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char c = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (c != lower[i]) return false;
  }
  return true;
}

// The token of "Bearer <token>", if the header has that shape. The scheme
// name is case-insensitive and followed by one or more spaces (RFC 7235
// section 2.1); the token is exactly what `quipu token create` prints.
std::optional<std::string_view> BearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() || header[kScheme.size()] != ' ' ||
      !EqualsIgnoringCase(header.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  const size_t start = header.find_first_not_of(' ', kScheme.size());
  if (start == std::string_view::npos) return std::nullopt;
  const std::string_view token = header.substr(start);
  if (token.size() != kTokenPrefix.size() + kHexDigits || !token.starts_with(kTokenPrefix) ||
      !IsLowerHex(token.substr(kTokenPrefix.size()))) {
    return std::nullopt;
  }
  return token;
}

}  // namespace

// --- grants and scopes ------------------------------------------------------

std::string_view GrantName(Grant grant) {
  switch (grant) {
    case Grant::kEmit:
      return "emit";
    case Grant::kQuery:
      return "query";
    case Grant::kAdmin:
      return "admin";
  }
  return "unknown";
}

Result<uint8_t> ParseGrants(std::string_view list) {
  if (list.empty()) {
    return Status::InvalidArgument("no grants given (expected a list such as emit,query)");
  }
  uint8_t grants = 0;
  for (size_t start = 0;;) {
    const size_t comma = list.find(',', start);
    QUIPU_RETURN_IF_ERROR(AddGrant(list.substr(start, comma - start), &grants));
    if (comma == std::string_view::npos) return grants;
    start = comma + 1;
  }
}

Result<TokenScope> ParseScope(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return Status::InvalidArgument("scope wants COLUMN=VALUE, got " + QuoteInput(text));
  }
  TokenScope scope{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
  QUIPU_RETURN_IF_ERROR(CheckScope(scope));
  return scope;
}

std::string_view AuthFailureText(AuthFailure failure) {
  switch (failure) {
    case AuthFailure::kMissing:
      return "no Authorization header";
    case AuthFailure::kMalformed:
      return "Authorization is not \"Bearer qpt_<64 hex digits>\"";
    case AuthFailure::kUnknown:
      return "unknown token";
    case AuthFailure::kExpired:
      return "token expired";
  }
  return "refused";
}

// --- the token file ---------------------------------------------------------

Result<TokenSet> TokenSet::Parse(std::string_view json_text, std::string_view what) {
  Result<Json> doc = json::ParseJson(json_text, what);
  if (!doc.ok()) return doc.status();
  Result<std::vector<TokenEntry>> entries = EntriesFromJson(*doc);
  if (!entries.ok()) return entries.status().WithContext(what);
  TokenSet set;
  set.entries_ = std::move(*entries);
  return set;
}

std::string TokenFileText(const std::vector<TokenEntry>& entries) {
  OrderedJson tokens = OrderedJson::array();
  for (const TokenEntry& entry : entries) {
    OrderedJson item;
    item["id"] = entry.id;
    if (!entry.name.empty()) item["name"] = entry.name;
    item["hash"] = HashText(entry.hash);
    item["grants"] = OrderedJson::array();
    for (Grant grant : kGrants) {
      if ((entry.grants & static_cast<uint8_t>(grant)) != 0)
        item["grants"].push_back(GrantName(grant));
    }
    if (entry.expires_micros) item["expires"] = FormatRfc3339Utc(*entry.expires_micros);
    if (entry.scope)
      item["scope"] = {{"column", entry.scope->column}, {"value", entry.scope->value}};
    tokens.push_back(std::move(item));
  }
  OrderedJson doc;
  doc["tokens"] = std::move(tokens);
  return doc.dump(2, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
}

// --- authentication -----------------------------------------------------------

std::variant<Principal, AuthFailure> TokenSet::Authenticate(std::string_view authorization,
                                                            int64_t now_micros) const {
  if (authorization.empty()) return AuthFailure::kMissing;
  std::optional<std::string_view> token = BearerToken(authorization);
  if (!token) return AuthFailure::kMalformed;
  Digest digest;
  if (!Sha256(*token, &digest)) return AuthFailure::kUnknown;
  // Every entry is compared, in constant time each, whether or not one has
  // matched already: the time taken depends on the number of entries only.
  // Hashes are unique (CheckUnique), so at most one matches.
  const TokenEntry* match = nullptr;
  for (const TokenEntry& entry : entries_) {
    const bool same = CRYPTO_memcmp(entry.hash.data(), digest.data(), digest.size()) == 0;
    match = same ? &entry : match;
  }
  if (match == nullptr) return AuthFailure::kUnknown;
  if (match->expires_micros && now_micros >= *match->expires_micros) return AuthFailure::kExpired;
  return Principal{match->id, match->grants, match->scope};
}

// --- new tokens ---------------------------------------------------------------

Result<NewToken> CreateToken(uint8_t grants, std::optional<int64_t> expires_micros,
                             std::optional<TokenScope> scope, std::string name) {
  if (grants == 0 || (grants & ~kAllGrants) != 0) {
    return Status::InvalidArgument("a token needs one or more of emit, query, admin");
  }
  if (scope) QUIPU_RETURN_IF_ERROR(CheckScope(*scope));
  QUIPU_RETURN_IF_ERROR(CheckName(name));
  std::array<unsigned char, kSecretBytes> random;
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return Status::IOError("OpenSSL RAND_bytes failed: " + OpenSslError());
  }
  NewToken token;
  token.secret =
      std::string(kTokenPrefix) +
      HexEncode(std::string_view(reinterpret_cast<const char*>(random.data()), random.size()));
  OPENSSL_cleanse(random.data(), random.size());
  TokenEntry& entry = token.entry;
  if (!Sha256(token.secret, &entry.hash)) {
    return Status::IOError("OpenSSL SHA-256 failed: " + OpenSslError());
  }
  entry.id = "t_" + HashText(entry.hash).substr(kHashPrefix.size(), kIdHexDigits);
  entry.name = std::move(name);
  entry.grants = grants;
  entry.expires_micros = expires_micros;
  entry.scope = std::move(scope);
  return token;
}

}  // namespace quipu::server
