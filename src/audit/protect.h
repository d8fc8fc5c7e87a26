// audit/protect.h — protected values (quipu/audit_types.h, Protection):
// sealing what a writer gives, showing what a reader may see, and the blind
// index tokens queries match (docs/privacy.md).
//
// A protected value is stored as a Value of kind kSealed whose text is:
//
//   sealed := format:u8 (2) protection:u8 kind:u8 key_id:16 bytes
//             index_version:varint nonce:12 bytes
//             value_body:string token_body:string
//   value_body := AES-256-GCM(value key, nonce, aad 'v', value)  (encrypted kinds)
//   token_body := AES-256-GCM(token key, nonce, aad 't',
//                             token_count:varint token*)         (hashed, indexed)
//   token  := tag:u8 HMAC-SHA-256(index key, tag ‖ bytes)[0..16)
//
// key_id names the subject's data key pair (privacy/subject_keys.h): a
// value key only the master secret unwraps, and a token key that writer
// keys unwrap too. Both are destroyed by a forget, so neither the value nor
// its tokens can be recovered from the log afterwards, even by a holder of
// the master key: a forgotten value cannot be confirmed by testing guesses
// against its tokens. The derived index keeps the tokens in the clear (that
// is what makes them searchable), each naming its key id, and drops a
// subject's tokens when it is forgotten; a rebuild cannot bring them back.
// Tokens: 'x' of the value's index bytes (exact), 'y' of their ASCII
// case-folded form (exact_ci; text and json), 'p' of each prefix of 1..
// prefix_tokens bytes. The index key is derived from master key version
// index_version for this field (its type and ordinal) or column, so equal
// values in two fields have unrelated tokens. Value bytes: a text or json
// value's text, a number's 8 IEEE-754 bytes (little-endian); the AAD binds
// each body to its field, kind, key and purpose.
#ifndef QUIPU_AUDIT_PROTECT_H_
#define QUIPU_AUDIT_PROTECT_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "privacy/subject_keys.h"
#include "quipu/audit_types.h"
#include "quipu/keys.h"

namespace quipu::audit {

// Where a value lives: a field of a type, or a column.
struct Scope {
  char where = 'f';  // 'f' field, 'c' column
  uint32_t type = 0;
  uint32_t ordinal = 0;
};

// A sealed value taken apart (views into its text).
struct SealedParts {
  Protection protection = Protection::kHashed;
  FieldKind kind = FieldKind::kText;
  std::string_view key_id;
  uint32_t index_version = 0;
  std::string_view nonce;
  std::string_view value_body;  // ciphertext and tag; empty for hashed
  std::string_view token_body;  // ciphertext and tag; empty for encrypted
};
// Corruption when `text` is not a sealed value.
Status DecodeSealed(std::string_view text, SealedParts* out);

// A sealed value opened.
struct OpenedValue {
  enum class State {
    kOpen,       // value and tokens below
    kForgotten,  // its key is destroyed (or was never kept)
    kNoKey,      // the store was opened without the master key
  };
  State state = State::kOpen;
  // The value's bytes (encrypted kinds), when this process can read them:
  // writer keys open only the values this process sealed itself.
  bool value_known = false;
  std::string value;
  std::vector<std::string> tokens;
};

// Field entries of one value: (index tag, bytes).
using Terms = std::vector<std::pair<char, std::string>>;

// A sealed value as a reader without keys sees it: hidden, kHashed or
// kLocked, of its kind; a value that is not sealed as it is.
Result<Value> ShowSealedWithoutKeys(const Value& stored);

class Protector;

// What a filter on a protected field looks for: its tokens under each
// master version given, and the index tag they are kept under.
struct FilterNeedles {
  char index_tag = 'X';
  std::vector<std::string> tokens;
};
// The needles of filter `op value` on field `spec` (`what` names it in
// errors). InvalidArgument for what the protection cannot answer (contains;
// prefix beyond prefix_tokens; other than exact on a number);
// FailedPrecondition without the master key.
Result<FilterNeedles> NeedlesFor(const Protector* protector, const FieldSpec& spec, MatchOp op,
                                 std::string_view value, Scope scope, const std::string& what);

// The field entries `v` is indexed under (index_keys.h FieldTerms for a
// plain value; a sealed one's tokens, none once its key is forgotten).
// FailedPrecondition for a sealed value when `protector` is null or has no
// master key: its tokens cannot be read.
Result<Terms> TermsOf(const Protector* protector, const Value& v, Scope scope);

inline constexpr char kExactToken = 'x';
inline constexpr char kFoldedToken = 'y';
inline constexpr char kPrefixToken = 'p';
inline constexpr size_t kTokenSize = 17;

class Protector {
 public:
  // `master` may be null (no key given). The subject key file of `dir` is
  // opened when first needed (a writer creates it then), so a store that
  // never sealed a value has none.
  Protector(std::shared_ptr<const MasterKeys> master, Env* env, std::string dir, bool writable);

  bool has_master() const { return master_ != nullptr; }
  const MasterKeys* master() const { return master_.get(); }
  // The subject key file: nullptr when it does not exist and `create` is
  // false (or the store is read-only).
  Result<privacy::SubjectKeys*> Keys(bool create) const;
  // With a master key given and a subject key file present: whether the
  // keys fit the file (SubjectKeys::CheckMaster).
  Status CheckMaster() const;

  // Seals `plain` (already checked against the field's kind) under the
  // data key of subject (subject_type, subject_id), creating that key
  // durably if the subject has none. FailedPrecondition without a master key.
  Result<Value> Seal(const Value& plain, Protection protection, uint32_t prefix_tokens, Scope scope,
                     uint32_t subject_type, std::string_view subject_id);

  // Opens sealed value `stored` of `scope`. Corruption when its body fails
  // authentication. With `ignore_forgotten`, a key marked forgotten but not
  // yet destroyed still opens it (Forget's own clean-up).
  Result<OpenedValue> Open(const Value& stored, Scope scope, bool ignore_forgotten = false) const;

  // Whether stored value `sealed` holds `plain` (to reuse an entity's
  // version): compares tokens for hashed values and plaintext for
  // encrypted ones; false when that cannot be known (erased, no key).
  Result<bool> Holds(const Value& sealed, const Value& plain, Scope scope) const;

  // Whether stored value `v` holds one of `needles` among its tokens (a
  // value whose key is forgotten holds none).
  Result<bool> Matches(const Value& v, const std::vector<std::string>& needles, Scope scope) const;

  // What a reader sees of a stored value: itself if not sealed, else its
  // plaintext, or a hidden value (Hidden) of its kind.
  Result<Value> Show(const Value& stored, Scope scope) const;

  // The tokens a query looks for: `tag` over `bytes` under each master
  // version given (a store may hold tokens of several). FailedPrecondition
  // without a master key.
  Result<std::vector<std::string>> Needles(char tag, std::string_view bytes, Scope scope) const;

  // Whether tokens and ciphertext under `key_id` are dead: a forget record
  // named it, or the key file holds it as forgotten.
  bool Forgotten(std::string_view key_id) const;
  void AddForgotten(const std::string& key_id);

  // An idempotency fingerprint keyed by the newest master key (for events
  // holding protected values, whose plain SHA-256 would let anyone test a
  // guessed value offline).
  Result<std::string> KeyedFingerprint(std::string_view input) const;

 private:
  Result<std::string> Token(uint32_t version, char tag, std::string_view bytes, Scope scope) const;

  std::shared_ptr<const MasterKeys> master_;
  Env* const env_;
  const std::string dir_;
  const bool writable_;
  mutable std::mutex mu_;
  mutable std::unique_ptr<privacy::SubjectKeys> keys_;  // guarded by mu_ until set
  std::set<std::string> forgotten_;                     // guarded by mu_
};

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_PROTECT_H_
