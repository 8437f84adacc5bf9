// Many nodes started at the same moment. 32 nodes started within a second once left pairs of
// nodes one-sidedly apart for minutes (A saw B down while B saw A up), and a handle dialed for
// one node answered as another ("peer n30 refused: it runs as 'n13'"). Every node must see every
// other up within 15 s of the start, and no node may meet a peer under another name.
//
// Before the fix, 1 of 7 starts of 32 nodes showed a stuck pair here (0 of 6 starts of 24):
// rare, so tools/test runs one start of 32 and the acceptance run is 20 starts of 32:
//   ACTORKV_START_RACE_NODES=32 ACTORKV_START_RACE_ROUNDS=20 membership_tests --run_test=start_race
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

size_t from_env(const char* name, size_t fallback) {
  auto* env = std::getenv(name);
  return env ? std::max<size_t>(1, std::stoul(env)) : fallback;
}

/// The members node `i`'s status shows down, or {"(no status)"} when kvsh failed.
std::vector<std::string> down_seen_by(local_cluster& c, size_t i) {
  auto r = c.kvsh(i, "status\n", 10s);
  if (r.exit_code != 0 && r.exit_code != 4) // 4: a member is down, listed below
    return {"(no status: " + r.err + ")"};
  std::vector<std::string> down;
  std::istringstream in{r.out};
  for (std::string line; std::getline(in, line);) {
    std::istringstream words{line};
    std::string name, endpoint, state;
    int capacity = 0;
    if (words >> name >> endpoint >> capacity >> state && state == "down")
      down.push_back(name);
  }
  return down;
}

/// Waits until every node of `c` sees every other up, at most until `deadline`.
void require_all_up_by(local_cluster& c, std::chrono::steady_clock::time_point deadline,
                       const std::string& what) {
  for (size_t i = 0; i < c.size(); ++i) {
    std::vector<std::string> down;
    do {
      down = down_seen_by(c, i);
      if (down.empty())
        break;
      std::this_thread::sleep_for(200ms);
    } while (std::chrono::steady_clock::now() < deadline);
    std::string listed;
    for (auto& name : down)
      listed += " " + name;
    BOOST_REQUIRE_MESSAGE(down.empty(), what << ": " << c.node_name(i) << " still sees down:" << listed);
  }
}

/// No node met a peer under another name (a handle dialed for one node answering as another).
void check_no_peer_under_another_name(local_cluster& c) {
  for (size_t i = 0; i < c.size(); ++i)
    BOOST_CHECK_MESSAGE(c.log(i).find(" runs as '") == std::string::npos,
                        c.node_name(i) << " met a peer under another name: " << c.log_tail(i, 10));
}

} // namespace

BOOST_AUTO_TEST_SUITE(start_race)

BOOST_AUTO_TEST_CASE(nodes_started_together_see_each_other_up_within_15_s) {
  const auto nodes = from_env("ACTORKV_START_RACE_NODES", 32);
  const auto rounds = from_env("ACTORKV_START_RACE_ROUNDS", 1);
  for (size_t round = 1; round <= rounds; ++round) {
    BOOST_TEST_MESSAGE("start " << round << " of " << rounds << ": " << nodes << " nodes");
    local_cluster::options o;
    o.nodes = nodes;
    o.partitions = 256;
    local_cluster c{o};
    auto started = std::chrono::steady_clock::now();
    c.start_all();
    require_all_up_by(c, started + 15s,
                      "start " + std::to_string(round) + ", 15 s after the start");
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    BOOST_TEST_MESSAGE("start " << round << ": every node saw every other up after at most "
                                << took.count() << " ms");
    check_no_peer_under_another_name(c);
  }
}

BOOST_AUTO_TEST_SUITE_END()
