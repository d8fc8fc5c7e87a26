// Known-answer and misuse tests for the crypto layer: AES-256-GCM, HMAC-SHA-256,
// HKDF-SHA-256 and Secret.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/aead.h"
#include "crypto/mac.h"
#include "crypto/secret.h"
#include "crypto_test_util.h"
#include "util/hex.h"

namespace quipu::crypto {
namespace {

std::string Hex(const Digest& d) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string FlipBit(std::string s, size_t bit) {
  s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
  return s;
}

// --- AES-256-GCM ------------------------------------------------------------

struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* aad;
  const char* plaintext;
  const char* ciphertext;
  const char* tag;
};

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", revised 2005,
// appendix B, test cases 13-16: the AES-256 cases with 96-bit IVs. The same
// values appear in NIST's gcmEncryptExtIV256 vectors.
constexpr char kGcmKey15[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
constexpr char kGcmIv15[] = "cafebabefacedbaddecaf888";
const GcmVector kGcmVectors[] = {
    {"TestCase13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"TestCase14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"TestCase15", kGcmKey15, kGcmIv15, "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"TestCase16", kGcmKey15, kGcmIv15, "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(AeadTest, SealMatchesGcmSpecVectors) {
  for (const GcmVector& v : kGcmVectors) {
    SCOPED_TRACE(v.name);
    std::string sealed;
    ASSERT_TRUE(
        AeadSeal(Unhex(v.key), Unhex(v.iv), Unhex(v.aad), Unhex(v.plaintext), &sealed).ok());
    EXPECT_EQ(HexEncode(sealed), std::string(v.ciphertext) + v.tag);
  }
}

TEST(AeadTest, OpenRecoversGcmSpecPlaintexts) {
  for (const GcmVector& v : kGcmVectors) {
    SCOPED_TRACE(v.name);
    std::string plain;
    Status s = AeadOpen(Unhex(v.key), Unhex(v.iv), Unhex(v.aad),
                        Unhex(std::string(v.ciphertext) + v.tag), &plain);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(HexEncode(plain), v.plaintext);
  }
}

TEST(AeadTest, SealAndOpenAppendToOutput) {
  const GcmVector& v = kGcmVectors[3];
  std::string sealed = "head";
  ASSERT_TRUE(AeadSeal(Unhex(v.key), Unhex(v.iv), Unhex(v.aad), Unhex(v.plaintext), &sealed).ok());
  EXPECT_EQ(HexEncode(sealed), HexEncode("head") + v.ciphertext + v.tag);

  std::string plain = "head";
  ASSERT_TRUE(
      AeadOpen(Unhex(v.key), Unhex(v.iv), Unhex(v.aad), std::string_view(sealed).substr(4), &plain)
          .ok());
  EXPECT_EQ(plain, "head" + Unhex(v.plaintext));
}

// Every single-bit change to what Open is given must be caught, and must not
// leave any (unauthenticated) plaintext in the output.
TEST(AeadTest, AnyFlippedBitFailsAuthenticationAndLeavesOutputUntouched) {
  const GcmVector& v = kGcmVectors[3];  // has aad, plaintext and a non-zero key
  const std::string key = Unhex(v.key), iv = Unhex(v.iv), aad = Unhex(v.aad);
  const std::string sealed = Unhex(std::string(v.ciphertext) + v.tag);
  auto expect_rejected = [](const std::string& what, size_t bit, Status s, const std::string& out) {
    EXPECT_TRUE(s.IsCorruption()) << what << " bit " << bit << ": " << s.ToString();
    EXPECT_EQ(out, "untouched") << what << " bit " << bit;
  };
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {  // ciphertext, then tag
    std::string out = "untouched";
    Status s = AeadOpen(key, iv, aad, FlipBit(sealed, bit), &out);
    expect_rejected(bit < (sealed.size() - kAeadTagSize) * 8 ? "ciphertext" : "tag", bit, s, out);
  }
  for (size_t bit = 0; bit < iv.size() * 8; ++bit) {
    std::string out = "untouched";
    expect_rejected("nonce", bit, AeadOpen(key, FlipBit(iv, bit), aad, sealed, &out), out);
  }
  for (size_t bit = 0; bit < aad.size() * 8; ++bit) {
    std::string out = "untouched";
    expect_rejected("aad", bit, AeadOpen(key, iv, FlipBit(aad, bit), sealed, &out), out);
  }
  for (size_t bit = 0; bit < key.size() * 8; ++bit) {
    std::string out = "untouched";
    expect_rejected("key", bit, AeadOpen(FlipBit(key, bit), iv, aad, sealed, &out), out);
  }
}

TEST(AeadTest, TruncatedSealedMessageFails) {
  const GcmVector& v = kGcmVectors[3];
  const std::string key = Unhex(v.key), iv = Unhex(v.iv), aad = Unhex(v.aad);
  const std::string sealed = Unhex(std::string(v.ciphertext) + v.tag);
  for (size_t len : {size_t{0}, size_t{1}, kAeadTagSize - 1, kAeadTagSize, sealed.size() - 1}) {
    std::string out = "untouched";
    Status s = AeadOpen(key, iv, aad, std::string_view(sealed).substr(0, len), &out);
    EXPECT_TRUE(s.IsCorruption()) << "length " << len << ": " << s.ToString();
    EXPECT_EQ(out, "untouched") << "length " << len;
  }
}

TEST(AeadTest, EmptyPlaintextAndAadRoundTrip) {
  const std::string key(kAeadKeySize, '\x42'), nonce(kAeadNonceSize, '\x07');
  std::string sealed;
  ASSERT_TRUE(AeadSeal(key, nonce, "", "", &sealed).ok());
  EXPECT_EQ(sealed.size(), kAeadTagSize);
  std::string plain = "x";
  ASSERT_TRUE(AeadOpen(key, nonce, "", sealed, &plain).ok());
  EXPECT_EQ(plain, "x");
  // The tag of an empty message still binds the aad.
  EXPECT_TRUE(AeadOpen(key, nonce, "a", sealed, &plain).IsCorruption());
}

TEST(AeadTest, WrongKeyOrNonceSizeIsInvalidArgument) {
  const std::string key(kAeadKeySize, 'k'), nonce(kAeadNonceSize, 'n');
  std::string out = "untouched";
  for (size_t n : {size_t{0}, size_t{16}, size_t{31}, size_t{33}}) {
    EXPECT_EQ(AeadSeal(std::string(n, 'k'), nonce, "", "p", &out).code(),
              Status::Code::kInvalidArgument);
    EXPECT_EQ(AeadOpen(std::string(n, 'k'), nonce, "", std::string(32, 's'), &out).code(),
              Status::Code::kInvalidArgument);
  }
  for (size_t n : {size_t{0}, size_t{8}, size_t{11}, size_t{13}, size_t{16}}) {
    EXPECT_EQ(AeadSeal(key, std::string(n, 'n'), "", "p", &out).code(),
              Status::Code::kInvalidArgument);
    EXPECT_EQ(AeadOpen(key, std::string(n, 'n'), "", std::string(32, 's'), &out).code(),
              Status::Code::kInvalidArgument);
  }
  EXPECT_EQ(out, "untouched");
}

TEST(AeadTest, ErrorsNeverQuoteTheKey) {
  const std::string key = "0123456789abcdef0123456789abcdef";  // printable, to be findable
  const std::string nonce(kAeadNonceSize, 'n');
  std::string sealed;
  ASSERT_TRUE(AeadSeal(key, nonce, "", "secret plaintext", &sealed).ok());
  sealed[0] ^= 1;
  std::string out;
  const Status statuses[] = {
      AeadOpen(key, nonce, "", sealed, &out),
      AeadOpen(key, nonce, "", "short", &out),
      AeadSeal(key.substr(1), nonce, "", "p", &out),
  };
  for (const Status& s : statuses) {
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.message().find("0123456789"), std::string::npos) << s.ToString();
    EXPECT_EQ(s.message().find(HexEncode(key.substr(0, 8))), std::string::npos) << s.ToString();
    EXPECT_EQ(s.message().find("plaintext"), std::string::npos) << s.ToString();
  }
}

// --- HMAC-SHA-256 -------------------------------------------------------------

struct HmacVector {
  const char* name;
  std::string key;
  std::string data;
  const char* mac;
};

// RFC 4231, section 4: HMAC-SHA-256 results of test cases 1-4, 6 and 7.
const std::vector<HmacVector>& HmacVectors() {
  static const std::vector<HmacVector> v = {
      {"TestCase1", std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"TestCase2", "Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {"TestCase3", std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {"TestCase4", Unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
       std::string(50, '\xcd'), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {"TestCase6", std::string(131, '\xaa'),
       "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {"TestCase7", std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  return v;
}

TEST(HmacTest, MatchesRfc4231Vectors) {
  for (const HmacVector& v : HmacVectors()) {
    SCOPED_TRACE(v.name);
    Result<Digest> mac = HmacSha256(v.key, v.data);
    ASSERT_TRUE(mac.ok()) << mac.status().ToString();
    EXPECT_EQ(Hex(*mac), v.mac);
  }
}

// RFC 4231 test case 5 gives only the first 128 bits of the output.
TEST(HmacTest, MatchesRfc4231TruncatedVector) {
  Result<Digest> mac = HmacSha256(std::string(20, '\x0c'), "Test With Truncation");
  ASSERT_TRUE(mac.ok()) << mac.status().ToString();
  EXPECT_EQ(Hex(*mac).substr(0, 32), "a3b6167473100ee06e0c796c2955552b");
}

// The empty key is a key (zero-padded to a block), not "no key". Expected
// value: HMAC-SHA-256 with empty key and data, computed from the RFC 2104
// definition, SHA-256((K^opad) || SHA-256(K^ipad)) with K = 64 zero bytes.
TEST(HmacTest, EmptyKeyAndDataAreAccepted) {
  Result<Digest> mac = HmacSha256("", "");
  ASSERT_TRUE(mac.ok()) << mac.status().ToString();
  EXPECT_EQ(Hex(*mac), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// --- HKDF-SHA-256 -------------------------------------------------------------

struct HkdfVector {
  const char* name;
  std::string ikm;
  std::string salt;
  std::string info;
  size_t length;
  const char* okm;
};

std::string Range(int from, int to) {  // bytes from, from+1, ..., to-1
  std::string s;
  for (int b = from; b < to; ++b) s.push_back(static_cast<char>(b));
  return s;
}

// RFC 5869, appendix A: test cases 1-3 (the SHA-256 ones).
const std::vector<HkdfVector>& HkdfVectors() {
  static const std::vector<HkdfVector> v = {
      {"TestCase1", std::string(22, '\x0b'), Range(0x00, 0x0d), Range(0xf0, 0xfa), 42,
       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
       "34007208d5b887185865"},
      {"TestCase2", Range(0x00, 0x50), Range(0x60, 0xb0), Range(0xb0, 0x100), 82,
       "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
       "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
       "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
      {"TestCase3", std::string(22, '\x0b'), "", "", 42,
       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
       "9d201395faa4b61a96c8"},
  };
  return v;
}

TEST(HkdfTest, MatchesRfc5869Vectors) {
  for (const HkdfVector& v : HkdfVectors()) {
    SCOPED_TRACE(v.name);
    Result<Secret> okm = HkdfSha256(v.ikm, v.salt, v.info, v.length);
    ASSERT_TRUE(okm.ok()) << okm.status().ToString();
    EXPECT_EQ(okm->size(), v.length);
    EXPECT_EQ(HexEncode(okm->view()), v.okm);
  }
}

TEST(HkdfTest, ShorterOutputIsAPrefix) {
  const HkdfVector& v = HkdfVectors()[0];
  Result<Secret> okm = HkdfSha256(v.ikm, v.salt, v.info, 16);
  ASSERT_TRUE(okm.ok()) << okm.status().ToString();
  EXPECT_EQ(HexEncode(okm->view()), std::string(v.okm).substr(0, 32));
}

TEST(HkdfTest, OutOfRangeLengthIsInvalidArgument) {
  EXPECT_EQ(HkdfSha256("ikm", "", "", 0).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(HkdfSha256("ikm", "", "", 255 * 32 + 1).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_TRUE(HkdfSha256("ikm", "", "", 255 * 32).ok());
}

// --- Secret -------------------------------------------------------------------

TEST(SecretTest, SizedSecretIsZeroFilled) {
  Secret s(100);
  ASSERT_EQ(s.size(), 100u);
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.view(), std::string(100, '\0'));
  Secret none(0);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.view(), "");
  EXPECT_TRUE(Secret().empty());
}

TEST(SecretTest, RandomGivesDistinctValues) {
  Result<Secret> a = Secret::Random(32);
  Result<Secret> b = Secret::Random(32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(a->view(), b->view());
  EXPECT_NE(a->view(), std::string(32, '\0'));
  Result<Secret> none = Secret::Random(0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(SecretTest, RandomBytesFillsTheBuffer) {
  std::string a(64, '\0'), b(64, '\0');
  ASSERT_TRUE(RandomBytes(a.data(), a.size()).ok());
  ASSERT_TRUE(RandomBytes(b.data(), b.size()).ok());
  EXPECT_NE(a, b);
  EXPECT_TRUE(RandomBytes(nullptr, 0).ok());
}

TEST(SecretTest, CopyRoundTrips) {
  const std::string bytes = std::string("key\0with\xffnul", 12) + std::string(5000, 'x');
  Secret s = Secret::Copy(bytes);
  EXPECT_EQ(s.size(), bytes.size());
  EXPECT_EQ(s.view(), bytes);
  EXPECT_TRUE(Secret::Copy("").empty());
}

TEST(SecretTest, MovedFromIsEmpty) {
  Secret a = Secret::Copy("0123456789abcdef");
  Secret b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.view(), "0123456789abcdef");

  Secret c = Secret::Copy("other");
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.view(), "0123456789abcdef");

  Secret& alias = c;
  c = std::move(alias);  // self-move keeps the bytes
  EXPECT_EQ(c.view(), "0123456789abcdef");
}

// The "dd" VmFlag in /proc/self/smaps is how Linux shows MADV_DONTDUMP.
TEST(SecretTest, PagesAreExcludedFromCoreDumps) {
  Secret s(10);
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) GTEST_SKIP() << "no /proc/self/smaps";
  const auto addr = reinterpret_cast<uintptr_t>(s.data());
  std::string line;
  bool in_mapping = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> lo >> dash >> hi && dash == '-') {
      in_mapping = lo <= addr && addr < hi;
    } else if (in_mapping && line.rfind("VmFlags:", 0) == 0) {
      EXPECT_NE((line + " ").find(" dd "), std::string::npos) << line;
      return;
    }
  }
  ADD_FAILURE() << "the Secret's mapping is not in /proc/self/smaps";
}

TEST(SecretTest, ConstantTimeEqualComparesBytesAndSizes) {
  EXPECT_TRUE(ConstantTimeEqual("", ""));
  EXPECT_TRUE(ConstantTimeEqual("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEqual(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEqual("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "xbc"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEqual("", "a"));
  EXPECT_FALSE(ConstantTimeEqual(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace quipu::crypto
