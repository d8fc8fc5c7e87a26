#include "server/service.h"

#include <sys/statvfs.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <utility>
#include <variant>

#include "json/audit.h"
#include "quipu/audit_types.h"

namespace quipu::server {

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Response Unauthorized(AuthFailure failure) {
  Response r = ErrorResponse(http::status::unauthorized, "unauthorized", AuthFailureText(failure));
  r.set(http::field::www_authenticate, failure == AuthFailure::kMissing
                                           ? "Bearer realm=\"quipu\""
                                           : "Bearer realm=\"quipu\", error=\"invalid_token\"");
  return r;
}

Response MissFor(const Router::Miss& miss) {
  if (miss.status == http::status::method_not_allowed) {
    Response r =
        ErrorResponse(miss.status, "method_not_allowed", "this path takes only " + miss.allow);
    r.set(http::field::allow, miss.allow);
    return r;
  }
  if (miss.status == http::status::bad_request) {
    return ErrorResponse(miss.status, "bad_path", "malformed percent-escape in the path");
  }
  return ErrorResponse(http::status::not_found, "not_found", "no such route");
}

}  // namespace

Service::Service(const ServerOptions& options, std::unique_ptr<AuditStore> store, TokenSet tokens,
                 boost::asio::thread_pool* workers, std::unique_ptr<access::AccessLog> access)
    : options_(options),
      store_(std::move(store)),
      access_(std::move(access)),
      acker_syncs_(options.durability.SyncsEveryAppend()),
      acks_(std::make_unique<DurableAcks>(store_.get(), acker_syncs_)),
      workers_(workers),
      tokens_(std::make_shared<const TokenSet>(std::move(tokens))) {
  AddEventRoutes(*this, router_);
  AddReadRoutes(*this, router_);
  AddTreeRoutes(*this, router_);
  AddOpsRoutes(*this, router_);
  AddClusterRoutes(*this, router_);
}

void Service::AttachReplica(std::unique_ptr<replication::Replica> replica) {
  replica_ = std::move(replica);
  replication::Replica* r = replica_.get();
  // Each commit answers the requests it covers at once: the acker waits for
  // the head to move, not for it to pass the newest request (which may take
  // one more transaction).
  commit_acks_ = std::make_unique<DurableAcks>(
      [r](Lsn target) {
        const Lsn head = r->head();
        if (head >= target) return Status::OK();
        return r->AwaitHeadAbove(head, std::chrono::milliseconds(100)).status();
      },
      [r] { return r->head(); });
}

std::optional<Response> Service::RedirectWrite(const Request& request) const {
  if (!replica_ || replica_->role() == replication::Role::kWriter) return std::nullopt;
  std::optional<replication::WriterInfo> writer = replica_->writer();
  if (!writer || writer->node == options_.replica->node || writer->url.empty()) {
    Response r = ErrorResponse(http::status::service_unavailable, "no_writer",
                               "this group has no writer at the moment (an election is under "
                               "way); retry shortly");
    r.set(http::field::retry_after, "1");
    return r;
  }
  Response r =
      ErrorResponse(http::status::temporary_redirect, "not_the_writer",
                    "this node is a follower: writes go to " + writer->node + " at " + writer->url);
  r.set(http::field::location, writer->url + std::string(request.target()));
  r.set("Quipu-Writer", writer->node);
  return r;
}

Service::~Service() { (void)Close(); }

void AddRoute(Service& service, Router& router, http::verb method, std::string pattern,
              std::optional<Grant> grant, ServiceHandler handler) {
  router.Add({method, std::move(pattern), grant,
              [&service, handler](Call& call) { return handler(service, call); }});
}

boost::asio::awaitable<void> Service::Handle(const Request& request, Reply& reply,
                                             std::string_view remote) {
  const auto start = std::chrono::steady_clock::now();
  std::string route = "unmatched";
  std::string token_id;
  auto found = router_.Find(request.method(), PathOf(request.target()));
  if (auto* miss = std::get_if<Router::Miss>(&found)) {
    co_await reply.Send(MissFor(*miss));
  } else {
    auto& match = std::get<Router::Match>(found);
    route = match.route->pattern;
    std::optional<Principal> principal;
    std::optional<Response> refusal;
    if (match.route->grant) {
      auto auth = tokens()->Authenticate(request[http::field::authorization], NowMicros());
      if (auto* failure = std::get_if<AuthFailure>(&auth)) {
        refusal = Unauthorized(*failure);
      } else {
        principal = std::get<Principal>(std::move(auth));
        token_id = principal->token_id;
        if (!principal->Has(*match.route->grant)) {
          refusal = ErrorResponse(
              http::status::forbidden, "forbidden",
              "this token lacks the grant \"" + std::string(GrantName(*match.route->grant)) + "\"");
        }
      }
    }
    if (refusal) {
      co_await reply.Send(std::move(*refusal));
    } else {
      Call call{request, principal ? &*principal : nullptr, std::move(match.params), reply};
      std::string failure;
      try {
        co_await match.route->handler(call);
      } catch (const boost::system::system_error&) {
        throw;  // the connection failed: nothing more can be sent on it
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (!failure.empty()) {
        if (reply.status() != http::status::unknown) throw std::runtime_error(failure);
        co_await reply.Send(
            ErrorResponse(http::status::internal_server_error, "internal", failure));
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const unsigned status = static_cast<unsigned>(reply.status());
  metrics_.Request(request.method_string(), route, status, seconds, request.body().size(),
                   reply.bytes());
  json::OrderedJson line;
  line["time"] = FormatRfc3339Utc(NowMicros());
  line["remote"] = remote;
  line["method"] = request.method_string();
  line["target"] = request.target();
  line["status"] = status;
  line["micros"] = static_cast<int64_t>(seconds * 1e6);
  line["request_bytes"] = request.body().size();
  line["response_bytes"] = reply.bytes();
  if (!token_id.empty()) line["token"] = token_id;
  Log(json::JsonLine(line));
}

void Service::Log(std::string_view line) {
  std::lock_guard<std::mutex> lock(log_mu_);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

Service::QuerySlot::~QuerySlot() {
  if (service_ == nullptr) return;
  std::lock_guard<std::mutex> lock(service_->mu_);
  if (--service_->queries_by_token_[token_] == 0) service_->queries_by_token_.erase(token_);
}

std::optional<Service::QuerySlot> Service::TakeQuerySlot(const Principal& principal) {
  std::lock_guard<std::mutex> lock(mu_);
  unsigned& held = queries_by_token_[principal.token_id];
  if (held >= options_.max_queries_per_token) {
    if (held == 0) queries_by_token_.erase(principal.token_id);
    return std::nullopt;
  }
  ++held;
  return QuerySlot(this, principal.token_id);
}

void Service::NoteWrite(const Status& status) {
  // Refused requests (bad input, conflicts) say nothing about the store.
  const bool store_failure = status.code() == Status::Code::kNoSpace ||
                             status.code() == Status::Code::kIOError ||
                             status.code() == Status::Code::kFailedPrecondition;
  if (!status.ok() && !store_failure) return;
  std::lock_guard<std::mutex> lock(mu_);
  // A poisoned log stays poisoned: only a full disk clears on success.
  if (status.ok() && write_failure_.code() != Status::Code::kNoSpace) return;
  write_failure_ = status;
}

std::string Service::NotReadyReason() const {
  if (stopping.load()) return "shutting down";
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (write_failure_.code() == Status::Code::kNoSpace)
      return "disk full: " + write_failure_.message();
    if (!write_failure_.ok()) return "log failed: " + write_failure_.ToString();
  }
  struct statvfs fs;
  if (statvfs(options_.dir.c_str(), &fs) == 0 && fs.f_bavail == 0) return "disk full";
  if (replica_) {
    const replication::Role role = replica_->role();
    if (role == replication::Role::kFenced) return "fenced: " + replica_->fenced_reason();
    if (role == replication::Role::kSteppedDown) return "stepped down as the writer; restarting";
  }
  return {};
}

void Service::ReloadTokens() {
  Result<TokenSet> loaded = TokenSet::Load(options_.token_file);
  json::OrderedJson line;
  line["time"] = FormatRfc3339Utc(NowMicros());
  line["event"] = "token_reload";
  if (!loaded.ok()) {
    metrics_.TokenReload(false);
    line["ok"] = false;
    line["error"] = loaded.status().ToString();
    line["kept_tokens"] = tokens()->entries().size();
    Log(json::JsonLine(line));
    return;
  }
  line["ok"] = true;
  line["tokens"] = loaded->entries().size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    tokens_ = std::make_shared<const TokenSet>(std::move(*loaded));
  }
  metrics_.TokenReload(true);
  Log(json::JsonLine(line));
}

std::shared_ptr<const TokenSet> Service::tokens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tokens_;
}

Status Service::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  acks_->Stop();
  // Writes already appended are committed (or fail) before the lease goes.
  if (commit_acks_) commit_acks_->Stop();
  if (replica_) replica_->Stop();
  Status s = store_->Close();
  if (access_) {
    Status closed = access_->Close();
    if (s.ok()) s = closed;
  }
  return s;
}

std::optional<Response> Service::RecordRead(const Principal& principal, std::string_view verb,
                                            const json::OrderedJson& shape,
                                            std::optional<uint64_t> rows) {
  if (!access_) return std::nullopt;
  Status s = access_->Record("token:" + principal.token_id, verb, shape, rows);
  if (s.ok()) return std::nullopt;
  Log(json::JsonLine(json::OrderedJson{{"event", "access_log_failed"}, {"error", s.ToString()}}));
  return ErrorResponse(http::status::internal_server_error, "access_log",
                       "this read could not be recorded in the store's access log, so it is not "
                       "answered: " +
                           s.ToString());
}

}  // namespace quipu::server
