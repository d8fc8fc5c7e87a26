#include "server/connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <string>
#include <utility>

namespace quipu::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

constexpr auto kTuple = asio::as_tuple(use_awaitable);

uint64_t Connections::Add(std::function<void()> close_if_idle) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.emplace(++next_id_, std::move(close_if_idle));
  return next_id_;
}

void Connections::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.erase(id);
}

void Connections::CloseIdle() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, close] : open_) close();
}

size_t Connections::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_.size();
}

namespace {

// What the shutdown path may touch; used only on the connection's strand.
struct ConnectionState {
  beast::tcp_stream* lowest = nullptr;  // nullptr once the connection ended
  bool idle = true;                     // waiting for a request's first byte
};

template <typename Stream>
class StreamReply final : public Reply {
 public:
  StreamReply(Stream& stream, bool keep_alive, std::chrono::seconds timeout)
      : stream_(stream), keep_alive_(keep_alive), timeout_(timeout) {}

  awaitable<void> Send(Response response) override {
    response.keep_alive(keep_alive_);
    status_ = response.result();
    bytes_ += response.body().size();
    beast::get_lowest_layer(stream_).expires_after(timeout_);
    co_await http::async_write(stream_, response, use_awaitable);
  }

  awaitable<void> Begin(http::response_header<> header) override {
    status_ = header.result();
    http::response<http::empty_body> response(std::move(header));
    response.chunked(true);
    response.keep_alive(keep_alive_);
    http::response_serializer<http::empty_body> serializer(response);
    beast::get_lowest_layer(stream_).expires_after(timeout_);
    co_await http::async_write_header(stream_, serializer, use_awaitable);
  }

  awaitable<void> Chunk(std::string_view data) override {
    bytes_ += data.size();
    beast::get_lowest_layer(stream_).expires_after(timeout_);
    co_await asio::async_write(
        stream_, http::make_chunk(asio::const_buffer(data.data(), data.size())), use_awaitable);
  }

  awaitable<void> End() override {
    beast::get_lowest_layer(stream_).expires_after(timeout_);
    co_await asio::async_write(stream_, http::make_chunk_last(), use_awaitable);
  }

 private:
  Stream& stream_;
  const bool keep_alive_;
  const std::chrono::seconds timeout_;
};

// The answer to a request that could not be read, or none (the client left).
std::optional<Response> ReadFailure(const beast::error_code& ec) {
  if (ec == http::error::header_limit) {
    return ErrorResponse(http::status::request_header_fields_too_large, "headers_too_large",
                         "request headers are too large");
  }
  if (ec == http::error::body_limit) {
    return ErrorResponse(http::status::payload_too_large, "body_too_large",
                         "request body is larger than this server accepts");
  }
  if (ec == beast::error::timeout) {
    return ErrorResponse(http::status::request_timeout, "timeout",
                         "the request did not arrive in time");
  }
  const bool http_error =
      ec.category() == http::make_error_code(http::error::end_of_stream).category();
  if (!http_error || ec == http::error::end_of_stream || ec == http::error::partial_message) {
    return std::nullopt;  // closed, reset or cancelled: nobody to answer
  }
  return ErrorResponse(http::status::bad_request, "bad_request",
                       "malformed HTTP request: " + ec.message());
}

// Answers one request, or says the connection is over (false).
template <typename Stream>
awaitable<bool> ServeOneRequest(Service& service, Stream& stream, beast::flat_buffer& buffer,
                                ConnectionState& state, const std::string& remote) {
  const ServerOptions& options = service.options();
  auto& lowest = beast::get_lowest_layer(stream);
  if (buffer.size() == 0) {
    // Waiting for the next request: the only state a shutdown may cut short.
    state.idle = true;
    lowest.expires_after(options.idle_timeout);
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
    state.idle = false;
    if (ec) co_return false;
    buffer.commit(n);
  }
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  parser.body_limit(options.max_body_bytes);
  lowest.expires_after(options.read_timeout);
  auto [header_ec, header_n] = co_await http::async_read_header(stream, buffer, parser, kTuple);
  beast::error_code ec = header_ec;
  if (!ec) {
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on{http::status::continue_, 11};
      auto [write_ec, written] = co_await http::async_write(stream, go_on, kTuple);
      if (write_ec) co_return false;
    }
    auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, kTuple);
    ec = body_ec;
  }
  if (ec) {
    std::optional<Response> answer = ReadFailure(ec);
    if (!answer) co_return false;
    StreamReply<Stream> reply(stream, /*keep_alive=*/false, options.read_timeout);
    co_await reply.Send(std::move(*answer));
    co_return false;
  }
  Request request = parser.release();
  const bool keep_alive = request.keep_alive() && !service.stopping.load();
  StreamReply<Stream> reply(stream, keep_alive, options.idle_timeout);
  co_await service.Handle(request, reply, remote);
  co_return keep_alive;
}

template <typename Stream>
awaitable<void> ServeRequests(Service& service, Stream& stream, ConnectionState& state,
                              const std::string& remote) {
  beast::flat_buffer buffer;
  while (co_await ServeOneRequest(service, stream, buffer, state, remote)) {
  }
}

std::string RemoteOf(const tcp::socket& socket) {
  beast::error_code ec;
  tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  return peer.address().to_string() + ":" + std::to_string(peer.port());
}

awaitable<void> ServePlain(Service& service, tcp::socket socket,
                           const std::shared_ptr<ConnectionState>& state,
                           const std::string& remote) {
  beast::tcp_stream stream(std::move(socket));
  state->lowest = &stream;
  co_await ServeRequests(service, stream, *state, remote);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

awaitable<void> ServeTls(Service& service, tcp::socket socket, asio::ssl::context& tls,
                         const std::shared_ptr<ConnectionState>& state, const std::string& remote) {
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), tls);
  state->lowest = &beast::get_lowest_layer(stream);
  state->idle = false;
  state->lowest->expires_after(service.options().read_timeout);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
  if (ec) co_return;  // not TLS, or a client that gave up
  co_await ServeRequests(service, stream, *state, remote);
  state->lowest->expires_after(std::chrono::seconds(2));
  auto [shutdown_ec] = co_await stream.async_shutdown(kTuple);
  (void)shutdown_ec;  // the client may simply have closed
}

}  // namespace

awaitable<void> ServeConnection(Service& service, tcp::socket socket, asio::ssl::context* tls,
                                Connections& connections) {
  service.open_connections.fetch_add(1);
  const std::string remote = RemoteOf(socket);
  auto state = std::make_shared<ConnectionState>();
  auto executor = socket.get_executor();
  const uint64_t id = connections.Add([executor, state] {
    asio::post(executor, [state] {
      if (state->lowest != nullptr && state->idle) state->lowest->cancel();
    });
  });
  try {
    if (tls != nullptr) {
      co_await ServeTls(service, std::move(socket), *tls, state, remote);
    } else {
      co_await ServePlain(service, std::move(socket), state, remote);
    }
  } catch (const std::exception&) {
    // A connection that fails (reset, timeout mid-response) ends only itself.
  }
  state->lowest = nullptr;
  connections.Remove(id);
  service.open_connections.fetch_sub(1);
}

awaitable<void> RefuseConnection(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  Response busy = ErrorResponse(http::status::service_unavailable, "too_many_connections",
                                "the server is at its connection limit");
  busy.set(http::field::retry_after, "1");
  busy.keep_alive(false);
  stream.expires_after(std::chrono::seconds(2));
  auto [ec, n] = co_await http::async_write(stream, busy, kTuple);
  (void)ec;
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace quipu::server
