// integrity/checkpoint.cc — the signed checkpoint message, its one-line JSON
// form, and the CHECKPOINTS file.
//
// The JSON is written and parsed here by hand: the library must not depend on
// a JSON library, and the grammar is four fixed fields. The parser is strict
// on purpose — a checkpoint file is evidence, and "almost parses" would let
// an edit pass as noise instead of being reported.
#include "quipu/checkpoint.h"

#include <charconv>
#include <string>
#include <utility>

#include "util/hex.h"

namespace quipu {

namespace {

constexpr std::string_view kMessageHeader = "quipu checkpoint v1\n";

// A cursor over one JSON object of the shape CheckpointToJson writes. Every
// method returns false on the first byte it does not expect; the caller turns
// that into one Corruption naming the field.
class JsonCursor {
 public:
  explicit JsonCursor(std::string_view text) : s_(text) {}

  void SkipSpace() {
    while (pos_ < s_.size() &&
           std::string_view(" \t\r\n").find(s_[pos_]) != std::string_view::npos) {
      pos_++;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ >= s_.size() || s_[pos_] != c) return false;
    pos_++;
    return true;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == s_.size();
  }
  // A string without escapes (none of our fields needs one).
  bool String(std::string_view* out) {
    if (!Consume('"')) return false;
    size_t end = s_.find('"', pos_);
    if (end == std::string_view::npos) return false;
    *out = s_.substr(pos_, end - pos_);
    if (out->find('\\') != std::string_view::npos) return false;
    pos_ = end + 1;
    return true;
  }
  // A JSON integer: optional '-', then "0" or digits without a leading zero.
  template <typename Int>
  bool Integer(Int* out) {
    SkipSpace();
    size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') pos_++;
    size_t digits = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') pos_++;
    if (pos_ == digits || (s_[digits] == '0' && pos_ - digits > 1)) return false;
    auto [end, ec] = std::from_chars(s_.data() + start, s_.data() + pos_, *out);
    return ec == std::errc() && end == s_.data() + pos_;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

Result<std::string> DecodeHex(std::string_view hex, size_t bytes, std::string_view field) {
  if (hex.size() != 2 * bytes) {
    return Status::Corruption(std::string(field) + " must be " + std::to_string(2 * bytes) +
                              " hex digits");
  }
  std::string out;
  if (!HexDecode(hex, &out)) return Status::Corruption(std::string(field) + " is not hex");
  return out;
}

// Parses one "name": value member into *cp, marking it in *seen.
Status ParseMember(JsonCursor* in, Checkpoint* cp, unsigned* seen) {
  std::string_view name, text;
  if (!in->String(&name) || !in->Consume(':')) return Status::Corruption("expected \"name\":");
  unsigned bit = 0;
  bool ok = false;
  if (name == "time_us") {
    bit = 1;
    ok = in->Integer(&cp->time_us);
  } else if (name == "tree_size") {
    bit = 2;
    ok = in->Integer(&cp->tree_size);
  } else if (name == "root" || name == "signature") {
    bit = name == "root" ? 4 : 8;
    ok = in->String(&text);
  } else {
    return Status::Corruption("unknown field \"" + std::string(name) + "\"");
  }
  if (!ok) return Status::Corruption("bad value for \"" + std::string(name) + "\"");
  if (*seen & bit) return Status::Corruption("duplicate field \"" + std::string(name) + "\"");
  *seen |= bit;
  if (bit == 4) {
    Result<std::string> raw = DecodeHex(text, merkle::Hash::kSize, "root");
    if (!raw.ok()) return raw.status();
    cp->root = *merkle::Hash::FromBytes(*raw);
  } else if (bit == 8) {
    Result<std::string> raw = DecodeHex(text, kEd25519SignatureSize, "signature");
    if (!raw.ok()) return raw.status();
    cp->signature = std::move(*raw);
  }
  return Status::OK();
}

std::string CheckpointPath(const std::string& dir) {
  return dir + "/" + std::string(kCheckpointFileName);
}

Result<std::string> ReadAll(Env* env, const std::string& path) {
  Result<std::unique_ptr<RandomAccessFile>> file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  Result<uint64_t> size = (*file)->Size();
  if (!size.ok()) return size.status();
  std::string text;
  QUIPU_RETURN_IF_ERROR((*file)->Read(0, static_cast<size_t>(*size), &text));
  return text;
}

// Opens an existing CHECKPOINTS for appending. A final line without its
// newline is an append a crash interrupted before its fsync returned (so no
// caller was told it was durable); it is cut so the next line starts clean.
Result<std::unique_ptr<WritableFile>> ReopenForAppend(Env* env, const std::string& path) {
  Result<std::string> text = ReadAll(env, path);
  if (!text.ok()) return text.status();
  Result<std::unique_ptr<WritableFile>> file = env->ReopenWritableFile(path);
  if (!file.ok() || text->empty() || text->back() == '\n') return file;
  size_t keep = text->find_last_of('\n');
  keep = keep == std::string::npos ? 0 : keep + 1;
  QUIPU_RETURN_IF_ERROR((*file)->Truncate(keep));
  return file;
}

}  // namespace

std::string CheckpointMessage(int64_t time_us, uint64_t tree_size, const merkle::Hash& root) {
  std::string msg(kMessageHeader);
  msg += std::to_string(tree_size) + "\n";
  msg += root.ToHex() + "\n";
  msg += std::to_string(time_us) + "\n";
  return msg;
}

Result<Checkpoint> SignCheckpoint(const SigningKey& key, int64_t time_us, uint64_t tree_size,
                                  const merkle::Hash& root) {
  Result<std::string> signature = key.Sign(CheckpointMessage(time_us, tree_size, root));
  if (!signature.ok()) return signature.status();
  Checkpoint cp;
  cp.time_us = time_us;
  cp.tree_size = tree_size;
  cp.root = root;
  cp.signature = std::move(*signature);
  return cp;
}

Status VerifyCheckpoint(const VerifyingKey& key, const Checkpoint& cp) {
  Status s = key.Verify(CheckpointMessage(cp.time_us, cp.tree_size, cp.root), cp.signature);
  if (s.ok()) return s;
  return Status::Corruption("checkpoint at tree size " + std::to_string(cp.tree_size) +
                            ": signature does not verify with this public key");
}

std::string CheckpointToJson(const Checkpoint& cp) {
  return "{\"time_us\":" + std::to_string(cp.time_us) +
         ",\"tree_size\":" + std::to_string(cp.tree_size) + ",\"root\":\"" + cp.root.ToHex() +
         "\",\"signature\":\"" + HexEncode(cp.signature) + "\"}";
}

Result<Checkpoint> CheckpointFromJson(std::string_view line) {
  JsonCursor in(line);
  Checkpoint cp;
  unsigned seen = 0;
  if (!in.Consume('{')) return Status::Corruption("checkpoint is not a JSON object");
  do {
    QUIPU_RETURN_IF_ERROR(ParseMember(&in, &cp, &seen));
  } while (in.Consume(','));
  if (!in.Consume('}') || !in.AtEnd()) return Status::Corruption("checkpoint: expected '}'");
  if (seen != 15) {
    return Status::Corruption(
        "checkpoint needs time_us, tree_size, root and signature, each exactly once");
  }
  return cp;
}

Status AppendCheckpoint(Env* env, const std::string& dir, const Checkpoint& cp) {
  const std::string path = CheckpointPath(dir);
  Result<bool> exists = env->FileExists(path);
  if (!exists.ok()) return exists.status();
  Result<std::unique_ptr<WritableFile>> file =
      *exists ? ReopenForAppend(env, path) : env->NewWritableFile(path);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(CheckpointToJson(cp) + "\n");
  if (s.ok()) s = (*file)->Sync();
  Status closed = (*file)->Close();
  if (s.ok()) s = closed;
  // A new file is not durably findable until its directory entry is synced.
  if (s.ok() && !*exists) s = env->SyncDir(dir);
  return s;
}

Result<CheckpointFile> ReadCheckpointFile(Env* env, const std::string& dir) {
  const std::string path = CheckpointPath(dir);
  Result<bool> exists = env->FileExists(path);
  if (!exists.ok()) return exists.status();
  CheckpointFile out;
  if (!*exists) return out;
  Result<std::string> text = ReadAll(env, path);
  if (!text.ok()) return text.status();
  std::string_view rest = *text;
  for (uint64_t line_no = 1;; line_no++) {
    size_t nl = rest.find('\n');
    // No newline: a torn final append (see ReopenForAppend).
    if (nl == std::string_view::npos) {
      out.torn_line = std::string(rest);
      break;
    }
    Result<Checkpoint> cp = CheckpointFromJson(rest.substr(0, nl));
    if (!cp.ok()) {
      return Status::Corruption(path + " line " + std::to_string(line_no) + ": " +
                                cp.status().message());
    }
    out.checkpoints.push_back(std::move(*cp));
    rest.remove_prefix(nl + 1);
  }
  return out;
}

Result<std::vector<Checkpoint>> ReadCheckpoints(Env* env, const std::string& dir) {
  auto file = ReadCheckpointFile(env, dir);
  if (!file.ok()) return file.status();
  return std::move(file->checkpoints);
}

}  // namespace quipu
