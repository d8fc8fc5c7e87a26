// Ed25519 keys, signed checkpoints, their JSON form and the CHECKPOINTS file.
#include "quipu/checkpoint.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "test_dir.h"

namespace quipu {
namespace {

namespace fs = std::filesystem;

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

merkle::Hash SomeRoot(std::string_view seed = "root") { return merkle::LeafHash(seed); }

SigningKey NewKey() {
  Result<SigningKey> key = SigningKey::Generate();
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return *key;
}

Checkpoint SignedCheckpoint(const SigningKey& key, uint64_t size = 7, int64_t time = 1700000000) {
  Result<Checkpoint> cp = SignCheckpoint(key, time, size, SomeRoot());
  EXPECT_TRUE(cp.ok());
  return *cp;
}

// RFC 8032 §7.1, TEST 1: the empty message. Pins our Verify to the standard
// rather than to whatever our own Sign produces.
TEST(Ed25519Test, VerifiesRfc8032TestVector) {
  Result<VerifyingKey> key = VerifyingKey::FromRaw(
      Unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  std::string sig = Unhex(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
      "1cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(key->Verify("", sig).ok());
  EXPECT_TRUE(key->Verify("x", sig).IsCorruption());
  sig[10] ^= 1;
  EXPECT_TRUE(key->Verify("", sig).IsCorruption());
}

TEST(Ed25519Test, SignatureOfWrongLengthIsCorruption) {
  SigningKey key = NewKey();
  Result<std::string> signed_m = key.Sign("m");
  ASSERT_TRUE(signed_m.ok()) << signed_m.status().ToString();
  const std::string& sig = *signed_m;
  EXPECT_EQ(sig.size(), kEd25519SignatureSize);
  EXPECT_TRUE(key.Public().Verify("m", sig.substr(0, 63)).IsCorruption());
  EXPECT_TRUE(key.Public().Verify("m", sig + "x").IsCorruption());
}

TEST(Ed25519Test, KeysRoundTripThroughPem) {
  SigningKey key = NewKey();
  Result<std::string> private_pem = key.ToPem();
  Result<std::string> public_pem = key.Public().ToPem();
  ASSERT_TRUE(private_pem.ok() && public_pem.ok());
  Result<SigningKey> again = SigningKey::FromPem(*private_pem);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  Result<VerifyingKey> pub = VerifyingKey::FromPem(*public_pem);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(pub->Raw(), key.Public().Raw());
  Result<std::string> sig = again->Sign("hello");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(pub->Verify("hello", *sig).ok());
  EXPECT_NE(private_pem->find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_NE(pub->ToPem()->find("BEGIN PUBLIC KEY"), std::string::npos);
}

TEST(Ed25519Test, PrivateKeyIsRefusedWhereThePublicOneBelongs) {
  Result<VerifyingKey> pub = VerifyingKey::FromPem(*NewKey().ToPem());
  ASSERT_FALSE(pub.ok());
  EXPECT_NE(pub.status().message().find("private key"), std::string::npos);
}

TEST(Ed25519Test, NonEd25519AndGarbageKeysAreRefused) {
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(ec, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio, ec), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(ec);
  Result<VerifyingKey> key = VerifyingKey::FromPem(pem);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("not an Ed25519"), std::string::npos)
      << key.status().ToString();
  EXPECT_FALSE(VerifyingKey::FromPem("hello").ok());
  EXPECT_FALSE(
      SigningKey::FromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").ok());
  EXPECT_FALSE(VerifyingKey::FromRaw("short").ok());
}

TEST(KeyFileTest, GenerateKeyPairWritesPrivate0600AndPublic) {
  testing::TestDir dir;
  std::string path = dir.path() + "/signing.pem";
  ASSERT_TRUE(GenerateKeyPair(path).ok());
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE((fs::status(path + ".pub").permissions() & fs::perms::others_read) !=
              fs::perms::none);
  Result<SigningKey> priv = SigningKey::Load(Env::Default(), path);
  Result<VerifyingKey> pub = VerifyingKey::Load(Env::Default(), path + ".pub");
  ASSERT_TRUE(priv.ok()) << priv.status().ToString();
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_TRUE(pub->Verify("m", *priv->Sign("m")).ok());
}

TEST(KeyFileTest, GenerateKeyPairNeverOverwrites) {
  testing::TestDir dir;
  std::string path = dir.path() + "/k";
  ASSERT_TRUE(GenerateKeyPair(path).ok());
  std::string before = ReadFile(path);
  Status again = GenerateKeyPair(path);
  EXPECT_EQ(again.code(), Status::Code::kInvalidArgument) << again.ToString();
  EXPECT_EQ(ReadFile(path), before);
  // Only the .pub left behind: still refused, and no private key is written.
  std::string other = dir.path() + "/other";
  WriteFile(other + ".pub", "x");
  EXPECT_FALSE(GenerateKeyPair(other).ok());
  EXPECT_FALSE(fs::exists(other));
}

TEST(KeyFileTest, MissingKeyFileIsAnError) {
  testing::TestDir dir;
  EXPECT_FALSE(SigningKey::Load(Env::Default(), dir.path() + "/nope").ok());
  EXPECT_FALSE(VerifyingKey::Load(Env::Default(), dir.path() + "/nope.pub").ok());
}

// The Env refuses links to store files; a key file is the caller's own path.
TEST(KeyFileTest, KeyFilesAreLoadedThroughASymlink) {
  testing::TestDir dir;
  std::string path = dir.path() + "/k";
  ASSERT_TRUE(GenerateKeyPair(path).ok());
  fs::create_symlink(path, dir.path() + "/link");
  fs::create_symlink(path + ".pub", dir.path() + "/link.pub");
  Result<SigningKey> priv = SigningKey::Load(Env::Default(), dir.path() + "/link");
  Result<VerifyingKey> pub = VerifyingKey::Load(Env::Default(), dir.path() + "/link.pub");
  ASSERT_TRUE(priv.ok()) << priv.status().ToString();
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(pub->Raw(), priv->Public().Raw());
}

TEST(CheckpointTest, MessageIsTheDocumentedByteString) {
  merkle::Hash root = SomeRoot();
  EXPECT_EQ(CheckpointMessage(-5, 42, root), "quipu checkpoint v1\n42\n" + root.ToHex() + "\n-5\n");
}

TEST(CheckpointTest, SignedCheckpointVerifies) {
  SigningKey key = NewKey();
  Checkpoint cp = SignedCheckpoint(key);
  EXPECT_TRUE(VerifyCheckpoint(key.Public(), cp).ok());
  // The signature is over the documented message: a third party can check it.
  EXPECT_TRUE(
      key.Public().Verify(CheckpointMessage(cp.time_us, cp.tree_size, cp.root), cp.signature).ok());
}

TEST(CheckpointTest, ChangingAnyFieldBreaksTheSignature) {
  SigningKey key = NewKey();
  const Checkpoint good = SignedCheckpoint(key);
  Checkpoint cp = good;
  cp.time_us++;
  EXPECT_TRUE(VerifyCheckpoint(key.Public(), cp).IsCorruption());
  cp = good;
  cp.tree_size--;
  EXPECT_TRUE(VerifyCheckpoint(key.Public(), cp).IsCorruption());
  cp = good;
  cp.root = SomeRoot("other");
  EXPECT_TRUE(VerifyCheckpoint(key.Public(), cp).IsCorruption());
  cp = good;
  cp.signature[0] ^= 0x40;
  EXPECT_TRUE(VerifyCheckpoint(key.Public(), cp).IsCorruption());
}

TEST(CheckpointTest, AnotherKeysSignatureIsRejected) {
  SigningKey key = NewKey();
  Status s = VerifyCheckpoint(NewKey().Public(), SignedCheckpoint(key));
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("tree size 7"), std::string::npos) << s.ToString();
}

TEST(CheckpointJsonTest, RoundTrips) {
  Checkpoint cp = SignedCheckpoint(NewKey(), 123, -9);
  std::string json = CheckpointToJson(cp);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_EQ(json.rfind("{\"time_us\":-9,\"tree_size\":123,\"root\":\"", 0), 0u) << json;
  Result<Checkpoint> back = CheckpointFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, cp);
}

TEST(CheckpointJsonTest, AcceptsReorderedFieldsAndWhitespace) {
  Checkpoint cp = SignedCheckpoint(NewKey());
  std::string sig = CheckpointToJson(cp).substr(CheckpointToJson(cp).find("\"signature\""));
  sig.pop_back();  // the closing brace
  std::string json = " { " + sig + " , \"root\" : \"" + cp.root.ToHex() +
                     "\", \"tree_size\": 7,\"time_us\":1700000000 }\r";
  Result<Checkpoint> back = CheckpointFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << " in " << json;
  EXPECT_EQ(*back, cp);
}

TEST(CheckpointJsonTest, StrictParserRejectsEverythingElse) {
  const std::string good = CheckpointToJson(SignedCheckpoint(NewKey()));
  ASSERT_TRUE(CheckpointFromJson(good).ok());
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string s = good;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::string root = SomeRoot().ToHex();
  const std::vector<std::string> bad = {
      "",
      "[]",
      good + "x",
      good.substr(0, good.size() - 1),
      replaced("\"tree_size\":7", "\"tree_size\":07"),
      replaced("\"tree_size\":7", "\"tree_size\":-7"),
      replaced("\"tree_size\":7", "\"tree_size\":7.0"),
      replaced("\"tree_size\":7", "\"tree_size\":\"7\""),
      replaced("\"tree_size\":7", "\"tree_size\":99999999999999999999999"),
      replaced("\"tree_size\":7,", ""),
      replaced("\"tree_size\":7", "\"tree_size\":7,\"tree_size\":7"),
      replaced("\"tree_size\":7", "\"tree_size\":7,\"extra\":1"),
      replaced(root, root.substr(2)),
      replaced(root, "zz" + root.substr(2)),
      replaced("\"signature\":\"", "\"signature\":\"00"),
      replaced("\"root\":\"", "\"root\":\"\\u0030"),
  };
  for (const std::string& line : bad) {
    Result<Checkpoint> cp = CheckpointFromJson(line);
    EXPECT_TRUE(cp.status().IsCorruption()) << "accepted: " << line;
  }
}

TEST(CheckpointFileTest, MissingFileIsEmpty) {
  testing::TestDir dir;
  Result<std::vector<Checkpoint>> cps = ReadCheckpoints(Env::Default(), dir.path());
  ASSERT_TRUE(cps.ok()) << cps.status().ToString();
  EXPECT_TRUE(cps->empty());
}

TEST(CheckpointFileTest, AppendsOneLinePerCheckpointInOrder) {
  testing::TestDir dir;
  SigningKey key = NewKey();
  std::vector<Checkpoint> written;
  for (uint64_t size : {1, 5, 9}) {
    written.push_back(SignedCheckpoint(key, size, static_cast<int64_t>(size) * 1000));
    ASSERT_TRUE(AppendCheckpoint(Env::Default(), dir.path(), written.back()).ok());
  }
  Result<std::vector<Checkpoint>> read = ReadCheckpoints(Env::Default(), dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, written);
  std::string text = ReadFile(dir.path() + "/CHECKPOINTS");
  EXPECT_EQ(text, CheckpointToJson(written[0]) + "\n" + CheckpointToJson(written[1]) + "\n" +
                      CheckpointToJson(written[2]) + "\n");
}

TEST(CheckpointFileTest, MalformedLineIsCorruptionNamingTheLine) {
  testing::TestDir dir;
  SigningKey key = NewKey();
  ASSERT_TRUE(AppendCheckpoint(Env::Default(), dir.path(), SignedCheckpoint(key, 1)).ok());
  ASSERT_TRUE(AppendCheckpoint(Env::Default(), dir.path(), SignedCheckpoint(key, 2)).ok());
  std::string path = dir.path() + "/CHECKPOINTS";
  std::string text = ReadFile(path);
  text.insert(text.find('\n') + 1, "{\"tree_size\":1}\n");
  WriteFile(path, text);
  Result<std::vector<Checkpoint>> read = ReadCheckpoints(Env::Default(), dir.path());
  ASSERT_TRUE(read.status().IsCorruption());
  EXPECT_NE(read.status().message().find("CHECKPOINTS line 2"), std::string::npos)
      << read.status().ToString();
}

TEST(CheckpointFileTest, TornFinalLineIsSkippedAndCutByTheNextAppend) {
  testing::TestDir dir;
  SigningKey key = NewKey();
  Checkpoint first = SignedCheckpoint(key, 1), second = SignedCheckpoint(key, 2);
  ASSERT_TRUE(AppendCheckpoint(Env::Default(), dir.path(), first).ok());
  std::string path = dir.path() + "/CHECKPOINTS";
  WriteFile(path, ReadFile(path) + CheckpointToJson(second).substr(0, 30));
  Result<std::vector<Checkpoint>> read = ReadCheckpoints(Env::Default(), dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, std::vector<Checkpoint>{first});

  ASSERT_TRUE(AppendCheckpoint(Env::Default(), dir.path(), second).ok());
  read = ReadCheckpoints(Env::Default(), dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, (std::vector<Checkpoint>{first, second}));
}

}  // namespace
}  // namespace quipu
