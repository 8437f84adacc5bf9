// Online backup and restore with real kvnode processes: kvsh backup copies a node's store while
// writes go on through that very node; the node is stopped, the copy put back with kvnode
// --restore, and started. Every acknowledged write stays readable, the restored node is refilled
// by its replicas, and a write it coordinates after the restore is kept: it took a new replica id,
// so it does not reuse the dots it had handed out after the backup was taken.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>
#include <thread>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

/// kvsh script lines putting `prefix-i` = `value-prefix-i` for i in [0, n), and the gets of them
/// with what they print.
struct batch {
  std::string puts, gets, expected;
  batch(const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) {
      auto k = prefix + "-" + std::to_string(i);
      puts += "put " + k + " value-" + k + "\n";
      gets += "get " + k + "\n";
      expected += "value-" + k + "\n";
    }
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(backup)

BOOST_AUTO_TEST_CASE(a_backup_taken_under_writes_restores_without_losing_or_reusing_writes) {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = 32;
  o.extra_toml =
      "[timeouts]\nrequest_ms = 2000\n[anti_entropy]\ninterval_ms = 1000\npace_ms = 1\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  batch before{"before", 300}, during{"during", 1500}, after{"after", 200};
  BOOST_REQUIRE(c.kvsh(0, before.puts + "put dot-key first\n", 120s).exit_code == 0);

  // Writes through n1 go on while n1 is backed up.
  run_result writer;
  std::thread writing{[&] { writer = c.kvsh(0, during.puts, 240s); }};
  std::this_thread::sleep_for(500ms);
  auto file = c.dir() + "/n1.backup";
  auto backed = c.kvsh(0, "backup " + file + "\n", 60s);
  writing.join();
  BOOST_REQUIRE_MESSAGE(backed.exit_code == 0, backed.out << backed.err);
  BOOST_TEST(backed.out.find("backup to " + file + " done") != std::string::npos, backed.out);
  BOOST_TEST(std::filesystem::is_regular_file(file));
  BOOST_TEST(!std::filesystem::exists(file + ".partial"));
  BOOST_REQUIRE_MESSAGE(writer.exit_code == 0, writer.err);
  // A backup never overwrites, and a relative path is refused: clear errors, non-zero exits.
  auto again = c.kvsh(0, "backup " + file + "\n", 30s);
  BOOST_TEST(again.exit_code != 0);
  BOOST_TEST(again.err.find("exists") != std::string::npos, again.err);
  auto nowhere = c.kvsh(0, "backup " + c.dir() + "/no-such-dir/x.backup\n", 30s);
  BOOST_TEST(nowhere.exit_code != 0);
  BOOST_TEST(nowhere.err.find("does not exist") != std::string::npos, nowhere.err);

  // After the backup n1 coordinates more writes, dot-key's among them: its second dot.
  BOOST_REQUIRE(c.kvsh(0, after.puts + "put dot-key second\n", 120s).exit_code == 0);

  BOOST_REQUIRE(c.stop(0) == 0);
  // --restore refuses while the node runs; here it is stopped.
  auto restored = run_program({c.binary("kvnode"), "--manifest", c.manifest_path(), "--node",
                               c.node_name(0), "--restore", file},
                              "", 60s);
  BOOST_REQUIRE_MESSAGE(restored.exit_code == 0, restored.out << restored.err);
  {
    // The copy owes an integrity check, which anti-entropy waits for: holding it back keeps n1's
    // copy of dot-key as old as the backup while the next write is made.
    scoped_env slow{"ACTORKV_TEST_CHECK_DELAY_MS", "15000"};
    c.start(0);
  }
  BOOST_TEST(c.log(0).find("this store is a restored backup of n1") != std::string::npos,
             c.log_tail(0));
  BOOST_TEST(c.log(0).find("integrity check started in the background") != std::string::npos,
             c.log_tail(0));
  wait_until_all_up(c);
  // A write without context coordinated by the restored n1, over its stale copy of dot-key: it
  // supersedes nothing, so "second" and "third" are both kept, as siblings. With the replica id
  // of before the backup its dot would be the one "second" already has, and the replicas would
  // take the two for one write and keep one of them.
  BOOST_REQUIRE(c.kvsh(0, "put dot-key third\n", 30s).exit_code == 0);
  for (size_t i : {1, 2}) {
    auto seen = c.kvsh(i, "get dot-key\n", 30s);
    BOOST_TEST(seen.exit_code == 0, seen.err);
    BOOST_TEST(seen.out.find("second") != std::string::npos, "n" << i + 1 << ": " << seen.out);
    BOOST_TEST(seen.out.find("third") != std::string::npos, "n" << i + 1 << ": " << seen.out);
  }

  // Every acknowledged write is readable through the restored node, and it is refilled.
  auto r = c.kvsh(0, before.gets + during.gets + after.gets, 240s);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST((r.out == before.expected + during.expected + after.expected));
  BOOST_TEST(c.wait_for_log(0, "integrity check passed", 60s), c.log_tail(0));
  BOOST_TEST(eventually(90s, [&] { return stored_records(c.data_dir(0)) == 300 + 1500 + 200 + 1; }),
             stored_records(c.data_dir(0)));
}

BOOST_AUTO_TEST_SUITE_END()
