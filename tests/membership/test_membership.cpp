// Elastic membership with real kvnode processes: a node joins, a node leaves, a dead node is
// removed, and a handoff interrupted by killing its receiver resumes, each under a steady put/get
// load. Checked afterwards: every acknowledged write reads back, no get failed during the change,
// and every key is stored on exactly N nodes (read from each node's SQLite file).
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <sqlite3.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/client/client.hpp"
#include "messages/error.hpp"
#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t partitions = 64;
constexpr size_t preloaded = 10000;

bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

/// The keys stored in a node's database file (read while it runs or after it stopped).
std::set<std::string> keys_on(const std::string& data_dir) {
  std::set<std::string> out;
  sqlite3* db = nullptr;
  auto path = data_dir + "/actorkv.db";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT key FROM records", -1, &st, nullptr) == SQLITE_OK)
      while (sqlite3_step(st) == SQLITE_ROW) {
        auto* data = static_cast<const char*>(sqlite3_column_blob(st, 0));
        out.emplace(data, data + sqlite3_column_bytes(st, 0));
      }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

/// Writes k0..k<count-1> (value v<i>) with 8 clients in parallel; all must be acknowledged.
void preload(client_system& cs, const std::vector<std::string>& endpoints, size_t count) {
  std::atomic<size_t> failed{0};
  std::vector<std::thread> writers;
  for (size_t w = 0; w < 8; ++w)
    writers.emplace_back([&, w] {
      auto client = spawn_client(cs.sys, client_options{endpoints, 10s});
      caf::scoped_actor self{cs.sys};
      for (size_t i = w; i < count; i += 8)
        self->request(client, 15s, caf::put_atom::value,
                      put_request{
                          to_bytes("k" + std::to_string(i)), to_bytes("v" + std::to_string(i)), {}})
            .receive([](write_reply&) {}, [&](caf::error&) { ++failed; });
      caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
    });
  for (auto& t : writers)
    t.join();
  BOOST_REQUIRE_EQUAL(failed.load(), 0u);
}

/// A steady load through the given nodes while a membership change runs: alternately a put of a
/// new key (w<i> = w<i>) and a get of a random preloaded key, one at a time.
class steady_load {
public:
  steady_load(client_system& cs, std::vector<std::string> endpoints, unsigned seed)
      : worker_([this, &cs, endpoints, seed] { run(cs, endpoints, seed); }) {}

  ~steady_load() { stop(); }

  void stop() {
    stop_ = true;
    if (worker_.joinable())
      worker_.join();
  }

  std::vector<std::string> acked;  ///< puts acknowledged
  size_t puts = 0, put_errors = 0; ///< puts attempted, and refused or indeterminate
  size_t gets = 0, get_errors = 0; ///< gets attempted, and answered with an error
  size_t wrong_reads = 0;          ///< gets of a preloaded key that were not its value
  std::string first_error;

private:
  void run(client_system& cs, std::vector<std::string> endpoints, unsigned seed) {
    std::mt19937 rng{seed};
    auto client = spawn_client(cs.sys, client_options{endpoints, 10s});
    caf::scoped_actor self{cs.sys};
    for (size_t i = 0; !stop_; ++i) {
      auto key = "w" + std::to_string(i);
      ++puts;
      self->request(client, 15s, caf::put_atom::value,
                    put_request{to_bytes(key), to_bytes(key), {}})
          .receive([&](write_reply&) { acked.push_back(key); },
                   [&](caf::error& err) {
                     ++put_errors;
                     if (first_error.empty())
                       first_error = "put: " + describe(err);
                   });
      auto j = rng() % preloaded;
      ++gets;
      self->request(client, 15s, caf::get_atom::value, to_bytes("k" + std::to_string(j)))
          .receive(
              [&](get_reply& r) {
                if (!r.found || r.values.size() != 1 ||
                    r.values[0] != to_bytes("v" + std::to_string(j)))
                  ++wrong_reads;
              },
              [&](caf::error& err) {
                ++get_errors;
                if (first_error.empty())
                  first_error = "get: " + describe(err);
              });
    }
    caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  }

  std::atomic<bool> stop_{false};
  std::thread worker_;
};

/// Reads every key back through `endpoint` in batches; returns how many did not read back as
/// written (k<i> = v<i>, w<i> = w<i>).
size_t unreadable(client_system& cs, const std::string& endpoint,
                  const std::vector<std::string>& keys) {
  auto client = spawn_client(cs.sys, client_options{{endpoint}, 20s});
  caf::scoped_actor self{cs.sys};
  size_t bad = 0;
  for (size_t at = 0; at < keys.size(); at += 200) {
    std::vector<bytes> batch;
    for (size_t k = at; k < std::min(keys.size(), at + 200); ++k)
      batch.push_back(to_bytes(keys[k]));
    self->request(client, 60s, caf::get_atom::value, batch)
        .receive(
            [&](std::vector<get_reply>& replies) {
              for (size_t k = 0; k < replies.size(); ++k) {
                auto& key = keys[at + k];
                auto want = key[0] == 'k' ? "v" + key.substr(1) : key;
                if (!replies[k].found || replies[k].values.size() != 1 ||
                    replies[k].values[0] != to_bytes(want))
                  ++bad;
              }
            },
            [&](caf::error&) { bad += batch.size(); });
  }
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  return bad;
}

/// How many of `keys` are not stored on exactly `n` of the given nodes' database files.
size_t misreplicated(local_cluster& c, const std::vector<size_t>& nodes,
                     const std::vector<std::string>& keys, uint32_t n, std::string& detail) {
  std::vector<std::set<std::string>> stored;
  for (auto i : nodes)
    stored.push_back(keys_on(c.data_dir(i)));
  size_t bad = 0;
  std::map<size_t, size_t> histogram;
  for (auto& k : keys) {
    size_t copies = 0;
    for (auto& s : stored)
      copies += s.count(k);
    ++histogram[copies];
    bad += copies != n;
  }
  std::ostringstream out;
  for (auto& [copies, count] : histogram)
    out << count << " keys on " << copies << " nodes; ";
  detail = out.str();
  return bad;
}

/// Whether node i's status shows no handoff running at a ring epoch of at least `epoch`.
bool settled(local_cluster& c, size_t i, uint64_t epoch) {
  auto r = c.kvsh(i, "status\n", 10s);
  return r.exit_code == 0 && r.out.find("no handoff running") != std::string::npos &&
         status_figure(r.out, "ring epoch ") >= epoch;
}

/// Partitions node `name` owns according to node i's status.
int partitions_of(local_cluster& c, size_t i, const std::string& name) {
  auto r = c.kvsh(i, "status\n", 10s);
  std::istringstream in{r.out};
  for (std::string line; std::getline(in, line);) {
    std::istringstream words{line};
    std::string n, endpoint, state;
    int capacity = 0, owned = 0;
    if (words >> n >> endpoint >> capacity >> state >> owned && n == name)
      return owned;
  }
  return -1;
}

/// Kills n4, has n1 remove it once it sees it down, and waits until n1, n2 and n3 each logged
/// `then` (how far the removal got: "view: n4 purged", "the tombstone of n4 dropped").
void remove_killed_n4(local_cluster& c, const std::string& then) {
  c.kill(3);
  BOOST_REQUIRE(eventually(30s, [&] { return sees(c, 0, "n4", "down"); }));
  auto remove = c.kvsh(0, "remove n4\n");
  BOOST_REQUIRE_MESSAGE(remove.exit_code == 0, remove.err);
  for (size_t i : {0, 1, 2})
    BOOST_REQUIRE_MESSAGE(c.wait_for_log(i, then, 120s), c.log_tail(i));
}

/// A cluster whose manifest lists the first `listed` of `total` fixture nodes: the others are
/// started with kvnode --join.
local_cluster::options options_for(size_t total, const std::string& extra = "") {
  local_cluster::options o;
  o.nodes = total;
  o.partitions = partitions;
  o.quorum = "sloppy";
  o.capacities.assign(total, 1);
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\n" + extra;
  return o;
}

void unlist(local_cluster& c, size_t i) {
  c.rewrite_manifest([&](std::string text) {
    auto at = text.find("\n[[node]]\nname = \"" + c.node_name(i) + "\"");
    BOOST_REQUIRE(at != std::string::npos);
    auto end = text.find("data_dir", at);
    end = text.find('\n', end);
    return text.erase(at, end - at);
  });
}

std::vector<std::string> join_args(local_cluster& c, size_t i, uint32_t capacity) {
  return {"--join",     c.endpoint(0), "--listen",   c.endpoint(i),
          "--data-dir", c.data_dir(i), "--capacity", std::to_string(capacity)};
}

std::vector<std::string> all_keys(const steady_load& load) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < preloaded; ++i)
    keys.push_back("k" + std::to_string(i));
  keys.insert(keys.end(), load.acked.begin(), load.acked.end());
  return keys;
}

void report(const std::string& what, const steady_load& load, size_t lost, size_t bad_copies,
            const std::string& detail) {
  BOOST_TEST_MESSAGE(what << ": load " << load.puts << " puts (" << load.acked.size()
                          << " acknowledged, " << load.put_errors << " not), " << load.gets
                          << " gets (" << load.get_errors << " failed, " << load.wrong_reads
                          << " wrong); lost " << lost << "; keys not on exactly 3 nodes "
                          << bad_copies << " (" << detail << ")");
}

} // namespace

BOOST_AUTO_TEST_CASE(a_capacity_2_node_joins_under_load) {
  local_cluster c{options_for(4)};
  unlist(c, 3);
  for (size_t i = 0; i < 3; ++i)
    c.start(i);
  wait_until_all_up_of(c, {0, 1, 2});
  client_system cs;
  std::vector<std::string> eps{c.endpoint(0), c.endpoint(1), c.endpoint(2)};
  preload(cs, eps, preloaded);
  c.start(3, join_args(c, 3, 2));
  BOOST_REQUIRE(eventually(
      20s, [&] { return c.kvsh(1, "status\n").out.find("joining") != std::string::npos; }));
  auto plan = c.kvsh(1, "plan join " + c.endpoint(3) + "\n");
  BOOST_REQUIRE_MESSAGE(plan.exit_code == 0, plan.err);
  BOOST_TEST_MESSAGE(plan.out);
  steady_load load{cs, eps, test_seed()};
  std::this_thread::sleep_for(2s);
  auto join = c.kvsh(1, "join " + c.endpoint(3) + "\n");
  BOOST_REQUIRE_MESSAGE(join.exit_code == 0, join.err);
  auto started = std::chrono::steady_clock::now();
  BOOST_REQUIRE_MESSAGE(eventually(120s, [&] { return settled(c, 0, 2) && settled(c, 3, 2); }),
                        c.kvsh(0, "status\n").out);
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::this_thread::sleep_for(2s);
  load.stop();
  auto keys = all_keys(load);
  auto lost = unreadable(cs, c.endpoint(3), keys);
  std::string detail;
  // Old replicas delete what they handed off after a grace period.
  size_t bad = 0;
  eventually(60s, [&] { return (bad = misreplicated(c, {0, 1, 2, 3}, keys, 3, detail)) == 0; });
  auto owned = partitions_of(c, 0, "n4");
  report("join", load, lost, bad, detail);
  BOOST_TEST_MESSAGE("join: handoff finished in " << took << " s; n4 owns " << owned << " of "
                                                  << partitions << " partitions");
  BOOST_TEST(lost == 0u);
  BOOST_TEST(load.get_errors == 0u, load.first_error);
  BOOST_TEST(load.wrong_reads == 0u);
  BOOST_TEST(load.acked.size() > 100u);
  BOOST_TEST(bad == 0u, detail);
  BOOST_TEST(std::abs(owned - partitions * 2.0 / 5) <= partitions * 2.0 / 5 * 0.1);
}

BOOST_AUTO_TEST_CASE(a_node_leaves_under_load_and_stops) {
  local_cluster c{options_for(4)};
  c.start_all();
  wait_until_all_up_of(c, {0, 1, 2, 3});
  client_system cs;
  std::vector<std::string> eps{c.endpoint(0), c.endpoint(1), c.endpoint(2)};
  preload(cs, eps, preloaded);
  steady_load load{cs, eps, test_seed()};
  std::this_thread::sleep_for(2s);
  auto leave = c.kvsh(0, "leave n4\n");
  BOOST_REQUIRE_MESSAGE(leave.exit_code == 0, leave.err);
  BOOST_TEST_MESSAGE(leave.out);
  auto started = std::chrono::steady_clock::now();
  BOOST_REQUIRE_MESSAGE(eventually(120s, [&] { return !c.running(3); }), c.log_tail(3));
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  BOOST_TEST(c.stop(3) == 3); // it stopped by itself, cleanly, saying it is no longer a member
  BOOST_TEST(c.log(3).find("left the cluster") != std::string::npos);
  std::this_thread::sleep_for(2s);
  load.stop();
  auto keys = all_keys(load);
  auto lost = unreadable(cs, c.endpoint(1), keys);
  std::string detail;
  size_t bad = 0;
  eventually(60s, [&] { return (bad = misreplicated(c, {0, 1, 2}, keys, 3, detail)) == 0; });
  auto left_behind = keys_on(c.data_dir(3)).size();
  report("leave", load, lost, bad, detail);
  BOOST_TEST_MESSAGE("leave: n4 stopped " << took << " s after the command, " << left_behind
                                          << " records left in its data directory");
  BOOST_TEST(lost == 0u);
  BOOST_TEST(load.get_errors == 0u, load.first_error);
  BOOST_TEST(load.wrong_reads == 0u);
  BOOST_TEST(bad == 0u, detail);
  BOOST_TEST(left_behind == 0u);               // nothing in it is needed any more
  BOOST_TEST(partitions_of(c, 0, "n4") == -1); // not a row of down nodes, but:
  auto status = c.kvsh(0, "status\n", 10s);
  BOOST_TEST(status.out.find("no longer members: n4 (left)") != std::string::npos, status.out);
  // Started again from its data directory, it says that it left and exits at once.
  auto again =
      run_program({c.binary("kvnode"), "--manifest", c.manifest_path(), "--node", "n4"}, "", 30s);
  BOOST_TEST(again.exit_code == 3, again.out + again.err);
  BOOST_TEST(again.err.find("has left the cluster") != std::string::npos, again.err);
}

BOOST_AUTO_TEST_CASE(a_killed_node_is_removed_and_its_keys_regain_n_replicas) {
  // A short grace: the removed node is purged from the views (to a tombstone) before it restarts.
  local_cluster c{options_for(4, "[gossip]\nremoved_grace_s = 2\n")};
  c.start_all();
  wait_until_all_up_of(c, {0, 1, 2, 3});
  client_system cs;
  std::vector<std::string> eps{c.endpoint(0), c.endpoint(1), c.endpoint(2)};
  preload(cs, eps, preloaded);
  steady_load load{cs, eps, test_seed()};
  c.kill(3);
  BOOST_REQUIRE(eventually(30s, [&] { return sees(c, 0, "n4", "down"); }));
  auto refused = c.kvsh(0, "leave n4\n");
  BOOST_TEST(refused.exit_code != 0); // a dead node cannot hand anything off
  BOOST_TEST(refused.err.find("use remove") != std::string::npos, refused.err);
  auto remove = c.kvsh(0, "remove n4\n");
  BOOST_REQUIRE_MESSAGE(remove.exit_code == 0, remove.err);
  BOOST_REQUIRE_MESSAGE(eventually(120s, [&] { return settled(c, 0, 2) && settled(c, 2, 2); }),
                        c.kvsh(0, "status\n").out);
  std::this_thread::sleep_for(2s);
  load.stop();
  auto keys = all_keys(load);
  auto lost = unreadable(cs, c.endpoint(2), keys);
  std::string detail;
  size_t bad = 0;
  eventually(60s, [&] { return (bad = misreplicated(c, {0, 1, 2}, keys, 3, detail)) == 0; });
  report("remove", load, lost, bad, detail);
  BOOST_TEST(lost == 0u);
  BOOST_TEST(load.get_errors == 0u, load.first_error);
  BOOST_TEST(bad == 0u, detail);
  for (size_t i : {0, 1, 2})
    BOOST_REQUIRE_MESSAGE(c.wait_for_log(i, "view: n4 purged", 30s), c.log_tail(i));
  // Restarted with its old data directory, the removed node learns that it was removed (from the
  // tombstone its entry became) and stops by itself, without taking anything back.
  auto again =
      run_program({c.binary("kvnode"), "--manifest", c.manifest_path(), "--node", "n4"}, "", 60s);
  BOOST_TEST(again.exit_code == 3, again.out + again.err);
  BOOST_TEST(again.err.find("removed from the cluster") != std::string::npos, again.err);
  BOOST_TEST(partitions_of(c, 0, "n4") == -1); // status no longer lists it
  // A second start refuses at once: its data directory now knows.
  auto third =
      run_program({c.binary("kvnode"), "--manifest", c.manifest_path(), "--node", "n4"}, "", 30s);
  BOOST_TEST(third.exit_code == 3);
  BOOST_TEST(third.err.find("was removed from the cluster") != std::string::npos, third.err);
}

BOOST_AUTO_TEST_CASE(a_node_that_learns_a_purge_by_its_tombstone_stops_dialing_the_purged_node) {
  // n4 is removed and purged while n1's view still lists it as valid: n1 here restarts with its
  // disk replaced (it starts from the manifest), as a node kept away through the removal would
  // with its old view. The tombstone, not a removed entry, is all n1 ever hears of n4.
  local_cluster c{options_for(4, "[gossip]\nremoved_grace_s = 2\n")};
  c.start_all();
  wait_until_all_up_of(c, {0, 1, 2, 3});
  remove_killed_n4(c, "view: n4 purged");
  c.stop(0);
  std::filesystem::remove_all(c.data_dir(0));
  auto restart = c.log(0).size();                  // the log is appended across restarts
  c.start(0, {"--log-level", "info,peers=debug"}); // each dial is logged
  auto since_restart = [&](const std::string& needle) {
    auto log = c.log(0);
    size_t count = 0;
    for (auto at = log.find(needle, restart); at != std::string::npos;
         at = log.find(needle, at + 1))
      ++count;
    return count;
  };
  BOOST_REQUIRE_MESSAGE(
      eventually(30s, [&] { return since_restart("view: n4 purged (tombstone") > 0; }),
      c.log_tail(0));
  BOOST_TEST(partitions_of(c, 0, "n4") == -1); // status no longer lists it
  // n1 dials n4 (its name sorts first) every second while it counts n4 a member. Once it knows
  // the tombstone (and a dial under way has failed), it must not dial n4 again.
  std::this_thread::sleep_for(3s);
  auto before = since_restart("dialing n4 ");
  BOOST_TEST(before > 0u, "n1 never dialed n4 from its manifest view: " << c.log_tail(0));
  std::this_thread::sleep_for(5s);
  BOOST_TEST(since_restart("dialing n4 ") == before,
             "n1 went on dialing the purged n4: " << c.log_tail(0));
}

BOOST_AUTO_TEST_CASE(a_node_away_past_both_graces_does_not_bring_the_purged_node_back) {
  // n1 is away (its data directory as it was before n4's removal) until n4 was removed, purged
  // and its tombstone dropped everywhere: n1's view still lists n4 as valid, and nothing left in
  // the others' views outranks that entry but n4's retired incarnation. Then n1 starts once more
  // from the manifest alone (its disk replaced): n4 as the manifest lists it, never announced.
  local_cluster c{options_for(4, "[gossip]\nremoved_grace_s = 2\ntombstone_grace_s = 3\n")};
  c.start_all();
  wait_until_all_up_of(c, {0, 1, 2, 3});
  // n1's view holds n4's own announcement (its incarnation) before n1 goes away.
  BOOST_REQUIRE_MESSAGE(
      eventually(30s,
                 [&] {
                   auto log = c.log(0);
                   return log.find("view: n4 valid, incarnation ") != std::string::npos &&
                          log.find("view: n4 valid, incarnation 0 ") == std::string::npos;
                 }),
      c.log_tail(0));
  c.stop(0);
  auto away = c.data_dir(0) + ".away";
  std::filesystem::copy(c.data_dir(0), away, std::filesystem::copy_options::recursive);
  c.start(0);
  wait_until_all_up_of(c, {0, 1, 2, 3});
  remove_killed_n4(c, "the tombstone of n4 dropped");
  auto n4_back = [&](const char* how) {
    for (size_t i : {0, 1, 2})
      BOOST_TEST(partitions_of(c, i, "n4") == -1,
                 how << ": n" << i + 1 << " lists n4 again: " << c.kvsh(i, "status\n").out);
  };
  for (const char* how : {"from its old data directory", "from the manifest"}) {
    c.stop(0);
    std::filesystem::remove_all(c.data_dir(0));
    if (how == std::string{"from its old data directory"})
      std::filesystem::rename(away, c.data_dir(0));
    auto restart = c.log(0).size(); // the logs are appended across restarts
    auto n2_before = c.log(1).size();
    c.start(0);
    BOOST_REQUIRE_MESSAGE(
        eventually(30s,
                   [&] { return c.log(0).find("view: n4 dropped", restart) != std::string::npos; }),
        how << ": " << c.log(0).substr(restart));
    std::this_thread::sleep_for(3s); // gossip rounds every node takes part in
    n4_back(how);
    BOOST_TEST(c.log(1).find("view: n4 valid", n2_before) == std::string::npos,
               how << ": " << c.log(1).substr(n2_before));
  }
}

BOOST_AUTO_TEST_CASE(a_handoff_interrupted_by_killing_its_receiver_resumes) {
  // Small batches keep the handoff going long enough to interrupt it.
  local_cluster c{options_for(4, "[handoff]\nbatch = 8\n")};
  unlist(c, 3);
  for (size_t i = 0; i < 3; ++i)
    c.start(i);
  wait_until_all_up_of(c, {0, 1, 2});
  client_system cs;
  std::vector<std::string> eps{c.endpoint(0), c.endpoint(1), c.endpoint(2)};
  preload(cs, eps, preloaded);
  c.start(3, join_args(c, 3, 2));
  BOOST_REQUIRE(eventually(
      20s, [&] { return c.kvsh(0, "status\n").out.find("joining") != std::string::npos; }));
  steady_load load{cs, eps, test_seed()};
  BOOST_REQUIRE(c.kvsh(0, "join " + c.endpoint(3) + "\n").exit_code == 0);
  uint64_t done_at_kill = 0, total = 0;
  BOOST_REQUIRE(eventually(60s, [&] {
    auto out = c.kvsh(0, "status\n").out;
    done_at_kill = status_figure(out, "handoff: ");
    total = status_figure(out, " of ");
    return done_at_kill != UINT64_MAX && done_at_kill > 0;
  }));
  c.kill(3);
  std::this_thread::sleep_for(5s);
  auto during = c.kvsh(0, "status\n").out;
  BOOST_TEST_MESSAGE("interrupted: " << done_at_kill << " of " << total
                                     << " transfers done when n4 was killed");
  BOOST_TEST(during.find("handoff: ") != std::string::npos, during); // waits, nothing dropped
  c.start(3, join_args(c, 3, 2));
  BOOST_REQUIRE_MESSAGE(eventually(180s, [&] { return settled(c, 0, 2) && settled(c, 3, 2); }),
                        c.kvsh(0, "status\n").out);
  std::this_thread::sleep_for(2s);
  load.stop();
  auto keys = all_keys(load);
  auto lost = unreadable(cs, c.endpoint(3), keys);
  std::string detail;
  size_t bad = 0;
  eventually(60s, [&] { return (bad = misreplicated(c, {0, 1, 2, 3}, keys, 3, detail)) == 0; });
  report("interrupted join", load, lost, bad, detail);
  BOOST_TEST(lost == 0u);
  BOOST_TEST(load.get_errors == 0u, load.first_error);
  BOOST_TEST(bad == 0u, detail);
}
