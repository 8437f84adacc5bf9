// Real kvnode processes with [failure_detector] mode = "swim": a paused (SIGSTOP) node, which
// keeps its connections open so that only the failure detector can tell, is marked down by every
// other node and up again once it resumes and refutes.
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
  o.extra_toml = "[failure_detector]\nmode = \"swim\"\n";
  local_cluster c{o};
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

BOOST_AUTO_TEST_SUITE_END()
