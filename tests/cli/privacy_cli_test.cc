// Black-box tests of protected fields through the `quipu` binary: master key
// files (`keys new|status|rotate|retire`), sealed, hashed and blind-indexed
// values in `emit`, `query`, `history`, `entities` and `export`, `forget`,
// and where the master keys come from (--key-file, --key-cmd, environment).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_runner.h"

namespace quipu::clitest {
namespace {

using nlohmann::json;

struct Person {
  std::string id, email, ssn, note, ip;
};

const Person kAlice{"alice", "Alice@Example.com", "123-45-6789", "alice secret note",
                    "203.0.113.77"};
const Person kBob{"bob", "bob@example.org", "987-65-4321", "bob private memo", "198.51.100.23"};

class PrivacyCliTest : public CliFixture {
 protected:
  void SetUp() override {
    CliFixture::SetUp();
    key_ = Path("master.key");
  }

  static std::string EventJson(const Person& p) {
    json e = {{"actor",
               {{"type", "person"},
                {"id", p.id},
                {"fields", {{"email", p.email}, {"ssn", p.ssn}, {"note", p.note}}}}},
              {"method", "login"},
              {"columns", {{"ip", p.ip}}}};
    return e.dump();
  }

  // A key file, the person type and ip column, and alice's and bob's logins.
  void MakeStore() {
    RunOk({"keys", "new", key_});
    const json schema = {
        {"name", "person"},
        {"fields",
         {{{"name", "email"},
           {"kind", "text"},
           {"indexed", true},
           {"protection", "encrypted+indexed"},
           {"prefix_tokens", 3}},
          {{"name", "ssn"}, {"kind", "text"}, {"indexed", true}, {"protection", "hashed"}},
          {{"name", "note"}, {"kind", "text"}, {"protection", "encrypted"}}}}};
    RunOk({"define-type", dir_, "--json", schema.dump()});
    RunOk({"define-column", dir_, "ip", "text", "--protection", "hashed"});
    RunOk({"emit", dir_, "--key-file", key_, "--json", EventJson(kAlice)});
    RunOk({"emit", dir_, "--key-file", key_, "--json", EventJson(kBob)});
  }

  // The JSON lines of `out` that hold a row ("log_id"), by actor id.
  static std::map<std::string, json> Rows(const std::string& out) {
    std::map<std::string, json> rows;
    for (const std::string& line : SplitLines(out)) {
      if (line.find("\"log_id\"") == std::string::npos) continue;
      json row = json::parse(line);
      rows[row["actor"]["id"].get<std::string>()] = row;
    }
    return rows;
  }

  // Every JSON line of `out` (history, entities), by entity id.
  static std::map<std::string, json> Entities(const std::string& out) {
    std::map<std::string, json> all;
    for (const std::string& line : SplitLines(out)) {
      json e = json::parse(line);
      all[e["id"].get<std::string>()] = e;
    }
    return all;
  }

  std::map<std::string, json> Query(std::vector<std::string> filters, bool key = true) {
    std::vector<std::string> args = {"query", dir_, "--json"};
    if (key) args.insert(args.end(), {"--key-file", key_});
    args.insert(args.end(), filters.begin(), filters.end());
    return Rows(RunOk(args));
  }

  static void ExpectPlain(const json& fields, const Person& p) {
    EXPECT_EQ(fields["email"], p.email) << fields;
    EXPECT_EQ(fields["note"], p.note) << fields;
    EXPECT_EQ(fields["ssn"], json({{"hashed", true}})) << fields;
  }

  static void ExpectErased(const json& fields) {
    for (const char* f : {"email", "note", "ssn"}) {
      EXPECT_EQ(fields[f], json({{"erased", true}})) << f << ": " << fields;
    }
  }

  // Relative paths of the regular files under the store holding `needle`.
  std::vector<std::string> FilesHolding(const std::string& needle) const {
    std::vector<std::string> hits;
    for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
      if (!entry.is_regular_file()) continue;
      if (ReadFile(entry.path()).find(needle) != std::string::npos) {
        hits.push_back(fs::relative(entry.path(), dir_).string());
      }
    }
    return hits;
  }

  void ExpectNoPlaintextInStore() const {
    size_t files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(dir_))
      files += entry.is_regular_file();
    ASSERT_GT(files, 3u);
    std::vector<std::string> secrets = {KeyHex(1)};
    for (const Person& p : {kAlice, kBob}) {
      secrets.insert(secrets.end(), {p.email, p.ssn, p.note, p.ip});
    }
    secrets.push_back("alice@example.com");  // the folded form is never stored either
    for (const std::string& s : secrets) {
      EXPECT_EQ(FilesHolding(s), std::vector<std::string>{}) << s;
    }
  }

  // The hex of version `version` in the key file ("" if absent).
  std::string KeyHex(uint32_t version) const {
    const std::string prefix = "quipu-master-key " + std::to_string(version) + " ";
    for (const std::string& line : SplitLines(ReadFile(key_))) {
      if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
    }
    return "";
  }

  std::vector<std::string> KeyLines() const {
    std::vector<std::string> lines;
    for (const std::string& line : SplitLines(ReadFile(key_))) {
      if (line.rfind("quipu-master-key ", 0) == 0) lines.push_back(line);
    }
    return lines;
  }

  json Status(bool key = false) {
    std::vector<std::string> args = {"keys", "status", dir_, "--json"};
    if (key) args.insert(args.end(), {"--key-file", key_});
    return json::parse(RunOk(args));
  }

  static int Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
    return static_cast<int>(st.st_mode & 0777);
  }

  std::string key_;
};

TEST_F(PrivacyCliTest, KeysNewMakesAPrivateFileAndNeverOverwritesIt) {
  const std::string out = RunOk({"keys", "new", key_});
  EXPECT_NE(out.find("master key version 1"), std::string::npos) << out;
  EXPECT_EQ(Mode(key_), 0600);
  ASSERT_EQ(KeyLines().size(), 1u);
  EXPECT_EQ(KeyHex(1).size(), 64u);
  EXPECT_EQ(out.find(KeyHex(1)), std::string::npos) << "the key is never printed";

  const std::string before = ReadFile(key_);
  RunResult again = Run({"keys", "new", key_});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
  EXPECT_EQ(ReadFile(key_), before);
  EXPECT_EQ(Mode(key_), 0600);
  EXPECT_EQ(Run({"keys", "new", Path("no/such/dir/k")}).exit_code, 1);
}

TEST_F(PrivacyCliTest, ProtectedFieldsReadAndMatchOnlyWithTheKey) {
  MakeStore();

  auto rows = Query({});
  ASSERT_EQ(rows.size(), 2u);
  ExpectPlain(rows["alice"]["actor"]["fields"], kAlice);
  ExpectPlain(rows["bob"]["actor"]["fields"], kBob);
  EXPECT_EQ(rows["alice"]["columns"]["ip"], json({{"hashed", true}}));

  auto locked = Query({}, /*key=*/false);
  ASSERT_EQ(locked.size(), 2u);
  for (const auto& [id, row] : locked) {
    const json& fields = row["actor"]["fields"];
    EXPECT_EQ(fields["email"], json({{"encrypted", true}})) << id;
    EXPECT_EQ(fields["note"], json({{"encrypted", true}})) << id;
    EXPECT_EQ(fields["ssn"], json({{"hashed", true}})) << id;
    EXPECT_EQ(row["columns"]["ip"], json({{"hashed", true}})) << id;
  }
  // Nothing protected reaches the text table either.
  const std::string text = RunOk({"query", dir_, "--key-file", key_});
  EXPECT_EQ(text.find(kAlice.ssn), std::string::npos) << text;

  // Writing a protected value needs the key.
  Person carol{"carol", "c@example.net", "1", "n", "192.0.2.1"};
  RunResult no_key = Run({"emit", dir_, "--json", EventJson(carol)});
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_NE(no_key.err.find("master key"), std::string::npos) << no_key.err;
  EXPECT_EQ(Query({}).size(), 2u);

  // Filters through the blind index and the keyed hashes.
  auto only = [&](std::vector<std::string> filter, const std::string& want) {
    auto hits = Query(filter);
    EXPECT_EQ(hits.size(), want.empty() ? 0u : 1u) << filter[0] << " " << filter[1];
    if (!want.empty()) {
      EXPECT_EQ(hits.count(want), 1u) << filter[0] << " " << filter[1];
    }
  };
  only({"--actor", "person.email=Alice@Example.com"}, "alice");
  only({"--actor", "person.email=alice@example.com"}, "");
  only({"--actor-ci", "person.email=aLiCe@EXAMPLE.com"}, "alice");
  only({"--actor-ci", "person.email=BOB@example.org"}, "bob");
  only({"--actor-prefix", "person.email=Ali"}, "alice");
  only({"--actor-prefix", "person.email=b"}, "bob");
  only({"--actor-prefix", "person.email=al"}, "");
  only({"--actor", "person.ssn=987-65-4321"}, "bob");
  only({"--column", "ip=" + kAlice.ip}, "alice");
  only({"--column", "ip=192.0.2.200"}, "");
  EXPECT_EQ(Query({"--actor-prefix", "person.email=Al", "--column", "ip=" + kBob.ip}).size(), 0u);

  RunResult too_long =
      Run({"query", dir_, "--key-file", key_, "--actor-prefix", "person.email=Alic"});
  EXPECT_EQ(too_long.exit_code, 1);
  EXPECT_NE(too_long.err.find("prefix"), std::string::npos) << too_long.err;
  RunResult contains =
      Run({"query", dir_, "--key-file", key_, "--actor-contains", "person.email=lice"});
  EXPECT_EQ(contains.exit_code, 1) << "a blind index cannot match substrings";
  RunResult unkeyed = Run({"query", dir_, "--actor", "person.email=" + kAlice.email});
  EXPECT_EQ(unkeyed.exit_code, 1);
  EXPECT_NE(unkeyed.err.find("master key"), std::string::npos) << unkeyed.err;

  // history and entities decrypt with the key, and only with it.
  auto history =
      Entities(RunOk({"history", dir_, "person", "alice", "--json", "--key-file", key_}));
  ASSERT_EQ(history.size(), 1u);
  ExpectPlain(history["alice"]["fields"], kAlice);
  auto entities = Entities(RunOk({"entities", dir_, "person", "--json", "--key-file", key_}));
  ASSERT_EQ(entities.size(), 2u);
  ExpectPlain(entities["alice"]["fields"], kAlice);
  ExpectPlain(entities["bob"]["fields"], kBob);
  auto hidden = Entities(RunOk({"entities", dir_, "person", "--json"}));
  EXPECT_EQ(hidden["bob"]["fields"]["note"], json({{"encrypted", true}}));

  ExpectNoPlaintextInStore();
}

TEST_F(PrivacyCliTest, ForgetErasesOneSubjectAndProofsStillVerify) {
  MakeStore();
  ExpectNoPlaintextInStore();

  RunResult forgot = Run({"forget", dir_, "--subject", "person/alice", "--key-file", key_});
  ASSERT_EQ(forgot.exit_code, 0) << forgot.err;
  EXPECT_NE(forgot.out.find("1 data key(s) destroyed"), std::string::npos) << forgot.out;

  auto rows = Query({});
  ASSERT_EQ(rows.size(), 2u);
  ExpectErased(rows["alice"]["actor"]["fields"]);
  EXPECT_EQ(rows["alice"]["columns"]["ip"], json({{"erased", true}}));
  ExpectPlain(rows["bob"]["actor"]["fields"], kBob);
  EXPECT_EQ(rows["bob"]["columns"]["ip"], json({{"hashed", true}}));
  ExpectErased(Entities(RunOk(
      {"history", dir_, "person", "alice", "--json", "--key-file", key_}))["alice"]["fields"]);
  ExpectPlain(Entities(RunOk({"history", dir_, "person", "bob", "--json", "--key-file",
                              key_}))["bob"]["fields"],
              kBob);

  // Alice's tokens match nothing any more; bob's still do.
  for (std::vector<std::string> f :
       std::vector<std::vector<std::string>>{{"--actor", "person.email=" + kAlice.email},
                                             {"--actor-ci", "person.email=alice@example.com"},
                                             {"--actor-prefix", "person.email=A"},
                                             {"--actor", "person.ssn=" + kAlice.ssn},
                                             {"--column", "ip=" + kAlice.ip}}) {
    EXPECT_EQ(Query(f).size(), 0u) << f[0] << " " << f[1];
  }
  EXPECT_EQ(Query({"--actor", "person.email=" + kBob.email}).count("bob"), 1u);
  EXPECT_EQ(Query({"--column", "ip=" + kBob.ip}).count("bob"), 1u);

  json status = Status();
  EXPECT_EQ(status["live_by_version"], json({{"1", 1}})) << status;
  EXPECT_EQ(status["forgotten"], 1) << status;

  // The log, its tree and an export with proofs still verify.
  RunResult verified = Run({"verify", dir_});
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_NE(verified.out.find("intact"), std::string::npos) << verified.out;
  const std::string exported = RunOk({"export", dir_, "--with-proofs", "--key-file", key_});
  auto exported_rows = Rows(exported);
  ExpectErased(exported_rows["alice"]["actor"]["fields"]);
  ExpectPlain(exported_rows["bob"]["actor"]["fields"], kBob);
  int forget_lines = 0;
  for (const std::string& line : SplitLines(exported)) {
    if (line.find("\"forget\"") == std::string::npos) continue;
    ++forget_lines;
    EXPECT_EQ(json::parse(line)["forget"]["id"], "alice") << line;
  }
  EXPECT_EQ(forget_lines, 1) << exported;
  WriteFile(Path("export.ndjson"), exported);
  const std::string root = json::parse(RunOk({"root", dir_, "--json"}))["root"];
  RunResult checked = Run({"verify-proof", "--export", Path("export.ndjson"), "--root", root});
  EXPECT_EQ(checked.exit_code, 0) << checked.err;

  ExpectNoPlaintextInStore();

  RunResult unknown = Run({"forget", dir_, "--subject", "person/zed"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("zed"), std::string::npos) << unknown.err;
  EXPECT_EQ(Run({"forget", dir_, "--subject", "nosuch/alice"}).exit_code, 1);
  for (const char* bad : {"bad", "/alice", "person/", ""}) {
    RunResult r = Run({"forget", dir_, "--subject", bad});
    EXPECT_TRUE(r.exit_code == 1 || r.exit_code == 2) << bad << ": " << r.exit_code;
    EXPECT_NE(r.err.find("TYPE/ID"), std::string::npos) << bad << ": " << r.err;
  }
  EXPECT_EQ(Status()["forgotten"], 1) << "refused forgets destroy nothing";
  EXPECT_EQ(Query({"--actor", "person.email=" + kBob.email}).count("bob"), 1u);
}

TEST_F(PrivacyCliTest, RotateRewrapsAndRetireDropsOnlyUnusedVersions) {
  MakeStore();
  RunOk({"forget", dir_, "--subject", "person/alice", "--json"});
  json status = Status(/*key=*/true);
  EXPECT_EQ(status["live_by_version"], json({{"1", 1}})) << status;
  EXPECT_EQ(status["forgotten"], 1) << status;
  EXPECT_EQ(status["master_versions"], json({1})) << status;

  // The newest version cannot go.
  const std::string v1 = KeyHex(1);
  EXPECT_EQ(Run({"keys", "retire", dir_, "--key-file", key_, "--version", "1"}).exit_code, 1);
  EXPECT_EQ(KeyHex(1), v1);

  const std::string rotated = RunOk({"keys", "rotate", dir_, "--key-file", key_});
  EXPECT_NE(rotated.find("added master key version 2"), std::string::npos) << rotated;
  EXPECT_NE(rotated.find("re-wrapped 1 data key(s)"), std::string::npos) << rotated;
  EXPECT_EQ(rotated.find(v1), std::string::npos);
  EXPECT_EQ(Mode(key_), 0600);
  ASSERT_EQ(KeyLines().size(), 2u);
  EXPECT_EQ(KeyHex(1), v1);
  const std::string v2 = KeyHex(2);
  EXPECT_EQ(v2.size(), 64u);
  EXPECT_NE(v2, v1);
  status = Status(/*key=*/true);
  EXPECT_EQ(status["live_by_version"], json({{"2", 1}})) << status;
  EXPECT_EQ(status["forgotten"], 1) << status;
  EXPECT_EQ(status["master_versions"], json({1, 2})) << status;

  // A rewrap when all is on the newest version changes nothing.
  const std::string rewrapped = RunOk({"keys", "rewrap", dir_, "--key-cmd", "cat " + key_});
  EXPECT_NE(rewrapped.find("re-wrapped 0 data key(s)"), std::string::npos) << rewrapped;
  EXPECT_EQ(Run({"keys", "rewrap", dir_}).exit_code, 1) << "rewrap needs the keys";
  EXPECT_EQ(Run({"keys", "rotate", dir_}).exit_code, 1) << "rotate needs --key-file";

  // Version 1 made the index tokens of the values written before the
  // rotation: retiring it would stop queries from matching them.
  EXPECT_GT(status["tokens_by_version"]["1"].get<int>(), 0) << status;
  RunResult kept = Run({"keys", "retire", dir_, "--key-file", key_, "--version", "1"});
  EXPECT_EQ(kept.exit_code, 1);
  EXPECT_NE(kept.err.find("index tokens"), std::string::npos) << kept.err;
  ASSERT_EQ(KeyLines().size(), 2u);
  EXPECT_EQ(Query({"--actor", "person.email=" + kBob.email}).count("bob"), 1u);
  EXPECT_EQ(Query({"--actor-prefix", "person.email=bo"}).count("bob"), 1u);
  EXPECT_EQ(Query({"--actor", "person.ssn=" + kBob.ssn}).count("bob"), 1u);
  EXPECT_EQ(Query({"--column", "ip=" + kBob.ip}).count("bob"), 1u);

  auto rows = Query({});
  ExpectPlain(rows["bob"]["actor"]["fields"], kBob);
  ExpectErased(rows["alice"]["actor"]["fields"]);
  ExpectPlain(
      Entities(RunOk({"entities", dir_, "person", "--json", "--key-file", key_}))["bob"]["fields"],
      kBob);
  // New writes seal under version 2 and read back.
  Person dave{"dave", "dave@example.com", "555-55-5555", "dave note", "192.0.2.9"};
  RunOk({"emit", dir_, "--key-file", key_, "--json", EventJson(dave)});
  ExpectPlain(Query({"--actor", "person.email=" + dave.email})["dave"]["actor"]["fields"], dave);
  EXPECT_EQ(Status(/*key=*/true)["live_by_version"], json({{"2", 2}}));

  // The newest (only) version stays, and so does an unknown one.
  const std::string before = ReadFile(key_);
  RunResult newest = Run({"keys", "retire", dir_, "--key-file", key_, "--version", "2"});
  EXPECT_EQ(newest.exit_code, 1);
  EXPECT_EQ(Run({"keys", "retire", dir_, "--key-file", key_, "--version", "7"}).exit_code, 1);
  EXPECT_EQ(ReadFile(key_), before);
  EXPECT_EQ(newest.err.find(v2), std::string::npos) << newest.err;
}

// A writer key file seals and matches, and reads nothing back.
TEST_F(PrivacyCliTest, AWriterKeyFileWritesAndMatchesButDoesNotRead) {
  MakeStore();
  const std::string writer = Path("writer.key");
  RunOk({"keys", "writer", key_, writer});
  EXPECT_EQ(Mode(writer), 0600);
  EXPECT_EQ(ReadFile(writer).find(KeyHex(1)), std::string::npos) << "no master secret in it";
  EXPECT_EQ(Run({"keys", "writer", key_, writer}).exit_code, 1) << "never overwritten";
  Person carol{"carol", "carol@example.net", "222-22-2222", "carol note", "192.0.2.7"};
  RunOk({"emit", dir_, "--key-file", writer, "--json", EventJson(carol)});
  auto rows = Rows(RunOk(
      {"query", dir_, "--json", "--key-file", writer, "--actor", "person.email=" + carol.email}));
  ASSERT_EQ(rows.count("carol"), 1u);
  EXPECT_EQ(rows["carol"]["actor"]["fields"]["note"], json({{"encrypted", true}}));
  EXPECT_EQ(rows["carol"]["actor"]["fields"]["ssn"], json({{"hashed", true}}));
  // The master key reads what the writer sealed.
  ExpectPlain(Query({"--actor", "person.email=" + carol.email})["carol"]["actor"]["fields"], carol);
  EXPECT_EQ(Run({"keys", "rewrap", dir_, "--key-file", writer}).exit_code, 1);
}

// A version that neither wraps a data key nor made an index token goes.
TEST_F(PrivacyCliTest, RetireDropsAVersionNothingUses) {
  RunOk({"keys", "new", key_});
  RunOk({"define-type", dir_, "--json",
         R"({"name":"note","fields":[{"name":"text","protection":"encrypted"}]})"});
  RunOk({"emit", dir_, "--key-file", key_, "--json",
         R"({"actor":{"type":"note","id":"n1","fields":{"text":"sealed words"}},"method":"m"})"});
  RunOk({"keys", "rotate", dir_, "--key-file", key_});
  const std::string v2 = KeyHex(2);
  const std::string retired = RunOk({"keys", "retire", dir_, "--key-file", key_, "--version", "1"});
  EXPECT_NE(retired.find("retired master key version 1"), std::string::npos) << retired;
  EXPECT_EQ(KeyLines(), std::vector<std::string>{"quipu-master-key 2 " + v2});
  EXPECT_EQ(Mode(key_), 0600);
  const std::string out = RunOk({"history", dir_, "note", "n1", "--json", "--key-file", key_});
  EXPECT_NE(out.find("sealed words"), std::string::npos) << out;
}

// A master key that is not the store's is refused at open, never read as
// erased or empty values.
TEST_F(PrivacyCliTest, AWrongKeyIsRefused) {
  MakeStore();
  RunOk({"keys", "new", Path("other.key")});
  for (const char* verb : {"entities", "query", "history", "export"}) {
    std::vector<std::string> args = {verb, dir_};
    if (std::string(verb) == "entities") args.push_back("person");
    if (std::string(verb) == "history") {
      args.push_back("person");
      args.push_back("bob");
    }
    args.push_back("--key-file");
    args.push_back(Path("other.key"));
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 1) << verb << ": " << r.out;
    EXPECT_NE(r.err.find("does not open the data keys"), std::string::npos) << r.err;
  }
}

TEST_F(PrivacyCliTest, KeysComeFromAFileACommandOrTheEnvironment) {
  MakeStore();
  const std::string hex = KeyHex(1);

  auto by_cmd = Rows(RunOk({"query", dir_, "--json", "--key-cmd", "cat " + key_}));
  ExpectPlain(by_cmd["alice"]["actor"]["fields"], kAlice);
  Person carol{"carol", "carol@example.net", "111-11-1111", "carol note", "192.0.2.5"};
  RunOk({"emit", dir_, "--key-cmd", "cat " + key_, "--json", EventJson(carol)});
  ExpectPlain(Query({"--actor", "person.email=" + carol.email})["carol"]["actor"]["fields"], carol);
  RunResult failing = Run({"query", dir_, "--key-cmd", "exit 3"});
  EXPECT_EQ(failing.exit_code, 1);
  EXPECT_NE(failing.err.find("key command"), std::string::npos) << failing.err;
  EXPECT_EQ(Run({"query", dir_, "--key-file", key_, "--key-cmd", "cat " + key_}).exit_code, 2)
      << "one source at a time";

  // A key file others may read is refused, without a word of its key.
  const std::string loose = Path("loose.key");
  fs::copy_file(key_, loose);
  ASSERT_EQ(chmod(loose.c_str(), 0644), 0);
  RunResult refused = Run({"query", dir_, "--json", "--key-file", loose});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("chmod 600"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.err.find(hex), std::string::npos);
  EXPECT_EQ(refused.err.find(hex.substr(0, 8)), std::string::npos);
  EXPECT_EQ(refused.out.find(kAlice.email), std::string::npos);
  RunResult env_loose = Run({"query", dir_}, "", WithEnv({"QUIPU_KEY_FILE=" + loose}));
  EXPECT_EQ(env_loose.exit_code, 1);

  // A malformed key names its line, never its digits.
  const std::string bad = Path("bad.key");
  WriteFile(bad, "quipu-master-key 1 " + hex + "0\n");
  ASSERT_EQ(chmod(bad.c_str(), 0600), 0);
  RunResult malformed = Run({"query", dir_, "--key-file", bad});
  EXPECT_EQ(malformed.exit_code, 1);
  EXPECT_NE(malformed.err.find("line 1"), std::string::npos) << malformed.err;
  EXPECT_EQ(malformed.err.find(hex.substr(0, 8)), std::string::npos) << malformed.err;
  fs::create_symlink(key_, Path("link.key"));
  EXPECT_EQ(Run({"query", dir_, "--key-file", Path("link.key")}).exit_code, 1);

  // The environment names the key when no flag does.
  RunResult env = Run({"query", dir_, "--json"}, "", WithEnv({"QUIPU_KEY_FILE=" + key_}));
  ASSERT_EQ(env.exit_code, 0) << env.err;
  ExpectPlain(Rows(env.out)["bob"]["actor"]["fields"], kBob);
  RunResult env_cmd =
      Run({"history", dir_, "person", "bob", "--json"}, "", WithEnv({"QUIPU_KEY_CMD=cat " + key_}));
  ASSERT_EQ(env_cmd.exit_code, 0) << env_cmd.err;
  ExpectPlain(Entities(env_cmd.out)["bob"]["fields"], kBob);
  Person erin{"erin", "erin@example.net", "222-22-2222", "erin note", "192.0.2.6"};
  RunResult env_emit =
      Run({"emit", dir_, "--json", EventJson(erin)}, "", WithEnv({"QUIPU_KEY_FILE=" + key_}));
  EXPECT_EQ(env_emit.exit_code, 0) << env_emit.err;
  EXPECT_EQ(Query({"--actor-ci", "person.email=ERIN@example.net"}).count("erin"), 1u);
}

}  // namespace
}  // namespace quipu::clitest
