// replication/batch.h and FrameBatches (replication/peer.h): a batch
// decodes to exactly the records it was made of, anything EncodeBatch did
// not make is Corruption, batch keys sort as LSNs do, and the peer route's
// frames split by size and join back into the records in LSN order.
#include "replication/batch.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "replication/peer.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu::replication {
namespace {

// `body` (a batch without its crc) with a correct crc after it, so that a
// test reaches the checks behind the checksum.
std::string Sealed(std::string body) {
  PutFixed32(&body, crc32c::Mask(crc32c::Value(body)));
  return body;
}

// The batch without its trailing crc.
std::string BodyOf(const Batch& batch) {
  std::string encoded = EncodeBatch(batch);
  encoded.resize(encoded.size() - 4);
  return encoded;
}

Batch Small() { return Batch{7, {"alpha", "", "gamma-gamma"}}; }

void ExpectRoundTrip(const Batch& batch) {
  const std::string encoded = EncodeBatch(batch);
  size_t expected = kBatchOverhead;
  for (const std::string& r : batch.records) expected += kRecordOverhead + r.size();
  EXPECT_EQ(encoded.size(), expected);
  auto decoded = DecodeBatch(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->first, batch.first);
  EXPECT_EQ(decoded->records, batch.records);
  EXPECT_EQ(decoded->last(), batch.first + batch.records.size() - 1);
}

TEST(BatchTest, AnEmptyRecordRoundTrips) { ExpectRoundTrip(Batch{1, {""}}); }

TEST(BatchTest, RecordsHoldingEveryByteValueRoundTrip) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string reversed(all.rbegin(), all.rend());
  ExpectRoundTrip(Batch{42, {all, std::string(1, '\0'), reversed, std::string(3, '\xff')}});
}

TEST(BatchTest, AOneMebibyteRecordRoundTrips) {
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131 + 7) % 251);
  ExpectRoundTrip(Batch{uint64_t{1} << 40, {"before", big, "after"}});
}

TEST(BatchTest, EverySingleByteFlipIsCorruption) {
  const std::string encoded = EncodeBatch(Small());
  for (size_t pos = 0; pos < encoded.size(); ++pos) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::string damaged = encoded;
      damaged[pos] = static_cast<char>(damaged[pos] ^ mask);
      auto decoded = DecodeBatch(damaged);
      EXPECT_TRUE(decoded.status().IsCorruption())
          << "byte " << pos << " ^ " << int{mask} << ": " << decoded.status().ToString();
    }
  }
}

TEST(BatchTest, EveryTruncationIsCorruption) {
  const std::string encoded = EncodeBatch(Small());
  for (size_t size = 0; size < encoded.size(); ++size) {
    auto decoded = DecodeBatch(std::string_view(encoded).substr(0, size));
    EXPECT_TRUE(decoded.status().IsCorruption())
        << "cut to " << size << " bytes: " << decoded.status().ToString();
  }
}

TEST(BatchTest, TrailingBytesAreRefused) {
  const std::string encoded = EncodeBatch(Small());
  // After the crc: the crc no longer sits at the end.
  for (const std::string& extra : {std::string(1, '\0'), std::string("tail"), encoded}) {
    EXPECT_TRUE(DecodeBatch(encoded + extra).status().IsCorruption()) << extra.size();
  }
  // Before the crc, with a crc that covers them: the count says there is
  // nothing more.
  auto inside = DecodeBatch(Sealed(BodyOf(Small()) + "xyz"));
  ASSERT_TRUE(inside.status().IsCorruption()) << inside.status().ToString();
  EXPECT_NE(inside.status().ToString().find("after its last record"), std::string::npos)
      << inside.status().ToString();
}

TEST(BatchTest, LsnZeroAndZeroRecordsAreRefused) {
  auto lsn_zero = DecodeBatch(EncodeBatch(Batch{0, {"x"}}));
  EXPECT_TRUE(lsn_zero.status().IsCorruption()) << lsn_zero.status().ToString();
  auto empty = DecodeBatch(EncodeBatch(Batch{5, {}}));
  EXPECT_TRUE(empty.status().IsCorruption()) << empty.status().ToString();
}

TEST(BatchTest, ACountAboveTheRecordsPresentIsCorruption) {
  // One record present, a count of two, and a crc that matches.
  std::string body = BodyOf(Batch{3, {"only"}});
  EncodeFixed32(body.data() + 12, 2);
  auto decoded = DecodeBatch(Sealed(body));
  EXPECT_TRUE(decoded.status().IsCorruption()) << decoded.status().ToString();
  // A record length past the end.
  body = BodyOf(Batch{3, {"only"}});
  EncodeFixed32(body.data() + 16, 1000);
  decoded = DecodeBatch(Sealed(body));
  EXPECT_TRUE(decoded.status().IsCorruption()) << decoded.status().ToString();
}

TEST(BatchTest, AHugeCountWithAMatchingCrcIsCorruptionNotAnAllocation) {
  // A batch from a peer (or a damaged etcd value whose crc happens to
  // match) claims 2^32 - 1 records in 20 bytes. The decoder must say so
  // without first reserving room for them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Sanitizers abort the process on an allocation this size instead of
  // throwing, which would take every later test with it.
  GTEST_SKIP() << "bug: DecodeBatch reserves `count` records before checking them";
#endif
  std::string body = BodyOf(Batch{3, {"only"}});
  body.resize(16);
  EncodeFixed32(body.data() + 12, UINT32_MAX);
  Result<Batch> decoded = Status::IOError("not decoded");
  EXPECT_NO_THROW(decoded = DecodeBatch(Sealed(body)));
  EXPECT_TRUE(decoded.status().IsCorruption()) << decoded.status().ToString();
}

TEST(GroupKeysTest, KeysLiveUnderTheGroup) {
  GroupKeys keys("audit");
  EXPECT_EQ(keys.writer(), "/quipu/audit/writer");
  EXPECT_EQ(keys.head(), "/quipu/audit/head");
  EXPECT_EQ(keys.batches(), "/quipu/audit/batch/");
  EXPECT_EQ(keys.batch(12), "/quipu/audit/batch/00000000000000000012");
  EXPECT_EQ(keys.node("n1"), "/quipu/audit/nodes/n1");
  EXPECT_EQ(keys.nodes(), "/quipu/audit/nodes/");
  EXPECT_LT(keys.batches(), keys.batch(1));
  EXPECT_LT(keys.batch(UINT64_MAX), keys.batches_end());
  EXPECT_LT(keys.node("zzz"), keys.nodes_end());
  // Another group's keys are outside this one's ranges.
  GroupKeys other("audit2");
  EXPECT_FALSE(other.batch(1) >= keys.batches() && other.batch(1) < keys.batches_end());
}

TEST(GroupKeysTest, BatchKeysSortAsLsnsDo) {
  GroupKeys keys("g");
  const std::vector<Lsn> lsns = {1, 9, 10, 99, 100, 12345, uint64_t{1} << 40, UINT64_MAX};
  for (size_t i = 0; i + 1 < lsns.size(); ++i) {
    EXPECT_LT(keys.batch(lsns[i]), keys.batch(lsns[i + 1])) << lsns[i] << " vs " << lsns[i + 1];
  }
  for (Lsn lsn : lsns) {
    EXPECT_EQ(keys.batch(lsn).size(), keys.batches().size() + 20);
    EXPECT_EQ(keys.BatchFirst(keys.batch(lsn)), lsn);
  }
}

TEST(GroupKeysTest, BatchFirstRejectsOtherKeys) {
  GroupKeys keys("g");
  GroupKeys other("h");
  const std::string prefix = keys.batches();
  for (const std::string& key : {
           keys.writer(), keys.head(), keys.node("n1"), prefix, other.batch(5),
           prefix + "0000000000000000005",    // 19 digits
           prefix + "000000000000000000005",  // 21 digits
           prefix + "0000000000000000000x5",  // not a digit
           prefix + "-0000000000000000005",   // a sign
           prefix + "00000000000000000005/",  // a suffix
           std::string("/quipu/g/batch"),     // no slash
       }) {
    EXPECT_EQ(keys.BatchFirst(key), 0u) << key;
  }
}

// Splits the framed body back into its batches.
std::vector<Batch> Unframe(std::string_view body) {
  std::vector<Batch> out;
  while (!body.empty()) {
    EXPECT_GE(body.size(), 4u);
    if (body.size() < 4) break;
    const uint32_t length = DecodeFixed32(body.data());
    EXPECT_LE(length, body.size() - 4);
    if (length > body.size() - 4) break;
    auto batch = DecodeBatch(body.substr(4, length));
    EXPECT_TRUE(batch.ok()) << batch.status().ToString();
    if (!batch.ok()) break;
    out.push_back(std::move(*batch));
    body.remove_prefix(4 + length);
  }
  return out;
}

TEST(FrameBatchesTest, FramesSplitByMaxBytesAndJoinBackInOrder) {
  std::vector<std::string> records;
  for (int i = 0; i < 100; ++i) records.push_back(std::string(10 + i % 37, 'a' + i % 26));
  for (size_t max : {size_t{1}, size_t{64}, size_t{200}, size_t{1000}, size_t{1'000'000}}) {
    const std::string body = FrameBatches(500, records, max);
    std::vector<Batch> batches = Unframe(body);
    ASSERT_FALSE(batches.empty()) << max;
    std::vector<std::string> joined;
    Lsn next = 500;
    for (const Batch& batch : batches) {
      EXPECT_EQ(batch.first, next) << "max " << max;
      // A batch goes over the limit only when it holds one record.
      if (batch.records.size() > 1) {
        EXPECT_LE(EncodeBatch(batch).size(), max) << "max " << max;
      }
      next = batch.last() + 1;
      joined.insert(joined.end(), batch.records.begin(), batch.records.end());
    }
    EXPECT_EQ(joined, records) << "max " << max;
    if (max == 1) {
      EXPECT_EQ(batches.size(), records.size());
    }
    if (max == 1'000'000) {
      EXPECT_EQ(batches.size(), 1u);
    }
  }
}

TEST(FrameBatchesTest, ARecordLargerThanTheLimitGetsAFrameOfItsOwn) {
  const std::vector<std::string> records = {"a", std::string(5000, 'b'), "c", "d"};
  std::vector<Batch> batches = Unframe(FrameBatches(1, records, 100));
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].records, std::vector<std::string>({"a"}));
  EXPECT_EQ(batches[1].first, 2u);
  EXPECT_EQ(batches[1].records, std::vector<std::string>({records[1]}));
  EXPECT_EQ(batches[2].first, 3u);
  EXPECT_EQ(batches[2].records, std::vector<std::string>({"c", "d"}));
}

TEST(FrameBatchesTest, NoRecordsMakeAnEmptyBody) { EXPECT_EQ(FrameBatches(1, {}, 100), ""); }

}  // namespace
}  // namespace quipu::replication
