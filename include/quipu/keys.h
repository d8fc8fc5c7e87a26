// quipu/keys.h — the master keys that protect an audit store's fields.
//
// Protected fields (quipu/audit_types.h, Protection) are sealed with a data
// key per subject; data keys are kept wrapped by a master key, and blind
// index tokens are keyed by a key derived from it (docs/privacy.md). The
// master keys never enter the store's directory: the caller supplies them,
// from a key file or from a command that prints one (a KMS or secret
// manager's client), through AuditOptions::keys.
//
// A key file is text, one key per line, oldest first:
//
//   quipu-master-key <version> <64 hex digits: 32 random bytes>
//
// Versions are positive and ascending; new data keys are wrapped by the
// newest, and `quipu keys rotate` re-wraps older ones. Lines starting with
// '#' and blank lines are ignored. Key material appears in no error, log
// line or metric, and the in-memory copies are kept out of core dumps and
// zeroed when released.
#ifndef QUIPU_KEYS_H_
#define QUIPU_KEYS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/status.h"

namespace quipu {

class MasterKeys {
 public:
  virtual ~MasterKeys() = default;

  // Parses a key file's text. InvalidArgument (naming the line, never its
  // key) for a malformed line, a repeated or descending version, or no key.
  static Result<std::shared_ptr<const MasterKeys>> Parse(std::string_view text);
  // Reads a key file. FailedPrecondition when group or others may read
  // it; IOError for a symbolic link.
  static Result<std::shared_ptr<const MasterKeys>> FromFile(const std::string& path);
  // Runs `command` with /bin/sh -c and parses what it prints; IOError when
  // it exits non-zero. Its standard error passes through.
  static Result<std::shared_ptr<const MasterKeys>> FromCommand(const std::string& command);

  // Ascending, never empty.
  virtual std::vector<uint32_t> Versions() const = 0;
  virtual uint32_t Newest() const = 0;
};

// Creates a key file holding one fresh key, version 1: created with mode
// 0600 and O_EXCL (no moment when another user could open it), written and
// fsynced with its directory. FailedPrecondition if `path` exists.
Status CreateMasterKeyFile(const std::string& path);

// Adds a fresh key with the next version to the key file at `path`
// (replacing it atomically, mode 0600) and returns that version. Data keys
// are re-wrapped to it by AuditStore::RewrapKeys (`quipu keys rotate`).
Result<uint32_t> AddMasterKeyVersion(const std::string& path);

// Removes version `version` from the key file (atomically). Only do this
// once `quipu keys status` says no data key uses it: data keys wrapped by a
// removed version can no longer be read. FailedPrecondition for the newest
// version.
Status RetireMasterKeyVersion(const std::string& path, uint32_t version);

}  // namespace quipu

#endif  // QUIPU_KEYS_H_
