// server/auth.h — who may call `quipu serve`, and what each caller may see.
//
// A caller presents a bearer token: 32 random bytes shown once, as text, by
// `quipu token create`. The server's token file keeps only the SHA-256 of
// each token ("sha256:<hex>"), so reading the file does not give access.
// A token carries:
//   grants   what it may do: emit (write events), query (read rows,
//            entities, proofs, export), admin (schema changes, checkpoint,
//            verify). Deny by default: a route names the grant it needs.
//   expires  optional; an expired token is refused like an unknown one.
//   scope    optional (column, value): the token's writes carry that column
//            value (filled in when absent, refused when different) and its
//            reads see only rows holding it.
//
// Token file (JSON, written by `quipu token`; docs/server.md):
//   {"tokens": [{"id": "t_1a2b3c4d", "name": "billing", "hash": "sha256:<64 hex>",
//                "grants": ["emit", "query"], "expires": "2027-01-01T00:00:00Z",
//                "scope": {"column": "tenant", "value": "acme"}}]}
// "name", "expires" and "scope" are optional. Unknown keys are refused.
//
// Comparison: the presented token is hashed and compared with every entry's
// hash in constant time (CRYPTO_memcmp, no early exit over the entries), so
// response timing says nothing about which bytes matched.
//
// Thread safety: a TokenSet is an immutable value once built; share it
// through a shared_ptr<const TokenSet> and swap the pointer on reload.
#ifndef QUIPU_SERVER_AUTH_H_
#define QUIPU_SERVER_AUTH_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "quipu/status.h"

namespace quipu::server {

enum class Grant : uint8_t { kEmit = 1, kQuery = 2, kAdmin = 4 };

// "emit", "query", "admin".
std::string_view GrantName(Grant grant);
// A comma-separated list ("emit,query"); InvalidArgument naming an unknown
// grant or an empty list. Returns the bit set.
Result<uint8_t> ParseGrants(std::string_view list);

struct TokenScope {
  std::string column;  // a column name: [A-Za-z_][A-Za-z0-9_.-]{0,127}
  std::string value;   // non-empty UTF-8
};

// "COLUMN=VALUE" (split at the first '='), checked as the token file checks
// a scope. InvalidArgument naming what is wrong.
Result<TokenScope> ParseScope(std::string_view text);

struct TokenEntry {
  std::string id;    // "t_" + 8 hex digits of the hash: names the token in logs
  std::string name;  // free text, may be empty
  std::array<uint8_t, 32> hash{};
  uint8_t grants = 0;
  std::optional<int64_t> expires_micros;  // UTC microseconds since the epoch
  std::optional<TokenScope> scope;
};

// The caller of one request, once authenticated.
struct Principal {
  std::string token_id;
  uint8_t grants = 0;
  std::optional<TokenScope> scope;

  bool Has(Grant grant) const { return (grants & static_cast<uint8_t>(grant)) != 0; }
};

// Why a request was refused before any grant was looked at (all 401).
enum class AuthFailure { kMissing, kMalformed, kUnknown, kExpired };
std::string_view AuthFailureText(AuthFailure failure);

class TokenSet {
 public:
  TokenSet() = default;  // no tokens: every request is refused

  // Reads and checks the token file. Errors: NotFound, IOError,
  // InvalidArgument naming the file and the bad entry.
  static Result<TokenSet> Load(const std::string& path);
  static Result<TokenSet> Parse(std::string_view json_text, std::string_view what);

  // `authorization` is the Authorization header's value ("Bearer <token>"),
  // empty when absent.
  std::variant<Principal, AuthFailure> Authenticate(std::string_view authorization,
                                                    int64_t now_micros) const;

  const std::vector<TokenEntry>& entries() const { return entries_; }

 private:
  std::vector<TokenEntry> entries_;
};

// A new token: the secret to show once, and the entry to store.
struct NewToken {
  std::string secret;  // "qpt_" + 64 hex digits
  TokenEntry entry;
};
// Makes a token from 32 bytes of OpenSSL's RAND_bytes.
Result<NewToken> CreateToken(uint8_t grants, std::optional<int64_t> expires_micros,
                             std::optional<TokenScope> scope, std::string name);

// Adds `entry` to the token file at `path` (creating it), or removes the
// entry named `id` (NotFound if none). The file is replaced atomically:
// written to a temporary file, fsynced, renamed, and the directory fsynced;
// it is created with mode 0600.
Status AddTokenToFile(const std::string& path, const TokenEntry& entry);
Status RemoveTokenFromFile(const std::string& path, std::string_view id);

}  // namespace quipu::server

#endif  // QUIPU_SERVER_AUTH_H_
