// server/router.h — the route table: (method, path pattern) -> handler, the
// grant each route needs, and a lookup that tells "no such path" (404) from
// "no such method on this path" (405, with the methods that exist).
//
// Patterns are '/'-separated; a segment "{name}" matches any one non-empty
// segment, handed to the handler percent-decoded (a decoded '/' stays inside
// the value, so {type} can never climb the path). Other segments match
// literally.
#ifndef QUIPU_SERVER_ROUTER_H_
#define QUIPU_SERVER_ROUTER_H_

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/auth.h"
#include "server/http.h"

namespace quipu::server {

// One request as a handler sees it.
struct Call {
  const Request& request;
  // The caller; nullptr on routes that need no token.
  const Principal* principal;
  // The "{...}" segments of the route's pattern, decoded, in order.
  std::vector<std::string> params;
  Reply& reply;
};

using Handler = std::function<boost::asio::awaitable<void>(Call&)>;

struct Route {
  http::verb method;
  std::string pattern;         // "/v1/entities/{type}/{id}/history"
  std::optional<Grant> grant;  // nullopt: no token needed
  Handler handler;
};

class Router {
 public:
  void Add(Route route);

  struct Match {
    const Route* route = nullptr;
    std::vector<std::string> params;
  };
  struct Miss {
    http::status status;  // 404, 405 or 400 (a malformed escape)
    std::string allow;    // for 405: "GET, POST"
  };
  // `path` is the request target without its query string.
  std::variant<Match, Miss> Find(http::verb method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// The target's path: everything before '?'.
std::string_view PathOf(std::string_view target);

}  // namespace quipu::server

#endif  // QUIPU_SERVER_ROUTER_H_
