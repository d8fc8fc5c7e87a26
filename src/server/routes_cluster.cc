// server/routes_cluster.cc — a replicated group over HTTP
// (docs/replication.md): GET /v1/cluster says who writes and where every
// node stands; GET /v1/replication/records hands committed records to a
// peer that fell behind etcd's window.
#include <charconv>
#include <optional>
#include <string>

#include "quipu/log.h"
#include "quipu/reader.h"
#include "quipu/tree.h"
#include "replication/peer.h"
#include "server/service.h"

namespace quipu::server {

namespace {

using boost::asio::awaitable;

// Most record bytes one answer of the records route carries; the peer asks
// again from where it stopped.
constexpr size_t kRecordsPerAnswer = 16 << 20;

std::optional<uint64_t> NumberParam(const Request& request, std::string_view name) {
  std::optional<std::string> text = QueryParam(request.target(), name);
  if (!text || text->empty()) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
  return value;
}

json::OrderedJson NodeJson(const replication::NodeStatus& node) {
  return {{"node", node.node},           {"url", node.url},
          {"role", node.role},           {"applied", node.applied},
          {"tree_size", node.tree_size}, {"root", node.root}};
}

json::OrderedJson ClusterJson(Service& service) {
  const replication::ReplicaOptions& options = *service.options().replica;
  replication::ClusterView view = service.replica()->View();
  LogTree* tree = service.store().log()->tree();
  const uint64_t size = std::min<uint64_t>(tree->Size(), view.applied);
  json::OrderedJson out;
  out["group"] = options.group;
  out["node"] = options.node;
  out["role"] = replication::RoleName(view.role);
  if (view.writer) {
    out["writer"] = {{"node", view.writer->node}, {"url", view.writer->url}};
  } else {
    out["writer"] = nullptr;
  }
  out["head"] = view.head;
  out["applied"] = view.applied;
  out["durable"] = service.store().DurableLsn();
  out["tree_size"] = size;
  auto root = size > 0 ? tree->Root(size) : Result<merkle::Hash>(merkle::Hash{});
  out["root"] = size > 0 && root.ok() ? root->ToHex() : "";
  out["fenced"] = view.fenced.empty() ? json::OrderedJson(nullptr) : json::OrderedJson(view.fenced);
  json::OrderedJson nodes = json::OrderedJson::array();
  for (const replication::NodeStatus& node : view.nodes) nodes.push_back(NodeJson(node));
  out["nodes"] = std::move(nodes);
  return out;
}

awaitable<void> GetCluster(Service& service, Call& call) {
  if (service.replica() == nullptr) {
    json::OrderedJson single;
    single["group"] = nullptr;
    single["role"] = std::string("single");
    co_return co_await call.reply.Send(JsonResponse(http::status::ok, single));
  }
  Response response = co_await service.OnWorkers(
      [&service] { return JsonResponse(http::status::ok, ClusterJson(service)); });
  co_await call.reply.Send(std::move(response));
}

// Records from..to (at most kRecordsPerAnswer bytes of them), durable here,
// framed as replication/peer.h says, with this node's root after the last.
Response RecordsAnswer(Service& service, Lsn from, Lsn to) {
  Log* log = service.store().log();
  to = std::min<Lsn>(to, log->DurableLsn());
  if (from > to || from < service.store().FirstLsn()) {
    return ErrorResponse(http::status::not_found, "not_found",
                         "this node holds no durable record " + std::to_string(from));
  }
  auto reader = log->NewReader(from);
  if (!reader.ok()) return StatusResponse(reader.status());
  std::vector<std::string> records;
  size_t bytes = 0;
  for (Lsn lsn = from; lsn <= to && bytes < kRecordsPerAnswer; ++lsn) {
    auto more = (*reader)->Next();
    if (!more.ok()) return StatusResponse(more.status());
    if (!*more) break;
    records.emplace_back((*reader)->payload());
    bytes += records.back().size();
  }
  if (records.empty()) return StatusResponse(Status::NotFound("no record " + std::to_string(from)));
  const Lsn last = from + records.size() - 1;
  Status caught = log->tree()->CatchUp();
  if (!caught.ok()) return StatusResponse(caught);
  auto root = log->tree()->Root(last);
  if (!root.ok()) return StatusResponse(root.status());
  const size_t max_batch = service.options().replica
                               ? service.options().replica->max_batch_bytes
                               : replication::ReplicaOptions().max_batch_bytes;
  Response response{http::status::ok, 11};
  response.set(http::field::content_type, "application/octet-stream");
  response.set("Quipu-Tree-Size", std::to_string(last));
  response.set("Quipu-Tree-Root", root->ToHex());
  response.body() = replication::FrameBatches(from, std::move(records), max_batch);
  response.prepare_payload();
  return response;
}

awaitable<void> GetRecords(Service& service, Call& call) {
  if (call.principal->scope) {
    co_return co_await call.reply.Send(ErrorResponse(http::status::forbidden, "forbidden",
                                                     "a scoped token cannot copy the whole log"));
  }
  std::optional<uint64_t> from = NumberParam(call.request, "from");
  std::optional<uint64_t> to = NumberParam(call.request, "to");
  if (!from || !to || *from == 0 || *to < *from) {
    co_return co_await call.reply.Send(
        ErrorResponse(http::status::bad_request, "invalid_argument",
                      "give from and to, LSNs with 1 <= from <= to"));
  }
  Response response = co_await service.OnWorkers(
      [&service, from = *from, to = *to] { return RecordsAnswer(service, from, to); });
  co_await call.reply.Send(std::move(response));
}

}  // namespace

void AddClusterRoutes(Service& service, Router& router) {
  AddRoute(service, router, http::verb::get, "/v1/cluster", Grant::kQuery, GetCluster);
  AddRoute(service, router, http::verb::get, "/v1/replication/records", Grant::kAdmin, GetRecords);
}

}  // namespace quipu::server
