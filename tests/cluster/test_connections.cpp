// Connections to and from nodes, with real kvnode processes (issue 22, "Connections"; the frame
// guard's limits in actors/guard/frame_guard.hpp, the check of dialed connections in
// actors/client/tls.hpp): floods of idle and slow connections leave a node serving with bounded
// descriptors, announced frames leave its memory bounded, idle clients are closed and come back
// by themselves, and a forged header from a fake server does not make kvsh allocate it.
#include <atomic>
#include <memory>
#include <thread>

#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "actors/client/blocking_client.hpp"
#include "messages/error.hpp"
#include "tests/actors/guard/guard_test_support.hpp"
#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr long mib = 1024; // in KiB, as /proc reports sizes

/// Raises this process's descriptor limit (the nodes it starts inherit it) to at least `need`,
/// within its hard limit.
void raise_descriptor_limit(rlim_t need) {
  rlimit rl{};
  BOOST_REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur >= need)
    return;
  rl.rlim_cur = need;
  BOOST_REQUIRE_MESSAGE(setrlimit(RLIMIT_NOFILE, &rl) == 0,
                        "cannot raise RLIMIT_NOFILE to " << need << ": " << std::strerror(errno));
}

/// A TCP connection to host:port (127.0.0.0/8 only, as the fixture's nodes), or -1.
int tcp_connect(const std::string& host, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  auto sa = guard_test::loopback(port, host.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// A TLS connection to node `i`'s port with the fixture's certificate `who`, handshake done.
struct tls_link {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  int fd = -1;

  tls_link(local_cluster& c, size_t i, const std::string& who) {
    ctx = SSL_CTX_new(TLS_client_method());
    BOOST_REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, c.cert_path(who).c_str()) == 1);
    BOOST_REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, c.key_path(who).c_str(), SSL_FILETYPE_PEM) == 1);
    fd = tcp_connect(c.host(i), c.port(i));
    BOOST_REQUIRE(fd >= 0);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    BOOST_REQUIRE(SSL_connect(ssl) == 1);
  }

  ~tls_link() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
      ::close(fd);
  }

  bool send(const guard_test::wire& data) {
    return SSL_write(ssl, data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }
};

/// A client handshake naming a made-up process of the test's host (CAF's format).
guard_test::wire fake_handshake(uint32_t pid) {
  return guard_test::client_handshake(pid);
}

/// Node `i` answers a put and a get of `key` within a second, to a client connecting afresh.
void serves_within_a_second(local_cluster& c, size_t i, const std::string& key) {
  blocking_client fresh{{c.endpoint(i)}, 5s, tls_files_from_environment()};
  auto started = std::chrono::steady_clock::now();
  auto put = fresh.put(bytes(key.begin(), key.end()), bytes{'v'});
  auto got = fresh.get(bytes(key.begin(), key.end()));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  BOOST_TEST(static_cast<bool>(put), (put ? "" : describe(put.error())));
  BOOST_TEST(static_cast<bool>(got), (got ? "" : describe(got.error())));
  BOOST_TEST_MESSAGE("a put and a get through a new connection took " << took.count() << " ms");
  BOOST_TEST(took.count() < 1000);
}

size_t lines_with(const std::string& log, const std::string& part) {
  size_t n = 0;
  for (auto at = log.find(part); at != std::string::npos; at = log.find(part, at + 1))
    ++n;
  return n;
}

/// A TLS server on node `i`'s address, with its certificate (the node is not started), that
/// answers every connection with one BASP header announcing `payload_len` bytes, then keeps it
/// open and silent.
struct fake_server {
  SSL_CTX* ctx = nullptr;
  int listen_fd = -1;
  std::thread thread;
  std::atomic<bool> done{false};
  std::atomic<int> served{0};
  std::atomic<int> closed_by_client{0}; ///< connections the client closed after the header

  fake_server(local_cluster& c, uint32_t payload_len, size_t i = 0) {
    ctx = SSL_CTX_new(TLS_server_method());
    auto name = c.node_name(i);
    BOOST_REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, c.cert_path(name).c_str()) == 1);
    BOOST_REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, c.key_path(name).c_str(), SSL_FILETYPE_PEM) ==
                  1);
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    auto sa = guard_test::loopback(c.port(i), c.host(i).c_str());
    BOOST_REQUIRE(::bind(listen_fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
    BOOST_REQUIRE(::listen(listen_fd, 16) == 0);
    // A server handshake (operation 0, protocol version 1) whose payload would be 1 GiB.
    auto header = guard_test::frame(0, payload_len, 0, false);
    header[15] = 1;
    thread = std::thread([this, header] { run(header); });
  }

  ~fake_server() {
    done = true;
    thread.join();
    ::close(listen_fd);
    SSL_CTX_free(ctx);
  }

  void run(const guard_test::wire& header) {
    std::vector<std::pair<int, SSL*>> open;
    while (!done) {
      std::vector<pollfd> fds{{listen_fd, POLLIN, 0}};
      for (auto& [fd, ssl] : open)
        fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0)
        continue;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        char buf[4096];
        if (SSL_read(open[i - 1].second, buf, sizeof(buf)) <= 0) {
          ++closed_by_client;
          SSL_free(open[i - 1].second);
          ::close(open[i - 1].first);
          open[i - 1].first = -1;
        }
      }
      open.erase(std::remove_if(open.begin(), open.end(), [](auto& p) { return p.first < 0; }),
                 open.end());
      if (fds[0].revents & POLLIN) {
        int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        timeval tv{3, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        auto* ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1 && SSL_write(ssl, header.data(), 32) == 32) {
          ++served;
          open.emplace_back(fd, ssl);
        } else {
          SSL_free(ssl);
          ::close(fd);
        }
      }
    }
    for (auto& [fd, ssl] : open) {
      SSL_free(ssl);
      ::close(fd);
    }
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(connections)

BOOST_AUTO_TEST_CASE(ten_thousand_idle_and_a_hundred_slow_connections_leave_a_node_serving) {
  raise_descriptor_limit(20000);
  auto o = one_node();
  o.nodes = 2;
  o.replicas = 2;
  o.write_quorum = 2; // a put through either node needs the other
  // A quarter (256) may be in their TLS handshake at once.
  o.extra_toml = "[limits]\nmax_connections = 1024\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  serves_within_a_second(c, 0, "before");
  auto before = usage_of(c.pid(0));
  // 10,000 connections that never begin their TLS handshake.
  std::vector<int> idle;
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 10000; ++i) {
    idle.push_back(tcp_connect(c.host(0), c.port(0)));
    BOOST_REQUIRE(idle.back() >= 0);
  }
  BOOST_TEST_MESSAGE("10,000 connections in "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count()
                     << " ms");
  // 100 clients with a certificate that send a client handshake and 10 bytes of a header.
  std::vector<std::unique_ptr<tls_link>> slow;
  for (uint32_t i = 0; i < 100; ++i) {
    slow.push_back(std::make_unique<tls_link>(c, 0, "reader"));
    auto half = guard_test::frame(2, 100, 1);
    half.resize(10);
    BOOST_REQUIRE(slow.back()->send(guard_test::concat({fake_handshake(4242), half})));
  }
  std::this_thread::sleep_for(500ms);
  auto flooded = usage_of(c.pid(0));
  BOOST_TEST_MESSAGE("node 0 before: " << before << "; flooded: " << flooded);
  serves_within_a_second(c, 0, "during");
  // Bounded: the 256 newest idle ones (one descriptor each, in the guard) and the slow ones
  // (three each: the guard's two and CAF's), not 10,000.
  BOOST_TEST(flooded.fds <= before.fds + 256 + 3 * 100 + 32);
  BOOST_TEST(flooded.rss_kib < before.rss_kib + 64 * mib);
  auto log = c.log(0);
  BOOST_TEST(lines_with(log, "in its TLS handshake for a newer one") == 1u);
  // A peer that restarts gets in through the flood: a put through it reaches node 0.
  c.kill(1);
  c.start(1);
  BOOST_TEST(eventually(30s, [&] { return sees(c, 1, "n1", "up") && sees(c, 0, "n2", "up"); }));
  serves_within_a_second(c, 1, "after");
  for (int fd : idle)
    ::close(fd);
}

BOOST_AUTO_TEST_CASE(announced_frames_leave_a_nodes_memory_bounded) {
  auto o = one_node();
  o.extra_toml = "[limits]\nframe_ms = 5000\n";
  local_cluster c{o};
  c.start_all();
  serves_within_a_second(c, 0, "before");
  auto before = usage_of(c.pid(0));
  // max_frame_bytes with 16 partitions and the default key and value limits; the budget is 4x.
  const uint32_t max_frame = 32u * 1048576 + 1024 + 1048576 + 256 * 16;
  // 60 clients each announce a monitor message just under max_frame_bytes, then send nothing.
  std::vector<std::unique_ptr<tls_link>> announcing;
  for (int i = 0; i < 60; ++i) {
    announcing.push_back(std::make_unique<tls_link>(c, 0, "reader"));
    auto header = guard_test::frame(4, max_frame - 1, 0, false);
    BOOST_REQUIRE(announcing.back()->send(guard_test::concat({fake_handshake(4242), header})));
  }
  std::this_thread::sleep_for(1500ms);
  auto loaded = usage_of(c.pid(0));
  BOOST_TEST_MESSAGE("node 0 before: " << before << "; with 60 announced frames: " << loaded);
  serves_within_a_second(c, 0, "during");
  // At most the budget's worth of frames is allocated (four of them), not 60 (2 GiB).
  long budget_kib = 4L * max_frame / 1024;
  BOOST_TEST(loaded.rss_kib < before.rss_kib + budget_kib + 64 * mib);
  BOOST_TEST(loaded.peak_kib < before.rss_kib + budget_kib + 64 * mib);
}

BOOST_AUTO_TEST_CASE(idle_clients_are_closed_and_reconnect_to_the_same_node_on_their_next_request) {
  auto o = one_node();
  o.nodes = 2;
  o.replicas = 2;
  o.extra_toml = "[limits]\nidle_connection_ms = 1500\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  // Both endpoints: the client starts at the first and must come back to it, not move on.
  blocking_client client{{c.endpoint(0), c.endpoint(1)}, 5s, tls_files_from_environment()};
  auto key = bytes{'k'};
  BOOST_REQUIRE(client.put(key, bytes{'v'}));
  // Idle for twice the timeout: node 0 closes the client's connection, never a peer's (peers
  // send heartbeats and failure-detector pings several times a second).
  BOOST_TEST(c.wait_for_log(0, "closed idle connection from", 5s));
  std::this_thread::sleep_for(1500ms);
  auto log = c.log(0);
  BOOST_TEST(lines_with(log, "(CN=admin, admin): nothing received for 1500 ms") == 1u, log);
  BOOST_TEST(lines_with(log, ", node): nothing received") == 0u, log);
  BOOST_TEST(lines_with(c.log(1), "closed idle connection") == 0u);
  // The client's next request connects again by itself.
  auto got = client.get(key);
  BOOST_REQUIRE_MESSAGE(got, (got ? "" : describe(got.error())));
  BOOST_TEST(got->values.size() == 1u);
  auto status = client.status();
  BOOST_REQUIRE_MESSAGE(status, (status ? "" : describe(status.error())));
  BOOST_TEST(status->node == "n1"); // the same node as before the close
  BOOST_TEST(sees(c, 0, "n2", "up"));
  BOOST_TEST(sees(c, 1, "n1", "up"));
}

BOOST_AUTO_TEST_CASE(a_forged_header_from_a_fake_server_does_not_move_kvsh) {
  local_cluster c{one_node()}; // not started: the fake server takes node 0's address
  fake_server fake{c, 1u << 30};
  auto log_path = c.dir() + "/kvsh.log";
  auto kvsh = child_process::start(
      {c.binary("kvsh"), "--connect", c.endpoint(0), "--timeout", "3000", "-c", "get probe"},
      log_path);
  // kvsh's peak resident memory, read until it exits.
  long peak_kib = 0;
  while (kvsh.running()) {
    std::ifstream status{"/proc/" + std::to_string(kvsh.pid()) + "/status"};
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmHWM:", 0) == 0)
        peak_kib = std::max(peak_kib, std::stol(line.substr(6)));
    std::this_thread::sleep_for(10ms);
  }
  std::ifstream in{log_path};
  std::string out{std::istreambuf_iterator<char>{in}, {}};
  BOOST_TEST_MESSAGE("kvsh peaked at " << peak_kib << " KiB: " << out);
  BOOST_TEST(fake.served >= 1);
  BOOST_TEST(fake.closed_by_client >= 1); // kvsh dropped the connection on the header
  BOOST_TEST(*kvsh.exit_status() != 0);
  BOOST_TEST(peak_kib > 0);
  BOOST_TEST(peak_kib < 256 * mib); // not the 1 GiB announced
}

BOOST_AUTO_TEST_CASE(a_forged_header_from_a_fake_peer_does_not_move_a_node) {
  auto o = one_node();
  o.nodes = 2;
  local_cluster c{o};
  fake_server fake{c, 1u << 30, 1}; // at n2's address, with n2's certificate
  c.start(0);
  // n1 dials its peer n2, reads the forged header and drops the connection.
  BOOST_TEST(c.wait_for_log(0,
                            "dropped connection to " + c.endpoint(1) +
                                ": BASP header announces a payload of 1073741824 bytes, above "
                                "max_frame_bytes",
                            10s),
             c.log_tail(0));
  auto u = usage_of(c.pid(0));
  BOOST_TEST_MESSAGE("n1 after dialing the fake peer: " << u);
  BOOST_TEST(u.peak_kib < 256 * mib);
  BOOST_TEST(fake.closed_by_client >= 1);
}

BOOST_AUTO_TEST_CASE(the_programs_own_tls_connections_are_not_checked) {
  // This program links the client library, which checks what CAF's dialed connections receive;
  // a TLS connection it makes itself (as an application's HTTPS client would) is left alone.
  local_cluster c{one_node()};
  fake_server fake{c, 1u << 30};
  tls_link own{c, 0, "reader"};
  uint8_t got[64];
  int n = SSL_read(own.ssl, got, sizeof(got));
  BOOST_REQUIRE_EQUAL(n, 32);
  BOOST_TEST(got[0] == 0);    // server_handshake
  BOOST_TEST(got[4] == 0x40); // announcing 1 GiB
}

BOOST_AUTO_TEST_CASE(max_connections_is_lowered_to_what_the_descriptor_limit_fits) {
  local_cluster c{one_node()};
  // Node 0 started by hand under a limit of 1200 descriptors, soft and hard (only the child's:
  // this process may not raise its own hard limit again): (1200 - 256 - 2 x 1 node) / 3 = 314.
  auto node = child_process::start({"/bin/sh", "-c", "ulimit -n 1200 && exec \"$0\" \"$@\"",
                                    c.binary("kvnode"), "--manifest", c.manifest_path(), "--node",
                                    c.node_name(0)},
                                   c.log_path(0));
  BOOST_REQUIRE_MESSAGE(c.wait_for_log(0, "listening on", 20s), c.log_tail(0));
  BOOST_TEST(c.log(0).find("max_connections lowered from 4096 to 314: RLIMIT_NOFILE allows 1200 "
                           "descriptors, each connection holds 3 and 258 are kept") !=
                 std::string::npos,
             c.log_tail(0));
  serves_within_a_second(c, 0, "limited");
  BOOST_TEST(node.stop(10s) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
