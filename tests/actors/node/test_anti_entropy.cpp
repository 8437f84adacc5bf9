// Anti-entropy on the test coordinator: this node's storage actor (over the in-memory engine)
// against a scripted peer vnode over an engine of its own, which holds back the reads it is asked
// until the test releases them, so the tests see which keys are read and repaired, and how many
// repairs run at once. Pruned version-vector entries of retired replica ids: two storage actors,
// one with a pruned copy, and anti-entropy between them.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/anti_entropy.hpp"
#include "actors/node/background_gate.hpp"
#include "actors/node/storage_actor.hpp"
#include "actors/node/vnode.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "storage/engine.hpp"
#include "storage/merkle_tree.hpp"
#include "tests/actors/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr partition_id part = 5;

/// The scripted peer's replica of partition `part` and what it was asked.
struct peer_replica {
  std::unique_ptr<storage::engine> engine = storage::make_memory_engine();
  std::map<bytes, int> reads;                ///< reads asked per key
  std::map<bytes, int> merges;               ///< merges received per key
  std::vector<std::vector<uint64_t>> listed; ///< the leaves of each leafkeys request
  std::vector<caf::typed_response_promise<replica_read>> held; ///< reads not answered yet
  std::vector<bytes> held_keys;
  size_t most_held = 0; ///< the most reads waiting at once
  uint32_t pause_ms = 0; ///< the pause its pace asks of its peers' workers (pace_atom)
};

/// The peer's vnode: answers trees, listings and merges at once from its engine, and holds every
/// read until it receives a tick.
using peer_vnode_actor = vnode_actor::extend<caf::reacts_to<caf::tick_atom>>;

peer_vnode_actor spawn_peer(caf::actor_system& sys, std::shared_ptr<peer_replica> r) {
  return sys.spawn([r](peer_vnode_actor::pointer self) -> peer_vnode_actor::behavior_type {
    return {
        [=](read_atom, partition_id, const bytes& key) -> caf::result<replica_read> {
          ++r->reads[key];
          r->held.push_back(self->make_response_promise<replica_read>());
          r->held_keys.push_back(key);
          r->most_held = std::max(r->most_held, r->held.size());
          return r->held.back();
        },
        [=](merge_atom, partition_id p, const bytes& key,
            const record& rec) -> caf::result<record> {
          ++r->merges[key];
          auto current = r->engine->get(p, key);
          auto merged =
              current && *current ? dvv::merge(**current, rec, conflict_mode::siblings) : rec;
          if (auto err = r->engine->put(p, key, merged))
            return err;
          return merged;
        },
        [=](tree_atom, partition_id p, uint32_t depth) -> caf::result<std::vector<uint64_t>> {
          auto leaves = r->engine->leaves(p);
          if (!leaves)
            return leaves.error();
          return storage::merkle_tree::from_leaves(*leaves).level(depth);
        },
        [=](leafkeys_atom, partition_id p,
            const std::vector<uint64_t>& leaves) -> caf::result<std::vector<key_digest>> {
          r->listed.push_back(leaves);
          auto keys = r->engine->leaf_keys(p, leaves);
          if (!keys)
            return keys.error();
          return std::move(*keys);
        },
        [=](pace_atom) { return r->pause_ms; },
        [=](caf::tick_atom) {
          auto held = std::move(r->held);
          auto keys = std::move(r->held_keys);
          r->held.clear();
          r->held_keys.clear();
          for (size_t i = 0; i < held.size(); ++i) {
            replica_read out;
            auto got = r->engine->get(part, keys[i]);
            if (got && *got) {
              out.found = true;
              out.rec = **got;
            }
            held[i].deliver(std::move(out));
          }
        },
    };
  });
}

record value_of(const std::string& value, uint64_t counter) {
  record r;
  r.context.entries = {dot{9, counter}};
  sibling s;
  s.origin = dot{9, counter};
  s.timestamp_us = 1000 + static_cast<int64_t>(counter);
  s.value = b(value);
  r.siblings = {s};
  return r;
}

struct ae_fixture : deterministic_fixture {
  std::shared_ptr<storage::engine> engine{storage::make_memory_engine()};
  std::shared_ptr<peer_replica> peer = std::make_shared<peer_replica>();
  storage_actor storage;
  peer_vnode_actor peer_vnode;
  anti_entropy_actor ae;
  std::vector<bytes> differing; ///< the keys the two replicas disagree on

  /// 1000 keys on both sides but 40: 20 only here, 10 only there, 10 with another value there.
  /// `adjust` changes the anti-entropy options.
  explicit ae_fixture(std::function<void(anti_entropy_options&)> adjust = {}) {
    for (int i = 0; i < 1000; ++i) {
      auto key = b("k" + std::to_string(i));
      auto rec = value_of("v" + std::to_string(i), i + 1);
      bool here = !(i >= 100 && i < 110);
      bool there = !(i < 20);
      if (i >= 200 && i < 210)
        BOOST_REQUIRE(!peer->engine->put(part, key, value_of("other", 5000 + i)));
      else if (there)
        BOOST_REQUIRE(!peer->engine->put(part, key, rec));
      if (here)
        BOOST_REQUIRE(!engine->put(part, key, rec));
      if (i < 20 || (i >= 100 && i < 110) || (i >= 200 && i < 210))
        differing.push_back(key);
    }
    storage_options so{"n1", 1, conflict_mode::siblings};
    so.partitions = 8;
    so.detached = false;
    so.seed = 1;
    storage = keep(spawn_storage(sys, engine, so));
    peer_vnode = keep(spawn_peer(sys, peer));
    anti_entropy_options ao;
    ao.node = "n1";
    ao.storage = storage;
    ao.partitions = {{part, {"n2"}}};
    ao.interval = 1000ms;
    ao.pace = 1ms;
    ao.repairs = 4;
    if (adjust)
      adjust(ao);
    ae = keep(spawn_anti_entropy(sys, ao));
    self->send(ae, peer_atom::value,
               std::vector<peer_view>{
                   peer_view{"n2", true, caf::actor_cast<vnode_actor>(peer_vnode), {}}});
    run();
  }

  anti_entropy_stats stats() {
    anti_entropy_stats out;
    self->send(ae, status_atom::value);
    run();
    self->receive([&](anti_entropy_stats& s) { out = s; },
                  caf::after(std::chrono::seconds(0)) >> [] { BOOST_FAIL("no status"); });
    return out;
  }

  std::vector<uint64_t> leaves_here() {
    auto leaves = engine->leaves(part);
    BOOST_REQUIRE(leaves);
    return *leaves;
  }
  std::vector<uint64_t> leaves_there() {
    auto leaves = peer->engine->leaves(part);
    BOOST_REQUIRE(leaves);
    return *leaves;
  }
};

/// Repairs in units of 8 keys, paced by a background gate whose foreground the test makes slow.
struct paced_fixture : ae_fixture {
  std::shared_ptr<background_gate> gate;

  explicit paced_fixture(std::shared_ptr<background_gate> g = nullptr)
      : ae_fixture([&](anti_entropy_options& o) {
          background_pace_options po;
          po.target_p99 = 1ms;
          po.window = 500ms;
          po.min_rate = 1;  // the floor: a unit a second
          po.max_rate = 64; // at most a unit each 16 ms
          po.min_samples = 1;
          po.max_slowdown = 1; // the gate stays at its floor: this tests the worker, not the gate
          g = std::make_shared<background_gate>(po, sched.clock().now());
          o.background = g;
          o.unit = 8;
        }),
        gate(std::move(g)) {}

  /// Virtual time passes while every window has a slow foreground request.
  void slow_foreground_for(std::chrono::milliseconds d) {
    for (auto done = 0ms; done < d; done += 100ms) {
      gate->foreground(50ms, sched.clock().now());
      advance(100ms);
    }
  }

  /// The keys the peer was asked to read or sent a merge for: those repaired so far.
  size_t keys_repaired() const {
    std::set<bytes> keys;
    for (auto& [key, n] : peer->reads)
      keys.insert(key);
    for (auto& [key, n] : peer->merges)
      keys.insert(key);
    return keys.size();
  }

  /// Over 8 seconds, each passed by `second()`, at most a unit of repairs goes each second (two
  /// when a second's edge falls between them), and in the end every differing key is repaired.
  void repairs_go_a_unit_a_second(const std::function<void()>& second) {
    size_t repaired_before = 0;
    std::vector<size_t> per_second;
    for (int s = 0; s < 8; ++s) {
      answer_reads();
      per_second.push_back(keys_repaired() - repaired_before);
      repaired_before = keys_repaired();
      second();
    }
    answer_reads();
    BOOST_TEST_MESSAGE("keys repaired per second: " << [&] {
      std::string out;
      for (auto n : per_second)
        out += std::to_string(n) + " ";
      return out;
    }());
    for (auto n : per_second)
      BOOST_TEST(n <= 16u);
    BOOST_TEST(keys_repaired() == differing.size());
    BOOST_TEST(leaves_here() == leaves_there());
  }

  /// Releases the peer's reads until none waits.
  void answer_reads() {
    for (int i = 0; i < 20 && !peer->held.empty(); ++i) {
      self->send(peer_vnode, caf::tick_atom::value);
      run();
    }
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(anti_entropy)

BOOST_FIXTURE_TEST_CASE(while_foreground_requests_are_slow_each_unit_of_repairs_waits, paced_fixture) {
  // A wiped replica differs in every key of a partition: with pauses only between partitions, a
  // partition's repairs all ran at full speed whatever foreground requests saw.
  slow_foreground_for(4000ms); // the gate falls to its floor; the first round starts at 1 s
  answer_reads();
  BOOST_TEST(stats().peer_pause_ms == 0u); // this node's own pause decides, not the other side's
  // One unit (8 keys) at a time, then a second's pause: 40 keys take 5 units, about 4 s.
  repairs_go_a_unit_a_second([&] { slow_foreground_for(1000ms); });
}

BOOST_FIXTURE_TEST_CASE(each_unit_of_repairs_waits_the_pause_the_other_side_asks, paced_fixture) {
  // This node has no client requests (its gate runs at its top rate, a unit each 16 ms); the
  // other side's clients are slow and its pace asks a second between units. Repairs load that
  // side too (a wiped replica pulling from its peers), so its pause counts.
  peer->pause_ms = 1000;
  advance(1000ms); // the first round starts
  answer_reads();  // the first unit: then it waits, and status says for whom
  BOOST_TEST(stats().peer_pause_ms == 1000u);
  BOOST_TEST(stats().paced_by == "n2");
  repairs_go_a_unit_a_second([&] { advance(1000ms); });
  advance(1000ms); // the partition is done: nothing waits any more
  BOOST_TEST(stats().peer_pause_ms == 0u);
  BOOST_TEST(stats().paced_by.empty());
}

BOOST_FIXTURE_TEST_CASE(a_round_repairs_exactly_the_differing_keys_a_few_at_a_time, ae_fixture) {
  BOOST_REQUIRE(leaves_here() != leaves_there());
  advance(1000ms); // the first round starts: trees, the differing leaves' keys, then repairs
  // Four repairs run, each waiting for the peer's read; the rest wait their turn.
  BOOST_CHECK_EQUAL(peer->held.size(), 4u);
  auto during = stats();
  BOOST_CHECK_EQUAL(during.partitions, 1u);
  BOOST_CHECK_EQUAL(during.partition, 0u);
  BOOST_CHECK_EQUAL(during.repairs_running, 4u);
  BOOST_CHECK_EQUAL(during.rounds, 0u);
  for (int i = 0; i < 100 && !peer->held.empty(); ++i) {
    self->send(peer_vnode, caf::tick_atom::value);
    run();
  }
  BOOST_CHECK(peer->held.empty());
  advance(10ms); // the pause after a partition, then the round ends
  auto after = stats();
  BOOST_CHECK_EQUAL(after.rounds, 1u);
  BOOST_CHECK_EQUAL(after.repairs_last_round, differing.size());
  BOOST_CHECK_EQUAL(after.repairs_running, 0u);
  BOOST_CHECK_EQUAL(peer->most_held, 4u);
  // Only the differing keys the peer listed were read there, each once; those it lacked were
  // sent to it without a read (a wiped replica's refill: one message per key, not two). Only
  // differing keys were merged there, and only differing leaves listed.
  std::vector<bytes> read;
  for (auto& [key, n] : peer->reads) {
    read.push_back(key);
    BOOST_CHECK_EQUAL(n, 1);
  }
  auto expected = differing;
  std::sort(expected.begin(), expected.end());
  std::vector<bytes> lacked_there; // k0 .. k19 (the fixture put them here only)
  for (int i = 0; i < 20; ++i)
    lacked_there.push_back(b("k" + std::to_string(i)));
  std::vector<bytes> listed_there;
  for (auto& key : expected)
    if (std::find(lacked_there.begin(), lacked_there.end(), key) == lacked_there.end())
      listed_there.push_back(key);
  BOOST_CHECK(read == listed_there);
  for (auto& key : lacked_there)
    BOOST_CHECK_EQUAL(peer->merges[key], 1);
  for (auto& [key, n] : peer->merges)
    BOOST_CHECK(std::binary_search(expected.begin(), expected.end(), key));
  BOOST_REQUIRE_EQUAL(peer->listed.size(), 1u);
  std::vector<uint64_t> leaves;
  for (auto& key : differing)
    leaves.push_back(storage::merkle_tree::leaf_of(key, storage::tree_leaf_bits));
  std::sort(leaves.begin(), leaves.end());
  leaves.erase(std::unique(leaves.begin(), leaves.end()), leaves.end());
  auto listed = peer->listed[0];
  std::sort(listed.begin(), listed.end());
  BOOST_CHECK(listed == leaves);
  // Both replicas now agree, and the next round finds nothing to do.
  BOOST_CHECK(leaves_here() == leaves_there());
  advance(1100ms);
  BOOST_CHECK(peer->held.empty());
  BOOST_CHECK_EQUAL(stats().rounds, 2u);
  BOOST_CHECK_EQUAL(stats().repairs_last_round, 0u);
}

BOOST_FIXTURE_TEST_CASE(a_pruned_copy_stays_pruned_and_nothing_is_repaired_back,
                        deterministic_fixture) {
  // Replica 5 (retired: its node was wiped) wrote "old"; replica 9 overwrote it with the context
  // of a read, so the record's context still names 5. Each side pruned one key and not yet the
  // other (the other replica prunes later, on its own evidence).
  record full;
  full.context.entries = {dot{5, 1}, dot{9, 2}};
  sibling s;
  s.origin = dot{9, 2};
  s.timestamp_us = 2000;
  s.value = b("new");
  full.siblings = {s};
  const std::vector<replica_id> retired{5};
  auto pruned = dvv::prune(full, retired);
  BOOST_REQUIRE(pruned != full);
  auto engine1 = std::shared_ptr<storage::engine>{storage::make_memory_engine()};
  auto engine2 = std::shared_ptr<storage::engine>{storage::make_memory_engine()};
  BOOST_REQUIRE(!engine1->put(part, b("pruned-here"), pruned));
  BOOST_REQUIRE(!engine2->put(part, b("pruned-here"), full));
  BOOST_REQUIRE(!engine1->put(part, b("pruned-there"), full));
  BOOST_REQUIRE(!engine2->put(part, b("pruned-there"), pruned));
  // A key only n2 holds: anti-entropy runs, and repairs it as ever.
  BOOST_REQUIRE(!engine2->put(part, b("only-there"), value_of("other", 3)));
  auto spawn = [&](std::shared_ptr<storage::engine> engine, replica_id id) {
    storage_options so{"n" + std::to_string(id), id, conflict_mode::siblings};
    so.partitions = 8;
    so.detached = false;
    so.seed = id;
    return keep(spawn_storage(sys, std::move(engine), so));
  };
  auto storage1 = spawn(engine1, 1);
  auto storage2 = spawn(engine2, 2);
  for (auto& st : {storage1, storage2})
    self->send(st, prune_atom::value, retired);
  auto vnode2 = keep(spawn_vnode(sys, storage2));
  anti_entropy_options ao;
  ao.node = "n1";
  ao.storage = storage1;
  ao.partitions = {{part, {"n2"}}};
  ao.interval = 1000ms;
  ao.pace = 1ms;
  auto ae = keep(spawn_anti_entropy(sys, ao));
  self->send(
      ae, peer_atom::value,
      std::vector<peer_view>{peer_view{"n2", true, caf::actor_cast<vnode_actor>(vnode2), {}}});
  advance(6500ms); // five rounds or more, no write
  anti_entropy_stats stats;
  self->send(ae, status_atom::value);
  run();
  self->receive([&](anti_entropy_stats& st) { stats = st; },
                caf::after(std::chrono::seconds(0)) >> [] { BOOST_FAIL("no status"); });
  BOOST_TEST(stats.rounds >= 5u);
  // The copies still differ (their digests cover the contexts), so every round compares them;
  // but neither gives the other the pruned entry back, however often.
  auto held = [&](std::shared_ptr<storage::engine>& engine, const std::string& key) {
    auto got = engine->get(part, b(key));
    BOOST_REQUIRE(got && *got);
    return **got;
  };
  BOOST_TEST((held(engine1, "pruned-here") == pruned));
  BOOST_TEST((held(engine2, "pruned-there") == pruned));
  BOOST_TEST((held(engine2, "pruned-here") == full));
  BOOST_TEST((held(engine1, "pruned-there") == full));
  BOOST_TEST((held(engine1, "only-there") == value_of("other", 3)));
}

BOOST_AUTO_TEST_SUITE_END()
