// The frame guard (actors/guard/frame_guard.hpp) in plain text, with real sockets on 127.0.0.1
// and an echo server standing in for CAF's port: frames pass both ways intact, a forged length
// drops the connection before the upstream sees the header, with one log line, a half header
// does not hold a connection open for ever, and stop() ends it all promptly. TLS:
// test_frame_guard_tls.cpp.
#include "actors/guard/frame_guard.hpp"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "tests/actors/guard/guard_test_support.hpp"

using namespace actorkv;
using namespace guard_test;
using namespace std::chrono_literals;

namespace {

/// A guard on an ephemeral port of 127.0.0.1 in front of an echo server, in plain text.
struct guard_fixture {
  echo_server upstream;
  std::unique_ptr<frame_guard> guard;
  log_sink logs;

  explicit guard_fixture(std::chrono::milliseconds header_timeout = 10s) {
    std::string error;
    guard = frame_guard::listen("127.0.0.1", 0, error);
    BOOST_REQUIRE_MESSAGE(guard, error);
    BOOST_REQUIRE(guard->port() != 0);
    BOOST_REQUIRE_EQUAL(guard->address(), "127.0.0.1");
    guard_options options;
    options.upstream_port = upstream.port;
    options.max_frame_bytes = 4u << 20;
    options.log = logs.logger();
    options.header_timeout = header_timeout;
    BOOST_REQUIRE_MESSAGE(guard->start(std::move(options), error), error);
  }

  std::vector<std::string> log() { return logs.get(); }
};

struct short_timeout_fixture : guard_fixture {
  short_timeout_fixture() : guard_fixture(300ms) {}
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

BOOST_FIXTURE_TEST_CASE(a_stalled_half_header_is_dropped_after_the_timeout, short_timeout_fixture) {
  int fd = connect_to(guard->port());
  BOOST_REQUIRE(fd >= 0);
  auto ok = frame(2, 10, 1);
  BOOST_REQUIRE(send_all(fd, ok));
  BOOST_TEST((receive(fd, ok.size(), 5s) == ok));
  // An idle connection between frames is fine: still open after twice the timeout.
  BOOST_TEST(!closed_by_peer(fd, 700ms));
  auto started = std::chrono::steady_clock::now();
  BOOST_REQUIRE(send_all(fd, wire(ok.begin(), ok.begin() + 10))); // 10 of a header's 32 bytes
  BOOST_TEST(closed_by_peer(fd, 3s));
  auto waited = std::chrono::steady_clock::now() - started;
  BOOST_TEST((waited >= 300ms && waited < 2500ms));
  ::close(fd);
  auto lines = log();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find("BASP header incomplete for 300 ms") != std::string::npos, lines[0]);
}

BOOST_AUTO_TEST_SUITE_END()
