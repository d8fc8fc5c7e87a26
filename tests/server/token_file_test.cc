// The token file on disk: Load, and the atomic replace behind
// AddTokenToFile and RemoveTokenFromFile.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "server/auth.h"
#include "test_dir.h"

namespace quipu::server {
namespace {

namespace fs = std::filesystem;

constexpr uint8_t kEmit = static_cast<uint8_t>(Grant::kEmit);
constexpr uint8_t kQuery = static_cast<uint8_t>(Grant::kQuery);

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteText(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class TokenFileIoTest : public ::testing::Test {
 protected:
  NewToken Make(uint8_t grants, std::optional<TokenScope> scope = std::nullopt) {
    Result<NewToken> token = CreateToken(grants, std::nullopt, std::move(scope), "n");
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return std::move(token).value();
  }

  std::vector<std::string> Ids() {
    Result<TokenSet> set = TokenSet::Load(path_);
    EXPECT_TRUE(set.ok()) << set.status().ToString();
    std::vector<std::string> ids;
    if (set.ok()) {
      for (const TokenEntry& e : set->entries()) ids.push_back(e.id);
    }
    return ids;
  }

  // Names in the directory other than the token file itself.
  std::vector<std::string> Leftovers() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      if (e.path().filename() != "tokens.json") names.push_back(e.path().filename().string());
    }
    return names;
  }

  testing::TestDir dir_;
  std::string path_ = dir_.path() + "/tokens.json";
};

TEST_F(TokenFileIoTest, AddThenRemoveKeepsTheOtherEntries) {
  NewToken a = Make(kEmit, TokenScope{"tenant", "acme"}), b = Make(kQuery), c = Make(kEmit);
  for (const NewToken* t : {&a, &b, &c}) ASSERT_TRUE(AddTokenToFile(path_, t->entry).ok());
  EXPECT_EQ(Ids(), (std::vector<std::string>{a.entry.id, b.entry.id, c.entry.id}));

  ASSERT_TRUE(RemoveTokenFromFile(path_, b.entry.id).ok());
  EXPECT_EQ(Ids(), (std::vector<std::string>{a.entry.id, c.entry.id}));
  Result<TokenSet> set = TokenSet::Load(path_);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->entries()[0].hash, a.entry.hash);
  EXPECT_EQ(set->entries()[0].scope->value, "acme");
  EXPECT_EQ(set->entries()[0].name, "n");

  ASSERT_TRUE(RemoveTokenFromFile(path_, a.entry.id).ok());
  ASSERT_TRUE(RemoveTokenFromFile(path_, c.entry.id).ok());
  EXPECT_TRUE(Ids().empty());
}

TEST_F(TokenFileIoTest, AStoredTokenAuthenticatesAfterLoadAndNotAfterRevoke) {
  NewToken token = Make(kEmit | kQuery);
  ASSERT_TRUE(AddTokenToFile(path_, token.entry).ok());
  Result<TokenSet> set = TokenSet::Load(path_);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto result = set->Authenticate("Bearer " + token.secret, 0);
  ASSERT_TRUE(std::holds_alternative<Principal>(result));
  EXPECT_EQ(std::get<Principal>(result).token_id, token.entry.id);
  // The secret itself is never written.
  EXPECT_EQ(ReadText(path_).find(token.secret.substr(4)), std::string::npos);

  ASSERT_TRUE(RemoveTokenFromFile(path_, token.entry.id).ok());
  set = TokenSet::Load(path_);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(std::get<AuthFailure>(set->Authenticate("Bearer " + token.secret, 0)),
            AuthFailure::kUnknown);
}

// Sets the process umask for one scope, restoring it even when an
// assertion returns early.
class UmaskScope {
 public:
  explicit UmaskScope(mode_t mask) : old_(::umask(mask)) {}
  ~UmaskScope() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST_F(TokenFileIoTest, TheFileIsMode0600WhateverTheUmaskAndTheOldMode) {
  UmaskScope no_mask(0);  // so a mode wider than 0600 would show
  ASSERT_TRUE(AddTokenToFile(path_, Make(kEmit).entry).ok());
  EXPECT_EQ(ModeOf(path_), 0600);
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  ASSERT_TRUE(AddTokenToFile(path_, Make(kEmit).entry).ok());
  EXPECT_EQ(ModeOf(path_), 0600);
}

TEST_F(TokenFileIoTest, AReplaceLeavesNoTemporaryFile) {
  NewToken token = Make(kEmit);
  ASSERT_TRUE(AddTokenToFile(path_, token.entry).ok());
  EXPECT_TRUE(Leftovers().empty());
  ASSERT_TRUE(RemoveTokenFromFile(path_, token.entry.id).ok());
  EXPECT_TRUE(Leftovers().empty());
  // Nor does a refused change.
  EXPECT_FALSE(RemoveTokenFromFile(path_, "t_nothere").ok());
  EXPECT_TRUE(Leftovers().empty());
}

TEST_F(TokenFileIoTest, ADuplicateIdIsRefusedAndTheFileKept) {
  NewToken token = Make(kEmit);
  ASSERT_TRUE(AddTokenToFile(path_, token.entry).ok());
  const std::string before = ReadText(path_);
  TokenEntry same_id = Make(kQuery).entry;
  same_id.id = token.entry.id;
  Status s = AddTokenToFile(path_, same_id);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find(token.entry.id), std::string::npos) << s.message();
  EXPECT_EQ(ReadText(path_), before);
  EXPECT_TRUE(Leftovers().empty());
}

TEST_F(TokenFileIoTest, AnEntryLoadWouldRefuseIsNeverWritten) {
  TokenEntry bad = Make(kEmit).entry;
  bad.grants = 0;
  EXPECT_EQ(AddTokenToFile(path_, bad).code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_TRUE(Leftovers().empty());
}

TEST_F(TokenFileIoTest, RemovingAnUnknownIdIsNotFound) {
  ASSERT_TRUE(AddTokenToFile(path_, Make(kEmit).entry).ok());
  Status s = RemoveTokenFromFile(path_, "t_00000000");
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find("t_00000000"), std::string::npos) << s.message();
}

TEST_F(TokenFileIoTest, AMissingFileIsNotFoundForLoadAndRemove) {
  EXPECT_EQ(TokenSet::Load(path_).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(RemoveTokenFromFile(path_, "t_00000000").code(), Status::Code::kNotFound);
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_TRUE(Leftovers().empty());
}

TEST_F(TokenFileIoTest, ABadFileIsRefusedByNameAndNotReplaced) {
  WriteText(path_, R"({"tokens": [{"id": "t_x"}]})");
  Result<TokenSet> set = TokenSet::Load(path_);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message().rfind(path_ + ": tokens[0] (id 't_x')", 0), 0u)
      << set.status().message();
  EXPECT_FALSE(AddTokenToFile(path_, Make(kEmit).entry).ok());
  EXPECT_EQ(ReadText(path_), R"({"tokens": [{"id": "t_x"}]})");
  EXPECT_TRUE(Leftovers().empty());
}

TEST_F(TokenFileIoTest, ALeftoverTemporaryFileIsBusyAndLeftAlone) {
  ASSERT_TRUE(AddTokenToFile(path_, Make(kEmit).entry).ok());
  const std::string before = ReadText(path_);
  WriteText(path_ + ".tmp", "another writer's half");
  Status s = AddTokenToFile(path_, Make(kQuery).entry);
  EXPECT_EQ(s.code(), Status::Code::kBusy);
  EXPECT_NE(s.message().find(path_ + ".tmp"), std::string::npos) << s.message();
  EXPECT_EQ(ReadText(path_), before);
  EXPECT_EQ(ReadText(path_ + ".tmp"), "another writer's half");
}

TEST_F(TokenFileIoTest, ASymlinkedFileIsReplacedWhereItPoints) {
  const std::string real = dir_.path() + "/real.json", link = dir_.path() + "/link.json";
  ASSERT_TRUE(AddTokenToFile(real, Make(kEmit).entry).ok());
  fs::create_symlink(real, link);
  NewToken token = Make(kQuery);
  ASSERT_TRUE(AddTokenToFile(link, token.entry).ok());
  EXPECT_TRUE(fs::is_symlink(link));
  Result<TokenSet> set = TokenSet::Load(real);
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set->entries().size(), 2u);
  EXPECT_EQ(set->entries()[1].id, token.entry.id);
}

}  // namespace
}  // namespace quipu::server
