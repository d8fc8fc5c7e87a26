// replication/replica.h with in-process nodes: each node is an AuditStore
// in a directory of its own, opened as a server opens it (log.discard_after
// = Replica::RejoinPoint), and a Replica on it; all
// share one real single-member etcd (tests/etcd/etcd_cluster.h) and a group
// named after the test. Covers the election and replication to followers
// (same LSNs, roots and rows), failover after the writer stops, the
// uncommitted tail of a writer that lost etcd (it steps down, and its next
// open cuts the tail), a commit whose answer is lost (through a proxy that
// swallows etcd's answers), fencing of a node whose records differ, the
// window trim, and concurrent writers waiting for their commits.
//
// The nodes serve no HTTP, so a node that fell behind etcd's window could
// not copy from a peer (their url is http://127.0.0.1:1). Tests where a
// node starts or comes back late "pin" the window: a status published on
// a lease of the test's own that says it has applied nothing, which is what
// a live node that just started says, so the writer trims nothing.
#include "replication/replica.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_test_util.h"
#include "etcd/etcd_cluster.h"
#include "quipu/reader.h"
#include "test_dir.h"

namespace quipu::replication {
namespace {

using namespace std::chrono_literals;
using quipu::testing::EtcdCluster;
using quipu::testing::RecordsOf;
using quipu::testing::SharedEtcdTest;
using quipu::testing::TestDir;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Polls `done` every 10 ms until it holds or `limit` passes; true if it held.
bool Eventually(const std::function<bool()>& done, milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return done();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

Event Numbered(int i) {
  return quipu::testing::MakeEvent(quipu::testing::Actor("root", "Root"), "update",
                                   {quipu::testing::User("u" + std::to_string(i % 7), "n")},
                                   1'000'000 + i);
}

// The root of `store`'s first `size` records, in hex ("" on error).
std::string RootAt(AuditStore& store, uint64_t size) {
  Status caught_up = store.log()->tree()->CatchUp();
  EXPECT_TRUE(caught_up.ok()) << caught_up.ToString();
  auto root = store.log()->tree()->Root(size);
  EXPECT_TRUE(root.ok()) << root.status().ToString();
  return root.ok() ? root->ToHex() : "";
}

// A TCP proxy in front of one etcd member that can swallow its answers:
// requests still reach etcd (and a transaction commits) while the client
// times out, as when an answer is lost on the network.
class LossyProxy {
 public:
  explicit LossyProxy(int upstream_port) : upstream_port_(upstream_port) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(0);
    socklen_t len = sizeof(addr);
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listener_, 64) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "proxy: cannot listen: " << std::strerror(errno);
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~LossyProxy() {
    stop_.store(true);
    if (acceptor_.joinable()) acceptor_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (std::thread& t : pumps_) t.join();
    if (listener_ >= 0) close(listener_);
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // While set, every byte etcd sends back is dropped.
  void set_drop(bool drop) { drop_.store(drop); }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }

  void Accept() {
    while (!stop_.load()) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int client = accept(listener_, nullptr, nullptr);
      if (client < 0) continue;
      const int upstream = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr = Loopback(upstream_port_);
      if (upstream < 0 ||
          connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(client);
        if (upstream >= 0) close(upstream);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
    }
  }

  // Copies bytes both ways until either side closes or the proxy stops.
  void Pump(int client, int upstream) {
    char buf[16384];
    while (!stop_.load()) {
      pollfd p[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (poll(p, 2, 50) <= 0) continue;
      if (p[0].revents != 0) {
        const ssize_t n = recv(client, buf, sizeof(buf), 0);
        if (n <= 0 || send(upstream, buf, n, MSG_NOSIGNAL) != n) break;
      }
      if (p[1].revents != 0) {
        const ssize_t n = recv(upstream, buf, sizeof(buf), 0);
        if (n <= 0) break;
        if (!drop_.load() && send(client, buf, n, MSG_NOSIGNAL) != n) break;
      }
    }
    close(client);
    close(upstream);
  }

  const int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false}, drop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> pumps_;
};

struct Node {
  std::string id;
  std::chrono::seconds lease_ttl{2};
  std::chrono::milliseconds etcd_timeout{1000};
  std::vector<std::string> endpoints;  // empty: the cluster's own
  TestDir dir;
  std::unique_ptr<AuditStore> store;
  std::unique_ptr<Replica> replica;
  std::atomic<int> step_downs{0};

  Role role() const { return replica ? replica->role() : Role::kStarting; }
  Lsn last() { return store->log()->LastLsn(); }
};

class ReplicaTest : public SharedEtcdTest {
 protected:
  void SetUp() override {
    SharedEtcdTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    static int run = 0;
    group_ = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
             std::to_string(getpid()) + "-" + std::to_string(run++);
    auto client = etcd::Client::Create({.endpoints = cluster_->endpoints(), .timeout = 2000ms});
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    etcd_ = std::make_unique<Group>(std::move(*client), group_);
  }

  void TearDown() override {
    for (auto& node : nodes_) node->replica.reset();
    for (auto& node : nodes_) node->store.reset();
    if (pin_lease_ != 0) (void)etcd_->client().LeaseRevoke(pin_lease_);
    if (HasFailure()) {
      std::lock_guard<std::mutex> lock(log_mu_);
      std::fprintf(stderr, "--- replica log lines of %s ---\n", group_.c_str());
      for (const std::string& line : log_) std::fprintf(stderr, "%s\n", line.c_str());
    }
  }

  ReplicaOptions OptionsFor(Node* node) {
    ReplicaOptions options;
    options.etcd = node->endpoints.empty() ? cluster_->endpoints() : node->endpoints;
    options.group = group_;
    options.node = node->id;
    options.url = "http://127.0.0.1:1";
    options.lease_ttl = node->lease_ttl;
    options.etcd_timeout = node->etcd_timeout;
    options.publish_every = 50ms;
    options.dir = node->dir.log();
    options.log = [this](nlohmann::ordered_json line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back(line.dump());
    };
    options.on_step_down = [this, node](const std::string& why) {
      node->step_downs.fetch_add(1);
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back("test: on_step_down(" + node->id + "): " + why);
    };
    return options;
  }

  // Opens the node's store as a server does, cutting what the group may
  // not have committed.
  void OpenStore(Node* node) {
    auto cut = Replica::RejoinPoint(OptionsFor(node));
    ASSERT_TRUE(cut.ok()) << cut.status().ToString();
    AuditOptions options;
    options.log.discard_after = *cut;
    auto store = AuditStore::Open(node->dir.log(), options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    node->store = std::move(*store);
  }

  void StartReplica(Node* node) {
    auto replica = Replica::Start(OptionsFor(node), node->store.get());
    ASSERT_TRUE(replica.ok()) << replica.status().ToString();
    node->replica = std::move(*replica);
  }

  Node* AddNode(const std::string& id, std::chrono::seconds lease_ttl = 2s) {
    nodes_.push_back(std::make_unique<Node>());
    Node* node = nodes_.back().get();
    node->id = id;
    node->lease_ttl = lease_ttl;
    return node;
  }

  // Adds and starts nodes `ids`.
  void StartNodes(const std::vector<std::string>& ids) {
    for (const std::string& id : ids) {
      Node* node = AddNode(id);
      ASSERT_NO_FATAL_FAILURE(OpenStore(node));
      ASSERT_NO_FATAL_FAILURE(StartReplica(node));
    }
  }

  // The one writer among the running nodes, once there is one and every
  // other running node is a follower; nullptr after `limit`.
  Node* AwaitWriter(milliseconds limit = 10s) {
    Node* writer = nullptr;
    Eventually(
        [&] {
          writer = nullptr;
          int writers = 0;
          for (auto& node : nodes_) {
            if (!node->replica) continue;
            const Role role = node->role();
            if (role == Role::kWriter) {
              writer = node.get();
              ++writers;
            } else if (role != Role::kFollower) {
              return false;
            }
          }
          return writers == 1;
        },
        limit);
    EXPECT_NE(writer, nullptr) << "no single writer after " << limit.count() << " ms";
    return writer;
  }

  std::vector<Node*> Others(Node* node) {
    std::vector<Node*> out;
    for (auto& other : nodes_) {
      if (other.get() != node && other->replica) out.push_back(other.get());
    }
    return out;
  }

  // Emits event `i` on the writer (buffered, as the server appends) and
  // tells its replica; returns the event's LSN.
  Lsn Emit(Node* writer, int i) {
    auto emitted = writer->store->Emit(Numbered(i), Durability::kBuffered);
    EXPECT_TRUE(emitted.ok()) << emitted.status().ToString();
    if (writer->replica) writer->replica->Appended();
    return emitted.ok() ? emitted->lsn : 0;
  }

  // Events [from, to) on the writer (after the user type, if it has none
  // yet), made durable in its log as the server does before it acknowledges
  // a write: the writer publishes as applied only what is durable there.
  // Returns the last LSN.
  Lsn Fill(Node* writer, int from, int to) {
    if (!writer->store->GetType("user").ok()) {
      EXPECT_TRUE(writer->store->DefineType(quipu::testing::UserType()).ok());
      writer->replica->Appended();
    }
    Lsn last = writer->last();
    for (int i = from; i < to; ++i) last = Emit(writer, i);
    Status durable = writer->store->WaitDurable(last);
    EXPECT_TRUE(durable.ok()) << durable.ToString();
    return last;
  }

  // Waits until the writer's committed head is at least `lsn`.
  ::testing::AssertionResult AwaitCommitted(Node* writer, Lsn lsn, milliseconds limit = 10s) {
    const auto deadline = Clock::now() + limit;
    Lsn seen = 0;
    while (seen < lsn) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left <= 0ms) {
        return ::testing::AssertionFailure()
               << writer->id << " committed up to " << seen << ", not " << lsn << ", in "
               << limit.count() << " ms";
      }
      auto head = writer->replica->AwaitHeadAbove(lsn - 1, left);
      if (!head.ok()) return ::testing::AssertionFailure() << head.status().ToString();
      seen = *head;
    }
    return ::testing::AssertionSuccess();
  }

  // Waits until `node` holds `lsn` records.
  ::testing::AssertionResult AwaitApplied(Node* node, Lsn lsn, milliseconds limit = 10s) {
    if (Eventually([&] { return node->last() >= lsn; }, limit)) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << node->id << " holds " << node->last() << " records, not " << lsn << ", after "
           << limit.count() << " ms (role " << RoleName(node->role()) << ")";
  }

  // `node` has the same records as `reference` (same LSN, root and rows).
  void ExpectSameHistory(Node* node, Node* reference) {
    ASSERT_EQ(node->last(), reference->last()) << node->id << " vs " << reference->id;
    const Lsn size = node->last();
    EXPECT_EQ(RootAt(*node->store, size), RootAt(*reference->store, size))
        << node->id << " vs " << reference->id << " at " << size;
    Query q;
    q.limit = 1000;
    EXPECT_EQ(quipu::testing::AllPages(*node->store, q),
              quipu::testing::AllPages(*reference->store, q))
        << node->id << " vs " << reference->id;
  }

  // Keeps the writer from trimming the window (see the top of the file).
  void PinWindow() {
    auto lease = etcd_->client().LeaseGrant(120s);
    ASSERT_TRUE(lease.ok()) << lease.status().ToString();
    pin_lease_ = *lease;
    NodeStatus pin;
    pin.node = "pin";
    pin.url = "http://127.0.0.1:1";
    pin.role = "follower";
    ASSERT_TRUE(etcd_->Publish(pin_lease_, pin).ok());
  }

  static std::string ViewText(Node* node) {
    ClusterView view = node->replica->View();
    std::string out = node->id + ": " + RoleName(view.role) + " head " + std::to_string(view.head) +
                      " applied " + std::to_string(view.applied);
    for (const NodeStatus& n : view.nodes) {
      out += "\n  " + n.node + " " + n.role + " applied " + std::to_string(n.applied) +
             " tree_size " + std::to_string(n.tree_size);
    }
    return out;
  }

  std::string LogText() {
    std::lock_guard<std::mutex> lock(log_mu_);
    std::string all;
    for (const std::string& line : log_) all += line + "\n";
    return all;
  }

  std::string group_;
  std::unique_ptr<Group> etcd_;  // the test's own view of the group
  int64_t pin_lease_ = 0;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(ReplicaTest, OneNodeWritesAndTheFollowersHoldTheSameRecords) {
  ASSERT_NO_FATAL_FAILURE(StartNodes({"a", "b", "c"}));
  Node* writer = AwaitWriter();
  ASSERT_NE(writer, nullptr);
  for (Node* follower : Others(writer)) {
    EXPECT_EQ(follower->role(), Role::kFollower) << follower->id;
    // Followers learn who the writer is.
    EXPECT_TRUE(Eventually(
        [&] {
          auto w = follower->replica->writer();
          return w && w->node == writer->id;
        },
        5s))
        << follower->id;
  }
  const Lsn last = Fill(writer, 0, 40);
  ASSERT_TRUE(AwaitCommitted(writer, last));
  auto head = etcd_->Head();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(*head, last);
  EXPECT_GT(writer->replica->commits(), 0u);
  for (Node* follower : Others(writer)) {
    ASSERT_TRUE(AwaitApplied(follower, last));
    ExpectSameHistory(follower, writer);
    EXPECT_GT(follower->replica->applied_batches(), 0u);
    auto history = follower->store->EntityHistory("user", "u3");
    ASSERT_TRUE(history.ok()) << history.status().ToString();
    EXPECT_EQ(history->size(), writer->store->EntityHistory("user", "u3")->size());
  }
  // Every node publishes itself; the view says who writes.
  EXPECT_TRUE(Eventually(
      [&] {
        ClusterView view = writer->replica->View();
        if (view.nodes.size() != 3) return false;
        for (const NodeStatus& node : view.nodes) {
          if (node.applied != last || node.tree_size != last) return false;
        }
        return view.role == Role::kWriter && view.head == last;
      },
      5s))
      << ViewText(writer);
  // A follower takes no writes.
  Node* follower = Others(writer).front();
  auto refused = follower->replica->AwaitHeadAbove(last, 10ms);
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);
  for (auto& node : nodes_) EXPECT_EQ(node->step_downs.load(), 0) << node->id;
}

TEST_F(ReplicaTest, AfterTheWriterStopsAnotherNodeWritesAndTheOldOneCatchesUp) {
  ASSERT_NO_FATAL_FAILURE(PinWindow());
  ASSERT_NO_FATAL_FAILURE(StartNodes({"a", "b", "c"}));
  Node* old = AwaitWriter();
  ASSERT_NE(old, nullptr);
  const Lsn before = Fill(old, 0, 20);
  ASSERT_TRUE(AwaitCommitted(old, before));
  for (Node* follower : Others(old)) ASSERT_TRUE(AwaitApplied(follower, before));

  // Stop() gives the lease up: the writer key goes at once.
  const auto stopped = Clock::now();
  old->replica->Stop();
  EXPECT_EQ(old->replica->AwaitHeadAbove(before, 10ms).status().code(),
            Status::Code::kFailedPrecondition);
  old->replica.reset();
  Node* writer = AwaitWriter(10s);
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(writer, old);
  const milliseconds failover = Since(stopped);
  EXPECT_LT(failover, 5s);
  std::fprintf(stderr, "failover took %lld ms\n", static_cast<long long>(failover.count()));

  const Lsn after = Fill(writer, 20, 35);
  ASSERT_GT(after, before);
  ASSERT_TRUE(AwaitCommitted(writer, after));
  for (Node* follower : Others(writer)) ASSERT_TRUE(AwaitApplied(follower, after));

  // The old writer restarts. Everything it had was committed: a cut (if
  // any) takes only records the group gives back; and it follows.
  old->store.reset();
  ASSERT_NO_FATAL_FAILURE(OpenStore(old));
  EXPECT_EQ(old->last() + old->store->log()->Recovery().discarded_records, before);
  ASSERT_NO_FATAL_FAILURE(StartReplica(old));
  ASSERT_TRUE(AwaitApplied(old, after));
  EXPECT_TRUE(Eventually([&] { return old->role() == Role::kFollower; }, 5s))
      << RoleName(old->role());
  for (auto& node : nodes_) ExpectSameHistory(node.get(), writer);
  // It goes on following.
  const Lsn more = Fill(writer, 35, 40);
  ASSERT_TRUE(AwaitCommitted(writer, more));
  ASSERT_TRUE(AwaitApplied(old, more));
  ExpectSameHistory(old, writer);
}

// Resumes the shared etcd member however the test ends.
class ResumeEtcd {
 public:
  explicit ResumeEtcd(EtcdCluster* cluster) : cluster_(cluster) { cluster_->Pause(0); }
  ~ResumeEtcd() { Resume(); }
  void Resume() {
    if (paused_) cluster_->Resume(0);
    paused_ = false;
  }

 private:
  EtcdCluster* cluster_;
  bool paused_ = true;
};

TEST_F(ReplicaTest, AWriterThatLosesEtcdStepsDownAndItsUncommittedTailIsCut) {
  ASSERT_NO_FATAL_FAILURE(PinWindow());
  // a has a short lease and wins; b's lease outlives the pause below, so
  // that b takes over as soon as a's lease is gone.
  Node* a = AddNode("a", 1s);
  ASSERT_NO_FATAL_FAILURE(OpenStore(a));
  ASSERT_NO_FATAL_FAILURE(StartReplica(a));
  ASSERT_EQ(AwaitWriter(), a);
  Node* b = AddNode("b", 8s);
  ASSERT_NO_FATAL_FAILURE(OpenStore(b));
  ASSERT_NO_FATAL_FAILURE(StartReplica(b));
  const Lsn committed = Fill(a, 0, 10);
  ASSERT_TRUE(AwaitCommitted(a, committed));
  ASSERT_TRUE(AwaitApplied(b, committed));

  constexpr int kInFlight = 5, kAfterStepDown = 3;
  {
    ResumeEtcd pause(cluster_);
    // Appended while etcd answers nothing: the committer tries, and the
    // writer waits in vain.
    for (int i = 10; i < 10 + kInFlight; ++i) Emit(a, i);
    auto waited = a->replica->AwaitHeadAbove(committed, 200ms);
    ASSERT_TRUE(waited.ok()) << waited.status().ToString();
    EXPECT_EQ(*waited, committed);
    // Once its lease must have expired, it steps down by itself.
    const auto paused = Clock::now();
    ASSERT_TRUE(Eventually([&] { return a->step_downs.load() > 0; }, 10s)) << LogText();
    std::fprintf(stderr, "stepped down %lld ms after the pause\n",
                 static_cast<long long>(Since(paused).count()));
    EXPECT_EQ(a->role(), Role::kSteppedDown);
    EXPECT_EQ(a->replica->AwaitHeadAbove(committed, 10ms).status().code(),
              Status::Code::kFailedPrecondition);
    // Appends that raced the step-down: the committer sends them nowhere.
    for (int i = 10 + kInFlight; i < 10 + kInFlight + kAfterStepDown; ++i) Emit(a, i);
    ASSERT_EQ(a->last(), committed + kInFlight + kAfterStepDown);
    pause.Resume();
    ASSERT_TRUE(cluster_->WaitHealthy(20s));
  }
  // b takes over. (Transactions a sent into the paused etcd may have
  // committed part of its tail before a's lease went; none can after.)
  ASSERT_TRUE(Eventually([&] { return b->role() == Role::kWriter; }, 15s)) << LogText();
  EXPECT_EQ(b->step_downs.load(), 0);
  EXPECT_EQ(a->step_downs.load(), 1);

  // a restarts, as on_step_down asks: the tail the group did not commit is cut.
  a->replica.reset();
  a->store.reset();
  ASSERT_NO_FATAL_FAILURE(OpenStore(a));
  auto head = etcd_->Head();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  const RecoveryReport& recovery = a->store->log()->Recovery();
  std::fprintf(stderr, "%llu of a's %d uncommitted records were cut\n",
               static_cast<unsigned long long>(recovery.discarded_records),
               kInFlight + kAfterStepDown);
  EXPECT_GE(recovery.discarded_records, static_cast<uint64_t>(kAfterStepDown));
  EXPECT_LE(a->last(), *head);
  EXPECT_EQ(a->last() + recovery.discarded_records, committed + kInFlight + kAfterStepDown);
  ASSERT_NO_FATAL_FAILURE(StartReplica(a));
  ASSERT_TRUE(AwaitApplied(b, *head));
  EXPECT_TRUE(Eventually([&] { return a->role() == Role::kFollower; }, 5s));
  ExpectSameHistory(a, b);
  // The group goes on at the LSNs a had used, and a follows.
  const Lsn more = Fill(b, 100, 110);
  ASSERT_TRUE(AwaitCommitted(b, more));
  ASSERT_TRUE(AwaitApplied(a, more));
  ExpectSameHistory(a, b);
  EXPECT_EQ(a->role(), Role::kFollower);
  EXPECT_EQ(a->step_downs.load(), 1);  // still the one step-down, before the restart
}

TEST_F(ReplicaTest, AnOldWritersTailAtLsnsTheNewWriterCommittedIsCut) {
  // docs/replication.md: records after the head "were appended by this node
  // as a writer and never committed ... and the group may have committed
  // other records at those LSNs since. They are cut". Here the new writer
  // commits more records than the old one's tail before the old one
  // restarts, so the tail lies at or below the group's head.
  ASSERT_NO_FATAL_FAILURE(PinWindow());
  ASSERT_NO_FATAL_FAILURE(StartNodes({"a", "b", "c"}));
  Node* old = AwaitWriter();
  ASSERT_NE(old, nullptr);
  const Lsn committed = Fill(old, 0, 10);
  ASSERT_TRUE(AwaitCommitted(old, committed));
  for (Node* follower : Others(old)) ASSERT_TRUE(AwaitApplied(follower, committed));
  // The old writer stops writing to etcd; what it appends after that (as a
  // writer cut off from etcd would) is never committed.
  old->replica.reset();
  constexpr int kTail = 3;
  for (int i = 10; i < 10 + kTail; ++i) Emit(old, i);
  Node* writer = AwaitWriter();
  ASSERT_NE(writer, nullptr);
  const Lsn head = Fill(writer, 500, 510);
  ASSERT_GE(head, committed + kTail);
  ASSERT_TRUE(AwaitCommitted(writer, head));
  for (Node* follower : Others(writer)) ASSERT_TRUE(AwaitApplied(follower, head));

  old->store.reset();
  ASSERT_NO_FATAL_FAILURE(OpenStore(old));
  const uint64_t discarded = old->store->log()->Recovery().discarded_records;
  EXPECT_GE(discarded, static_cast<uint64_t>(kTail))
      << "bug: discard_after = the group's head keeps the old writer's uncommitted records "
         "at LSNs "
      << committed + 1 << ".." << committed + kTail << ", which the group committed from "
      << writer->id;
  EXPECT_EQ(old->last() + discarded, committed + kTail);
  ASSERT_NO_FATAL_FAILURE(StartReplica(old));
  Eventually([&] { return old->role() == Role::kFenced || old->last() >= head; }, 10s);
  Eventually([&] { return old->role() == Role::kFenced; }, 500ms);
  EXPECT_NE(old->role(), Role::kFenced) << old->replica->fenced_reason();
  ExpectSameHistory(old, writer);
}

// A writer "w" whose etcd traffic goes through a LossyProxy.
class LostAnswerTest : public ReplicaTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ReplicaTest::SetUp());
    const std::string endpoint = cluster_->endpoint(0);
    proxy_ = std::make_unique<LossyProxy>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
    w_ = AddNode("w", 5s);
    w_->etcd_timeout = 400ms;
    w_->endpoints = {proxy_->endpoint()};
    ASSERT_NO_FATAL_FAILURE(OpenStore(w_));
    ASSERT_NO_FATAL_FAILURE(StartReplica(w_));
    ASSERT_EQ(AwaitWriter(), w_);
    committed_ = Fill(w_, 0, 3);
    ASSERT_TRUE(AwaitCommitted(w_, committed_));
  }

  void TearDown() override {
    ReplicaTest::TearDown();
    proxy_.reset();
  }

  // Emits event 3 and loses the answer of the transaction that commits it:
  // etcd commits it, and the writer's attempt times out. `meanwhile` runs
  // before answers flow again. Returns event 3's LSN.
  Lsn CommitAndLoseTheAnswer(const std::function<void()>& meanwhile) {
    size_t lines_before = 0;
    {
      std::lock_guard<std::mutex> lock(log_mu_);
      lines_before = log_.size();
    }
    proxy_->set_drop(true);
    const Lsn e1 = Emit(w_, 3);
    EXPECT_TRUE(Eventually(
        [&] {
          auto head = etcd_->Head();
          return head.ok() && *head == e1;
        },
        5s));
    meanwhile();
    EXPECT_TRUE(Eventually(
        [&] {
          std::lock_guard<std::mutex> lock(log_mu_);
          for (size_t i = lines_before; i < log_.size(); ++i) {
            if (log_[i].find("replica_error") != std::string::npos &&
                log_[i].find("/v3/kv/txn") != std::string::npos) {
              return true;
            }
          }
          return false;
        },
        5s))
        << LogText();
    proxy_->set_drop(false);
    return e1;
  }

  std::unique_ptr<LossyProxy> proxy_;
  Node* w_ = nullptr;
  Lsn committed_ = 0;
};

TEST_F(LostAnswerTest, TheWriterResendsTheSameBatchAndLearnsItCommitted) {
  const Lsn e1 = CommitAndLoseTheAnswer([] {});
  EXPECT_TRUE(AwaitCommitted(w_, e1, 5s));
  EXPECT_EQ(w_->role(), Role::kWriter);
  EXPECT_EQ(w_->step_downs.load(), 0) << LogText();
  // And goes on committing after it.
  const Lsn more = Fill(w_, 4, 6);
  EXPECT_TRUE(AwaitCommitted(w_, more, 5s));
  auto head = etcd_->Head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, more);
}

TEST_F(LostAnswerTest, AppendsDuringTheLostAnswerDoNotMakeTheWriterStepDown) {
  // docs/replication.md: "A transaction whose answer is lost (a timeout) is
  // resolved by reading head back." Here e2 is appended while the answer
  // for e1's batch is lost, so the writer's next attempt is a larger batch
  // from the same LSN.
  Lsn e2 = 0;
  const Lsn e1 = CommitAndLoseTheAnswer([&] { e2 = Emit(w_, 4); });
  ASSERT_EQ(e2, e1 + 1);
  EXPECT_TRUE(AwaitCommitted(w_, e2, 5s));
  EXPECT_EQ(w_->role(), Role::kWriter);
  EXPECT_EQ(w_->step_downs.load(), 0) << LogText();
  auto head = etcd_->Head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, e2);
}

TEST_F(ReplicaTest, ANodeWhoseRecordsDifferIsFencedAndItsPeersAreNot) {
  ASSERT_NO_FATAL_FAILURE(PinWindow());
  ASSERT_NO_FATAL_FAILURE(StartNodes({"a", "b"}));
  Node* writer = AwaitWriter();
  ASSERT_NE(writer, nullptr);
  const Lsn last = Fill(writer, 0, 20);
  ASSERT_TRUE(AwaitCommitted(writer, last));
  for (Node* follower : Others(writer)) ASSERT_TRUE(AwaitApplied(follower, last));

  // c holds the group's records up to `k`, then an event of its own at
  // k + 1 where the group has event 5: the same change with another
  // timestamp, so the group's later records still apply on top of it.
  Node* c = AddNode("c");
  ASSERT_NO_FATAL_FAILURE(OpenStore(c));
  const Lsn first_event = last - 20 + 1;
  const Lsn k = first_event + 5 - 1;
  auto copied = c->store->AppendReplicated(1, RecordsOf(*writer->store, 1, k));
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  Event own = Numbered(5);
  *own.timestamp_micros += 777;
  auto emitted = c->store->Emit(own);
  ASSERT_TRUE(emitted.ok()) << emitted.status().ToString();
  ASSERT_EQ(emitted->lsn, k + 1);
  ASSERT_NE(RecordsOf(*c->store, k + 1, k + 1), RecordsOf(*writer->store, k + 1, k + 1));
  ASSERT_NO_FATAL_FAILURE(StartReplica(c));

  ASSERT_TRUE(Eventually([&] { return c->role() == Role::kFenced; }, 10s))
      << "c is " << RoleName(c->role()) << " at " << c->last() << "\n"
      << LogText();
  const std::string why = c->replica->fenced_reason();
  // "at size S this node's root is X and P's is Y"
  const size_t at = why.find("at size ");
  ASSERT_NE(at, std::string::npos) << why;
  const uint64_t size = std::stoull(why.substr(at + 8));
  ASSERT_GT(size, k);
  ASSERT_LE(size, c->last());
  const std::string mine = RootAt(*c->store, size);
  const std::string theirs = RootAt(*writer->store, size);
  EXPECT_NE(mine, theirs);
  EXPECT_NE(why.find(mine), std::string::npos) << why;
  EXPECT_NE(why.find(theirs), std::string::npos) << why;
  EXPECT_EQ(c->replica->View().fenced, why);
  EXPECT_EQ(c->step_downs.load(), 0);  // it was not the writer
  // A fenced node stops applying and gives its lease up: its status goes.
  EXPECT_TRUE(Eventually(
      [&] {
        auto nodes = etcd_->Nodes();
        if (!nodes.ok()) return false;
        for (const NodeStatus& node : *nodes) {
          if (node.node == "c") return false;
        }
        return true;
      },
      5s));
  const Lsn fenced_at = c->last();

  // The others go on, unfenced, and c applies nothing more.
  const Lsn more = Fill(writer, 20, 25);
  ASSERT_TRUE(AwaitCommitted(writer, more));
  for (Node* follower : Others(writer)) {
    if (follower == c) continue;
    ASSERT_TRUE(AwaitApplied(follower, more));
    EXPECT_EQ(follower->role(), Role::kFollower);
    EXPECT_EQ(follower->replica->fenced_reason(), "");
    ExpectSameHistory(follower, writer);
  }
  EXPECT_EQ(writer->role(), Role::kWriter);
  EXPECT_EQ(c->role(), Role::kFenced);
  EXPECT_EQ(c->last(), fenced_at);
}

TEST_F(ReplicaTest, TheWriterTrimsOnlyWhatEveryLiveNodeApplied) {
  ASSERT_NO_FATAL_FAILURE(PinWindow());
  ASSERT_NO_FATAL_FAILURE(StartNodes({"a", "b"}));
  Node* writer = AwaitWriter();
  ASSERT_NE(writer, nullptr);
  const Lsn last = Fill(writer, 0, 10);
  ASSERT_TRUE(AwaitCommitted(writer, last));
  for (Node* follower : Others(writer)) ASSERT_TRUE(AwaitApplied(follower, last));
  // A live node that applied nothing holds the window: it stays whole for
  // longer than the writer's trim period (2 s).
  const bool trimmed = Eventually(
      [&] {
        auto fetched = etcd_->Fetch(1, 64);
        return !fetched.ok() || fetched->behind_window || fetched->batches.empty();
      },
      2500ms);
  EXPECT_FALSE(trimmed);
  // Once it is gone, what a and b applied goes from etcd.
  ASSERT_TRUE(etcd_->client().LeaseRevoke(pin_lease_).ok());
  pin_lease_ = 0;
  EXPECT_TRUE(Eventually(
      [&] {
        auto fetched = etcd_->Fetch(1, 64);
        return fetched.ok() && fetched->behind_window;
      },
      6s));
  auto head = etcd_->Head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, last);
  // New batches still go in and reach the follower.
  const Lsn more = Fill(writer, 10, 15);
  ASSERT_TRUE(AwaitCommitted(writer, more));
  for (Node* follower : Others(writer)) {
    ASSERT_TRUE(AwaitApplied(follower, more));
    ExpectSameHistory(follower, writer);
  }
}

TEST_F(ReplicaTest, ConcurrentEmittersEachSeeTheirEventCommitted) {
  ASSERT_NO_FATAL_FAILURE(StartNodes({"a", "b"}));
  Node* writer = AwaitWriter(20s);
  ASSERT_NE(writer, nullptr);
  Node* follower = Others(writer).front();
  Fill(writer, 0, 0);  // the type
  constexpr int kThreads = 4, kEach = 25;
  std::atomic<int> failures{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto emitted = writer->store->Emit(Numbered(t * 1000 + i), Durability::kBuffered);
        if (!emitted.ok()) {
          ADD_FAILURE() << emitted.status().ToString();
          failures.fetch_add(1);
          return;
        }
        writer->replica->Appended();
        Status durable = writer->store->WaitDurable(emitted->lsn);
        if (!durable.ok()) {
          ADD_FAILURE() << durable.ToString();
          failures.fetch_add(1);
          return;
        }
        const auto deadline = Clock::now() + 20s;
        Lsn seen = 0;
        while (seen < emitted->lsn && Clock::now() < deadline) {
          auto head = writer->replica->AwaitHeadAbove(emitted->lsn - 1, 1s);
          if (!head.ok()) {
            ADD_FAILURE() << head.status().ToString();
            failures.fetch_add(1);
            return;
          }
          seen = *head;
        }
        if (seen < emitted->lsn) {
          ADD_FAILURE() << "LSN " << emitted->lsn << " not committed in 20 s";
          failures.fetch_add(1);
          return;
        }
      }
    });
  }
  // Readers of the replicas' state meanwhile.
  std::thread watcher([&] {
    while (!done.load()) {
      for (auto& node : nodes_) {
        ClusterView view = node->replica->View();
        (void)view;
        (void)node->replica->role();
        (void)node->replica->writer();
      }
      std::this_thread::sleep_for(1ms);
    }
  });
  for (std::thread& t : threads) t.join();
  done.store(true);
  watcher.join();
  ASSERT_EQ(failures.load(), 0);
  const Lsn last = writer->last();
  ASSERT_TRUE(AwaitCommitted(writer, last));
  ASSERT_TRUE(AwaitApplied(follower, last, 20s));
  ExpectSameHistory(follower, writer);
  EXPECT_EQ(writer->store->LastLogId(), static_cast<uint64_t>(kThreads * kEach));
  std::fprintf(stderr, "%d events in %llu commits\n", kThreads * kEach,
               static_cast<unsigned long long>(writer->replica->commits()));
}

}  // namespace
}  // namespace quipu::replication
