// The frame guard with TLS (actors/guard/frame_guard.hpp): certificates made here with the openssl
// CLI (EC P-256), TLS clients on real sockets from several 127.0.0.x addresses, an echo server
// standing in for CAF's port, and real CAF 0.17 actor systems: a caf::openssl client reaching an
// actor that the plain middleman published behind the guard. Covers who gets in (a certificate
// from the CA with a role), what reaches CAF (nothing before that, nothing a client may not send),
// what the access table records, bounded waiting, and logging each refused address once.
#include "actors/guard/frame_guard.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/ssl.h>

#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "cluster-config/access.hpp"
#include "messages/interfaces.hpp"
#include "messages/register_types.hpp"
#include "tests/actors/guard/captured_messages.hpp"
#include "tests/actors/guard/guard_test_support.hpp"

using namespace actorkv;
using namespace guard_test;
using namespace std::chrono_literals;

namespace {

/// A CA and certificates made once per run in a temporary directory.
struct test_pki {
  std::string dir;

  test_pki() {
    // A write to a peer the guard already closed must fail, not end the test.
    signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/actorkv-guard-pki-XXXXXX";
    BOOST_REQUIRE(mkdtemp(tmpl));
    dir = tmpl;
    std::ofstream{dir + "/ca.cnf"} << "[ca]\ndefault_ca = test_ca\n"
                                      "[test_ca]\ndir = .\ndatabase = index.txt\n"
                                      "new_certs_dir = .\ncertificate = ca.crt\n"
                                      "private_key = ca.key\nserial = serial\n"
                                      "default_md = sha256\npolicy = any\nunique_subject = no\n"
                                      "[any]\ncommonName = supplied\n"
                                      "organizationalUnitName = optional\n";
    std::string script = "set -e; cd '" + dir + R"(' ; exec >openssl.log 2>&1
      key() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "$@"; }
      ca() { key -x509 -days 30 -subj "/CN=$1" -keyout $1.key -out $1.crt; }
      leaf() { key -subj "$2" -keyout $1.key -out $1.csr
               openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial -days 30 \
                 -out $1.crt; }
      ca ca; ca other-ca
      leaf guard "/CN=node-a/OU=node" ca
      leaf node "/CN=node-b/OU=node" ca
      leaf alice "/CN=alice/OU=write" ca
      leaf carol "/CN=carol/OU=write" ca
      leaf bob "/CN=bob/OU=read" ca
      leaf eve "/CN=eve" ca
      leaf mallory "/CN=mallory/OU=write" other-ca
      : >index.txt; echo 01 >serial
      key -subj "/CN=old/OU=write" -keyout old.key -out old.csr
      openssl ca -batch -config ca.cnf -in old.csr -notext -out old.crt \
        -startdate 20200101000000Z -enddate 20200201000000Z
    )";
    int rc = std::system(script.c_str());
    BOOST_REQUIRE_MESSAGE(rc == 0, "openssl failed, see " + dir + "/openssl.log");
  }

  ~test_pki() {
    std::string rm = "rm -rf '" + dir + "'";
    [[maybe_unused]] int rc = std::system(rm.c_str());
  }

  std::string crt(const std::string& name) const { return dir + "/" + name + ".crt"; }
  std::string key(const std::string& name) const { return dir + "/" + name + ".key"; }
  std::string ca() const { return crt("ca"); }

  guard_tls guard_credentials() const { return {ca(), crt("guard"), key("guard")}; }
};

const test_pki& pki() {
  static test_pki instance;
  return instance;
}

/// A blocking TLS client (OpenSSL) presenting `name`'s certificate ("" for none).
struct tls_client {
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;

  tls_client(uint16_t port, const std::string& name, const char* source = "127.0.0.1",
             bool tls12_like_caf = false) {
    auto& p = pki();
    ctx = SSL_CTX_new(TLS_client_method());
    if (!name.empty()) {
      BOOST_REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, p.crt(name).c_str()) == 1);
      BOOST_REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, p.key(name).c_str(), SSL_FILETYPE_PEM) == 1);
    }
    SSL_CTX_load_verify_locations(ctx, p.ca().c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (tls12_like_caf) { // what CAF 0.17's session would settle for with an older peer
      SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
      SSL_CTX_set_cipher_list(ctx, "HIGH:!aNULL:!MD5");
    }
    fd = connect_to(port, source);
    BOOST_REQUIRE(fd >= 0);
    set_timeout(5s);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
  }

  ~tls_client() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
      ::close(fd);
  }

  void set_timeout(std::chrono::milliseconds t) {
    timeval tv{static_cast<time_t>(t.count() / 1000),
               static_cast<suseconds_t>(t.count() % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }

  /// True once the client's side completed. With TLS 1.3 a server refusing the client's
  /// certificate says so only afterwards: see closed_by_peer.
  bool handshake() { return SSL_connect(ssl) == 1; }

  bool send(const wire& data) {
    size_t at = 0;
    while (at < data.size()) {
      int n = SSL_write(ssl, data.data() + at, static_cast<int>(data.size() - at));
      if (n <= 0)
        return false;
      at += static_cast<size_t>(n);
    }
    return true;
  }

  wire receive(size_t want, std::chrono::milliseconds timeout = 5s) {
    set_timeout(timeout);
    wire out;
    uint8_t buf[65536];
    while (out.size() < want) {
      int n = SSL_read(ssl, buf, sizeof(buf));
      if (n <= 0)
        break;
      out.insert(out.end(), buf, buf + n);
    }
    return out;
  }

  /// True when the guard closed the connection (EOF, alert or reset) within the time-out.
  bool closed_by_peer(std::chrono::milliseconds timeout) {
    set_timeout(timeout);
    uint8_t buf[4096];
    for (;;) {
      int n = SSL_read(ssl, buf, sizeof(buf));
      if (n > 0)
        continue;
      return SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ; // WANT_READ: the time-out
    }
  }

  int version() const { return SSL_version(ssl); }
};

constexpr uint64_t node_actor_id = 1;
constexpr uint64_t coordinator_id = 2;

/// A guard with TLS on an ephemeral port of 127.0.0.1 in front of an echo server.
struct tls_fixture {
  echo_server upstream;
  std::shared_ptr<access_table> access = std::make_shared<access_table>();
  std::unique_ptr<frame_guard> guard;
  log_sink logs;

  explicit tls_fixture(std::chrono::milliseconds timeouts = 10s,
                       std::chrono::milliseconds refusal_interval = 60s, wire greeting = {},
                       const std::function<void(guard_options&)>& adjust = {})
      : upstream(std::move(greeting)) {
    std::string error;
    guard = frame_guard::listen("127.0.0.1", 0, error);
    BOOST_REQUIRE_MESSAGE(guard, error);
    guard_options options;
    options.upstream_port = upstream.port;
    options.max_frame_bytes = 4u << 20;
    options.log = logs.logger();
    options.tls = pki().guard_credentials();
    options.access = access;
    options.client_destinations = {node_actor_id, coordinator_id};
    options.handshake_timeout = timeouts;
    options.header_timeout = timeouts;
    options.refusal_log_interval = refusal_interval;
    if (adjust)
      adjust(options);
    BOOST_REQUIRE_MESSAGE(guard->start(std::move(options), error), error);
  }

  uint16_t port() const { return guard->port(); }

  role role_of_captured() const {
    process_identity id{captured_pid, captured_host};
    return access->role_of(id);
  }
};

struct short_timeouts : tls_fixture {
  short_timeouts() : tls_fixture(300ms) {}
};

struct short_refusal_interval : tls_fixture {
  short_refusal_interval() : tls_fixture(10s, 1s) {}
};

/// At most 8 connections: 2 of them in their TLS handshake, 1 kept for nodes (7 for clients).
struct eight_connections : tls_fixture {
  eight_connections()
      : tls_fixture(10s, 60s, {}, [](guard_options& o) { o.max_connections = 8; }) {}
};

/// The server handshake of the node whose client library session was captured: its node id,
/// then (here) filler for the rest.
wire captured_server_handshake() {
  auto payload = from_hex(capture_node);
  payload.resize(100, 0);
  auto out = basp_frame(0, 0, 0, payload);
  out[15] = 3; // the protocol version
  return out;
}

/// A guard in front of an upstream that names itself as that node first, as CAF does.
struct named_upstream : tls_fixture {
  named_upstream() : tls_fixture(10s, 60s, captured_server_handshake()) {}
};

/// The identity CAF prints as `sys.node()`.
process_identity identity_of(caf::actor_system& sys) {
  auto& d = static_cast<const caf::node_id::default_data&>(*sys.node());
  return {d.process_id(), d.host_id()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(frame_guard_tls)

BOOST_FIXTURE_TEST_CASE(a_good_certificate_passes_bytes_both_ways_and_is_recorded, tls_fixture) {
  for (bool tls12 : {false, true}) {
    BOOST_TEST_CONTEXT("TLS 1.2 with CAF's cipher list: " << tls12) {
      tls_client c{port(), "alice", "127.0.0.1", tls12};
      BOOST_REQUIRE(c.handshake());
      BOOST_TEST(c.version() == (tls12 ? TLS1_2_VERSION : TLS1_3_VERSION));
      auto sent = concat({captured_client_handshake, direct_frame(node_actor_id, status_request),
                          direct_frame(coordinator_id, put_batch, 3u << 20), frame(6, 0, 0)});
      std::thread writer{[&] { BOOST_CHECK(c.send(sent)); }};
      auto echoed = c.receive(sent.size(), 10s);
      writer.join();
      BOOST_TEST(echoed.size() == sent.size());
      BOOST_TEST((echoed == sent));
      BOOST_TEST((role_of_captured() == role::write));
      BOOST_TEST(access->subject_of({captured_pid, captured_host}) == "alice");
    }
    // Released with the connection.
    BOOST_TEST(eventually([&] { return role_of_captured() == role::none; }));
  }
  BOOST_TEST(upstream.accepted == 2);
  BOOST_TEST(logs.get().empty());
}

BOOST_FIXTURE_TEST_CASE(refused_handshakes_never_reach_upstream, tls_fixture) {
  struct attempt {
    const char* source;
    std::string cert;
    std::string reason; ///< in the log line
  };
  std::vector<attempt> attempts{
      {"127.0.0.2", "", "peer did not return a certificate"},
      {"127.0.0.3", "mallory",
       "certificate verify failed (unable to get local issuer certificate)"},
      {"127.0.0.4", "old", "certificate verify failed (certificate has expired)"},
      {"127.0.0.5", "eve", "certificate CN=eve has no role (OU)"},
  };
  for (auto& a : attempts) {
    BOOST_TEST_CONTEXT(a.source << " " << a.cert) {
      tls_client c{port(), a.cert, a.source};
      c.handshake(); // TLS 1.3: the client side may complete before the guard refuses
      c.send(captured_client_handshake);
      BOOST_TEST(c.closed_by_peer(3s));
    }
  }
  // A plaintext BASP client.
  int fd = connect_to(port(), "127.0.0.6");
  BOOST_REQUIRE(fd >= 0);
  send_all(fd, captured_client_handshake);
  BOOST_TEST(closed_by_peer(fd, 3s));
  ::close(fd);
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(upstream.accepted == 0); // CAF's port was never even connected
  BOOST_TEST(upstream.received_bytes() == 0u);
  BOOST_TEST((role_of_captured() == role::none));
  auto lines = logs.get();
  BOOST_TEST(lines.size() == attempts.size() + 1);
  for (auto& a : attempts) {
    auto found = logs.matching(std::string{"refused TLS connection from "} + a.source + ":");
    BOOST_REQUIRE_EQUAL(found.size(), 1u);
    BOOST_TEST(found[0].find(": " + a.reason) != std::string::npos, found[0]);
  }
  auto plain = logs.matching("refused TLS connection from 127.0.0.6:");
  BOOST_REQUIRE_EQUAL(plain.size(), 1u);
  BOOST_TEST_MESSAGE("plaintext client: " << plain[0]);
}

BOOST_FIXTURE_TEST_CASE(repeated_refusals_are_logged_once_then_summarised, short_refusal_interval) {
  for (int i = 0; i < 4; ++i) {
    tls_client c{port(), "", "127.0.0.7"};
    c.handshake();
    c.send(captured_client_handshake);
    BOOST_TEST(c.closed_by_peer(3s));
  }
  auto first = logs.matching("127.0.0.7");
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  BOOST_TEST(first[0].find("peer did not return a certificate") != std::string::npos, first[0]);
  // Within two sweeps of the interval's end: the other three, in one line.
  BOOST_TEST(eventually([&] { return logs.matching("127.0.0.7").size() == 2; }, 3500ms));
  auto lines = logs.matching("127.0.0.7");
  BOOST_TEST(lines.back() == "refused 3 more TLS connections from 127.0.0.7 in the last 1 s "
                             "(last: peer did not return a certificate)");
  BOOST_TEST(upstream.accepted == 0);
}

BOOST_FIXTURE_TEST_CASE(a_port_probe_is_not_a_refusal_worth_logging, tls_fixture) {
  // tools/cluster and the test fixture see whether a node listens by connecting and closing.
  for (int i = 0; i < 3; ++i) {
    int fd = connect_to(port(), "127.0.0.8");
    BOOST_REQUIRE(fd >= 0);
    ::close(fd);
  }
  // Bytes that are no TLS handshake are refused and logged.
  int fd = connect_to(port(), "127.0.0.9");
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(send_all(fd, wire(64, 0x41)));
  BOOST_TEST(closed_by_peer(fd, 3s));
  ::close(fd);
  BOOST_TEST(eventually([&] { return logs.matching("127.0.0.9").size() == 1; }));
  BOOST_TEST(logs.matching("127.0.0.8").empty());
  BOOST_TEST(upstream.accepted == 0);
}

BOOST_FIXTURE_TEST_CASE(a_read_client_may_address_only_the_allowed_actors, tls_fixture) {
  tls_client c{port(), "bob", "127.0.0.1"};
  BOOST_REQUIRE(c.handshake());
  auto ok = concat(
      {captured_client_handshake, direct_frame(node_actor_id, session_request), frame(6, 0, 0)});
  BOOST_REQUIRE(c.send(ok));
  BOOST_TEST((c.receive(ok.size()) == ok));
  BOOST_TEST((role_of_captured() == role::read));
  BOOST_REQUIRE(c.send(direct_frame(99, status_request)));
  BOOST_TEST(c.closed_by_peer(3s));
  BOOST_TEST(eventually([&] { return role_of_captured() == role::none; }));
  BOOST_TEST(upstream.received_bytes() == ok.size()); // the forbidden frame never got through
  auto lines = logs.get();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].rfind("dropped connection from 127.0.0.1:", 0) == 0, lines[0]);
  BOOST_TEST(lines[0].find("(CN=bob, read): a client may not send a direct_message to actor 99") !=
                 std::string::npos,
             lines[0]);
}

BOOST_FIXTURE_TEST_CASE(a_client_may_not_route, tls_fixture) {
  tls_client c{port(), "alice", "127.0.0.1"};
  BOOST_REQUIRE(c.handshake());
  BOOST_REQUIRE(c.send(captured_client_handshake));
  BOOST_TEST((c.receive(captured_client_handshake.size()) == captured_client_handshake));
  BOOST_REQUIRE(c.send(frame(3, 10, node_actor_id)));
  BOOST_TEST(c.closed_by_peer(3s));
  std::this_thread::sleep_for(50ms);
  BOOST_TEST(upstream.received_bytes() == captured_client_handshake.size());
  auto lines = logs.get();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find("(CN=alice, write): a client may not send a routed_message") !=
                 std::string::npos,
             lines[0]);
}

BOOST_FIXTURE_TEST_CASE(a_client_may_not_kill_link_or_forward, tls_fixture) {
  struct attempt {
    const captured_message* m;
    uint64_t to;
    std::string reason;
  };
  std::vector<attempt> attempts{
      {&exit_kill, node_actor_id, "a message of type (@exit)"},
      {&exit_user_shutdown, coordinator_id, "a message of type (@exit)"},
      {&link_message, node_actor_id, "a message of type (@atom 'link', @strong_actor_ptr)"},
      {&status_with_stages, node_actor_id, "a message with a forwarding stack (stages)"},
      {&put_batch, node_actor_id,
       "a message of type (@atom 'batch', "
       "std::vector<actorkv::client_call>)"},
  };
  for (auto& a : attempts) {
    BOOST_TEST_CONTEXT(a.m->name) {
      tls_client c{port(), "bob"};
      BOOST_REQUIRE(c.handshake());
      auto ok = concat({captured_client_handshake, direct_frame(node_actor_id, status_request)});
      BOOST_REQUIRE(c.send(ok));
      BOOST_TEST((c.receive(ok.size()) == ok));
      auto before = upstream.received_bytes();
      auto bad = direct_frame(a.to, *a.m);
      BOOST_REQUIRE(c.send(bad));
      BOOST_TEST(c.closed_by_peer(3s));
      std::this_thread::sleep_for(20ms);
      BOOST_TEST(upstream.received_bytes() - before < bad.size()); // never all of it
      auto line = logs.matching("(CN=bob, read): a client may not send actor " +
                                std::to_string(a.to) + " " + a.reason);
      BOOST_TEST(line.size() == 1u);
      BOOST_TEST(eventually([&] { return role_of_captured() == role::none; }));
    }
  }
  BOOST_TEST(logs.get().size() == attempts.size());
}

BOOST_FIXTURE_TEST_CASE(a_client_monitors_and_downs_only_between_itself_and_this_node,
                        named_upstream) {
  auto hello = captured_server_handshake();
  auto monitor = basp_frame(4, 0, node_actor_id, from_hex(captured_monitor));
  auto down = basp_frame(5, 77, 0, from_hex(captured_down));
  {
    tls_client c{port(), "bob"};
    BOOST_REQUIRE(c.handshake());
    auto first = basp_frame(1, 0, 0, from_hex(capture_client_node));
    BOOST_REQUIRE(c.send(first));
    BOOST_TEST((c.receive(hello.size() + first.size()) == concat({hello, first})));
    auto ok = concat({monitor, down, monitor, frame(6, 0, 0)});
    BOOST_REQUIRE(c.send(ok));
    BOOST_TEST((c.receive(ok.size()) == ok));
    // A down message naming a peer's process as the source: the node would take that peer's
    // actor for down.
    auto forged = from_hex(captured_down);
    std::copy(captured_client_handshake.begin() + 32, captured_client_handshake.end(),
              forged.begin());
    BOOST_REQUIRE(c.send(basp_frame(5, 77, 0, forged)));
    BOOST_TEST(c.closed_by_peer(3s));
  }
  auto lines = logs.get();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find("(CN=bob, read): a client may send a down_message only from its own "
                           "process to this node's, not from "
                           "BFFADF3AC9F1142F6446CA706C9BB0F69B114400#16090 to "
                           "BFFADF3AC9F1142F6446CA706C9BB0F69B114400#18421") != std::string::npos,
             lines[0]);
}

BOOST_FIXTURE_TEST_CASE(a_client_may_not_monitor_before_this_node_named_itself, tls_fixture) {
  tls_client c{port(), "bob"};
  BOOST_REQUIRE(c.handshake());
  auto first = basp_frame(1, 0, 0, from_hex(capture_client_node));
  BOOST_REQUIRE(c.send(first));
  BOOST_TEST((c.receive(first.size()) == first));
  BOOST_REQUIRE(c.send(basp_frame(4, 0, node_actor_id, from_hex(captured_monitor))));
  BOOST_TEST(c.closed_by_peer(3s));
  BOOST_TEST(logs.matching("(CN=bob, read): a client may send a monitor_message only from its "
                           "own process to this node's")
                 .size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_client_may_do_what_cafs_broker_does_with_a_new_node, tls_fixture) {
  // The echo server sends the spawn server request back, as this node's broker would send its
  // own from its helper (actor 7 here): then the client may answer actor 7.
  tls_client c{port(), "bob"};
  BOOST_REQUIRE(c.handshake());
  auto sent = concat({captured_client_handshake, spawn_info_request_from(7)});
  BOOST_REQUIRE(c.send(sent));
  BOOST_TEST((c.receive(sent.size()) == sent));
  auto answer = direct_frame(7, spawn_server_answer, 0, 1);
  BOOST_REQUIRE(c.send(answer));
  BOOST_TEST((c.receive(answer.size()) == answer));
  BOOST_TEST(logs.get().empty());
  // Without that request from actor 7, the same answer is refused.
  tls_client other{port(), "carol"};
  BOOST_REQUIRE(other.handshake());
  BOOST_REQUIRE(other.send(concat({client_handshake(7777), answer})));
  BOOST_TEST(other.closed_by_peer(3s));
  BOOST_TEST(logs.matching("(CN=carol, write): a client may not send a direct_message to actor 7")
                 .size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_node_is_not_restricted, tls_fixture) {
  tls_client c{port(), "node", "127.0.0.1"};
  BOOST_REQUIRE(c.handshake());
  auto sent = concat({captured_client_handshake, frame(2, 10, 99), frame(3, 10, 1234),
                      frame(2, 10, node_actor_id)});
  BOOST_REQUIRE(c.send(sent));
  BOOST_TEST((c.receive(sent.size()) == sent));
  BOOST_TEST((role_of_captured() == role::node));
  BOOST_TEST(access->subject_of({captured_pid, captured_host}) == "node-b");
  BOOST_TEST(logs.get().empty());
}

BOOST_FIXTURE_TEST_CASE(caf_keeps_hearing_from_a_silent_client, tls_fixture) {
  // CAF closes a connection silent for its connection timeout, which is meant for frozen peers; a
  // client's process may be silent that long while its one I/O thread serialises its other puts.
  // The guard sends CAF a heartbeat in the client's name at each sweep (every second here) that
  // finds CAF heard nothing from it for 500 ms; the echo server sends them back.
  tls_client c{port(), "alice", "127.0.0.1"};
  BOOST_REQUIRE(c.handshake());
  BOOST_REQUIRE(c.send(captured_client_handshake));
  BOOST_REQUIRE((c.receive(captured_client_handshake.size()) == captured_client_handshake));
  auto heartbeat = frame(6, 0, 0);
  auto beats = c.receive(2 * heartbeat.size(), 3500ms);
  BOOST_TEST((beats == concat({heartbeat, heartbeat})));
  BOOST_TEST(logs.get().empty());
}

BOOST_FIXTURE_TEST_CASE(caf_hears_nothing_from_a_silent_node, tls_fixture) {
  // A node that went silent may be frozen: CAF's connection timeout is for that.
  tls_client c{port(), "node", "127.0.0.1"};
  BOOST_REQUIRE(c.handshake());
  BOOST_REQUIRE(c.send(captured_client_handshake));
  BOOST_REQUIRE((c.receive(captured_client_handshake.size()) == captured_client_handshake));
  BOOST_TEST(c.receive(32, 2500ms).empty());
  BOOST_TEST((role_of_captured() == role::node));
}

BOOST_FIXTURE_TEST_CASE(the_first_frame_must_name_the_process, tls_fixture) {
  tls_client c{port(), "node", "127.0.0.1"};
  BOOST_REQUIRE(c.handshake());
  BOOST_REQUIRE(c.send(frame(2, 10, node_actor_id)));
  BOOST_TEST(c.closed_by_peer(3s));
  std::this_thread::sleep_for(50ms);
  BOOST_TEST(upstream.accepted == 0);
  auto lines = logs.get();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find("(CN=node-b, node): first BASP frame is a direct_message, not a "
                           "client_handshake") != std::string::npos,
             lines[0]);
}

BOOST_FIXTURE_TEST_CASE(one_process_cannot_hold_two_certificates, tls_fixture) {
  tls_client a{port(), "alice", "127.0.0.1"};
  BOOST_REQUIRE(a.handshake());
  BOOST_REQUIRE(a.send(captured_client_handshake));
  BOOST_TEST((a.receive(captured_client_handshake.size()) == captured_client_handshake));
  {
    // The same process again with the same certificate: a second connection, as CAF may open.
    tls_client again{port(), "alice", "127.0.0.1"};
    BOOST_REQUIRE(again.handshake());
    BOOST_REQUIRE(again.send(captured_client_handshake));
    BOOST_TEST((again.receive(captured_client_handshake.size()) == captured_client_handshake));
  }
  // Another certificate claiming the same node id.
  tls_client c{port(), "carol", "127.0.0.1"};
  BOOST_REQUIRE(c.handshake());
  BOOST_REQUIRE(c.send(captured_client_handshake));
  BOOST_TEST(c.closed_by_peer(3s));
  BOOST_TEST(access->subject_of({captured_pid, captured_host}) == "alice");
  auto lines = logs.get();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find("(CN=carol, write): process "
                           "BFFADF3AC9F1142F6446CA706C9BB0F69B114400#16090 is already connected "
                           "with certificate CN=alice (write)") != std::string::npos,
             lines[0]);
  // The first connection is untouched, and still recorded after the second one closed.
  auto hb = frame(6, 0, 0);
  BOOST_REQUIRE(a.send(hb));
  BOOST_TEST((a.receive(hb.size()) == hb));
  BOOST_TEST((role_of_captured() == role::write));
  // Nor can one connection switch to another process.
  BOOST_REQUIRE(a.send(client_handshake(4242)));
  BOOST_TEST(a.closed_by_peer(3s));
  BOOST_TEST(eventually([&] { return role_of_captured() == role::none; }));
  BOOST_TEST(logs.matching("names process BFFADF3AC9F1142F6446CA706C9BB0F69B114400#4242").size() ==
             1u);
}

BOOST_FIXTURE_TEST_CASE(a_node_gets_in_when_clients_and_strangers_take_every_place,
                        eight_connections) {
  // Seven clients: all that clients may hold.
  std::vector<std::unique_ptr<tls_client>> clients;
  for (int i = 0; i < 7; ++i) {
    clients.push_back(std::make_unique<tls_client>(port(), "alice"));
    auto& c = *clients.back();
    BOOST_REQUIRE(c.handshake());
    BOOST_REQUIRE(c.send(captured_client_handshake));
    BOOST_REQUIRE((c.receive(captured_client_handshake.size()) == captured_client_handshake));
  }
  // An eighth client is closed once its certificate says it is one.
  tls_client extra{port(), "alice"};
  extra.handshake();
  extra.send(captured_client_handshake);
  BOOST_TEST(extra.closed_by_peer(3s));
  auto refused = logs.matching("refused connection from 127.0.0.1:");
  BOOST_REQUIRE_EQUAL(refused.size(), 1u);
  BOOST_TEST(refused[0].find("(CN=alice, write): 7 client connections open, at most 7") !=
                 std::string::npos,
             refused[0]);
  // Fifty strangers that never begin their TLS handshake.
  std::vector<int> strangers;
  for (int i = 0; i < 50; ++i) {
    strangers.push_back(connect_to(port(), "127.0.0.9"));
    BOOST_REQUIRE(strangers.back() >= 0);
  }
  // A node still gets in, and the clients were not disturbed.
  tls_client node{port(), "node"};
  BOOST_REQUIRE(node.handshake());
  auto hello = concat({client_handshake(4242), frame(2, 10, 99)});
  BOOST_REQUIRE(node.send(hello));
  BOOST_TEST((node.receive(hello.size()) == hello));
  auto hb = frame(6, 0, 0);
  for (auto& c : clients) {
    BOOST_REQUIRE(c->send(hb));
    BOOST_TEST((c->receive(hb.size()) == hb));
  }
  BOOST_TEST(upstream.accepted == 8); // 7 clients and the node
  auto evicted = logs.matching("closed connection from 127.0.0.9:");
  BOOST_REQUIRE_EQUAL(evicted.size(), 1u); // the rest are counted, summarised after a minute
  BOOST_TEST(evicted[0].find("in its TLS handshake for a newer one") != std::string::npos,
             evicted[0]);
  for (int fd : strangers)
    ::close(fd);
}

BOOST_FIXTURE_TEST_CASE(a_stalled_tls_handshake_is_dropped_after_the_timeout, short_timeouts) {
  auto started = std::chrono::steady_clock::now();
  int fd = connect_to(port());
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(send_all(fd, {0x16, 0x03, 0x01})); // the start of a ClientHello, then nothing
  BOOST_TEST(closed_by_peer(fd, 3s));
  auto waited = std::chrono::steady_clock::now() - started;
  BOOST_TEST((waited >= 300ms && waited < 2500ms));
  ::close(fd);
  auto lines = logs.get();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find("refused TLS connection from 127.0.0.1:") == 0u, lines[0]);
  BOOST_TEST(lines[0].find(": no TLS handshake within 300 ms") != std::string::npos, lines[0]);
}

BOOST_FIXTURE_TEST_CASE(a_stalled_client_handshake_is_dropped_after_the_timeout, short_timeouts) {
  tls_client c{port(), "alice"};
  BOOST_REQUIRE(c.handshake());
  auto started = std::chrono::steady_clock::now();
  BOOST_TEST(c.closed_by_peer(3s));
  auto waited = std::chrono::steady_clock::now() - started;
  BOOST_TEST((waited >= 250ms && waited < 2500ms));
  auto lines = logs.get();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find("(CN=alice, write): no client_handshake within 300 ms of the TLS "
                           "handshake") != std::string::npos,
             lines[0]);
}

BOOST_FIXTURE_TEST_CASE(a_stalled_half_header_is_dropped_after_the_timeout, short_timeouts) {
  tls_client c{port(), "alice"};
  BOOST_REQUIRE(c.handshake());
  BOOST_REQUIRE(c.send(captured_client_handshake));
  BOOST_TEST((c.receive(captured_client_handshake.size()) == captured_client_handshake));
  // Idle between frames is fine.
  std::this_thread::sleep_for(700ms);
  auto hb = frame(6, 0, 0);
  BOOST_REQUIRE(c.send(hb));
  BOOST_TEST((c.receive(hb.size()) == hb));
  auto started = std::chrono::steady_clock::now();
  BOOST_REQUIRE(c.send(wire(hb.begin(), hb.begin() + 10)));
  BOOST_TEST(c.closed_by_peer(3s));
  auto waited = std::chrono::steady_clock::now() - started;
  BOOST_TEST((waited >= 300ms && waited < 2500ms));
  auto lines = logs.get();
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find("(CN=alice, write): BASP header incomplete for 300 ms") !=
                 std::string::npos,
             lines[0]);
  BOOST_TEST(eventually([&] { return role_of_captured() == role::none; }));
}

BOOST_AUTO_TEST_CASE(credentials_that_cannot_be_loaded_are_an_error_before_the_thread) {
  auto& p = pki();
  std::string error;
  auto guard = frame_guard::listen("127.0.0.1", 0, error);
  BOOST_REQUIRE(guard);
  auto attempt = [&](guard_tls tls, std::shared_ptr<access_table> table) {
    guard_options options;
    options.tls = std::move(tls);
    options.access = std::move(table);
    error.clear();
    return guard->start(std::move(options), error);
  };
  auto table = std::make_shared<access_table>();
  auto good = p.guard_credentials();
  auto missing = good;
  missing.certificate_file = p.dir + "/nothing.crt";
  BOOST_TEST(!attempt(missing, table));
  BOOST_TEST(error.find("cannot load certificate " + p.dir + "/nothing.crt: ") == 0u, error);
  BOOST_TEST(error.find("No such file or directory") != std::string::npos, error);
  auto mismatch = good;
  mismatch.key_file = p.key("alice");
  BOOST_TEST(!attempt(mismatch, table));
  BOOST_TEST(error == "cannot load private key " + mismatch.key_file + ": key values mismatch");
  auto no_ca = good;
  no_ca.ca_file = p.key("alice"); // a file, but no certificate in it
  BOOST_TEST(!attempt(no_ca, table));
  BOOST_TEST(error.find("cannot load CA file " + no_ca.ca_file + ": ") == 0u, error);
  BOOST_TEST(!attempt(good, nullptr));
  BOOST_TEST(error == "TLS needs an access table to record roles in");
  // Nothing started: a good configuration still can.
  BOOST_TEST(attempt(good, table), error);
}

BOOST_AUTO_TEST_CASE(a_caf_process_reaches_an_actor_behind_the_guard) {
  auto& p = pki();
  caf::actor_system_config server_cfg;
  server_cfg.load<caf::io::middleman>();
  server_cfg.set("scheduler.max-threads", 2);
  caf::actor_system server{server_cfg};
  // Answers a client signature: a client may send nothing else.
  auto adder = server.spawn([]() -> caf::behavior { return {[](status_atom) { return 42; }}; });
  auto published = server.middleman().publish(adder, 0, "127.0.0.1");
  if (!published) // not BOOST_REQUIRE_MESSAGE: it renders the message even when all is well
    BOOST_FAIL(server.render(published.error()));
  auto access = std::make_shared<access_table>();
  log_sink logs;
  std::string error;
  auto guard = frame_guard::listen("127.0.0.1", 0, error);
  BOOST_REQUIRE(guard);
  guard_options options;
  options.upstream_port = *published;
  options.max_frame_bytes = 4u << 20;
  options.log = logs.logger();
  options.tls = p.guard_credentials();
  options.access = access;
  options.client_destinations = {adder.id()};
  BOOST_REQUIRE_MESSAGE(guard->start(std::move(options), error), error);
  for (auto [cert, expected] : {std::pair{"alice", role::write}, std::pair{"node", role::node}}) {
    BOOST_TEST_CONTEXT(cert) {
      process_identity me;
      {
        caf::actor_system_config cfg;
        cfg.load<caf::io::middleman>();
        cfg.load<caf::openssl::manager>();
        cfg.set("scheduler.max-threads", 2);
        cfg.openssl_certificate = p.crt(cert);
        cfg.openssl_key = p.key(cert);
        cfg.openssl_cafile = p.ca();
        caf::actor_system client{cfg};
        me = identity_of(client);
        auto remote = caf::openssl::remote_actor(client, "127.0.0.1", guard->port());
        if (!remote)
          BOOST_FAIL(client.render(remote.error()));
        caf::scoped_actor self{client};
        int answer = 0;
        self->request(*remote, 5s, status_atom::value)
            .receive([&](int y) { answer = y; },
                     [&](caf::error& e) { BOOST_ERROR(client.render(e)); });
        BOOST_TEST(answer == 42);
        BOOST_TEST((access->role_of(me) == expected));
        BOOST_TEST(access->subject_of(me) == (std::string{cert} == "node" ? "node-b" : "alice"));
        BOOST_TEST_MESSAGE("client " << caf::to_string(client.node()) << " recorded as "
                                     << role_name(access->role_of(me)));
      } // the client's system shuts down: its connection closes
      BOOST_TEST(eventually([&] { return access->role_of(me) == role::none; }));
    }
  }
  for (auto& line : logs.get())
    BOOST_ERROR("guard: " << line);
  guard->stop();
  caf::anon_send_exit(adder, caf::exit_reason::user_shutdown);
}

namespace {

/// A kvnode's actors as clients see them, behind a guard with TLS: a node actor with the client
/// interface of messages/interfaces.hpp (its peer handlers answer trivially) and a coordinator
/// answering each batch of client calls, published by CAF's plain middleman on 127.0.0.1.
struct fake_node {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  client_requests_actor coordinator;
  actorkv::node_actor node;
  std::shared_ptr<access_table> access = std::make_shared<access_table>();
  log_sink logs;
  std::unique_ptr<frame_guard> guard;
  uint16_t caf_port = 0; ///< CAF's own port, behind the guard
  /// Set when the actor terminates.
  std::shared_ptr<std::atomic<bool>> node_down = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<bool>> coordinator_down = std::make_shared<std::atomic<bool>>(false);

  fake_node() {
    cfg.load<caf::io::middleman>();
    register_types(cfg);
    cfg.set("scheduler.max-threads", 2);
    sys = std::make_unique<caf::actor_system>(cfg);
    coordinator =
        sys->spawn([](client_requests_actor::pointer self) -> client_requests_actor::behavior_type {
          return {[=](batch_atom, std::vector<client_call>& calls) {
            std::vector<client_answer> answers;
            for (auto& c : calls) {
              client_answer a;
              a.id = c.id;
              a.write.acks = static_cast<uint32_t>(c.value.size()); // the value arrived whole
              answers.push_back(std::move(a));
            }
            self->send(caf::actor_cast<client_answers_actor>(self->current_sender()),
                       batch_atom::value, std::move(answers));
          }};
        });
    auto coord = coordinator;
    node = sys->spawn([coord](actorkv::node_actor::pointer) -> actorkv::node_actor::behavior_type {
      return {
          [=](session_atom) { return coord; },
          [](status_atom) {
            cluster_status s;
            s.node = "fake";
            return s;
          },
          [](status_atom, cluster_atom) {
            return cluster_answers{"fake", {}};
          },
          [](peer_atom, peer_hello& h) { return h; },
          [](caf::ping_atom) { return clock_reading{}; },
          [](swim_atom, const swim_ping&) { return swim_ack{}; },
          [](swim_atom, const swim_relay&) { return swim_ack{}; },
          [](gossip_atom, membership_view& v) { return v; },
          [](gossip_atom, view_digest&) { return view_delta{}; },
          [](gossip_atom, view_delta&) { return caf::ok_atom::value; },
          [](fault_atom, std::string& what, std::vector<std::string>&, uint32_t) {
            return "fault " + what;
          },
          [](admin_atom, std::string& what, std::string&, bool) { return "admin " + what; },
          [](idle_atom, std::string&) { return caf::ok_atom::value; },
      };
    });
    node->attach_functor([down = node_down] { *down = true; });
    coordinator->attach_functor([down = coordinator_down] { *down = true; });
    auto published = sys->middleman().publish(node, 0, "127.0.0.1");
    if (!published)
      BOOST_FAIL(sys->render(published.error()));
    caf_port = *published;
    std::string error;
    guard = frame_guard::listen("127.0.0.1", 0, error);
    BOOST_REQUIRE(guard);
    guard_options options;
    options.upstream_port = *published;
    options.max_frame_bytes = 4u << 20;
    options.log = logs.logger();
    options.tls = pki().guard_credentials();
    options.access = access;
    options.client_destinations = {node.id(), coordinator.id()}; // as kvnode names them
    BOOST_REQUIRE_MESSAGE(guard->start(std::move(options), error), error);
  }

  ~fake_node() {
    guard->stop();
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
  }

  uint16_t port() const { return guard->port(); }

  bool node_alive() const { return !*node_down; }
  bool coordinator_alive() const { return !*coordinator_down; }
};

/// A client process: CAF with its OpenSSL module and `cert`'s identity, as actorkv's client
/// library sets it up (actors/client/tls.hpp).
struct client_process {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  explicit client_process(const std::string& cert) {
    auto& p = pki();
    cfg.load<caf::io::middleman>();
    cfg.load<caf::openssl::manager>();
    register_types(cfg);
    cfg.set("scheduler.max-threads", 2);
    cfg.openssl_certificate = p.crt(cert);
    cfg.openssl_key = p.key(cert);
    cfg.openssl_cafile = p.ca();
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  actorkv::node_actor connect(uint16_t port) {
    auto node = caf::openssl::remote_actor<actorkv::node_actor>(*sys, "127.0.0.1", port);
    if (!node)
      BOOST_FAIL(sys->render(node.error()));
    return *node;
  }
};

/// What actorkv's client library asks of a node (actors/client/client.cpp): a session, the status,
/// a fault and an admin request, and batches of calls to the coordinator, one carrying a value
/// of `value_bytes`. Checks every answer.
void use_the_node(client_process& c, const actorkv::node_actor& node, size_t value_bytes) {
  caf::scoped_actor self{*c.sys};
  auto fail = [&](caf::error& e) { BOOST_ERROR(c.sys->render(e)); };
  client_requests_actor coordinator;
  self->request(node, 5s, session_atom::value)
      .receive([&](client_requests_actor& x) { coordinator = std::move(x); }, fail);
  BOOST_REQUIRE(coordinator);
  self->request(node, 5s, status_atom::value)
      .receive([&](cluster_status& s) { BOOST_TEST(s.node == "fake"); }, fail);
  self->request(node, 5s, fault_atom::value, std::string{"heal"}, std::vector<std::string>{},
                uint32_t{0})
      .receive([&](std::string& s) { BOOST_TEST(s == "fault heal"); }, fail);
  self->request(node, 5s, admin_atom::value, std::string{"leave"}, std::string{"n1"}, false)
      .receive([&](std::string& s) { BOOST_TEST(s == "admin leave"); }, fail);
  std::vector<client_call> calls{{1, client_call_kind::put, {'k'}, bytes(value_bytes, 0xAB), {}},
                                 {2, client_call_kind::get, {'k'}, {}, {}}};
  for (int round = 0; round < 2; ++round) {
    self->send(coordinator, batch_atom::value, calls);
    self->receive(
        [&](batch_atom, std::vector<client_answer>& answers) {
          BOOST_REQUIRE_EQUAL(answers.size(), 2u);
          BOOST_TEST(answers[0].write.acks == value_bytes);
        },
        caf::after(5s) >> [] { BOOST_ERROR("no answer to a batch"); });
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(a_real_client_makes_its_calls_through_the_guard) {
  fake_node f;
  {
    client_process alice{"alice"};
    auto node = alice.connect(f.port());
    use_the_node(alice, node, 300 * 1024);
  }
  {
    client_process bob{"bob"}; // read: role matters in the node's actors, not in the guard
    auto node = bob.connect(f.port());
    use_the_node(bob, node, 10);
  }
  for (auto& line : f.logs.get())
    BOOST_ERROR("guard: " << line);
  BOOST_TEST(f.node_alive());
}

BOOST_AUTO_TEST_CASE(a_real_client_that_kills_or_links_is_dropped_and_the_node_lives) {
  fake_node f;
  auto node_id = std::to_string(f.node.id());
  auto coordinator_id = std::to_string(f.coordinator.id());
  struct attack {
    std::string cert;
    std::function<void(client_process&, actorkv::node_actor&)> run;
    std::string logged; ///< after "(CN=..., role): "
  };
  std::vector<attack> attacks{
      {"bob",
       [](client_process&, actorkv::node_actor& node) {
         caf::anon_send_exit(node, caf::exit_reason::kill);
       },
       "read): a client may not send actor " + node_id + " a message of type (@exit)"},
      {"carol",
       [](client_process& c, actorkv::node_actor& node) {
         // The coordinator, from the node's session answer, then the exit.
         caf::scoped_actor self{*c.sys};
         self->request(node, 5s, session_atom::value)
             .receive(
                 [&](client_requests_actor& coordinator) {
                   self->send_exit(coordinator, caf::exit_reason::user_shutdown);
                 },
                 [&](caf::error& e) { BOOST_ERROR(c.sys->render(e)); });
       },
       "write): a client may not send actor " + coordinator_id + " a message of type (@exit)"},
      {"alice",
       [](client_process& c, actorkv::node_actor& node) {
         auto target = caf::actor_cast<caf::actor>(node);
         c.sys->spawn([target](caf::event_based_actor* self) -> caf::behavior {
           self->link_to(target); // CAF sends (link_atom, ...) to the node for it
           return {[](int) {}};
         });
       },
       "write): a client may not send a routed_message"},
      {"alice",
       [](client_process& c, actorkv::node_actor& node) {
         // A status request whose answer would go on to another actor of the client.
         auto other = c.sys->spawn(
             [](caf::event_based_actor*) -> caf::behavior { return {[](cluster_status&) {}}; });
         caf::actor_cast<caf::strong_actor_ptr>(node)->enqueue(
             caf::make_mailbox_element(nullptr, caf::make_message_id(),
                                       {caf::actor_cast<caf::strong_actor_ptr>(other)},
                                       status_atom::value),
             nullptr);
         caf::anon_send_exit(other, caf::exit_reason::user_shutdown); // the client can end
       },
       "write): a client may not send actor " + node_id +
           " a message with a forwarding stack (stages)"},
  };
  for (auto& a : attacks) {
    BOOST_TEST_CONTEXT(a.logged) {
      client_process c{a.cert};
      auto node = c.connect(f.port());
      a.run(c, node);
      BOOST_TEST(eventually([&] { return !f.logs.matching(a.logged).empty(); }));
    }
  }
  auto lines = f.logs.get();
  BOOST_TEST(lines.size() == attacks.size());
  for (auto& line : lines)
    BOOST_TEST_MESSAGE("guard: " << line);
  BOOST_TEST(f.node_alive());
  BOOST_TEST(f.coordinator_alive());
  // And a client with the same certificates keeps working.
  client_process bob{"bob"};
  auto node = bob.connect(f.port());
  use_the_node(bob, node, 1000);
  BOOST_TEST(f.logs.get().size() == attacks.size());
  // The control: the same kill straight to CAF's port ends the node actor.
  fake_node unguarded;
  auto direct =
      bob.sys->middleman().remote_actor<actorkv::node_actor>("127.0.0.1", unguarded.caf_port);
  BOOST_REQUIRE(direct);
  caf::anon_send_exit(*direct, caf::exit_reason::kill);
  BOOST_TEST(eventually([&] { return !unguarded.node_alive(); }));
}

BOOST_AUTO_TEST_SUITE_END()
