// quipu/checkpoint.h — signed checkpoints: Ed25519 signatures over
// (time, tree size, root), and the CHECKPOINTS file that keeps them.
//
// A checkpoint is the store's signed statement "at time T my tree had N
// leaves and root R". Anyone holding the public key can later check that the
// store's current tree still extends it, so rewriting history (even with a
// freshly recomputed Merkle spine) is caught unless the forger also holds the
// private key. docs/integrity.md gives the threat model.
//
// The signed message is this byte string, which any Ed25519 implementation
// can rebuild (CheckpointMessage):
//
//   "quipu checkpoint v1\n" <tree_size> "\n" <root> "\n" <time_us> "\n"
//
// tree_size and time_us in ASCII decimal (time_us may be negative, with a
// leading '-'; no leading zeros, no '+'), root as 64 lowercase hex digits.
// The first line separates quipu checkpoints from anything else the same key
// might sign and versions the layout.
//
// Key files are PEM: the private key is PKCS#8 ("BEGIN PRIVATE KEY"), the
// public key SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"), as `openssl genpkey
// -algorithm ed25519` and `openssl pkey -pubout` write them.
//
// The CHECKPOINTS file at the store root holds one JSON object per line:
//
//   {"time_us":T,"tree_size":N,"root":"<64 hex>","signature":"<128 hex>"}
//
// appended and fsynced. The file is evidence, not a source of truth: a
// missing file means "no checkpoints", and stores without a signing key never
// create it.
//
// Errors: a signature that does not verify, or a checkpoint file line that
// does not parse, is kCorruption. A key file that is not an Ed25519 PEM key is
// kInvalidArgument; a file that cannot be read is the Env's error. OpenSSL
// itself failing (memory exhaustion, a broken install) is kIOError carrying
// OpenSSL's reason; nothing here prints or aborts.
//
// Thread safety: keys are immutable after Load and safe to share between
// threads. Appending to one CHECKPOINTS file needs external synchronization
// (a store's writer lock provides it).
#ifndef QUIPU_CHECKPOINT_H_
#define QUIPU_CHECKPOINT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/env.h"
#include "quipu/merkle.h"
#include "quipu/status.h"

namespace quipu {

struct Checkpoint {
  int64_t time_us = 0;  // microseconds since the Unix epoch, when it was signed
  uint64_t tree_size = 0;
  merkle::Hash root;      // MTH of the first tree_size leaves
  std::string signature;  // 64 raw bytes of Ed25519 over CheckpointMessage(...)

  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

inline constexpr size_t kEd25519SignatureSize = 64;
inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr std::string_view kCheckpointFileName = "CHECKPOINTS";

// The exact bytes a checkpoint's signature covers (see the file comment).
std::string CheckpointMessage(int64_t time_us, uint64_t tree_size, const merkle::Hash& root);

// An Ed25519 public key. Cheap to copy (the key is shared, never mutated).
class VerifyingKey {
 public:
  // Reads a "BEGIN PUBLIC KEY" PEM file through `env`. A symbolic link at
  // `pem_path` is followed (it is the caller's path, not a store file).
  static Result<VerifyingKey> Load(Env* env, const std::string& pem_path);
  // Parses PEM text (as Load reads it).
  static Result<VerifyingKey> FromPem(std::string_view pem);
  // The 32 raw key bytes of RFC 8032.
  static Result<VerifyingKey> FromRaw(std::string_view raw);

  // OK if `signature` is a valid Ed25519 signature of `message` by this key;
  // kCorruption otherwise (including a signature of the wrong length).
  Status Verify(std::string_view message, std::string_view signature) const;

  // The 32 raw key bytes.
  std::string Raw() const;
  // The public key as PEM text ("BEGIN PUBLIC KEY").
  Result<std::string> ToPem() const;

  struct Impl;  // holds the OpenSSL key; public only for keys.cc

 private:
  explicit VerifyingKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend class SigningKey;
};

// An Ed25519 private key. Cheap to copy (the key is shared, never mutated).
class SigningKey {
 public:
  // Reads a "BEGIN PRIVATE KEY" PEM file through `env`; a symbolic link at
  // `pem_path` is followed.
  static Result<SigningKey> Load(Env* env, const std::string& pem_path);
  static Result<SigningKey> FromPem(std::string_view pem);
  // A fresh random key.
  static Result<SigningKey> Generate();

  // The 64-byte Ed25519 signature of `message`. Fails (kIOError) only if
  // OpenSSL does: memory exhaustion or a broken install.
  Result<std::string> Sign(std::string_view message) const;
  VerifyingKey Public() const;
  // The private key as PKCS#8 PEM text ("BEGIN PRIVATE KEY").
  Result<std::string> ToPem() const;

 private:
  SigningKey(std::shared_ptr<const VerifyingKey::Impl> impl, VerifyingKey public_key)
      : impl_(std::move(impl)), public_(std::move(public_key)) {}
  // Pairs a private key with its public half, made once here.
  static Result<SigningKey> WithPublicHalf(std::shared_ptr<const VerifyingKey::Impl> impl);

  std::shared_ptr<const VerifyingKey::Impl> impl_;
  VerifyingKey public_;
};

// Generates a new key pair and writes `private_path` (mode 0600) and
// `private_path + ".pub"` (mode 0644), each fsynced, and syncs their
// directory. Refuses (kInvalidArgument) to overwrite either file: losing a
// private key silently would orphan every checkpoint it signed.
Status GenerateKeyPair(const std::string& private_path);

// Signs (time_us, tree_size, root). Fails only if the key cannot sign.
Result<Checkpoint> SignCheckpoint(const SigningKey& key, int64_t time_us, uint64_t tree_size,
                                  const merkle::Hash& root);

// OK if `cp.signature` is `key`'s signature over cp's fields; kCorruption
// otherwise, with a message naming the tree size.
Status VerifyCheckpoint(const VerifyingKey& key, const Checkpoint& cp);

// The one-line JSON form (see the file comment), without a newline.
std::string CheckpointToJson(const Checkpoint& cp);

// Parses the JSON object CheckpointToJson writes. Strict: exactly the four
// fields (in any order, each once), integers in plain decimal, hex of the
// right length; surrounding whitespace is allowed. kCorruption otherwise.
Result<Checkpoint> CheckpointFromJson(std::string_view line);

// Appends `cp` as one line to DIR/CHECKPOINTS and fsyncs it; when the call
// creates the file it also syncs DIR so the file survives a power loss.
Status AppendCheckpoint(Env* env, const std::string& dir, const Checkpoint& cp);

// What DIR/CHECKPOINTS holds.
struct CheckpointFile {
  std::vector<Checkpoint> checkpoints;  // every complete line, oldest first
  // Bytes after the last newline: a torn append (a crash before
  // AppendCheckpoint returned), which AppendCheckpoint cuts before writing.
  // Empty if the file ends with a newline.
  std::string torn_line;
};

// Reads DIR/CHECKPOINTS; a missing file holds nothing. A malformed complete
// line is kCorruption naming the file and the line number (1-based).
Result<CheckpointFile> ReadCheckpointFile(Env* env, const std::string& dir);

// ReadCheckpointFile's complete lines only: what a writer builds on.
// Verifiers must look at the torn line too (VerifyIntegrity does): it may
// hold a whole signed checkpoint whose newline alone was cut off.
Result<std::vector<Checkpoint>> ReadCheckpoints(Env* env, const std::string& dir);

}  // namespace quipu

#endif  // QUIPU_CHECKPOINT_H_
