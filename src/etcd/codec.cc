#include "etcd/codec.h"

#include <openssl/evp.h>

#include <charconv>
#include <utility>

namespace quipu::etcd {

std::string Base64Encode(std::string_view bytes) {
  std::string text(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  text.resize(static_cast<size_t>(n));  // without the NUL EVP_EncodeBlock appends
  return text;
}

bool Base64Decode(std::string_view text, std::string* out) {
  // EVP_DecodeBlock decodes the padding as zero bytes (it returns 3 bytes
  // per 4 characters), and skips whitespace at either end, which would
  // throw the padding count off: so only accept what the gateway writes.
  if (text.size() % 4 != 0) return false;
  const size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
  if (text.substr(0, text.size() - padding).find_first_of("= \t\r\n") != std::string_view::npos) {
    return false;
  }
  out->assign(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) < padding) return false;
  out->resize(static_cast<size_t>(n) - padding);
  return true;
}

namespace {

std::string Number(int64_t n) { return std::to_string(n); }

// The Compare message's name of a target, and its field holding the operand.
struct TargetSpelling {
  const char* name;
  const char* operand;
};

TargetSpelling Spell(Compare::Target target) {
  switch (target) {
    case Compare::Target::kValue:
      return {"VALUE", "value"};
    case Compare::Target::kCreateRevision:
      return {"CREATE", "create_revision"};
    case Compare::Target::kModRevision:
      return {"MOD", "mod_revision"};
    case Compare::Target::kVersion:
      return {"VERSION", "version"};
    case Compare::Target::kLease:
      return {"LEASE", "lease"};
  }
  return {"VALUE", "value"};
}

const char* ResultName(Compare::Op op) {
  switch (op) {
    case Compare::Op::kEqual:
      return "EQUAL";
    case Compare::Op::kNotEqual:
      return "NOT_EQUAL";
    case Compare::Op::kGreater:
      return "GREATER";
    case Compare::Op::kLess:
      return "LESS";
  }
  return "EQUAL";
}

Json EncodeCompare(const Compare& compare) {
  const TargetSpelling target = Spell(compare.target);
  Json json = {{"key", Base64Encode(compare.key)},
               {"target", target.name},
               {"result", ResultName(compare.op)}};
  json[target.operand] = compare.target == Compare::Target::kValue ? Base64Encode(compare.value)
                                                                   : Number(compare.number);
  return json;
}

Json EncodeOp(const Op& op) {
  switch (op.kind) {
    case Op::Kind::kPut:
      return {{"request_put", EncodePut(op.key, op.value, op.lease)}};
    case Op::Kind::kRange:
      return {{"request_range", EncodeRange(op.key, op.range_end, 0, 0)}};
    case Op::Kind::kDelete:
      return {{"request_delete_range", EncodeDelete(op.key, op.range_end)}};
  }
  return Json::object();
}

Json EncodeOps(const std::vector<Op>& ops) {
  Json json = Json::array();
  for (const Op& op : ops) json.push_back(EncodeOp(op));
  return json;
}

Json KeyAndEnd(std::string_view key, std::string_view range_end) {
  Json json = {{"key", Base64Encode(key)}};
  if (!range_end.empty()) json["range_end"] = Base64Encode(range_end);
  return json;
}

Status Malformed(std::string_view what) {
  return Status::IOError("etcd answered malformed JSON: " + std::string(what));
}

// A bytes field of `object` (absent: empty).
Status BytesField(const Json& object, const char* name, std::string* out) {
  out->clear();
  auto it = object.find(name);
  if (it == object.end()) return Status::OK();
  if (!it->is_string() || !Base64Decode(it->get_ref<const std::string&>(), out)) {
    return Malformed(std::string(name) + " is not base64");
  }
  return Status::OK();
}

// Sets `*out` from an int64 field, keeping the first error in `*status`.
void ReadInt64(const Json& object, const char* name, int64_t* out, Status* status) {
  Result<int64_t> n = Int64Field(object, name);
  if (n.ok()) {
    *out = *n;
  } else if (status->ok()) {
    *status = n.status();
  }
}

Result<KeyValue> DecodeKeyValue(const Json& json) {
  if (!json.is_object()) return Malformed("a kv is not an object");
  KeyValue kv;
  Status status = BytesField(json, "key", &kv.key);
  if (status.ok()) status = BytesField(json, "value", &kv.value);
  ReadInt64(json, "create_revision", &kv.create_revision, &status);
  ReadInt64(json, "mod_revision", &kv.mod_revision, &status);
  ReadInt64(json, "version", &kv.version, &status);
  ReadInt64(json, "lease", &kv.lease, &status);
  if (!status.ok()) return status;
  return kv;
}

Result<std::vector<KeyValue>> DecodeKvs(const Json& answer) {
  std::vector<KeyValue> kvs;
  auto it = answer.find("kvs");
  if (it == answer.end()) return kvs;
  if (!it->is_array()) return Malformed("kvs is not an array");
  for (const Json& item : *it) {
    Result<KeyValue> kv = DecodeKeyValue(item);
    if (!kv.ok()) return kv.status();
    kvs.push_back(std::move(kv).value());
  }
  return kvs;
}

bool BoolField(const Json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

Json EncodeRange(std::string_view key, std::string_view range_end, int64_t limit,
                 int64_t revision) {
  Json json = KeyAndEnd(key, range_end);
  if (limit != 0) json["limit"] = Number(limit);
  if (revision != 0) json["revision"] = Number(revision);
  return json;
}

Json EncodePut(std::string_view key, std::string_view value, int64_t lease) {
  Json json = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) json["lease"] = Number(lease);
  return json;
}

Json EncodeDelete(std::string_view key, std::string_view range_end) {
  return KeyAndEnd(key, range_end);
}

Json EncodeTxn(const std::vector<Compare>& compare, const std::vector<Op>& success,
               const std::vector<Op>& failure) {
  Json compares = Json::array();
  for (const Compare& c : compare) compares.push_back(EncodeCompare(c));
  return {{"compare", compares}, {"success", EncodeOps(success)}, {"failure", EncodeOps(failure)}};
}

Json EncodeWatch(std::string_view key, std::string_view range_end, int64_t start_revision) {
  Json request = KeyAndEnd(key, range_end);
  if (start_revision != 0) request["start_revision"] = Number(start_revision);
  return {{"create_request", request}};
}

Result<int64_t> Int64Field(const Json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return int64_t{0};
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return n;
  }
  return Malformed(std::string(name) + " is not an int64");
}

Result<int64_t> HeaderRevision(const Json& answer) {
  auto header = answer.find("header");
  if (header == answer.end() || !header->is_object()) return Malformed("no header");
  return Int64Field(*header, "revision");
}

Result<RangeResult> DecodeRange(const Json& answer) {
  RangeResult range;
  Result<std::vector<KeyValue>> kvs = DecodeKvs(answer);
  if (!kvs.ok()) return kvs.status();
  range.kvs = std::move(kvs).value();
  Result<int64_t> revision = HeaderRevision(answer);
  if (!revision.ok()) return revision.status();
  range.revision = *revision;
  Status status;
  ReadInt64(answer, "count", &range.count, &status);
  if (!status.ok()) return status;
  range.more = BoolField(answer, "more");
  return range;
}

Result<TxnResult> DecodeTxn(const Json& answer) {
  TxnResult txn;
  txn.succeeded = BoolField(answer, "succeeded");
  Result<int64_t> revision = HeaderRevision(answer);
  if (!revision.ok()) return revision.status();
  txn.revision = *revision;
  auto responses = answer.find("responses");
  if (responses == answer.end()) return txn;
  if (!responses->is_array()) return Malformed("responses is not an array");
  // One response per op of the branch that ran; only ranges carry data.
  for (const Json& response : *responses) {
    if (!response.is_object()) return Malformed("a txn response is not an object");
    auto range = response.find("response_range");
    if (range == response.end()) continue;
    Result<std::vector<KeyValue>> kvs = DecodeKvs(*range);
    if (!kvs.ok()) return kvs.status();
    txn.ranges.push_back(std::move(kvs).value());
  }
  return txn;
}

Result<std::vector<WatchEvent>> DecodeEvents(const Json& result) {
  std::vector<WatchEvent> events;
  auto it = result.find("events");
  if (it == result.end()) return events;
  if (!it->is_array()) return Malformed("events is not an array");
  for (const Json& item : *it) {
    if (!item.is_object()) return Malformed("an event is not an object");
    WatchEvent event;
    auto type = item.find("type");  // absent: PUT, the enum's zero
    if (type != item.end() && *type == "DELETE") event.type = WatchEvent::Type::kDelete;
    auto kv = item.find("kv");
    if (kv == item.end()) return Malformed("an event has no kv");
    Result<KeyValue> decoded = DecodeKeyValue(*kv);
    if (!decoded.ok()) return decoded.status();
    event.kv = std::move(decoded).value();
    events.push_back(std::move(event));
  }
  return events;
}

Status EtcdError(const Json& message) {
  if (!message.is_object()) return Status::OK();
  auto error = message.find("error");
  if (error == message.end()) return Status::OK();
  // A stream's error nests its fields; a unary call's sits beside "error".
  const Json& fields = error->is_object() ? *error : message;
  Result<int64_t> code = Int64Field(fields, fields.contains("grpc_code") ? "grpc_code" : "code");
  auto text = fields.find("message");
  std::string what = text != fields.end() && text->is_string() ? text->get<std::string>()
                     : error->is_string()                      ? error->get<std::string>()
                                                               : error->dump();
  constexpr int64_t kGrpcNotFound = 5;
  if (code.ok() && *code == kGrpcNotFound) return Status::NotFound(what);
  return Status::FailedPrecondition(what);
}

Status ErrorFromAnswer(int http_status, std::string_view body) {
  Json message = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  Status status = EtcdError(message);
  if (!status.ok()) return status;
  std::string excerpt(body.substr(0, 200));
  while (!excerpt.empty() && (excerpt.back() == '\n' || excerpt.back() == '\r')) {
    excerpt.pop_back();
  }
  return Status::IOError("HTTP " + std::to_string(http_status) + " " + excerpt);
}

}  // namespace quipu::etcd
