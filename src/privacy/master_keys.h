// privacy/master_keys.h — the implementation behind quipu::MasterKeys, and
// the keys derived from each master key version.
//
// A master key version is never used directly. From its 32-byte secret:
//   index root    HKDF(secret, "quipu index root v1"): the root of every
//                 symmetric key, each derived again with a label naming its
//                 use (a field's blind index, idempotency fingerprints,
//                 wrapping token keys), so no key serves two purposes and
//                 the index keys of two fields are unrelated;
//   value keypair an X25519 private key HKDF(secret, "quipu value key
//                 x25519 v1") and its public key: value keys are wrapped to
//                 the public key and unwrapped with the private one.
// A *writer* key file holds, per version, only the index root and the
// public key: enough to seal values, make and match blind tokens and read
// them back — not to decrypt a value it did not write itself.
#ifndef QUIPU_PRIVACY_MASTER_KEYS_H_
#define QUIPU_PRIVACY_MASTER_KEYS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/secret.h"
#include "quipu/keys.h"

namespace quipu::privacy {

// One master key version as held by this process.
struct VersionKeys {
  crypto::Secret index_root;
  crypto::Secret value_private;  // empty in a writer key file
  std::string value_public;
};

class MasterKeysImpl final : public MasterKeys {
 public:
  // `keys` by version, not empty.
  explicit MasterKeysImpl(std::map<uint32_t, VersionKeys> keys);

  std::vector<uint32_t> Versions() const override;
  uint32_t Newest() const override;
  bool CanRead() const override;
  Result<std::string> WriterKeys() const override;
  bool Has(uint32_t version) const { return keys_.count(version) > 0; }
  // Whether values wrapped to `version` can be unwrapped here.
  bool CanUnwrap(uint32_t version) const;

  // The key for `label` derived from the index root of `version` (cached).
  // FailedPrecondition when this set lacks that version.
  Result<std::shared_ptr<const crypto::Secret>> Derived(uint32_t version,
                                                        std::string_view label) const;
  // Version `version`'s value keypair; the private key is null in a writer
  // key file. FailedPrecondition when this set lacks that version.
  Result<std::string_view> ValuePublic(uint32_t version) const;
  const crypto::Secret* ValuePrivate(uint32_t version) const;

 private:
  std::map<uint32_t, VersionKeys> keys_;
  mutable std::mutex mu_;
  mutable std::map<std::pair<uint32_t, std::string>, std::shared_ptr<const crypto::Secret>>
      derived_;  // guarded by mu_
};

// The implementation behind a MasterKeys (there is no other).
inline const MasterKeysImpl& Impl(const MasterKeys& keys) {
  return static_cast<const MasterKeysImpl&>(keys);
}

// Labels of derived keys. kWrapLabel wraps token keys (privacy/subject_keys.h).
inline constexpr std::string_view kWrapLabel = "quipu token key wrap v1";
inline constexpr std::string_view kFingerprintLabel = "quipu idempotency fingerprint v1";
// The blind index key of one field or column: this label, then the scope.
inline constexpr std::string_view kIndexLabel = "quipu blind index v1:";

}  // namespace quipu::privacy

#endif  // QUIPU_PRIVACY_MASTER_KEYS_H_
