#include "etcd/http_pool.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <utility>

namespace quipu::etcd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Idle connections kept per member: enough for a few concurrent callers;
// a burst above it opens more and closes the extras afterwards.
constexpr size_t kMaxIdlePerEndpoint = 8;

}  // namespace

// One connection and the io_context that runs its operations. Beast's
// stream timeouts apply only to asynchronous operations, so every step
// starts one and runs this context until it completes (see Run); the
// connection is used by one thread at a time, so the context needs no
// locking. `context` is declared first so that it outlives the stream.
struct Connection {
  asio::io_context context{1};
  beast::tcp_stream stream{context};
  beast::flat_buffer buffer;
};

struct HttpPool::Endpoint {
  std::string host;
  std::string port;
  std::string name;  // "host:port": the Host header and our messages
  std::mutex mu;
  std::vector<std::unique_ptr<Connection>> idle;  // guarded by mu
};

namespace {

// Starts one asynchronous operation through `start` (given the completion
// handler) and runs the connection's context until it has completed; the
// stream's expiry, set before, bounds it. Returns the operation's error.
template <typename Start>
beast::error_code Run(Connection& c, Start&& start) {
  beast::error_code result = asio::error::would_block;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  c.context.restart();
  c.context.run();
  return result;
}

std::string Describe(const beast::error_code& ec) {
  return ec == beast::error::timeout ? std::string("timed out") : ec.message();
}

// What a peer that closed a kept-alive connection looks like to the next
// request on it.
bool IsClosedByPeer(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

http::request<http::string_body> MakeRequest(const std::string& host, http::verb verb,
                                             std::string_view target, const std::string& body,
                                             std::string_view bearer) {
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, host);
  if (verb == http::verb::post) request.set(http::field::content_type, "application/json");
  if (!bearer.empty()) request.set(http::field::authorization, "Bearer " + std::string(bearer));
  request.keep_alive(true);
  request.body() = body;
  request.prepare_payload();
  return request;
}

// Splits "http://host:port" (scheme optional, a trailing '/' allowed).
Status ParseUrl(std::string_view url, std::string* host, std::string* port) {
  const std::string quoted = "etcd endpoint \"" + std::string(url) + "\"";
  std::string_view rest = url;
  if (size_t scheme = rest.find("://"); scheme != std::string_view::npos) {
    if (rest.substr(0, scheme) != "http") {
      return Status::InvalidArgument(quoted + ": only http:// is supported");
    }
    rest.remove_prefix(scheme + 3);
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  if (rest.find('/') != std::string_view::npos || colon == std::string_view::npos || colon == 0 ||
      colon + 1 == rest.size()) {
    return Status::InvalidArgument(quoted + ": expected http://host:port");
  }
  std::string_view digits = rest.substr(colon + 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return Status::InvalidArgument(quoted + ": the port is not a number");
  }
  std::string_view name = rest.substr(0, colon);
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {  // [::1]
    name = name.substr(1, name.size() - 2);
  }
  *host = std::string(name);
  *port = std::string(digits);
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<HttpPool>> HttpPool::Create(const std::vector<std::string>& urls,
                                                   std::chrono::milliseconds timeout) {
  if (urls.empty()) return Status::InvalidArgument("etcd: no endpoints given");
  if (timeout <= std::chrono::milliseconds::zero()) {
    return Status::InvalidArgument("etcd: the timeout must be positive");
  }
  std::vector<std::unique_ptr<Endpoint>> endpoints;
  for (const std::string& url : urls) {
    auto endpoint = std::make_unique<Endpoint>();
    QUIPU_RETURN_IF_ERROR(ParseUrl(url, &endpoint->host, &endpoint->port));
    endpoint->name = endpoint->host + ":" + endpoint->port;
    endpoints.push_back(std::move(endpoint));
  }
  return std::unique_ptr<HttpPool>(new HttpPool(std::move(endpoints), timeout));
}

HttpPool::HttpPool(std::vector<std::unique_ptr<Endpoint>> endpoints,
                   std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {}

HttpPool::~HttpPool() = default;

Result<HttpReply> HttpPool::Post(std::string_view target, const std::string& body) {
  return WithFailover([&](Endpoint& endpoint) {
    return SendOnce(endpoint, MakeRequest(endpoint.name, http::verb::post, target, body, {}));
  });
}

Result<HttpReply> HttpPool::Get(std::string_view target, std::string_view bearer) {
  return WithFailover([&](Endpoint& endpoint) {
    return SendOnce(endpoint, MakeRequest(endpoint.name, http::verb::get, target, {}, bearer));
  });
}

Result<HttpReply> HttpPool::PostStream(std::string_view target, const std::string& body,
                                       Clock::time_point until, const LineFn& on_line) {
  return WithFailover(
      [&](Endpoint& endpoint) { return StreamOnce(endpoint, target, body, until, on_line); });
}

Result<HttpReply> HttpPool::WithFailover(const Attempt& attempt) {
  const size_t n = endpoints_.size();
  const size_t first = preferred_.load(std::memory_order_relaxed) % n;
  std::string failures;
  for (size_t i = 0; i < n; ++i) {
    const size_t index = (first + i) % n;
    Endpoint& endpoint = *endpoints_[index];
    Result<HttpReply> reply = attempt(endpoint);
    std::string failure;
    if (!reply.ok()) {
      failure = reply.status().message();
    } else if (reply->status == 503 || reply->status == 504) {
      // The gateway's Unavailable / DeadlineExceeded: this member cannot
      // serve now (no leader, raft timeout); another one may.
      failure = "HTTP " + std::to_string(reply->status) + " " + reply->body;
      while (!failure.empty() && failure.back() == '\n') failure.pop_back();
    } else {
      preferred_.store(index, std::memory_order_relaxed);
      return reply;
    }
    failures += (failures.empty() ? "" : "; ") + endpoint.name + ": " + failure;
  }
  return Status::IOError("no etcd member answered (" + failures + ")");
}

Result<HttpReply> HttpPool::SendOnce(Endpoint& endpoint,
                                     const http::request<http::string_body>& request) {
  const Clock::time_point deadline = Clock::now() + timeout_;
  for (;;) {
    std::unique_ptr<Connection> c = TakeIdle(endpoint);
    const bool reused = c != nullptr;
    if (!reused) {
      Result<std::unique_ptr<Connection>> opened = Open(endpoint, deadline);
      if (!opened.ok()) return opened.status();
      c = std::move(opened).value();
    }
    c->stream.expires_at(deadline);
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);  // a range may be large; etcd bounds it
    beast::error_code ec =
        Run(*c, [&](auto handler) { http::async_write(c->stream, request, std::move(handler)); });
    if (!ec) {
      ec = Run(*c, [&](auto handler) {
        http::async_read(c->stream, c->buffer, parser, std::move(handler));
      });
    }
    if (ec) {
      // The member closed this idle connection (it restarted, or dropped
      // idle ones): it did not answer on it, so take a fresh one.
      if (reused && !parser.got_some() && IsClosedByPeer(ec)) continue;
      return Status::IOError(Describe(ec));
    }
    HttpReply reply{
        static_cast<int>(parser.get().result_int()), std::move(parser.get().body()), {}};
    for (const auto& field : parser.get()) {
      reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    if (parser.get().keep_alive()) PutIdle(endpoint, std::move(c));
    return reply;
  }
}

Result<HttpReply> HttpPool::StreamOnce(Endpoint& endpoint, std::string_view target,
                                       const std::string& body, Clock::time_point until,
                                       const LineFn& on_line) {
  const Clock::time_point deadline = Clock::now() + timeout_;
  // A stream is ended by closing its connection, so it never uses a pooled one.
  Result<std::unique_ptr<Connection>> opened = Open(endpoint, deadline);
  if (!opened.ok()) return opened.status();
  Connection& c = **opened;
  const auto request = MakeRequest(endpoint.name, http::verb::post, target, body, {});
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  c.stream.expires_at(deadline);
  beast::error_code ec =
      Run(c, [&](auto handler) { http::async_write(c.stream, request, std::move(handler)); });
  if (!ec) {
    ec = Run(c, [&](auto handler) {
      http::async_read_header(c.stream, c.buffer, parser, std::move(handler));
    });
  }
  if (!ec && parser.get().result_int() != 200) {
    ec = Run(
        c, [&](auto handler) { http::async_read(c.stream, c.buffer, parser, std::move(handler)); });
    if (!ec) return HttpReply{static_cast<int>(parser.get().result_int()), parser.get().body(), {}};
  }
  if (ec) return Status::IOError(Describe(ec));

  // The body grows as chunks arrive; lines handed out are erased from it.
  std::string& data = parser.get().body();
  c.stream.expires_at(std::max(until, Clock::now()));
  for (;;) {
    size_t start = 0;
    for (size_t nl; (nl = data.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (on_line(std::string_view(data).substr(start, nl - start))) return HttpReply{200, {}, {}};
    }
    data.erase(0, start);
    if (parser.is_done()) {
      if (!data.empty() && on_line(data)) return HttpReply{200, {}, {}};
      return Status::IOError("the stream ended");
    }
    ec = Run(c, [&](auto handler) {
      http::async_read_some(c.stream, c.buffer, parser, std::move(handler));
    });
    if (ec == beast::error::timeout) return HttpReply{200, {}, {}};  // `until` passed
    if (ec) return Status::IOError(Describe(ec));
  }
}

std::unique_ptr<Connection> HttpPool::TakeIdle(Endpoint& endpoint) {
  std::lock_guard<std::mutex> lock(endpoint.mu);
  if (endpoint.idle.empty()) return nullptr;
  std::unique_ptr<Connection> c = std::move(endpoint.idle.back());
  endpoint.idle.pop_back();
  return c;
}

void HttpPool::PutIdle(Endpoint& endpoint, std::unique_ptr<Connection> connection) {
  std::lock_guard<std::mutex> lock(endpoint.mu);
  if (endpoint.idle.size() < kMaxIdlePerEndpoint) endpoint.idle.push_back(std::move(connection));
}

Result<std::unique_ptr<Connection>> HttpPool::Open(Endpoint& endpoint, Clock::time_point deadline) {
  auto c = std::make_unique<Connection>();
  beast::error_code ec;
  // Numeric hosts (the usual case) resolve without asking DNS.
  tcp::resolver resolver(c->context);
  const auto addresses = resolver.resolve(endpoint.host, endpoint.port, ec);
  if (ec) return Status::IOError("resolve: " + ec.message());
  c->stream.expires_at(deadline);
  ec = Run(*c, [&](auto handler) { c->stream.async_connect(addresses, std::move(handler)); });
  if (ec) return Status::IOError("connect: " + Describe(ec));
  // Each request is one small write awaited by its caller: never hold it
  // back waiting for an ACK (Nagle).
  c->stream.socket().set_option(tcp::no_delay(true), ec);
  return c;
}

}  // namespace quipu::etcd
