// server/connection.h — one client connection: reading requests under the
// server's limits, answering them through the Service, and closing.
//
// Limits, each answered before the connection is closed:
//   headers over max_header_bytes    431
//   a body over max_body_bytes       413 (from Content-Length, or while
//                                    reading a chunked body)
//   a malformed request              400
//   no whole request within read_timeout of its first byte   408 (slow
//                                    clients cannot hold the server)
// A keep-alive connection may sit idle for idle_timeout between requests.
#ifndef QUIPU_SERVER_CONNECTION_H_
#define QUIPU_SERVER_CONNECTION_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "server/service.h"

namespace quipu::server {

// The open connections, so that a shutdown can close the idle ones.
class Connections {
 public:
  // Registers a connection; `close_if_idle` must be safe to call from any
  // thread (it posts to the connection's strand).
  uint64_t Add(std::function<void()> close_if_idle);
  void Remove(uint64_t id);
  void CloseIdle();
  size_t size() const;

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 0;
  std::map<uint64_t, std::function<void()>> open_;
};

// Serves one accepted socket until the client leaves, a limit closes it, or
// the server stops. `tls` is nullptr for plain HTTP.
boost::asio::awaitable<void> ServeConnection(Service& service, boost::asio::ip::tcp::socket socket,
                                             boost::asio::ssl::context* tls,
                                             Connections& connections);

// Answers a connection over max_connections with 503 and closes it.
boost::asio::awaitable<void> RefuseConnection(boost::asio::ip::tcp::socket socket);

}  // namespace quipu::server

#endif  // QUIPU_SERVER_CONNECTION_H_
