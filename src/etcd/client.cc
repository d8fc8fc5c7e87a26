#include "etcd/client.h"

#include <utility>

#include "etcd/codec.h"
#include "etcd/http_pool.h"

namespace quipu::etcd {

Compare Compare::ValueIs(std::string key, std::string value) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::kValue;
  c.value = std::move(value);
  return c;
}

Compare Compare::CreateRevisionIs(std::string key, int64_t revision) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::kCreateRevision;
  c.number = revision;
  return c;
}

Compare Compare::ModRevisionIs(std::string key, int64_t revision) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::kModRevision;
  c.number = revision;
  return c;
}

Op Op::Put(std::string key, std::string value, int64_t lease) {
  Op op;
  op.kind = Kind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

Op Op::Get(std::string key, std::string range_end) {
  Op op;
  op.kind = Kind::kRange;
  op.key = std::move(key);
  op.range_end = std::move(range_end);
  return op;
}

Op Op::Delete(std::string key, std::string range_end) {
  Op op;
  op.kind = Kind::kDelete;
  op.key = std::move(key);
  op.range_end = std::move(range_end);
  return op;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  // Drop trailing 0xff bytes (they cannot be incremented), then bump the last.
  while (!end.empty()) {
    const auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

namespace {

// etcd refuses an empty key itself ("key is not provided"); catching it
// here makes it the caller's InvalidArgument rather than etcd's refusal.
Status CheckKey(std::string_view key, std::string_view what) {
  if (key.empty()) return Status::InvalidArgument("etcd " + std::string(what) + ": empty key");
  return Status::OK();
}

Status CheckOps(const std::vector<Op>& ops) {
  for (const Op& op : ops) QUIPU_RETURN_IF_ERROR(CheckKey(op.key, "txn"));
  return Status::OK();
}

class GatewayClient final : public Client {
 public:
  GatewayClient(std::unique_ptr<HttpPool> pool, bool serializable)
      : pool_(std::move(pool)), serializable_(serializable) {}

  Result<RangeResult> Range(std::string_view key, std::string_view range_end, int64_t limit,
                            int64_t revision) override {
    QUIPU_RETURN_IF_ERROR(CheckKey(key, "range"));
    if (limit < 0 || revision < 0) {
      return Status::InvalidArgument("etcd range: negative limit or revision");
    }
    Json request = EncodeRange(key, range_end, limit, revision);
    if (serializable_) request["serializable"] = true;
    Result<Json> answer = Call("/v3/kv/range", request);
    if (!answer.ok()) return answer.status();
    return DecodeRange(*answer);
  }

  Result<std::optional<KeyValue>> LastInRange(std::string_view key,
                                              std::string_view range_end) override {
    QUIPU_RETURN_IF_ERROR(CheckKey(key, "range"));
    Json request = EncodeRange(key, range_end, 1, 0);
    request["sort_order"] = "DESCEND";
    request["sort_target"] = "KEY";
    if (serializable_) request["serializable"] = true;
    Result<Json> answer = Call("/v3/kv/range", request);
    if (!answer.ok()) return answer.status();
    auto range = DecodeRange(*answer);
    if (!range.ok()) return range.status();
    if (range->kvs.empty()) return std::optional<KeyValue>();
    return std::optional<KeyValue>(std::move(range->kvs.front()));
  }

  Result<int64_t> Put(std::string_view key, std::string_view value, int64_t lease) override {
    QUIPU_RETURN_IF_ERROR(CheckKey(key, "put"));
    Result<Json> answer = Call("/v3/kv/put", EncodePut(key, value, lease));
    if (!answer.ok()) return answer.status();
    return HeaderRevision(*answer);
  }

  Result<int64_t> Delete(std::string_view key, std::string_view range_end) override {
    QUIPU_RETURN_IF_ERROR(CheckKey(key, "delete"));
    Result<Json> answer = Call("/v3/kv/deleterange", EncodeDelete(key, range_end));
    if (!answer.ok()) return answer.status();
    return Int64Field(*answer, "deleted");
  }

  Result<TxnResult> Txn(const std::vector<Compare>& compare, const std::vector<Op>& success,
                        const std::vector<Op>& failure) override {
    for (const Compare& c : compare) QUIPU_RETURN_IF_ERROR(CheckKey(c.key, "txn"));
    QUIPU_RETURN_IF_ERROR(CheckOps(success));
    QUIPU_RETURN_IF_ERROR(CheckOps(failure));
    Result<Json> answer = Call("/v3/kv/txn", EncodeTxn(compare, success, failure));
    if (!answer.ok()) return answer.status();
    return DecodeTxn(*answer);
  }

  Result<int64_t> LeaseGrant(std::chrono::seconds ttl) override {
    if (ttl < std::chrono::seconds(1)) {
      return Status::InvalidArgument("etcd lease grant: the TTL must be at least 1 s");
    }
    Result<Json> answer = Call("/v3/lease/grant", {{"TTL", std::to_string(ttl.count())}});
    if (!answer.ok()) return answer.status();
    // LeaseGrantResponse reports a refusal in its own "error" field.
    if (auto error = answer->find("error"); error != answer->end() && error->is_string() &&
                                            !error->get_ref<const std::string&>().empty()) {
      return Status::FailedPrecondition("etcd lease grant: " + error->get<std::string>());
    }
    return Int64Field(*answer, "ID");
  }

  Result<int64_t> LeaseKeepAlive(int64_t lease) override {
    // A streaming call in gRPC: the gateway answers each request line with
    // a {"result":...} line and ends the answer when the body ends.
    Result<Json> answer = Call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}});
    if (!answer.ok()) return answer.status();
    Status error = EtcdError(*answer);
    if (!error.ok()) return error.WithContext("etcd lease keepalive");
    auto result = answer->find("result");
    if (result == answer->end()) {
      return Status::IOError("etcd lease keepalive: the answer has no result");
    }
    // etcd 3.4 answers a lease it no longer has with TTL 0 (left out).
    Result<int64_t> ttl = Int64Field(*result, "TTL");
    if (ttl.ok() && *ttl <= 0) {
      return Status::NotFound("etcd lease keepalive: lease " + std::to_string(lease) +
                              " has expired or was revoked");
    }
    return ttl;
  }

  Status LeaseRevoke(int64_t lease) override {
    return Call("/v3/lease/revoke", {{"ID", std::to_string(lease)}}).status();
  }

  Status Compact(int64_t revision) override {
    if (revision <= 0) return Status::InvalidArgument("etcd compact: revision must be positive");
    return Call("/v3/kv/compaction", {{"revision", std::to_string(revision)}}).status();
  }

  Result<std::vector<WatchEvent>> WaitForChanges(std::string_view key, std::string_view range_end,
                                                 int64_t start_revision,
                                                 std::chrono::milliseconds timeout) override;

 private:
  // POSTs `request` and returns the answer's JSON, or the Status for the
  // failure, its message prefixed with the path.
  Result<Json> Call(std::string_view target, const Json& request);

  const std::unique_ptr<HttpPool> pool_;
  const bool serializable_;  // ClientOptions::serializable_reads
};

Result<Json> GatewayClient::Call(std::string_view target, const Json& request) {
  const std::string context = "etcd " + std::string(target);
  Result<HttpReply> reply = pool_->Post(target, request.dump());
  if (!reply.ok()) return reply.status().WithContext(context);
  if (reply->status != 200) return ErrorFromAnswer(reply->status, reply->body).WithContext(context);
  // A streamed answer (keepalive) is one line; parse the first.
  std::string_view body = reply->body;
  body = body.substr(0, body.find('\n'));
  Json answer = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object()) return Status::IOError(context + ": the answer is not a JSON object");
  return answer;
}

// What one watch stream has seen; fed line by line.
struct WatchReading {
  Status status;
  std::vector<WatchEvent> events;

  // Returns true when the watch has an answer: events, or an error.
  bool OnLine(std::string_view line) {
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) return false;
    Json message = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!message.is_object()) return Fail(Status::IOError("a watch line is not a JSON object"));
    if (Status error = EtcdError(message); !error.ok()) return Fail(std::move(error));
    auto result = message.find("result");
    if (result == message.end() || !result->is_object()) return false;
    if (auto canceled = result->find("canceled");
        canceled != result->end() && canceled->is_boolean() && canceled->get<bool>()) {
      return Fail(Canceled(*result));
    }
    Result<std::vector<WatchEvent>> decoded = DecodeEvents(*result);
    if (!decoded.ok()) return Fail(decoded.status());
    events = std::move(decoded).value();
    return !events.empty();  // else "created", or a progress notice
  }

  bool Fail(Status failure) {
    status = std::move(failure);
    return true;
  }

  static Status Canceled(const Json& result) {
    Result<int64_t> compacted = Int64Field(result, "compact_revision");
    if (compacted.ok() && *compacted > 0) {
      return Status::FailedPrecondition("required revision has been compacted (compacted up to " +
                                        std::to_string(*compacted) + ")");
    }
    auto reason = result.find("cancel_reason");
    return Status::FailedPrecondition(
        "the watch was canceled: " +
        (reason != result.end() && reason->is_string() ? reason->get<std::string>() : "no reason"));
  }
};

Result<std::vector<WatchEvent>> GatewayClient::WaitForChanges(std::string_view key,
                                                              std::string_view range_end,
                                                              int64_t start_revision,
                                                              std::chrono::milliseconds timeout) {
  QUIPU_RETURN_IF_ERROR(CheckKey(key, "watch"));
  if (start_revision < 0 || timeout.count() < 0) {
    return Status::InvalidArgument("etcd watch: negative start revision or timeout");
  }
  const auto until = HttpPool::Clock::now() + timeout;
  const std::string body = EncodeWatch(key, range_end, start_revision).dump();
  // A member that fails mid-watch is replaced by the next one, which starts
  // over from `start_revision`: `reading` holds nothing until it has its
  // answer, so it serves them all.
  WatchReading reading;
  Result<HttpReply> reply = pool_->PostStream(
      "/v3/watch", body, until, [&reading](std::string_view line) { return reading.OnLine(line); });
  if (!reply.ok()) return reply.status().WithContext("etcd /v3/watch");
  if (reply->status != 200) {
    return ErrorFromAnswer(reply->status, reply->body).WithContext("etcd /v3/watch");
  }
  if (!reading.status.ok()) return reading.status.WithContext("etcd /v3/watch");
  return std::move(reading.events);
}

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  Result<std::unique_ptr<HttpPool>> pool = HttpPool::Create(options.endpoints, options.timeout);
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<Client>(
      new GatewayClient(std::move(pool).value(), options.serializable_reads));
}

}  // namespace quipu::etcd
