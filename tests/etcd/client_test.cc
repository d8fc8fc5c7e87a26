// The etcd client against real etcd members (tests/etcd/etcd_cluster.h).
// Most tests share one single-member cluster per process, each under a key
// prefix of its own; those that change the cluster (limits, failover) start
// their own.
#include "etcd/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "etcd/etcd_cluster.h"

namespace quipu::etcd {
namespace {

using namespace std::chrono_literals;
using quipu::testing::EtcdCluster;
using quipu::testing::SharedEtcdTest;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Client> Connect(const std::vector<std::string>& endpoints,
                                std::chrono::milliseconds timeout = 2000ms) {
  Result<std::unique_ptr<Client>> client =
      Client::Create({.endpoints = endpoints, .timeout = timeout});
  if (!client.ok()) {
    ADD_FAILURE() << client.status().ToString();
    return nullptr;
  }
  return std::move(client).value();
}

std::chrono::milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// The tests of this fixture share one single-member cluster.
class EtcdClientTest : public SharedEtcdTest {
 protected:
  void SetUp() override {
    SharedEtcdTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    client_ = Connect(cluster_->endpoints());
    ASSERT_NE(client_, nullptr);
    prefix_ =
        std::string("/") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "/";
  }

  std::string Key(std::string_view name) const { return prefix_ + std::string(name); }

  // The store's current revision.
  int64_t Now() {
    Result<RangeResult> range = client_->Range(Key("-"));
    EXPECT_TRUE(range.ok()) << range.status().ToString();
    return range.ok() ? range->revision : 0;
  }

  std::unique_ptr<Client> client_;
  std::string prefix_;
};

TEST_F(EtcdClientTest, PutThenRangeReturnsTheValueAndItsRevisions) {
  Result<int64_t> first = client_->Put(Key("k"), "v1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<int64_t> second = client_->Put(Key("k"), "v2");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GT(*second, *first);

  Result<RangeResult> range = client_->Range(Key("k"));
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->kvs.size(), 1u);
  const KeyValue& kv = range->kvs[0];
  EXPECT_EQ(kv.key, Key("k"));
  EXPECT_EQ(kv.value, "v2");
  EXPECT_EQ(kv.create_revision, *first);
  EXPECT_EQ(kv.mod_revision, *second);
  EXPECT_EQ(kv.version, 2);
  EXPECT_EQ(kv.lease, 0);
  EXPECT_EQ(range->count, 1);
  EXPECT_FALSE(range->more);
  EXPECT_GE(range->revision, *second);

  // As of the first write's revision, the first value.
  Result<RangeResult> old = client_->Range(Key("k"), {}, 0, *first);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  ASSERT_EQ(old->kvs.size(), 1u);
  EXPECT_EQ(old->kvs[0].value, "v1");

  Result<RangeResult> absent = client_->Range(Key("absent"));
  ASSERT_TRUE(absent.ok()) << absent.status().ToString();
  EXPECT_TRUE(absent->kvs.empty());
  EXPECT_EQ(absent->count, 0);
}

TEST_F(EtcdClientTest, PrefixRangeStopsAtTheLimitAndSaysThereIsMore) {
  for (const char* name : {"p/c", "p/a", "p/b", "q"}) {
    ASSERT_TRUE(client_->Put(Key(name), name).ok());
  }
  const std::string prefix = Key("p/");
  Result<RangeResult> limited = client_->Range(prefix, PrefixEnd(prefix), 2);
  ASSERT_TRUE(limited.ok()) << limited.status().ToString();
  ASSERT_EQ(limited->kvs.size(), 2u);
  EXPECT_EQ(limited->kvs[0].key, Key("p/a"));  // sorted by key
  EXPECT_EQ(limited->kvs[1].key, Key("p/b"));
  EXPECT_EQ(limited->count, 3);
  EXPECT_TRUE(limited->more);

  Result<RangeResult> all = client_->Range(prefix, PrefixEnd(prefix));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->kvs.size(), 3u);
  EXPECT_EQ(all->kvs[2].value, "p/c");
  EXPECT_EQ(all->count, 3);
  EXPECT_FALSE(all->more);
}

TEST_F(EtcdClientTest, LastInRangeIsTheKeyThatSortsLast) {
  for (const char* name : {"p/b", "p/a", "p/c", "q"}) {
    ASSERT_TRUE(client_->Put(Key(name), name).ok());
  }
  auto last = client_->LastInRange(Key("p/"), Key("p/c"));
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ((*last)->key, Key("p/b"));
  EXPECT_EQ((*last)->value, "p/b");
  auto none = client_->LastInRange(Key("o/"), Key("o/z"));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
}

TEST_F(EtcdClientTest, DeleteRemovesAKeyOrAPrefixAndCountsWhatItRemoved) {
  for (const char* name : {"a", "b", "c"}) ASSERT_TRUE(client_->Put(Key(name), "x").ok());
  Result<int64_t> one = client_->Delete(Key("a"));
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(*one, 1);
  Result<int64_t> none = client_->Delete(Key("a"));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, 0);
  Result<int64_t> rest = client_->Delete(prefix_, PrefixEnd(prefix_));
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_EQ(*rest, 2);
  Result<RangeResult> left = client_->Range(prefix_, PrefixEnd(prefix_));
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_EQ(left->count, 0);
}

TEST_F(EtcdClientTest, TxnCreatesIfAbsentOnceThenRunsTheFailureBranchWithItsRanges) {
  const std::string key = Key("lock");
  const std::vector<Compare> absent = {Compare::CreateRevisionIs(key, 0)};
  const std::vector<Op> read_back = {Op::Get(key), Op::Get(prefix_, PrefixEnd(prefix_))};

  Result<TxnResult> created = client_->Txn(absent, {Op::Put(key, "first")}, read_back);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(created->succeeded);
  EXPECT_TRUE(created->ranges.empty());  // the success branch has no range
  EXPECT_GT(created->revision, 0);

  Result<TxnResult> again = client_->Txn(absent, {Op::Put(key, "second")}, read_back);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->succeeded);
  EXPECT_EQ(again->revision, created->revision);  // nothing written
  ASSERT_EQ(again->ranges.size(), 2u);
  ASSERT_EQ(again->ranges[0].size(), 1u);
  EXPECT_EQ(again->ranges[0][0].value, "first");
  EXPECT_EQ(again->ranges[0][0].create_revision, created->revision);
  ASSERT_EQ(again->ranges[1].size(), 1u);
  EXPECT_EQ(again->ranges[1][0].key, key);
}

TEST_F(EtcdClientTest, TxnValueIsAndModRevisionIsChooseTheBranch) {
  const std::string key = Key("k");
  Result<int64_t> written = client_->Put(key, "v1");
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  const std::vector<Compare> unchanged = {Compare::ValueIs(key, "v1"),
                                          Compare::ModRevisionIs(key, *written)};

  Result<TxnResult> swapped = client_->Txn(unchanged, {Op::Put(key, "v2")}, {Op::Get(key)});
  ASSERT_TRUE(swapped.ok()) << swapped.status().ToString();
  EXPECT_TRUE(swapped->succeeded);
  EXPECT_GT(swapped->revision, *written);

  // The same comparisons no longer hold: the failure branch reads the new value.
  Result<TxnResult> stale = client_->Txn(unchanged, {Op::Put(key, "v3")}, {Op::Get(key)});
  ASSERT_TRUE(stale.ok()) << stale.status().ToString();
  EXPECT_FALSE(stale->succeeded);
  ASSERT_EQ(stale->ranges.size(), 1u);
  ASSERT_EQ(stale->ranges[0].size(), 1u);
  EXPECT_EQ(stale->ranges[0][0].value, "v2");
  EXPECT_EQ(stale->ranges[0][0].mod_revision, swapped->revision);

  // A value that differs fails alone; the current mod revision holds alone.
  Result<TxnResult> other = client_->Txn({Compare::ValueIs(key, "v1")}, {Op::Delete(key)});
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_FALSE(other->succeeded);
  Result<TxnResult> removed =
      client_->Txn({Compare::ModRevisionIs(key, swapped->revision)}, {Op::Delete(key)});
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_TRUE(removed->succeeded);
  Result<RangeResult> gone = client_->Range(key);
  ASSERT_TRUE(gone.ok()) << gone.status().ToString();
  EXPECT_TRUE(gone->kvs.empty());
}

TEST_F(EtcdClientTest, TxnComparesVersionLeaseAndOrder) {
  const std::string key = Key("k");
  ASSERT_TRUE(client_->Put(key, "b").ok());
  auto holds = [&](Compare::Target target, Compare::Op op, int64_t number, std::string value) {
    Compare c{.key = key, .target = target, .op = op, .value = std::move(value), .number = number};
    Result<TxnResult> txn = client_->Txn({c}, {});
    EXPECT_TRUE(txn.ok()) << txn.status().ToString();
    return txn.ok() && txn->succeeded;
  };
  using T = Compare::Target;
  using O = Compare::Op;
  EXPECT_TRUE(holds(T::kVersion, O::kEqual, 1, ""));
  EXPECT_TRUE(holds(T::kVersion, O::kGreater, 0, ""));
  EXPECT_FALSE(holds(T::kVersion, O::kLess, 1, ""));
  EXPECT_TRUE(holds(T::kLease, O::kEqual, 0, ""));
  EXPECT_TRUE(holds(T::kValue, O::kNotEqual, 0, "a"));
  EXPECT_TRUE(holds(T::kValue, O::kGreater, 0, "a"));  // byte order
  EXPECT_FALSE(holds(T::kValue, O::kLess, 0, "a"));
}

TEST_F(EtcdClientTest, EveryByteValueRoundTripsInKeysAndValues) {
  std::string bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  const std::string key = Key(bytes);
  ASSERT_TRUE(client_->Put(key, bytes).ok());
  // Lengths 0..3 cover each base64 padding.
  for (size_t n = 0; n < 4; ++n) {
    ASSERT_TRUE(client_->Put(Key("len") + std::to_string(n), bytes.substr(250, n)).ok());
  }

  Result<RangeResult> range = client_->Range(key);
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].key, key);
  EXPECT_EQ(range->kvs[0].value, bytes);
  for (size_t n = 0; n < 4; ++n) {
    Result<RangeResult> short_value = client_->Range(Key("len") + std::to_string(n));
    ASSERT_TRUE(short_value.ok()) << short_value.status().ToString();
    ASSERT_EQ(short_value->kvs.size(), 1u);
    EXPECT_EQ(short_value->kvs[0].value, bytes.substr(250, n));
  }
  // A prefix ending in 0xff bytes: PrefixEnd still bounds it.
  Result<RangeResult> tail = client_->Range(Key("\xff\xff"), PrefixEnd(Key("\xff\xff")));
  ASSERT_TRUE(tail.ok()) << tail.status().ToString();
  EXPECT_TRUE(tail->kvs.empty());
}

TEST_F(EtcdClientTest, OneMebibyteValueRoundTrips) {
  std::mt19937_64 random(42);
  std::string value(1 << 20, '\0');
  for (char& c : value) c = static_cast<char>(random());
  Result<int64_t> put = client_->Put(Key("big"), value);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  Result<RangeResult> range = client_->Range(Key("big"));
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_TRUE(range->kvs[0].value == value) << "the value differs";
}

TEST_F(EtcdClientTest, LeaseKeepAliveRefreshesAndRevokeDeletesAttachedKeys) {
  Result<int64_t> lease = client_->LeaseGrant(10s);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_NE(*lease, 0);
  ASSERT_TRUE(client_->Put(Key("held"), "x", *lease).ok());
  Result<RangeResult> held = client_->Range(Key("held"));
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_EQ(held->kvs.size(), 1u);
  EXPECT_EQ(held->kvs[0].lease, *lease);

  Result<int64_t> ttl = client_->LeaseKeepAlive(*lease);
  ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
  EXPECT_EQ(*ttl, 10);

  Status revoked = client_->LeaseRevoke(*lease);
  ASSERT_TRUE(revoked.ok()) << revoked.ToString();
  Result<RangeResult> gone = client_->Range(Key("held"));
  ASSERT_TRUE(gone.ok()) << gone.status().ToString();
  EXPECT_TRUE(gone->kvs.empty());
  EXPECT_EQ(client_->LeaseKeepAlive(*lease).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(client_->LeaseRevoke(*lease).code(), Status::Code::kNotFound);
}

TEST_F(EtcdClientTest, LeaseKeepAliveAfterExpiryIsNotFound) {
  Result<int64_t> lease = client_->LeaseGrant(1s);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_TRUE(client_->Put(Key("held"), "x", *lease).ok());
  std::this_thread::sleep_for(3s);
  Result<int64_t> ttl = client_->LeaseKeepAlive(*lease);
  EXPECT_EQ(ttl.status().code(), Status::Code::kNotFound) << ttl.status().ToString();
  Result<RangeResult> gone = client_->Range(Key("held"));
  ASSERT_TRUE(gone.ok()) << gone.status().ToString();
  EXPECT_TRUE(gone->kvs.empty());
}

TEST_F(EtcdClientTest, ReadingACompactedRevisionIsFailedPrecondition) {
  Result<int64_t> first = client_->Put(Key("k"), "v1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<int64_t> second = client_->Put(Key("k"), "v2");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  Status compacted = client_->Compact(*second);
  ASSERT_TRUE(compacted.ok()) << compacted.ToString();

  Result<RangeResult> old = client_->Range(Key("k"), {}, 0, *first);
  EXPECT_EQ(old.status().code(), Status::Code::kFailedPrecondition) << old.status().ToString();
  EXPECT_NE(old.status().message().find("compacted"), std::string::npos);
  Result<std::vector<WatchEvent>> watched = client_->WaitForChanges(Key("k"), {}, *first, 5s);
  EXPECT_EQ(watched.status().code(), Status::Code::kFailedPrecondition)
      << watched.status().ToString();
  EXPECT_EQ(client_->Compact(*first).code(), Status::Code::kFailedPrecondition);

  Result<RangeResult> current = client_->Range(Key("k"), {}, 0, *second);
  ASSERT_TRUE(current.ok()) << current.status().ToString();
  ASSERT_EQ(current->kvs.size(), 1u);
  EXPECT_EQ(current->kvs[0].value, "v2");
}

TEST_F(EtcdClientTest, WaitForChangesSeesAPutMadeByAnotherThreadWhileWaiting) {
  const int64_t start = Now() + 1;
  std::thread writer([&] {
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(client_->Put(Key("k"), "hello").ok());
  });
  const Clock::time_point begin = Clock::now();
  Result<std::vector<WatchEvent>> events = client_->WaitForChanges(Key("k"), {}, start, 10s);
  const auto waited = Since(begin);
  writer.join();
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ((*events)[0].kv.key, Key("k"));
  EXPECT_EQ((*events)[0].kv.value, "hello");
  EXPECT_GE((*events)[0].kv.mod_revision, start);
  EXPECT_LT(waited, 5s);
}

TEST_F(EtcdClientTest, WaitForChangesReturnsNothingWhenTheTimeoutPasses) {
  const Clock::time_point begin = Clock::now();
  Result<std::vector<WatchEvent>> events =
      client_->WaitForChanges(prefix_, PrefixEnd(prefix_), Now() + 1, 300ms);
  const auto waited = Since(begin);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  EXPECT_TRUE(events->empty());
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 2s);
}

TEST_F(EtcdClientTest, WaitForChangesFromAPastRevisionReturnsItsEventsAtOnce) {
  Result<int64_t> first = client_->Put(Key("a"), "1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(client_->Put(Key("b"), "2").ok());
  ASSERT_TRUE(client_->Delete(Key("a")).ok());

  const Clock::time_point begin = Clock::now();
  Result<std::vector<WatchEvent>> events =
      client_->WaitForChanges(prefix_, PrefixEnd(prefix_), *first, 10s);
  EXPECT_LT(Since(begin), 2s);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  // etcd may split history into several answers: poll on as callers do.
  std::vector<WatchEvent> all = *events;
  while (!all.empty() && all.size() < 3 && Since(begin) < 10s) {
    Result<std::vector<WatchEvent>> more =
        client_->WaitForChanges(prefix_, PrefixEnd(prefix_), all.back().kv.mod_revision + 1, 1s);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    all.insert(all.end(), more->begin(), more->end());
  }
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(all[0].kv.key, Key("a"));
  EXPECT_EQ(all[0].kv.mod_revision, *first);
  EXPECT_EQ(all[1].kv.value, "2");
  EXPECT_EQ(all[2].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(all[2].kv.key, Key("a"));
  EXPECT_GT(all[2].kv.mod_revision, all[1].kv.mod_revision);
}

TEST_F(EtcdClientTest, ConcurrentCallsFromEightThreadsAllSucceed) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 10;
  const std::string counter = Key("counter");
  ASSERT_TRUE(client_->Put(counter, "0").ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string mine = Key("t") + std::to_string(t);
      for (int i = 0; i < kIncrements; ++i) {
        // Its own key: written and read back.
        const std::string value = std::to_string(i);
        if (!client_->Put(mine, value).ok()) ++failures;
        Result<RangeResult> read = client_->Range(mine);
        if (!read.ok() || read->kvs.size() != 1 || read->kvs[0].value != value) ++failures;
        // The shared counter: compare-and-swap until it takes.
        for (const Clock::time_point begin = Clock::now(); Since(begin) < 30s;) {
          Result<RangeResult> now = client_->Range(counter);
          if (!now.ok() || now->kvs.size() != 1) break;
          const KeyValue& kv = now->kvs[0];
          Result<TxnResult> swap =
              client_->Txn({Compare::ModRevisionIs(counter, kv.mod_revision)},
                           {Op::Put(counter, std::to_string(std::stoi(kv.value) + 1))});
          if (!swap.ok()) break;
          if (swap->succeeded) break;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  Result<RangeResult> total = client_->Range(counter);
  ASSERT_TRUE(total.ok()) << total.status().ToString();
  ASSERT_EQ(total->kvs.size(), 1u);
  EXPECT_EQ(total->kvs[0].value, std::to_string(kThreads * kIncrements));
}

// --- without a cluster ------------------------------------------------------

TEST(EtcdClientOptionsTest, CreateRefusesMissingOrUnsupportedEndpoints) {
  for (const std::vector<std::string>& endpoints :
       std::vector<std::vector<std::string>>{{},
                                             {"https://127.0.0.1:2379"},
                                             {"127.0.0.1"},
                                             {"http://127.0.0.1:2379/v3"},
                                             {"http://127.0.0.1:port"}}) {
    Result<std::unique_ptr<Client>> client = Client::Create({.endpoints = endpoints});
    EXPECT_EQ(client.status().code(), Status::Code::kInvalidArgument)
        << (endpoints.empty() ? "(none)" : endpoints[0]);
  }
  EXPECT_EQ(Client::Create({.endpoints = {"127.0.0.1:2379"}, .timeout = 0ms}).status().code(),
            Status::Code::kInvalidArgument);
  // Creating does not connect: nothing needs to listen there.
  EXPECT_TRUE(Client::Create({.endpoints = {"127.0.0.1:1", "http://[::1]:2/"}}).ok());
}

TEST(EtcdClientOptionsTest, BadArgumentsAreRefusedBeforeSending) {
  std::unique_ptr<Client> client = Connect({"127.0.0.1:1"});
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->Put("", "v").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(client->Range("").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(client->Txn({}, {Op::Put("", "v")}).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(client->LeaseGrant(0s).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(client->Compact(0).code(), Status::Code::kInvalidArgument);
}

TEST(PrefixEndTest, BumpsTheLastByteThatCanBeBumped) {
  EXPECT_EQ(PrefixEnd("a/"), "a0");
  EXPECT_EQ(PrefixEnd("ab\xff"), "ac");
  EXPECT_EQ(PrefixEnd("\xff\xff"), std::string(1, '\0'));
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

// --- clusters of their own ----------------------------------------------------

// The cluster's endpoints, member `first`'s first.
std::vector<std::string> ListedFirst(const EtcdCluster& cluster, int first) {
  std::vector<std::string> endpoints = {cluster.endpoint(first)};
  for (int i = 0; i < cluster.size(); ++i) {
    if (i != first) endpoints.push_back(cluster.endpoint(i));
  }
  return endpoints;
}

TEST(EtcdLimitsTest, AValueOverTheRequestLimitIsFailedPrecondition) {
  QUIPU_SKIP_WITHOUT_ETCD();
  EtcdCluster cluster(1, {"--max-request-bytes", "65536"});
  ASSERT_TRUE(cluster.Start());
  std::unique_ptr<Client> client = Connect(cluster.endpoints());
  ASSERT_NE(client, nullptr);
  // etcd's own check ("request is too large"), then gRPC's, which is the
  // limit plus 512 KiB ("received message larger than max").
  for (size_t size : {size_t{100} << 10, size_t{1} << 20}) {
    Result<int64_t> put = client->Put("/big", std::string(size, 'x'));
    EXPECT_EQ(put.status().code(), Status::Code::kFailedPrecondition)
        << size << " bytes: " << put.status().ToString();
  }
  // The refusals left the connection usable.
  EXPECT_TRUE(client->Put("/small", std::string(1000, 'x')).ok());
}

TEST(EtcdFailoverTest, CallsSucceedAfterTheFirstListedMemberIsKilled) {
  QUIPU_SKIP_WITHOUT_ETCD();
  EtcdCluster cluster(3);
  ASSERT_TRUE(cluster.Start());
  // A follower, so that the cluster keeps its leader and no call has to
  // wait out an election.
  const int victim = (std::max(cluster.LeaderIndex(), 0) + 1) % 3;
  std::unique_ptr<Client> client = Connect(ListedFirst(cluster, victim), 1000ms);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Put("/k", "before").ok());  // leaves a kept-alive connection

  cluster.Kill(victim);
  for (int i = 0; i < 5; ++i) {
    const Clock::time_point begin = Clock::now();
    Result<int64_t> put = client->Put("/k", "after" + std::to_string(i));
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    Result<RangeResult> range = client->Range("/k");
    ASSERT_TRUE(range.ok()) << range.status().ToString();
    ASSERT_EQ(range->kvs.size(), 1u);
    EXPECT_EQ(range->kvs[0].value, "after" + std::to_string(i));
    EXPECT_LT(Since(begin), 1000ms);
  }

  // Back on its old data, it catches up.
  ASSERT_TRUE(cluster.Restart(victim));
  std::unique_ptr<Client> direct = Connect({cluster.endpoint(victim)});
  ASSERT_NE(direct, nullptr);
  Result<RangeResult> caught_up = direct->Range("/k");
  ASSERT_TRUE(caught_up.ok()) << caught_up.status().ToString();
  ASSERT_EQ(caught_up->kvs.size(), 1u);
  EXPECT_EQ(caught_up->kvs[0].value, "after4");
}

TEST(EtcdFailoverTest, ConnectionsKeptAliveAcrossAMemberRestartAreReplaced) {
  QUIPU_SKIP_WITHOUT_ETCD();
  EtcdCluster cluster(1);
  ASSERT_TRUE(cluster.Start());
  std::unique_ptr<Client> client = Connect(cluster.endpoints());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Put("/k", "before").ok());
  ASSERT_TRUE(cluster.Restart(0));
  // The only member: its old connection is dead, and no other member can
  // stand in, so the call succeeds only on a fresh connection.
  Result<RangeResult> range = client->Range("/k");
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].value, "before");
}

TEST(EtcdFailoverTest, AHungMemberCostsOneTimeoutThenTheOneThatAnsweredIsUsed) {
  QUIPU_SKIP_WITHOUT_ETCD();
  EtcdCluster cluster(3);
  ASSERT_TRUE(cluster.Start());
  const int victim = (std::max(cluster.LeaderIndex(), 0) + 1) % 3;
  std::unique_ptr<Client> client = Connect(ListedFirst(cluster, victim), 500ms);
  ASSERT_NE(client, nullptr);

  cluster.Pause(victim);
  Clock::time_point begin = Clock::now();
  ASSERT_TRUE(client->Put("/k", "v").ok());
  EXPECT_GE(Since(begin), 450ms);
  EXPECT_LT(Since(begin), 1500ms);
  begin = Clock::now();
  ASSERT_TRUE(client->Range("/k").ok());
  EXPECT_LT(Since(begin), 450ms);  // under one timeout: the hung member was not tried
  cluster.Resume(victim);
}

TEST(EtcdFailoverTest, CallsGoOnOnceTheKilledLeaderIsReplaced) {
  QUIPU_SKIP_WITHOUT_ETCD();
  EtcdCluster cluster(3);
  ASSERT_TRUE(cluster.Start());
  const int leader = cluster.LeaderIndex();
  ASSERT_GE(leader, 0);
  std::unique_ptr<Client> client = Connect(ListedFirst(cluster, leader), 1000ms);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Put("/k", "before").ok());

  cluster.Kill(leader);
  // The election takes about one election timeout (500 ms): a write in
  // between waits for it or fails, and callers retry.
  const Clock::time_point begin = Clock::now();
  Result<int64_t> put = Status::IOError("not tried");
  while (!(put = client->Put("/k", "after")).ok() && Since(begin) < 10s) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  Result<RangeResult> range = client->Range("/k");
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].value, "after");
}

TEST(EtcdFailoverTest, AllMembersDeadIsIOErrorWithinTheTimeouts) {
  QUIPU_SKIP_WITHOUT_ETCD();
  EtcdCluster cluster(3);
  ASSERT_TRUE(cluster.Start());
  std::unique_ptr<Client> client = Connect(cluster.endpoints(), 500ms);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Put("/k", "v").ok());
  for (int i = 0; i < 3; ++i) cluster.Kill(i);

  Clock::time_point begin = Clock::now();
  Result<int64_t> put = client->Put("/k", "w");
  EXPECT_LT(Since(begin), 2500ms);  // three attempts of at most 500 ms
  ASSERT_EQ(put.status().code(), Status::Code::kIOError) << put.status().ToString();
  for (const std::string& endpoint : cluster.endpoints()) {
    const std::string host_port = endpoint.substr(endpoint.find("//") + 2);
    EXPECT_NE(put.status().message().find(host_port), std::string::npos) << put.status().message();
  }
  begin = Clock::now();
  Result<std::vector<WatchEvent>> events = client->WaitForChanges("/k", {}, 0, 5s);
  EXPECT_EQ(events.status().code(), Status::Code::kIOError) << events.status().ToString();
  EXPECT_LT(Since(begin), 2500ms);
}

}  // namespace
}  // namespace quipu::etcd
