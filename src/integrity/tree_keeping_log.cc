// integrity/tree_keeping_log.cc — Log::Open: the log engine and the Merkle
// tree that follows it, handed out as one Log.
//
// The engine (log/engine.h) knows nothing of trees, and the tree needs an
// open log, so the pair is put together here, one layer up. Every call but
// tree() and Close() goes to the engine. Once the tree fails (a failed
// fdatasync of its spine, a record its follower cannot read) the log is
// poisoned with that error, as the engine poisons itself after a failed
// sync: writes and waits fail, reads and stats keep working.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "integrity/log_tree.h"
#include "integrity/spine.h"
#include "log/engine.h"
#include "quipu/checkpoint.h"
#include "quipu/env.h"
#include "quipu/log.h"
#include "quipu/tree.h"

namespace quipu {

namespace {

class TreeKeepingLog final : public Log {
 public:
  TreeKeepingLog(std::string dir, std::unique_ptr<Log> engine)
      : dir_(std::move(dir)), engine_(std::move(engine)) {}
  ~TreeKeepingLog() override {
    if (!closed_) (void)Close();
  }

  // Opens the tree over the engine; on failure, destroying this closes the
  // engine.
  Status OpenTree(Env* env, const TreeOptions& options) {
    auto tree =
        OpenLogTree(engine_.get(), dir_, env, options, [this](const Status& s) { Poison(s); });
    if (!tree.ok()) return tree.status();
    tree_ = std::move(*tree);
    return Status::OK();
  }

  Result<Lsn> Append(std::string_view payload, Durability durability) override {
    QUIPU_RETURN_IF_ERROR(TreeHealth());
    return engine_->Append(payload, durability);
  }
  Status Flush() override {
    QUIPU_RETURN_IF_ERROR(TreeHealth());
    return engine_->Flush();
  }
  Status Sync() override {
    QUIPU_RETURN_IF_ERROR(TreeHealth());
    return engine_->Sync();
  }
  // Once the tree has poisoned the log, the watermark stays where the
  // failure found it, as the engine's does after a failed sync of its own
  // (a seal running beside the failure could otherwise still move it).
  Lsn DurableLsn() const override {
    if (poisoned_.load(std::memory_order_acquire)) {
      return durable_at_poison_.load(std::memory_order_acquire);
    }
    return engine_->DurableLsn();
  }
  Lsn LastLsn() const override { return engine_->LastLsn(); }
  Status WaitDurable(Lsn lsn) override {
    QUIPU_RETURN_IF_ERROR(TreeHealth());
    return engine_->WaitDurable(lsn);
  }
  Result<Lsn> AwaitDurableAbove(Lsn seen, std::chrono::milliseconds timeout) override {
    QUIPU_RETURN_IF_ERROR(TreeHealth());
    return engine_->AwaitDurableAbove(seen, timeout);
  }
  Result<std::unique_ptr<LogReader>> NewReader(Lsn from) override {
    return engine_->NewReader(from);
  }
  // The purged records stay in the tree: hashed and vouched for by the
  // synced spine before their segments go, so roots and proofs over them
  // keep working and the next Open finds its last synced leaf retained.
  Status DropSegmentsBefore(Lsn first_kept, std::string_view note) override {
    QUIPU_RETURN_IF_ERROR(TreeHealth());
    Result<uint64_t> synced = tree_->SyncThroughDurable();
    if (!synced.ok()) return synced.status();
    if (*synced < first_kept) {
      return Status::InvalidArgument("no record of the segment at LSN " +
                                     std::to_string(first_kept) +
                                     " is durable yet: the segments before it may still be "
                                     "sealing");
    }
    return engine_->DropSegmentsBefore(first_kept, note);
  }
  Lsn FirstLsn() const override { return engine_->FirstLsn(); }
  Result<std::vector<SegmentInfo>> Segments() const override { return engine_->Segments(); }
  LogStats Stats() const override { return engine_->Stats(); }
  const RecoveryReport& Recovery() const override { return engine_->Recovery(); }
  LogTree* tree() override { return tree_.get(); }

  // Everything durable, then hashed, then the spine synced over all of it:
  // after a clean close the tree covers every record.
  Status Close() override {
    if (closed_) return Status::FailedPrecondition(dir_ + ": log is closed");
    closed_ = true;
    if (tree_ == nullptr) return engine_->Close();  // the tree never opened
    Status s = TreeHealth();
    if (s.ok()) s = engine_->Sync();
    if (s.ok()) s = tree_->CatchUp();
    Status tree_closed = tree_->Close();
    if (s.ok()) s = tree_closed;
    if (s.ok()) s = TreeHealth();  // the last spine sync may have failed
    Status engine_closed = engine_->Close();
    return s.ok() ? engine_closed : s;
  }

 private:
  void Poison(const Status& s) {
    std::lock_guard<std::mutex> guard(poison_mu_);
    if (poison_.ok()) {
      poison_ = s.WithContext("log poisoned by its tree (reopen to recover)");
      durable_at_poison_.store(engine_->DurableLsn(), std::memory_order_release);
    }
    poisoned_.store(true, std::memory_order_release);
  }

  // One atomic load while the tree is healthy: this is on every append.
  Status TreeHealth() const {
    if (!poisoned_.load(std::memory_order_acquire)) return Status::OK();
    std::lock_guard<std::mutex> guard(poison_mu_);
    return poison_;
  }

  const std::string dir_;
  const std::unique_ptr<Log> engine_;
  std::unique_ptr<OwnedLogTree> tree_;
  bool closed_ = false;
  std::atomic<bool> poisoned_{false};
  std::atomic<Lsn> durable_at_poison_{0};
  mutable std::mutex poison_mu_;
  Status poison_;  // guarded by poison_mu_
};

// Loads a key given by path now, so that a bad key file fails Open before
// the directory or any file is created.
Status LoadKeyBeforeOpening(Env* env, TreeOptions* options) {
  if (!options->signing_key_path) return Status::OK();
  if (options->signing_key) {
    return Status::InvalidArgument("TreeOptions: set signing_key or signing_key_path, not both");
  }
  auto key = SigningKey::Load(env, *options->signing_key_path);
  if (!key.ok()) return key.status().WithContext("signing key");
  options->signing_key = std::move(*key);
  options->signing_key_path.reset();
  return Status::OK();
}

// A signed checkpoint has told the world about every record up to its
// size: records it covers are never discarded.
Status CheckNoCheckpointAfter(Env* env, const std::string& dir, Lsn keep) {
  auto checkpoints = ReadCheckpoints(env, dir);
  if (!checkpoints.ok()) return checkpoints.status().WithContext(dir);
  for (const Checkpoint& cp : *checkpoints) {
    if (cp.tree_size > keep) {
      return Status::FailedPrecondition(
          dir + ": cannot discard the records after LSN " + std::to_string(keep) +
          ": a signed checkpoint vouches for " + std::to_string(cp.tree_size) + " records");
    }
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Log>> Log::Open(const std::string& dir, const LogOptions& options) {
  QUIPU_RETURN_IF_ERROR(options.Validate());
  Env* env = options.env != nullptr ? options.env : Env::Default();
  TreeOptions tree_options = options.tree;
  QUIPU_RETURN_IF_ERROR(LoadKeyBeforeOpening(env, &tree_options));
  auto engine = OpenLogEngine(dir, options, [env, &dir](Lsn keep) {
    QUIPU_RETURN_IF_ERROR(CheckNoCheckpointAfter(env, dir, keep));
    return spine::LowerClaim(env, dir, keep);
  });
  if (!engine.ok()) return engine.status();
  auto log = std::make_unique<TreeKeepingLog>(dir, std::move(*engine));
  Status s = log->OpenTree(env, tree_options);
  if (!s.ok()) return s.WithContext(dir);
  return std::unique_ptr<Log>(std::move(log));
}

}  // namespace quipu
