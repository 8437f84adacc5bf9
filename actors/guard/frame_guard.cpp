#include "actors/guard/frame_guard.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "actors/guard/basp_frame.hpp"

namespace actorkv {

namespace {

/// Bytes buffered per direction of a connection. Large enough that a 1 MiB value passes in a
/// handful of reads; allocated uninitialised, so only the pages a connection actually uses cost
/// memory.
constexpr size_t chunk_bytes = 256 * 1024;

/// Bytes one connection may move per visit before the others get their turn.
constexpr size_t visit_budget = 4 * chunk_bytes;

std::string errno_text(int err) {
  return std::strerror(err);
}

/// "127.0.0.1:54321" or "[::1]:54321".
std::string endpoint_text(const sockaddr_storage& sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (sa.ss_family == AF_INET) {
    auto& in = reinterpret_cast<const sockaddr_in&>(sa);
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
    port = ntohs(in.sin_port);
    return std::string{host} + ":" + std::to_string(port);
  }
  auto& in6 = reinterpret_cast<const sockaddr_in6&>(sa);
  inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
  port = ntohs(in6.sin6_port);
  return "[" + std::string{host} + "]:" + std::to_string(port);
}

void set_port(sockaddr_storage& sa, uint16_t port) {
  if (sa.ss_family == AF_INET)
    reinterpret_cast<sockaddr_in&>(sa).sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6&>(sa).sin6_port = htons(port);
}

socklen_t length_of(const sockaddr_storage& sa) {
  return sa.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

void no_delay(int fd) {
  // Frames are small and latency-bound; Nagle would hold back each one waiting for an ACK.
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct link;

/// One socket of a forwarded connection, with its readiness as epoll last reported it (the
/// sockets are edge-triggered: a flag stays set until a read or write finds the socket drained).
struct endpoint {
  link* owner = nullptr;
  int fd = -1;
  bool readable = true; ///< optimistic at first: a read that finds nothing just clears it
  bool writable = false;
  bool hung_up = false; ///< the peer closed: read until EOF even after a short read
};

/// One direction of a connection: bytes read from one socket, not yet written to the other.
struct stream {
  std::unique_ptr<uint8_t[]> buf;
  size_t begin = 0;
  size_t end = 0;
  bool eof = false;  ///< the source closed its side
  bool shut = false; ///< and that was passed on (shutdown of the destination's sending side)
  size_t pending() const { return end - begin; }
  size_t space() const { return chunk_bytes - end; }
};

/// A connection accepted on the public port and its twin to CAF's port.
struct link {
  endpoint client;   ///< accepted on the public port
  endpoint upstream; ///< to CAF
  stream in;         ///< client -> CAF: checked
  stream out;        ///< CAF -> client: passed through
  basp_frame_checker checker;
  std::string remote;
  bool connecting = true; ///< upstream connect() still in progress
  bool dead = false;
  explicit link(uint32_t max_frame) : checker(max_frame) {}
};

} // namespace

struct frame_guard::impl {
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1; ///< eventfd: stop() and stop_listening() wake the thread through it
  /// timerfd: ends a pause of accepting. Made at start: a pause begins when descriptors ran out.
  int timer_fd = -1;
  std::string address;
  uint16_t port = 0;
  sockaddr_storage upstream{}; ///< CAF's port: address with the upstream port
  uint32_t max_frame = 0;
  logger log;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> unlisten{false};
  bool started = false;

  std::unordered_map<link*, std::unique_ptr<link>> links;
  std::vector<link*> again;     ///< links that used up their budget with work left
  std::vector<link*> graveyard; ///< closed this round, freed once no event can refer to them

  // Distinct addresses identify the two non-link descriptors in epoll's user data.
  static inline char listen_tag = 0;
  static inline char wake_tag = 0;
  static inline char timer_tag = 0;

  ~impl() { close_all(); }

  /// Closes every socket; only while the thread is not running.
  void close_all() {
    for (auto& [ptr, l] : links) {
      (void)ptr;
      close_fd(l->client.fd);
      close_fd(l->upstream.fd);
    }
    links.clear();
    again.clear();
    graveyard.clear();
    close_fd(listen_fd);
    close_fd(wake_fd);
    close_fd(timer_fd);
    close_fd(epoll_fd);
  }

  static void close_fd(int& fd) {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }

  void run() {
    std::vector<epoll_event> events(64);
    while (!stopping.load(std::memory_order_relaxed)) {
      int timeout = again.empty() ? -1 : 0;
      int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), timeout);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (log)
          log("frame guard stopped: epoll_wait failed: " + errno_text(errno));
        return;
      }
      for (int i = 0; i < n; ++i) {
        auto& ev = events[static_cast<size_t>(i)];
        if (ev.data.ptr == &wake_tag) {
          uint64_t ignored;
          while (::read(wake_fd, &ignored, sizeof(ignored)) > 0) {
          }
          if (unlisten.load() && listen_fd >= 0)
            close_fd(listen_fd); // also leaves the epoll set
        } else if (ev.data.ptr == &timer_tag) {
          uint64_t expirations;
          while (::read(timer_fd, &expirations, sizeof(expirations)) > 0) {
          }
          resume_accepting();
        } else if (ev.data.ptr == &listen_tag) {
          accept_all();
        } else {
          on_event(*static_cast<endpoint*>(ev.data.ptr), ev.events);
        }
      }
      if (!again.empty()) {
        std::vector<link*> turn;
        turn.swap(again);
        for (auto* l : turn)
          if (!l->dead)
            service(*l);
      }
      for (auto* l : graveyard)
        links.erase(l);
      graveyard.clear();
    }
  }

  void pause_accepting() {
    // Level-triggered, the listening socket would report the waiting connection again at once.
    epoll_event ev{};
    ev.data.ptr = &listen_tag;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev);
    // Out of file descriptors: try again in a moment rather than spin on the waiting connection.
    itimerspec in_100ms{};
    in_100ms.it_value.tv_nsec = 100'000'000;
    timerfd_settime(timer_fd, 0, &in_100ms, nullptr);
  }

  void resume_accepting() {
    if (listen_fd < 0)
      return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &listen_tag;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev);
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage from{};
      socklen_t len = sizeof(from);
      int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&from), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED)
          continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
          pause_accepting();
        return; // EAGAIN: all taken
      }
      open_link(fd, endpoint_text(from));
    }
  }

  void open_link(int client_fd, std::string remote) {
    int up = ::socket(upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (up < 0) {
      if (log)
        log("dropped connection from " + remote + ": no socket to the node's CAF port (" +
            errno_text(errno) + ")");
      ::close(client_fd);
      return;
    }
    no_delay(client_fd);
    no_delay(up);
    auto owned = std::make_unique<link>(max_frame);
    auto* l = owned.get();
    l->remote = std::move(remote);
    l->client.owner = l->upstream.owner = l;
    l->client.fd = client_fd;
    l->client.writable = true; // a fresh socket's send buffer is empty
    l->upstream.fd = up;
    links.emplace(l, std::move(owned));
    int rc = ::connect(up, reinterpret_cast<const sockaddr*>(&upstream), length_of(upstream));
    if (rc != 0 && errno != EINPROGRESS) {
      drop(*l, "cannot reach the node's CAF port (" + errno_text(errno) + ")");
      return;
    }
    l->connecting = rc != 0;
    l->upstream.readable = !l->connecting;
    l->upstream.writable = !l->connecting;
    for (auto* e : {&l->client, &l->upstream}) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.ptr = e;
      if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, e->fd, &ev) != 0) {
        drop(*l, "cannot watch the connection (" + errno_text(errno) + ")");
        return;
      }
    }
    service(*l);
  }

  void on_event(endpoint& e, uint32_t events) {
    auto& l = *e.owner;
    if (l.dead)
      return;
    if (events & EPOLLERR) {
      // Reset or refused: nothing more can pass. Only a refused connect to CAF is unusual.
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(e.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (&e == &l.upstream && l.connecting)
        drop(l, "cannot reach the node's CAF port (" + errno_text(err) + ")");
      else
        close_link(l);
      return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
      e.readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP))
      e.hung_up = true;
    if (events & (EPOLLOUT | EPOLLHUP))
      e.writable = true;
    if (&e == &l.upstream && l.connecting && (events & EPOLLOUT)) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(e.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        drop(l, "cannot reach the node's CAF port (" + errno_text(err) + ")");
        return;
      }
      l.connecting = false;
      l.upstream.readable = true;
    }
    service(l);
  }

  /// Moves bytes both ways until every socket would block (or the budget is used up).
  void service(link& l) {
    size_t moved = 0;
    for (;;) {
      bool progress = false;
      if (!pump(l, l.in, l.client, l.upstream, true, moved, progress) ||
          !pump(l, l.out, l.upstream, l.client, false, moved, progress))
        return; // dropped
      if (l.in.shut && l.out.shut) {
        close_link(l);
        return;
      }
      if (!progress)
        return;
      if (moved >= visit_budget) {
        again.push_back(&l);
        return;
      }
    }
  }

  /// One step of one direction: write what is buffered, pass on an EOF, read more. False when the
  /// link was closed.
  bool pump(link& l, stream& s, endpoint& src, endpoint& dst, bool checked, size_t& moved,
            bool& progress) {
    bool dst_ready = &dst != &l.upstream || !l.connecting;
    if (dst_ready && dst.writable && s.pending() > 0) {
      auto w = ::send(dst.fd, s.buf.get() + s.begin, s.pending(), MSG_NOSIGNAL);
      if (w > 0) {
        auto wrote = static_cast<size_t>(w);
        s.begin += wrote;
        moved += wrote;
        progress = true;
        if (s.pending() > 0)
          dst.writable = false; // a short write: the socket buffer is full
        else
          s.begin = s.end = 0;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        dst.writable = false;
      } else if (w < 0 && errno == EINTR) {
        progress = true;
      } else {
        close_link(l); // EPIPE, ECONNRESET: the other side is gone
        return false;
      }
    }
    if (dst_ready && s.eof && !s.shut && s.pending() == 0) {
      ::shutdown(dst.fd, SHUT_WR);
      s.shut = true;
      progress = true;
    }
    if (src.readable && !s.eof && s.space() > 0 && (&src != &l.upstream || !l.connecting)) {
      if (!s.buf)
        s.buf.reset(new uint8_t[chunk_bytes]); // uninitialised: untouched pages stay unmapped
      auto want = s.space();
      auto r = ::recv(src.fd, s.buf.get() + s.end, want, 0);
      if (r > 0) {
        auto got = static_cast<size_t>(r);
        if (checked && !l.checker.feed(s.buf.get() + s.end, got)) {
          drop(l, l.checker.describe());
          return false;
        }
        s.end += got;
        progress = true;
        // A short read drained the socket; new data will raise a new edge. After a hang-up no
        // edge follows, so keep reading until recv sees the EOF.
        if (got < want && !src.hung_up)
          src.readable = false;
      } else if (r == 0) {
        s.eof = true;
        src.readable = false;
        progress = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        src.readable = false;
      } else if (errno == EINTR) {
        progress = true;
      } else {
        close_link(l);
        return false;
      }
    }
    return true;
  }

  /// Closes a link for a reason worth a log line.
  void drop(link& l, const std::string& reason) {
    if (log)
      log("dropped connection from " + l.remote + ": " + reason);
    close_link(l);
  }

  void close_link(link& l) {
    if (l.dead)
      return;
    l.dead = true;
    close_fd(l.client.fd); // closing also removes them from the epoll set
    close_fd(l.upstream.fd);
    graveyard.push_back(&l);
  }
};

frame_guard::frame_guard(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

frame_guard::~frame_guard() {
  stop();
}

std::unique_ptr<frame_guard> frame_guard::listen(const std::string& host, uint16_t port,
                                                 std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    error = gai_strerror(rc);
    return nullptr;
  }
  auto p = std::make_unique<impl>();
  int last_error = EADDRNOTAVAIL;
  // IPv4 first: a name such as "localhost" then means 127.0.0.1, as the cluster's addresses are.
  std::vector<addrinfo*> candidates;
  for (auto* ai = found; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET)
      candidates.push_back(ai);
  for (auto* ai = found; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET6)
      candidates.push_back(ai);
  for (auto* ai : candidates) {
    if (p->listen_fd >= 0)
      break;
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      last_error = errno;
      ::close(fd);
      continue;
    }
    p->listen_fd = fd;
  }
  freeaddrinfo(found);
  if (p->listen_fd < 0) {
    error = errno_text(last_error);
    return nullptr;
  }
  socklen_t len = sizeof(p->upstream);
  getsockname(p->listen_fd, reinterpret_cast<sockaddr*>(&p->upstream), &len);
  char numeric[INET6_ADDRSTRLEN] = "";
  if (p->upstream.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in&>(p->upstream).sin_addr, numeric,
              sizeof(numeric));
  else
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6&>(p->upstream).sin6_addr, numeric,
              sizeof(numeric));
  p->address = numeric;
  p->port = p->upstream.ss_family == AF_INET
                ? ntohs(reinterpret_cast<sockaddr_in&>(p->upstream).sin_port)
                : ntohs(reinterpret_cast<sockaddr_in6&>(p->upstream).sin6_port);
  p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (p->epoll_fd < 0 || p->wake_fd < 0 || p->timer_fd < 0) {
    error = errno_text(errno);
    return nullptr;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &impl::listen_tag;
  epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, p->listen_fd, &ev);
  ev.data.ptr = &impl::wake_tag;
  epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, p->wake_fd, &ev);
  ev.data.ptr = &impl::timer_tag;
  epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, p->timer_fd, &ev);
  return std::unique_ptr<frame_guard>{new frame_guard(std::move(p))};
}

const std::string& frame_guard::address() const {
  return impl_->address;
}

uint16_t frame_guard::port() const {
  return impl_->port;
}

void frame_guard::start(uint16_t upstream_port, uint32_t max_frame_bytes, logger log) {
  auto& p = *impl_;
  if (p.started)
    return;
  p.started = true;
  set_port(p.upstream, upstream_port);
  p.max_frame = max_frame_bytes;
  p.log = std::move(log);
  p.thread = std::thread([&p] { p.run(); });
  pthread_setname_np(p.thread.native_handle(), "kv-frame-guard");
}

void frame_guard::stop_listening() {
  auto& p = *impl_;
  if (p.wake_fd < 0)
    return; // stopped
  if (!p.started) {
    impl::close_fd(p.listen_fd);
    return;
  }
  p.unlisten = true;
  uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(p.wake_fd, &one, sizeof(one));
}

void frame_guard::stop() {
  auto& p = *impl_;
  if (p.wake_fd < 0)
    return; // stopped before
  p.stopping = true;
  uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(p.wake_fd, &one, sizeof(one));
  if (p.thread.joinable())
    p.thread.join();
  p.close_all();
}

} // namespace actorkv
