// privacy/master_keys.h — the implementation behind quipu::MasterKeys, and
// the keys derived from each master key version.
//
// A master key is never used directly: each use gets its own key derived by
// HKDF-SHA-256 with a label naming the use (wrapping data keys, the blind
// index of one field, idempotency fingerprints), so that no key serves two
// purposes and the index keys of two fields are unrelated.
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

class MasterKeysImpl final : public MasterKeys {
 public:
  // `keys` by version, not empty.
  explicit MasterKeysImpl(std::map<uint32_t, crypto::Secret> keys);

  std::vector<uint32_t> Versions() const override;
  uint32_t Newest() const override;
  bool Has(uint32_t version) const { return keys_.count(version) > 0; }

  // The key for `label` derived from master key `version` (cached).
  // FailedPrecondition when this set lacks that version.
  Result<std::shared_ptr<const crypto::Secret>> Derived(uint32_t version,
                                                        std::string_view label) const;

 private:
  std::map<uint32_t, crypto::Secret> keys_;
  mutable std::mutex mu_;
  mutable std::map<std::pair<uint32_t, std::string>, std::shared_ptr<const crypto::Secret>>
      derived_;  // guarded by mu_
};

// The implementation behind a MasterKeys (there is no other).
inline const MasterKeysImpl& Impl(const MasterKeys& keys) {
  return static_cast<const MasterKeysImpl&>(keys);
}

// Labels of derived keys.
inline constexpr std::string_view kWrapLabel = "quipu data key wrap v1";
inline constexpr std::string_view kFingerprintLabel = "quipu idempotency fingerprint v1";
// The blind index key of one field or column: this label, then the scope.
inline constexpr std::string_view kIndexLabel = "quipu blind index v1:";

}  // namespace quipu::privacy

#endif  // QUIPU_PRIVACY_MASTER_KEYS_H_
