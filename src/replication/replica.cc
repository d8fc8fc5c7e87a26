#include "replication/replica.h"

#include <algorithm>
#include <deque>

#include "replication/peer.h"

namespace quipu::replication {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Batches fetched from etcd per look.
constexpr size_t kFetchBatches = 64;

Result<std::unique_ptr<Group>> MakeGroup(const ReplicaOptions& options) {
  etcd::ClientOptions client;
  client.endpoints = options.etcd;
  client.timeout = options.etcd_timeout;
  auto created = etcd::Client::Create(client);
  if (!created.ok()) return created.status();
  // Batches are read from a member picked by the node's id, without a round
  // of consensus: the followers' reads spread over the members.
  etcd::ClientOptions reads = client;
  reads.serializable_reads = true;
  if (!reads.endpoints.empty()) {
    const size_t first = std::hash<std::string>()(options.node) % reads.endpoints.size();
    std::rotate(reads.endpoints.begin(), reads.endpoints.begin() + static_cast<long>(first),
                reads.endpoints.end());
  }
  auto reader = etcd::Client::Create(reads);
  if (!reader.ok()) return reader.status();
  return std::make_unique<Group>(std::move(*created), options.group, std::move(*reader));
}

// Errors that say this store's records and the group's differ, as opposed
// to a disk or etcd that may work again.
bool Diverged(const Status& s) {
  return s.IsCorruption() || s.code() == Status::Code::kNotSupported ||
         s.code() == Status::Code::kInvalidArgument ||
         s.code() == Status::Code::kFailedPrecondition;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kStarting:
      return "starting";
    case Role::kFollower:
      return "follower";
    case Role::kWriter:
      return "writer";
    case Role::kFenced:
      return "fenced";
    case Role::kSteppedDown:
      return "stepped_down";
  }
  return "?";
}

Status Replica::CheckOptions(const ReplicaOptions& options) {
  if (options.node.empty() || options.url.empty() || options.group.empty()) {
    return Status::InvalidArgument("a replicated node needs a group, a node id and its URL");
  }
  return MakeGroup(options).status();
}

Result<Lsn> Replica::CommittedHead(const ReplicaOptions& options) {
  auto group = MakeGroup(options);
  if (!group.ok()) return group.status();
  return (*group)->Head();
}

Result<std::unique_ptr<Replica>> Replica::Start(const ReplicaOptions& options, AuditStore* store) {
  auto group = MakeGroup(options);
  if (!group.ok()) return group.status();
  std::unique_ptr<Replica> replica(new Replica(options, store, std::move(*group)));
  replica->applied_ = store->DurableLsn();
  replica->saved_applied_ = replica->applied_;
  replica->lease_thread_ = std::thread([r = replica.get()] { r->LeaseLoop(); });
  replica->log_thread_ = std::thread([r = replica.get()] { r->LogLoop(); });
  replica->status_thread_ = std::thread([r = replica.get()] { r->StatusLoop(); });
  return replica;
}

Replica::Replica(const ReplicaOptions& options, AuditStore* store, std::unique_ptr<Group> group)
    : options_(options), store_(store), group_(std::move(group)) {}

Status Replica::Join() {
  auto head = group_->Head();
  if (!head.ok()) return head.status();
  const Lsn last = store_->log()->LastLsn();
  if (last > *head) {
    // Records up to the rejoin point were committed by this group: a group
    // whose head is below them is another one (or etcd lost its data).
    Fence("this store holds " + std::to_string(last) + " records but group " + options_.group +
          " committed only " + std::to_string(*head) + " (another group's store, or a new etcd?)");
    return Status::OK();
  }
  auto lease = group_->client().LeaseGrant(options_.lease_ttl);
  if (!lease.ok()) return lease.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    lease_ = *lease;
    lease_renewed_ = Clock::now();
    head_ = std::max(head_, *head);
  }
  // Seen at once by the writer (which trims only what every live node
  // applied) and by peers; and this node learns of its peers.
  return Publish();
}

Replica::~Replica() { Stop(); }

void Replica::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread* t : {&lease_thread_, &log_thread_, &status_thread_}) {
    if (t->joinable()) t->join();
  }
  if (role() != Role::kFenced) (void)SaveApplied();
  // Giving the lease up hands the writership over at once, rather than
  // after its TTL.
  (void)group_->client().LeaseRevoke(lease());
}

Role Replica::role() const {
  std::lock_guard<std::mutex> lock(mu_);
  return role_;
}

Lsn Replica::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_;
}

std::optional<WriterInfo> Replica::writer() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writer_;
}

std::string Replica::fenced_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fenced_;
}

ClusterView Replica::View() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ClusterView{role_, writer_, head_, applied_, fenced_, nodes_};
}

int64_t Replica::lease() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lease_;
}

void Replica::Appended() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    appended_ = true;
  }
  changed_.notify_all();
}

Result<Lsn> Replica::AwaitHeadAbove(Lsn seen, milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, timeout,
                    [&] { return head_ > seen || role_ != Role::kWriter || stopping_; });
  if (head_ > seen) return head_;
  if (role_ != Role::kWriter || stopping_) {
    return Status::FailedPrecondition(std::string("this node is not the group's writer (") +
                                      RoleName(role_) + ")");
  }
  return seen;
}

void Replica::Log(nlohmann::ordered_json line) const {
  if (!options_.log) return;
  line["node"] = options_.node;
  options_.log(std::move(line));
}

bool Replica::Sleep(milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !changed_.wait_for(lock, d, [this] { return stopping_; });
}

void Replica::StepDown(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (role_ == Role::kSteppedDown || role_ == Role::kFenced || stopping_) return;
    role_ = Role::kSteppedDown;
  }
  changed_.notify_all();
  Log({{"event", "replica_step_down"}, {"why", why}});
  // The writer key goes with the lease: another node may take over while
  // this one drains and restarts.
  (void)group_->client().LeaseRevoke(lease());
  if (options_.on_step_down) options_.on_step_down(why);
}

void Replica::Fence(const std::string& why) {
  bool was_writer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (role_ == Role::kFenced) return;
    was_writer = role_ == Role::kWriter;
    role_ = Role::kFenced;
    fenced_ = why;
  }
  changed_.notify_all();
  Log({{"event", "replica_fenced"}, {"why", why}});
  // Another node takes over at once; this one keeps its directory as it is.
  (void)group_->client().LeaseRevoke(lease());
  if (was_writer && options_.on_step_down) options_.on_step_down("fenced: " + why);
}

// --- lease ---

void Replica::LeaseLoop() {
  const milliseconds every = std::chrono::duration_cast<milliseconds>(options_.lease_ttl) / 3;
  while (Sleep(every)) {
    const int64_t id = lease();
    if (id == 0) continue;  // not joined yet
    auto kept = group_->client().LeaseKeepAlive(id);
    if (kept.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      lease_renewed_ = Clock::now();
      continue;
    }
    const Role now = role();
    if (kept.status().code() == Status::Code::kNotFound) {
      // Expired (etcd unreachable for longer than its TTL, or a pause):
      // the writer key, if it was ours, is gone with it.
      if (now == Role::kWriter) StepDown("the lease expired");
      if (now == Role::kFenced || now == Role::kSteppedDown) continue;
      auto fresh = group_->client().LeaseGrant(options_.lease_ttl);
      if (fresh.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        lease_ = *fresh;
        lease_renewed_ = Clock::now();
      }
      Log({{"event", "replica_lease"}, {"renewed", fresh.ok()}});
      continue;
    }
    // etcd out of reach: past the TTL the lease is gone for etcd too.
    Clock::time_point renewed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      renewed = lease_renewed_;
    }
    if (now == Role::kWriter && Clock::now() - renewed > options_.lease_ttl) {
      StepDown("etcd out of reach for longer than the lease: " + kept.status().ToString());
    }
  }
}

// --- log ---

void Replica::LogLoop() {
  std::string last_error;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    const Role now = role();
    Status s;
    if (lease() == 0 && now == Role::kStarting) {
      s = Join();
    } else if (now == Role::kWriter) {
      s = CommitOnce();
    } else if (now == Role::kStarting || now == Role::kFollower) {
      int64_t revision = 0;
      auto applied = ApplyCommitted(&revision);
      s = applied.status();
      if (s.ok() && *applied == 0) {
        if (now == Role::kStarting) {
          std::lock_guard<std::mutex> lock(mu_);
          if (role_ == Role::kStarting) role_ = Role::kFollower;
        }
        s = CampaignIfVacant();
        if (s.ok() && role() == Role::kFollower) {
          s = group_->WaitForBatches(revision, milliseconds(300));
        }
      }
    } else if (!Sleep(milliseconds(200))) {
      return;
    }
    if (s.ok()) {
      last_error.clear();
      continue;
    }
    if (s.ToString() != last_error) {
      last_error = s.ToString();
      Log({{"event", "replica_error"}, {"role", RoleName(now)}, {"error", last_error}});
    }
    if (!Sleep(milliseconds(100))) return;
  }
}

Result<size_t> Replica::ApplyCommitted(int64_t* revision) {
  Lsn last = store_->log()->LastLsn();
  auto fetched = group_->Fetch(last + 1, kFetchBatches);
  if (!fetched.ok()) return fetched.status();
  *revision = fetched->revision;
  if (fetched->behind_window) {
    QUIPU_RETURN_IF_ERROR(CopyFromPeer(last + 1, fetched->window_start));
    std::lock_guard<std::mutex> lock(mu_);
    applied_ = store_->DurableLsn();  // CopyRecords made what it copied durable
    head_ = std::max(head_, applied_);
    return size_t{1};
  }
  for (Batch& batch : fetched->batches) {
    if (batch.last() <= last) continue;
    // A node that stopped part way through a batch has its first records.
    const size_t skip = last + 1 - batch.first;
    std::vector<std::string> records(std::make_move_iterator(batch.records.begin() + skip),
                                     std::make_move_iterator(batch.records.end()));
    auto appended = store_->AppendReplicated(last + 1, records);
    if (!appended.ok()) {
      if (Diverged(appended.status())) {
        Fence("the batch at LSN " + std::to_string(batch.first) +
              " does not apply: " + appended.status().ToString());
      }
      return appended.status();
    }
    last = *appended;
    applied_batches_.fetch_add(1, std::memory_order_relaxed);
  }
  if (fetched->batches.empty()) return size_t{0};
  QUIPU_RETURN_IF_ERROR(store_->WaitDurable(last));
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied_ = std::max(applied_, last);
    head_ = std::max(head_, last);
  }
  changed_.notify_all();
  return fetched->batches.size();
}

Status Replica::CopyFromPeer(Lsn from, Lsn window_start) {
  std::vector<NodeStatus> nodes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    nodes = nodes_;
  }
  std::string failures;
  for (const NodeStatus& peer : nodes) {
    if (peer.node == options_.node || peer.applied < from) continue;
    const Lsn to = window_start > from ? std::min(peer.applied, window_start - 1) : peer.applied;
    auto copied =
        CopyRecords(peer.url, options_.peer_token, from, to, store_, options_.etcd_timeout);
    if (copied.ok()) {
      Log({{"event", "replica_copied"}, {"peer", peer.node}, {"from", from}, {"to", to}});
      if (!copied->root_matches) {
        Fence("records " + std::to_string(from) + ".." + std::to_string(to) + " copied from " +
              peer.node + " give root " + copied->mine + " where the peer has " + copied->theirs);
      }
      return Status::OK();
    }
    if (Diverged(copied.status()) && store_->log()->LastLsn() >= from) {
      Fence("copying from " + peer.node + " failed part way: " + copied.status().ToString());
      return copied.status();
    }
    failures += "; " + peer.node + ": " + copied.status().ToString();
  }
  return Status::IOError("LSN " + std::to_string(from) +
                         " is no longer in etcd and no live peer gave it" + failures);
}

Status Replica::CampaignIfVacant() {
  auto writer = group_->Writer();
  if (!writer.ok()) return writer.status();
  if (!*writer) {
    auto won = group_->Campaign(lease(), options_.node, options_.url);
    if (!won.ok()) return won.status();
    *writer = *won;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    writer_ = *writer;
  }
  if ((*writer)->node != options_.node) return Status::OK();
  if ((*writer)->lease != lease()) {
    // The key of this node's previous run (killed before it could give up
    // its lease): end that lease now rather than wait out its TTL.
    (void)group_->client().LeaseRevoke((*writer)->lease);
    return Status::OK();
  }
  return BecomeWriter(**writer);
}

Status Replica::BecomeWriter(const WriterInfo& won) {
  // This log must end at the head before it takes writes: no other node can
  // commit now, so the head stays put while it catches up.
  Lsn head = 0;
  for (;;) {
    auto read = group_->Head();
    if (!read.ok()) return read.status();
    head = *read;
    const Lsn last = store_->log()->LastLsn();
    if (last == head) break;
    if (last > head) {
      StepDown("this log holds records after the group's head");
      return Status::OK();
    }
    int64_t revision = 0;
    QUIPU_RETURN_IF_ERROR(ApplyCommitted(&revision).status());
  }
  QUIPU_RETURN_IF_ERROR(store_->log()->Flush());
  auto reader = store_->log()->NewReader(head + 1);
  if (!reader.ok()) return reader.status();
  reader_ = std::move(*reader);
  if (options_.on_writer) {
    Status s = options_.on_writer();
    if (!s.ok()) {
      StepDown("preparing to write failed: " + s.ToString());
      return s;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (role_ != Role::kFollower) return Status::OK();  // fenced or stopping meanwhile
    role_ = Role::kWriter;
    my_revision_ = won.revision;
    head_ = head;
    appended_ = true;  // whatever on_writer appended
  }
  changed_.notify_all();
  Log({{"event", "replica_writer"}, {"head", head}});
  return Status::OK();
}

Status Replica::CommitOnce() {
  Lsn head;
  int64_t revision;
  {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, milliseconds(20),
                      [this] { return appended_ || stopping_ || role_ != Role::kWriter; });
    appended_ = false;
    if (stopping_ || role_ != Role::kWriter) return Status::OK();
    head = head_;
    revision = my_revision_;
  }
  quipu::Log* log = store_->log();
  const Lsn target = log->LastLsn();
  if (target <= head) return Status::OK();
  QUIPU_RETURN_IF_ERROR(log->Flush());
  // Records read for an earlier attempt that failed (or did not fit) are
  // kept in unsent_, from head + 1 on.
  Lsn next = head + 1 + unsent_.size();
  while (next <= target) {
    auto more = reader_->Next();
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (reader_->lsn() != next) {
      return Status::Corruption("the committer read LSN " + std::to_string(reader_->lsn()) +
                                " where it expected " + std::to_string(next));
    }
    unsent_.emplace_back(reader_->payload());
    ++next;
  }
  if (unsent_.empty()) return Status::OK();
  // A batch whose transaction's answer was lost is sent again as it was,
  // never grown: only the same bytes tell that the lost attempt committed.
  if (inflight_.records.empty()) {
    inflight_.first = head + 1;
    size_t bytes = kBatchOverhead;
    for (const std::string& record : unsent_) {
      if (!inflight_.records.empty() &&
          bytes + kRecordOverhead + record.size() > options_.max_batch_bytes)
        break;
      bytes += kRecordOverhead + record.size();
      inflight_.records.push_back(record);
    }
    inflight_encoded_ = EncodeBatch(inflight_, BatchCompression::kZstd);
  }
  const Clock::time_point start = Clock::now();
  auto outcome = group_->Commit(revision, head, inflight_, inflight_encoded_);
  commit_micros_.fetch_add(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count()));
  if (!outcome.ok()) return outcome.status();
  if (*outcome == Group::Outcome::kRefused) {
    StepDown("etcd refused the batch at LSN " + std::to_string(inflight_.first) +
             ": another node is the writer");
    return Status::OK();
  }
  const Lsn last = inflight_.last();
  unsent_.erase(unsent_.begin(), unsent_.begin() + static_cast<long>(inflight_.records.size()));
  commits_.fetch_add(1, std::memory_order_relaxed);
  committed_bytes_.fetch_add(inflight_encoded_.size(), std::memory_order_relaxed);
  inflight_.records.clear();
  inflight_encoded_.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    head_ = last;
    if (!unsent_.empty() || log->LastLsn() > head_) appended_ = true;
  }
  changed_.notify_all();
  return Status::OK();
}

}  // namespace quipu::replication
