// server/routes_reads.cc — rows (query, count, export), entities and the
// schema. Reads run on the worker pool and see only the caller's scope.
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include "json/audit.h"
#include "server/scope.h"
#include "server/service.h"

namespace quipu::server {

namespace {

using boost::asio::awaitable;

// Rows per page when exporting: large enough to amortize the
// query's setup, small enough to keep an export's memory flat.
constexpr uint32_t kScanPage = 1000;

// The request body as JSON; an empty body is {}.
std::variant<json::Json, Response> JsonBody(const Request& request) {
  if (request.body().empty()) return json::Json::object();
  if (!HasContentType(request, "application/json")) {
    return ErrorResponse(http::status::unsupported_media_type, "unsupported_media_type",
                         "this route takes Content-Type: application/json");
  }
  Result<json::Json> body = json::ParseJson(request.body(), "request body");
  if (!body.ok()) return StatusResponse(body.status());
  return std::move(*body);
}

// The query a request asks for, limited to the caller's scope.
std::variant<Query, Response> ReadQuery(Service& service, Call& call, bool paged) {
  auto body = JsonBody(call.request);
  if (auto* refused = std::get_if<Response>(&body)) return std::move(*refused);
  Result<Query> query = json::QueryFromJson(std::get<json::Json>(body), service.store(), paged);
  if (!query.ok()) return StatusResponse(query.status());
  if (auto refused = ScopeQuery(*call.principal, &*query)) return std::move(*refused);
  return std::move(*query);
}

Response TooManyQueries(const Service& service) {
  return ErrorResponse(http::status::too_many_requests, "too_many_queries",
                       "this token already runs " +
                           std::to_string(service.options().max_queries_per_token) +
                           " queries or exports; wait for one to finish");
}

awaitable<void> PostQuery(Service& service, Call& call) {
  auto slot = service.TakeQuerySlot(*call.principal);
  if (!slot) co_return co_await call.reply.Send(TooManyQueries(service));
  auto query = ReadQuery(service, call, /*paged=*/true);
  if (auto* refused = std::get_if<Response>(&query)) co_return co_await call.reply.Send(*refused);
  // A local the lambda refers to, not a by-value capture: GCC 12 destroys
  // the captured copy of a lambda temporary inside co_await twice (a double
  // free of the Query's strings on every request).
  Query q = std::move(std::get<Query>(query));
  Response response = co_await service.OnWorkers([&service, &call, &q] {
    Result<QueryPage> page = service.store().Query(q);
    if (!page.ok()) return StatusResponse(page.status());
    if (auto refused = service.RecordRead(*call.principal, "query", access::QueryPageShape(q),
                                          page->hits.size())) {
      return *refused;
    }
    json::OrderedJson hits = json::OrderedJson::array();
    for (const Hit& hit : page->hits) hits.push_back(json::HitToJson(hit));
    json::OrderedJson out;
    out["hits"] = std::move(hits);
    out["next_cursor"] = nullptr;
    if (!page->next_cursor.empty()) out["next_cursor"] = page->next_cursor;
    return JsonResponse(http::status::ok, out);
  });
  co_await call.reply.Send(std::move(response));
}

awaitable<void> PostCount(Service& service, Call& call) {
  auto slot = service.TakeQuerySlot(*call.principal);
  if (!slot) co_return co_await call.reply.Send(TooManyQueries(service));
  auto query = ReadQuery(service, call, /*paged=*/false);
  if (auto* refused = std::get_if<Response>(&query)) co_return co_await call.reply.Send(*refused);
  Query q = std::move(std::get<Query>(query));  // as in PostQuery
  Response response = co_await service.OnWorkers([&service, &call, &q] {
    Result<uint64_t> count = service.store().Count(q);
    if (!count.ok()) return StatusResponse(count.status());
    if (auto refused = service.RecordRead(*call.principal, "count", access::QueryShape(q), 1)) {
      return *refused;
    }
    return JsonResponse(http::status::ok, json::OrderedJson{{"count", *count}});
  });
  co_await call.reply.Send(std::move(response));
}

// One page of an export as NDJSON, and where the next starts.
struct ExportPage {
  std::string text;
  std::string next_cursor;
  std::string error;  // non-empty: the store failed mid-export
};

// Reads one page of `query` (on a worker). A failure is kept in `error`
// and, for a stream already under way, as an {"error": ...} line in `text`.
ExportPage ReadExportPage(Service& service, const Query& query) {
  ExportPage out;
  Result<QueryPage> rows = service.store().Query(query);
  if (!rows.ok()) {
    out.error = rows.status().ToString();
    json::OrderedJson error;
    error["code"] = "internal";
    error["message"] = out.error;
    json::OrderedJson line;
    line["error"] = std::move(error);
    out.text = json::JsonLine(line);
    return out;
  }
  for (const Hit& hit : rows->hits) out.text += json::JsonLine(json::HitToJson(hit));
  out.next_cursor = std::move(rows->next_cursor);
  return out;
}

awaitable<void> PostExport(Service& service, Call& call) {
  auto slot = service.TakeQuerySlot(*call.principal);
  if (!slot) co_return co_await call.reply.Send(TooManyQueries(service));
  auto read = ReadQuery(service, call, /*paged=*/false);
  if (auto* refused = std::get_if<Response>(&read)) co_return co_await call.reply.Send(*refused);
  Query query = std::get<Query>(std::move(read));
  query.order = Order::kOldestFirst;
  query.limit = kScanPage;
  // Recorded before the first row goes out, so without a count of rows.
  std::optional<Response> unrecorded = co_await service.OnWorkers([&service, &call, &query] {
    return service.RecordRead(*call.principal, "export", access::QueryShape(query), std::nullopt);
  });
  if (unrecorded) co_return co_await call.reply.Send(std::move(*unrecorded));
  // The first page is read before the 200 goes out: an error there is still
  // a status code; later ones can only be reported in the stream.
  ExportPage page =
      co_await service.OnWorkers([&service, &query] { return ReadExportPage(service, query); });
  if (!page.error.empty()) {
    co_return co_await call.reply.Send(
        ErrorResponse(http::status::bad_request, "invalid_argument", page.error));
  }
  http::response_header<> header;
  header.result(http::status::ok);
  header.version(11);
  header.set(http::field::content_type, "application/x-ndjson");
  co_await call.reply.Begin(std::move(header));
  while (true) {
    if (!page.text.empty()) co_await call.reply.Chunk(page.text);
    if (!page.error.empty() || page.next_cursor.empty()) break;
    query.cursor = std::move(page.next_cursor);
    page =
        co_await service.OnWorkers([&service, &query] { return ReadExportPage(service, query); });
  }
  co_await call.reply.End();
}

// A path naming a type the store does not have is a missing thing (404),
// not a malformed request.
std::optional<Response> UnknownType(Service& service, const std::string& type) {
  if (service.store().GetType(type).ok()) return std::nullopt;
  return ErrorResponse(http::status::not_found, "not_found", "no entity type \"" + type + "\"");
}

// The versions of one entity the caller may see.
std::vector<EntityVersion> VisibleVersions(Service& service, const Principal& principal,
                                           std::vector<EntityVersion> versions) {
  if (!principal.scope) return versions;
  std::vector<EntityVersion> visible;
  for (EntityVersion& v : versions) {
    if (VersionInScope(principal, service.store(), v)) visible.push_back(std::move(v));
  }
  return visible;
}

// ?limit=N (1..10000) pages the listing; ?cursor= is the previous page's
// next_cursor. Without limit, every entity (next_cursor null).
awaitable<void> GetEntities(Service& service, Call& call) {
  Response response = co_await service.OnWorkers([&service, &call] {
    const std::string& type = call.params[0];
    if (auto missing = UnknownType(service, type)) return *missing;
    const std::string_view target = call.request.target();
    std::optional<std::string> limit_text = QueryParam(target, "limit");
    std::string next_cursor;
    Result<std::vector<EntityVersion>> latest = Status::NotFound("");
    if (limit_text) {
      size_t limit = 0;
      auto [end, ec] =
          std::from_chars(limit_text->data(), limit_text->data() + limit_text->size(), limit);
      if (ec != std::errc() || end != limit_text->data() + limit_text->size()) {
        return StatusResponse(Status::InvalidArgument("limit must be a number 1..10000"));
      }
      Result<EntityPage> page =
          service.store().ListEntities(type, limit, QueryParam(target, "cursor").value_or(""));
      if (!page.ok()) return StatusResponse(page.status());
      next_cursor = std::move(page->next_cursor);
      latest = std::move(page->entities);
    } else {
      latest = service.store().ListEntities(type);
    }
    if (!latest.ok()) return StatusResponse(latest.status());
    json::OrderedJson entities = json::OrderedJson::array();
    for (const EntityVersion& entity : *latest) {
      if (!call.principal->scope) {
        entities.push_back(json::VersionToJson(entity, /*provenance=*/true));
        continue;
      }
      Result<std::vector<EntityVersion>> all = service.store().EntityHistory(type, entity.id);
      if (!all.ok()) continue;
      std::vector<EntityVersion> visible =
          VisibleVersions(service, *call.principal, std::move(*all));
      if (!visible.empty()) entities.push_back(json::VersionToJson(visible.back(), true));
    }
    if (auto refused = service.RecordRead(*call.principal, "entities",
                                          json::OrderedJson{{"type", type}}, entities.size())) {
      return *refused;
    }
    json::OrderedJson out{{"type", type}, {"entities", entities}, {"next_cursor", nullptr}};
    if (!next_cursor.empty()) out["next_cursor"] = next_cursor;
    return JsonResponse(http::status::ok, out);
  });
  co_await call.reply.Send(std::move(response));
}

awaitable<void> GetHistory(Service& service, Call& call) {
  Response response = co_await service.OnWorkers([&service, &call] {
    const std::string& type = call.params[0];
    const std::string& id = call.params[1];
    if (auto missing = UnknownType(service, type)) return *missing;
    Result<std::vector<EntityVersion>> all = service.store().EntityHistory(type, id);
    if (!all.ok()) return StatusResponse(all.status());
    std::vector<EntityVersion> visible = VisibleVersions(service, *call.principal, std::move(*all));
    if (visible.empty()) return StatusResponse(Status::NotFound("no entity " + type + "/" + id));
    if (auto refused = service.RecordRead(*call.principal, "history",
                                          json::OrderedJson{{"type", type}}, visible.size())) {
      return *refused;
    }
    json::OrderedJson versions = json::OrderedJson::array();
    for (const EntityVersion& v : visible) versions.push_back(json::VersionToJson(v, true));
    return JsonResponse(http::status::ok,
                        json::OrderedJson{{"type", type}, {"id", id}, {"versions", versions}});
  });
  co_await call.reply.Send(std::move(response));
}

json::OrderedJson TypesJson(const AuditStore& store) {
  json::OrderedJson types = json::OrderedJson::array();
  for (const TypeSchema& schema : store.Types()) types.push_back(json::SchemaToJson(schema));
  json::OrderedJson columns = json::OrderedJson::array();
  for (const ColumnSpec& column : store.Columns()) columns.push_back(json::ColumnToJson(column));
  return json::OrderedJson{{"types", types}, {"columns", columns}};
}

awaitable<void> GetTypes(Service& service, Call& call) {
  Response response = co_await service.OnWorkers([&service, &call] {
    json::OrderedJson types = TypesJson(service.store());
    if (auto refused = service.RecordRead(*call.principal, "types", json::OrderedJson::object(),
                                          types["types"].size() + types["columns"].size())) {
      return *refused;
    }
    return JsonResponse(http::status::ok, types);
  });
  co_await call.reply.Send(std::move(response));
}

// A replicated writer answers a schema change once the group committed it
// (the change is durable here already); the error response if it did not.
awaitable<std::optional<Response>> AwaitCommitted(Service& service) {
  if (service.commit_acks() == nullptr) co_return std::nullopt;
  service.replica()->Appended();
  Status s = co_await service.commit_acks()->AsyncWait(service.store().log()->LastLsn(),
                                                       boost::asio::use_awaitable);
  if (s.ok()) co_return std::nullopt;
  Response r =
      ErrorResponse(http::status::service_unavailable, "not_committed",
                    "the group did not commit this change (" + s.message() + "); retry it");
  r.set(http::field::retry_after, "1");
  co_return r;
}

awaitable<void> PostType(Service& service, Call& call) {
  if (auto elsewhere = service.RedirectWrite(call.request)) {
    co_return co_await call.reply.Send(std::move(*elsewhere));
  }
  auto body = JsonBody(call.request);
  if (auto* refused = std::get_if<Response>(&body)) co_return co_await call.reply.Send(*refused);
  Result<TypeSchema> schema = json::SchemaFromJson(std::get<json::Json>(body));
  if (!schema.ok()) co_return co_await call.reply.Send(StatusResponse(schema.status()));
  // A schema change is durable before DefineType returns: one fdatasync,
  // rare enough to take on a worker rather than hold an I/O thread.
  Response response = co_await service.OnWorkers([&service, &schema] {
    Status s = service.store().DefineType(*schema);
    service.NoteWrite(s);
    if (!s.ok()) return StatusResponse(s);
    Result<TypeSchema> now = service.store().GetType(schema->name);
    if (!now.ok()) return StatusResponse(now.status());
    return JsonResponse(http::status::ok, json::OrderedJson{{"type", json::SchemaToJson(*now)}});
  });
  if (response.result() == http::status::ok) {
    if (auto failed = co_await AwaitCommitted(service)) response = std::move(*failed);
  }
  co_await call.reply.Send(std::move(response));
}

awaitable<void> PostColumn(Service& service, Call& call) {
  if (auto elsewhere = service.RedirectWrite(call.request)) {
    co_return co_await call.reply.Send(std::move(*elsewhere));
  }
  auto body = JsonBody(call.request);
  if (auto* refused = std::get_if<Response>(&body)) co_return co_await call.reply.Send(*refused);
  Result<ColumnSpec> column = json::ColumnFromJson(std::get<json::Json>(body));
  if (!column.ok()) co_return co_await call.reply.Send(StatusResponse(column.status()));
  Response response = co_await service.OnWorkers([&service, &column] {
    Status s = service.store().RegisterColumn(*column);
    service.NoteWrite(s);
    if (!s.ok()) return StatusResponse(s);
    return JsonResponse(http::status::ok,
                        json::OrderedJson{{"column", json::ColumnToJson(*column)}});
  });
  if (response.result() == http::status::ok) {
    if (auto failed = co_await AwaitCommitted(service)) response = std::move(*failed);
  }
  co_await call.reply.Send(std::move(response));
}

}  // namespace

void AddReadRoutes(Service& service, Router& router) {
  AddRoute(service, router, http::verb::post, "/v1/query", Grant::kQuery, PostQuery);
  AddRoute(service, router, http::verb::post, "/v1/count", Grant::kQuery, PostCount);
  AddRoute(service, router, http::verb::post, "/v1/export", Grant::kQuery, PostExport);
  AddRoute(service, router, http::verb::get, "/v1/entities/{type}", Grant::kQuery, GetEntities);
  AddRoute(service, router, http::verb::get, "/v1/entities/{type}/{id}/history", Grant::kQuery,
           GetHistory);
  AddRoute(service, router, http::verb::get, "/v1/types", Grant::kQuery, GetTypes);
  AddRoute(service, router, http::verb::post, "/v1/types", Grant::kAdmin, PostType);
  AddRoute(service, router, http::verb::post, "/v1/columns", Grant::kAdmin, PostColumn);
}

}  // namespace quipu::server
