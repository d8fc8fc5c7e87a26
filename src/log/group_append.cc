// log/group_append.cc — blocking appends under Always and GroupCommit: one
// leader appends and syncs for every writer of its group (log/write_queue.h).
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "log/log_impl.h"

namespace quipu {

Result<Lsn> LogImpl::AppendInGroup(std::string_view payload, uint32_t partial_crc) {
  WriteQueue::Writer self;
  self.payload = payload;
  self.partial_crc = partial_crc;
  if (write_queue_.Join(&self)) LeadGroup(&self);
  if (!self.status.ok()) return self.status;
  return self.lsn;
}

void LogImpl::LeadGroup(WriteQueue::Writer* leader) {
  std::vector<WriteQueue::Writer*> group;
  int expected = expected_group_.load(std::memory_order_relaxed);
  auto cap = std::chrono::nanoseconds(gather_cap_ns_.load(std::memory_order_relaxed));
  if (options_.durability.kind() == DurabilityPolicy::Kind::kGroupCommit &&
      options_.durability.interval().count() > 0) {
    // GroupCommit(d): the group stays open for d, whoever joins.
    expected = std::numeric_limits<int>::max();
    cap = options_.durability.interval();
  }
  write_queue_.TakeGroup(leader, expected, cap, &group);
  std::unique_lock<std::mutex> lock(mu_);
  WriteQueue::Writer* last = nullptr;
  for (WriteQueue::Writer* w : group) {
    Result<Lsn> lsn = BufferRecordLocked(lock, w->payload, w->partial_crc);
    if (!lsn.ok()) {
      w->status = lsn.status();
      continue;
    }
    w->lsn = *lsn;
    w->epoch = rollback_floors_.size();
    w->appended = true;
    last = w;
  }
  // One sync for the group: the newest record's (a full-disk rollback in the
  // middle of the group started the LSNs again, so the newest is the last).
  Status synced;
  if (last != nullptr) synced = SyncToLocked(lock, last->lsn, last->epoch);
  if (!lock.owns_lock()) lock.lock();
  for (WriteQueue::Writer* w : group) {
    if (w->appended) w->status = GroupMemberResultLocked(*w, synced);
  }
  // The writers this sync releases come back together: the next group waits
  // for them and those already waiting, at most a quarter of this sync (see
  // write_queue.h).
  expected_group_.store(static_cast<int>(group.size()) + write_queue_.Listed(),
                        std::memory_order_relaxed);
  const auto next_cap =
      std::min<Clock::duration>(last_sync_duration_ / 4, std::chrono::milliseconds(1));
  gather_cap_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(next_cap).count(),
                       std::memory_order_relaxed);
  lock.unlock();
  write_queue_.Finish(group);
}

Status LogImpl::GroupMemberResultLocked(const WriteQueue::Writer& w, const Status& synced) const {
  if (RolledBackLocked(w.lsn, w.epoch)) return NotWrittenError(w.lsn);
  if (DurableLsn() >= w.lsn) return Status::OK();
  return synced.ok() ? Status::IOError("record " + std::to_string(w.lsn) +
                                       " is not durable after its group's sync")
                     : synced;
}

}  // namespace quipu
