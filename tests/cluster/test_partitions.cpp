// What the partition count Q costs a node (#17): no per-partition actors of its own and no
// per-partition proxies of its peers' (one vnode actor per node serves every partition), so a
// 3-node cluster of Q = 65,536 starts, serves, and each node holds what it replicates plus the
// ring and routes, not Q actors and 2Q proxies.
//
// Before, with a vnode actor per partition on every node and a proxy of each of its peers': this
// test saw the largest node grow by 333 MiB from Q = 256 to Q = 65,536 (and failed); after, by
// about 120 MiB (what is left is mostly the coordinator's Q routes, the ring and view copies).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <thread>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

/// The largest RSS (KiB) of the nodes of a 3-node cluster of `q` partitions, idle after all came
/// up and served a write and reads through each node.
long idle_rss_kib(uint32_t q) {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = q;
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  auto put = c.kvsh(0, "put partitions-key v1\n", 30s);
  BOOST_REQUIRE_MESSAGE(put.exit_code == 0 && put.out == "ok\n", put.out << put.err);
  for (size_t i = 0; i < c.size(); ++i) {
    auto got = c.kvsh(i, "get partitions-key\n", 30s);
    BOOST_TEST(got.out == "v1\n", "node " << i << ": " << got.out << got.err);
  }
  std::this_thread::sleep_for(5s); // a few gossip and probe rounds: the steady state
  long most = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    auto u = usage_of(c.pid(i));
    BOOST_TEST_MESSAGE("Q = " << q << ", node " << i << ": " << u);
    most = std::max(most, u.rss_kib);
  }
  return most;
}

} // namespace

BOOST_AUTO_TEST_SUITE(partitions)

BOOST_AUTO_TEST_CASE(q_65536_serves_and_costs_a_node_under_192_mib_more_than_q_256) {
  auto small = idle_rss_kib(256);
  auto large = idle_rss_kib(65536);
  BOOST_TEST_MESSAGE("largest RSS: " << small << " KiB at Q = 256, " << large
                                     << " KiB at Q = 65536");
  BOOST_TEST(small > 0);
  BOOST_TEST(large - small < 192 * 1024, "grew by " << (large - small) / 1024 << " MiB");
}

BOOST_AUTO_TEST_SUITE_END()
