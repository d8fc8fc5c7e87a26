// Power cuts under every durability policy: after recovery the reopened tree
// covers exactly the recovered records (Root(n) equals the RFC root of the
// first n of them, for every n), and a legal power cut never makes the tree
// refuse to open. Randomized; QUIPU_SEED replays a run.
#include <fstream>
#include <random>

#include "read_log.h"
#include "tree_fixture.h"

namespace quipu {
namespace {

using testing::TestSeed;

enum class Loss { kPlain, kTorn, kRandomPages };

struct PowerCase {
  const char* name;
  DurabilityPolicy policy;
  Loss loss;
  bool sign;  // a signing key: checkpoints on seal and on demand
};

std::vector<PowerCase> Cases() {
  using P = DurabilityPolicy;
  return {
      {"AlwaysTorn", P::Always(), Loss::kTorn, false},
      {"EveryN16", P::EveryN(16), Loss::kPlain, false},
      {"EveryNOrIntervalPages", P::EveryNOrInterval(8, std::chrono::milliseconds(2)),
       Loss::kRandomPages, false},
      {"GroupCommitTornSigned", P::GroupCommit(), Loss::kTorn, true},
      {"OsManaged", P::OsManaged(), Loss::kPlain, false},
      {"OsManagedTorn", P::OsManaged(), Loss::kTorn, false},
      {"OsManagedPages", P::OsManaged(), Loss::kRandomPages, false},
      {"OsManagedSigned", P::OsManaged(), Loss::kPlain, true},
  };
}

class TreePowerLoss : public testing::TreeFixture, public ::testing::WithParamInterface<PowerCase> {
 protected:
  // Segments of several pages, so a power cut can drop some pages of the
  // unsynced tail and keep others.
  TreePowerLoss() { segment_size_ = 16384; }

  // Every record the reopened log holds, in LSN order.
  std::vector<std::string> Recovered() {
    auto reader = log_->NewReader(1);
    EXPECT_TRUE(reader.ok());
    return reader.ok() ? testing::ReadPayloads(**reader) : std::vector<std::string>();
  }

  void ExpectTreeMatches(const std::vector<std::string>& records) {
    ASSERT_TRUE(tree_->CatchUp().ok());
    ASSERT_EQ(tree_->Size(), records.size());
    merkle::MemoryTree memory;
    for (uint64_t n = 1; n <= records.size(); ++n) {
      memory.AppendPayload(records[n - 1]);
      auto root = tree_->Root(n);
      ASSERT_TRUE(root.ok()) << root.status().ToString();
      ASSERT_EQ(*root, memory.Root()) << "tree size " << n;
    }
  }

  void Work(std::mt19937_64& rng, bool sign) {
    const int count = 50 + static_cast<int>(rng() % 400);
    for (int i = 0; i < count; ++i) {
      std::string payload(1 + rng() % 200, static_cast<char>('a' + rng() % 26));
      payload += std::to_string(rng());
      ASSERT_TRUE(log_->Append(payload).ok());
      const uint64_t dice = rng() % 100;
      if (dice == 0) {
        {
          auto cs = tree_->CatchUp();
          ASSERT_TRUE(cs.ok()) << cs.ToString();
        }
      } else if (dice == 1) {
        ASSERT_TRUE(log_->Sync().ok());
      } else if (dice == 2) {
        ASSERT_TRUE(log_->Flush().ok());
      } else if (dice < 6 && sign) {
        {
          auto cs = tree_->WriteCheckpoint();
          ASSERT_TRUE(cs.ok()) << cs.status().ToString();
        }
      }
    }
    // A checkpoint line torn by the cut is reported by ReadCheckpoints, so
    // signed runs let the follower finish its seal checkpoints first.
    if (sign) {
      ASSERT_TRUE(tree_->CatchUp().ok());
    }
  }

  void PowerCut(std::mt19937_64& rng, Loss loss) {
    env_.Crash();
    tree_.reset();  // its Close fails against the crashed Env, as a dead process would
    log_.reset();
    PowerLossOptions options;
    options.tear_last_write = loss == Loss::kTorn;
    options.keep_random_pages = loss == Loss::kRandomPages;
    options.seed = rng();
    ASSERT_TRUE(env_.PowerLoss(options).ok());
  }
};

TEST_P(TreePowerLoss, ReopenedTreeCoversExactlyTheRecoveredRecords) {
  const PowerCase& c = GetParam();
  std::mt19937_64 rng(TestSeed());
  TreeOptions options = TreeOpts();
  std::string public_key;
  if (c.sign) {
    auto key = SigningKey::Generate();
    ASSERT_TRUE(key.ok());
    options.signing_key = *key;
    public_key = dir_.path() + "/key.pub";
    std::ofstream(public_key) << *key->Public().ToPem();
  }
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    OpenLog(c.policy);
    Status opened = OpenTree(options);
    ASSERT_TRUE(opened.ok()) << "a legal power cut must never break the tree: "
                             << opened.ToString();
    ExpectTreeMatches(Recovered());
    Work(rng, c.sign);
    PowerCut(rng, c.loss);
  }
  OpenLog(c.policy);
  ASSERT_TRUE(OpenTree(options).ok());
  ExpectTreeMatches(Recovered());
  CloseAll();
  VerifyOptions verify = VerifyOpts();
  if (c.sign) verify.public_key_path = public_key;
  auto report = VerifyIntegrity(dir_.log(), verify);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  if (c.sign) {
    EXPECT_GT(report->checkpoints, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, TreePowerLoss, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace quipu
