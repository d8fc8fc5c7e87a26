// quipu verify-proof: checks a proof printed by `prove --json` or
// `consistency --json` against a root the user trusts, offline, with no
// store at all — only the RFC 9162 verifiers in quipu/merkle.h. With
// --export it checks every line of an export instead (cli/verify_export.h),
// which also reads each proven record with AuditRecordReader.
//
// The proof file's own "root" fields are the prover's claims, so never the
// trust anchor: the trusted root comes from --root / --old-root, or from a
// signed checkpoint (--checkpoint FILE --public-key PUB), which also fixes the
// tree size the root belongs to.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/common.h"
#include "cli/verbs.h"
#include "cli/verify_export.h"
#include "quipu/checkpoint.h"
#include "quipu/env.h"
#include "quipu/merkle.h"

namespace quipu::cli {

namespace {

using nlohmann::json;

struct VerifyProofFlags {
  std::string proof_file;
  std::string export_file;
  std::string root;      // inclusion: trusted root
  std::string old_root;  // consistency: trusted old root
  std::string new_root;  // consistency: the new root the caller expects (optional)
  std::string checkpoint_file;
  std::string public_key;
  std::string leaf_data_file;
  std::string leaf_hash;
  uint64_t size = 0;
  CLI::Option* size_flag = nullptr;
};

Result<std::string> ReadInput(const std::string& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  text << in.rdbuf();
  return text.str();
}

Result<merkle::Hash> HashFlag(std::string_view name, const std::string& hex) {
  Result<merkle::Hash> h = merkle::Hash::FromHex(hex);
  if (!h.ok()) return h.status().WithContext(name);
  return h;
}

// The proof's JSON fields, checked for type; a bad field is InvalidArgument.
Result<uint64_t> SizeField(const json& j, const char* name) {
  if (!j.contains(name) || !j[name].is_number_unsigned()) {
    return Status::InvalidArgument(std::string("proof: \"") + name +
                                   "\" must be an unsigned integer");
  }
  return j[name].get<uint64_t>();
}

Result<merkle::Hash> HashField(const json& j, const char* name) {
  if (!j.contains(name) || !j[name].is_string()) {
    return Status::InvalidArgument(std::string("proof: \"") + name + "\" must be a hex string");
  }
  return HashFlag(std::string("proof: ") + name, j[name].get<std::string>());
}

Result<std::vector<merkle::Hash>> HashListField(const json& j, const char* name) {
  if (!j.contains(name) || !j[name].is_array()) {
    return Status::InvalidArgument(std::string("proof: \"") + name + "\" must be an array");
  }
  std::vector<merkle::Hash> out;
  for (const json& item : j[name]) {
    if (!item.is_string()) return Status::InvalidArgument("proof: path entries must be strings");
    Result<merkle::Hash> h = HashFlag(std::string("proof: ") + name, item.get<std::string>());
    if (!h.ok()) return h.status();
    out.push_back(*h);
  }
  return out;
}

// The checkpoint at `size` from a file of checkpoint lines (one anchored
// line, or a whole CHECKPOINTS file), after checking its signature.
Result<Trusted> TrustedFromCheckpoint(const VerifyProofFlags& flags, uint64_t size) {
  if (flags.public_key.empty()) {
    return Status::InvalidArgument("--checkpoint needs --public-key to check its signature");
  }
  Result<VerifyingKey> key = VerifyingKey::Load(Env::Default(), flags.public_key);
  if (!key.ok()) return key.status();
  Result<std::string> text = ReadInput(flags.checkpoint_file);
  if (!text.ok()) return text.status();
  std::istringstream lines(*text);
  std::string sizes;
  for (std::string line; std::getline(lines, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Result<Checkpoint> cp = CheckpointFromJson(line);
    if (!cp.ok()) return cp.status().WithContext(flags.checkpoint_file);
    if (cp->tree_size != size) {
      sizes += (sizes.empty() ? "" : ", ") + std::to_string(cp->tree_size);
      continue;
    }
    QUIPU_RETURN_IF_ERROR(VerifyCheckpoint(*key, *cp));
    return Trusted{cp->root, cp->tree_size,
                   "signed checkpoint (time_us " + std::to_string(cp->time_us) + ")"};
  }
  return Status::NotFound("no checkpoint at tree size " + std::to_string(size) + " in " +
                          flags.checkpoint_file + " (it has: " + (sizes.empty() ? "none" : sizes) +
                          ")");
}

// The trusted root for a tree of `size` leaves: from `root_flag` (named
// `flag_name`) or a checkpoint, exactly one of the two.
Result<Trusted> TrustedRoot(const VerifyProofFlags& flags, const std::string& root_flag,
                            const char* flag_name, uint64_t size) {
  bool have_flag = !root_flag.empty(), have_cp = !flags.checkpoint_file.empty();
  if (have_flag == have_cp) {
    return Status::InvalidArgument(std::string("give the trusted root: ") + flag_name +
                                   " HEX or --checkpoint FILE --public-key PUB (one of them)");
  }
  if (have_cp) return TrustedFromCheckpoint(flags, size);
  Result<merkle::Hash> root = HashFlag(flag_name, root_flag);
  if (!root.ok()) return root.status();
  return Trusted{*root, std::nullopt, flag_name};
}

// The leaf hash to prove: from --leaf-data or --leaf-hash; else the proof's
// claim, which then must be tied to a record some other way.
Result<merkle::Hash> LeafToProve(const VerifyProofFlags& flags, const merkle::Hash& claimed,
                                 std::string* note) {
  if (!flags.leaf_data_file.empty()) {
    Result<std::string> data = ReadInput(flags.leaf_data_file);
    if (!data.ok()) return data.status();
    return merkle::LeafHash(*data);
  }
  if (!flags.leaf_hash.empty()) return HashFlag("--leaf-hash", flags.leaf_hash);
  *note =
      "note: leaf hash taken from the proof; pass --leaf-data or --leaf-hash to tie it to a "
      "record\n";
  return claimed;
}

Status VerifyInclusionProof(const VerifyProofFlags& flags, const json& j) {
  if (!flags.old_root.empty() || !flags.new_root.empty()) {
    return Status::InvalidArgument("--old-root/--new-root are for consistency proofs; use --root");
  }
  Result<uint64_t> index = SizeField(j, "leaf_index");
  Result<uint64_t> size = SizeField(j, "tree_size");
  Result<merkle::Hash> claimed_leaf = HashField(j, "leaf_hash");
  Result<std::vector<merkle::Hash>> path = HashListField(j, "path");
  for (const Status& s : {index.status(), size.status(), claimed_leaf.status(), path.status()}) {
    QUIPU_RETURN_IF_ERROR(s);
  }
  if (flags.size_flag->count() > 0 && flags.size != *size) {
    return Status::Corruption("the proof is for tree size " + std::to_string(*size) +
                              ", not --size " + std::to_string(flags.size));
  }
  Result<Trusted> trusted = TrustedRoot(flags, flags.root, "--root", *size);
  if (!trusted.ok()) return trusted.status();
  std::string note;
  Result<merkle::Hash> leaf = LeafToProve(flags, *claimed_leaf, &note);
  if (!leaf.ok()) return leaf.status();
  QUIPU_RETURN_IF_ERROR(merkle::VerifyInclusion(*leaf, *index, *size, *path, trusted->root));
  std::string text = "OK: leaf " + leaf->ToHex() + " is record " + std::to_string(*index + 1) +
                     " (leaf index " + std::to_string(*index) + ") of the tree of size " +
                     std::to_string(*size) + "\n  root " + trusted->root.ToHex() + " from " +
                     trusted->source + "\n" + note;
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(text));
  return out.Flush();
}

Status VerifyConsistencyProof(const VerifyProofFlags& flags, const json& j) {
  if (!flags.root.empty() || !flags.leaf_data_file.empty() || !flags.leaf_hash.empty() ||
      flags.size_flag->count() > 0) {
    return Status::InvalidArgument(
        "--root, --size and --leaf-* are for inclusion proofs; use --old-root [--new-root]");
  }
  Result<uint64_t> old_size = SizeField(j, "old_size");
  Result<uint64_t> new_size = SizeField(j, "new_size");
  Result<merkle::Hash> claimed_new = HashField(j, "new_root");
  Result<std::vector<merkle::Hash>> proof = HashListField(j, "proof");
  for (const Status& s :
       {old_size.status(), new_size.status(), claimed_new.status(), proof.status()}) {
    QUIPU_RETURN_IF_ERROR(s);
  }
  Result<Trusted> trusted = TrustedRoot(flags, flags.old_root, "--old-root", *old_size);
  if (!trusted.ok()) return trusted.status();
  merkle::Hash new_root = *claimed_new;
  if (!flags.new_root.empty()) {
    Result<merkle::Hash> expected = HashFlag("--new-root", flags.new_root);
    if (!expected.ok()) return expected.status();
    new_root = *expected;
  }
  QUIPU_RETURN_IF_ERROR(
      merkle::VerifyConsistency(*old_size, *new_size, trusted->root, new_root, *proof));
  std::string text = "OK: the tree of size " + std::to_string(*new_size) + " with root " +
                     new_root.ToHex() + "\n  extends the tree of size " +
                     std::to_string(*old_size) + " with root " + trusted->root.ToHex() + " from " +
                     trusted->source + "\n";
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(text));
  return out.Flush();
}

Status VerifyExportFile(const VerifyProofFlags& flags) {
  if (!flags.old_root.empty() || !flags.new_root.empty() || !flags.leaf_data_file.empty() ||
      !flags.leaf_hash.empty() || flags.size_flag->count() > 0) {
    return Status::InvalidArgument(
        "--export takes the trusted root only: --root HEX or --checkpoint FILE --public-key PUB");
  }
  Result<std::string> report = VerifyExport(flags.export_file, [&](uint64_t size) {
    return TrustedRoot(flags, flags.root, "--root", size);
  });
  if (!report.ok()) return report.status();
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(*report));
  return out.Flush();
}

Status VerifyProof(const VerifyProofFlags& flags) {
  QUIPU_RETURN_IF_ERROR(merkle::CheckSha256());
  if (!flags.export_file.empty()) return VerifyExportFile(flags);
  Result<std::string> text = ReadInput(flags.proof_file);
  if (!text.ok()) return text.status();
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument(flags.proof_file + " is not a JSON object");
  }
  if (j.contains("leaf_index")) return VerifyInclusionProof(flags, j);
  if (j.contains("old_size")) return VerifyConsistencyProof(flags, j);
  return Status::InvalidArgument(flags.proof_file +
                                 " is neither an inclusion proof (`prove --json`) nor a "
                                 "consistency proof (`consistency --json`)");
}

}  // namespace

void RegisterVerifyProof(CLI::App& app) {
  auto flags = std::make_shared<VerifyProofFlags>();
  CLI::App* verb = app.add_subcommand(
      "verify-proof",
      "Check a proof from `prove --json` or `consistency --json`, or an export made with "
      "`export --with-proofs`, against a root you trust, without the store. Exit 0 iff it "
      "verifies.");
  // Exactly one of the two: without either, a usage error.
  CLI::Option_group* what = verb->add_option_group("what to check");
  what->add_option("--proof", flags->proof_file, "the proof's JSON file ('-' for stdin)");
  what->add_option("--export", flags->export_file,
                   "an export made with --with-proofs ('-' for stdin), every line checked");
  what->require_option(1);
  verb->add_option("--root", flags->root, "inclusion or export: the trusted root (64 hex)");
  flags->size_flag =
      verb->add_option("--size", flags->size, "inclusion: the tree size --root belongs to")
          ->check(Unsigned());
  CLI::Option* data = verb->add_option("--leaf-data", flags->leaf_data_file,
                                       "inclusion: file holding the record's exact payload bytes");
  verb->add_option("--leaf-hash", flags->leaf_hash, "inclusion: the record's leaf hash (64 hex)")
      ->excludes(data);
  verb->add_option("--old-root", flags->old_root, "consistency: the trusted older root");
  verb->add_option("--new-root", flags->new_root,
                   "consistency: the newer root you expect (default: the proof's)");
  CLI::Option* cp =
      verb->add_option("--checkpoint", flags->checkpoint_file,
                       "take the trusted (size, root) from the signed checkpoint of the proof's "
                       "(old) size in FILE: an anchored JSON line or a CHECKPOINTS file");
  cp->excludes(verb->get_option("--root"))->excludes(verb->get_option("--old-root"));
  verb->add_option("--public-key", flags->public_key, "public key (PEM) to check --checkpoint");
  SetAction(verb, [flags] { return VerifyProof(*flags); });
}

}  // namespace quipu::cli
