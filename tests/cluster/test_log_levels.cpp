// Log levels per subsystem on real kvnode processes: --log-level's SUBSYSTEM=LEVEL pairs and the
// manifest's [log] levels choose which lines each subsystem writes, the JSON format names the
// subsystem, and an unknown subsystem or level stops kvnode at start (exit 2) naming the word, or
// the manifest's file and line.
#include <algorithm>
#include <string>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(log_levels)

BOOST_AUTO_TEST_CASE(each_subsystem_writes_at_its_own_level, *boost::unit_test::timeout(180)) {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = 16;
  local_cluster c{o};
  // n1 (which dials n2 and n3: the lower name dials) with its peers at debug and the membership
  // at error; n2 as the manifest says (info everywhere).
  c.start(0, {"--log-level", "peers=debug,gossip=error", "--log-format", "json"});
  c.start(1);
  c.start(2);
  wait_until_all_up(c);
  BOOST_TEST(c.wait_for_log(0, "\"subsystem\":\"peers\",\"message\":\"dialing n2", 20s),
             c.log_tail(0));
  auto n1 = c.log(0);
  BOOST_TEST(n1.find("\"level\":\"debug\",\"subsystem\":\"peers\"") != std::string::npos, n1);
  // Info of the node's lifecycle still written; no gossip line below error, no debug elsewhere.
  BOOST_TEST(n1.find("\"level\":\"info\",\"subsystem\":\"node\"") != std::string::npos, n1);
  BOOST_TEST(n1.find("\"subsystem\":\"gossip\"") == std::string::npos, n1);
  BOOST_TEST(n1.find("\"level\":\"debug\",\"subsystem\":\"node\"") == std::string::npos, n1);
  // n2 at info: its peers' lines are there, their debug lines are not.
  auto n3 = c.log(2);
  BOOST_TEST(n3.find(" info peer n1 up") != std::string::npos, n3);
  BOOST_TEST(n3.find("dialing") == std::string::npos, n3);

  // The manifest's levels, and a plain --log-level that replaces them.
  c.stop(1);
  c.rewrite_manifest(
      [](std::string text) { return text + "\n[log]\nlevels = { peers = \"debug\" }\n"; });
  c.start(1);
  BOOST_TEST(c.wait_for_log(1, "debug dialing n3", 20s), c.log_tail(1));
  c.stop(2);
  c.start(2, {"--log-level", "info"});
  wait_until_all_up(c);
  auto restarted = c.log(2);
  auto second_start = restarted.rfind("listening on");
  BOOST_REQUIRE(second_start != std::string::npos);
  BOOST_TEST(restarted.find("dialing", second_start) == std::string::npos, restarted);
}

BOOST_AUTO_TEST_CASE(unknown_subsystems_and_levels_stop_kvnode_at_start,
                     *boost::unit_test::timeout(60)) {
  local_cluster c{one_node()};
  auto kvnode = c.binary("kvnode");
  auto run = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv{kvnode, "--manifest", c.manifest_path(), "--node", "n1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_program(argv, "", 20s);
  };
  auto bad_name = run({"--log-level", "handof=debug"});
  BOOST_TEST(bad_name.exit_code == 2);
  BOOST_TEST(bad_name.err.find("'handof' is not a subsystem (node, peers, gossip,") !=
                 std::string::npos,
             bad_name.err);
  auto bad_level = run({"--log-level", "info,handoff=loud"});
  BOOST_TEST(bad_level.exit_code == 2);
  BOOST_TEST(bad_level.err.find("handoff='loud' is not a level") != std::string::npos,
             bad_level.err);
  c.rewrite_manifest(
      [](std::string text) { return text + "\n[log]\nlevels = { hanfoff = \"debug\" }\n"; });
  auto manifest = c.manifest_text();
  auto lines = std::count(manifest.begin(), manifest.end(), '\n');
  auto in_manifest = run({});
  BOOST_TEST(in_manifest.exit_code == 2);
  BOOST_TEST(in_manifest.err.find(c.manifest_path() + ":" + std::to_string(lines) +
                                  ": unknown subsystem 'log.levels.hanfoff'") != std::string::npos,
             in_manifest.err);
}

BOOST_AUTO_TEST_SUITE_END()
