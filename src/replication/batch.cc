#include "replication/batch.h"

#include <cstdio>

#include "etcd/client.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu::replication {

namespace {

constexpr std::string_view kMagic = "QPB1";

Status Bad(const std::string& what) { return Status::Corruption("replicated batch: " + what); }

}  // namespace

std::string EncodeBatch(const Batch& batch) {
  size_t size = kBatchOverhead;
  for (const std::string& record : batch.records) size += kRecordOverhead + record.size();
  std::string out;
  out.reserve(size);
  out.append(kMagic);
  PutFixed64(&out, batch.first);
  PutFixed32(&out, static_cast<uint32_t>(batch.records.size()));
  for (const std::string& record : batch.records) {
    PutFixed32(&out, static_cast<uint32_t>(record.size()));
    out.append(record);
  }
  PutFixed32(&out, crc32c::Mask(crc32c::Value(out)));
  return out;
}

Result<Batch> DecodeBatch(std::string_view bytes) {
  if (bytes.size() < kBatchOverhead) return Bad("shorter than its header");
  if (bytes.substr(0, kMagic.size()) != kMagic) return Bad("wrong magic");
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  const uint32_t crc = DecodeFixed32(bytes.data() + body.size());
  if (crc32c::Unmask(crc) != crc32c::Value(body)) return Bad("checksum mismatch");
  Batch batch;
  batch.first = DecodeFixed64(body.data() + 4);
  const uint32_t count = DecodeFixed32(body.data() + 12);
  if (batch.first == 0 || count == 0) return Bad("no records, or LSN 0");
  // Each record takes at least its length: a count the bytes cannot hold
  // is refused before anything is allocated for it.
  if (count > (body.size() - 16) / kRecordOverhead) return Bad("more records than bytes");
  size_t pos = 16;
  batch.records.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (body.size() - pos < kRecordOverhead) return Bad("record " + std::to_string(i) + " cut off");
    const uint32_t length = DecodeFixed32(body.data() + pos);
    pos += kRecordOverhead;
    if (body.size() - pos < length) return Bad("record " + std::to_string(i) + " cut off");
    batch.records.emplace_back(body.substr(pos, length));
    pos += length;
  }
  if (pos != body.size()) return Bad("bytes after its last record");
  return batch;
}

GroupKeys::GroupKeys(std::string_view group) {
  const std::string root = "/quipu/" + std::string(group) + "/";
  writer_ = root + "writer";
  head_ = root + "head";
  batches_ = root + "batch/";
  batches_end_ = etcd::PrefixEnd(batches_);
  nodes_ = root + "nodes/";
  nodes_end_ = etcd::PrefixEnd(nodes_);
}

std::string GroupKeys::batch(Lsn first) const {
  char digits[24];
  std::snprintf(digits, sizeof(digits), "%020llu", static_cast<unsigned long long>(first));
  return batches_ + digits;
}

Lsn GroupKeys::BatchFirst(std::string_view key) const {
  if (key.size() != batches_.size() + 20 || key.substr(0, batches_.size()) != batches_) return 0;
  Lsn lsn = 0;
  for (char c : key.substr(batches_.size())) {
    if (c < '0' || c > '9') return 0;
    lsn = lsn * 10 + static_cast<Lsn>(c - '0');
  }
  return lsn;
}

std::string GroupKeys::node(std::string_view id) const { return nodes_ + std::string(id); }

}  // namespace quipu::replication
