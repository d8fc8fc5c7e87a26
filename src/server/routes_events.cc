// server/routes_events.cc — POST /v1/events and /v1/events:batch: events
// appended without waiting, answered once durable (server/acks.h).
#include <boost/asio/use_awaitable.hpp>
#include <string>
#include <utility>
#include <vector>

#include "json/audit.h"
#include "server/scope.h"
#include "server/service.h"

namespace quipu::server {

namespace {

using boost::asio::awaitable;
using boost::asio::use_awaitable;

Response TooBusy(size_t pending) {
  Response r = ErrorResponse(http::status::service_unavailable, "busy",
                             std::to_string(pending) + " requests are waiting for durability");
  r.set(http::field::retry_after, "1");
  return r;
}

// When a write is answered (?ack=): once appended (202), once durable here
// ("local"), or once durable here and, in a replicated group, committed by
// the group ("durable", the default; the same as "local" on a single node).
enum class Ack { kAppended, kLocal, kDurable };

std::optional<Ack> AckOf(const Request& request) {
  std::optional<std::string> ack = QueryParam(request.target(), "ack");
  if (!ack || *ack == "durable") return Ack::kDurable;
  if (*ack == "local") return Ack::kLocal;
  if (*ack == "appended") return Ack::kAppended;
  return std::nullopt;
}

constexpr std::string_view kBadAck = "ack must be \"durable\", \"local\" or \"appended\"";

// The Idempotency-Key header joins the event; a body that names another
// key is refused rather than guessed at.
std::optional<Response> TakeHeaderKey(const Request& request, Event* event) {
  auto header = request.find("Idempotency-Key");
  if (header == request.end()) return std::nullopt;
  std::string key(header->value());
  if (key.empty()) {
    return ErrorResponse(http::status::bad_request, "invalid_argument",
                         "Idempotency-Key is empty; give 1 to 128 visible ASCII characters");
  }
  if (!event->idempotency_key.empty() && event->idempotency_key != key) {
    return ErrorResponse(http::status::bad_request, "invalid_argument",
                         "the Idempotency-Key header and the body's \"idempotency_key\" differ");
  }
  event->idempotency_key = std::move(key);
  return std::nullopt;
}

// An event from one JSON text, scoped to the caller.
std::variant<Event, Response> ReadEvent(Service& service, const Principal& principal,
                                        std::string_view text, std::string_view what) {
  Result<json::Json> body = json::ParseJson(text, what);
  if (!body.ok()) return StatusResponse(body.status());
  Result<Event> event = json::EventFromJson(*body, service.store());
  if (!event.ok()) return StatusResponse(event.status());
  if (auto refused = ScopeEvent(principal, &*event)) return std::move(*refused);
  return std::move(*event);
}

json::OrderedJson AckJson(const EmitResult& result, bool durable) {
  json::OrderedJson out;
  out["log_id"] = result.log_id;
  out["lsn"] = result.lsn;
  out["durable"] = durable;
  out["duplicate"] = result.duplicate;
  return out;
}

// Waits until `lsn` is durable (and, for Ack::kDurable in a replicated
// group, committed by the group); the error response if it cannot be.
awaitable<std::optional<Response>> AwaitDurable(Service& service, Lsn lsn, Ack ack) {
  Status s = co_await service.acks().AsyncWait(lsn, use_awaitable);
  service.NoteWrite(s);
  if (!s.ok()) co_return StatusResponse(s);
  if (ack == Ack::kDurable && service.commit_acks() != nullptr) {
    s = co_await service.commit_acks()->AsyncWait(lsn, use_awaitable);
    if (!s.ok()) {
      Response r = ErrorResponse(http::status::service_unavailable, "not_committed",
                                 "the group did not commit this write (" + s.message() +
                                     "); retry it with the same Idempotency-Key");
      r.set(http::field::retry_after, "1");
      co_return r;
    }
  }
  co_return std::nullopt;
}

// Wakes a replicated writer's committer once something was appended.
void NoteAppended(Service& service) {
  if (service.replica() != nullptr) service.replica()->Appended();
}

awaitable<void> PostEvent(Service& service, Call& call) {
  const Request& request = call.request;
  if (!HasContentType(request, "application/json")) {
    co_return co_await call.reply.Send(
        ErrorResponse(http::status::unsupported_media_type, "unsupported_media_type",
                      "POST /v1/events takes Content-Type: application/json"));
  }
  std::optional<Ack> ack = AckOf(request);
  if (!ack) {
    co_return co_await call.reply.Send(
        ErrorResponse(http::status::bad_request, "invalid_argument", kBadAck));
  }
  if (auto elsewhere = service.RedirectWrite(request)) {
    co_return co_await call.reply.Send(std::move(*elsewhere));
  }
  auto read = ReadEvent(service, *call.principal, request.body(), "request body");
  if (auto* refused = std::get_if<Response>(&read)) co_return co_await call.reply.Send(*refused);
  Event& event = std::get<Event>(read);
  if (auto refused = TakeHeaderKey(request, &event)) co_return co_await call.reply.Send(*refused);
  if (size_t pending = service.acks().Pending(); pending >= service.options().max_pending_acks) {
    co_return co_await call.reply.Send(TooBusy(pending));
  }
  Result<EmitResult> emitted = service.store().Emit(event, service.emit_durability());
  service.NoteWrite(emitted.status());
  if (!emitted.ok()) co_return co_await call.reply.Send(StatusResponse(emitted.status()));
  NoteAppended(service);
  if (!emitted->duplicate) service.metrics().EventsAppended(1);
  if (*ack == Ack::kAppended || !service.acks_durable()) {
    co_return co_await call.reply.Send(
        JsonResponse(http::status::accepted, AckJson(*emitted, false)));
  }
  if (auto failed = co_await AwaitDurable(service, emitted->lsn, *ack)) {
    co_return co_await call.reply.Send(std::move(*failed));
  }
  if (!emitted->duplicate) service.metrics().EventsDurable(1);
  co_await call.reply.Send(JsonResponse(http::status::ok, AckJson(*emitted, true)));
}

std::vector<std::string_view> NonEmptyLines(std::string_view body) {
  std::vector<std::string_view> lines;
  while (!body.empty()) {
    size_t end = body.find('\n');
    std::string_view line = body.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
    if (end == std::string_view::npos) break;
    body.remove_prefix(end + 1);
  }
  return lines;
}

json::OrderedJson ErrorJson(const Response& refused) {
  // The per-line error is the error object of the response it would have had.
  Result<json::Json> body = json::ParseJson(refused.body(), "error");
  json::OrderedJson error;
  if (body.ok() && body->contains("error")) {
    error["code"] = (*body)["error"]["code"];
    error["message"] = (*body)["error"]["message"];
  }
  json::OrderedJson out;
  out["error"] = std::move(error);
  return out;
}

json::OrderedJson BatchAckJson(const EmitResult& result) {
  json::OrderedJson out;
  out["log_id"] = result.log_id;
  out["lsn"] = result.lsn;
  out["duplicate"] = result.duplicate;
  return out;
}

awaitable<void> PostBatch(Service& service, Call& call) {
  const Request& request = call.request;
  if (!HasContentType(request, "application/x-ndjson")) {
    co_return co_await call.reply.Send(ErrorResponse(
        http::status::unsupported_media_type, "unsupported_media_type",
        "POST /v1/events:batch takes Content-Type: application/x-ndjson (one event per line)"));
  }
  std::optional<Ack> ack = AckOf(request);
  std::optional<std::string> atomic_param = QueryParam(request.target(), "atomic");
  if (!ack || (atomic_param && *atomic_param != "true" && *atomic_param != "false")) {
    co_return co_await call.reply.Send(
        ErrorResponse(http::status::bad_request, "invalid_argument",
                      std::string(kBadAck) + "; atomic \"true\" or \"false\""));
  }
  if (auto elsewhere = service.RedirectWrite(request)) {
    co_return co_await call.reply.Send(std::move(*elsewhere));
  }
  const bool atomic = atomic_param == "true";
  std::vector<std::string_view> lines = NonEmptyLines(request.body());
  if (lines.size() > service.options().max_batch_events) {
    co_return co_await call.reply.Send(
        ErrorResponse(http::status::payload_too_large, "too_many_events",
                      std::to_string(lines.size()) + " events; a batch takes at most " +
                          std::to_string(service.options().max_batch_events)));
  }
  if (size_t pending = service.acks().Pending(); pending >= service.options().max_pending_acks) {
    co_return co_await call.reply.Send(TooBusy(pending));
  }
  // Read every line first: with atomic=true one bad line refuses the batch
  // before anything is written.
  std::vector<std::variant<Event, Response>> events;
  events.reserve(lines.size());
  size_t bad = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    events.push_back(
        ReadEvent(service, *call.principal, lines[i], "line " + std::to_string(i + 1)));
    if (auto* event = std::get_if<Event>(&events.back()); event != nullptr && atomic) {
      Status checked = service.store().CheckEvent(*event);
      if (!checked.ok())
        events.back() = StatusResponse(checked.WithContext("line " + std::to_string(i + 1)));
    }
    if (std::holds_alternative<Response>(events.back())) ++bad;
  }
  json::OrderedJson results = json::OrderedJson::array();
  size_t written = 0, failed = 0;
  Lsn last = 0;
  if (atomic && bad > 0) {
    // Nothing is written; the answer is the first bad line's error.
    for (size_t i = 0; i < events.size(); ++i) {
      auto* refused = std::get_if<Response>(&events[i]);
      if (refused == nullptr) continue;
      json::OrderedJson error = ErrorJson(*refused)["error"];
      std::string message = error["message"].get<std::string>();
      const std::string line = "line " + std::to_string(i + 1);
      if (message.rfind(line, 0) != 0) message = line + ": " + message;
      message += " (" + std::to_string(bad) + " of " + std::to_string(events.size()) +
                 " lines refused; nothing was written)";
      co_return co_await call.reply.Send(
          ErrorResponse(refused->result(), error["code"].get<std::string>(), message));
    }
  }
  for (auto& item : events) {
    if (auto* refused = std::get_if<Response>(&item)) {
      results.push_back(ErrorJson(*refused));
      ++failed;
      continue;
    }
    Result<EmitResult> emitted =
        service.store().Emit(std::get<Event>(item), service.emit_durability());
    service.NoteWrite(emitted.status());
    if (!emitted.ok()) {
      results.push_back(ErrorJson(StatusResponse(emitted.status())));
      ++failed;
      continue;
    }
    ++written;
    last = std::max(last, emitted->lsn);
    results.push_back(BatchAckJson(*emitted));
  }
  if (written > 0) NoteAppended(service);
  service.metrics().EventsAppended(written);
  const bool durable_mode = *ack != Ack::kAppended && service.acks_durable();
  if (durable_mode && last > 0) {
    if (auto failure = co_await AwaitDurable(service, last, *ack)) {
      co_return co_await call.reply.Send(std::move(*failure));
    }
    service.metrics().EventsDurable(written);
  }
  json::OrderedJson out;
  out["durable"] = durable_mode;
  out["written"] = written;
  out["failed"] = failed;
  out["results"] = std::move(results);
  co_await call.reply.Send(
      JsonResponse(durable_mode ? http::status::ok : http::status::accepted, out));
}

}  // namespace

void AddEventRoutes(Service& service, Router& router) {
  AddRoute(service, router, http::verb::post, "/v1/events", Grant::kEmit, PostEvent);
  AddRoute(service, router, http::verb::post, "/v1/events:batch", Grant::kEmit, PostBatch);
}

}  // namespace quipu::server
