// The integrity verbs of the `quipu` binary: root, prove, consistency,
// keygen, checkpoint, verify, verify-proof, and ingest's --signing-key.
// Roots and proofs are checked against the RFC 6962 tree built here from
// the payloads, independently of the store's spine.
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli/cli_runner.h"
#include "quipu/checkpoint.h"
#include "quipu/log.h"
#include "quipu/merkle.h"

namespace quipu::clitest {
namespace {

using nlohmann::json;

std::vector<std::string> Payloads(int n) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; i++) out.push_back("record-" + std::to_string(i));
  return out;
}

std::string Lines(const std::vector<std::string>& payloads) {
  std::string text;
  for (const std::string& p : payloads) text += p + "\n";
  return text;
}

merkle::Hash ReferenceRoot(const std::vector<std::string>& payloads, size_t size) {
  merkle::TreeBuilder builder;
  for (size_t i = 0; i < size; i++) builder.Append(merkle::LeafHash(payloads[i]));
  return builder.Root();
}

std::vector<merkle::Hash> Hashes(const json& list) {
  std::vector<merkle::Hash> out;
  for (const json& h : list) out.push_back(*merkle::Hash::FromHex(h.get<std::string>()));
  return out;
}

class IntegrityCliTest : public CliFixture {
 protected:
  // A store of `n` records over several small segments.
  void MakeStore(int n) {
    payloads_ = Payloads(n);
    RunOk({"ingest", dir_, "--segment-size", "256"}, Lines(payloads_));
  }
  std::string MakeKey() {
    std::string key = Path("key");
    RunOk({"keygen", "--out", key});
    return key;
  }
  std::vector<std::string> payloads_;
};

TEST_F(IntegrityCliTest, RootMatchesTheRfcTreeOfThePayloads) {
  MakeStore(13);
  json all = json::parse(RunOk({"root", dir_, "--json"}));
  EXPECT_EQ(all["tree_size"], 13);
  EXPECT_EQ(all["root"], ReferenceRoot(payloads_, 13).ToHex());
  for (size_t size : {1, 2, 7, 8, 12}) {
    json some = json::parse(RunOk({"root", dir_, "--size", std::to_string(size), "--json"}));
    EXPECT_EQ(some["tree_size"], size);
    EXPECT_EQ(some["root"], ReferenceRoot(payloads_, size).ToHex()) << size;
  }
  std::string text = RunOk({"root", dir_});
  EXPECT_NE(text.find("tree size  13"), std::string::npos) << text;
  EXPECT_NE(text.find(ReferenceRoot(payloads_, 13).ToHex()), std::string::npos) << text;
}

TEST_F(IntegrityCliTest, RootBeyondTheLogOrOfAMissingStoreFails) {
  MakeStore(3);
  EXPECT_EQ(Run({"root", dir_, "--size", "4"}).exit_code, 1);
  RunResult missing = Run({"root", Path("nope")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_FALSE(fs::exists(Path("nope"))) << "root must not create a store";
}

TEST_F(IntegrityCliTest, ProveGivesAnRfcInclusionProof) {
  MakeStore(11);
  for (uint64_t lsn : {1, 6, 11}) {
    json p = json::parse(RunOk({"prove", dir_, std::to_string(lsn), "--json"}));
    EXPECT_EQ(p["leaf_index"], lsn - 1);
    EXPECT_EQ(p["tree_size"], 11);
    merkle::Hash leaf = merkle::LeafHash(payloads_[lsn - 1]);
    EXPECT_EQ(p["leaf_hash"], leaf.ToHex());
    EXPECT_EQ(p["root"], ReferenceRoot(payloads_, 11).ToHex());
    EXPECT_TRUE(
        merkle::VerifyInclusion(leaf, lsn - 1, 11, Hashes(p["path"]), ReferenceRoot(payloads_, 11))
            .ok());
  }
  json at5 = json::parse(RunOk({"prove", dir_, "3", "--size", "5", "--json"}));
  EXPECT_EQ(at5["tree_size"], 5);
  EXPECT_EQ(at5["root"], ReferenceRoot(payloads_, 5).ToHex());
  EXPECT_EQ(Run({"prove", dir_, "12"}).exit_code, 1);
  EXPECT_EQ(Run({"prove", dir_, "6", "--size", "5"}).exit_code, 1);
  EXPECT_NE(RunOk({"prove", dir_, "2"}).find("leaf index  1 (LSN 2)"), std::string::npos);
}

TEST_F(IntegrityCliTest, RootProveAndConsistencyRunBesideAWriter) {
  MakeStore(9);
  auto log = Log::Open(dir_, LogOptions{});  // holds the writer lock, as a service would
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  payloads_.push_back("record-10");
  ASSERT_TRUE((*log)->Append(payloads_.back()).ok());
  auto names = [&] {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.insert(e.path().filename());
    return out;
  };
  const std::set<std::string> before = names();

  json root = json::parse(RunOk({"root", dir_, "--json"}));
  EXPECT_EQ(root["tree_size"], 10);
  EXPECT_EQ(root["root"], ReferenceRoot(payloads_, 10).ToHex());
  json proof = json::parse(RunOk({"prove", dir_, "10", "--json"}));
  EXPECT_TRUE(merkle::VerifyInclusion(merkle::LeafHash(payloads_[9]), 9, 10, Hashes(proof["path"]),
                                      ReferenceRoot(payloads_, 10))
                  .ok());
  json consistency = json::parse(RunOk({"consistency", dir_, "--old", "4", "--json"}));
  EXPECT_EQ(consistency["new_root"], ReferenceRoot(payloads_, 10).ToHex());
  EXPECT_EQ(names(), before) << "reading the tree creates nothing";
  EXPECT_EQ(Run({"checkpoint", dir_, "--key", MakeKey()}).exit_code, 1) << "a writer holds it";
  ASSERT_TRUE((*log)->Close().ok());
}

TEST_F(IntegrityCliTest, ConsistencyGivesAnRfcConsistencyProof) {
  MakeStore(10);
  json c = json::parse(RunOk({"consistency", dir_, "--old", "3", "--json"}));
  EXPECT_EQ(c["old_size"], 3);
  EXPECT_EQ(c["new_size"], 10);
  EXPECT_EQ(c["old_root"], ReferenceRoot(payloads_, 3).ToHex());
  EXPECT_EQ(c["new_root"], ReferenceRoot(payloads_, 10).ToHex());
  EXPECT_TRUE(merkle::VerifyConsistency(3, 10, ReferenceRoot(payloads_, 3),
                                        ReferenceRoot(payloads_, 10), Hashes(c["proof"]))
                  .ok());
  json c2 = json::parse(RunOk({"consistency", dir_, "--old", "4", "--new", "7", "--json"}));
  EXPECT_EQ(c2["new_root"], ReferenceRoot(payloads_, 7).ToHex());
  EXPECT_EQ(Run({"consistency", dir_, "--old", "0"}).exit_code, 1);
  EXPECT_EQ(Run({"consistency", dir_, "--old", "8", "--new", "7"}).exit_code, 1);
  EXPECT_EQ(Run({"consistency", dir_}).exit_code, 2) << "--old is required";
}

TEST_F(IntegrityCliTest, KeygenWritesAPrivateKeyOnlyTheOwnerReadsAndNeverOverwrites) {
  std::string key = MakeKey();
  struct stat st;
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(ReadFile(key + ".pub").find("BEGIN PUBLIC KEY"), std::string::npos);
  std::string before = ReadFile(key);
  RunResult again = Run({"keygen", "--out", key});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("refusing to overwrite"), std::string::npos) << again.err;
  EXPECT_EQ(ReadFile(key), before);
}

TEST_F(IntegrityCliTest, CheckpointSignsTheCurrentTreeAndVerifyChecksIt) {
  MakeStore(9);
  std::string key = MakeKey();
  std::string out = RunOk({"checkpoint", dir_, "--key", key, "--json"});
  json cp = json::parse(out);
  EXPECT_EQ(cp["tree_size"], 9);
  EXPECT_EQ(cp["root"], ReferenceRoot(payloads_, 9).ToHex());
  EXPECT_EQ(ReadFile(dir_ + "/CHECKPOINTS"), out);

  Result<VerifyingKey> pub = VerifyingKey::Load(Env::Default(), key + ".pub");
  ASSERT_TRUE(pub.ok());
  Result<Checkpoint> parsed = CheckpointFromJson(out);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(VerifyCheckpoint(*pub, *parsed).ok());

  std::string report = RunOk({"verify", dir_, "--public-key", key + ".pub"});
  EXPECT_NE(report.find("checkpoints   1"), std::string::npos) << report;
  EXPECT_NE(report.find("verified"), std::string::npos) << report;
  json j = json::parse(RunOk({"verify", dir_, "--public-key", key + ".pub", "--json"}));
  EXPECT_EQ(j["records"], 9);
  EXPECT_EQ(j["checkpoints"], 1);
  EXPECT_EQ(j["signatures_checked"], true);
  EXPECT_NE(RunOk({"verify", dir_}).find("NOT checked"), std::string::npos);
}

TEST_F(IntegrityCliTest, CheckpointNeedsAKey) {
  MakeStore(2);
  EXPECT_EQ(Run({"checkpoint", dir_}).exit_code, 2);
  EXPECT_EQ(Run({"checkpoint", dir_, "--key", Path("missing")}).exit_code, 1);
  // The public key cannot sign.
  std::string key = MakeKey();
  EXPECT_EQ(Run({"checkpoint", dir_, "--key", key + ".pub"}).exit_code, 1);
  EXPECT_FALSE(fs::exists(dir_ + "/CHECKPOINTS"));
}

TEST_F(IntegrityCliTest, AnchorCommandReceivesTheCheckpointLine) {
  MakeStore(4);
  std::string key = MakeKey(), shipped = Path("shipped");
  std::string out =
      RunOk({"checkpoint", dir_, "--key", key, "--json", "--anchor-cmd", "cat > " + shipped});
  EXPECT_EQ(ReadFile(shipped), out);
}

TEST_F(IntegrityCliTest, FailingAnchorIsReportedButTheCheckpointIsKept) {
  MakeStore(4);
  std::string key = MakeKey();
  RunResult r = Run({"checkpoint", dir_, "--key", key, "--json", "--anchor-cmd", "exit 7"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not anchored"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("status 7"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFile(dir_ + "/CHECKPOINTS"), r.out);
  // A command that ignores its stdin must not take quipu down with SIGPIPE.
  r = Run({"checkpoint", dir_, "--key", key, "--anchor-cmd", "exec true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(IntegrityCliTest, IngestWithSigningKeyCheckpointsEachSealAndTheEnd) {
  std::string key = MakeKey(), shipped = Path("shipped");
  payloads_ = Payloads(40);
  RunOk({"ingest", dir_, "--segment-size", "256", "--signing-key", key, "--anchor-cmd",
         "cat >> " + shipped},
        Lines(payloads_));
  std::string lines = ReadFile(dir_ + "/CHECKPOINTS");
  EXPECT_EQ(ReadFile(shipped), lines);
  size_t count = std::count(lines.begin(), lines.end(), '\n');
  EXPECT_GE(count, 3u) << lines;
  json last = json::parse(lines.substr(lines.rfind('\n', lines.size() - 2) + 1));
  EXPECT_EQ(last["tree_size"], 40) << "the final checkpoint covers every record";
  EXPECT_EQ(last["root"], ReferenceRoot(payloads_, 40).ToHex());
  RunOk({"verify", dir_, "--public-key", key + ".pub"});
}

TEST_F(IntegrityCliTest, IngestKeepsWritingWhenTheAnchorFails) {
  std::string key = MakeKey();
  RunResult r =
      Run({"ingest", dir_, "--signing-key", key, "--anchor-cmd", "exit 3"}, Lines(Payloads(5)));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("durable 5"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_EQ(Run({"ingest", dir_, "--anchor-cmd", "true"}).exit_code, 2)
      << "--anchor-cmd without --signing-key has nothing to anchor";
}

TEST_F(IntegrityCliTest, VerifyProofChecksInclusionAgainstATrustedRoot) {
  MakeStore(12);
  std::string proof = Path("proof.json"), leaf = Path("leaf"), other = Path("other");
  WriteFile(proof, RunOk({"prove", dir_, "7", "--json"}));
  WriteFile(leaf, payloads_[6]);
  WriteFile(other, payloads_[5]);
  std::string root = ReferenceRoot(payloads_, 12).ToHex();
  std::string ok = RunOk({"verify-proof", "--proof", proof, "--root", root, "--leaf-data", leaf});
  EXPECT_NE(ok.find("is record 7"), std::string::npos) << ok;
  RunOk({"verify-proof", "--proof", proof, "--root", root, "--leaf-hash",
         merkle::LeafHash(payloads_[6]).ToHex(), "--size", "12"});
  EXPECT_EQ(Run({"verify-proof", "--proof", proof, "--root", root, "--leaf-data", other}).exit_code,
            1);
  EXPECT_EQ(Run({"verify-proof", "--proof", proof, "--root", ReferenceRoot(payloads_, 11).ToHex()})
                .exit_code,
            1);
  EXPECT_EQ(Run({"verify-proof", "--proof", proof, "--root", root, "--size", "13"}).exit_code, 1);
  // The proof's own root is a claim, not a trust anchor: a root is required.
  EXPECT_EQ(Run({"verify-proof", "--proof", proof}).exit_code, 1);
  EXPECT_EQ(Run({"verify-proof", "--proof", proof, "--root", root, "--leaf-data", leaf,
                 "--leaf-hash", root})
                .exit_code,
            2);
}

TEST_F(IntegrityCliTest, VerifyProofTakesTheTrustedRootFromASignedCheckpoint) {
  MakeStore(6);
  std::string key = MakeKey();
  RunOk({"checkpoint", dir_, "--key", key});
  RunOk({"ingest", dir_}, "seven\neight\n");
  std::string inclusion = Path("inclusion.json"), consistency = Path("consistency.json");
  WriteFile(inclusion, RunOk({"prove", dir_, "2", "--size", "6", "--json"}));
  WriteFile(consistency, RunOk({"consistency", dir_, "--old", "6", "--json"}));
  std::string cps = dir_ + "/CHECKPOINTS";
  RunOk({"verify-proof", "--proof", inclusion, "--checkpoint", cps, "--public-key", key + ".pub"});
  std::string out = RunOk(
      {"verify-proof", "--proof", consistency, "--checkpoint", cps, "--public-key", key + ".pub"});
  EXPECT_NE(out.find("extends the tree of size 6"), std::string::npos) << out;
  // Needs the public key, and it must be the right one.
  EXPECT_EQ(Run({"verify-proof", "--proof", inclusion, "--checkpoint", cps}).exit_code, 1);
  std::string stranger = Path("stranger");
  RunOk({"keygen", "--out", stranger});
  EXPECT_EQ(Run({"verify-proof", "--proof", inclusion, "--checkpoint", cps, "--public-key",
                 stranger + ".pub"})
                .exit_code,
            1);
  // No checkpoint at the proof's size.
  WriteFile(inclusion, RunOk({"prove", dir_, "2", "--json"}));
  RunResult none = Run(
      {"verify-proof", "--proof", inclusion, "--checkpoint", cps, "--public-key", key + ".pub"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no checkpoint at tree size 8"), std::string::npos) << none.err;
}

TEST_F(IntegrityCliTest, VerifyProofRejectsAFileThatIsNotAProof) {
  std::string file = Path("x.json");
  WriteFile(file, "not json");
  EXPECT_EQ(Run({"verify-proof", "--proof", file, "--root", std::string(64, '0')}).exit_code, 1);
  WriteFile(file, R"({"hello":1})");
  EXPECT_EQ(Run({"verify-proof", "--proof", file, "--root", std::string(64, '0')}).exit_code, 1);
  EXPECT_EQ(Run({"verify-proof", "--root", std::string(64, '0')}).exit_code, 2);
}

// An OpenSSL configured without SHA-256 used to abort inside the library,
// after the library printed to stderr. Now every verb that hashes says why
// in its one line and exits 1.
TEST_F(IntegrityCliTest, WithoutSha256HashingVerbsFailWithOneLine) {
  MakeStore(3);
  std::string proof = Path("p.json");
  WriteFile(proof, RunOk({"prove", dir_, "2", "--json"}));
  // OpenSSL loads only the providers its configuration names; "null" has no algorithms.
  std::string config = Path("null-provider.cnf");
  WriteFile(config,
            "openssl_conf = init\n[init]\nproviders = providers\n"
            "[providers]\nnull = null_provider\n[null_provider]\nactivate = 1\n");
  RunOptions no_sha256 = WithEnv({"OPENSSL_CONF=" + config});
  std::vector<std::vector<std::string>> verbs = {
      {"root", dir_},
      {"prove", dir_, "1"},
      {"verify", dir_},
      {"verify-proof", "--proof", proof, "--root", std::string(64, '0')}};
  for (const std::vector<std::string>& args : verbs) {
    SCOPED_TRACE(args[0]);
    RunResult r = Run(args, "", no_sha256);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(SplitLines(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("quipu " + args[0] + ": Not supported: OpenSSL offers no SHA-256", 0), 0u)
        << r.err;
  }
}

// A missing directory is NotFound like for every other verb, and --json
// answers in JSON when the store is not intact too.
TEST_F(IntegrityCliTest, VerifyFailuresAreNotFoundAndJson) {
  RunResult missing = Run({"verify", Path("nope")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("Not found"), std::string::npos) << missing.err;
  RunResult missing_json = Run({"verify", Path("nope"), "--json"});
  EXPECT_EQ(missing_json.exit_code, 1);
  json answer = json::parse(missing_json.out);
  EXPECT_EQ(answer["intact"], false);
  EXPECT_NE(answer["error"].get<std::string>().find("Not found"), std::string::npos);

  MakeStore(5);
  json ok = json::parse(RunOk({"verify", dir_, "--json"}));
  EXPECT_EQ(ok["intact"], true);
  EXPECT_EQ(ok["checked"], 5);
  EXPECT_EQ(ok["unchecked"], 0);
  fs::remove(dir_ + "/SPINE");
  RunResult broken = Run({"verify", dir_, "--json"});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_EQ(json::parse(broken.out)["intact"], false);
}

}  // namespace
}  // namespace quipu::clitest
