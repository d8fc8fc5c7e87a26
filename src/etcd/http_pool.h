// etcd/http_pool.h — HTTP/1.1 POSTs to a set of equivalent servers (the
// members of an etcd cluster), with kept-alive connections and failover.
//
// This is the only etcd file that touches sockets (Boost.Beast over Asio);
// it knows HTTP, not etcd's JSON. Each call talks to one member; when the
// exchange fails at the transport (refused, reset, timed out) or the member
// answers 503/504 (etcd's gateway says so when the member cannot reach a
// leader or its raft request timed out), the call moves on to the next
// member, and the member that answered becomes the first one tried next.
// A request is sent to each member at most once per call, except that a
// kept-alive connection that fails before any answer byte arrived (closed
// or reset: normally one the member dropped while idle, or a member that
// restarted) is replaced by a fresh connection to the same member.
//
// Thread safety: every method may be called concurrently. Each call owns
// its connection for the exchange (taken from an idle list or opened),
// and puts it back afterwards if the answer allows keep-alive.
#ifndef QUIPU_ETCD_HTTP_POOL_H_
#define QUIPU_ETCD_HTTP_POOL_H_

#include <atomic>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quipu/status.h"

namespace quipu::etcd {

struct HttpReply {
  int status = 0;    // HTTP status code
  std::string body;  // the whole body (for a stream: only when status != 200)
  std::vector<std::pair<std::string, std::string>> headers;  // not for a stream
};

struct Connection;  // http_pool.cc

class HttpPool {
 public:
  using Clock = std::chrono::steady_clock;

  // `urls` as in ClientOptions::endpoints ("http://host:port" or
  // "host:port"). InvalidArgument for none, another scheme or no port.
  static Result<std::unique_ptr<HttpPool>> Create(const std::vector<std::string>& urls,
                                                  std::chrono::milliseconds timeout);
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  // POSTs `body` (JSON) to `target` and returns the first non-503/504
  // answer of any member, whatever its status. IOError when no member
  // answered, naming what went wrong at each. Each attempt (connect, send,
  // read the whole answer) is bounded by the timeout given to Create.
  Result<HttpReply> Post(std::string_view target, const std::string& body);

  // GETs `target` (with `bearer` as an Authorization: Bearer token unless
  // empty), as Post otherwise. The replication layer copies records from a
  // peer node with it.
  Result<HttpReply> Get(std::string_view target, std::string_view bearer = {});

  // Called with each complete line of a streamed (chunked) answer, without
  // its '\n'; returns true when it has seen enough.
  using LineFn = std::function<bool(std::string_view line)>;

  // POSTs `body` and passes the lines of a 200 answer to `on_line` until it
  // returns true or `until` passes (both OK; the reply's body is empty),
  // then closes the connection: this is how a watch ends. Connecting and
  // reading the answer's header are bounded by the timeout as in Post; a
  // member that fails before `until` is left for the next one. A non-200
  // answer is returned whole, as by Post.
  Result<HttpReply> PostStream(std::string_view target, const std::string& body,
                               Clock::time_point until, const LineFn& on_line);

 private:
  struct Endpoint;
  HttpPool(std::vector<std::unique_ptr<Endpoint>> endpoints, std::chrono::milliseconds timeout);

  // One attempt at one member: Ok(reply), or a transport failure as a
  // non-OK Status (its message says what happened).
  using Attempt = std::function<Result<HttpReply>(Endpoint&)>;
  // Runs `attempt` on each member in turn from the last one that worked.
  Result<HttpReply> WithFailover(const Attempt& attempt);

  Result<HttpReply> SendOnce(
      Endpoint& endpoint,
      const boost::beast::http::request<boost::beast::http::string_body>& request);
  Result<HttpReply> StreamOnce(Endpoint& endpoint, std::string_view target, const std::string& body,
                               Clock::time_point until, const LineFn& on_line);
  // An idle kept-alive connection to `endpoint`, or nullptr if none.
  std::unique_ptr<Connection> TakeIdle(Endpoint& endpoint);
  void PutIdle(Endpoint& endpoint, std::unique_ptr<Connection> connection);
  // A new connection, connected before `deadline`.
  Result<std::unique_ptr<Connection>> Open(Endpoint& endpoint, Clock::time_point deadline);

  const std::vector<std::unique_ptr<Endpoint>> endpoints_;
  const std::chrono::milliseconds timeout_;
  std::atomic<size_t> preferred_{0};  // index of the member that answered last
};

}  // namespace quipu::etcd

#endif  // QUIPU_ETCD_HTTP_POOL_H_
