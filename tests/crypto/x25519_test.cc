// Known-answer and misuse tests for X25519 (crypto/x25519.h).
//
// Every expected value below is from RFC 7748, and was checked against both
// the openssl CLI (pkey -pubout, pkeyutl -derive) and Python's cryptography.
#include "crypto/x25519.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <string>
#include <string_view>
#include <vector>

#include "crypto/secret.h"
#include "crypto_test_util.h"
#include "util/hex.h"

namespace quipu::crypto {
namespace {

// RFC 7748, section 6.1: the Diffie-Hellman example.
constexpr char kAlicePrivate[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr char kAlicePublic[] = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr char kBobPrivate[] = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
constexpr char kBobPublic[] = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
constexpr char kSharedK[] = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

TEST(X25519Test, PublicKeysMatchRfc7748Section61) {
  Result<std::string> alice = X25519PublicKey(Unhex(kAlicePrivate));
  ASSERT_TRUE(alice.ok()) << alice.status().ToString();
  EXPECT_EQ(HexEncode(*alice), kAlicePublic);
  Result<std::string> bob = X25519PublicKey(Unhex(kBobPrivate));
  ASSERT_TRUE(bob.ok()) << bob.status().ToString();
  EXPECT_EQ(HexEncode(*bob), kBobPublic);
}

TEST(X25519Test, SharedSecretMatchesRfc7748Section61BothWays) {
  Result<Secret> alice = X25519Shared(Unhex(kAlicePrivate), Unhex(kBobPublic));
  ASSERT_TRUE(alice.ok()) << alice.status().ToString();
  EXPECT_EQ(HexEncode(alice->view()), kSharedK);
  Result<Secret> bob = X25519Shared(Unhex(kBobPrivate), Unhex(kAlicePublic));
  ASSERT_TRUE(bob.ok()) << bob.status().ToString();
  EXPECT_EQ(HexEncode(bob->view()), kSharedK);
}

// RFC 7748, section 5.2: the two single scalar multiplications, the scalar
// as our private key and the input u-coordinate as their public key. The
// second u has its top bit set, which X25519 must ignore.
TEST(X25519Test, ScalarMultiplicationMatchesRfc7748Section52) {
  struct Vector {
    const char* scalar;
    const char* u;
    const char* out;
  };
  const Vector vectors[] = {
      {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
       "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
       "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
      {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
       "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
       "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
  };
  for (const Vector& v : vectors) {
    Result<Secret> out = X25519Shared(Unhex(v.scalar), Unhex(v.u));
    ASSERT_TRUE(out.ok()) << v.scalar << ": " << out.status().ToString();
    EXPECT_EQ(HexEncode(out->view()), v.out) << v.scalar;
  }
}

TEST(X25519Test, GenerateGivesDistinctPairsThatAgree) {
  Result<X25519KeyPair> a = X25519Generate();
  Result<X25519KeyPair> b = X25519Generate();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  for (const X25519KeyPair* pair : {&*a, &*b}) {
    ASSERT_EQ(pair->private_key.size(), kX25519KeySize);
    ASSERT_EQ(pair->public_key.size(), kX25519KeySize);
    Result<std::string> pub = X25519PublicKey(pair->private_key.view());
    ASSERT_TRUE(pub.ok()) << pub.status().ToString();
    EXPECT_EQ(*pub, pair->public_key);
  }
  EXPECT_NE(a->private_key.view(), b->private_key.view());
  EXPECT_NE(a->public_key, b->public_key);

  Result<Secret> ab = X25519Shared(a->private_key.view(), b->public_key);
  Result<Secret> ba = X25519Shared(b->private_key.view(), a->public_key);
  ASSERT_TRUE(ab.ok()) << ab.status().ToString();
  ASSERT_TRUE(ba.ok()) << ba.status().ToString();
  EXPECT_EQ(ab->size(), kX25519KeySize);
  EXPECT_EQ(ab->view(), ba->view());
  EXPECT_NE(ab->view(), std::string(kX25519KeySize, '\0'));
}

TEST(X25519Test, WrongSizesAreInvalidArgument) {
  const std::string priv = Unhex(kAlicePrivate), pub = Unhex(kBobPublic);
  for (size_t n : {size_t{0}, size_t{1}, size_t{31}, size_t{33}, size_t{56}, size_t{64}}) {
    const std::string bad(n, '\x42');
    EXPECT_EQ(X25519PublicKey(bad).status().code(), Status::Code::kInvalidArgument) << n;
    EXPECT_EQ(X25519Shared(bad, pub).status().code(), Status::Code::kInvalidArgument) << n;
    EXPECT_EQ(X25519Shared(priv, bad).status().code(), Status::Code::kInvalidArgument) << n;
  }
}

// Public keys whose point has order 1, 2, 4 or 8 (on the curve or its twist),
// so that the shared secret is all zeros for every private key. u = 0 and
// u = 1 first; then p - 1, the two points of order 8, the non-canonical
// encodings p and p + 1, and u = 0, u = 1 with the ignored top bit set.
const std::vector<std::string>& LowOrderPublicKeys() {
  static const std::vector<std::string> keys = {
      std::string(32, '\0'),
      Unhex("0100000000000000000000000000000000000000000000000000000000000000"),
      Unhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      Unhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
      Unhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
      Unhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      Unhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      Unhex("0000000000000000000000000000000000000000000000000000000000000080"),
      Unhex("0100000000000000000000000000000000000000000000000000000000000080"),
  };
  return keys;
}

TEST(X25519Test, LowOrderPublicKeyIsInvalidArgument) {
  Result<X25519KeyPair> fresh = X25519Generate();
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  const std::string privates[] = {Unhex(kAlicePrivate), Unhex(kBobPrivate),
                                  std::string(fresh->private_key.view())};
  for (const std::string& priv : privates) {
    for (const std::string& pub : LowOrderPublicKeys()) {
      Result<Secret> shared = X25519Shared(priv, pub);
      EXPECT_EQ(shared.status().code(), Status::Code::kInvalidArgument)
          << HexEncode(pub) << ": " << shared.status().ToString();
      // OpenSSL's refusal is not left queued for a later call to report.
      EXPECT_EQ(ERR_peek_error(), 0u) << HexEncode(pub);
    }
  }
  // u = 2 is not of low order: a small u alone is no reason to refuse.
  EXPECT_TRUE(
      X25519Shared(Unhex(kAlicePrivate),
                   Unhex("0200000000000000000000000000000000000000000000000000000000000000"))
          .ok());
}

TEST(X25519Test, ErrorsNeverQuoteThePrivateKey) {
  const std::string printable = "0123456789abcdef0123456789abcdef";  // findable as it is
  const std::string alice = Unhex(kAlicePrivate);
  std::vector<Status> statuses;
  for (const std::string& priv : {printable, alice}) {
    statuses.push_back(X25519PublicKey(priv.substr(1)).status());
    statuses.push_back(X25519Shared(priv.substr(1), Unhex(kBobPublic)).status());
    statuses.push_back(X25519Shared(priv, Unhex(kBobPublic).substr(1)).status());
    statuses.push_back(X25519Shared(priv, std::string(32, '\0')).status());
    statuses.push_back(
        X25519Shared(priv,
                     Unhex("0100000000000000000000000000000000000000000000000000000000000000"))
            .status());
  }
  for (const Status& s : statuses) {
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.message().find("0123456789"), std::string::npos) << s.ToString();
    EXPECT_EQ(s.message().find(HexEncode(printable.substr(0, 8))), std::string::npos)
        << s.ToString();
    EXPECT_EQ(s.message().find(std::string(kAlicePrivate).substr(0, 16)), std::string::npos)
        << s.ToString();
    EXPECT_EQ(s.message().find(alice.substr(0, 8)), std::string::npos) << s.ToString();
  }
}

}  // namespace
}  // namespace quipu::crypto
