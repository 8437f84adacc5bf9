// The frame guard (actors/guard/frame_guard.hpp) with real sockets on 127.0.0.1 and a plain echo
// server standing in for CAF's port: frames pass both ways intact, a forged length drops the
// connection before the upstream sees the header, with one log line, and stop() ends it all
// promptly.
#include "actors/guard/frame_guard.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
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

using namespace actorkv;
using namespace std::chrono_literals;

namespace {

using wire = std::vector<uint8_t>;

/// A BASP frame: header (big-endian) and payload.
wire frame(uint8_t op, uint32_t payload_len, uint64_t dst, bool with_payload = true) {
  wire out;
  auto put = [&](uint64_t x, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      out.push_back(static_cast<uint8_t>(x >> (8 * i)));
  };
  put(op, 1);
  put(0, 3);
  put(payload_len, 4);
  put(0, 8);
  put(0, 8);
  put(dst, 8);
  if (with_payload)
    for (uint32_t i = 0; i < payload_len; ++i)
      out.push_back(static_cast<uint8_t>(i * 31 + 7));
  return out;
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto sa = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const wire& data) {
  size_t at = 0;
  while (at < data.size()) {
    auto n = ::send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

/// Reads until `want` bytes, EOF, an error or the time-out.
wire receive(int fd, size_t want, std::chrono::milliseconds timeout) {
  wire out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  uint8_t buf[65536];
  while (out.size() < want) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
      break;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

/// True when the peer closed (EOF or reset) within the time-out, discarding any data before.
bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  uint8_t buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
      return false;
    if (::recv(fd, buf, sizeof(buf), 0) <= 0)
      return true;
  }
}

/// Stands in for CAF's port: accepts connections and echoes each one's bytes, recording them.
struct echo_server {
  int listen_fd = -1;
  uint16_t port = 0;
  std::thread thread;
  std::mutex mtx;
  std::vector<int> conns;
  wire received; ///< everything any connection sent, in order of arrival
  std::atomic<bool> done{false};

  echo_server() {
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
      if (fds[0].revents & POLLIN)
        conns.push_back(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
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

/// A guard on an ephemeral port of 127.0.0.1 in front of an echo server.
struct guard_fixture {
  echo_server upstream;
  std::unique_ptr<frame_guard> guard;
  std::mutex log_mtx;
  std::vector<std::string> lines;

  guard_fixture() {
    std::string error;
    guard = frame_guard::listen("127.0.0.1", 0, error);
    BOOST_REQUIRE_MESSAGE(guard, error);
    BOOST_REQUIRE(guard->port() != 0);
    BOOST_REQUIRE_EQUAL(guard->address(), "127.0.0.1");
    guard->start(upstream.port, 4u << 20, [this](const std::string& line) {
      std::lock_guard<std::mutex> g{log_mtx};
      lines.push_back(line);
    });
  }

  std::vector<std::string> log() {
    std::lock_guard<std::mutex> g{log_mtx};
    return lines;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(frame_guard_sockets)

BOOST_FIXTURE_TEST_CASE(frames_pass_both_ways_intact, guard_fixture) {
  int fd = connect_to(guard->port());
  BOOST_REQUIRE(fd >= 0);
  // Small frames, then one of 3 MiB (several chunks), then a heartbeat.
  wire sent;
  for (auto& f : {frame(1, 40, 0), frame(2, 100, 1), frame(2, 3u << 20, 1), frame(6, 0, 0)})
    sent.insert(sent.end(), f.begin(), f.end());
  std::thread writer{[&] { BOOST_CHECK(send_all(fd, sent)); }};
  auto echoed = receive(fd, sent.size(), 10s);
  writer.join();
  BOOST_TEST(echoed.size() == sent.size());
  BOOST_TEST((echoed == sent));
  BOOST_TEST(log().empty());
  ::close(fd);
}

BOOST_FIXTURE_TEST_CASE(many_connections_at_once, guard_fixture) {
  std::vector<int> fds;
  for (int i = 0; i < 20; ++i) {
    fds.push_back(connect_to(guard->port()));
    BOOST_REQUIRE(fds.back() >= 0);
  }
  auto f = frame(2, 5000, 1);
  for (int fd : fds)
    BOOST_REQUIRE(send_all(fd, f));
  for (int fd : fds) {
    BOOST_TEST((receive(fd, f.size(), 5s) == f));
    ::close(fd);
  }
}

BOOST_FIXTURE_TEST_CASE(a_forged_length_drops_the_connection_before_upstream_sees_it,
                        guard_fixture) {
  int fd = connect_to(guard->port());
  BOOST_REQUIRE(fd >= 0);
  // A legitimate frame first: it is forwarded (and echoed).
  auto ok = frame(1, 40, 0);
  BOOST_REQUIRE(send_all(fd, ok));
  BOOST_TEST((receive(fd, ok.size(), 5s) == ok));
  auto forged = frame(2, 0xFFFFFFF0u, 1, false);
  forged.resize(forged.size() + 1000, 'x');
  send_all(fd, forged);
  BOOST_TEST(closed_by_peer(fd, 2s));
  ::close(fd);
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(upstream.received_bytes() == ok.size()); // the forged header never got through
  auto lines = log();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].rfind("dropped connection from 127.0.0.1:", 0) == 0, lines[0]);
  BOOST_TEST(lines[0].find("payload of 4294967280 bytes, above max_frame_bytes (4194304)") !=
                 std::string::npos,
             lines[0]);
  // The guard keeps serving others.
  int other = connect_to(guard->port());
  BOOST_REQUIRE(other >= 0);
  BOOST_REQUIRE(send_all(other, ok));
  BOOST_TEST((receive(other, ok.size(), 5s) == ok));
  ::close(other);
}

BOOST_FIXTURE_TEST_CASE(garbage_drops_the_connection, guard_fixture) {
  int fd = connect_to(guard->port());
  BOOST_REQUIRE(fd >= 0);
  send_all(fd, wire(100, 0x41));
  BOOST_TEST(closed_by_peer(fd, 2s));
  ::close(fd);
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(upstream.received_bytes() == 0u);
  auto lines = log();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find("invalid BASP header: unknown operation 65") != std::string::npos,
             lines[0]);
}

BOOST_FIXTURE_TEST_CASE(a_client_closing_closes_the_upstream_side, guard_fixture) {
  int fd = connect_to(guard->port());
  auto ok = frame(6, 0, 0);
  BOOST_REQUIRE(send_all(fd, ok));
  BOOST_TEST((receive(fd, ok.size(), 5s) == ok));
  ::shutdown(fd, SHUT_WR);
  // The echo server closes once it sees the EOF, and that reaches the client.
  BOOST_TEST(closed_by_peer(fd, 2s));
  ::close(fd);
}

BOOST_AUTO_TEST_CASE(a_taken_port_is_a_clear_error) {
  std::string error;
  auto first = frame_guard::listen("127.0.0.1", 0, error);
  BOOST_REQUIRE(first);
  auto second = frame_guard::listen("127.0.0.1", first->port(), error);
  BOOST_TEST(!second);
  BOOST_TEST(error == "Address already in use");
}

BOOST_FIXTURE_TEST_CASE(stop_is_prompt_and_closes_everything, guard_fixture) {
  int fd = connect_to(guard->port());
  BOOST_REQUIRE(fd >= 0);
  auto ok = frame(6, 0, 0);
  BOOST_REQUIRE(send_all(fd, ok));
  BOOST_TEST((receive(fd, ok.size(), 5s) == ok));
  auto port = guard->port();
  auto started = std::chrono::steady_clock::now();
  guard->stop();
  BOOST_TEST((std::chrono::steady_clock::now() - started < 500ms));
  BOOST_TEST(closed_by_peer(fd, 1s));
  ::close(fd);
  BOOST_TEST(connect_to(port) < 0); // nothing listens any more
  guard->stop();                    // idempotent
}

BOOST_FIXTURE_TEST_CASE(stop_listening_keeps_open_connections, guard_fixture) {
  int fd = connect_to(guard->port());
  BOOST_REQUIRE(fd >= 0);
  auto ok = frame(2, 10, 1);
  BOOST_REQUIRE(send_all(fd, ok));
  BOOST_TEST((receive(fd, ok.size(), 5s) == ok));
  guard->stop_listening();
  std::this_thread::sleep_for(50ms);
  BOOST_TEST(connect_to(guard->port()) < 0);
  BOOST_REQUIRE(send_all(fd, ok));
  BOOST_TEST((receive(fd, ok.size(), 5s) == ok));
  ::close(fd);
}

BOOST_AUTO_TEST_SUITE_END()
