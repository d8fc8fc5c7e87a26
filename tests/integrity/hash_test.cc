// Tests for the hashing primitives and the Hash value type.
#include "integrity/hash.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "integrity/reference.h"
#include "quipu/merkle.h"

namespace quipu::merkle {
namespace {

Hash FromHexOrDie(std::string_view hex) {
  auto h = Hash::FromHex(hex);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? *h : Hash();
}

// FIPS 180-2 SHA-256 examples: the empty string and "abc".
TEST(HashTest, EmptyRootIsSha256OfNothing) {
  EXPECT_EQ(EmptyRoot().ToHex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(reference::Sha256("abc").ToHex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HashTest, Sha256OfIsUnprefixedSha256) {
  EXPECT_EQ(Sha256Of("").ToHex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Of("abc").ToHex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string big(100000, 'q');
  EXPECT_EQ(Sha256Of(big), reference::Sha256(big));
}

TEST(HashTest, LeafHashPrefixesZeroByte) {
  for (const std::string& payload :
       {std::string(), std::string("abc"), std::string(1000, 'x'), std::string("\0\1\2", 3)}) {
    EXPECT_EQ(LeafHash(payload), reference::Sha256(std::string(1, '\0') + payload));
  }
}

TEST(HashTest, NodeHashPrefixesOneByteAndConcatenates) {
  Hash a = LeafHash("a"), b = LeafHash("b");
  EXPECT_EQ(NodeHash(a, b),
            reference::Sha256("\x01" + std::string(a.AsBytes()) + std::string(b.AsBytes())));
  EXPECT_NE(NodeHash(a, b), NodeHash(b, a));
}

TEST(HashTest, LeafAndNodeDomainsAreSeparate) {
  // A leaf whose payload is two concatenated hashes must not collide with
  // the node over those hashes.
  Hash a = LeafHash("a"), b = LeafHash("b");
  std::string both = std::string(a.AsBytes()) + std::string(b.AsBytes());
  EXPECT_NE(LeafHash(both), NodeHash(a, b));
}

TEST(HashTest, HexRoundTripsAndAcceptsUpperCase) {
  Hash h = LeafHash("round trip");
  EXPECT_EQ(FromHexOrDie(h.ToHex()), h);
  std::string upper = h.ToHex();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(FromHexOrDie(upper), h);
  EXPECT_EQ(h.ToHex().size(), 64u);
}

TEST(HashTest, MalformedHexIsRejected) {
  std::string good = LeafHash("x").ToHex();
  EXPECT_EQ(Hash::FromHex(good.substr(1)).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Hash::FromHex(good + "0").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Hash::FromHex("").status().code(), Status::Code::kInvalidArgument);
  std::string bad = good;
  bad[17] = 'g';
  EXPECT_EQ(Hash::FromHex(bad).status().code(), Status::Code::kInvalidArgument);
}

TEST(HashTest, BytesRoundTripAndWrongLengthIsRejected) {
  Hash h = LeafHash("bytes");
  auto back = Hash::FromBytes(h.AsBytes());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, h);
  EXPECT_FALSE(Hash::FromBytes(h.AsBytes().substr(1)).ok());
  EXPECT_FALSE(Hash::FromBytes(std::string(33, 'x')).ok());
}

TEST(HashTest, DefaultHashIsAllZero) { EXPECT_EQ(Hash().ToHex(), std::string(64, '0')); }

}  // namespace
}  // namespace quipu::merkle
