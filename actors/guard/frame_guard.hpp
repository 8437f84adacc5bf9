// The frame guard: a node's public port, in front of CAF's.
//
// CAF 0.17 trusts the payload length of every BASP header it reads and allocates that much before
// the payload arrives (see basp_frame.hpp); nothing in 0.17 bounds it. So kvnode publishes its
// node actor on an ephemeral port of its own address, and the guard listens on the node's
// HOST:PORT, accepts each connection, opens one to CAF's port for it and forwards bytes both ways.
// The inbound direction (the remote side to CAF) is followed header by header: a header that CAF
// itself would refuse, or one announcing more than max_frame_bytes, drops both connections before
// CAF sees that header, with one log line naming the remote address and the reason. The outbound
// direction is passed through unread: it is this node's own CAF talking.
//
// Cost: one thread (epoll, edge-triggered, non-blocking sockets) outside CAF's scheduler, one
// read and one write per chunk of up to 256 KiB per direction, and TCP_NODELAY on both sockets;
// only the 32 header bytes of each frame are looked at, payload bytes are counted past. Free of
// CAF headers, so it can be tested with plain sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace actorkv {

class frame_guard {
public:
  using logger = std::function<void(const std::string&)>;

  /// Binds and listens on host:port (with SO_REUSEADDR, as CAF's publish did, so a restarted node
  /// gets its port back while old connections linger in TIME_WAIT). Returns nullptr with `error`
  /// set (e.g. "Address already in use") when it cannot.
  static std::unique_ptr<frame_guard> listen(const std::string& host, uint16_t port,
                                             std::string& error);

  ~frame_guard(); ///< stop()

  frame_guard(const frame_guard&) = delete;
  frame_guard& operator=(const frame_guard&) = delete;

  /// The numeric address the public socket is bound to (e.g. "127.0.0.2"): CAF must listen on
  /// the same one, so that nodes on different 127.0.0.x addresses never share CAF's ports.
  const std::string& address() const;

  /// The public port (the one bound when listen() was given 0).
  uint16_t port() const;

  /// Starts the forwarding thread: each accepted connection is forwarded to `upstream_port` on
  /// address(). Frames whose payload exceeds `max_frame_bytes` are refused. `log` is called from
  /// the guard's thread, once per dropped connection.
  void start(uint16_t upstream_port, uint32_t max_frame_bytes, logger log);

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
