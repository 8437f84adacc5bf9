// The frame guard: a node's public port, in front of CAF's.
//
// CAF 0.17 trusts the payload length of every BASP header it reads and allocates that much before
// the payload arrives (see basp_frame.hpp); nothing in 0.17 bounds it. So kvnode publishes its
// node actor on an ephemeral port of 127.0.0.1, and the guard listens on the node's HOST:PORT,
// accepts each connection, opens one to CAF's port for it and forwards bytes both ways. The
// inbound direction (the remote side to CAF) is followed header by header: a header that CAF
// itself would refuse, or one announcing more than max_frame_bytes, drops both connections before
// CAF sees that header, with one log line naming the remote address and the reason. The outbound
// direction is this node's own CAF talking: passed through, its headers followed for clients.
//
// With TLS (guard_options::tls) the guard also terminates TLS: the remote side (CAF's
// caf::openssl client, or any TLS client) must present a certificate that verifies against the
// CA, and its subject's OU is its role (cluster-config/access.hpp). Only then is CAF's port
// connected at all, and only once the client handshake (the first BASP frame, which names the
// process's node id) was recorded in the access table: CAF never sees an unauthenticated byte,
// and the node's actors learn who sent what. Clients (read, write, admin) may send fewer kinds
// of frames than nodes, and direct messages only to the actors kvnode names, only the messages
// of their client interfaces (no exit, link or other system message, no forwarding stack; the
// first bytes of each payload are read for that: basp_message.hpp), monitor and down messages
// only between its own process and this node, and what CAF's own BASP broker exchanges with
// every new node (see basp_frame.hpp). Refused TLS handshakes are logged once per remote address
// and then summarised, so that a scanner or a misconfigured client looping on its retries cannot
// flood the log.
//
// Without TLS the guard forwards in plain text as before, with no roles and no access table.
//
// Bounded (guard_options): at most max_connections connections. Those whose role is not known
// yet (in their TLS handshake; without TLS, before their first whole header) may hold a quarter
// of them, and when that share is full a new connection closes the oldest of them: a flood of
// connections that never finish cannot keep a member out, it only churns through that share.
// With TLS an eighth is kept for nodes: clients are refused beyond the rest. A connection from
// which nothing arrived for idle_timeout is closed (nodes send heartbeats and pings several times a
// second; a client reconnects on its next request), and so is one whose frame's payload has not
// arrived within frame_timeout of its header. Payload bytes announced by headers CAF has read but
// not yet received (CAF allocates them on reading the header) are limited across connections to
// frame_budget_bytes: a header that does not fit waits, unread by CAF (the guard stops reading
// that connection), until enough payload arrived or timed out elsewhere. Waiting rather than
// dropping: a client's large put is only delayed, by TCP back-pressure, instead of failing and
// reconnecting into the same full budget; and a waiting connection holds none of the budget (its
// last frame is complete), so waiting cannot deadlock. Small frames, and with TLS nodes' frames,
// never wait, so gets, pings and replication flow while large client frames queue. Connections
// closed at the limit, evicted, idle or stalled are logged once and then summarised like refused
// handshakes.
//
// Cost: one thread (epoll, edge-triggered, non-blocking sockets) outside CAF's scheduler, one
// read and one write per chunk of up to 256 KiB per direction (per TLS record of up to 16 KiB
// with TLS), and TCP_NODELAY on both sockets; only the 32 header bytes of each frame are looked
// at (and the 32 payload bytes of a client handshake; from clients up to 64 of each direct,
// monitor and down message; from CAF the 32 of its server handshake that name this node), payload
// bytes are counted past; a sweep of every connection at half the shortest timeout (at most once
// a second) while any is open. Free of CAF headers, so it can be tested with plain sockets.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace actorkv {

class metrics_registry; // cluster-config/metrics.hpp

class access_table;
class link_activity; // actors/guard/link_activity.hpp

/// The guard's TLS credentials: PEM files.
struct guard_tls {
  std::string ca_file;          ///< the CA(s) a peer's certificate must chain to
  std::string certificate_file; ///< this node's certificate (chain), shown to every peer
  std::string key_file;         ///< its private key, unencrypted
};

struct guard_options {
  using logger = std::function<void(const std::string&)>;

  uint16_t upstream_port = 0;   ///< CAF's port on 127.0.0.1 (never on the node's address)
  uint32_t max_frame_bytes = 0; ///< frames with a larger payload are refused
  logger log;                   ///< called from the guard's thread, one line per event
  /// TLS on the public side, with roles from certificates; nullopt: plain forwarding.
  std::optional<guard_tls> tls;
  /// Where each connected process's role is recorded (required with tls).
  std::shared_ptr<access_table> access;
  /// The actors read, write and admin connections may send direct messages to: the node actor
  /// first, then its coordinator (either may be missing or 0). Each gets only its client
  /// messages (basp_message.hpp): the node actor (session), (status), (fault, ...) and
  /// (admin, ...), the coordinator batches of client calls.
  std::vector<uint64_t> client_destinations;
  /// A TLS handshake must complete within this time.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  /// A started BASP header (and, with TLS, the client handshake after the TLS handshake) must
  /// complete within this time.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  /// Refused TLS handshakes from one address: the first is logged, the rest are counted and
  /// summarised at most once per this interval. Likewise connections closed at the connection
  /// limit, evicted or idle.
  std::chrono::milliseconds refusal_log_interval{std::chrono::minutes(1)};

  // Connections (header comment, "Bounded").
  /// Connections held at most; a new one beyond is closed at once. Each costs the node
  /// descriptors_per_connection file descriptors (connections_within).
  uint32_t max_connections = 4096;
  /// A connection that sent nothing for this long is closed.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(10)};
  /// A frame's payload must arrive within this time of its header.
  std::chrono::milliseconds frame_timeout{std::chrono::seconds(30)};
  /// Payload bytes that headers announced to CAF and that have not arrived yet, across all
  /// connections; 0: 4 x max_frame_bytes. A header that would exceed it waits (frames of up to
  /// always_admitted_frame_bytes and, with TLS, frames from nodes never wait but count).
  uint64_t frame_budget_bytes = 0;
  /// Where the guard reports when each connected process last sent a message, once a sweep, and
  /// takes the node's requests to close a process's connections (link_activity.hpp); null: none.
  std::shared_ptr<link_activity> activity{};
  /// Where the guard keeps actorkv_open_connections{listener="node"} (cluster-config/metrics.hpp);
  /// null: not counted.
  std::shared_ptr<metrics_registry> metrics{};
};

/// Frames this small never wait for the budget: gets, pings and heartbeats keep flowing while
/// large payloads queue. At most max_connections times this beyond the budget.
constexpr uint32_t always_admitted_frame_bytes = 64 * 1024;

/// File descriptors the node's process holds for one forwarded connection: the guard's two
/// sockets and CAF's end of the connection to its port.
constexpr uint64_t descriptors_per_connection = 3;

/// The most connections (at most `wanted`) whose descriptors fit in `descriptor_limit`
/// (RLIMIT_NOFILE) besides `other` descriptors the process needs for everything else; 0 when not
/// even those fit.
constexpr uint32_t connections_within(uint64_t descriptor_limit, uint64_t other, uint32_t wanted) {
  if (descriptor_limit <= other)
    return 0;
  auto fit = (descriptor_limit - other) / descriptors_per_connection;
  return fit < wanted ? static_cast<uint32_t>(fit) : wanted;
}

class frame_guard {
public:
  using logger = guard_options::logger;

  /// Binds and listens on host:port (with SO_REUSEADDR, as CAF's publish did, so a restarted node
  /// gets its port back while old connections linger in TIME_WAIT). Returns nullptr with `error`
  /// set (e.g. "Address already in use") when it cannot.
  static std::unique_ptr<frame_guard> listen(const std::string& host, uint16_t port,
                                             std::string& error);

  ~frame_guard(); ///< stop()

  frame_guard(const frame_guard&) = delete;
  frame_guard& operator=(const frame_guard&) = delete;

  /// The numeric address the public socket is bound to (e.g. "127.0.0.2"). CAF's own port is
  /// always on 127.0.0.1, whatever this address.
  const std::string& address() const;

  /// The public port (the one bound when listen() was given 0).
  uint16_t port() const;

  /// Starts the forwarding thread: each accepted connection is forwarded to
  /// options.upstream_port on 127.0.0.1. Returns false, with `error` set and no thread started,
  /// when the TLS credentials cannot be loaded (naming the file and OpenSSL's reason), TLS is
  /// asked for without an access table, or client_destinations names more than two actors. A
  /// second call does nothing and returns true.
  bool start(guard_options options, std::string& error);

  /// Closes the public socket (no new connections); connections already open keep forwarding.
  /// For a node's shutdown: once CAF stops listening, a new connection could only be refused.
  void stop_listening();

  /// Stops the thread and closes every socket. Idempotent.
  void stop();

  struct impl;

private:
  explicit frame_guard(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace actorkv
