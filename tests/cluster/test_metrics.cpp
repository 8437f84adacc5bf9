// GET /metrics of a live node: Prometheus text exposition 0.0.4 that a scraper can parse, the
// read role it needs, and counters that move by exactly the requests a client made.
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

struct scrape {
  int status = 0;
  std::string content_type;
  std::string body;
  std::map<std::string, double> samples; ///< "name{labels}" as written -> value
};

/// curl against node `i` with `who`'s certificate (none when empty): what a Prometheus server
/// configured with that certificate would fetch.
scrape fetch(local_cluster& c, size_t i, const std::string& who, const std::string& method = "GET",
             const std::string& path = "/metrics", const std::string& body = "") {
  auto base = c.dir() + "/metrics-" + std::to_string(std::rand());
  std::vector<std::string> argv{"/usr/bin/curl",
                                "-sS",
                                "--max-time",
                                "20",
                                "--cacert",
                                c.cert_path("ca"),
                                "-X",
                                method,
                                "-o",
                                base + ".body",
                                "-w",
                                "%{http_code} %{content_type}"};
  if (!who.empty())
    argv.insert(argv.end(), {"--cert", c.cert_path(who), "--key", c.key_path(who)});
  if (!body.empty())
    argv.insert(argv.end(), {"--data-binary", body});
  argv.push_back(c.https_url(i) + path);
  auto run = run_program(argv, "", 30s);
  BOOST_REQUIRE_MESSAGE(run.exit_code == 0, "curl: " << run.err);
  scrape s;
  auto space = run.out.find(' ');
  s.status = std::stoi(run.out.substr(0, space));
  s.content_type = run.out.substr(space + 1);
  std::ifstream in(base + ".body", std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  s.body = ss.str();
  std::remove((base + ".body").c_str());
  return s;
}

/// Checks `s.body` line by line against the text format: comments are HELP or TYPE of a valid
/// name, each TYPE comes before its family's samples and once, every sample is
/// name{label="value",...} number and belongs to the family typed last (histograms through
/// _bucket, _sum, _count), histogram buckets are cumulative and end in +Inf equal to _count.
/// Fills s.samples.
void parse_exposition(scrape& s) {
  static const std::regex type_line{
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))"};
  static const std::regex help_line{R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)"};
  static const std::regex sample_line{
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? )"
      R"((-?[0-9.e+-]+|\+Inf|-Inf|NaN))"};
  BOOST_REQUIRE(!s.body.empty());
  BOOST_TEST(s.body.back() == '\n');
  std::set<std::string> typed;
  std::string family, type;
  std::map<std::string, double> last_bucket; ///< per histogram series (labels without le)
  std::istringstream in{s.body};
  size_t n = 0;
  for (std::string line; std::getline(in, line); ++n) {
    std::smatch m;
    if (std::regex_match(line, m, type_line)) {
      BOOST_TEST(typed.insert(m[1]).second, "TYPE twice: " << line);
      family = m[1];
      type = m[2];
      continue;
    }
    if (std::regex_match(line, m, help_line))
      continue;
    BOOST_REQUIRE_MESSAGE(std::regex_match(line, m, sample_line),
                          "not exposition: '" << line << "'");
    std::string name = m[1];
    bool ours = name == family;
    if (type == "histogram")
      ours = name == family + "_bucket" || name == family + "_sum" || name == family + "_count";
    BOOST_TEST(ours, "sample outside its family " << family << ": " << line);
    auto value_at = line.rfind(' ');
    auto key = line.substr(0, value_at);
    auto text = line.substr(value_at + 1);
    double v = text == "+Inf" ? INFINITY : std::stod(text);
    BOOST_TEST(s.samples.emplace(key, v).second, "sample twice: " << line);
    if (name == family + "_bucket") {
      auto le = key.find("le=\"");
      BOOST_REQUIRE(le != std::string::npos);
      auto series = key.substr(0, le);
      BOOST_TEST(v >= last_bucket[series], "buckets not cumulative: " << line);
      last_bucket[series] = v;
    }
  }
  BOOST_TEST(n > 20u);
  // Every histogram's +Inf bucket equals its count.
  for (auto& [key, v] : s.samples) {
    auto at = key.find("_bucket");
    if (at == std::string::npos || key.find("le=\"+Inf\"") == std::string::npos)
      continue;
    auto labels = key.substr(at + 7);
    labels = labels.substr(0, labels.find("le=\"+Inf\""));
    if (labels.size() > 1 && labels.back() == ',')
      labels.pop_back();
    labels = labels == "{" ? "" : labels + "}";
    auto count = key.substr(0, at) + "_count" + labels;
    BOOST_TEST(s.samples.count(count) == 1u, "no " << count);
    BOOST_TEST(s.samples[count] == v, count);
  }
}

double value(const scrape& s, const std::string& key) {
  auto it = s.samples.find(key);
  return it == s.samples.end() ? 0 : it->second;
}

} // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(a_scrape_parses_and_counters_move_by_the_requests_made) {
  local_cluster::options o;
  o.partitions = 16;
  o.https = true;
  local_cluster c{o};
  c.start_all();
  for (size_t i = 0; i < c.size(); ++i)
    BOOST_REQUIRE_MESSAGE(wait_for_port(c.host(i), c.https_port(i), 20s), c.log_tail(i));
  wait_until_all_up(c);

  // Status needs the read role: so do metrics.
  auto refused = fetch(c, 0, "");
  BOOST_TEST(refused.status == 401);

  auto before = fetch(c, 0, "reader");
  BOOST_TEST(before.status == 200, before.body);
  BOOST_TEST(before.content_type == "text/plain; version=0.0.4; charset=utf-8");
  parse_exposition(before);
  BOOST_TEST(value(before, "actorkv_status_up") == 1);
  BOOST_TEST(value(before, "actorkv_peers{state=\"up\"}") == 2);
  BOOST_TEST(value(before, "actorkv_peers{state=\"down\"}") == 0);
  BOOST_TEST(value(before, "actorkv_members{state=\"valid\"}") == 3);
  BOOST_TEST(value(before, "actorkv_open_connections{listener=\"https\"}") >= 1);
  // Each pair of nodes keeps one connection, through the guard of the node that was dialed.
  double node_port = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    auto s = fetch(c, i, "reader");
    parse_exposition(s);
    node_port += value(s, "actorkv_open_connections{listener=\"node\"}");
  }
  BOOST_TEST(node_port >= 3);

  // Through node 0's HTTPS API, so node 0 coordinates every one of them.
  for (int i = 0; i < 5; ++i)
    BOOST_REQUIRE(fetch(c, 0, "writer", "PUT", "/v1/kv/m" + std::to_string(i), "v").status == 200);
  for (int i = 0; i < 7; ++i)
    BOOST_REQUIRE(fetch(c, 0, "reader", "GET", "/v1/kv/m" + std::to_string(i % 5)).status == 200);
  for (int i = 0; i < 2; ++i)
    BOOST_REQUIRE(fetch(c, 0, "reader", "GET", "/v1/kv/absent" + std::to_string(i)).status == 404);
  BOOST_REQUIRE(fetch(c, 0, "writer", "DELETE", "/v1/kv/m0").status == 200);
  // A refused write is no request at the coordinator.
  BOOST_REQUIRE(fetch(c, 0, "reader", "PUT", "/v1/kv/m9", "v").status == 403);

  auto after = fetch(c, 0, "reader");
  BOOST_TEST(after.status == 200);
  parse_exposition(after);
  auto moved = [&](const std::string& key) { return value(after, key) - value(before, key); };
  BOOST_TEST(moved("actorkv_requests_total{op=\"put\",outcome=\"ok\"}") == 5);
  // The delete without a context reads the key first: one get more, and the delete.
  BOOST_TEST(moved("actorkv_requests_total{op=\"get\",outcome=\"ok\"}") == 8);
  BOOST_TEST(moved("actorkv_requests_total{op=\"get\",outcome=\"not_found\"}") == 2);
  BOOST_TEST(moved("actorkv_requests_total{op=\"delete\",outcome=\"ok\"}") == 1);
  BOOST_TEST(moved("actorkv_request_duration_seconds_count{op=\"put\"}") == 5);
  BOOST_TEST(moved("actorkv_request_duration_seconds_count{op=\"get\"}") == 10);
  BOOST_TEST(moved("actorkv_request_duration_seconds_sum{op=\"put\"}") > 0);
  BOOST_TEST(moved("actorkv_read_siblings_count") == 8); // every found read, one sibling each
  BOOST_TEST(moved("actorkv_read_siblings_bucket{le=\"1\"}") == 8);
  // Node 0 is a home replica of every key (3 nodes, N = 3): it committed each write itself.
  BOOST_TEST(moved("actorkv_storage_batch_writes_sum") >= 6);
  BOOST_TEST(moved("actorkv_storage_commit_duration_seconds_count") >= 1);
  BOOST_TEST(moved("actorkv_http_responses_total{code=\"200\"}") >= 14);
  BOOST_TEST(moved("actorkv_http_responses_total{code=\"403\"}") == 1);
  BOOST_TEST(value(after, "actorkv_errors_total{code=\"forbidden\"}") == 0);
  // 5 values and every response went through the HTTPS port; the peers' traffic through the
  // node port.
  BOOST_TEST(moved("actorkv_network_bytes_total{listener=\"https\",direction=\"in\"}") > 5 * 100);
  BOOST_TEST(moved("actorkv_network_bytes_total{listener=\"https\",direction=\"out\"}") >=
             before.body.size());
  BOOST_TEST(value(after, "actorkv_network_bytes_total{listener=\"node\",direction=\"in\"}") > 0);
  BOOST_TEST(value(after, "actorkv_hints_held") == 0);
  // Queue depths of the busy actors: served, and back at zero once every request was answered
  // (a request counted in and never out would leave them above).
  for (auto* queue : {"actorkv_coordinator_requests_in_flight", "actorkv_storage_pending_answers"}) {
    BOOST_TEST(after.samples.count(queue) == 1u, queue << " missing from " << after.body);
    BOOST_TEST(value(after, queue) == 0, queue);
  }
}

BOOST_AUTO_TEST_CASE(hints_held_while_a_node_is_down_are_counted_as_delivered_after) {
  local_cluster::options o;
  o.nodes = 4; // N = 3 of 4: a fallback exists for every key
  o.partitions = 16;
  o.quorum = "sloppy";
  o.https = true;
  local_cluster c{o};
  c.start_all();
  for (size_t i = 0; i < c.size(); ++i)
    BOOST_REQUIRE_MESSAGE(wait_for_port(c.host(i), c.https_port(i), 20s), c.log_tail(i));
  wait_until_all_up(c);
  auto sum = [&](const std::string& key, std::vector<size_t> nodes) {
    double total = 0;
    for (auto i : nodes) {
      auto s = fetch(c, i, "reader");
      if (s.status != 200)
        return -1.0;
      parse_exposition(s);
      total += value(s, key);
    }
    return total;
  };
  c.kill(3);
  BOOST_REQUIRE(eventually(20s, [&] {
    auto s = fetch(c, 0, "reader");
    parse_exposition(s);
    return value(s, "actorkv_peers{state=\"down\"}") == 1 &&
           value(s, "actorkv_peers{state=\"up\"}") == 2;
  }));
  for (int i = 0; i < 24; ++i)
    BOOST_REQUIRE(fetch(c, 0, "writer", "PUT", "/v1/kv/h" + std::to_string(i), "v").status == 200);
  auto held = sum("actorkv_hints_held", {0, 1, 2});
  BOOST_TEST_MESSAGE("hints held while n4 is down: " << held);
  BOOST_TEST(held > 0); // n4 is a home replica of most of 24 keys
  BOOST_TEST(sum("actorkv_hints_delivered_total", {0, 1, 2}) == 0);
  c.start(3);
  BOOST_TEST(eventually(60s,
                        [&] {
                          return sum("actorkv_hints_held", {0, 1, 2}) == 0 &&
                                 sum("actorkv_hints_delivered_total", {0, 1, 2}) == held;
                        }),
             "held " << held << ", still held " << sum("actorkv_hints_held", {0, 1, 2})
                     << ", delivered " << sum("actorkv_hints_delivered_total", {0, 1, 2}));
}

BOOST_AUTO_TEST_SUITE_END()
