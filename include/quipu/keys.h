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
// '#' and blank lines are ignored.
//
// A *writer* key file (`quipu keys writer`) holds instead, per version,
//
//   quipu-writer-key <version> <64 hex: index root> <64 hex: public value key>
//
// which lets a process seal protected values, index and match them, and
// catch its index up — but not read a protected value back unless it
// sealed it itself in this run: the shape for a server that must not read
// what it stores (docs/privacy.md, "Write-only writers"). Key material appears in no error, log
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
  // False for writer keys (below): values can be sealed and matched, but
  // only those this process sealed can be read back.
  virtual bool CanRead() const = 0;
  // The text of a writer key file for these keys: per version, the index
  // root and the public value key (`quipu keys writer`).
  virtual Result<std::string> WriterKeys() const = 0;
};

// Writes the writer key file of the master key file `master_path` to
// `writer_path` (mode 0600, O_EXCL, fsynced with its directory).
Status CreateWriterKeyFile(const std::string& master_path, const std::string& writer_path);

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
