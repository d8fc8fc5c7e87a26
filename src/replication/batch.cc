#include "replication/batch.h"

#include <zstd.h>

#include <cstdio>

#include "etcd/client.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu::replication {

namespace {

constexpr std::string_view kMagic = "QPB1";
constexpr std::string_view kZstdMagic = "QPBZ";
constexpr size_t kHeaderSize = 16;  // magic, first_lsn, count

Status Bad(const std::string& what) { return Status::Corruption("replicated batch: " + what); }

void AppendFrames(const Batch& batch, std::string* out) {
  for (const std::string& record : batch.records) {
    PutFixed32(out, static_cast<uint32_t>(record.size()));
    out->append(record);
  }
}

// Reads `count` frames that must fill `frames` exactly.
Status ParseFrames(std::string_view frames, uint32_t count, Batch* batch) {
  // Each record takes at least its length: a count the bytes cannot hold
  // is refused before anything is allocated for it.
  if (count > frames.size() / kRecordOverhead) return Bad("more records than bytes");
  batch->records.reserve(count);
  size_t pos = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (frames.size() - pos < kRecordOverhead)
      return Bad("record " + std::to_string(i) + " cut off");
    const uint32_t length = DecodeFixed32(frames.data() + pos);
    pos += kRecordOverhead;
    if (frames.size() - pos < length) return Bad("record " + std::to_string(i) + " cut off");
    batch->records.emplace_back(frames.substr(pos, length));
    pos += length;
  }
  if (pos != frames.size()) return Bad("bytes after its last record");
  return Status::OK();
}

Result<std::string> Decompress(std::string_view compressed, size_t raw) {
  if (raw > kMaxRawBatchBytes) return Bad("claims " + std::to_string(raw) + " bytes of records");
  std::string out(raw, '\0');
  const size_t got = ZSTD_decompress(out.data(), out.size(), compressed.data(), compressed.size());
  if (ZSTD_isError(got) || got != raw) return Bad("its records do not decompress");
  return out;
}

}  // namespace

std::string EncodeBatch(const Batch& batch, BatchCompression compression) {
  size_t size = kBatchOverhead;
  for (const std::string& record : batch.records) size += kRecordOverhead + record.size();
  std::string out;
  out.reserve(size);
  out.append(compression == BatchCompression::kZstd ? kZstdMagic : kMagic);
  PutFixed64(&out, batch.first);
  PutFixed32(&out, static_cast<uint32_t>(batch.records.size()));
  if (compression == BatchCompression::kNone) {
    AppendFrames(batch, &out);
  } else {
    std::string frames;
    frames.reserve(size);
    AppendFrames(batch, &frames);
    PutFixed32(&out, static_cast<uint32_t>(frames.size()));
    const size_t header = out.size();
    out.resize(header + ZSTD_compressBound(frames.size()));
    const size_t n =
        ZSTD_compress(out.data() + header, out.size() - header, frames.data(), frames.size(), 1);
    // Compressing into a buffer of the bound cannot fail but for memory.
    if (ZSTD_isError(n)) return EncodeBatch(batch, BatchCompression::kNone);
    out.resize(header + n);
  }
  PutFixed32(&out, crc32c::Mask(crc32c::Value(out)));
  return out;
}

Result<Batch> DecodeBatch(std::string_view bytes) {
  if (bytes.size() < kBatchOverhead) return Bad("shorter than its header");
  const std::string_view magic = bytes.substr(0, 4);
  if (magic != kMagic && magic != kZstdMagic) return Bad("wrong magic");
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  const uint32_t crc = DecodeFixed32(bytes.data() + body.size());
  if (crc32c::Unmask(crc) != crc32c::Value(body)) return Bad("checksum mismatch");
  Batch batch;
  batch.first = DecodeFixed64(body.data() + 4);
  const uint32_t count = DecodeFixed32(body.data() + 12);
  if (batch.first == 0 || count == 0) return Bad("no records, or LSN 0");
  if (magic == kMagic) {
    QUIPU_RETURN_IF_ERROR(ParseFrames(body.substr(kHeaderSize), count, &batch));
    return batch;
  }
  if (body.size() < kHeaderSize + 4) return Bad("shorter than its header");
  const uint32_t raw = DecodeFixed32(body.data() + kHeaderSize);
  auto frames = Decompress(body.substr(kHeaderSize + 4), raw);
  if (!frames.ok()) return frames.status();
  QUIPU_RETURN_IF_ERROR(ParseFrames(*frames, count, &batch));
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
