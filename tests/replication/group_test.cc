// replication/group.h against a real single-member etcd
// (tests/etcd/etcd_cluster.h), shared by the suite; each test works in a
// group of its own name. Covers the election (first wins, a revoked lease
// frees the key), the commit transaction (in sequence, a stale writer or a
// wrong head refused, a resend of a committed batch answered as committed),
// Fetch from every kind of position, the trimmed window, the published
// node statuses and the watch.
#include "replication/group.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "etcd/etcd_cluster.h"

namespace quipu::replication {
namespace {

using namespace std::chrono_literals;
using quipu::testing::EtcdCluster;
using quipu::testing::SharedEtcdTest;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// `count` records for the batch from `first`, each naming its LSN.
Batch MakeBatch(Lsn first, size_t count) {
  Batch batch{first, {}};
  for (size_t i = 0; i < count; ++i) batch.records.push_back("record " + std::to_string(first + i));
  return batch;
}

std::vector<Lsn> Firsts(const std::vector<Batch>& batches) {
  std::vector<Lsn> out;
  for (const Batch& b : batches) out.push_back(b.first);
  return out;
}

class GroupTest : public SharedEtcdTest {
 protected:
  void SetUp() override {
    SharedEtcdTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    name_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    group_ = NewGroup();
    ASSERT_NE(group_, nullptr);
  }

  void TearDown() override {
    if (group_ == nullptr) return;
    for (int64_t lease : leases_) (void)group_->client().LeaseRevoke(lease);
  }

  // Another handle on this test's group (as another node has).
  std::unique_ptr<Group> NewGroup() {
    auto client = etcd::Client::Create({.endpoints = cluster_->endpoints(), .timeout = 2000ms});
    if (!client.ok()) {
      ADD_FAILURE() << client.status().ToString();
      return nullptr;
    }
    return std::make_unique<Group>(std::move(*client), name_);
  }

  // A lease revoked at the end of the test, if still alive.
  int64_t Lease(std::chrono::seconds ttl = 30s) {
    auto lease = group_->client().LeaseGrant(ttl);
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    if (!lease.ok()) return 0;
    leases_.push_back(*lease);
    return *lease;
  }

  // Wins the election for node `node` and returns the writer's revision.
  int64_t Win(const std::string& node) {
    auto won = group_->Campaign(Lease(), node, "http://" + node);
    EXPECT_TRUE(won.ok()) << won.status().ToString();
    if (!won.ok()) return 0;
    EXPECT_EQ(won->node, node);
    return won->revision;
  }

  // Commits `batch` after `prev` as the writer of `revision`, expecting it to go in.
  void MustCommit(int64_t revision, Lsn prev, const Batch& batch) {
    auto outcome = group_->Commit(revision, prev, batch, EncodeBatch(batch));
    ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
    ASSERT_EQ(*outcome, Group::Outcome::kCommitted) << "batch at " << batch.first;
  }

  Group::Outcome CommitOutcome(int64_t revision, Lsn prev, const Batch& batch) {
    auto outcome = group_->Commit(revision, prev, batch, EncodeBatch(batch));
    EXPECT_TRUE(outcome.ok()) << outcome.status().ToString();
    return outcome.ok() ? *outcome : Group::Outcome::kRefused;
  }

  Lsn Head() {
    auto head = group_->Head();
    EXPECT_TRUE(head.ok()) << head.status().ToString();
    return head.ok() ? *head : ~Lsn{0};
  }

  Fetched MustFetch(Lsn from, size_t max = 64) {
    auto fetched = group_->Fetch(from, max);
    EXPECT_TRUE(fetched.ok()) << fetched.status().ToString();
    return fetched.ok() ? std::move(*fetched) : Fetched{};
  }

  // Batches 1..3, 4..5 and 6..9.
  void CommitThreeBatches(int64_t revision) {
    MustCommit(revision, 0, MakeBatch(1, 3));
    MustCommit(revision, 3, MakeBatch(4, 2));
    MustCommit(revision, 5, MakeBatch(6, 4));
  }

  std::string name_;
  std::unique_ptr<Group> group_;
  std::vector<int64_t> leases_;
};

TEST_F(GroupTest, ANewGroupHasHeadZeroNoWriterAndNoNodes) {
  EXPECT_EQ(Head(), 0u);
  auto writer = group_->Writer();
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  EXPECT_FALSE(writer->has_value());
  auto nodes = group_->Nodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  EXPECT_TRUE(nodes->empty());
  Fetched fetched = MustFetch(1);
  EXPECT_TRUE(fetched.batches.empty());
  EXPECT_FALSE(fetched.behind_window);
  EXPECT_GT(fetched.revision, 0);
}

TEST_F(GroupTest, TheFirstCampaignWinsAndTheSecondSeesTheFirst) {
  auto first = group_->Campaign(Lease(), "a", "http://a:1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->node, "a");
  EXPECT_EQ(first->url, "http://a:1");
  EXPECT_GT(first->revision, 0);
  std::unique_ptr<Group> other = NewGroup();
  auto second = other->Campaign(Lease(), "b", "http://b:1");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->node, "a");
  EXPECT_EQ(second->url, "http://a:1");
  EXPECT_EQ(second->revision, first->revision);
  auto writer = other->Writer();
  ASSERT_TRUE(writer.ok() && writer->has_value());
  EXPECT_EQ((*writer)->node, "a");
  EXPECT_EQ((*writer)->revision, first->revision);
}

TEST_F(GroupTest, TheWriterKeyVanishesWhenItsLeaseIsRevoked) {
  const int64_t lease = Lease();
  auto won = group_->Campaign(lease, "a", "http://a");
  ASSERT_TRUE(won.ok()) << won.status().ToString();
  ASSERT_TRUE(group_->client().LeaseRevoke(lease).ok());
  auto writer = group_->Writer();
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  EXPECT_FALSE(writer->has_value());
  // The next election is won by the next node, at a new revision.
  auto next = group_->Campaign(Lease(), "b", "http://b");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->node, "b");
  EXPECT_GT(next->revision, won->revision);
}

TEST_F(GroupTest, CommitsInSequenceRaiseTheHeadAndFetchBackByteForByte) {
  const int64_t revision = Win("a");
  MustCommit(revision, 0, MakeBatch(1, 3));
  EXPECT_EQ(Head(), 3u);
  MustCommit(revision, 3, MakeBatch(4, 2));
  EXPECT_EQ(Head(), 5u);
  Batch binary{6, {std::string("\0\xff\x01", 3), "", std::string(70'000, '\x80')}};
  MustCommit(revision, 5, binary);
  EXPECT_EQ(Head(), 8u);
  Fetched fetched = MustFetch(1);
  ASSERT_EQ(Firsts(fetched.batches), (std::vector<Lsn>{1, 4, 6}));
  EXPECT_EQ(fetched.batches[0].records, MakeBatch(1, 3).records);
  EXPECT_EQ(fetched.batches[1].records, MakeBatch(4, 2).records);
  EXPECT_EQ(fetched.batches[2].records, binary.records);
  EXPECT_FALSE(fetched.behind_window);
}

TEST_F(GroupTest, ACommitWithAStaleWriterRevisionIsRefused) {
  const int64_t lease = Lease();
  auto old_writer = group_->Campaign(lease, "a", "http://a");
  ASSERT_TRUE(old_writer.ok()) << old_writer.status().ToString();
  MustCommit(old_writer->revision, 0, MakeBatch(1, 2));
  // a's lease goes; b wins.
  ASSERT_TRUE(group_->client().LeaseRevoke(lease).ok());
  const int64_t new_revision = Win("b");
  ASSERT_NE(new_revision, old_writer->revision);
  // What a still sends with its revision is refused, even at the right head.
  EXPECT_EQ(CommitOutcome(old_writer->revision, 2, MakeBatch(3, 1)), Group::Outcome::kRefused);
  EXPECT_EQ(Head(), 2u);
  EXPECT_EQ(Firsts(MustFetch(1).batches), (std::vector<Lsn>{1}));
  // b's goes in.
  MustCommit(new_revision, 2, MakeBatch(3, 1));
  EXPECT_EQ(Head(), 3u);
}

TEST_F(GroupTest, ACommitWithoutAWriterIsRefused) {
  // (Revision 0 is not a writer's: a compare with it means "no writer key".)
  EXPECT_EQ(CommitOutcome(12345, 0, MakeBatch(1, 1)), Group::Outcome::kRefused);
  EXPECT_EQ(CommitOutcome(1, 0, MakeBatch(1, 1)), Group::Outcome::kRefused);
  EXPECT_EQ(Head(), 0u);
  EXPECT_TRUE(MustFetch(1).batches.empty());
}

TEST_F(GroupTest, ACommitAfterTheWrongPrevIsRefused) {
  const int64_t revision = Win("a");
  MustCommit(revision, 0, MakeBatch(1, 2));
  // prev ahead of the head, behind it, and "no head" once there is one.
  EXPECT_EQ(CommitOutcome(revision, 5, MakeBatch(6, 1)), Group::Outcome::kRefused);
  EXPECT_EQ(CommitOutcome(revision, 1, MakeBatch(2, 3)), Group::Outcome::kRefused);
  EXPECT_EQ(CommitOutcome(revision, 0, MakeBatch(1, 3)), Group::Outcome::kRefused);
  EXPECT_EQ(Head(), 2u);
  Fetched fetched = MustFetch(1);
  ASSERT_EQ(Firsts(fetched.batches), (std::vector<Lsn>{1}));
  EXPECT_EQ(fetched.batches[0].records, MakeBatch(1, 2).records);
}

TEST_F(GroupTest, ACommitResentAfterItCommittedAnswersCommitted) {
  const int64_t revision = Win("a");
  // The first answer was lost; the writer sends the same batch again.
  MustCommit(revision, 0, MakeBatch(1, 2));
  EXPECT_EQ(CommitOutcome(revision, 0, MakeBatch(1, 2)), Group::Outcome::kCommitted);
  MustCommit(revision, 2, MakeBatch(3, 3));
  EXPECT_EQ(CommitOutcome(revision, 2, MakeBatch(3, 3)), Group::Outcome::kCommitted);
  EXPECT_EQ(Head(), 5u);
  EXPECT_EQ(Firsts(MustFetch(1).batches), (std::vector<Lsn>{1, 3}));
  // Not another batch at the same LSNs, nor a resend once the head moved on.
  Batch other = MakeBatch(3, 3);
  other.records[1] = "something else";
  EXPECT_EQ(CommitOutcome(revision, 2, other), Group::Outcome::kRefused);
  EXPECT_EQ(CommitOutcome(revision, 0, MakeBatch(1, 2)), Group::Outcome::kRefused);
  EXPECT_EQ(Head(), 5u);
}

TEST_F(GroupTest, FetchFromABatchBoundaryStartsThere) {
  CommitThreeBatches(Win("a"));
  EXPECT_EQ(Firsts(MustFetch(1).batches), (std::vector<Lsn>{1, 4, 6}));
  EXPECT_EQ(Firsts(MustFetch(4).batches), (std::vector<Lsn>{4, 6}));
  EXPECT_EQ(Firsts(MustFetch(6).batches), (std::vector<Lsn>{6}));
  // At most max_batches.
  EXPECT_EQ(Firsts(MustFetch(1, 2).batches), (std::vector<Lsn>{1, 4}));
  EXPECT_EQ(Firsts(MustFetch(4, 1).batches), (std::vector<Lsn>{4}));
}

TEST_F(GroupTest, FetchFromInsideABatchReturnsThatBatchFirst) {
  CommitThreeBatches(Win("a"));
  Fetched fetched = MustFetch(5);
  ASSERT_EQ(Firsts(fetched.batches), (std::vector<Lsn>{4, 6}));
  EXPECT_EQ(fetched.batches[0].records, MakeBatch(4, 2).records);
  EXPECT_FALSE(fetched.behind_window);
  EXPECT_EQ(Firsts(MustFetch(2).batches), (std::vector<Lsn>{1, 4, 6}));
  EXPECT_EQ(Firsts(MustFetch(9).batches), (std::vector<Lsn>{6}));
}

TEST_F(GroupTest, FetchFromInsideABatchAddsTheBatchHoldingItToTheLimit) {
  CommitThreeBatches(Win("a"));
  // max_batches from `from` on, and first the batch that holds `from`.
  EXPECT_EQ(Firsts(MustFetch(5, 1).batches), (std::vector<Lsn>{4, 6}));
  EXPECT_EQ(Firsts(MustFetch(2, 1).batches), (std::vector<Lsn>{1, 4}));
  EXPECT_EQ(Firsts(MustFetch(4, 1).batches), (std::vector<Lsn>{4}));
}

TEST_F(GroupTest, FetchPastTheHeadIsEmptyAndNotBehind) {
  CommitThreeBatches(Win("a"));
  for (Lsn from : {Lsn{10}, Lsn{11}, Lsn{1000}}) {
    Fetched fetched = MustFetch(from);
    EXPECT_TRUE(fetched.batches.empty()) << from;
    EXPECT_FALSE(fetched.behind_window) << from;
    EXPECT_EQ(fetched.window_start, 0u) << from;
  }
}

TEST_F(GroupTest, FetchAfterTrimIsBehindTheWindow) {
  CommitThreeBatches(Win("a"));
  auto trimmed = group_->Trim(5);  // every node has applied 1..5
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().ToString();
  for (Lsn from : {Lsn{1}, Lsn{3}, Lsn{4}, Lsn{5}}) {
    Fetched fetched = MustFetch(from);
    EXPECT_TRUE(fetched.behind_window) << from;
    EXPECT_EQ(fetched.window_start, 6u) << from;
    EXPECT_TRUE(fetched.batches.empty()) << from;
  }
  Fetched kept = MustFetch(6);
  EXPECT_FALSE(kept.behind_window);
  EXPECT_EQ(Firsts(kept.batches), (std::vector<Lsn>{6}));
  EXPECT_EQ(Firsts(MustFetch(8).batches), (std::vector<Lsn>{6}));
  // Everything trimmed: behind, and etcd holds nothing to start from.
  ASSERT_TRUE(group_->Trim(9).ok());
  Fetched none = MustFetch(2);
  EXPECT_TRUE(none.behind_window);
  EXPECT_EQ(none.window_start, 0u);
  // Past the head is still just "nothing yet".
  Fetched later = MustFetch(10);
  EXPECT_FALSE(later.behind_window);
  EXPECT_TRUE(later.batches.empty());
  EXPECT_EQ(Head(), 9u);
}

TEST_F(GroupTest, TrimCompactsUpToTheRevisionOfItsDelete) {
  CommitThreeBatches(Win("a"));
  const int64_t before = group_->Fetch(6, 64)->revision;
  auto trimmed = group_->Trim(5);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().ToString();
  EXPECT_GT(*trimmed, before);
  EXPECT_EQ(Firsts(MustFetch(6).batches), (std::vector<Lsn>{6}));
  // History before that revision is gone.
  auto old = group_->client().Range(group_->keys().batch(1), {}, 0, before);
  EXPECT_EQ(old.status().code(), Status::Code::kFailedPrecondition) << old.status().ToString();
}

TEST_F(GroupTest, TrimmingAgainWithNothingNewToTrimSucceeds) {
  CommitThreeBatches(Win("a"));
  ASSERT_TRUE(group_->Trim(5).ok());
  // Nothing to delete and nothing written since: the history is already
  // compacted up to now, which is what Trim was asked for.
  auto again = group_->Trim(5);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(Firsts(MustFetch(6).batches), (std::vector<Lsn>{6}));
  EXPECT_EQ(Head(), 9u);
}

TEST_F(GroupTest, ABatchKeyThatQuipuDidNotWriteIsCorruption) {
  CommitThreeBatches(Win("a"));
  const GroupKeys& keys = group_->keys();
  // Garbage under the key of LSN 10.
  ASSERT_TRUE(group_->client().Put(keys.batch(10), "not a batch").ok());
  auto garbage = group_->Fetch(10, 64);
  ASSERT_TRUE(garbage.status().IsCorruption()) << garbage.status().ToString();
  EXPECT_NE(garbage.status().ToString().find(keys.batch(10)), std::string::npos)
      << garbage.status().ToString();
  // A good batch under the key of another LSN.
  ASSERT_TRUE(group_->client().Put(keys.batch(10), EncodeBatch(MakeBatch(11, 1))).ok());
  EXPECT_TRUE(group_->Fetch(10, 64).status().IsCorruption());
  // A head that is not a number.
  ASSERT_TRUE(group_->client().Put(keys.head(), "nine").ok());
  EXPECT_TRUE(group_->Head().status().IsCorruption());
}

TEST_F(GroupTest, PublishedStatusesShowInNodesUntilTheirLeaseGoes) {
  const int64_t lease_a = Lease(), lease_b = Lease();
  NodeStatus a{"a", "http://a", "writer", 9, 9, "aa", 0, ""};
  NodeStatus b{"b", "http://b", "follower", 5, 6, "bb", 256, "cc"};
  ASSERT_TRUE(group_->Publish(lease_a, a).ok());
  ASSERT_TRUE(group_->Publish(lease_b, b).ok());
  auto nodes = group_->Nodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 2u);
  const NodeStatus& got_a = (*nodes)[0];
  const NodeStatus& got_b = (*nodes)[1];
  EXPECT_EQ(got_a.node, "a");
  EXPECT_EQ(got_a.url, "http://a");
  EXPECT_EQ(got_a.role, "writer");
  EXPECT_EQ(got_a.applied, 9u);
  EXPECT_EQ(got_a.tree_size, 9u);
  EXPECT_EQ(got_a.root, "aa");
  EXPECT_EQ(got_b.node, "b");
  EXPECT_EQ(got_b.role, "follower");
  EXPECT_EQ(got_b.applied, 5u);
  EXPECT_EQ(got_b.tree_size, 6u);
  EXPECT_EQ(got_b.root, "bb");
  EXPECT_EQ(got_b.grid_size, 256u);
  EXPECT_EQ(got_b.grid_root, "cc");
  // A new status replaces the old one.
  a.applied = 12;
  ASSERT_TRUE(group_->Publish(lease_a, a).ok());
  nodes = group_->Nodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[0].applied, 12u);
  // a's lease goes, and with it a's key.
  ASSERT_TRUE(group_->client().LeaseRevoke(lease_a).ok());
  nodes = group_->Nodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].node, "b");
}

TEST_F(GroupTest, WaitForBatchesReturnsWhenAnotherThreadCommits) {
  const int64_t revision = Win("a");
  MustCommit(revision, 0, MakeBatch(1, 1));
  const int64_t seen = MustFetch(2).revision;
  std::unique_ptr<Group> writer = NewGroup();
  std::thread committer([&] {
    std::this_thread::sleep_for(150ms);
    Batch batch = MakeBatch(2, 2);
    auto outcome = writer->Commit(revision, 1, batch, EncodeBatch(batch));
    EXPECT_TRUE(outcome.ok() && *outcome == Group::Outcome::kCommitted);
  });
  const auto start = Clock::now();
  Status waited = group_->WaitForBatches(seen, 10s);
  const auto took = Since(start);
  committer.join();
  ASSERT_TRUE(waited.ok()) << waited.ToString();
  EXPECT_LT(took, 5s);
  EXPECT_EQ(Firsts(MustFetch(2).batches), (std::vector<Lsn>{2}));
}

TEST_F(GroupTest, WaitForBatchesReturnsOnTimeout) {
  CommitThreeBatches(Win("a"));
  // Writes outside the batches (the head alone, another group) wake nothing.
  Fetched now = MustFetch(10);
  ASSERT_TRUE(group_->client().Put("/quipu/another-group/batch/x", "y").ok());
  const auto start = Clock::now();
  Status waited = group_->WaitForBatches(now.revision, 400ms);
  const auto took = Since(start);
  ASSERT_TRUE(waited.ok()) << waited.ToString();
  EXPECT_GE(took, 350ms);
  EXPECT_LT(took, 3s);
}

TEST_F(GroupTest, WaitForBatchesFromACompactedRevisionReturnsAtOnce) {
  MustCommit(Win("a"), 0, MakeBatch(1, 1));
  const int64_t seen = MustFetch(2).revision;
  // No batch changes after `seen`, but its history goes: a watch from it
  // would wait for ever, and is answered that it was compacted instead.
  ASSERT_TRUE(group_->client().Put("/quipu/another-group/x", "1").ok());
  ASSERT_TRUE(group_->client().Put("/quipu/another-group/x", "2").ok());
  ASSERT_TRUE(group_->Trim(0).ok());  // trims nothing, compacts up to now
  const auto start = Clock::now();
  Status waited = group_->WaitForBatches(seen, 5s);
  EXPECT_TRUE(waited.ok()) << waited.ToString();
  EXPECT_LT(Since(start), 2s);
}

}  // namespace
}  // namespace quipu::replication
