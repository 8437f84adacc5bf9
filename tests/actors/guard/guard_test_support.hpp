// Shared by the frame guard's tests: BASP frames, loopback sockets, and an echo server standing
// in for CAF's port.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

namespace guard_test {

using namespace std::chrono_literals;
using wire = std::vector<uint8_t>;

/// A BASP frame: header (big-endian) and payload.
inline wire frame(uint8_t op, uint32_t payload_len, uint64_t dst, bool with_payload = true,
                  uint64_t src = 0) {
  wire out;
  auto put = [&](uint64_t x, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      out.push_back(static_cast<uint8_t>(x >> (8 * i)));
  };
  put(op, 1);
  put(0, 3);
  put(payload_len, 4);
  put(0, 8);
  put(src, 8);
  put(dst, 8);
  if (with_payload)
    for (uint32_t i = 0; i < payload_len; ++i)
      out.push_back(static_cast<uint8_t>(i * 31 + 7));
  return out;
}

/// The first frame a real CAF 0.17.6 client sent (captured on a socket): its client_handshake,
/// naming node BFFADF3AC9F1142F6446CA706C9BB0F69B114400#16090.
inline const wire captured_client_handshake = {
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, // client_handshake, payload_len 32
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // operation_data
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // source_actor
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // dest_actor
    0x00, 0x00, 0x3e, 0x9a, 0xab, 0x9b, 0xac, 0x79, // atom("default")
    0x00, 0x00, 0x3e, 0xda,                         // process id 16090
    0xbf, 0xfa, 0xdf, 0x3a, 0xc9, 0xf1, 0x14, 0x2f, // host id
    0x64, 0x46, 0xca, 0x70, 0x6c, 0x9b, 0xb0, 0xf6, //
    0x9b, 0x11, 0x44, 0x00,                         //
};
constexpr uint32_t captured_pid = 16090;
inline const std::array<uint8_t, 20> captured_host = {0xbf, 0xfa, 0xdf, 0x3a, 0xc9, 0xf1, 0x14,
                                                      0x2f, 0x64, 0x46, 0xca, 0x70, 0x6c, 0x9b,
                                                      0xb0, 0xf6, 0x9b, 0x11, 0x44, 0x00};

/// A client handshake naming process `pid` on `host` (the captured one, with another pid).
inline wire client_handshake(uint32_t pid) {
  auto out = captured_client_handshake;
  for (int i = 0; i < 4; ++i)
    out[40 + static_cast<size_t>(i)] = static_cast<uint8_t>(pid >> (8 * (3 - i)));
  return out;
}

/// What a real CAF 0.17.6 client's BASP broker sends every new node: a named receiver message
/// to "SpawnServ" asking for (sys_atom, get_atom, "info"), from its helper actor `src`.
inline wire spawn_info_request_from(uint64_t src) {
  auto out = frame(2, 45, 0x03ddd66f3376adfbULL, false, src);
  out[3] = 0x01; // named_receiver_flag
  out[8] = 0x10; // operation_data: an asynchronous message id, as captured
  const char* payload = "00000014403c3e2b4061746f6d2b4061746f6d2b4073747200000000003f8fb800000000"
                        "003ecab904696e666f"; // captured
  for (size_t i = 0; payload[i]; i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string{payload + i, 2}, nullptr, 16)));
  return out;
}

inline wire concat(std::initializer_list<wire> parts) {
  wire out;
  for (auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline sockaddr_in loopback(uint16_t port, const char* address = "127.0.0.1") {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, address, &sa.sin_addr);
  return sa;
}

/// A blocking TCP connection to 127.0.0.1:port from `source` (any 127.0.0.x: the guard counts
/// refusals per address), or -1.
inline int connect_to(uint16_t port, const char* source = nullptr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (source) {
    auto from = loopback(0, source);
    ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from));
  }
  auto sa = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, const wire& data) {
  size_t at = 0;
  while (at < data.size()) {
    auto n = ::send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

inline int millis_left(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
  return static_cast<int>(std::max<long long>(left, 0));
}

/// Reads until `want` bytes, EOF, an error or the time-out.
inline wire receive(int fd, size_t want, std::chrono::milliseconds timeout) {
  wire out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  uint8_t buf[65536];
  while (out.size() < want) {
    pollfd p{fd, POLLIN, 0};
    int left = millis_left(deadline);
    if (left <= 0 || ::poll(&p, 1, left) <= 0)
      break;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

/// True when the peer closed (EOF or reset) within the time-out, discarding any data before.
inline bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  uint8_t buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int left = millis_left(deadline);
    if (left <= 0 || ::poll(&p, 1, left) <= 0)
      return false;
    if (::recv(fd, buf, sizeof(buf), 0) <= 0)
      return true;
  }
}

/// Polls `done` until it holds or the time-out passes.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// Stands in for CAF's port: accepts connections and echoes each one's bytes, recording them
/// (after an optional greeting of its own).
struct echo_server {
  int listen_fd = -1;
  uint16_t port = 0;
  std::thread thread;
  std::mutex mtx;
  std::vector<int> conns;
  wire received; ///< everything any connection sent, in order of arrival
  std::atomic<int> accepted{0};
  std::atomic<bool> done{false};

  wire greeting; ///< sent to each connection first, as CAF's server handshake would be

  explicit echo_server(wire hello = {}) : greeting(std::move(hello)) {
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto sa = loopback(0);
    BOOST_REQUIRE(::bind(listen_fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
    BOOST_REQUIRE(::listen(listen_fd, SOMAXCONN) == 0);
    socklen_t len = sizeof(sa);
    getsockname(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
    thread = std::thread([this] { run(); });
  }

  ~echo_server() {
    done = true;
    thread.join();
    for (int fd : conns)
      ::close(fd);
    ::close(listen_fd);
  }

  void run() {
    uint8_t buf[65536];
    while (!done) {
      std::vector<pollfd> fds{{listen_fd, POLLIN, 0}};
      for (int fd : conns)
        fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0)
        continue;
      if (fds[0].revents & POLLIN) {
        conns.push_back(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
        if (!greeting.empty())
          send_all(conns.back(), greeting);
        ++accepted;
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        auto n = ::recv(fds[i].fd, buf, sizeof(buf), 0);
        if (n <= 0) { // the guard closed its side: so does the server
          ::close(fds[i].fd);
          conns.erase(std::find(conns.begin(), conns.end(), fds[i].fd));
          continue;
        }
        {
          std::lock_guard<std::mutex> guard{mtx};
          received.insert(received.end(), buf, buf + n);
        }
        wire chunk(buf, buf + n);
        send_all(fds[i].fd, chunk);
      }
    }
  }

  size_t received_bytes() {
    std::lock_guard<std::mutex> guard{mtx};
    return received.size();
  }
};

/// Collects the guard's log lines.
struct log_sink {
  std::mutex mtx;
  std::vector<std::string> lines;

  std::function<void(const std::string&)> logger() {
    return [this](const std::string& line) {
      std::lock_guard<std::mutex> g{mtx};
      lines.push_back(line);
    };
  }

  std::vector<std::string> get() {
    std::lock_guard<std::mutex> g{mtx};
    return lines;
  }

  /// The lines containing `text`.
  std::vector<std::string> matching(const std::string& text) {
    std::vector<std::string> out;
    for (auto& l : get())
      if (l.find(text) != std::string::npos)
        out.push_back(l);
    return out;
  }
};

} // namespace guard_test
