// Black-box tests of `quipu export`, `quipu import` and
// `quipu verify-proof --export`: the round trip, filters, and every way an
// export with proofs can be tampered with.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/audit_fixture.h"

namespace quipu::clitest {
namespace {

using nlohmann::json;

class ExportCliTest : public AuditFixture {
 protected:
  // The schema, six events (two users, three documents, a json column and
  // json content), an evolution of `user`, one more event: 13 records. LSN
  // 1..2 types, 3..5 columns, 6..11 events 1..6, 12 a type, 13 event 7.
  void MakeStore() {
    DefineSchema();
    for (int i = 1; i <= 6; ++i) {
      json event = json::parse(DocEvent("u" + std::to_string(i % 2), "d" + std::to_string(i % 3),
                                        "title " + std::to_string(i)));
      event["actor"]["fields"] = {{"email", "u" + std::to_string(i % 2) + "@example.org"}};
      event["columns"] = {{"tenant", i % 2 ? "acme" : "other"}, {"blob", {{"i", i}}}};
      event["content"] = {{"diff", i}};
      ASSERT_EQ(Emit(event.dump()).exit_code, 0);
    }
    ASSERT_EQ(Run({"define-type", dir_, "--json",
                   R"({"name":"user","fields":[{"name":"email","indexed":true},)"
                   R"({"name":"age","kind":"number","indexed":true},{"name":"team"}]})"})
                  .exit_code,
              0);
    ASSERT_EQ(Emit(R"({"actor":{"type":"user","id":"u1","fields":{"team":"blue"}},)"
                   R"("occurred_at":"2024-05-01T12:00:00Z"})")
                  .exit_code,
              0);
  }

  std::string Root(const std::string& dir) {
    return json::parse(RunOk({"root", dir, "--json"}))["root"].get<std::string>();
  }

  // Writes `lines` as an export file and returns its path.
  std::string WriteLines(const std::string& name, const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& l : lines) text += l + "\n";
    WriteFile(Path(name), text);
    return Path(name);
  }

  // log_ids of `dir`'s rows, newest first.
  std::vector<int> QueryIdsOf(const std::string& dir) {
    std::vector<int> ids;
    for (const std::string& line : SplitLines(RunOk({"query", dir, "--json"}))) {
      json hit = json::parse(line);
      if (hit.contains("log_id")) ids.push_back(hit["log_id"]);
    }
    return ids;
  }

  RunResult VerifyExport(const std::string& file, const std::string& root) {
    return Run({"verify-proof", "--export", file, "--root", root});
  }
};

TEST_F(ExportCliTest, ACompleteExportImportsIntoTheSameTree) {
  MakeStore();
  std::string text = RunOk({"export", dir_});
  std::vector<std::string> lines = SplitLines(text);
  ASSERT_EQ(lines.size(), 14u) << text;  // the header and 13 records
  json header = json::parse(lines[0])["export"];
  EXPECT_EQ(header["tree_size"], 13);
  EXPECT_EQ(header["root"], Root(dir_));
  EXPECT_EQ(header["complete"], true);
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_EQ(json::parse(lines[i])["lsn"], i);

  std::string copy = Path("copy");
  std::string out = RunOk({"import", copy}, text);
  EXPECT_NE(out.find("3 types, 3 columns, 7 events"), std::string::npos) << out;
  // Same records, byte for byte: the same root, and the same export.
  EXPECT_EQ(Root(copy), Root(dir_));
  EXPECT_EQ(RunOk({"export", copy}), text);
  EXPECT_EQ(RunOk({"history", copy, "user", "u1", "--json"}),
            RunOk({"history", dir_, "user", "u1", "--json"}));
  RunOk({"verify", copy});
}

TEST_F(ExportCliTest, AFilteredExportHoldsTheCatalogAndRenumbersOnImport) {
  MakeStore();
  std::vector<std::string> lines =
      SplitLines(RunOk({"export", dir_, "--column", "tenant=acme", "--since", "2000-01-01"}));
  EXPECT_EQ(json::parse(lines[0])["export"]["complete"], false);
  std::vector<uint64_t> log_ids;
  int catalog = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    json line = json::parse(lines[i]);
    if (line.contains("log_id")) {
      log_ids.push_back(line["log_id"]);
    } else {
      catalog++;
    }
  }
  EXPECT_EQ(catalog, 6);  // 3 types, 3 columns
  EXPECT_EQ(log_ids, (std::vector<uint64_t>{1, 3, 5}));

  std::string copy = Path("copy");
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  RunOk({"import", copy}, text);
  EXPECT_EQ(QueryIdsOf(copy), (std::vector<int>{3, 2, 1}));
}

TEST_F(ExportCliTest, ImportRefusesAStoreWithRecordsAndInputThatIsNotAnExport) {
  MakeStore();
  std::string text = RunOk({"export", dir_});
  ExpectRefused(Run({"import", dir_}, text), "import", {"needs an empty store", "13 records"});
  // Nothing is left behind where there was no store.
  ExpectRefused(Run({"import", Path("new")}, "{\"log_id\":1}\n"), "import", {"line 1", "header"});
  EXPECT_FALSE(fs::exists(Path("new")));
  // A line missing from a complete export stops the import at the next event.
  std::vector<std::string> lines = SplitLines(text);
  lines.erase(lines.begin() + 8);  // event 3
  std::string gapped;
  for (const std::string& l : lines) gapped += l + "\n";
  ExpectRefused(Run({"import", Path("gap")}, gapped), "import", {"line 9", "missing"});
}

TEST_F(ExportCliTest, VerifyProofChecksEveryLineOfAnExportWithProofs) {
  MakeStore();
  const std::string root = Root(dir_);
  std::string file = Path("export.ndjson");
  WriteFile(file, RunOk({"export", dir_, "--with-proofs"}));
  std::string out = RunOk({"verify-proof", "--export", file, "--root", root});
  EXPECT_NE(out.find("OK: 13 records"), std::string::npos) << out;

  // The export of part of the tree, proven against that tree's root.
  std::string part = Path("part.ndjson");
  WriteFile(part,
            RunOk({"export", dir_, "--with-proofs", "--size", "8", "--target", "document.id=d1"}));
  std::string part_root =
      json::parse(RunOk({"root", dir_, "--size", "8", "--json"}))["root"].get<std::string>();
  out = RunOk({"verify-proof", "--export", part, "--root", part_root});
  EXPECT_NE(out.find("filtered export"), std::string::npos) << out;
  EXPECT_EQ(VerifyExport(part, root).exit_code, 1) << "a root of another size";

  // Without proofs there is nothing to check.
  std::string bare = Path("bare.ndjson");
  WriteFile(bare, RunOk({"export", dir_}));
  ExpectRefused(VerifyExport(bare, root), "verify-proof", {"--with-proofs"});
}

TEST_F(ExportCliTest, VerifyProofCatchesEveryEditOfAnExport) {
  MakeStore();
  const std::string root = Root(dir_);
  std::vector<std::string> lines = SplitLines(RunOk({"export", dir_, "--with-proofs"}));
  auto edited = [&](size_t index, const std::function<void(json&)>& edit) {
    std::vector<std::string> copy = lines;
    json line = json::parse(copy[index]);
    edit(line);
    copy[index] = line.dump();
    return WriteLines("edited.ndjson", copy);
  };
  // The JSON of an event, of a version it wrote, of a type.
  ExpectRefused(VerifyExport(edited(7, [](json& l) { l["method"] = "document.delete"; }), root),
                "verify-proof", {"line 8", "does not say what its record says"});
  ExpectRefused(
      VerifyExport(edited(8, [](json& l) { l["targets"][0]["fields"]["title"] = "forged"; }), root),
      "verify-proof", {"line 9"});
  ExpectRefused(
      VerifyExport(edited(1, [](json& l) { l["type"]["fields"][0]["indexed"] = false; }), root),
      "verify-proof", {"line 2"});
  // The record's bytes, with the JSON left alone: the proof no longer holds.
  ExpectRefused(VerifyExport(edited(6,
                                    [](json& l) {
                                      std::string hex = l["record"];
                                      hex[hex.size() - 1] = hex.back() == '0' ? '1' : '0';
                                      l["record"] = hex;
                                    }),
                             root),
                "verify-proof", {"line 7"});
  // A record moved to another LSN.
  ExpectRefused(VerifyExport(edited(9, [](json& l) { l["lsn"] = 10; }), root), "verify-proof",
                {"line 10"});
  // A line taken out of a complete export, the last one too.
  std::vector<std::string> gapped = lines;
  gapped.erase(gapped.begin() + 6);
  ExpectRefused(VerifyExport(WriteLines("gap.ndjson", gapped), root), "verify-proof",
                {"record 6 is missing"});
  gapped = lines;
  gapped.pop_back();
  ExpectRefused(VerifyExport(WriteLines("short.ndjson", gapped), root), "verify-proof",
                {"ends at LSN 12 of 13"});
  // Another root.
  std::string other = root;
  other[0] = other[0] == 'a' ? 'b' : 'a';
  ExpectRefused(VerifyExport(WriteLines("same.ndjson", lines), other), "verify-proof",
                {"not the trusted root"});
}

TEST_F(ExportCliTest, VerifyProofTakesTheExportsRootFromASignedCheckpoint) {
  MakeStore();
  std::string key = Path("key");
  RunOk({"keygen", "--out", key});
  RunOk({"checkpoint", dir_, "--key", key});
  ASSERT_EQ(Emit(DocEvent("u9", "d9", "after the checkpoint")).exit_code, 0);
  std::string file = Path("export.ndjson");
  WriteFile(file, RunOk({"export", dir_, "--with-proofs", "--size", "13"}));
  std::string out = RunOk({"verify-proof", "--export", file, "--checkpoint", dir_ + "/CHECKPOINTS",
                           "--public-key", key + ".pub"});
  EXPECT_NE(out.find("signed checkpoint"), std::string::npos) << out;
  // The whole store now has 14 records, and no checkpoint of that size.
  WriteFile(file, RunOk({"export", dir_, "--with-proofs"}));
  EXPECT_EQ(Run({"verify-proof", "--export", file, "--checkpoint", dir_ + "/CHECKPOINTS",
                 "--public-key", key + ".pub"})
                .exit_code,
            1);
}

}  // namespace
}  // namespace quipu::clitest
