#include "actors/guard/frame_guard.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <list>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "actors/guard/basp_frame.hpp"
#include "actors/guard/link_activity.hpp"
#include "cluster-config/access.hpp"
#include "cluster-config/frame_progress.hpp"
#include "cluster-config/metrics.hpp"

namespace actorkv {

namespace {

using clock_type = std::chrono::steady_clock;

/// Bytes buffered per direction of a connection. Large enough that a 1 MiB value passes in a
/// handful of reads; allocated uninitialised, so only the pages a connection actually uses cost
/// memory.
constexpr size_t chunk_bytes = 256 * 1024;

/// A BASP heartbeat (operation 6, no payload): what the guard sends CAF for a client that CAF
/// heard nothing from for keep_alive_interval (keep_alive), CAF's own heartbeat interval in
/// kvnode. Checked at each sweep (at most a second apart), so CAF hears at least once a second.
constexpr std::array<uint8_t, basp_frame_checker::header_size> heartbeat_frame = {6};
constexpr std::chrono::milliseconds keep_alive_interval{500};

/// Bytes one connection may move per visit before the others get their turn.
constexpr size_t visit_budget = 4 * chunk_bytes;

std::string errno_text(int err) {
  return std::strerror(err);
}

/// "127.0.0.1" or "::1": refused TLS handshakes are counted per address.
std::string address_text(const sockaddr_storage& sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (sa.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(sa).sin_addr, host, sizeof(host));
  else
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(sa).sin6_addr, host, sizeof(host));
  return host;
}

/// "127.0.0.1:54321" or "[::1]:54321".
std::string endpoint_text(const sockaddr_storage& sa) {
  if (sa.ss_family == AF_INET)
    return address_text(sa) + ":" +
           std::to_string(ntohs(reinterpret_cast<const sockaddr_in&>(sa).sin_port));
  return "[" + address_text(sa) +
         "]:" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in6&>(sa).sin6_port));
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

/// "250 ms", "10 s".
std::string duration_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 != 0)
    return std::to_string(d.count()) + " ms";
  return std::to_string(d.count() / 1000) + " s";
}

/// OpenSSL's queued errors as one line ("No such file or directory; PEM lib"), emptying the queue.
std::string openssl_reasons() {
  std::string text;
  const char* data = nullptr;
  int flags = 0;
  while (auto e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    const char* reason =
        ERR_SYSTEM_ERROR(e) ? std::strerror(ERR_GET_REASON(e)) : ERR_reason_error_string(e);
    std::string one = reason ? reason : "OpenSSL error " + std::to_string(ERR_GET_REASON(e));
    if ((flags & ERR_TXT_STRING) && data && *data)
      one += std::string{" ("} + data + ")";
    if (text.find(one) == std::string::npos)
      text += (text.empty() ? "" : "; ") + one;
  }
  return text.empty() ? "no reason given by OpenSSL" : text;
}

/// A certificate subject's text fit for one log line: control characters become '?'.
std::string printable(std::string text) {
  for (auto& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  return text;
}

/// The values of the subject's entries named `nid` (CN, OU), as UTF-8.
std::vector<std::string> subject_entries(X509* cert, int nid) {
  std::vector<std::string> out;
  X509_NAME* name = X509_get_subject_name(cert);
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (len >= 0)
      out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  return out;
}

/// OpenSSL's socket BIO writes with write(), not send(MSG_NOSIGNAL): the guard's thread blocks
/// SIGPIPE, and a write to a vanished peer leaves one pending, taken here so it never fires.
void discard_sigpipe() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  timespec no_wait{};
  while (sigtimedwait(&pipe, nullptr, &no_wait) > 0) {
  }
}

struct ssl_ctx_free {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_free>;

/// The server side's TLS context, or nullptr with `error` naming the file and OpenSSL's reason.
ssl_ctx_ptr make_tls_context(const guard_tls& tls, std::string& error) {
  ERR_clear_error();
  ssl_ctx_ptr ctx{SSL_CTX_new(TLS_server_method())};
  if (!ctx) {
    error = "cannot create a TLS context: " + openssl_reasons();
    return nullptr;
  }
  auto* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  // TLS 1.2 only with forward secrecy and AEAD (TLS 1.3's suites all are; CAF's client offers
  // "HIGH:!aNULL:!MD5", which includes these).
  SSL_CTX_set_cipher_list(c, "ECDHE+AESGCM:ECDHE+CHACHA20");
  // No resumption: every connection presents, and has verified, its certificate afresh (a
  // resumed session would skip the expiry check). No renegotiation: it only costs the server.
  // An EOF without close_notify is an ordinary end: BASP's framing notices truncation anyway.
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(c, 0);
  // Partial writes: the outbound buffer is written record by record as the socket takes it, and
  // may grow between a blocked SSL_write and its retry. Idle connections give their buffers back.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
  // An encrypted key fails to load rather than prompting on the terminal.
  SSL_CTX_set_default_passwd_cb(c, [](char*, int, int, void*) { return 0; });
  auto fail = [&](const std::string& what, const std::string& file) {
    error = what + " " + file + ": " + openssl_reasons();
    return nullptr;
  };
  if (SSL_CTX_use_certificate_chain_file(c, tls.certificate_file.c_str()) != 1)
    return fail("cannot load certificate", tls.certificate_file);
  // Also checks that the key is the certificate's ("key values mismatch").
  if (SSL_CTX_use_PrivateKey_file(c, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail("cannot load private key", tls.key_file);
  if (SSL_CTX_load_verify_locations(c, tls.ca_file.c_str(), nullptr) != 1)
    return fail("cannot load CA file", tls.ca_file);
  // Names the accepted CAs in the handshake, so a client holding several certificates picks one
  // this node trusts.
  if (auto* names = SSL_load_client_CA_file(tls.ca_file.c_str()))
    SSL_CTX_set_client_CA_list(c, names);
  ERR_clear_error();
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return ctx;
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
  // With TLS, an SSL_read (or SSL_accept) may need the socket writable and an SSL_write may need
  // it readable: then that call waits for the other flag.
  bool read_needs_write = false;
  bool write_needs_read = false;
  bool can_read() const { return read_needs_write ? writable : readable; }
  bool can_write() const { return write_needs_read ? readable : writable; }
};

/// One direction of a connection: bytes read from one socket, not yet written to the other.
struct stream {
  std::unique_ptr<uint8_t[]> buf;
  size_t begin = 0;
  size_t ready = 0; ///< [begin, ready) may be written; [ready, end) wait for the frame budget
  size_t end = 0;
  bool eof = false;  ///< the source closed its side
  bool shut = false; ///< and that was passed on (shutdown of the destination's sending side)
  size_t pending() const { return end - begin; }
  size_t writable() const { return ready - begin; }
  size_t space() const { return chunk_bytes - end; }
};

/// What the guard knows of a connection's sender, for the connection limit.
enum class standing : uint8_t {
  pending, ///< not yet known: in its TLS handshake (without TLS: before its first whole header)
  client,  ///< a client's role (without TLS: anyone past its first header)
  node,    ///< a node's certificate
};

/// A connection accepted on the public port and its twin to CAF's port.
struct link {
  endpoint client;   ///< accepted on the public port
  endpoint upstream; ///< to CAF (with TLS: opened once the client named its process)
  stream in;         ///< client -> CAF: checked
  stream out;        ///< CAF -> client: passed through
  basp_frame_checker checker;
  /// With client rules: follows CAF's frames to the client, for the actors the client may answer.
  std::optional<basp_header_follower> outbound;
  std::string remote;    ///< "address:port"
  std::string remote_ip; ///< refused TLS handshakes are counted per address
  SSL* ssl = nullptr;    ///< with TLS: the client side's session
  bool handshaking = false;
  std::string subject; ///< with TLS: the certificate's CN
  role proven = role::none;
  std::string peer;                               ///< with TLS: "CN=alice, write", for log lines
  std::optional<process_identity> granted;        ///< recorded in the access table until closed
  std::optional<clock_type::time_point> deadline; ///< of a TLS handshake or a BASP header
  bool connecting = true;                         ///< upstream not connected (yet)
  bool dead = false;
  standing kind = standing::pending;
  std::list<link*>::iterator pending_at; ///< its place among the pending, oldest first
  clock_type::time_point last_inbound;   ///< when the remote side last sent something
  clock_type::time_point last_forwarded; ///< when CAF was last written to for it (keep_alive)
  clock_type::time_point opened;         ///< when it was accepted
  clock_type::time_point last_message;   ///< when a frame other than a heartbeat last arrived
  uint64_t messages_seen = 0;            ///< checker.messages() at the last sweep
  /// Of the current frame's payload, set on its header (frame_timeout).
  std::optional<clock_type::time_point> frame_deadline;
  uint64_t deadline_frame = 0; ///< the frame (checker.frames()) frame_deadline is for
  uint64_t reserved = 0;       ///< its share of the budget: checker.payload_left() as accounted
  bool paused = false;         ///< a header waits for the budget at in.ready
  /// With TLS, a node's: where reads that advance one of its frames are noted, for the failure
  /// detector (cluster-config/frame_progress.hpp).
  std::atomic<int64_t>* progress = nullptr;
  explicit link(uint32_t max_frame) : checker(max_frame) {}
};

/// The outcome of one read or write on an endpoint.
enum class io { moved, blocked, retry, closed, failed };

/// Refused TLS handshakes from one address since the line that was logged for them.
struct refusal_count {
  clock_type::time_point since;
  uint64_t more = 0; ///< not logged yet
  std::string last_reason;
};

/// Addresses whose refusals are counted one by one; refusals from further addresses in the same
/// interval are counted together, so that many addresses cannot grow the table or the log.
constexpr size_t max_counted_addresses = 1024;

/// Connections closed for one reason (at the limit, evicted, idle): the first in an interval is
/// logged in full, the rest are counted and summarised once the interval is over, so a flood
/// cannot flood the log.
struct closure_count {
  std::string what;                            ///< for the summary, e.g. "idle connections closed"
  std::optional<clock_type::time_point> since; ///< of the line logged; none: the next is logged
  uint64_t more = 0;                           ///< not logged yet
  std::string last;                            ///< the last of them, in full
};

} // namespace

struct frame_guard::impl {
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1; ///< eventfd: stop() and stop_listening() wake the thread through it
  /// timerfd: ends a pause of accepting. Made at start: a pause begins when descriptors ran out.
  int timer_fd = -1;
  /// timerfd: once a second while a link has a deadline or refusals wait to be summarised.
  int sweep_fd = -1;
  bool sweeping = false;
  std::string address;
  uint16_t port = 0;
  sockaddr_storage upstream{}; ///< CAF's port: 127.0.0.1 with the upstream port
  uint32_t max_frame = 0;
  logger log;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> unlisten{false};
  bool started = false;

  ssl_ctx_ptr tls; ///< null: plain forwarding
  std::shared_ptr<access_table> access;
  basp_rules node_rules{true, false};
  basp_rules client_rules{true, true};
  std::chrono::milliseconds handshake_timeout{};
  std::chrono::milliseconds header_timeout{};
  std::chrono::milliseconds refusal_interval{};
  std::unordered_map<std::string, refusal_count> refusals; ///< by remote address
  refusal_count other_refusals; ///< from addresses beyond max_counted_addresses
  std::chrono::milliseconds sweep_period{1000};

  // The connection limit (frame_guard.hpp, "Bounded").
  uint32_t max_connections = 0;
  uint32_t pending_limit = 0; ///< connections whose standing is pending
  uint32_t client_limit = 0;  ///< with TLS: the rest is kept for nodes
  uint32_t open = 0;          ///< live links
  uint32_t clients = 0;       ///< live links of standing client
  std::list<link*> pending;   ///< live links of standing pending, oldest first
  // The metrics, if any: open_gauge mirrors `open`; bytes from and to the public side (inside
  // TLS); the registry keeps them alive.
  metric_gauge* open_gauge = nullptr;
  metric_counter* bytes_in = nullptr;
  metric_counter* bytes_out = nullptr;
  std::shared_ptr<metrics_registry> metrics;
  std::chrono::milliseconds idle_timeout{};
  std::chrono::milliseconds frame_timeout{};
  std::shared_ptr<link_activity> activity; ///< null: nobody asks
  closure_count refused_at_limit{"connections refused at the connection limit", {}, 0, {}};
  closure_count evicted{"connections still in their handshake closed for newer ones", {}, 0, {}};
  closure_count idle_closed{"idle connections closed", {}, 0, {}};
  closure_count late_frames{"connections dropped for a stalled header or frame", {}, 0, {}};

  // The frame budget.
  uint64_t budget = 0;
  uint64_t announced = 0;    ///< the links' reserved bytes together
  std::deque<link*> starved; ///< paused links, in the order they began to wait
  bool budget_freed = false; ///< since starved links last tried again

  std::unordered_map<link*, std::unique_ptr<link>> links;
  std::vector<link*> again;     ///< links that used up their budget with work left
  std::vector<link*> graveyard; ///< closed this round, freed once no event can refer to them

  // Distinct addresses identify the non-link descriptors in epoll's user data.
  static inline char listen_tag = 0;
  static inline char wake_tag = 0;
  static inline char timer_tag = 0;
  static inline char sweep_tag = 0;

  ~impl() { close_all(); }

  /// Closes every socket; only while the thread is not running.
  void close_all() {
    for (auto& [ptr, l] : links) {
      (void)ptr;
      release(*l);
      close_fd(l->client.fd);
      close_fd(l->upstream.fd);
    }
    links.clear();
    again.clear();
    graveyard.clear();
    close_fd(listen_fd);
    close_fd(wake_fd);
    close_fd(timer_fd);
    close_fd(sweep_fd);
    close_fd(epoll_fd);
  }

  static void close_fd(int& fd) {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }

  void run() {
    // SSL_write and SSL_shutdown write with write(): a vanished peer must fail them with EPIPE,
    // not end the process.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    std::vector<epoll_event> events(64);
    while (!stopping.load(std::memory_order_relaxed)) {
      int timeout = again.empty() && !(budget_freed && !starved.empty()) ? -1 : 0;
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
          if (activity)
            report_activity(clock_type::now()); // the node may have asked for closes
        } else if (ev.data.ptr == &timer_tag) {
          uint64_t expirations;
          while (::read(timer_fd, &expirations, sizeof(expirations)) > 0) {
          }
          resume_accepting();
        } else if (ev.data.ptr == &sweep_tag) {
          uint64_t expirations;
          while (::read(sweep_fd, &expirations, sizeof(expirations)) > 0) {
          }
          sweep();
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
      retry_starved();
      if (!graveyard.empty()) {
        again.erase(std::remove_if(again.begin(), again.end(), [](link* l) { return l->dead; }),
                    again.end());
        for (auto* l : graveyard)
          links.erase(l);
        graveyard.clear();
      }
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
      if (!make_room(fd, from))
        continue;
      open_link(fd, endpoint_text(from), address_text(from));
    }
  }

  /// Before a new connection is opened: closes the oldest pending one when the pending share or
  /// the whole limit is full, or else the new one when the limit is full. False when the new one
  /// was closed.
  bool make_room(int fd, const sockaddr_storage& from) {
    if (!pending.empty() && (pending.size() >= pending_limit || open >= max_connections)) {
      auto& oldest = *pending.front();
      count_closure(evicted, "closed connection from " + oldest.remote +
                                 (tls ? " in its TLS handshake" : " before its first BASP header") +
                                 " for a newer one (at most " + std::to_string(pending_limit) +
                                 " connections may be that far)");
      close_link(oldest);
      return true;
    }
    if (open < max_connections)
      return true;
    count_closure(refused_at_limit,
                  "refused connection from " + endpoint_text(from) + ": " + std::to_string(open) +
                      " connections open, max_connections is " + std::to_string(max_connections));
    ::close(fd);
    return false;
  }

  /// One connection closed for `c`'s reason: logs `line` or counts it (closure_count).
  void count_closure(closure_count& c, const std::string& line) {
    if (c.since) {
      ++c.more;
      c.last = line;
    } else {
      c.since = clock_type::now();
      if (log)
        log(line);
    }
    keep_sweeping();
  }

  /// Summarises a closure_count whose interval is over, or forgets a quiet one.
  void summarise(closure_count& c, clock_type::time_point now) {
    if (!c.since || now - *c.since < refusal_interval)
      return;
    if (c.more == 0) {
      c.since.reset();
      return;
    }
    if (log)
      log(std::to_string(c.more) + " more " + c.what + " in the last " +
          duration_text(refusal_interval) + " (last: " + c.last + ")");
    c.since = now;
    c.more = 0;
  }

  void open_link(int client_fd, std::string remote, std::string remote_ip) {
    no_delay(client_fd);
    auto owned = std::make_unique<link>(max_frame);
    auto* l = owned.get();
    l->remote = std::move(remote);
    l->remote_ip = std::move(remote_ip);
    l->client.owner = l->upstream.owner = l;
    l->client.fd = client_fd;
    l->client.writable = true; // a fresh socket's send buffer is empty
    l->last_inbound = clock_type::now();
    l->opened = l->last_message = l->last_inbound;
    links.emplace(l, std::move(owned));
    ++open;
    if (open_gauge)
      open_gauge->add(1);
    l->pending_at = pending.insert(pending.end(), l);
    keep_sweeping(); // the idle timeout applies to every connection
    if (tls) {
      // CAF's port is connected only once the client proved a role and named its process.
      ERR_clear_error();
      l->ssl = SSL_new(tls.get());
      if (!l->ssl || SSL_set_fd(l->ssl, client_fd) != 1) {
        drop(*l, "cannot start TLS: " + openssl_reasons());
        return;
      }
      SSL_set_accept_state(l->ssl);
      l->handshaking = true;
      l->deadline = clock_type::now() + handshake_timeout;
      keep_sweeping();
    } else if (!connect_upstream(*l)) {
      return;
    }
    if (watch(*l, l->client))
      service(*l);
  }

  /// Opens the link's connection to CAF's port. False when the link was dropped.
  bool connect_upstream(link& l) {
    int up = ::socket(upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (up < 0) {
      drop(l, "no socket to the node's CAF port (" + errno_text(errno) + ")");
      return false;
    }
    no_delay(up);
    l.upstream.fd = up;
    int rc = ::connect(up, reinterpret_cast<const sockaddr*>(&upstream), length_of(upstream));
    if (rc != 0 && errno != EINPROGRESS) {
      drop(l, "cannot reach the node's CAF port (" + errno_text(errno) + ")");
      return false;
    }
    l.connecting = rc != 0;
    l.upstream.readable = !l.connecting;
    l.upstream.writable = !l.connecting;
    return watch(l, l.upstream);
  }

  /// Adds one of the link's sockets to the epoll set. False when the link was dropped.
  bool watch(link& l, endpoint& e) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &e;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, e.fd, &ev) != 0) {
      drop(l, "cannot watch the connection (" + errno_text(errno) + ")");
      return false;
    }
    return true;
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
      else if (l.handshaking)
        refuse(l, "connection failed during the TLS handshake (" + errno_text(err) + ")");
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
    if (l.handshaking && (!handshake(l) || l.handshaking))
      return; // refused, or waiting for the socket
    size_t moved = 0;
    for (;;) {
      bool progress = false;
      if (!pump(l, l.in, l.client, l.upstream, true, moved, progress) ||
          !pump(l, l.out, l.upstream, l.client, false, moved, progress))
        return; // dropped
      if (tls && !l.granted && l.checker.identity()) {
        if (!admit(l))
          return;
        progress = true;
      }
      if (l.in.eof && l.upstream.fd < 0) { // gone before naming its process
        close_link(l);
        return;
      }
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

  /// Advances the TLS handshake. False when the connection was refused.
  bool handshake(link& l) {
    auto& c = l.client;
    if (!c.can_read())
      return true;
    ERR_clear_error();
    int rc = SSL_accept(l.ssl);
    if (rc == 1) {
      c.read_needs_write = false;
      return established(l);
    }
    int err = SSL_get_error(l.ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      c.read_needs_write = err == SSL_ERROR_WANT_WRITE;
      if (c.read_needs_write)
        c.writable = false;
      else
        c.readable = false;
      return true;
    }
    std::string reason;
    if (err == SSL_ERROR_SYSCALL && errno != 0) {
      reason = errno_text(errno);
    } else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) {
      if (BIO_number_read(SSL_get_rbio(l.ssl)) == 0) {
        close_link(l); // closed before sending a byte: a port probe, not worth a log line
        return false;
      }
      reason = "connection closed during the TLS handshake";
    } else {
      reason = openssl_reasons();
    }
    auto verified = SSL_get_verify_result(l.ssl);
    if (verified != X509_V_OK)
      reason += std::string{" ("} + X509_verify_cert_error_string(verified) + ")";
    refuse(l, reason);
    return false;
  }

  /// The TLS handshake completed: the role from the verified certificate. False when refused.
  bool established(link& l) {
    X509* cert = SSL_get0_peer_certificate(l.ssl);
    if (!cert || SSL_get_verify_result(l.ssl) != X509_V_OK) { // FAIL_IF_NO_PEER_CERT prevents it
      refuse(l, "no verified certificate");
      return false;
    }
    auto names = subject_entries(cert, NID_commonName);
    l.subject = printable(names.empty() ? std::string{} : names.front());
    auto units = subject_entries(cert, NID_organizationalUnitName);
    auto proven = units.size() == 1 ? parse_role(units.front()) : std::nullopt;
    if (!proven) {
      refuse(l, "certificate CN=" + l.subject + " has no role (OU)");
      return false;
    }
    l.proven = *proven;
    l.peer = "CN=" + l.subject + ", " + role_name(l.proven);
    if (l.proven == role::node) {
      l.checker.set_rules(&node_rules);
      l.progress = &frame_progress::slot(l.subject);
    } else {
      l.checker.set_rules(&client_rules);
      l.outbound.emplace();
    }
    if (!settle(l, l.proven == role::node ? standing::node : standing::client))
      return false;
    l.handshaking = false;
    l.deadline.reset();
    update_deadline(l); // now for the client handshake
    return true;
  }

  /// What the link's sender is became known: it leaves the pending, counted as `kind`. A client
  /// beyond client_limit is refused: false, the link was closed.
  bool settle(link& l, standing kind) {
    if (l.kind != standing::pending)
      return true;
    if (kind == standing::client && clients >= client_limit) {
      count_closure(refused_at_limit,
                    "refused connection from " + l.remote +
                        (l.peer.empty() ? "" : " (" + l.peer + ")") + ": " +
                        std::to_string(clients) + " client connections open, at most " +
                        std::to_string(client_limit) +
                        (tls ? " (max_connections less the share kept for nodes)" : ""));
      close_link(l);
      return false;
    }
    pending.erase(l.pending_at);
    l.kind = kind;
    if (kind == standing::client)
      ++clients;
    return true;
  }

  /// The client handshake named the process: record it with its role, then connect CAF's port.
  /// False when the link was dropped.
  bool admit(link& l) {
    auto& who = *l.checker.identity();
    if (!access->grant(who, l.proven, l.subject)) {
      drop(l, "process " + node_id_text(who) + " is already connected with certificate CN=" +
                  access->subject_of(who) + " (" + role_name(access->role_of(who)) + ")");
      return false;
    }
    l.granted = who;
    return connect_upstream(l);
  }

  /// One step of one direction: write what is buffered, pass on an EOF, read more. False when the
  /// link was closed.
  bool pump(link& l, stream& s, endpoint& src, endpoint& dst, bool checked, size_t& moved,
            bool& progress) {
    bool dst_ready = &dst != &l.upstream || !l.connecting;
    if (dst_ready && dst.can_write() && s.writable() > 0) {
      size_t wrote = 0;
      std::string error;
      switch (write_some(l, dst, s.buf.get() + s.begin, s.writable(), wrote, error)) {
      case io::moved:
        s.begin += wrote;
        moved += wrote;
        if (&dst == &l.upstream)
          l.last_forwarded = clock_type::now();
        progress = true;
        if (s.pending() == 0)
          s.begin = s.ready = s.end = 0;
        break;
      case io::retry:
        progress = true;
        break;
      case io::blocked:
        break;
      default: // EPIPE, ECONNRESET: the other side is gone
        error.empty() ? close_link(l) : drop(l, error);
        return false;
      }
    }
    if (dst_ready && s.eof && !s.shut && s.pending() == 0) {
      if (&dst == &l.client && l.ssl) { // close_notify: a clean end, not a truncation
        ERR_clear_error();
        SSL_shutdown(l.ssl);
        discard_sigpipe();
      }
      ::shutdown(dst.fd, SHUT_WR);
      s.shut = true;
      progress = true;
    }
    bool src_ready = (&src != &l.upstream || !l.connecting) && !(checked && l.paused);
    if (src_ready && src.can_read() && !s.eof && s.space() > 0) {
      if (!s.buf)
        // Uninitialised: untouched pages stay unmapped. Room for a heartbeat beyond the chunk
        // (keep_alive), so that one always fits before a waiting header.
        s.buf.reset(new uint8_t[chunk_bytes + heartbeat_frame.size()]);
      size_t got = 0;
      std::string error;
      switch (read_some(l, src, s.buf.get() + s.end, s.space(), got, error)) {
      case io::moved:
        if (checked) {
          l.last_inbound = clock_type::now();
          s.end += got;
          if (!check(l))
            return false;
          progress = true;
          break;
        }
        if (l.outbound) {
          // Read before the client sees it, so its answer is never ahead of the permission.
          l.outbound->feed(s.buf.get() + s.end, got, [&](const basp_header& h) {
            if (h.operation == 2 && (h.flags & named_receiver_flag))
              l.checker.allow_reply_to(h.source_actor);
          });
          if (!l.checker.knows_local_node() && l.outbound->local_node())
            l.checker.set_local_node(l.outbound->local_node());
        }
        s.end += got;
        s.ready = s.end;
        progress = true;
        break;
      case io::closed:
        s.eof = true;
        src.readable = false;
        progress = true;
        break;
      case io::retry:
        progress = true;
        break;
      case io::blocked:
        break;
      default:
        error.empty() ? close_link(l) : drop(l, error);
        return false;
      }
    }
    return true;
  }

  /// Checks the `in` bytes from in.ready on (read just now, or waiting since a pause): they may
  /// pass up to the first header the budget cannot take yet, where the link pauses. False when
  /// the link was dropped.
  bool check(link& l) {
    auto& s = l.in;
    size_t taken = 0;
    auto admit = [&](const basp_header& h) {
      // Nodes are members, trusted with everything: their replication never queues behind
      // clients (it counts, though, so large client frames wait while peers are busy).
      if (l.kind == standing::node || h.payload_len <= always_admitted_frame_bytes)
        return true;
      auto others = announced - l.reserved; // at a header, this link's own frame is complete
      return others == 0 || others + h.payload_len <= budget;
    };
    bool mid_frame = l.checker.large_frame_under_way(frame_progress::large_frame_bytes);
    if (!l.checker.feed(s.buf.get() + s.ready, s.end - s.ready, taken, admit)) {
      drop(l, l.checker.describe());
      return false;
    }
    // A large frame still arriving, or finished by this read: the node's later messages (its
    // probe acks among them) are queued behind it, not missing.
    if (l.progress && taken > 0 &&
        (mid_frame || l.checker.large_frame_under_way(frame_progress::large_frame_bytes)))
      frame_progress::note(*l.progress);
    s.ready += taken;
    bool waits = s.ready < s.end;
    if (waits && !l.paused)
      starved.push_back(&l);
    l.paused = waits;
    account(l);
    if (l.kind == standing::pending && !tls && l.checker.frames() > 0 &&
        !settle(l, standing::client))
      return false;
    update_deadline(l);
    return true;
  }

  /// Brings the budget up to date with the link's frame in progress.
  void account(link& l) {
    auto now_reserved = l.checker.payload_left();
    if (now_reserved < l.reserved)
      budget_freed = true;
    announced = announced - l.reserved + now_reserved;
    l.reserved = now_reserved;
  }

  /// Paused links try again, in the order they began to wait, once some budget was freed.
  void retry_starved() {
    if (!budget_freed || starved.empty())
      return;
    budget_freed = false;
    std::deque<link*> turn;
    turn.swap(starved);
    for (auto* l : turn) {
      if (l->dead || !l->paused)
        continue;
      l->paused = false; // check() pauses it again, at the back, if its header still waits
      if (check(*l) && !l->paused)
        service(*l);
    }
  }

  io read_some(link& l, endpoint& src, uint8_t* buf, size_t want, size_t& got, std::string& error) {
    if (&src == &l.client && l.ssl) {
      ERR_clear_error();
      int rc = SSL_read(l.ssl, buf, static_cast<int>(std::min<size_t>(want, INT_MAX)));
      if (rc > 0) {
        // Readiness stays: SSL_read returns one record at a time and may hold more (SSL_pending)
        // that no epoll edge will announce. Only WANT_READ says the socket is drained.
        src.read_needs_write = false;
        got = static_cast<size_t>(rc);
        if (bytes_in)
          bytes_in->add(got);
        return io::moved;
      }
      return tls_failure(l, src, rc, true, error);
    }
    auto r = ::recv(src.fd, buf, want, 0);
    if (r > 0) {
      got = static_cast<size_t>(r);
      if (bytes_in && &src == &l.client)
        bytes_in->add(got);
      // A short read drained the socket; new data will raise a new edge. After a hang-up no
      // edge follows, so keep reading until recv sees the EOF.
      if (got < want && !src.hung_up)
        src.readable = false;
      return io::moved;
    }
    if (r == 0)
      return io::closed;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      src.readable = false;
      return io::blocked;
    }
    return errno == EINTR ? io::retry : io::failed;
  }

  io write_some(link& l, endpoint& dst, const uint8_t* buf, size_t n, size_t& wrote,
                std::string& error) {
    if (&dst == &l.client && l.ssl) {
      ERR_clear_error();
      int rc = SSL_write(l.ssl, buf, static_cast<int>(std::min<size_t>(n, INT_MAX)));
      if (rc > 0) {
        // A partial write is one record done, not a full socket: writability stays.
        dst.write_needs_read = false;
        wrote = static_cast<size_t>(rc);
        if (bytes_out)
          bytes_out->add(wrote);
        return io::moved;
      }
      return tls_failure(l, dst, rc, false, error);
    }
    auto w = ::send(dst.fd, buf, n, MSG_NOSIGNAL);
    if (w > 0) {
      wrote = static_cast<size_t>(w);
      if (bytes_out && &dst == &l.client)
        bytes_out->add(wrote);
      if (wrote < n)
        dst.writable = false; // a short write: the socket buffer is full
      return io::moved;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      dst.writable = false;
      return io::blocked;
    }
    return w < 0 && errno == EINTR ? io::retry : io::failed;
  }

  /// Why an SSL_read (`reading`) or SSL_write returned `rc` <= 0; clears the readiness flag the
  /// call waits for.
  io tls_failure(link& l, endpoint& e, int rc, bool reading, std::string& error) {
    int err = SSL_get_error(l.ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (reading)
        e.read_needs_write = err == SSL_ERROR_WANT_WRITE;
      else
        e.write_needs_read = err == SSL_ERROR_WANT_READ;
      if (err == SSL_ERROR_WANT_READ)
        e.readable = false;
      else
        e.writable = false;
      return io::blocked;
    }
    if (err == SSL_ERROR_ZERO_RETURN)
      return reading ? io::closed : io::failed;
    if (err == SSL_ERROR_SYSCALL) {
      if (errno == EPIPE)
        discard_sigpipe();
      if (errno == EINTR)
        return io::retry;
      return reading && errno == 0 ? io::closed : io::failed;
    }
    error = "TLS error: " + openssl_reasons();
    return io::failed;
  }

  /// Starts or ends the link's wait for a BASP header (one that is incomplete, or with TLS the
  /// client handshake that must follow the TLS handshake) and for the payload of its current
  /// frame. A paused link waits for the guard, not for its sender: no header deadline runs then
  /// (and no payload is due: the last frame was complete).
  void update_deadline(link& l) {
    bool waiting = !l.paused && (l.checker.mid_header() || (tls && !l.checker.identity()));
    if (!waiting) {
      l.deadline.reset();
    } else if (!l.deadline) {
      l.deadline = clock_type::now() + header_timeout;
      keep_sweeping();
    }
    if (l.checker.payload_left() == 0) {
      l.frame_deadline.reset();
    } else if (!l.frame_deadline || l.deadline_frame != l.checker.frames()) {
      l.frame_deadline = clock_type::now() + frame_timeout;
      l.deadline_frame = l.checker.frames();
      keep_sweeping();
    }
  }

  void keep_sweeping() {
    if (sweeping)
      return;
    itimerspec every{};
    every.it_value.tv_sec = sweep_period.count() / 1000;
    every.it_value.tv_nsec = sweep_period.count() % 1000 * 1'000'000;
    every.it_interval = every.it_value;
    timerfd_settime(sweep_fd, 0, &every, nullptr);
    sweeping = true;
  }

  /// Drops the links whose deadline passed or that idled too long and summarises refusals; stops
  /// the timer when nothing is left to watch.
  void sweep() {
    auto now = clock_type::now();
    for (auto& [ptr, l] : links) {
      (void)ptr;
      if (l->dead)
        continue;
      if (l->deadline && now >= *l->deadline) {
        if (l->handshaking)
          refuse(*l, "no TLS handshake within " + duration_text(handshake_timeout));
        else if (tls && !l->checker.identity())
          drop(*l, "no client_handshake within " + duration_text(header_timeout) +
                       " of the TLS handshake");
        else
          close_late(*l, "BASP header incomplete for " + duration_text(header_timeout));
      } else if (l->frame_deadline && now >= *l->frame_deadline) {
        auto& h = l->checker.current();
        close_late(*l, "BASP frame incomplete after " + duration_text(frame_timeout) + ": " +
                           std::to_string(h.payload_len - l->checker.payload_left()) + " of " +
                           std::to_string(h.payload_len) + " payload bytes of a " +
                           operation_name(h.operation) + " arrived");
      } else if (!l->paused && now - l->last_inbound >= idle_timeout) {
        count_closure(idle_closed, "closed idle connection from " + l->remote +
                                       (l->peer.empty() ? "" : " (" + l->peer + ")") +
                                       ": nothing received for " + duration_text(idle_timeout));
        close_link(*l);
      } else if (l->paused || (tls && l->kind == standing::client)) {
        keep_alive(*l, now);
      }
    }
    if (activity)
      report_activity(now);
    summarise_refusals(now);
    for (auto* c : {&refused_at_limit, &evicted, &idle_closed, &late_frames})
      summarise(*c, now);
    bool counting = false;
    for (auto* c : {&refused_at_limit, &evicted, &idle_closed, &late_frames})
      counting = counting || c->since.has_value();
    // Every open connection can idle: the sweep runs while any is open.
    if (open == 0 && !counting && refusals.empty() && other_refusals.more == 0) {
      itimerspec off{};
      timerfd_settime(sweep_fd, 0, &off, nullptr);
      sweeping = false;
    }
  }

  /// Tells the node when each connected process last sent a message, and closes the
  /// connections of the processes it asked to (link_activity.hpp).
  void report_activity(clock_type::time_point now) {
    auto closing = activity->take_closes();
    std::unordered_map<process_identity, clock_type::time_point, process_identity_hash> latest;
    for (auto& [ptr, l] : links) {
      (void)ptr;
      if (l->dead || !l->checker.identity())
        continue;
      auto& who = *l->checker.identity();
      if (l->checker.messages() != l->messages_seen) {
        l->messages_seen = l->checker.messages();
        l->last_message = now;
      }
      auto c = std::find_if(closing.begin(), closing.end(),
                            [&](const link_activity::closing& x) { return x.process == who; });
      if (c != closing.end() && l->opened <= c->opened_before) {
        close_link(*l); // the node logs why
        continue;
      }
      auto [at, added] = latest.emplace(who, l->last_message);
      if (!added)
        at->second = std::max(at->second, l->last_message);
    }
    std::vector<link_activity::process_use> connected;
    connected.reserve(latest.size());
    for (auto& [who, when] : latest)
      connected.push_back({who, when});
    activity->publish(std::move(connected));
  }

  /// CAF closes a connection it heard nothing on for its connection timeout (kvnode's
  /// [timeouts] connection_ms; it was 4 s), meant for frozen peers. A client can be silent that
  /// long without being gone: its header waits for the budget here (holding back all it sends
  /// after it, its keep-alive probes too), or its process's one CAF I/O thread is busy serialising
  /// large puts for its other connections (512 puts of 1 MiB from one process on a loaded machine
  /// lost every connection). Clients have the guard's idle_timeout instead, on what they send:
  /// for a waiting link, and with TLS for every client's, CAF gets a heartbeat in its name
  /// whenever it heard nothing for it for keep_alive_interval, at a frame boundary with
  /// everything before it written. Nodes' links keep CAF's timeout (without TLS nodes cannot be
  /// told from clients).
  void keep_alive(link& l, clock_type::time_point now) {
    auto& s = l.in;
    if (l.connecting || s.begin != s.ready || l.checker.frames() == 0 || l.checker.mid_header() ||
        l.checker.payload_left() != 0 || now - l.last_forwarded < keep_alive_interval)
      return;
    auto waiting = s.end - s.ready;
    std::memmove(s.buf.get() + heartbeat_frame.size(), s.buf.get() + s.ready, waiting);
    std::memcpy(s.buf.get(), heartbeat_frame.data(), heartbeat_frame.size());
    s.begin = 0;
    s.ready = heartbeat_frame.size();
    s.end = s.ready + waiting;
    service(l);
  }

  /// A TLS handshake was refused: the first refusal from an address in an interval is logged,
  /// the rest are counted.
  void refuse(link& l, const std::string& reason) {
    auto i = refusals.find(l.remote_ip);
    if (i != refusals.end()) {
      ++i->second.more;
      i->second.last_reason = reason;
    } else if (refusals.size() >= max_counted_addresses) {
      if (other_refusals.more++ == 0)
        other_refusals.since = clock_type::now();
      other_refusals.last_reason = reason;
    } else {
      refusals.emplace(l.remote_ip, refusal_count{clock_type::now(), 0, {}});
      if (log)
        log("refused TLS connection from " + l.remote + ": " + reason);
    }
    keep_sweeping();
    close_link(l);
  }

  void summarise_refusals(clock_type::time_point now) {
    auto summary = [&](const std::string& from, const refusal_count& c) {
      if (log)
        log("refused " + std::to_string(c.more) + " more TLS connection" +
            (c.more == 1 ? "" : "s") + " from " + from + " in the last " +
            duration_text(refusal_interval) + " (last: " + c.last_reason + ")");
    };
    for (auto i = refusals.begin(); i != refusals.end();) {
      auto& c = i->second;
      if (now - c.since < refusal_interval) {
        ++i;
      } else if (c.more == 0) {
        i = refusals.erase(i); // quiet for an interval: its next refusal is logged in full
      } else {
        summary(i->first, c);
        c = refusal_count{now, 0, {}};
        ++i;
      }
    }
    if (other_refusals.more > 0 && now - other_refusals.since >= refusal_interval) {
      summary("other addresses", other_refusals);
      other_refusals = refusal_count{};
    }
  }

  /// Closes a link whose header or frame stalled, logging it like a closure_count.
  void close_late(link& l, const std::string& reason) {
    count_closure(late_frames, "dropped connection from " + l.remote +
                                   (l.peer.empty() ? "" : " (" + l.peer + ")") + ": " + reason);
    close_link(l);
  }

  /// Closes a link for a reason worth a log line.
  void drop(link& l, const std::string& reason) {
    if (log)
      log("dropped connection from " + l.remote + (l.peer.empty() ? "" : " (" + l.peer + ")") +
          ": " + reason);
    close_link(l);
  }

  void close_link(link& l) {
    if (l.dead)
      return;
    l.dead = true;
    --open;
    if (open_gauge)
      open_gauge->add(-1);
    if (l.kind == standing::pending)
      pending.erase(l.pending_at);
    else if (l.kind == standing::client)
      --clients;
    announced -= l.reserved;
    if (l.reserved > 0)
      budget_freed = true;
    l.reserved = 0;
    if (l.paused)
      if (auto i = std::find(starved.begin(), starved.end(), &l); i != starved.end())
        starved.erase(i);
    release(l);
    close_fd(l.client.fd); // closing also removes them from the epoll set
    close_fd(l.upstream.fd);
    graveyard.push_back(&l);
  }

  /// Gives back what the link holds beyond its sockets: its grant and its TLS session.
  void release(link& l) {
    if (l.granted) {
      access->release(*l.granted);
      l.granted.reset();
    }
    SSL_free(l.ssl);
    l.ssl = nullptr;
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
  p->sweep_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (p->epoll_fd < 0 || p->wake_fd < 0 || p->timer_fd < 0 || p->sweep_fd < 0) {
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
  ev.data.ptr = &impl::sweep_tag;
  epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, p->sweep_fd, &ev);
  return std::unique_ptr<frame_guard>{new frame_guard(std::move(p))};
}

const std::string& frame_guard::address() const {
  return impl_->address;
}

uint16_t frame_guard::port() const {
  return impl_->port;
}

bool frame_guard::start(guard_options options, std::string& error) {
  auto& p = *impl_;
  if (p.started)
    return true;
  if (options.client_destinations.size() > 2) {
    error = "client_destinations names the node actor and its coordinator, not " +
            std::to_string(options.client_destinations.size()) + " actors";
    return false;
  }
  if (options.tls) {
    if (!options.access) {
      error = "TLS needs an access table to record roles in";
      return false;
    }
    p.tls = make_tls_context(*options.tls, error);
    if (!p.tls)
      return false;
  }
  p.started = true;
  // CAF's plaintext port listens on the loopback address only, whatever the node's address.
  p.upstream = sockaddr_storage{};
  auto& loopback = reinterpret_cast<sockaddr_in&>(p.upstream);
  loopback.sin_family = AF_INET;
  loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  set_port(p.upstream, options.upstream_port);
  p.max_frame = options.max_frame_bytes;
  p.log = std::move(options.log);
  p.access = std::move(options.access);
  auto& allowed = options.client_destinations;
  p.client_rules.node_actor = allowed.size() > 0 ? allowed[0] : 0;
  p.client_rules.coordinator = allowed.size() > 1 ? allowed[1] : 0;
  p.handshake_timeout = options.handshake_timeout;
  p.header_timeout = options.header_timeout;
  p.refusal_interval = options.refusal_log_interval;
  p.max_connections = std::max<uint32_t>(options.max_connections, 1);
  if ((p.metrics = options.metrics)) {
    p.open_gauge = &p.metrics->gauge("actorkv_open_connections",
                                     "Connections open, by listener (node port or HTTPS).",
                                     {{"listener", "node"}});
    auto bytes = [&](const char* direction) {
      return &p.metrics->counter("actorkv_network_bytes_total",
                                 "Bytes received (in) and sent (out) by listener, inside TLS.",
                                 {{"listener", "node"}, {"direction", direction}});
    };
    p.bytes_in = bytes("in");
    p.bytes_out = bytes("out");
  }
  p.pending_limit = std::max<uint32_t>(p.max_connections / 4, 1);
  p.client_limit =
      p.tls ? p.max_connections - std::max<uint32_t>(p.max_connections / 8, 1) : p.max_connections;
  p.idle_timeout = options.idle_timeout;
  p.frame_timeout = options.frame_timeout;
  p.activity = std::move(options.activity);
  if (p.activity)
    p.activity->on_close([&p] {
      uint64_t one = 1;
      [[maybe_unused]] auto ignored = ::write(p.wake_fd, &one, sizeof(one));
    });
  p.budget = options.frame_budget_bytes != 0 ? options.frame_budget_bytes
                                             : uint64_t{4} * options.max_frame_bytes;
  // Deadlines are checked at half the shortest timeout (at most once a second, at least every
  // 20 ms), so none is overrun by more than half of itself.
  auto shortest = std::min(
      {p.handshake_timeout, p.header_timeout, p.idle_timeout, p.frame_timeout, p.refusal_interval});
  p.sweep_period =
      std::clamp(shortest / 2, std::chrono::milliseconds{20}, std::chrono::milliseconds{1000});
  p.thread = std::thread([&p] { p.run(); });
  pthread_setname_np(p.thread.native_handle(), "kv-frame-guard");
  return true;
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
  if (p.activity)
    p.activity->on_close({}); // the node outlives the guard's descriptors
  uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(p.wake_fd, &one, sizeof(one));
  if (p.thread.joinable())
    p.thread.join();
  p.close_all();
}

} // namespace actorkv
