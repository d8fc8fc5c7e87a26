#include "replication/group.h"

#include <nlohmann/json.hpp>

namespace quipu::replication {

namespace {

using Json = nlohmann::json;
using etcd::Compare;
using etcd::Op;

Result<Lsn> ParseLsn(const std::string& text, const std::string& key) {
  Lsn lsn = 0;
  if (text.empty() || text.size() > 20) return Status::Corruption(key + ": not an LSN");
  for (char c : text) {
    if (c < '0' || c > '9') return Status::Corruption(key + ": not an LSN");
    lsn = lsn * 10 + static_cast<Lsn>(c - '0');
  }
  return lsn;
}

Result<Json> ParseJson(const std::string& text, const std::string& key) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return Status::Corruption(key + ": not a JSON object");
  return json;
}

template <typename T>
T Field(const Json& json, const char* name, T fallback) {
  auto it = json.find(name);
  if (it == json.end()) return fallback;
  if constexpr (std::is_same_v<T, std::string>) {
    return it->is_string() ? it->get<std::string>() : fallback;
  } else {
    return it->is_number_unsigned() ? it->get<T>() : fallback;
  }
}

}  // namespace

std::string WriterValue(const std::string& node, const std::string& url) {
  return Json{{"node", node}, {"url", url}}.dump();
}

Group::Group(std::unique_ptr<etcd::Client> client, std::string_view group,
             std::unique_ptr<etcd::Client> reader)
    : client_(std::move(client)), reader_(std::move(reader)), keys_(group) {}

Result<Lsn> Group::Head() {
  auto range = client_->Range(keys_.head());
  if (!range.ok()) return range.status();
  if (range->kvs.empty()) return Lsn{0};
  return ParseLsn(range->kvs.front().value, keys_.head());
}

Result<std::optional<WriterInfo>> Group::Writer() {
  auto range = client_->Range(keys_.writer());
  if (!range.ok()) return range.status();
  if (range->kvs.empty()) return std::optional<WriterInfo>();
  const etcd::KeyValue& kv = range->kvs.front();
  auto json = ParseJson(kv.value, keys_.writer());
  if (!json.ok()) return json.status();
  return std::optional<WriterInfo>(WriterInfo{Field<std::string>(*json, "node", ""),
                                              Field<std::string>(*json, "url", ""),
                                              kv.create_revision, kv.lease});
}

Result<WriterInfo> Group::Campaign(int64_t lease, const std::string& node, const std::string& url) {
  auto txn = client_->Txn({Compare::CreateRevisionIs(keys_.writer(), 0)},
                          {Op::Put(keys_.writer(), WriterValue(node, url), lease)}, {});
  if (!txn.ok()) return txn.status();
  auto writer = Writer();
  if (!writer.ok()) return writer.status();
  if (!*writer) return Status::IOError("the writer key vanished right after the election");
  return **writer;
}

Result<Group::Outcome> Group::Commit(int64_t writer_revision, Lsn prev, const Batch& batch,
                                     const std::string& encoded) {
  const std::string batch_key = keys_.batch(batch.first);
  Compare head_is = prev == 0 ? Compare::CreateRevisionIs(keys_.head(), 0)
                              : Compare::ValueIs(keys_.head(), std::to_string(prev));
  auto txn = client_->Txn(
      {Compare::CreateRevisionIs(keys_.writer(), writer_revision), std::move(head_is)},
      {Op::Put(batch_key, encoded), Op::Put(keys_.head(), std::to_string(batch.last()))},
      {Op::Get(keys_.head()), Op::Get(batch_key)});
  if (!txn.ok()) return txn.status();
  if (txn->succeeded) return Outcome::kCommitted;
  // Refused: an earlier attempt of this very batch whose answer was lost may
  // have committed it; then head is its last LSN and the key holds it.
  if (txn->ranges.size() == 2 && !txn->ranges[0].empty() && !txn->ranges[1].empty() &&
      txn->ranges[0].front().value == std::to_string(batch.last()) &&
      txn->ranges[1].front().value == encoded) {
    return Outcome::kCommitted;
  }
  return Outcome::kRefused;
}

Result<Batch> Group::DecodeKv(const etcd::KeyValue& kv) {
  auto batch = DecodeBatch(kv.value);
  if (!batch.ok()) return batch.status().WithContext(kv.key);
  if (batch->first != keys_.BatchFirst(kv.key)) {
    return Status::Corruption(kv.key + ": holds a batch from LSN " + std::to_string(batch->first));
  }
  return batch;
}

Result<Fetched> Group::Fetch(Lsn from, size_t max_batches) {
  etcd::Client& reads = reader_ ? *reader_ : *client_;
  Fetched out;
  auto range =
      reads.Range(keys_.batch(from), keys_.batches_end(), static_cast<int64_t>(max_batches));
  if (!range.ok()) return range.status();
  out.revision = range->revision;
  const bool exact = !range->kvs.empty() && keys_.BatchFirst(range->kvs.front().key) == from;
  if (!exact) {
    // `from` may lie inside an earlier batch (a node that stopped part way
    // through applying one).
    auto before = reads.LastInRange(keys_.batches(), keys_.batch(from));
    if (!before.ok()) return before.status();
    if (*before) {
      auto batch = DecodeKv(**before);
      if (!batch.ok()) return batch.status();
      if (batch->last() >= from) out.batches.push_back(std::move(*batch));
    }
  }
  for (const etcd::KeyValue& kv : range->kvs) {
    auto batch = DecodeKv(kv);
    if (!batch.ok()) return batch.status();
    out.batches.push_back(std::move(*batch));
  }
  if (!out.batches.empty() && out.batches.front().first <= from) return out;
  // Nothing holds `from`: either it is not committed yet, or it is no
  // longer in etcd. The head is read as of the range's revision: a batch
  // committed since must not look like one trimmed before.
  auto at = reads.Range(keys_.head(), {}, 0, out.revision);
  if (!at.ok()) return at.status();
  Lsn head = 0;
  if (!at->kvs.empty()) {
    auto parsed = ParseLsn(at->kvs.front().value, keys_.head());
    if (!parsed.ok()) return parsed.status();
    head = *parsed;
  }
  if (head < from) {
    out.batches.clear();
    return out;
  }
  out.behind_window = true;
  out.window_start = out.batches.empty() ? 0 : out.batches.front().first;
  out.batches.clear();
  return out;
}

Status Group::WaitForBatches(int64_t revision, std::chrono::milliseconds timeout) {
  etcd::Client& reads = reader_ ? *reader_ : *client_;
  auto events = reads.WaitForChanges(keys_.batches(), keys_.batches_end(), revision + 1, timeout);
  // A compacted revision only means there is something new to fetch.
  if (!events.ok() && events.status().code() != Status::Code::kFailedPrecondition) {
    return events.status();
  }
  return Status::OK();
}

Status Group::Publish(int64_t lease, const NodeStatus& status) {
  Json json{{"node", status.node},           {"url", status.url},
            {"role", status.role},           {"applied", status.applied},
            {"tree_size", status.tree_size}, {"root", status.root},
            {"grid_size", status.grid_size}, {"grid_root", status.grid_root}};
  return client_->Put(keys_.node(status.node), json.dump(), lease).status();
}

Result<std::vector<NodeStatus>> Group::Nodes() {
  auto range = client_->Range(keys_.nodes(), keys_.nodes_end());
  if (!range.ok()) return range.status();
  std::vector<NodeStatus> nodes;
  for (const etcd::KeyValue& kv : range->kvs) {
    auto json = ParseJson(kv.value, kv.key);
    if (!json.ok()) return json.status();
    NodeStatus node;
    node.node = Field<std::string>(*json, "node", "");
    node.url = Field<std::string>(*json, "url", "");
    node.role = Field<std::string>(*json, "role", "");
    node.applied = Field<uint64_t>(*json, "applied", 0);
    node.tree_size = Field<uint64_t>(*json, "tree_size", 0);
    node.root = Field<std::string>(*json, "root", "");
    node.grid_size = Field<uint64_t>(*json, "grid_size", 0);
    node.grid_root = Field<std::string>(*json, "grid_root", "");
    nodes.push_back(std::move(node));
  }
  return nodes;
}

Result<int64_t> Group::Trim(Lsn applied_by_all) {
  auto txn = client_->Txn({}, {Op::Delete(keys_.batches(), keys_.batch(applied_by_all + 1))}, {});
  if (!txn.ok()) return txn.status();
  Status compacted = client_->Compact(txn->revision);
  // Nothing written since the last trim: that revision is compacted already.
  if (!compacted.ok() && !(compacted.code() == Status::Code::kFailedPrecondition &&
                           compacted.message().find("compacted") != std::string::npos)) {
    return compacted;
  }
  return txn->revision;
}

}  // namespace quipu::replication
