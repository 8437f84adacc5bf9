// Real kvnode processes under failures: sloppy quorum with hinted handoff, strict quorum refusing,
// anti-entropy refilling replicas without reads, a wiped node, a paused (SIGSTOP) node, and an
// injected delay.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include <sqlite3.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/client/client.hpp"
#include "cluster-config/ring.hpp"
#include "messages/error.hpp"
#include "messages/register_types.hpp"
#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t partitions = 64;

/// Keys whose home replicas (first N of the preference list) include every node in `homes`.
std::vector<std::string> keys_homed_on(size_t nodes, const std::vector<std::string>& homes,
                                       size_t count, size_t n = 3) {
  std::vector<ring_member> members;
  for (size_t i = 0; i < nodes; ++i)
    members.push_back({"n" + std::to_string(i + 1), 1});
  auto r = ring::build(partitions, members);
  std::vector<std::string> out;
  for (int i = 0; out.size() < count; ++i) {
    auto key = "key-" + std::to_string(i);
    auto prefs = r.home_replicas(partition_of(bytes(key.begin(), key.end()), partitions),
                                 static_cast<uint32_t>(n));
    prefs.resize(n);
    bool all = true;
    for (auto& h : homes)
      all = all && std::find(prefs.begin(), prefs.end(), h) != prefs.end();
    if (all)
      out.push_back(key);
  }
  return out;
}

std::string put_script(const std::vector<std::string>& keys, const std::string& prefix) {
  std::string s;
  for (auto& k : keys)
    s += "put " + k + " " + prefix + k + "\n";
  return s;
}

std::string get_script(const std::vector<std::string>& keys) {
  std::string s;
  for (auto& k : keys)
    s += "get " + k + "\n";
  return s;
}

std::string expected_values(const std::vector<std::string>& keys, const std::string& prefix) {
  std::string s;
  for (auto& k : keys)
    s += prefix + k + "\n";
  return s;
}

local_cluster::options five_sloppy(const std::string& quorum) {
  local_cluster::options o;
  o.nodes = 5;
  o.partitions = partitions;
  o.quorum = quorum;
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\n[handoff]\ninterval_ms = 500\n"
                 "[anti_entropy]\ninterval_ms = 2000\n";
  return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(fault_tolerance)

BOOST_AUTO_TEST_CASE(sloppy_quorum_stays_writable_and_hints_reach_the_owners) {
  local_cluster c{five_sloppy("sloppy")};
  c.start_all();
  wait_until_all_up(c);
  auto keys = keys_homed_on(5, {"n4", "n5"}, 1000);
  c.kill(3);
  c.kill(4);
  BOOST_REQUIRE(
      eventually(10s, [&] { return sees(c, 0, "n4", "down") && sees(c, 0, "n5", "down"); }));
  auto r = c.kvsh(0, put_script(keys, "v-"), 180s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(std::count(r.out.begin(), r.out.end(), '\n') == 1000);
  uint64_t held = 0;
  for (size_t i = 0; i < 3; ++i)
    held += status_figure(c.kvsh(i, "status\n").out, "pending hints: ");
  BOOST_TEST_MESSAGE("hints held while n4 and n5 were down: " << held);
  BOOST_TEST(held >= 1000u);
  // status --all through one node sums what each node holds, and names the members that did
  // not answer (exit 4: members down).
  auto all = c.kvsh_args({"--connect", c.endpoint(0), "-c", "status --all"}, "", 60s);
  BOOST_TEST_MESSAGE("status --all through n1:\n" << all.out);
  BOOST_TEST(all.exit_code == 4, all.out << all.err);
  BOOST_TEST(status_figure(all.out, "cluster: ") == held, all.out);
  for (auto down : {"n4", "n5"})
    BOOST_TEST(all.out.find(std::string{down} + "        no answer: ") != std::string::npos,
               all.out);
  c.start(3);
  c.start(4);
  auto started = std::chrono::steady_clock::now();
  BOOST_TEST(eventually(30s, [&] {
    uint64_t pending = 0;
    for (size_t i = 0; i < 3; ++i)
      pending += status_figure(c.kvsh(i, "status\n").out, "pending hints: ");
    return pending == 0;
  }));
  BOOST_TEST_MESSAGE("hints delivered within "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count()
                     << " ms");
  for (size_t i = 0; i < 3; ++i)
    c.stop(i);
  // Only n4 and n5 remain, both home replicas of every key: they hold all 1,000.
  BOOST_REQUIRE(eventually(10s, [&] { return sees(c, 3, "n1", "down"); }));
  r = c.kvsh(3, get_script(keys), 120s);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST((r.out == expected_values(keys, "v-")));
}

BOOST_AUTO_TEST_CASE(strict_quorum_refuses_the_same_writes) {
  local_cluster c{five_sloppy("strict")};
  c.start_all();
  wait_until_all_up(c);
  auto keys = keys_homed_on(5, {"n4", "n5"}, 20);
  c.kill(3);
  c.kill(4);
  BOOST_REQUIRE(
      eventually(10s, [&] { return sees(c, 0, "n4", "down") && sees(c, 0, "n5", "down"); }));
  for (auto& k : keys) {
    auto r = c.kvsh(0, "put " + k + " v\n", 20s);
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(r.err.find("unavailable") != std::string::npos, r.err);
  }
}

BOOST_AUTO_TEST_CASE(anti_entropy_alone_refills_a_replica_without_reads) {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = partitions;
  o.quorum = "sloppy";
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\n[handoff]\nenabled = false\n"
                 "[anti_entropy]\ninterval_ms = 1000\npace_ms = 1\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  c.kill(2);
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i)
    keys.push_back("ae-" + std::to_string(i));
  auto r = c.kvsh(0, put_script(keys, "v-"), 180s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  c.start(2);
  auto started = std::chrono::steady_clock::now();
  BOOST_TEST(eventually(60s, [&] { return stored_records(c.data_dir(2)) == 1000; }),
             "n3 holds " << stored_records(c.data_dir(2)) << " of 1000");
  BOOST_TEST_MESSAGE("anti-entropy refilled n3 in "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count()
                     << " ms");
  // Then the replicas agree: three rounds in a row repair nothing anywhere.
  for (size_t i = 0; i < 3; ++i) {
    auto rounds_at = [&] { return status_figure(c.kvsh(i, "status\n").out, "anti-entropy: "); };
    auto first = rounds_at();
    BOOST_TEST(eventually(30s, [&] { return rounds_at() >= first + 3; }));
    auto st = c.kvsh(i, "status\n").out;
    BOOST_TEST(st.find(" 0 repairs in the last") != std::string::npos, st);
  }
}

BOOST_AUTO_TEST_CASE(wiped_node_is_refilled_and_its_new_writes_are_not_dominated) {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = partitions;
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\n[anti_entropy]\ninterval_ms = 1000\npace_ms = 1\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i)
    keys.push_back("w-" + std::to_string(i));
  BOOST_REQUIRE(c.kvsh(0, put_script(keys, "old-"), 120s).exit_code == 0);
  BOOST_REQUIRE(c.stop(2) == 0);
  std::filesystem::remove_all(c.data_dir(2));
  c.start(2);
  BOOST_TEST(eventually(60s, [&] { return stored_records(c.data_dir(2)) == 300; }));
  // n3 now has a new replica id: what it coordinates is concurrent with the old values.
  auto r = c.kvsh(2, "put w-1 new-from-n3\n");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = c.kvsh(0, "get w-1\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.find("(2 siblings)") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("old-w-1") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("new-from-n3") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(paused_node_is_detected_and_nothing_acknowledged_is_lost) {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = partitions;
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  client_system cs;
  auto& sys = cs.sys;
  auto client = spawn_client(sys, client_options{{c.endpoint(0)}, 5s});
  std::atomic<bool> stop{false};
  std::vector<std::string> acked; // read only after the writer joined
  std::atomic<size_t> acked_count{0};
  size_t failed = 0;
  std::thread writer{[&] {
    caf::scoped_actor self{sys};
    for (int i = 0; !stop; ++i) {
      auto key = "p-" + std::to_string(i);
      self->request(client, 10s, caf::put_atom::value,
                    put_request{bytes(key.begin(), key.end()), bytes(key.begin(), key.end()), {}})
          .receive(
              [&](write_reply&) {
                acked.push_back(key);
                ++acked_count;
              },
              [&](caf::error&) { ++failed; });
      std::this_thread::sleep_for(5ms);
    }
  }};
  std::this_thread::sleep_for(1s);
  size_t acked_before_pause = acked_count;
  c.pause(2);
  auto paused_at = std::chrono::steady_clock::now();
  BOOST_TEST(eventually(10s, [&] { return sees(c, 0, "n3", "down"); }));
  auto detected = std::chrono::steady_clock::now() - paused_at;
  BOOST_TEST_MESSAGE("n3 marked down after "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(detected).count()
                     << " ms");
  std::this_thread::sleep_until(paused_at + 15s);
  size_t acked_while_paused = acked_count - acked_before_pause;
  c.resume(2);
  auto resumed_at = std::chrono::steady_clock::now();
  BOOST_TEST(eventually(10s, [&] { return sees(c, 0, "n3", "up"); }));
  BOOST_TEST_MESSAGE("n3 marked up after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::steady_clock::now() - resumed_at)
                                                  .count()
                                           << " ms");
  std::this_thread::sleep_for(1s);
  stop = true;
  writer.join();
  BOOST_TEST_MESSAGE("writes acknowledged: " << acked.size() << ", failed: " << failed);
  BOOST_TEST(acked_while_paused > 100u);
  BOOST_TEST(failed == 0u);
  auto r = c.kvsh(1, get_script(acked), 120s);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST((r.out == expected_values(acked, "")));
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_delay_rule_slows_every_request_failure_detector_pings_included) {
  // Phi accrual ([failure_detector] mode = "all"), which judges each peer by its own probes
  // alone: n1 holds back everything n2 sends it for 6 s, longer than n2's failure detector waits
  // for a ping's answer, so n2 must come to see n1 down (as over a link that slow), while n3,
  // whose traffic n1 serves at once, keeps seeing it up. Healed, n2 sees n1 up again.
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = partitions;
  o.extra_toml = "[faults]\ninjection = true\n[failure_detector]\nmode = \"all\"\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  auto r = c.kvsh(0, "fault delay n2 6000\n");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(eventually(20s, [&] { return sees(c, 1, "n1", "down"); }),
             "n2 never saw n1 down while n1 delayed n2's pings by 6 s");
  BOOST_TEST(sees(c, 2, "n1", "up"));
  r = c.kvsh(0, "fault heal\n");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(eventually(20s, [&] { return sees(c, 1, "n1", "up"); }));
}

BOOST_AUTO_TEST_CASE(under_swim_a_one_way_delay_leaves_the_peer_up_and_requests_succeed) {
  // The same rule with SWIM (the default): n2's own probes of n1 go unanswered for 6 s, but n3
  // reaches n1 for it (an indirect probe), so n2 keeps n1 up, as SWIM means to: a node others
  // reach is not declared down for one slow link. Requests through n2 still succeed, within the
  // request timeout, from the quorum of n2 and n3.
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = partitions;
  o.extra_toml = "[faults]\ninjection = true\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  auto r = c.kvsh(0, "fault delay n2 6000\n");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // Long enough for phi accrual to have declared n1 down (the test above: within 20 s, usually
  // 4-5 s) and for several SWIM rounds over n1.
  auto until = std::chrono::steady_clock::now() + 12s;
  size_t round = 0;
  while (std::chrono::steady_clock::now() < until) {
    BOOST_REQUIRE_MESSAGE(sees(c, 1, "n1", "up"), "n2 saw n1 down despite n3 reaching it");
    BOOST_REQUIRE(sees(c, 2, "n1", "up"));
    auto key = "delayed-" + std::to_string(round++);
    auto started = std::chrono::steady_clock::now();
    auto put = c.kvsh(1, "put " + key + " v\nget " + key + "\n", 30s);
    auto took = std::chrono::steady_clock::now() - started;
    BOOST_TEST(put.exit_code == 0, put.err);
    BOOST_TEST(put.out == "ok\nv\n", put.out << put.err);
    BOOST_TEST((took < 6s),
               "a put and get through n2 took "
                   << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    std::this_thread::sleep_for(1s);
  }
  BOOST_TEST(round >= 3u);
  r = c.kvsh(0, "fault heal\n");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto got = c.kvsh(0, "get delayed-0\n", 30s);
  BOOST_TEST(got.out == "v\n", got.out << got.err);
}

BOOST_AUTO_TEST_SUITE_END()
