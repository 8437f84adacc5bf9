// The HTTPS API of a node (endpoints and status codes: http_api.hpp). Boost.Beast over Asio,
// on `threads` I/O threads of its own; every request for data goes to `store`, a client actor in
// the node's process, through a small CAF actor (store_bridge.hpp), so no I/O thread ever waits
// on CAF.
//
// Each connection is bounded: the TLS handshake and the first request must arrive within
// request_timeout of the accept, every later request within request_timeout of its first byte,
// and a keep-alive connection may sit idle between requests for idle_timeout. Headers beyond
// max_header_bytes get 431, bodies beyond the endpoint's limit 413 (announced sizes before the
// body is read), bodies beyond the node's memory budget 503 overloaded (before it is read).
// Connections beyond max_connections are answered 503 and closed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cluster-config/access.hpp"
#include "cluster-config/memory_budget.hpp"
#include "cluster-config/metrics.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

struct http_options {
  std::string host;
  uint16_t port = 0; ///< 0: the system picks one (tests); see http_server::port()
  bool tls = true;
  std::string ca;   ///< verifies client certificates, which are optional; empty: tokens only
  std::string cert; ///< the server's certificate chain (PEM)
  std::string key;  ///< its private key (PEM)
  std::vector<access_token> tokens; ///< bearer tokens, by SHA-256
  uint32_t max_key_bytes = 1024;    ///< [limits]
  uint32_t max_value_bytes = 1024 * 1024;
  uint32_t max_connections = 1024;
  uint32_t max_header_bytes = 16384;
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  /// Bounds each call to the store. Keep it above the client actor's own timeout, which then
  /// answers first with the more precise ec::timeout.
  std::chrono::milliseconds store_timeout{15000};
  uint32_t threads = 1;
  /// The node's budget for requests in flight: each request body is charged to it (client
  /// class) before it is read, and refused with 503 overloaded when it does not fit; null: none.
  std::shared_ptr<memory_budget> budget;
  /// Notable events (listening, accept failures, refused connections); called from I/O threads,
  /// one call at a time.
  std::function<void(const std::string&)> log;
  /// The process's metrics: served at GET /metrics (with figures from the node's status), and
  /// where the server counts its open connections and responses. Null: /metrics serves only
  /// the status figures.
  std::shared_ptr<metrics_registry> metrics{};
  /// The web console's static files (name, content), served without credentials at /, /console
  /// and /console/{name}; the page asks for a token or uses the browser's certificate.
  std::vector<std::pair<std::string, std::string>> console_files;
};

class http_server {
public:
  /// Listens on host:port and serves until stop(). Returns nullptr with a reason in `error` when
  /// the address cannot be bound or the certificate, key or CA cannot be loaded.
  static std::unique_ptr<http_server> start(caf::actor_system& sys, client_actor store,
                                            http_options options, std::string& error);

  /// The port listened on (the one picked when options.port was 0).
  uint16_t port() const;

  /// Closes the port and every connection (requests in flight are cut off), joins the I/O
  /// threads and stops the bridge actor. Idempotent; call it before the actor system goes.
  void stop();

  ~http_server();

  struct impl;

private:
  explicit http_server(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

} // namespace actorkv
