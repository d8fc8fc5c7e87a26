// integrity/tree_view.cc — TreeView: the spine's synced nodes, and the
// perfect subtrees that end past them computed in memory from the records.
#include "quipu/tree_view.h"

#include <string>
#include <utility>
#include <vector>

#include "integrity/spine.h"
#include "integrity/tree_proofs.h"
#include "quipu/env.h"

namespace quipu {
namespace {

// Serves subtrees that end within the spine's synced leaves from the file and
// every other one from memory. Appending leaf hashes past the synced part
// completes exactly those other subtrees (TreeBuilder reports each once), and
// at every level their indexes run consecutively from the first one that
// ends past the synced leaves.
class ViewSource final : public merkle::NodeSource {
 public:
  ViewSource(std::unique_ptr<RandomAccessFile> spine, uint64_t synced)
      : spine_(std::move(spine)), synced_(synced) {}

  void Add(const std::vector<merkle::Subtree>& completed) {
    for (const merkle::Subtree& s : completed) {
      if (static_cast<size_t>(s.level) >= levels_.size()) {
        levels_.resize(s.level + 1);
        first_.resize(s.level + 1);
      }
      if (levels_[s.level].empty()) first_[s.level] = s.index;
      levels_[s.level].push_back(s.hash);
    }
  }
  void set_leaf_count(uint64_t n) { leaves_ = n; }

  uint64_t LeafCount() const override { return leaves_; }

  Result<merkle::Hash> SubtreeHash(int level, uint64_t index) const override {
    if (((index + 1) << level) <= synced_) {
      return spine::FileSource(spine_.get(), synced_).SubtreeHash(level, index);
    }
    const auto l = static_cast<size_t>(level);
    if (l >= levels_.size() || index < first_[l] || index - first_[l] >= levels_[l].size()) {
      return Status::InvalidArgument("subtree (level " + std::to_string(level) + ", index " +
                                     std::to_string(index) + ") is not in the view");
    }
    return levels_[l][index - first_[l]];
  }

 private:
  std::unique_ptr<RandomAccessFile> spine_;  // nullptr when nothing was synced
  const uint64_t synced_;
  uint64_t leaves_ = 0;
  std::vector<std::vector<merkle::Hash>> levels_;
  std::vector<uint64_t> first_;
};

class TreeViewImpl final : public TreeView {
 public:
  explicit TreeViewImpl(std::unique_ptr<ViewSource> source) : source_(std::move(source)) {}

  uint64_t Size() const override { return source_->LeafCount(); }

  Result<merkle::Hash> Root(std::optional<uint64_t> size) const override {
    auto n = Resolve(size);
    if (!n.ok()) return n.status();
    return merkle::RootHash(*source_, *n);
  }
  Result<InclusionProof> ProveInclusion(Lsn lsn, std::optional<uint64_t> size) const override {
    auto n = Resolve(size);
    if (!n.ok()) return n.status();
    return integrity::AssembleInclusionProof(*source_, lsn, *n);
  }
  Result<ConsistencyProof> ProveConsistency(uint64_t old_size,
                                            std::optional<uint64_t> new_size) const override {
    auto n = Resolve(new_size);
    if (!n.ok()) return n.status();
    return integrity::AssembleConsistencyProof(*source_, old_size, *n);
  }

 private:
  Result<uint64_t> Resolve(std::optional<uint64_t> size) const {
    if (!size) return Size();
    if (*size > Size()) {
      return Status::InvalidArgument("tree size " + std::to_string(*size) + " exceeds the log's " +
                                     std::to_string(Size()) + " records");
    }
    return *size;
  }

  std::unique_ptr<ViewSource> source_;
};

// The spine file and its synced leaf count; no file and 0 without a SPINE.
struct SyncedSpine {
  std::unique_ptr<RandomAccessFile> file;
  uint64_t synced = 0;
};

Result<SyncedSpine> OpenSyncedSpine(Env* env, const std::string& dir) {
  const std::string path = spine::SpinePath(dir);
  auto exists = env->FileExists(path);
  if (!exists.ok()) return exists.status();
  if (!*exists) return SyncedSpine{};
  auto file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  auto snapshot = spine::ReadSnapshot(**file, std::string(kSpineFileName));
  if (!snapshot.ok()) return snapshot.status();
  const uint64_t synced = snapshot->header.synced_leaves;
  if (snapshot->leaves < synced) {
    return Status::Corruption(
        std::string(kSpineFileName) + ": the header says " + std::to_string(synced) +
        " leaves were synced but the file holds only " + std::to_string(snapshot->leaves));
  }
  return SyncedSpine{std::move(*file), synced};
}

// Reads record `synced` (the last leaf the spine vouches for) and checks it.
Status CheckLastSyncedLeaf(LogReader* reader, const merkle::NodeSource& spine, uint64_t synced) {
  auto more = reader->Next();
  if (!more.ok()) return more.status();
  if (!*more || reader->lsn() != synced) {
    return Status::Corruption("the tree vouches for " + std::to_string(synced) +
                              " records but the log does not hold record " +
                              std::to_string(synced) + " (run quipu verify)");
  }
  auto stored = spine.SubtreeHash(0, synced - 1);
  if (!stored.ok()) return stored.status();
  if (merkle::LeafHash(reader->payload()) != *stored) {
    return Status::Corruption("LSN " + std::to_string(synced) + " in " + reader->segment() +
                              " at offset " + std::to_string(reader->offset()) +
                              " does not match its leaf in the spine");
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<TreeView>> TreeView::Open(const std::string& dir, Env* env) {
  if (env == nullptr) env = Env::Default();
  QUIPU_RETURN_IF_ERROR(merkle::CheckSha256());
  auto exists = env->FileExists(dir);
  if (!exists.ok()) return exists.status();
  if (!*exists) return Status::NotFound(dir + ": no such log directory");
  auto spine = OpenSyncedSpine(env, dir);
  if (!spine.ok()) return spine.status().WithContext(dir);
  const uint64_t synced = spine->synced;
  auto source = std::make_unique<ViewSource>(std::move(spine->file), synced);

  auto reader = OpenLogReader(dir, synced == 0 ? 1 : synced, env);
  if (!reader.ok()) return reader.status();
  merkle::TreeBuilder builder;
  source->set_leaf_count(synced);
  if (synced > 0) {
    QUIPU_RETURN_IF_ERROR(CheckLastSyncedLeaf(reader->get(), *source, synced).WithContext(dir));
    auto resumed = merkle::TreeBuilder::FromSource(*source, synced);
    if (!resumed.ok()) return resumed.status();
    builder = std::move(*resumed);
  }
  std::vector<merkle::Subtree> completed;
  for (;;) {
    auto more = (*reader)->Next();
    if (!more.ok()) return more.status();
    if (!*more) break;
    builder.Append(merkle::LeafHash((*reader)->payload()), &completed);
    source->Add(completed);
    completed.clear();
  }
  source->set_leaf_count(builder.size());
  return std::unique_ptr<TreeView>(std::make_unique<TreeViewImpl>(std::move(source)));
}

}  // namespace quipu
