// etcd/codec.h — etcd's v3 messages as the JSON gateway spells them.
//
// The gateway maps protobuf to JSON: bytes fields (keys, values) are
// base64, int64 fields are JSON strings ("revision":"4"), and a field with
// its default value is left out ("succeeded" absent is false, "kvs" absent
// is none, a put event has no "type"). Requests are built with the proto
// field names (snake_case), which the gateway accepts as well as camelCase.
// No function here throws: a malformed answer is an IOError value.
#ifndef QUIPU_ETCD_CODEC_H_
#define QUIPU_ETCD_CODEC_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "etcd/client.h"
#include "quipu/status.h"

namespace quipu::etcd {

using Json = nlohmann::json;

// Standard base64 with padding, as etcd's gateway writes and reads it.
std::string Base64Encode(std::string_view bytes);
// False if `text` is not padded standard base64.
bool Base64Decode(std::string_view text, std::string* out);

// Request bodies. Zero numbers and empty range ends are left out.
Json EncodeRange(std::string_view key, std::string_view range_end, int64_t limit, int64_t revision);
Json EncodePut(std::string_view key, std::string_view value, int64_t lease);
Json EncodeDelete(std::string_view key, std::string_view range_end);
Json EncodeTxn(const std::vector<Compare>& compare, const std::vector<Op>& success,
               const std::vector<Op>& failure);
Json EncodeWatch(std::string_view key, std::string_view range_end, int64_t start_revision);

// An int64 field of `object`: a JSON string or number; 0 when absent.
Result<int64_t> Int64Field(const Json& object, const char* name);
// header.revision of an answer.
Result<int64_t> HeaderRevision(const Json& answer);

// Answers of /v3/kv/range and /v3/kv/txn.
Result<RangeResult> DecodeRange(const Json& answer);
Result<TxnResult> DecodeTxn(const Json& answer);
// The events of one watch response (the object under "result").
Result<std::vector<WatchEvent>> DecodeEvents(const Json& result);

// The Status for etcd's own error in a gateway answer, which comes in two
// shapes: {"error":"...","message":"...","code":N} for a unary call
// (HTTP status != 200), and {"error":{"grpc_code":N,"message":"..."}} as a
// line of a stream. gRPC NOT_FOUND is NotFound, every other code is
// FailedPrecondition (etcd refused). OK if `message` holds no such error.
Status EtcdError(const Json& message);
// The Status for a non-200 answer: etcd's error (as above), or IOError for
// an answer that is not etcd's (e.g. a proxy's, or a wrong path).
Status ErrorFromAnswer(int http_status, std::string_view body);

}  // namespace quipu::etcd

#endif  // QUIPU_ETCD_CODEC_H_
