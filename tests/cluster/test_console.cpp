// The web console (actors/http/console/) in a real browser: headless Chromium loads it from a
// live cluster with a read token, runs its JavaScript against /v1/status and /metrics, and the
// DOM it leaves shows every member, the ring and a chart point; without credentials the page
// asks for a token. A screenshot lands in the cluster's directory (kept on failure).
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

std::string source_tree() {
  const char* s = std::getenv("ACTORKV_SOURCE");
  BOOST_REQUIRE_MESSAGE(s != nullptr && *s != '\0', "ACTORKV_SOURCE (the source tree) is not set");
  return s;
}

/// A read token and its [[token]] lines, from tools/certs --token.
std::pair<std::string, std::string> read_token() {
  auto made = run_program({"/bin/bash", source_tree() + "/tools/certs", "--token", "console:read"},
                          "", 60s);
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  std::string token, toml;
  std::istringstream in{made.out};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("bearer token: ", 0) == 0)
      token = line.substr(14);
    else
      toml += line + "\n";
  }
  BOOST_REQUIRE(token.size() == 64);
  return {token, toml};
}

/// Base64 of the SHA-256 of `cert`'s public key: Chromium trusts exactly that server key
/// (--ignore-certificate-errors-spki-list), since it takes no CA file; nothing else is excused.
std::string spki_pin(const std::string& cert) {
  auto r = run_program({"/bin/sh", "-c",
                        "openssl x509 -in '" + cert +
                            "' -pubkey -noout | openssl pkey -pubin -outform der | "
                            "openssl dgst -sha256 -binary | base64"},
                       "", 30s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto pin = r.out;
  while (!pin.empty() && (pin.back() == '\n' || pin.back() == '\r'))
    pin.pop_back();
  return pin;
}

/// Headless Chromium on `url`, with `extra` flags (--dump-dom, --screenshot=...); stdout.
run_result browse(local_cluster& c, size_t node, const std::string& url,
                  const std::vector<std::string>& extra) {
  std::vector<std::string> argv{
      "/usr/bin/chromium", "--headless",
      "--no-sandbox", // tests run as root, where the sandbox refuses
      "--disable-gpu", "--no-first-run", "--user-data-dir=" + c.dir() + "/chromium",
      "--ignore-certificate-errors-spki-list=" + spki_pin(c.cert_path(c.node_name(node))),
      // Virtual time runs while no request is pending: three polls.
      "--virtual-time-budget=6000", "--window-size=1280,1100"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  return run_program(argv, "", 90s);
}

size_t count(const std::string& text, const std::regex& re) {
  return static_cast<size_t>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

} // namespace

BOOST_AUTO_TEST_SUITE(console)

BOOST_AUTO_TEST_CASE(chromium_shows_every_member_the_ring_and_charts) {
  BOOST_REQUIRE_MESSAGE(access("/usr/bin/chromium", X_OK) == 0,
                        "chromium is not installed (tools/deps installs it)");
  auto [token, toml] = read_token();
  local_cluster::options o;
  o.partitions = 16;
  o.https = true;
  o.extra_toml = toml;
  local_cluster c{o};
  c.start_all();
  for (size_t i = 0; i < c.size(); ++i)
    BOOST_REQUIRE_MESSAGE(wait_for_port(c.host(i), c.https_port(i), 20s), c.log_tail(i));
  wait_until_all_up(c);
  // Some traffic for the charts.
  std::string script;
  for (int i = 0; i < 20; ++i)
    script += "put console" + std::to_string(i) + " v\n";
  BOOST_REQUIRE(c.kvsh(1, script, 30s).exit_code == 0);

  auto base = c.https_url(1) + "/";
  // Requests through node 2, without a pause, while the page watches it. The page's clock is
  // virtual: its polls come back to back, so each rate covers only the few milliseconds between
  // two scrapes. A loop of kvsh runs has gaps (process start, TLS handshake) that can hold all
  // of them, and then every rate is 0; kvbench keeps 32 reads in flight until it is stopped.
  auto traffic_log = c.dir() + "/kvbench.log";
  auto traffic =
      child_process::start({c.binary("kvbench"), "--connect", c.endpoint(1), "--workload", "c",
                            "--keys", "20", "--warmup", "0", "--duration", "300"},
                           traffic_log);
  // Its first progress line (after 5 s) says requests are being answered.
  BOOST_REQUIRE_MESSAGE(eventually(30s,
                                   [&] {
                                     std::ifstream log{traffic_log};
                                     std::ostringstream text;
                                     text << log.rdbuf();
                                     return std::regex_search(
                                         text.str(), std::regex{"ops/s, [1-9][0-9]* answered"});
                                   }),
                        "kvbench answered nothing through " << c.endpoint(1));
  auto page = browse(c, 1, base + "#token=" + token, {"--dump-dom"});
  traffic.stop(10s);
  BOOST_REQUIRE_MESSAGE(page.exit_code == 0, "chromium: " << page.err);
  auto& dom = page.out;
  BOOST_TEST_MESSAGE("DOM: " << dom.size() << " bytes");
  BOOST_TEST(dom.find("data-loaded=\"1\"") != std::string::npos, dom.substr(0, 3000));
  BOOST_TEST(dom.find("data-members=\"3\"") != std::string::npos);
  for (size_t i = 0; i < c.size(); ++i) {
    auto name = c.node_name(i);
    std::regex row{"<tr id=\"member-" + name + "\" data-member=\"" + name +
                   "\" data-state=\"valid\" data-up=\"1\">"};
    BOOST_TEST(count(dom, row) == 1u, name << " missing or not valid and up");
    BOOST_TEST(dom.find(c.endpoint(i)) != std::string::npos, c.endpoint(i));
  }
  BOOST_TEST(dom.find("node n2") != std::string::npos); // node 1 answered
  // The ring: one arc per partition, each with its owner, every member owning some.
  BOOST_TEST(count(dom, std::regex{"<path [^>]*data-owner=\"n[123]\""}) == 16u);
  for (size_t i = 0; i < c.size(); ++i)
    BOOST_TEST(count(dom, std::regex{"data-owner=\"" + c.node_name(i) + "\""}) >= 1u);
  // At least one rate was computed from two scrapes of /metrics.
  std::smatch points;
  BOOST_TEST(std::regex_search(dom, points, std::regex{"data-points=\"([0-9]+)\""}));
  if (!points.empty())
    BOOST_TEST(std::stoi(points[1]) >= 1);
  std::smatch peak;
  BOOST_TEST(std::regex_search(dom, peak, std::regex{"data-peak-ops=\"([0-9]+)\""}));
  BOOST_TEST_MESSAGE("chart points " << (points.empty() ? std::string{"none"} : points[1].str())
                                     << ", busiest rate "
                                     << (peak.empty() ? std::string{"none"} : peak[1].str())
                                     << " requests/s");
  if (!peak.empty())
    BOOST_TEST(std::stoi(peak[1]) > 0, "no request rate seen while kvbench read");
  BOOST_TEST(dom.find("no handoff running") != std::string::npos);
  // The token left the address bar and the page holds no error.
  BOOST_TEST(dom.find("cannot reach the node") == std::string::npos);

  auto shot = c.dir() + "/console.png";
  auto snap = browse(c, 1, base + "#token=" + token, {"--screenshot=" + shot});
  BOOST_REQUIRE_MESSAGE(snap.exit_code == 0, "chromium: " << snap.err);
  std::ifstream png(shot, std::ios::binary | std::ios::ate);
  BOOST_TEST(png.good(), "no screenshot at " << shot);
  BOOST_TEST(static_cast<long>(png.tellg()) > 20000, "screenshot too small to show the page");
  BOOST_TEST_MESSAGE("screenshot: " << shot);

  // Without credentials the page loads but shows the token form, not the cluster.
  auto anonymous = browse(c, 1, base + "console", {"--dump-dom"});
  BOOST_REQUIRE(anonymous.exit_code == 0);
  BOOST_TEST(anonymous.out.find("<form id=\"login\">") != std::string::npos,
             anonymous.out.substr(0, 2000));
  BOOST_TEST(anonymous.out.find("<main id=\"main\" hidden=\"\">") != std::string::npos);
  BOOST_TEST(anonymous.out.find("id=\"member-") == std::string::npos);
}

/// "done / total" of a progress bar in the dumped DOM (`id`: transfers or keys), or {-1, -1}.
std::pair<long, long> bar_of(const std::string& dom, const std::string& id) {
  std::smatch m;
  if (!std::regex_search(dom, m, std::regex{"id=\"" + id + "-text\">([0-9]+) / ([0-9]+)<"}))
    return {-1, -1};
  return {std::stol(m[1]), std::stol(m[2])};
}

BOOST_AUTO_TEST_CASE(a_joins_progress_moves_on_the_page_until_it_is_done) {
  BOOST_REQUIRE_MESSAGE(access("/usr/bin/chromium", X_OK) == 0,
                        "chromium is not installed (tools/deps installs it)");
  auto [token, toml] = read_token();
  local_cluster::options o;
  o.nodes = 4; // the fourth joins
  o.partitions = 16;
  o.https = true;
  o.quorum = "sloppy";
  // A slow handoff, so that the page sees it under way: 4 keys per batch, and every request
  // from the senders delayed 150 ms at the joining node (fault injection, set below).
  o.extra_toml = toml + "[handoff]\nbatch = 4\n[faults]\ninjection = true\n";
  local_cluster c{o};
  c.rewrite_manifest([&](std::string text) {
    auto at = text.find("\n[[node]]\nname = \"" + c.node_name(3) + "\"");
    BOOST_REQUIRE(at != std::string::npos);
    auto end = text.find('\n', text.find("https_port", at)); // its last line
    return text.erase(at, end - at);
  });
  for (size_t i = 0; i < 3; ++i)
    c.start(i);
  for (size_t i = 0; i < 3; ++i)
    BOOST_REQUIRE_MESSAGE(wait_for_port(c.host(i), c.https_port(i), 20s), c.log_tail(i));
  wait_until_all_up_of(c, {0, 1, 2});
  std::string script;
  for (int i = 0; i < 1500; ++i)
    script += "put join" + std::to_string(i) + " v\n";
  BOOST_REQUIRE(c.kvsh(0, script, 120s).exit_code == 0);
  c.start(3, {"--join", c.endpoint(0), "--listen", c.endpoint(3), "--data-dir", c.data_dir(3),
              "--https-port", std::to_string(c.https_port(3))});
  BOOST_REQUIRE(eventually(
      20s, [&] { return c.kvsh(1, "status\n").out.find("joining") != std::string::npos; }));
  auto delay = c.kvsh(3, "fault delay n1,n2,n3 150\n", 20s);
  BOOST_REQUIRE_MESSAGE(delay.exit_code == 0, delay.err);
  auto join = c.kvsh(1, "join " + c.endpoint(3) + "\n", 30s);
  BOOST_REQUIRE_MESSAGE(join.exit_code == 0, join.err);

  auto base = c.https_url(1) + "/#token=" + token;
  auto first = browse(c, 1, base, {"--dump-dom"});
  BOOST_REQUIRE_MESSAGE(first.exit_code == 0, "chromium: " << first.err);
  auto second = browse(c, 1, base, {"--dump-dom"});
  BOOST_REQUIRE_MESSAGE(second.exit_code == 0, "chromium: " << second.err);
  auto keys1 = bar_of(first.out, "keys"), keys2 = bar_of(second.out, "keys");
  BOOST_TEST_MESSAGE("keys streamed by n2 as the page showed them: " << keys1.first << " / "
                     << keys1.second << ", then " << keys2.first << " / " << keys2.second);
  BOOST_TEST(first.out.find("handoff running") != std::string::npos, first.out.substr(0, 3000));
  BOOST_TEST(first.out.find("data-members=\"4\"") != std::string::npos);
  BOOST_TEST(keys1.second > 0);
  BOOST_TEST(keys1.first < keys1.second); // under way, not done
  BOOST_TEST(keys2.first > keys1.first);  // and moving
  // The member table shows the joining node and what it will own after the handoff.
  BOOST_TEST(first.out.find("data-member=\"n4\"") != std::string::npos);

  // Healed, the handoff ends, and the page says so with the bars full.
  BOOST_REQUIRE(c.kvsh(3, "fault heal\n", 20s).exit_code == 0);
  BOOST_REQUIRE(eventually(60s, [&] {
    return c.kvsh(1, "status\n").out.find("no handoff running") != std::string::npos;
  }));
  // Then n2 releases what it no longer replicates (after a grace period), which the page
  // shows, until its bar is full.
  run_result done;
  bool released = eventually(90s, [&] {
    done = browse(c, 1, base, {"--dump-dom"});
    return done.exit_code == 0 && done.out.find("still releases") == std::string::npos;
  });
  BOOST_TEST(released, done.out.substr(0, 3000));
  BOOST_TEST(done.out.find("no handoff running") != std::string::npos);
  BOOST_TEST(done.out.find("data-member=\"n4\" data-state=\"valid\"") != std::string::npos);
  auto keys = bar_of(done.out, "keys");
  BOOST_TEST(keys.first == keys.second, keys.first << " / " << keys.second);
  BOOST_TEST(keys.first >= keys2.first);
}

BOOST_AUTO_TEST_SUITE_END()
