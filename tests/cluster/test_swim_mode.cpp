// Real kvnode processes with [failure_detector] mode = "swim" (the default): a paused (SIGSTOP)
// node, which keeps its connections open so that only the failure detector can tell, is marked
// down by every other node and up again once it resumes and refutes. A node started in mode
// "all" is refused by the others, each side naming both modes, and taken in once it runs "swim".
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(swim_mode)

BOOST_AUTO_TEST_CASE(a_paused_node_is_marked_down_by_all_and_up_again_after_it_resumes) {
  local_cluster::options o;
  o.nodes = 4;
  o.partitions = 16;
  local_cluster c{o}; // the manifest's default: mode "swim"
  c.start_all();
  wait_until_all_up(c);
  c.pause(3);
  auto paused_at = std::chrono::steady_clock::now();
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(eventually(15s, [&] { return sees(c, i, "n4", "down"); }),
               "n" << i + 1 << " never saw the paused n4 down");
  BOOST_TEST_MESSAGE("n4 down everywhere after "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - paused_at)
                            .count()
                     << " ms");
  // Somebody's SWIM detector declared it (a suspicion that timed out), not a closed connection.
  bool declared = false;
  for (size_t i = 0; i < 3; ++i)
    declared = declared || c.log(i).find("declared down by SWIM") != std::string::npos;
  BOOST_TEST(declared);
  BOOST_TEST(sees(c, 0, "n2", "up"));
  c.resume(3);
  auto resumed_at = std::chrono::steady_clock::now();
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(eventually(15s, [&] { return sees(c, i, "n4", "up"); }),
               "n" << i + 1 << " never saw n4 up again after it resumed");
  BOOST_TEST_MESSAGE("n4 up everywhere after "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - resumed_at)
                            .count()
                     << " ms");
  // And it stays up: its refutation outranks the verdict everywhere.
  std::this_thread::sleep_for(5s);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(sees(c, i, "n4", "up"));
}

BOOST_AUTO_TEST_CASE(a_node_of_the_other_detector_mode_is_refused_with_both_modes_named) {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = 16;
  local_cluster c{o};
  const std::string all_mode = "\n[failure_detector]\nmode = \"all\"\n";
  // n1 starts in mode "all" (it dials the others, whose names sort after its own); n2 and n3
  // with the manifest's default.
  c.rewrite_manifest([&](std::string text) { return text + all_mode; });
  c.start(0);
  c.rewrite_manifest(
      [&](std::string text) { return text.substr(0, text.size() - all_mode.size()); });
  c.start(1);
  c.start(2);
  // The side that answers the hello logs the refusal, the dialer the answer it got: both name
  // both modes.
  const std::string refused_by_n2 = "refused the handshake of n1: it runs [failure_detector] mode "
                                    "\"all\", this node runs mode \"swim\"";
  BOOST_TEST(c.wait_for_log(1, refused_by_n2, 30s), c.log_tail(1));
  BOOST_TEST(c.wait_for_log(0,
                            "node n2 runs [failure_detector] mode \"swim\" and refuses one in "
                            "mode \"all\"",
                            30s),
             c.log_tail(0));
  // n2 and n3 serve each other; n1 stays out.
  BOOST_TEST(eventually(20s, [&] { return sees(c, 1, "n3", "up"); }));
  std::this_thread::sleep_for(3s);
  BOOST_TEST(sees(c, 1, "n1", "down"), c.kvsh(1, "status\n", 10s).out);
  auto put = c.kvsh(1, "put during-refusal yes\nget during-refusal\n", 30s);
  BOOST_TEST(put.exit_code == 0, put.err);
  BOOST_TEST(put.out == "ok\nyes\n");
  // The refusal is logged once, however often n1 tries again.
  auto log = c.log(1);
  size_t lines = 0;
  for (auto at = log.find(refused_by_n2); at != std::string::npos;
       at = log.find(refused_by_n2, at + 1))
    ++lines;
  BOOST_TEST(lines == 1u, log);
  // Restarted with the cluster's mode, n1 is taken in.
  c.kill(0);
  c.start(0);
  wait_until_all_up(c);
  auto got = c.kvsh(0, "get during-refusal\n", 30s);
  BOOST_TEST(got.out == "yes\n", got.out << got.err);
}

BOOST_AUTO_TEST_SUITE_END()
