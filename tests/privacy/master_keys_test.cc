// privacy/master_keys: key files (created 0600, never overwritten, refused
// when readable by others), parsing without ever showing a key, versions
// added and retired, and the keys derived from each version.
#include "privacy_test_util.h"

namespace quipu::testing {
namespace {

class KeyFileTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name = "master.keys") const {
    return dir_.path() + "/" + name;
  }
  std::shared_ptr<const MasterKeys> Load(const std::string& path) {
    auto keys = MasterKeys::FromFile(path);
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? *keys : nullptr;
  }
  std::vector<uint32_t> VersionsIn(const std::string& path) {
    auto keys = Load(path);
    return keys ? keys->Versions() : std::vector<uint32_t>{};
  }
  static unsigned Mode(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
  }
  TestDir dir_;
};

TEST_F(KeyFileTest, CreateMakesAPrivateFileWithOneKey) {
  ASSERT_TRUE(CreateMasterKeyFile(Path()).ok());
  EXPECT_EQ(Mode(Path()), 0600u);
  EXPECT_EQ(VersionsIn(Path()), std::vector<uint32_t>{1});
  const std::string before = ReadFile(Path());
  EXPECT_EQ(CreateMasterKeyFile(Path()).code(), Code::kFailedPrecondition);
  EXPECT_EQ(ReadFile(Path()), before);
  // Two files hold two different keys.
  ASSERT_TRUE(CreateMasterKeyFile(Path("other.keys")).ok());
  auto a = Load(Path());
  auto b = Load(Path("other.keys"));
  ASSERT_TRUE(a && b);
  EXPECT_NE(Derived(*a, 1, "x"), Derived(*b, 1, "x"));
}

TEST_F(KeyFileTest, FromFileRefusesReadableFilesAndSymlinks) {
  WritePrivate(Path(), Line(1, kHexA));
  EXPECT_EQ(VersionsIn(Path()), std::vector<uint32_t>{1});
  std::filesystem::create_symlink(Path(), Path("link.keys"));
  EXPECT_EQ(MasterKeys::FromFile(Path("link.keys")).status().code(), Code::kIOError);
  chmod(Path().c_str(), 0644);
  auto open = MasterKeys::FromFile(Path());
  EXPECT_EQ(open.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(open.status().message().find(kHexA.substr(0, 16)), std::string::npos);
  EXPECT_EQ(AddMasterKeyVersion(Path()).status().code(), Code::kFailedPrecondition);
}

TEST_F(KeyFileTest, ParseRefusesMalformedTextWithoutShowingTheKey) {
  std::string bad_hex = kHexA;
  bad_hex[40] = 'g';
  const std::vector<std::string> cases = {
      "",
      "# only a comment\n\n",
      Line(1, bad_hex),
      Line(1, kHexA.substr(0, 62)),
      Line(1, kHexA + "00"),
      Line(0, kHexA),
      "quipu-master-key x1 " + kHexA + "\n",
      "quipu-master-key 1\n",
      Line(2, kHexA) + Line(1, kHexB),
      Line(1, kHexA) + Line(1, kHexB),
      "quipu-master-key 1 " + kHexA + " trailing\n",
      "quipu-master-kex 1 " + kHexA + "\n",
      kHexA + "\n",
  };
  for (const std::string& text : cases) {
    auto keys = MasterKeys::Parse(text);
    ASSERT_FALSE(keys.ok()) << text;
    EXPECT_EQ(keys.status().code(), Code::kInvalidArgument) << text;
    const std::string msg = keys.status().message();
    for (const std::string& hex : {kHexA, kHexB}) {
      for (size_t at = 0; at + 12 <= hex.size(); at += 4) {
        EXPECT_EQ(msg.find(hex.substr(at, 12)), std::string::npos) << msg;
      }
    }
  }
  // The error names the line.
  auto third = MasterKeys::Parse("# keys\n\n" + Line(1, bad_hex));
  EXPECT_NE(third.status().message().find("line 3"), std::string::npos)
      << third.status().ToString();
}

TEST_F(KeyFileTest, ParseIgnoresCommentsAndBlankLines) {
  auto plain = Keys(Line(1, kHexA) + Line(3, kHexB));
  auto commented = Keys("# header\n\n   \n" + Line(1, kHexA) + "# between\n\n" + Line(3, kHexB));
  ASSERT_TRUE(plain && commented);
  EXPECT_EQ(commented->Versions(), (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(commented->Newest(), 3u);
  EXPECT_EQ(Derived(*plain, 1, "l"), Derived(*commented, 1, "l"));
  EXPECT_EQ(Derived(*plain, 3, "l"), Derived(*commented, 3, "l"));
}

TEST_F(KeyFileTest, FromCommandReadsWhatTheCommandPrints) {
  auto keys = MasterKeys::FromCommand("printf 'quipu-master-key 1 " + kHexA + "\\n'");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ((*keys)->Versions(), std::vector<uint32_t>{1});
  EXPECT_EQ(Derived(**keys, 1, "l"), Derived(*Keys(Line(1, kHexA)), 1, "l"));
  EXPECT_EQ(MasterKeys::FromCommand("exit 3").status().code(), Code::kIOError);
  EXPECT_EQ(MasterKeys::FromCommand("printf 'no key here\\n'").status().code(),
            Code::kInvalidArgument);
}

TEST_F(KeyFileTest, AddAndRetireVersions) {
  ASSERT_TRUE(CreateMasterKeyFile(Path()).ok());
  auto first = Load(Path());
  ASSERT_TRUE(first);
  const std::string v1 = Derived(*first, 1, privacy::kWrapLabel);
  auto added = AddMasterKeyVersion(Path());
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, 2u);
  auto second = Load(Path());
  ASSERT_TRUE(second);
  EXPECT_EQ(second->Versions(), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(second->Newest(), 2u);
  EXPECT_EQ(Derived(*second, 1, privacy::kWrapLabel), v1);
  const std::string v2 = Derived(*second, 2, privacy::kWrapLabel);
  EXPECT_NE(v2, v1);
  EXPECT_EQ(Mode(Path()), 0600u);

  EXPECT_EQ(RetireMasterKeyVersion(Path(), 2).code(), Code::kFailedPrecondition);
  EXPECT_EQ(RetireMasterKeyVersion(Path(), 7).code(), Code::kNotFound);
  EXPECT_EQ(VersionsIn(Path()), (std::vector<uint32_t>{1, 2}));
  ASSERT_TRUE(RetireMasterKeyVersion(Path(), 1).ok());
  auto third = Load(Path());
  ASSERT_TRUE(third);
  EXPECT_EQ(third->Versions(), std::vector<uint32_t>{2});
  EXPECT_EQ(Derived(*third, 2, privacy::kWrapLabel), v2);
  EXPECT_EQ(RetireMasterKeyVersion(Path(), 1).code(), Code::kNotFound);
}

// Parse accepts tabs and runs of spaces between fields, so Retire must remove
// such a line too: an "OK" that leaves the retired key in the file would
// mislead an operator retiring a leaked key.
TEST_F(KeyFileTest, RetireRemovesEveryLineParseAccepts) {
  WritePrivate(Path(), "quipu-master-key\t1\t" + kHexA + "\n" + Line(2, kHexB));
  ASSERT_EQ(VersionsIn(Path()), (std::vector<uint32_t>{1, 2}));
  ASSERT_TRUE(RetireMasterKeyVersion(Path(), 1).ok());
  EXPECT_EQ(VersionsIn(Path()), std::vector<uint32_t>{2});
  EXPECT_EQ(ReadFile(Path()).find(kHexA), std::string::npos);
}

TEST(DerivedKeysTest, OneKeyPerVersionAndLabel) {
  auto keys = Keys(Line(1, kHexA) + Line(2, kHexB));
  ASSERT_TRUE(keys);
  const std::string a = Derived(*keys, 1, privacy::kWrapLabel);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(Derived(*keys, 1, privacy::kWrapLabel), a);
  EXPECT_EQ(Derived(*Keys(Line(1, kHexA)), 1, privacy::kWrapLabel), a);  // not random
  EXPECT_NE(Derived(*keys, 1, privacy::kFingerprintLabel), a);
  EXPECT_NE(Derived(*keys, 1, std::string(privacy::kIndexLabel) + "a"),
            Derived(*keys, 1, std::string(privacy::kIndexLabel) + "b"));
  EXPECT_NE(Derived(*keys, 2, privacy::kWrapLabel), a);
  EXPECT_NE(a, std::string(32, '\0'));
  EXPECT_EQ(Impl(*keys).Derived(3, "l").status().code(), Code::kFailedPrecondition);
}

// Writer keys hold what sealing and matching need — the index root and the
// public value key of each version — and never the master secret.
TEST_F(KeyFileTest, WriterKeysSealAndMatchButHoldNoSecret) {
  auto full = Keys(Line(1, kHexA) + Line(2, kHexB));
  ASSERT_TRUE(full);
  EXPECT_TRUE(full->CanRead());
  auto text = full->WriterKeys();
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->find(kHexA), std::string::npos);
  EXPECT_EQ(text->find(kHexB), std::string::npos);
  auto writer = Keys(*text);
  ASSERT_TRUE(writer);
  EXPECT_FALSE(writer->CanRead());
  EXPECT_EQ(writer->Versions(), (std::vector<uint32_t>{1, 2}));
  for (uint32_t v : {1u, 2u}) {
    EXPECT_EQ(Derived(*writer, v, privacy::kWrapLabel), Derived(*full, v, privacy::kWrapLabel));
    EXPECT_EQ(*Impl(*writer).ValuePublic(v), *Impl(*full).ValuePublic(v));
    EXPECT_EQ(Impl(*writer).ValuePrivate(v), nullptr);
    EXPECT_NE(Impl(*full).ValuePrivate(v), nullptr);
    EXPECT_FALSE(Impl(*writer).CanUnwrap(v));
  }
  EXPECT_NE(*Impl(*full).ValuePublic(1), *Impl(*full).ValuePublic(2));

  WritePrivate(Path(), Line(1, kHexA) + Line(2, kHexB));
  ASSERT_TRUE(CreateWriterKeyFile(Path(), Path("writer.keys")).ok());
  EXPECT_EQ(Mode(Path("writer.keys")), 0600u);
  EXPECT_EQ(ReadFile(Path("writer.keys")), *text);
  EXPECT_FALSE(CreateWriterKeyFile(Path(), Path("writer.keys")).ok()) << "never overwritten";
  EXPECT_EQ(CreateWriterKeyFile(Path("writer.keys"), Path("w2")).code(), Code::kInvalidArgument);
  // Retiring a version removes its writer line too.
  ASSERT_TRUE(RetireMasterKeyVersion(Path("writer.keys"), 1).ok());
  EXPECT_EQ(VersionsIn(Path("writer.keys")), std::vector<uint32_t>{2});
}

}  // namespace
}  // namespace quipu::testing
