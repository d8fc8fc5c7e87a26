// server/routes_tree.cc — the Merkle tree over HTTP: roots, inclusion and
// consistency proofs (the shapes `quipu verify-proof` checks offline),
// checkpoints, and the admin routes that sign a checkpoint or verify the
// whole store. Everything runs on the worker pool: proofs read the spine,
// verification reads every record, and neither may hold an I/O thread.
#include <charconv>
#include <optional>
#include <string>
#include <utility>

#include "json/audit.h"
#include "json/tree.h"
#include "quipu/checkpoint.h"
#include "quipu/env.h"
#include "quipu/log.h"
#include "quipu/tree.h"
#include "server/scope.h"
#include "server/service.h"

namespace quipu::server {

namespace {

using boost::asio::awaitable;

// A decimal number from a path segment or query value.
std::optional<uint64_t> ParseU64(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Query parameter `name` as a number: nullopt if absent; error if malformed.
std::variant<std::optional<uint64_t>, Response> SizeParam(const Request& request,
                                                          std::string_view name) {
  std::optional<std::string> text = QueryParam(request.target(), name);
  if (!text) return std::optional<uint64_t>();
  std::optional<uint64_t> value = ParseU64(*text);
  if (!value) {
    return ErrorResponse(http::status::bad_request, "invalid_argument",
                         std::string(name) + " must be a non-negative integer");
  }
  return value;
}

LogTree* TreeOf(Service& service) { return service.store().log()->tree(); }

// The tree hashes records in the background; a proof for a record it has
// not reached yet waits for it rather than failing.
Status CatchUpTo(LogTree* tree, uint64_t size) {
  if (tree->Size() >= size) return Status::OK();
  return tree->CatchUp();
}

awaitable<void> GetRoot(Service& service, Call& call) {
  auto size = SizeParam(call.request, "size");
  if (auto* bad = std::get_if<Response>(&size)) co_return co_await call.reply.Send(*bad);
  Response response = co_await service.OnWorkers([&service, &call, size = std::get<0>(size)] {
    LogTree* tree = TreeOf(service);
    Result<merkle::Hash> root = tree->Root(size);
    if (!root.ok()) return StatusResponse(root.status());
    if (auto refused =
            service.RecordRead(*call.principal, "root", json::OrderedJson::object(), 1)) {
      return *refused;
    }
    return JsonResponse(
        http::status::ok,
        json::OrderedJson{{"tree_size", size.value_or(tree->Size())}, {"root", root->ToHex()}});
  });
  co_await call.reply.Send(std::move(response));
}

awaitable<void> GetInclusion(Service& service, Call& call) {
  std::optional<uint64_t> log_id = ParseU64(call.params[0]);
  if (!log_id) {
    co_return co_await call.reply.Send(
        ErrorResponse(http::status::bad_request, "invalid_argument", "log_id must be a number"));
  }
  auto size = SizeParam(call.request, "size");
  if (auto* bad = std::get_if<Response>(&size)) co_return co_await call.reply.Send(*bad);
  Response response =
      co_await service.OnWorkers([&service, &call, id = *log_id, size = std::get<0>(size)] {
        // Retention dropped it: say so, rather than "no such row". Asked again
        // after a miss, since a purge may land between the two reads.
        auto purged = [&service, id] { return id > 0 && id <= service.store().PurgedLogIds(); };
        auto gone = [id] {
          return ErrorResponse(http::status::gone, "purged",
                               "log row " + std::to_string(id) + " was purged by retention");
        };
        if (purged()) return gone();
        // A row outside the caller's scope answers as a missing one.
        Result<Hit> row = service.store().GetRow(id);
        if (!row.ok() && purged()) return gone();
        if (!row.ok() || !RowInScope(*call.principal, *row)) {
          return StatusResponse(Status::NotFound("no log row " + std::to_string(id)));
        }
        LogTree* tree = TreeOf(service);
        Status caught_up = CatchUpTo(tree, size.value_or(row->lsn));
        if (!caught_up.ok()) return StatusResponse(caught_up);
        Result<InclusionProof> proof = tree->ProveInclusion(row->lsn, size);
        if (!proof.ok()) return StatusResponse(proof.status());
        if (auto refused = service.RecordRead(*call.principal, "prove",
                                              json::OrderedJson{{"by", "log_id"}}, 1)) {
          return *refused;
        }
        json::OrderedJson out{{"log_id", id}, {"lsn", row->lsn}};
        out.update(json::InclusionProofToJson(*proof));
        return JsonResponse(http::status::ok, out);
      });
  co_await call.reply.Send(std::move(response));
}

awaitable<void> GetConsistency(Service& service, Call& call) {
  auto from = SizeParam(call.request, "from");
  auto to = SizeParam(call.request, "to");
  if (auto* bad = std::get_if<Response>(&from)) co_return co_await call.reply.Send(*bad);
  if (auto* bad = std::get_if<Response>(&to)) co_return co_await call.reply.Send(*bad);
  if (!std::get<0>(from)) {
    co_return co_await call.reply.Send(ErrorResponse(http::status::bad_request, "invalid_argument",
                                                     "from (the older tree size) is required"));
  }
  Response response = co_await service.OnWorkers([&service, &call, old_size = *std::get<0>(from),
                                                  new_size = std::get<0>(to)] {
    Result<ConsistencyProof> proof = TreeOf(service)->ProveConsistency(old_size, new_size);
    if (!proof.ok()) return StatusResponse(proof.status());
    if (auto refused =
            service.RecordRead(*call.principal, "consistency", json::OrderedJson::object(), 1)) {
      return *refused;
    }
    return JsonResponse(http::status::ok, json::ConsistencyProofToJson(*proof));
  });
  co_await call.reply.Send(std::move(response));
}

awaitable<void> GetCheckpoints(Service& service, Call& call) {
  Response response = co_await service.OnWorkers([&service, &call] {
    Result<std::vector<Checkpoint>> all = ReadCheckpoints(Env::Default(), service.options().dir);
    if (!all.ok()) return StatusResponse(all.status());
    if (auto refused = service.RecordRead(*call.principal, "checkpoints",
                                          json::OrderedJson::object(), all->size())) {
      return *refused;
    }
    json::OrderedJson list = json::OrderedJson::array();
    for (const Checkpoint& cp : *all) {
      list.push_back(json::OrderedJson::parse(CheckpointToJson(cp)));
    }
    return JsonResponse(http::status::ok, json::OrderedJson{{"checkpoints", list}});
  });
  co_await call.reply.Send(std::move(response));
}

awaitable<void> PostCheckpoint(Service& service, Call& call) {
  if (!service.options().signing_key) {
    co_return co_await call.reply.Send(
        ErrorResponse(http::status::conflict, "no_signing_key",
                      "this server has no checkpoint key; start it with --signing-key"));
  }
  Response response = co_await service.OnWorkers([&service] {
    Result<Checkpoint> cp = TreeOf(service)->WriteCheckpoint();
    if (!cp.ok()) return StatusResponse(cp.status());
    return JsonResponse(http::status::ok, json::OrderedJson::parse(CheckpointToJson(*cp)));
  });
  co_await call.reply.Send(std::move(response));
}

awaitable<void> PostVerify(Service& service, Call& call) {
  if (service.verifying.exchange(true)) {
    co_return co_await call.reply.Send(ErrorResponse(http::status::conflict, "verify_running",
                                                     "a verification is already running"));
  }
  Response response = co_await service.OnWorkers([&service] {
    // Reads the files beside the writer: appends go on while it runs.
    Result<VerifyReport> report = TreeOf(service)->VerifyIntegrity(VerifyOptions{});
    service.verifying.store(false);
    return JsonResponse(http::status::ok, report.ok() ? json::VerifyReportToJson(*report)
                                                      : json::VerifyFailureToJson(report.status()));
  });
  co_await call.reply.Send(std::move(response));
}

}  // namespace

void AddTreeRoutes(Service& service, Router& router) {
  AddRoute(service, router, http::verb::get, "/v1/root", Grant::kQuery, GetRoot);
  AddRoute(service, router, http::verb::get, "/v1/proof/inclusion/{log_id}", Grant::kQuery,
           GetInclusion);
  AddRoute(service, router, http::verb::get, "/v1/proof/consistency", Grant::kQuery,
           GetConsistency);
  AddRoute(service, router, http::verb::get, "/v1/checkpoints", Grant::kQuery, GetCheckpoints);
  AddRoute(service, router, http::verb::post, "/v1/admin/checkpoint", Grant::kAdmin,
           PostCheckpoint);
  AddRoute(service, router, http::verb::post, "/v1/admin/verify", Grant::kAdmin, PostVerify);
}

}  // namespace quipu::server
