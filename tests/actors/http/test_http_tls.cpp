// The HTTP server over TLS, with a throwaway CA made by the openssl CLI: client certificates
// prove roles by their OU, bearer tokens work without one, and handshakes are bounded.
#include "tests/actors/http/http_fixture.hpp"

using namespace actorkv;
using namespace actorkv::http_test;
namespace utf = boost::unit_test;

namespace {

/// A CA, a server certificate for 127.0.0.1 and client certificates: writer (OU=write), reader
/// (OU=read), sales (OU=sales, no role) and mallory (OU=admin, from a CA the server does not
/// trust). EC P-256, valid for two days. Made once for the whole suite.
const std::filesystem::path& pki() {
  static temp_dir dir;
  static bool made = [] {
    auto script = R"(set -e
issue() { # NAME SUBJECT CA EXTENSION
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -out "$1.csr" -subj "$2"
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -days 2 \
    -sha256 -extfile "$1.ext" -out "$1.crt"
}
for ca in ca rogue; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ca.key" \
    -out "$ca.crt" -subj "/CN=test-$ca" -days 2 -sha256
done
issue server /CN=localhost ca "subjectAltName=IP:127.0.0.1,DNS:localhost"
issue writer /CN=writer/OU=write ca extendedKeyUsage=clientAuth
issue reader /CN=reader/OU=read ca extendedKeyUsage=clientAuth
issue sales /CN=sales/OU=sales ca extendedKeyUsage=clientAuth
issue mallory /CN=mallory/OU=admin rogue extendedKeyUsage=clientAuth
)";
    std::ofstream{dir.path / "make.sh"} << script;
    auto command = "cd '" + dir.path.string() + "' && bash make.sh > make.log 2>&1";
    return std::system(command.c_str()) == 0;
  }();
  BOOST_REQUIRE_MESSAGE(made, "openssl failed: " + read_file(dir.path / "make.log"));
  return dir.path;
}

struct tls_fixture : server_fixture {
  temp_dir scratch;

  http_options tls_options() {
    auto o = test_options();
    o.tls = true;
    o.ca = (pki() / "ca.crt").string();
    o.cert = (pki() / "server.crt").string();
    o.key = (pki() / "server.key").string();
    return o;
  }

  std::string https(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(port()) + path;
  }

  /// curl with the test CA and `args`: the HTTP status of each URL ("000" when TLS failed).
  std::string curl(const std::string& args) {
    return run("curl -sS --max-time 5 -o " + (scratch.path / "out").string() +
               " -w '%{http_code}' --cacert " + (pki() / "ca.crt").string() + " " + args +
               " 2>/dev/null");
  }

  std::string as(const std::string& client) {
    return "--cert " + (pki() / (client + ".crt")).string() + " --key " +
           (pki() / (client + ".key")).string() + " ";
  }

  std::string body() { return read_file(scratch.path / "out"); }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(http_server_tls, tls_fixture)

BOOST_AUTO_TEST_CASE(client_certificates_prove_the_role_of_their_ou, *utf::timeout(20)) {
  start(tls_options());
  BOOST_CHECK_EQUAL(curl(as("writer") + "-X PUT --data-binary secret " + https("/v1/kv/t")), "200");
  BOOST_CHECK_EQUAL(curl(as("writer") + https("/v1/kv/t")), "200");
  BOOST_CHECK_EQUAL(body(), "secret");
  BOOST_CHECK_EQUAL(curl(as("reader") + https("/v1/kv/t")), "200");
  BOOST_CHECK_EQUAL(curl(as("reader") + "-X PUT --data-binary x " + https("/v1/kv/t")), "403");
  BOOST_CHECK(body().find("\"error\":\"forbidden\"") != std::string::npos);
  // A verified certificate whose OU is no role proves nothing: refused, not unauthenticated.
  BOOST_CHECK_EQUAL(curl(as("sales") + https("/v1/status")), "403");
  BOOST_CHECK_EQUAL(curl(https("/v1/status")), "401");
  // A certificate from another CA fails the handshake: no HTTP at all.
  BOOST_CHECK_EQUAL(curl(as("mallory") + https("/v1/status")), "000");
}

BOOST_AUTO_TEST_CASE(tokens_work_with_or_without_a_certificate, *utf::timeout(20)) {
  start(tls_options());
  auto token = [](const std::string& t) { return "-H 'Authorization: Bearer " + t + "' "; };
  BOOST_CHECK_EQUAL(curl(token(writer_token) + "-X PUT --data-binary v " + https("/v1/kv/k")),
                    "200");
  BOOST_CHECK_EQUAL(curl(token("guess") + https("/v1/status")), "401");
  // Either credential may grant the role: the reader's certificate with the admin's token.
  auto plan = "-X POST --data-binary '{\"action\":\"leave\",\"subject\":\"n2\"}' ";
  BOOST_CHECK_EQUAL(curl(as("reader") + plan + https("/v1/admin/plan")), "403");
  BOOST_CHECK_EQUAL(curl(as("reader") + token(admin_token) + plan + https("/v1/admin/plan")),
                    "200");
  // A wrong token is refused even beside a good certificate.
  BOOST_CHECK_EQUAL(curl(as("writer") + token("guess") + https("/v1/status")), "401");
}

BOOST_AUTO_TEST_CASE(connections_are_kept_alive_and_closed_cleanly, *utf::timeout(20)) {
  start(tls_options());
  auto curl_writer = "curl -sS --max-time 5 --cacert " + (pki() / "ca.crt").string() + " " +
                     as("writer") + "-w '%{http_code}:%{num_connects} ' ";
  // Three requests on one connection: the later ones open none.
  auto out = run(curl_writer + "-o /dev/null " + https("/v1/status") + " -o /dev/null " +
                 https("/v1/kv/absent") + " -o /dev/null " + https("/v1/status") + " 2>&1");
  BOOST_CHECK_EQUAL(out, "200:1 404:0 200:0 ");
  // Asked to close, the server closes after the answer (with a TLS close_notify): curl then
  // needs a new connection for the next URL, and reports no error.
  out = run(curl_writer + "-H 'Connection: close' -o /dev/null " + https("/v1/status") +
            " -o /dev/null " + https("/v1/status") + " 2>&1");
  BOOST_CHECK_EQUAL(out, "200:1 200:1 ");
}

BOOST_AUTO_TEST_CASE(without_a_ca_only_tokens_count, *utf::timeout(20)) {
  auto o = tls_options();
  o.ca.clear();
  start(o);
  // No certificate is asked for, so the writer's proves nothing.
  BOOST_CHECK_EQUAL(curl(as("writer") + https("/v1/status")), "401");
  BOOST_CHECK_EQUAL(curl("-H 'Authorization: Bearer " + reader_token + "' " + https("/v1/status")),
                    "200");
}

BOOST_AUTO_TEST_CASE(handshakes_are_bounded_and_plain_http_is_dropped, *utf::timeout(20)) {
  auto o = tls_options();
  o.request_timeout = 800ms;
  start(o);
  connection silent{port()};
  auto t0 = std::chrono::steady_clock::now();
  BOOST_CHECK(silent.closed_within(3s));
  BOOST_CHECK_GE(since(t0).count(), 700);
  connection plain{port()};
  plain.write_raw("GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n");
  t0 = std::chrono::steady_clock::now();
  BOOST_CHECK(plain.closed_within(3s));
  BOOST_CHECK_LT(since(t0).count(), 700); // not a handshake: dropped at once
}

BOOST_AUTO_TEST_CASE(start_fails_without_usable_certificates, *utf::timeout(20)) {
  std::string error;
  auto o = tls_options();
  o.cert = (pki() / "missing.crt").string();
  BOOST_CHECK(!http_server::start(sys, caf::actor_cast<client_actor>(store), o, error));
  BOOST_CHECK_MESSAGE(error.find("cannot load the certificate") != std::string::npos, error);
  o = tls_options();
  o.key = (pki() / "writer.key").string();
  BOOST_CHECK(!http_server::start(sys, caf::actor_cast<client_actor>(store), o, error));
  BOOST_CHECK_MESSAGE(error.find("cannot load the key") != std::string::npos, error);
  o = tls_options();
  o.ca = (pki() / "missing-ca.crt").string();
  BOOST_CHECK(!http_server::start(sys, caf::actor_cast<client_actor>(store), o, error));
  BOOST_CHECK_MESSAGE(error.find("cannot load the CA") != std::string::npos, error);
}

BOOST_AUTO_TEST_SUITE_END()
