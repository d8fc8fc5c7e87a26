// integrity/verify_integrity.cc — the offline check of a log against its
// spine and checkpoints.
//
// One sequential pass: every record is rehashed and fed to a TreeBuilder,
// whose completed subtrees come out in post-order, which is exactly the order
// of the spine's nodes. So the spine is read sequentially in large chunks
// alongside the log, and each node compared as it is recomputed: a leaf that
// differs points at the record, an interior node that differs (its leaves
// having matched) at the spine itself. Checkpoint roots are compared with
// the builder's root when the pass reaches their size, i.e. against the
// records, not against the spine a forger could have recomputed.
#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include "integrity/spine.h"
#include "log/segment_scan.h"
#include "quipu/checkpoint.h"
#include "quipu/env.h"
#include "quipu/inspect.h"
#include "quipu/tree.h"

namespace quipu {
namespace {

constexpr uint64_t kProgressEvery = 4096;  // records between progress calls
constexpr uint64_t kChunkNodes = 32768;    // 1 MiB of spine per read

// Reads spine nodes in post-order position order.
class NodeStream {
 public:
  explicit NodeStream(const RandomAccessFile* file) : file_(file) {}

  Result<merkle::Hash> At(uint64_t k) {
    if (k < start_ || k >= start_ + chunk_.size() / spine::kNodeSize) {
      start_ = k;
      QUIPU_RETURN_IF_ERROR(file_->Read(spine::kHeaderSize + k * spine::kNodeSize,
                                        kChunkNodes * spine::kNodeSize, &chunk_));
      if (chunk_.size() < spine::kNodeSize) {
        return Status::Corruption(std::string(kSpineFileName) + ": node " + std::to_string(k) +
                                  " is past the end of the file");
      }
    }
    const size_t at = (k - start_) * spine::kNodeSize;
    return merkle::Hash::FromBytes(std::string_view(chunk_).substr(at, spine::kNodeSize));
  }

 private:
  const RandomAccessFile* file_;
  uint64_t start_ = 0;
  std::string chunk_;
};

// Where a record is, for messages: "LSN 7 (00000000000000000001.qlog at
// offset 4096)".
std::string Where(Lsn lsn, const std::string& segment, uint64_t offset) {
  return "LSN " + std::to_string(lsn) + " (" + segment + " at offset " + std::to_string(offset) +
         ")";
}

class Verifier {
 public:
  Verifier(const std::string& dir, const VerifyOptions& options)
      : dir_(dir), options_(options), env_(options.env ? options.env : Env::Default()) {}

  Result<VerifyReport> Run() {
    // The segments first: a directory that is no log says so before anything else.
    QUIPU_RETURN_IF_ERROR(MeasureSegments());
    QUIPU_RETURN_IF_ERROR(LoadCheckpoints());
    QUIPU_RETURN_IF_ERROR(OpenSpine());
    QUIPU_RETURN_IF_ERROR(CheckCheckpointsAt(0));
    QUIPU_RETURN_IF_ERROR(CheckPurgedPrefix());
    QUIPU_RETURN_IF_ERROR(Scan());
    QUIPU_RETURN_IF_ERROR(CheckEnd());
    report_.root = builder_.Root();
    report_.checkpoints = checkpoints_.size();
    progress_.bytes_done = progress_.bytes_total;
    Progress();
    return report_;
  }

 private:
  Status LoadCheckpoints();
  Status OpenSpine();
  Status MeasureSegments();
  // The records a purge removed have only their leaves in the spine: the
  // tree over them is rebuilt from those, each interior node checked.
  Status CheckPurgedPrefix();
  Status Scan();
  Status CheckRecord(const LogReader& reader);
  Status CheckNode(const merkle::Subtree& node, const LogReader& reader);
  // Compares every checkpoint of tree size `size` with the builder's root.
  Status CheckCheckpointsAt(uint64_t size);
  Status CheckEnd();
  void Progress();

  const std::string dir_;
  const VerifyOptions& options_;
  Env* const env_;
  VerifyReport report_;
  std::vector<Checkpoint> checkpoints_;
  std::multimap<uint64_t, size_t> by_size_;  // tree_size -> line index
  std::unique_ptr<RandomAccessFile> spine_file_;
  std::unique_ptr<NodeStream> nodes_;
  std::map<std::string, uint64_t> segment_start_;  // bytes of all earlier segments
  std::string segment_;                            // of the last record read
  uint64_t record_offset_ = 0;                     // of the last record read
  uint64_t end_offset_ = 0;                        // just past it
  merkle::TreeBuilder builder_;
  std::vector<merkle::Subtree> completed_;
  VerifyProgress progress_;
};

Status Verifier::LoadCheckpoints() {
  auto file = ReadCheckpointFile(env_, dir_);
  if (!file.ok()) return file.status();
  checkpoints_ = std::move(file->checkpoints);
  // A last line whose newline alone was cut may still be a whole signed
  // checkpoint: hiding it that way must not hide it from the check.
  report_.torn_checkpoint_line = !file->torn_line.empty();
  if (report_.torn_checkpoint_line) {
    auto torn = CheckpointFromJson(file->torn_line);
    if (torn.ok()) {
      checkpoints_.push_back(std::move(*torn));
      report_.torn_checkpoint_checked = true;
    }
  }
  std::optional<VerifyingKey> key;
  if (options_.public_key_path) {
    auto loaded = VerifyingKey::Load(env_, *options_.public_key_path);
    if (!loaded.ok()) return loaded.status();
    key = std::move(*loaded);
    report_.signatures_checked = true;
  }
  if (key && checkpoints_.empty()) {
    return Status::FailedPrecondition(
        "a public key was given but " + std::string(kCheckpointFileName) +
        " holds no signed checkpoint: nothing could be checked against the key");
  }
  for (size_t i = 0; i < checkpoints_.size(); ++i) {
    const std::string line = std::string(kCheckpointFileName) + " line " + std::to_string(i + 1);
    if (key) QUIPU_RETURN_IF_ERROR(VerifyCheckpoint(*key, checkpoints_[i]).WithContext(line));
    by_size_.emplace(checkpoints_[i].tree_size, i);
    report_.checkpoint_size = std::max(report_.checkpoint_size, checkpoints_[i].tree_size);
  }
  return Status::OK();
}

Status Verifier::OpenSpine() {
  const std::string path = spine::SpinePath(dir_);
  auto exists = env_->FileExists(path);
  if (!exists.ok()) return exists.status();
  if (!*exists) return Status::OK();
  auto file = env_->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  spine_file_ = std::move(*file);
  auto snapshot = spine::ReadSnapshot(*spine_file_, std::string(kSpineFileName));
  if (!snapshot.ok()) return snapshot.status();
  report_.spine_leaves = snapshot->leaves;
  report_.spine_synced = snapshot->header.synced_leaves;
  if (report_.spine_synced > report_.spine_leaves) {
    return Status::Corruption(
        std::string(kSpineFileName) + ": the header says " + std::to_string(report_.spine_synced) +
        " leaves were synced but the file holds only " + std::to_string(report_.spine_leaves));
  }
  nodes_ = std::make_unique<NodeStream>(spine_file_.get());
  return Status::OK();
}

Status Verifier::MeasureSegments() {
  auto segments = ListLogSegments(env_, dir_);
  if (!segments.ok()) return segments.status();
  auto pending = FindPendingSegment(env_, dir_, *segments);
  if (!pending.ok()) return pending.status();
  if (pending->has_value()) segments->push_back(**pending);
  uint64_t total = 0;
  for (const SegmentRef& ref : *segments) {
    segment_start_[ref.name] = total;
    auto file = env_->NewRandomAccessFile(JoinPath(dir_, ref.name));
    if (!file.ok()) return file.status();
    auto size = (*file)->Size();
    if (!size.ok()) return size.status();
    total += *size;
  }
  progress_.bytes_total = total;
  return Status::OK();
}

Status Verifier::CheckPurgedPrefix() {
  auto marker = ReadPurgeMarker(dir_, env_);
  if (!marker.ok()) return marker.status();
  if (!*marker) return Status::OK();
  const uint64_t purged = (*marker)->first_kept - 1;
  report_.purged = purged;
  if (nodes_ == nullptr || report_.spine_synced < purged) {
    return Status::Corruption(
        "LSN 1.." + std::to_string(purged) + ": purged, but " + std::string(kSpineFileName) +
        (nodes_ == nullptr ? " is missing"
                           : " vouches for only " + std::to_string(report_.spine_synced)) +
        ": the tree over the purged records is lost");
  }
  for (uint64_t i = 0; i < purged; ++i) {
    auto leaf = nodes_->At(merkle::PostorderIndex(0, i));
    if (!leaf.ok()) return leaf.status();
    completed_.clear();
    builder_.Append(*leaf, &completed_);
    for (const merkle::Subtree& node : completed_) {
      if (node.level == 0) continue;
      auto stored = nodes_->At(merkle::PostorderIndex(node.level, node.index));
      if (!stored.ok()) return stored.status();
      if (*stored == node.hash) continue;
      const uint64_t first = (node.index << node.level) + 1;
      return Status::Corruption(
          std::string(kSpineFileName) + " node (level " + std::to_string(node.level) + ", index " +
          std::to_string(node.index) + ") over the purged LSNs " + std::to_string(first) + ".." +
          std::to_string(i + 1) + " is not the hash of its children (damaged spine)");
    }
    report_.covered = i + 1;
    QUIPU_RETURN_IF_ERROR(CheckCheckpointsAt(i + 1));
  }
  return Status::OK();
}

Status Verifier::Scan() {
  auto reader = OpenLogReader(dir_, 1, env_);
  if (!reader.ok()) return reader.status();
  for (;;) {
    auto more = (*reader)->Next();
    if (!more.ok()) {
      return more.status().WithContext("LSN " + std::to_string(builder_.size() + 1));
    }
    if (!*more) return Status::OK();
    QUIPU_RETURN_IF_ERROR(CheckRecord(**reader));
    if (builder_.size() % kProgressEvery == 0) Progress();
  }
}

Status Verifier::CheckRecord(const LogReader& reader) {
  const Lsn lsn = reader.lsn();
  if (lsn != builder_.size() + 1) {  // the reader checks the chain; this is a backstop
    return Status::Corruption(Where(lsn, reader.segment(), reader.offset()) + ": expected LSN " +
                              std::to_string(builder_.size() + 1));
  }
  if (report_.first_lsn == 0) report_.first_lsn = lsn;
  report_.last_lsn = lsn;
  ++report_.records;
  segment_ = reader.segment();
  record_offset_ = reader.offset();
  end_offset_ = reader.offset() + 8 + reader.payload().size();  // 8: the frame header
  progress_.records = report_.records;
  progress_.bytes_done = segment_start_[segment_] + end_offset_;

  completed_.clear();
  builder_.Append(merkle::LeafHash(reader.payload()), &completed_);
  if (nodes_ != nullptr && lsn <= report_.spine_leaves) {
    for (const merkle::Subtree& node : completed_) QUIPU_RETURN_IF_ERROR(CheckNode(node, reader));
    report_.covered = lsn;
  }
  return CheckCheckpointsAt(lsn);
}

Status Verifier::CheckNode(const merkle::Subtree& node, const LogReader& reader) {
  auto stored = nodes_->At(merkle::PostorderIndex(node.level, node.index));
  if (!stored.ok()) return stored.status();
  if (*stored == node.hash) return Status::OK();
  const std::string where = Where(reader.lsn(), reader.segment(), reader.offset());
  if (node.level == 0) {
    return Status::Corruption(where + ": the record does not match its leaf hash in " +
                              std::string(kSpineFileName) +
                              " (changed, replaced or reordered record)");
  }
  const uint64_t first = (node.index << node.level) + 1;
  return Status::Corruption(
      where + ": " + std::string(kSpineFileName) + " node (level " + std::to_string(node.level) +
      ", index " + std::to_string(node.index) + ") over LSNs " + std::to_string(first) + ".." +
      std::to_string(reader.lsn()) + " is not the hash of its children (damaged spine)");
}

Status Verifier::CheckCheckpointsAt(uint64_t size) {
  auto [begin, end] = by_size_.equal_range(size);
  if (begin == end) return Status::OK();
  const merkle::Hash root = builder_.Root();
  for (auto it = begin; it != end; ++it) {
    const Checkpoint& cp = checkpoints_[it->second];
    if (cp.root == root) continue;
    const std::string at =
        size == 0 ? std::string("the empty log") : Where(size, segment_, record_offset_);
    return Status::Corruption(
        at + ": " + std::string(kCheckpointFileName) + " line " + std::to_string(it->second + 1) +
        " says the tree of " + std::to_string(size) + " records has root " + cp.root.ToHex() +
        " but the records hash to " + root.ToHex() + ": a record at or before it changed");
  }
  return Status::OK();
}

// What can only be judged once the log's end is known: does it hold every
// record the spine vouched for and every record a checkpoint covers?
Status Verifier::CheckEnd() {
  const uint64_t held = builder_.size();
  const std::string end = segment_.empty() ? std::string("the empty log")
                                           : segment_ + " at offset " + std::to_string(end_offset_);
  if (report_.spine_synced > held) {
    return Status::Corruption("LSN " + std::to_string(held + 1) + " (" + end + "): missing; " +
                              std::string(kSpineFileName) + " vouches for " +
                              std::to_string(report_.spine_synced) +
                              " durable records: the log was truncated or lost durable data");
  }
  if (!by_size_.empty() && by_size_.rbegin()->first > held) {
    const auto& [size, line] = *by_size_.rbegin();
    return Status::Corruption("LSN " + std::to_string(held + 1) + " (" + end + "): missing; " +
                              std::string(kCheckpointFileName) + " line " +
                              std::to_string(line + 1) + " covers " + std::to_string(size) +
                              " records: the log was truncated below a checkpoint");
  }
  if (nodes_ == nullptr && held > 0) {
    return Status::Corruption(
        std::string(kSpineFileName) + " is missing: none of the " + std::to_string(held) +
        " records could be checked against the tree that every writer keeps (it was removed)");
  }
  return Status::OK();
}

void Verifier::Progress() {
  if (options_.progress) options_.progress(progress_);
}

}  // namespace

Result<VerifyReport> VerifyIntegrity(const std::string& dir, const VerifyOptions& options) {
  QUIPU_RETURN_IF_ERROR(merkle::CheckSha256());
  return Verifier(dir, options).Run();
}

}  // namespace quipu
