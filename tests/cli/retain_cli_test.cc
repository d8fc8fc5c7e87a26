// Black-box tests of `quipu retain`, and of what `verify`, `prove` and
// `query` say about a purged store.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli_runner.h"
#include "quipu/audit.h"

namespace quipu::clitest {
namespace {

using nlohmann::json;

class RetainCliTest : public CliFixture {
 protected:
  // A store of small segments holding 300 events, written through the
  // library (the CLI keeps the default 64 MiB segments).
  std::unique_ptr<AuditStore> MakeStore(const std::string& dir) {
    AuditOptions options;
    options.log.segment_size = 16 << 10;
    options.log.max_record_size = 8 << 10;
    options.log.durability = DurabilityPolicy::OsManaged();
    auto store = AuditStore::Open(dir, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return nullptr;
    for (int i = 0; i < 300; ++i) {
      Event e;
      e.actor = EntityInput{"default_actor", "a" + std::to_string(i % 4), {}};
      e.method = "edit";
      e.content = Value::Text(std::string(200, 'x'));
      e.timestamp_micros = int64_t{1'000'000} + i;
      EXPECT_TRUE((*store)->Emit(e).ok());
    }
    return std::move(*store);
  }

  static int Exit(const RunResult& r) { return r.exit_code; }
};

TEST_F(RetainCliTest, PurgesKeepsProofsAndSaysPurged) {
  ASSERT_TRUE(MakeStore(dir_)->Close().ok());

  json dry = json::parse(RunOk({"retain", dir_, "--max-bytes", "40K", "--dry-run", "--json"}));
  EXPECT_FALSE(dry["purged"].get<bool>());
  EXPECT_GT(dry["segments"].get<int>(), 0);
  const std::string before = RunOk({"verify", dir_});
  EXPECT_NE(before.find("none"), std::string::npos) << "a dry run purges nothing: " << before;

  json done = json::parse(RunOk({"retain", dir_, "--max-bytes", "40K", "--json"}));
  ASSERT_TRUE(done["purged"].get<bool>());
  EXPECT_EQ(done["first_kept"], dry["first_kept"]);
  const int last = done["last_log_id"].get<int>();
  ASSERT_GT(last, 0);

  const std::string verified = RunOk({"verify", dir_});
  EXPECT_NE(verified.find("intact"), std::string::npos) << verified;
  EXPECT_NE(verified.find("LSN 1.." + std::to_string(done["first_kept"].get<int>() - 1) +
                          " (their leaves checked in the spine)"),
            std::string::npos)
      << verified;

  RunResult gone = Run({"prove", dir_, "--log-id", "1"});
  EXPECT_EQ(Exit(gone), 1);
  EXPECT_NE(gone.err.find("purged"), std::string::npos) << gone.err;
  json proof = json::parse(RunOk({"prove", dir_, "--log-id", std::to_string(last + 1), "--json"}));
  const std::string root = json::parse(RunOk({"root", dir_, "--json"}))["root"];
  std::string proof_file = Path("proof.json");
  WriteFile(proof_file, proof.dump());
  RunOk({"verify-proof", "--proof", proof_file, "--root", root});

  // Queries see the retained rows only.
  int rows = 0;
  for (const std::string& line : SplitLines(RunOk({"query", dir_, "--json", "--limit", "1000"}))) {
    json hit = json::parse(line);
    if (!hit.contains("log_id")) continue;
    EXPECT_GT(hit["log_id"].get<int>(), last);
    ++rows;
  }
  EXPECT_EQ(rows, 300 - last);

  // An export of what is left checks offline against the root.
  const std::string exported = RunOk({"export", dir_, "--with-proofs"});
  WriteFile(Path("export.ndjson"), exported);
  RunResult checked = Run({"verify-proof", "--export", Path("export.ndjson"), "--root", root});
  EXPECT_EQ(Exit(checked), 0) << checked.err;
  EXPECT_NE(checked.out.find("purge, carry and forget: "), std::string::npos) << checked.out;
  // Without its purge record, the export's later start is a claim only.
  std::string unjustified;
  for (const std::string& line : SplitLines(exported)) {
    if (line.find("\"purge\"") == std::string::npos) unjustified += line + "\n";
  }
  WriteFile(Path("unjustified.ndjson"), unjustified);
  checked = Run({"verify-proof", "--export", Path("unjustified.ndjson"), "--root", root});
  EXPECT_EQ(Exit(checked), 1);
  EXPECT_NE(checked.err.find("no purge record"), std::string::npos) << checked.err;
  // It imports, renumbered from 1.
  RunOk({"import", Path("copy")}, exported);
  const std::string copied = RunOk({"query", Path("copy"), "--json", "--limit", "1000"});
  EXPECT_NE(copied.find("{\"log_id\":" + std::to_string(300 - last) + ","), std::string::npos)
      << copied.substr(0, 300);
  EXPECT_EQ(copied.find("{\"log_id\":" + std::to_string(300 - last + 1) + ","), std::string::npos);

  // Nothing more is due under the same policy; a larger one purges nothing.
  const std::string again = RunOk({"retain", dir_, "--max-bytes", "1G"});
  EXPECT_NE(again.find("nothing to purge"), std::string::npos) << again;
}

TEST_F(RetainCliTest, VerifyCatchesAPurgeTheStoreDidNotRecord) {
  auto store = MakeStore(dir_);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->log()->Sync().ok());
  auto segments = store->log()->Segments();
  ASSERT_TRUE(segments.ok());
  ASSERT_GE(segments->size(), 3u);
  // Straight through the log, past the store: no purge record.
  ASSERT_TRUE(store->log()->DropSegmentsBefore((*segments)[1].base_lsn, "").ok());
  ASSERT_TRUE(store->Close().ok());
  RunResult r = Run({"verify", dir_});
  EXPECT_EQ(Exit(r), 1);
  EXPECT_NE(r.err.find("purge"), std::string::npos) << r.err;
}

TEST_F(RetainCliTest, RefusesBadPolicies) {
  ASSERT_TRUE(MakeStore(dir_)->Close().ok());
  EXPECT_NE(Exit(Run({"retain", dir_})), 0) << "no bound";
  for (const char* age : {"10", "10x", "-5d", "0d", "d"}) {
    EXPECT_NE(Exit(Run({"retain", dir_, "--max-age", age})), 0) << age;
  }
  for (const char* size : {"10X", "-1", "0", "1.5G", "99999999999999999999T"}) {
    EXPECT_NE(Exit(Run({"retain", dir_, "--max-bytes", size})), 0) << size;
  }
  const std::string fine = RunOk({"retain", dir_, "--max-age", "3650d", "--dry-run"});
  EXPECT_NE(fine.find("would purge"), std::string::npos) << "events from 1970 are older" << fine;
}

}  // namespace
}  // namespace quipu::clitest
