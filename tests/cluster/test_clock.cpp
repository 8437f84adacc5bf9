// Last-writer-wins under clock skew, with real kvnode processes: one node's wall clock runs 120 s
// ahead (kvnode's test hook ACTORKV_TEST_CLOCK_OFFSET_MS), the others are correct. Writes made
// through correct nodes after the skewed node's must win everywhere, and the skewed node must say
// that its clock is off, in its status and its log.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "cluster-config/ring.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "storage/engine.hpp"
#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t partitions = 64;

/// Three nodes, N = 3, R = W = 2, last writer wins; node 0's clock 120 s ahead once started.
local_cluster::options lww_cluster() {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = partitions;
  o.conflicts = "lww";
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\nclient_ms = 5000\nmax_clock_skew_ms = 1000\n";
  return o;
}

void start_with_node_0_ahead(local_cluster& c) {
  {
    scoped_env skew{"ACTORKV_TEST_CLOCK_OFFSET_MS", "120000"};
    c.start(0);
  }
  for (size_t i = 1; i < c.size(); ++i)
    c.start(i);
  wait_until_all_up(c);
}

std::string repeat(const std::string& text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i)
    out += text;
  return out;
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size()))
    ++n;
  return n;
}

/// The visible values of `key` in a stopped node's database; nothing when it holds no record.
std::optional<std::vector<std::string>> stored_values(const std::string& data_dir,
                                                      const std::string& key) {
  auto engine = storage::open_sqlite_engine(data_dir + "/actorkv.db", storage::sync_mode::normal);
  BOOST_REQUIRE(engine);
  bytes k(key.begin(), key.end());
  auto rec = (*engine)->get(partition_of(k, partitions), k);
  BOOST_REQUIRE_MESSAGE(rec, key << " damaged in " << data_dir);
  if (!rec->has_value())
    return std::nullopt;
  std::vector<std::string> out;
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  for (auto* s : dvv::visible(**rec, now))
    out.emplace_back(s->value.begin(), s->value.end());
  return out;
}

/// Puts "early" through the skewed node 0, then through node 1 a get and a blind put of "later",
/// for keys k0.. and, through node 2, blind puts of "later" for keys b0.. without a get.
void write_early_then_later(local_cluster& c, int keys) {
  std::string early, read_then_put, blind;
  for (int i = 0; i < keys; ++i) {
    auto k = "k" + std::to_string(i);
    auto b = "b" + std::to_string(i);
    early += "put " + k + " early\nput " + b + " early\n";
    read_then_put += "get " + k + "\nput " + k + " later\n";
    blind += "put " + b + " later\n";
  }
  auto r = c.kvsh(0, early);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0 && r.out == repeat("ok\n", 2 * keys), r.out << r.err);
  // Through a correct node: read the key, then put without the context (a blind put).
  r = c.kvsh(1, read_then_put);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0 && r.out == repeat("early\nok\n", keys), r.out << r.err);
  // Through the other correct node, a blind put without reading first.
  r = c.kvsh(2, blind);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0 && r.out == repeat("ok\n", keys), r.out << r.err);
}

/// The keys write_early_then_later wrote that node i holds with another value than "later";
/// `held` counts those it holds at all.
std::string not_later(local_cluster& c, size_t i, int keys, int& held) {
  std::string out;
  held = 0;
  for (int k = 0; k < keys; ++k)
    for (auto key : {"k" + std::to_string(k), "b" + std::to_string(k)})
      if (auto values = stored_values(c.data_dir(i), key)) {
        ++held;
        if (*values != std::vector<std::string>{"later"})
          out += " " + key;
      }
  return out;
}

/// The offset kvsh status shows for `peer` ("n1 +120004 ms"), or nothing.
std::optional<long long> shown_offset(const std::string& status, const std::string& peer) {
  auto at = status.find("peer offsets (peer minus this node): ");
  if (at == std::string::npos)
    return std::nullopt;
  at = status.find(peer + " ", at);
  if (at == std::string::npos)
    return std::nullopt;
  return std::stoll(status.substr(at + peer.size() + 1));
}

} // namespace

BOOST_AUTO_TEST_SUITE(clock_skew)

BOOST_AUTO_TEST_CASE(writes_through_correct_nodes_win_over_a_node_whose_clock_runs_ahead) {
  local_cluster c{lww_cluster()};
  start_with_node_0_ahead(c);
  constexpr int keys = 15; // the count: 15 of 15 acknowledged writes were lost
  write_early_then_later(c, keys);
  std::string gets;
  for (int i = 0; i < keys; ++i)
    gets += "get k" + std::to_string(i) + "\nget b" + std::to_string(i) + "\n";
  auto want = repeat("later\n", 2 * keys);
  for (size_t i = 0; i < c.size(); ++i) {
    std::string seen;
    BOOST_CHECK_MESSAGE(eventually(10s,
                                   [&] {
                                     seen = c.kvsh(i, gets).out;
                                     return seen == want;
                                   }),
                        "through node " << i << ", " << count(seen, "early\n") << " of " << 2 * keys
                                        << " later puts were lost");
  }

  // The skewed node says so in its status and its log; the others see it as a peer ahead.
  std::string status;
  BOOST_CHECK_MESSAGE(eventually(10s,
                                 [&] {
                                   status = c.kvsh(0, "status\n").out;
                                   return status.find("clock: skewed, ") != std::string::npos;
                                 }),
                      "the skewed node's status does not show it:\n"
                          << status);
  BOOST_CHECK_MESSAGE(status.find("ahead of its peers") != std::string::npos, status);
  auto n2_offset = shown_offset(status, "n2");
  BOOST_CHECK_MESSAGE(n2_offset && *n2_offset < -119000 && *n2_offset > -121000, status);
  BOOST_CHECK_MESSAGE(c.wait_for_log(0, "clock skew: this node's wall clock is", 10s),
                      c.log_tail(0));
  BOOST_CHECK_MESSAGE(c.log(0).find("ahead of its peers'") != std::string::npos, c.log_tail(0));
  auto correct = c.kvsh(1, "status\n").out;
  BOOST_CHECK_MESSAGE(correct.find("clock: within max_clock_skew_ms = 1000") != std::string::npos,
                      correct);
  auto n1_offset = shown_offset(correct, "n1");
  BOOST_CHECK_MESSAGE(n1_offset && *n1_offset > 119000 && *n1_offset < 121000, correct);
  BOOST_CHECK_MESSAGE(c.wait_for_log(1, "clock skew: peer n1's wall clock is", 10s), c.log_tail(1));
  BOOST_CHECK(c.log(1).find("clock skew: this node's") == std::string::npos);

  // Every replica holds the later values.
  for (size_t i = 0; i < c.size(); ++i)
    BOOST_REQUIRE_EQUAL(c.stop(i), 0);
  for (size_t i = 0; i < c.size(); ++i) {
    int held = 0;
    auto lost = not_later(c, i, keys, held);
    BOOST_CHECK_MESSAGE(lost.empty(), "node " << i << " holds the earlier value of" << lost);
    BOOST_CHECK_EQUAL(held, 2 * keys);
  }
}

BOOST_AUTO_TEST_CASE(hints_delivered_later_keep_the_later_write) {
  // Four nodes, N = 3, sloppy quorum, no anti-entropy: what n4 misses while it is down reaches it
  // only as hints, the early and the later write of a key possibly held by different nodes.
  auto o = lww_cluster();
  o.nodes = 4;
  o.quorum = "sloppy";
  o.extra_toml += "[handoff]\ninterval_ms = 500\n[anti_entropy]\nenabled = false\n";
  local_cluster c{o};
  start_with_node_0_ahead(c);
  BOOST_REQUIRE_EQUAL(c.stop(3), 0);
  BOOST_REQUIRE(eventually(10s, [&] {
    return sees(c, 0, "n4", "down") && sees(c, 1, "n4", "down") && sees(c, 2, "n4", "down");
  }));
  constexpr int keys = 15;
  write_early_then_later(c, keys);
  auto pending = [&] {
    uint64_t n = 0;
    for (size_t i = 0; i < 3; ++i)
      n += status_figure(c.kvsh(i, "status\n").out, "pending hints: ");
    return n;
  };
  auto held_hints = pending();
  BOOST_TEST_MESSAGE("hints held for n4: " << held_hints);
  BOOST_REQUIRE(held_hints > 0u);
  c.start(3);
  BOOST_REQUIRE_MESSAGE(eventually(30s, [&] { return pending() == 0; }), "hints never delivered");
  for (size_t i = 0; i < c.size(); ++i)
    BOOST_REQUIRE_EQUAL(c.stop(i), 0);
  int held = 0;
  auto lost = not_later(c, 3, keys, held);
  BOOST_CHECK_MESSAGE(lost.empty(), "n4 holds the earlier value of" << lost);
  BOOST_TEST_MESSAGE("n4 holds " << held << " of the " << 2 * keys << " keys");
  BOOST_CHECK(held > 0);
}

BOOST_AUTO_TEST_CASE(a_bad_clock_offset_hook_is_refused) {
  auto o = lww_cluster();
  o.nodes = 1;
  o.replicas = 1;
  o.read_quorum = 1;
  o.write_quorum = 1;
  local_cluster c{o};
  scoped_env bad{"ACTORKV_TEST_CLOCK_OFFSET_MS", "soon"};
  BOOST_CHECK_THROW(c.start(0), std::runtime_error);
  BOOST_CHECK_MESSAGE(c.log(0).find("ACTORKV_TEST_CLOCK_OFFSET_MS=soon") != std::string::npos,
                      c.log(0));
}

BOOST_AUTO_TEST_SUITE_END()
