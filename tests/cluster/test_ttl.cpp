// Puts with a TTL on a real 3-node cluster, through kvsh and the HTTPS API (curl): the value reads
// as found until its expiry and as not found on every node after it, and once the grace period
// passed every node's copy is collected, while a plain value beside it stays. A TTL out of range
// is refused with a clear error and stores nothing.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

/// Three nodes with the HTTPS API, a 2 s tombstone grace and quick anti-entropy.
local_cluster::options three_with_https() {
  local_cluster::options o;
  o.partitions = 16;
  o.https = true;
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\n[anti_entropy]\ninterval_ms = 1000\npace_ms = 1\n";
  return o;
}

/// `curl -X METHOD` of `path` on node `i` as the "writer" certificate: the status and the body.
std::pair<int, std::string> curl(local_cluster& c, size_t i, const std::string& method,
                                 const std::string& path, const std::string& body = "") {
  std::vector<std::string> argv{"/usr/bin/curl",
                                "-sS",
                                "--max-time",
                                "20",
                                "--cacert",
                                c.cert_path("ca"),
                                "--cert",
                                c.cert_path("writer"),
                                "--key",
                                c.key_path("writer"),
                                "-X",
                                method,
                                "-w",
                                "\n%{http_code}"};
  if (method == "PUT")
    argv.insert(argv.end(), {"--data-binary", body});
  argv.push_back(c.https_url(i) + path);
  auto run = run_program(argv, "", 30s);
  BOOST_REQUIRE_MESSAGE(run.exit_code == 0, "curl failed: " << run.err);
  auto nl = run.out.rfind('\n');
  BOOST_REQUIRE(nl != std::string::npos);
  return {std::stoi(run.out.substr(nl + 1)), run.out.substr(0, nl)};
}

bool found_through_kvsh(local_cluster& c, size_t i, const std::string& key) {
  auto r = c.kvsh(i, "get " + key + "\n", 30s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0 || r.exit_code == 3, r.err);
  return r.exit_code == 0;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ttl)

BOOST_AUTO_TEST_CASE(an_expired_key_is_gone_from_every_node_and_collected) {
  local_cluster c{three_with_https()};
  short_tombstone_grace(c);
  c.start_all();
  wait_until_all_up(c);
  // A TTL out of range is refused, by kvsh and by the HTTPS API, and nothing is stored.
  auto bad = c.kvsh(0, "put refused ttl-refused --ttl 0\n", 30s);
  BOOST_TEST(bad.exit_code == 1);
  BOOST_TEST(bad.err.find("TTL") != std::string::npos, bad.err);
  auto huge = curl(c, 1, "PUT", "/v1/kv/refused?ttl=999999999999", "ttl-refused");
  BOOST_TEST(huge.first == 400);
  BOOST_TEST(huge.second.find("ttl") != std::string::npos, huge.second);
  BOOST_TEST(curl(c, 1, "GET", "/v1/kv/refused?ttl=5").first == 400); // PUT only
  // One key through kvsh, one through HTTPS, each expiring in 3 s; one plain key.
  auto started = std::chrono::steady_clock::now();
  auto r = c.kvsh(0, "put through-kvsh ttl-marker-kvsh --ttl 3\nput plain ttl-plain\n", 30s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto put = curl(c, 1, "PUT", "/v1/kv/through-https?ttl=3", "ttl-marker-https");
  BOOST_REQUIRE_MESSAGE(put.first == 200, put.second);
  BOOST_TEST(found_through_kvsh(c, 2, "through-kvsh"));
  BOOST_TEST(curl(c, 0, "GET", "/v1/kv/through-https").first == 200);
  BOOST_REQUIRE_MESSAGE(std::chrono::steady_clock::now() - started < 3s,
                        "the checks before the expiry took longer than the TTL");
  // Every replica got both (N = 3): the expiry travels with the value.
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(eventually(10s, [&] { return stored_with(c.data_dir(i), "ttl-marker-") == 2; }),
               "node " << i);
  std::this_thread::sleep_until(started + 3500ms);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(!found_through_kvsh(c, i, "through-kvsh"), "node " << i);
    BOOST_TEST(!found_through_kvsh(c, i, "through-https"), "node " << i);
    BOOST_TEST(curl(c, i, "GET", "/v1/kv/through-kvsh").first == 404, "node " << i);
    BOOST_TEST(found_through_kvsh(c, i, "plain"), "node " << i);
  }
  // Past the grace (2 s) every node collects its copies; the plain value stays everywhere.
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(eventually(30s, [&] { return stored_with(c.data_dir(i), "ttl-marker-") == 0; }),
               "node " << i << " still holds " << stored_with(c.data_dir(i), "ttl-marker-"));
    BOOST_TEST(stored_with(c.data_dir(i), "ttl-plain") == 1, "node " << i);
    BOOST_TEST(stored_with(c.data_dir(i), "ttl-refused") == 0, "node " << i);
  }
  uint64_t collected = 0;
  for (size_t i = 0; i < 3; ++i)
    collected += status_figure(c.kvsh(i, "status\n").out, "tombstones collected: ");
  BOOST_TEST(collected == 6u); // two keys, three replicas each
}

BOOST_AUTO_TEST_SUITE_END()
