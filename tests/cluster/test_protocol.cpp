// Peers of different protocol versions (as nodes of two releases would be) refuse each other in
// their handshake, each side with a log line naming both versions, instead of failing every
// message; the same node started again with the cluster's version is taken in.
#include <boost/test/unit_test.hpp>

#include <string>

#include "messages/interfaces.hpp"
#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(protocol)

BOOST_AUTO_TEST_CASE(a_peer_of_another_protocol_version_is_refused_with_both_versions_named) {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = 16;
  local_cluster c{o};
  c.start(0);
  c.start(1);
  {
    scoped_env other{"ACTORKV_TEST_PROTOCOL_VERSION", std::to_string(protocol_version + 1)};
    c.start(2);
  }
  // The side that answers a hello logs "refused the handshake of NAME: ...", the side whose hello
  // was answered "peer NAME refused: ..."; either way both versions are named.
  auto ours = std::to_string(protocol_version), theirs = std::to_string(protocol_version + 1);
  auto refused_by_n1 = "refused the handshake of n3: it speaks protocol version " + theirs +
                       ", this node speaks version " + ours;
  BOOST_TEST(c.wait_for_log(0, refused_by_n1, 30s), c.log_tail(0));
  BOOST_TEST(c.wait_for_log(2, "protocol version " + ours + ", this node speaks version " + theirs,
                            30s),
             c.log_tail(2));
  // n1 and n2 serve; n3 stays out of their view of the peers up.
  BOOST_TEST(eventually(20s, [&] { return sees(c, 0, "n2", "up"); }));
  std::this_thread::sleep_for(3s);
  BOOST_TEST(sees(c, 0, "n3", "down"), c.kvsh(0, "status\n", 10s).out);
  auto put = c.kvsh(0, "put during-refusal yes\nget during-refusal\n", 30s);
  BOOST_TEST(put.exit_code == 0, put.err);
  BOOST_TEST(put.out == "ok\nyes\n");
  // Its refusal is logged once, however often n3 tries again.
  auto log = c.log(0);
  size_t lines = 0;
  for (auto at = log.find(refused_by_n1); at != std::string::npos;
       at = log.find(refused_by_n1, at + 1))
    ++lines;
  BOOST_TEST(lines == 1u, log);
  // Upgraded (the same version as the others), n3 is taken in.
  c.kill(2);
  c.start(2);
  wait_until_all_up(c);
  auto got = c.kvsh(2, "get during-refusal\n", 30s);
  BOOST_TEST(got.out == "yes\n", got.out << got.err);
}

BOOST_AUTO_TEST_SUITE_END()
