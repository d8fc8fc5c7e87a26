// server/http.h — the HTTP vocabulary the server's parts share: request and
// response types (Boost.Beast), JSON and error responses, and the one error
// body every 4xx/5xx carries: {"error": {"code": "<word>", "message": "..."}}.
#ifndef QUIPU_SERVER_HTTP_H_
#define QUIPU_SERVER_HTTP_H_

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "json/input.h"
#include "quipu/status.h"

namespace quipu::server {

namespace http = boost::beast::http;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A JSON response: `body` plus a newline, Content-Type application/json.
Response JsonResponse(http::status status, const json::OrderedJson& body);
// {"error": {"code": code, "message": message}} with `status`.
Response ErrorResponse(http::status status, std::string_view code, std::string_view message);
// The HTTP answer to a library error: InvalidArgument 400, NotFound 404,
// Conflict 409, NoSpace 507, FailedPrecondition/IOError/Corruption 500, ...
Response StatusResponse(const Status& status);
http::status HttpStatusOf(const Status& status);

// True when the request's Content-Type is `mime` (parameters such as
// "; charset=utf-8" allowed, case-insensitive).
bool HasContentType(const Request& request, std::string_view mime);

// The value of query parameter `name` in the request target, percent-decoded;
// nullopt when absent.
std::optional<std::string> QueryParam(std::string_view target, std::string_view name);
// Percent-decodes one path segment or query value ('+' is a space only in
// query values). nullopt for a malformed escape or a decoded NUL byte.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space = false);

// How a handler answers: one whole response, or a chunked stream. A Reply
// belongs to one connection and is used by one request at a time.
class Reply {
 public:
  virtual ~Reply() = default;
  // What was sent, for the request log and metrics.
  http::status status() const { return status_; }
  uint64_t bytes() const { return bytes_; }

  virtual boost::asio::awaitable<void> Send(Response response) = 0;
  // Chunked streaming: Begin writes the header (with chunked transfer
  // encoding), Chunk one piece of body, End the last chunk. Errors
  // (client gone) throw boost::system::system_error and end the connection.
  virtual boost::asio::awaitable<void> Begin(http::response_header<> header) = 0;
  virtual boost::asio::awaitable<void> Chunk(std::string_view data) = 0;
  virtual boost::asio::awaitable<void> End() = 0;

 protected:
  http::status status_ = http::status::unknown;
  uint64_t bytes_ = 0;
};

}  // namespace quipu::server

#endif  // QUIPU_SERVER_HTTP_H_
