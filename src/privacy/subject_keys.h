// privacy/subject_keys.h — the data keys of an audit store's subjects: the
// file `subject-keys` in the store's directory (docs/privacy.md).
//
// Every subject (an entity) whose protected values were written has a
// live data key — usually one; a writer holding only writer keys makes one
// per run — and each data key is a pair of 32-byte random keys:
//   value key  seals values; wrapped to the master version's public X25519
//              key (an ephemeral key agreement, HKDF, AES-256-GCM), so only
//              a holder of the master secret unwraps it;
//   token key  seals blind tokens; wrapped (AES-256-GCM) by a key derived
//              from the version's index root, which writers hold too, so a
//              writer can read tokens back (to catch its index up) but not
//              values.
// Forgetting a subject overwrites its slots in place with tombstones and
// fsyncs, after which no copy of either key exists in the store; a later
// write for the same subject gets new keys.
//
// Layout: 256-byte slots. Slots 0 and 1 are headers (the newest valid one
// counts): magic "QUIPUSK2", then the session number. Data slots follow:
//
//   0   state u8 (1 live, 2 forgotten), 3 bytes 0
//   4   master key version u32       8   type ordinal u32
//   12  key id [16]                  28  subject hash [32]
//   60  ephemeral public key [32]    92  wrapped value key [48]
//   140 token wrap nonce [12]        152 wrapped token key [48]
//   200 zeros                        252 masked CRC-32C of bytes 0..251
//
// Durability: a new key's slot is appended and synced before any record
// sealed with it is appended, so no acknowledged value names a key a power
// cut lost. A torn last slot (a power cut during that append) is dropped
// at open: no record can name it. A damaged slot elsewhere can only be a
// torn tombstone, written after its forget record was durable; the store
// finishes it (ForgetKeyIds), and any other damage is Corruption naming the
// file and offset.
//
// Nonces: every AES-GCM nonce the store uses (for values and for wrapping)
// is `session u64 ‖ counter u32`, big-endian. The session number is
// increased and synced at every writer open (and when a session's counter
// runs out) before any nonce of it is used, so no nonce repeats under any
// key, whatever crashes happen — unless this file is replaced by an older
// copy (never restore it from a backup onto a store written since).
//
// Errors: a failed write or sync of the file fails every later change to it
// with that error, as a failed fsync poisons the log (quipu/log.h).
//
// Thread safety: all methods may be called concurrently.
#ifndef QUIPU_PRIVACY_SUBJECT_KEYS_H_
#define QUIPU_PRIVACY_SUBJECT_KEYS_H_

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "crypto/secret.h"
#include "privacy/master_keys.h"
#include "quipu/env.h"
#include "quipu/status.h"

namespace quipu::privacy {

inline constexpr size_t kKeyIdSize = 16;
inline constexpr std::string_view kSubjectKeysFile = "subject-keys";

// What the file holds, for `quipu keys status`.
struct KeyUsage {
  std::map<uint32_t, uint64_t> live_by_version;  // master version -> data keys
  uint64_t forgotten = 0;
  uint64_t session = 0;
};

class SubjectKeys {
 public:
  // Opens dir/subject-keys. A writer creates it when missing (synced with
  // its directory) and starts a new session; a reader never writes, and a
  // missing file reads as empty.
  static Result<std::unique_ptr<SubjectKeys>> Open(Env* env, const std::string& dir, bool writable);

  // A data key as this process holds it.
  struct DataKey {
    std::string key_id;
    std::shared_ptr<const crypto::Secret> value_key;  // null: not readable here
    std::shared_ptr<const crypto::Secret> token_key;
  };

  // The live data key of subject (type, id) to seal with: its value key
  // must be known here, so when `master` cannot unwrap the subject's live
  // key (writer keys) and this handle did not make it, a new one is made
  // (appended and synced), wrapped by `master`'s newest version.
  Result<DataKey> KeyFor(const MasterKeysImpl& master, uint32_t type, std::string_view id);

  enum class State { kLive, kForgotten, kUnknown };
  State StateOf(std::string_view key_id) const;
  // The data key `key_id` as `master` can unwrap it (value_key null when it
  // cannot: writer keys). token_key null with *state kForgotten or kUnknown
  // when there is no such live key; an error when unwrapping fails (a
  // master version missing from `master`, damage).
  Result<DataKey> Unwrap(const MasterKeysImpl& master, std::string_view key_id, State* state);

  // The live key ids of subject (type, id): what Forget destroys.
  std::vector<std::string> LiveKeyIds(uint32_t type, std::string_view id) const;
  // Overwrites the slots of `key_ids` (live or damaged) with tombstones and
  // syncs. Ids not in the file are skipped.
  Status ForgetKeyIds(const std::vector<std::string>& key_ids);
  // Key ids of damaged data slots found at open (torn tombstones, unless
  // the store has no forget record for them).
  std::vector<std::string> Damaged() const;
  // Offset of the damaged slot holding `key_id`, for an error message.
  uint64_t DamagedOffset(std::string_view key_id) const;

  // The next nonce of this session (opening a new session when it runs out).
  Result<std::string> NextNonce();

  // Re-wraps every live key not wrapped by `master`'s newest version to it.
  // The file is rewritten whole (a temporary file, synced, renamed over it,
  // the directory synced), so a power cut leaves the old or the new file.
  // Returns the number of keys re-wrapped.
  Result<uint64_t> Rewrap(const MasterKeysImpl& master);

  // Unwraps one live key of each master version that `master` holds, so a
  // wrong key file is refused at open rather than at the first read:
  // FailedPrecondition naming the version that does not fit.
  Status CheckMaster(const MasterKeysImpl& master) const;

  KeyUsage Usage() const;
  const std::string& path() const { return path_; }

 private:
  struct Slot {
    uint8_t state = 0;
    uint32_t version = 0;
    uint32_t type = 0;
    std::string key_id;
    std::string subject;  // hash
    std::string ephemeral;
    std::string value_wrapped;
    std::string token_nonce;
    std::string token_wrapped;
  };

  SubjectKeys(Env* env, std::string dir, bool writable);
  Status Load();
  Status StartSessionLocked();
  Status WriteHeaderLocked(uint64_t session);
  Result<std::string> NextNonceLocked();
  Result<Slot> WrapLocked(const MasterKeysImpl& master, const DataKey& key, uint32_t type,
                          std::string subject);
  Result<DataKey> UnwrapSlot(const MasterKeysImpl& master, const Slot& slot) const;
  // A new data key for (type, subject), appended and synced.
  Result<DataKey> CreateLocked(const MasterKeysImpl& master, uint32_t type, std::string subject);
  void Remember(const DataKey& key);
  // Keeps the first failed write or sync (returns `s`).
  Status Poison(const Status& s);

  Env* const env_;
  const std::string dir_;
  const std::string path_;
  const bool writable_;

  mutable std::mutex mu_;
  std::unique_ptr<WritableFile> file_;  // writers only
  // A failed write or sync: every later change fails with it (a failed
  // fsync cannot be retried safely, and a failed append leaves bytes of
  // unknown extent that later slots would be misplaced behind).
  Status broken_;
  uint64_t session_ = 0;
  uint32_t counter_ = 0;
  std::vector<Slot> slots_;                               // data slots, in file order
  std::unordered_map<std::string, size_t> by_key_id_;     // -> index in slots_
  std::unordered_map<std::string, size_t> live_subject_;  // subject hash -> live slot
  std::map<std::string, uint64_t> damaged_;               // key id -> offset
  // Unwrapped keys, most recently used first, bounded.
  std::list<DataKey> cache_;
  std::unordered_map<std::string, decltype(cache_)::iterator> cached_;
};

}  // namespace quipu::privacy

#endif  // QUIPU_PRIVACY_SUBJECT_KEYS_H_
