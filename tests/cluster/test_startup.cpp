// Starting a node that holds data, with real kvnode processes: after a clean stop it reads no
// record and checks nothing; after an unclean one (kill -9) it checks its whole file in the
// background while it serves; an operator can ask for the same check (kvsh check), and a check
// that finds the file damaged makes the node set it aside and be refilled by its replicas.
#include <boost/test/unit_test.hpp>

#include <string>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t partitions = 32;

local_cluster::options three_nodes() {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = partitions;
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\n[anti_entropy]\ninterval_ms = 1000\npace_ms = 1\n";
  return o;
}

/// kvsh scripts that put `n` keys and get them back, and what the gets print.
struct key_scripts {
  std::string puts, gets, expected;
  explicit key_scripts(int n) {
    for (int i = 0; i < n; ++i) {
      auto k = "start-" + std::to_string(i);
      puts += "put " + k + " value-of-" + k + "\n";
      gets += "get " + k + "\n";
      expected += "value-of-" + k + "\n";
    }
  }
};

/// The integrity check line of node i's status ("" when it cannot be read).
std::string check_line(local_cluster& c, size_t i) {
  auto out = c.kvsh(i, "status\n", 10s).out;
  auto at = out.find("integrity check: ");
  return at == std::string::npos ? std::string{} : out.substr(at, out.find('\n', at) - at);
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(startup)

BOOST_AUTO_TEST_CASE(a_clean_stop_skips_the_check_and_an_unclean_one_runs_it_while_serving) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  key_scripts keys{200};
  BOOST_REQUIRE(c.kvsh(0, keys.puts, 120s).exit_code == 0);
  // A clean stop: the start reads nothing and checks nothing.
  BOOST_REQUIRE(c.stop(2) == 0);
  c.start(2);
  wait_until_all_up(c);
  BOOST_TEST(occurrences(c.log(2), "integrity check started") == 0u, c.log_tail(2));
  BOOST_TEST(check_line(c, 2).find("none since start") != std::string::npos, check_line(c, 2));
  // kill -9: the next start checks the whole file, in the background (held back 15 s here by the
  // test hook, so that the test sees it running), and the node serves meanwhile.
  c.kill(2);
  {
    scoped_env slow{"ACTORKV_TEST_CHECK_DELAY_MS", "15000"};
    c.start(2);
  }
  BOOST_TEST(c.log(2).find("integrity check started in the background (the store was not "
                           "closed cleanly)") != std::string::npos,
             c.log_tail(2));
  wait_until_all_up(c);
  BOOST_TEST(check_line(c, 2).find("running") != std::string::npos, check_line(c, 2));
  auto r = c.kvsh(2, keys.gets + "put during-check yes\nget during-check\n", 60s);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST((r.out == keys.expected + "ok\nyes\n"));
  BOOST_TEST(check_line(c, 2).find("running") != std::string::npos,
             "the check ended before the reads did: " << check_line(c, 2));
  // It passes, and is then no longer owed: the next clean start checks nothing.
  BOOST_TEST(c.wait_for_log(2, "integrity check passed", 60s), c.log_tail(2));
  BOOST_TEST(check_line(c, 2).find("the last passed") != std::string::npos, check_line(c, 2));
  BOOST_REQUIRE(c.stop(2) == 0);
  c.start(2);
  BOOST_TEST(occurrences(c.log(2), "integrity check started") == 1u, c.log_tail(2));
}

BOOST_AUTO_TEST_CASE(damage_found_by_a_requested_check_is_set_aside_and_refilled) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  key_scripts keys{300};
  BOOST_REQUIRE(c.kvsh(0, keys.puts, 120s).exit_code == 0);
  // Closed cleanly, then damaged at rest: nothing at start looks for it.
  BOOST_REQUIRE(c.stop(2) == 0);
  damage_pages(c.data_dir(2));
  c.start(2);
  auto pid = c.pid(2);
  // The operator asks for a check (the node may also have met the damage by itself already).
  c.kvsh(2, "check\n", 10s);
  BOOST_TEST(c.wait_for_log(2, "database file damaged", 60s), c.log_tail(2));
  BOOST_TEST(c.wait_for_log(2, "starting empty: replicas will refill it", 60s), c.log_tail(2));
  wait_until_all_up(c);
  BOOST_TEST(c.pid(2) == pid); // it restarted itself in place
  auto r = c.kvsh(2, keys.gets, 120s);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST((r.out == keys.expected));
  BOOST_TEST(eventually(60s, [&] { return stored_records(c.data_dir(2)) == 300; }));
  // A check on an intact store passes.
  auto asked = c.kvsh(2, "check\n", 10s);
  BOOST_TEST(asked.exit_code == 0, asked.err);
  BOOST_TEST(asked.out.find("integrity check started") != std::string::npos, asked.out);
  BOOST_TEST(c.wait_for_log(2, "integrity check passed", 60s), c.log_tail(2));
}

BOOST_AUTO_TEST_SUITE_END()
