// When a node that has just started serves clients (cluster-config/readiness.hpp): once every
// peer is connected or known unreachable, or once the start-up wait has passed; the texts say
// what it waits for.
#include <boost/test/unit_test.hpp>

#include "cluster-config/readiness.hpp"

using namespace actorkv;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(readiness)

BOOST_AUTO_TEST_CASE(a_node_without_peers_serves_at_once) {
  auto s = startup_readiness({}, 0ms);
  BOOST_TEST(s.serving);
}

BOOST_AUTO_TEST_CASE(a_node_waits_for_peers_not_yet_heard_of_and_says_which) {
  std::vector<peer_progress> peers{
      {"n2", true, false}, {"n3", false, false}, {"n4", false, false}, {"n5", false, true}};
  auto s = startup_readiness(peers, 1800ms, 5000ms);
  BOOST_TEST(!s.serving);
  BOOST_TEST(s.reason ==
             "connected to 1 of 4 peers, n5 unreachable, waiting for n3, n4 (at most 3.2 s more)");
}

BOOST_AUTO_TEST_CASE(a_node_serves_once_every_peer_is_connected_or_unreachable) {
  std::vector<peer_progress> peers{{"n2", true, false}, {"n3", true, false}};
  auto s = startup_readiness(peers, 300ms);
  BOOST_TEST(s.serving);
  BOOST_TEST(s.reason == "connected to 2 of 2 peers");
  // Peers that are down: a failed dial settles each (the node does not wait for them).
  std::vector<peer_progress> down{{"n2", false, true}, {"n3", false, true}};
  auto d = startup_readiness(down, 10ms);
  BOOST_TEST(d.serving);
  BOOST_TEST(d.reason == "connected to 0 of 2 peers, n2, n3 unreachable");
}

BOOST_AUTO_TEST_CASE(a_node_serves_after_the_wait_whatever_its_peers_do) {
  // Peers that dial this node and never do (they are down) cannot be known unreachable.
  std::vector<peer_progress> peers{{"n1", false, false}, {"n3", true, false}};
  BOOST_TEST(!startup_readiness(peers, node_startup_wait - 1ms).serving);
  auto s = startup_readiness(peers, node_startup_wait);
  BOOST_TEST(s.serving);
  BOOST_TEST(s.reason == "connected to 1 of 2 peers, no word from n1 within 5.0 s");
}

BOOST_AUTO_TEST_CASE(a_node_of_a_large_cluster_names_a_few_peers_and_counts_the_rest) {
  std::vector<peer_progress> peers;
  for (int i = 0; i < 999; ++i)
    peers.push_back({"m" + std::to_string(1000 + i), false, i >= 990});
  auto s = startup_readiness(peers, 1800ms, 5000ms);
  BOOST_TEST(!s.serving);
  BOOST_TEST(s.reason == "connected to 0 of 999 peers, m1990, m1991, m1992, m1993, m1994, m1995, "
                         "m1996, m1997 and 1 more unreachable, waiting for m1000, m1001, m1002, "
                         "m1003, m1004, m1005, m1006, m1007 and 982 more (at most 3.2 s more)");
}

BOOST_AUTO_TEST_SUITE_END()
