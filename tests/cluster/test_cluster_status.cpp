// The cluster view over HTTPS (GET /v1/status?scope=cluster) of a real 4-node cluster, read with
// curl and decoded with Python's json as a script would: the node asked collects every member's
// own status over its peer connections, the sums equal the members' figures (and kvsh status
// --all's, which the node gathers the same way), and a killed member is listed as unreachable with
// "complete": false, quickly.
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

std::string file_text(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The figures a script reads from a cluster status.
struct cluster_view {
  int http_status = 0;
  long took_ms = 0;
  bool complete = false;
  std::string unreachable; ///< names, comma-separated
  uint64_t total_hints = 0;
  uint64_t members = 0;
  uint64_t answered = 0;
  std::map<std::string, int64_t> hints;      ///< per member that answered, from its own status
  std::map<std::string, std::string> errors; ///< per member that did not
  std::string raw;
};

/// Runs curl with the reader's certificate against node `i`'s `path`; the body and status.
std::pair<int, std::string> curl_get(local_cluster& c, size_t i, const std::string& path) {
  auto body = c.dir() + "/status-body.json";
  auto run = run_program({"/usr/bin/curl", "-sS", "--max-time", "20", "--cacert", c.cert_path("ca"),
                          "--cert", c.cert_path("reader"), "--key", c.key_path("reader"), "-o",
                          body, "-w", "%{http_code}", c.https_url(i) + path},
                         "", 30s);
  BOOST_REQUIRE_MESSAGE(run.exit_code == 0, "curl: " << run.err);
  return {std::stoi(run.out), file_text(body)};
}

/// Decodes a cluster status body with Python's json into one fact per line.
cluster_view decode_cluster_view(const std::string& body) {
  cluster_view v;
  v.raw = body;
  static const char* script = R"(
import json, sys
d = json.load(sys.stdin)
print("complete", 1 if d["complete"] else 0)
print("unreachable", ",".join(d["unreachable"]) or "-")
t = d["totals"]
print("totals", t["members"], t["answered"], t["pending_hints"])
for m in d["members"]:
    if m["answered"]:
        print("member", m["name"], m["status"]["pending_hints"])
    else:
        print("down", m["name"], m["error"])
)";
  auto py = run_program({"/usr/bin/python3", "-c", script}, body, 20s);
  BOOST_REQUIRE_MESSAGE(py.exit_code == 0, "not the JSON expected: " << py.err << body);
  std::istringstream in{py.out};
  for (std::string word; in >> word;) {
    if (word == "complete") {
      int x;
      in >> x;
      v.complete = x == 1;
    } else if (word == "unreachable") {
      in >> v.unreachable;
      if (v.unreachable == "-")
        v.unreachable.clear();
    } else if (word == "totals") {
      in >> v.members >> v.answered >> v.total_hints;
    } else if (word == "member") {
      std::string name;
      int64_t hints;
      in >> name >> hints;
      v.hints[name] = hints;
    } else if (word == "down") {
      std::string name, error;
      in >> name >> error;
      v.errors[name] = error;
    }
  }
  return v;
}

/// GET /v1/status?scope=cluster of node `i`, decoded, with its status and how long it took.
cluster_view read_cluster_view(local_cluster& c, size_t i) {
  auto started = std::chrono::steady_clock::now();
  auto [status, body] = curl_get(c, i, "/v1/status?scope=cluster");
  auto took = std::chrono::steady_clock::now() - started;
  auto v = decode_cluster_view(body);
  v.took_ms =
      static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
  v.http_status = status;
  return v;
}

/// A node's own pending_hints, from its plain GET /v1/status.
uint64_t own_hints(local_cluster& c, size_t i) {
  auto [status, body] = curl_get(c, i, "/v1/status");
  BOOST_REQUIRE_EQUAL(status, 200);
  auto py = run_program(
      {"/usr/bin/python3", "-c", "import json,sys; print(json.load(sys.stdin)['pending_hints'])"},
      body, 20s);
  BOOST_REQUIRE_MESSAGE(py.exit_code == 0, py.err << body);
  return std::stoull(py.out);
}

} // namespace

BOOST_AUTO_TEST_SUITE(cluster_status)

BOOST_AUTO_TEST_CASE(sums_equal_the_members_figures_and_a_killed_member_is_unreachable,
                     *boost::unit_test::timeout(300)) {
  // Sloppy quorum on four nodes: writes whose home includes a dead node leave a hint on a
  // fallback, so the hints held are figures worth summing.
  local_cluster::options o;
  o.nodes = 4;
  o.partitions = 16;
  o.quorum = "sloppy";
  o.https = true;
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);

  auto all = read_cluster_view(c, 0);
  BOOST_TEST_MESSAGE("all up: " << all.raw);
  BOOST_TEST(all.http_status == 200);
  BOOST_TEST(all.complete, all.raw);
  BOOST_TEST(all.unreachable.empty());
  BOOST_TEST(all.members == 4u);
  BOOST_TEST(all.answered == 4u);
  BOOST_TEST(all.hints.size() == 4u);

  // n4 down: writes of its partitions leave hints for it.
  c.kill(3);
  BOOST_REQUIRE(eventually(20s, [&] { return sees(c, 0, "n4", "down"); }));
  std::string script;
  const int keys = 100;
  for (int k = 0; k < keys; ++k)
    script += "put cluster-view-" + std::to_string(k) + " v\n";
  auto put = c.kvsh(0, script, 120s);
  BOOST_REQUIRE_MESSAGE(put.exit_code == 0, put.err);

  auto down = read_cluster_view(c, 0);
  BOOST_TEST_MESSAGE("n4 killed: " << down.raw);
  BOOST_TEST(down.http_status == 200);
  BOOST_TEST(!down.complete, down.raw);
  BOOST_TEST(down.unreachable == "n4", down.raw);
  BOOST_TEST(down.members == 4u);
  BOOST_TEST(down.answered == 3u);
  BOOST_TEST(down.errors.count("n4") == 1u, down.raw);
  BOOST_TEST(down.hints.count("n4") == 0u);
  // A member known down costs no wait.
  BOOST_TEST(down.took_ms < 5000, down.took_ms);
  // The sums are those of the members' own figures, and each is what the member says itself.
  uint64_t sum = 0;
  for (auto& [name, hints] : down.hints)
    sum += hints;
  BOOST_TEST(down.total_hints == sum, down.raw);
  BOOST_TEST(down.total_hints > 0u, down.raw);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(own_hints(c, i) == static_cast<uint64_t>(down.hints[c.node_name(i)]));
  // kvsh status --all, asking each member itself, sums the same (and exits 4: a member down).
  auto kv = c.kvsh_args({"--connect", c.endpoint(0), "-c", "status --all"}, "", 60s);
  BOOST_TEST(kv.exit_code == 4, kv.out << kv.err);
  BOOST_TEST(status_figure(kv.out, "cluster: ") == down.total_hints, kv.out);
  // With --json it prints the body of the HTTPS request (it used to print a shape of its own).
  auto kv_json = c.kvsh_args({"--connect", c.endpoint(0), "--json", "-c", "status --all"}, "", 60s);
  BOOST_TEST(kv_json.exit_code == 4, kv_json.out << kv_json.err);
  auto as_json = decode_cluster_view(kv_json.out);
  BOOST_TEST(!as_json.complete, as_json.raw);
  BOOST_TEST(as_json.unreachable == "n4", as_json.raw);
  BOOST_TEST(as_json.total_hints == down.total_hints, as_json.raw);

  // Asked through n2 as well: the same members, the same verdict.
  auto via_n2 = read_cluster_view(c, 1);
  BOOST_TEST(via_n2.unreachable == "n4", via_n2.raw);
  BOOST_TEST(via_n2.total_hints == down.total_hints, via_n2.raw);

  // A member that stops answering while still connected (paused): the node waits for it at most
  // [timeouts] request_ms (5 s here), then lists it as not answering; the others still count.
  c.pause(2);
  auto silent = read_cluster_view(c, 0);
  c.resume(2);
  BOOST_TEST_MESSAGE("n3 paused: answered in " << silent.took_ms << " ms");
  BOOST_TEST(silent.http_status == 200);
  BOOST_TEST(silent.unreachable == "n3,n4", silent.raw);
  BOOST_TEST(silent.answered == 2u, silent.raw);
  BOOST_TEST(silent.took_ms < 9000, silent.took_ms);
  BOOST_TEST(silent.total_hints == down.hints["n1"] + down.hints["n2"], silent.raw);
  BOOST_TEST((silent.errors["n3"] == "timeout" || silent.errors["n3"] == "unavailable"),
             silent.raw);
}

BOOST_AUTO_TEST_SUITE_END()
