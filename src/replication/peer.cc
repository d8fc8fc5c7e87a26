#include "replication/peer.h"

#include <algorithm>

#include "etcd/http_pool.h"
#include "replication/batch.h"
#include "util/coding.h"

namespace quipu::replication {

namespace {

std::string HeaderOf(const etcd::HttpReply& reply, std::string_view name) {
  for (const auto& [key, value] : reply.headers) {
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return value;
    }
  }
  return "";
}

// Appends the framed batches of `body` after the store's last record.
Status AppendFramed(std::string_view body, AuditStore* store) {
  while (!body.empty()) {
    if (body.size() < 4) return Status::Corruption("peer records: a frame is cut off");
    const uint32_t length = DecodeFixed32(body.data());
    if (body.size() - 4 < length) return Status::Corruption("peer records: a batch is cut off");
    auto batch = DecodeBatch(body.substr(4, length));
    if (!batch.ok()) return batch.status();
    body.remove_prefix(4 + length);
    const Lsn next = store->log()->LastLsn() + 1;
    if (batch->first != next) {
      return Status::Corruption("peer records: a batch from LSN " + std::to_string(batch->first) +
                                " where " + std::to_string(next) + " was expected");
    }
    QUIPU_RETURN_IF_ERROR(store->AppendReplicated(next, batch->records).status());
  }
  return Status::OK();
}

}  // namespace

std::string FrameBatches(Lsn first, std::vector<std::string> records, size_t max_batch_bytes) {
  std::string out;
  Batch batch;
  batch.first = first;
  size_t bytes = kBatchOverhead;
  auto flush = [&] {
    const std::string encoded = EncodeBatch(batch, BatchCompression::kZstd);
    PutFixed32(&out, static_cast<uint32_t>(encoded.size()));
    out += encoded;
    batch.first = batch.last() + 1;
    batch.records.clear();
    bytes = kBatchOverhead;
  };
  for (std::string& record : records) {
    if (!batch.records.empty() && bytes + kRecordOverhead + record.size() > max_batch_bytes) {
      flush();
    }
    bytes += kRecordOverhead + record.size();
    batch.records.push_back(std::move(record));
  }
  if (!batch.records.empty()) flush();
  return out;
}

Result<Copied> CopyRecords(const std::string& url, const std::string& token, Lsn from, Lsn to,
                           AuditStore* store, std::chrono::milliseconds timeout) {
  auto pool = etcd::HttpPool::Create({url}, timeout);
  if (!pool.ok()) return pool.status();
  Copied copied;
  while (from <= to) {
    const std::string target =
        "/v1/replication/records?from=" + std::to_string(from) + "&to=" + std::to_string(to);
    auto reply = (*pool)->Get(target, token);
    if (!reply.ok()) return reply.status();
    if (reply->status != 200) {
      return Status::IOError(url + " answered HTTP " + std::to_string(reply->status) + ": " +
                             reply->body.substr(0, 300));
    }
    QUIPU_RETURN_IF_ERROR(AppendFramed(reply->body, store));
    const Lsn last = store->log()->LastLsn();
    if (last < from)
      return Status::IOError(url + " sent no records from LSN " + std::to_string(from));
    QUIPU_RETURN_IF_ERROR(store->WaitDurable(last));
    QUIPU_RETURN_IF_ERROR(store->log()->tree()->CatchUp());
    auto root = store->log()->tree()->Root(last);
    if (!root.ok()) return root.status();
    copied.last = last;
    const std::string theirs = HeaderOf(*reply, "Quipu-Tree-Root");
    if (HeaderOf(*reply, "Quipu-Tree-Size") != std::to_string(last) || theirs != root->ToHex()) {
      copied.root_matches = false;
      copied.mine = root->ToHex();
      copied.theirs = theirs;
      return copied;
    }
    from = last + 1;
  }
  return copied;
}

}  // namespace quipu::replication
