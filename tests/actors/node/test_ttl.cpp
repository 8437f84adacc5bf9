// Puts with a TTL on three replicas (storage over the in-memory engine, a vnode each), their
// coordinators, tombstone collectors and anti-entropy, on CAF's test coordinator: the nodes' wall
// clock follows virtual time, so a value expires, and is collected, as the test advances it.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/anti_entropy.hpp"
#include "actors/node/collector.hpp"
#include "actors/node/coordinator.hpp"
#include "actors/node/storage_actor.hpp"
#include "actors/node/vnode.hpp"
#include "messages/error.hpp"
#include "storage/engine.hpp"
#include "storage/merkle_tree.hpp"
#include "tests/actors/common.hpp"
#include "tests/actors/node/replicas.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

/// The one partition every key of these tests falls in (one plan: partition_of(key, 1) = 0).
constexpr partition_id part = 0;

/// Wall-clock microseconds at virtual time zero.
constexpr int64_t epoch_us = 1'700'000'000'000'000;

struct ttl_fixture : deterministic_fixture {
  std::vector<std::shared_ptr<storage::engine>> engines;
  std::vector<storage_actor> stores;
  std::vector<vnode_actor> vnodes;
  /// The nodes' wall clock: virtual time, from epoch_us.
  std::shared_ptr<node_clock> clock = std::make_shared<node_clock>([this] {
    auto t = sched.clock().now().time_since_epoch();
    return epoch_us + std::chrono::duration_cast<std::chrono::microseconds>(t).count();
  });

  ttl_fixture() {
    for (replica_id id = 1; id <= 3; ++id) {
      engines.push_back(storage::make_memory_engine());
      storage_options opts{"n" + std::to_string(id), id, conflict_mode::siblings};
      opts.partitions = 8;
      opts.detached = false;
      opts.seed = id;
      opts.clock = clock;
      stores.push_back(keep(spawn_storage(sys, engines.back(), opts)));
      vnodes.push_back(keep(spawn_vnode(sys, stores.back())));
    }
  }

  /// A coordinator over the replicas with the given indexes, reading and writing at R and W.
  coordinator_actor coordinator(std::vector<size_t> reachable, uint32_t r = 2, uint32_t w = 2) {
    coordinator_options opts{one_plan_routes(stores, reachable, r, w)};
    opts.clock = clock;
    return keep(spawn_coordinator(sys, opts));
  }

  client_answer call(const coordinator_actor& c, client_call x) {
    self->send(c, batch_atom::value, std::vector<client_call>{std::move(x)});
    run();
    return one_client_answer();
  }

  client_answer put(std::vector<size_t> reachable, const std::string& key, const std::string& value,
                    uint32_t ttl_s, bytes context = {}) {
    auto x = put_call(b(key), b(value), std::move(context));
    x.ttl_s = ttl_s;
    return call(coordinator(std::move(reachable)), std::move(x));
  }

  /// A get through a coordinator that reaches replica `i` alone (R = 1): what that replica says.
  client_answer get_from(size_t i, const std::string& key) {
    return call(coordinator({i}, 1, 1), get_call(b(key)));
  }

  /// What replica `i` stores for `key` (nothing when it holds no record).
  std::optional<record> stored(size_t i, const std::string& key) {
    auto got = engines[i]->get(part, b(key));
    BOOST_REQUIRE(got);
    return *got;
  }

  /// A collector on replica `i` whose other home replicas are the other two, all up.
  void collect_on(size_t i, std::chrono::seconds grace) {
    collector_options co;
    co.node = "n" + std::to_string(i + 1);
    co.storage = stores[i];
    co.grace = grace;
    co.pace = 1ms;
    co.clock = clock;
    std::vector<std::string> others;
    std::vector<peer_view> peers;
    for (size_t j = 0; j < 3; ++j) {
      if (j == i)
        continue;
      others.push_back("n" + std::to_string(j + 1));
      peers.push_back(peer_view{others.back(), true, vnodes[j], {}});
    }
    co.partitions = {{part, others}};
    auto c = keep(spawn_collector(sys, co));
    self->send(c, peer_atom::value, std::move(peers));
    run();
  }

  /// Anti-entropy on replica 0 against replica `other`, a round a second.
  void anti_entropy_with(size_t other, std::chrono::seconds grace) {
    anti_entropy_options ao;
    ao.node = "n1";
    ao.storage = stores[0];
    ao.partitions = {{part, {"n" + std::to_string(other + 1)}}};
    ao.interval = 1000ms;
    ao.pace = 1ms;
    ao.tombstone_grace = grace;
    ao.clock = clock;
    auto ae = keep(spawn_anti_entropy(sys, ao));
    self->send(ae, peer_atom::value,
               std::vector<peer_view>{
                   peer_view{"n" + std::to_string(other + 1), true, vnodes[other], {}}});
    run();
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(ttl)

BOOST_FIXTURE_TEST_CASE(a_value_expires_alike_on_every_replica_and_is_collected_after_the_grace,
                        ttl_fixture) {
  auto w = put({0, 1, 2}, "session", "token", 5);
  BOOST_REQUIRE_MESSAGE(!w.err, describe(w.err));
  BOOST_TEST(w.write.acks >= 2u);
  run();
  // Every replica stores the same record, the expiry the coordinator chose included.
  auto first = stored(0, "session");
  BOOST_REQUIRE(first);
  BOOST_REQUIRE(first->siblings.size() == 1u);
  auto expires = first->siblings[0].expires_us;
  BOOST_TEST(expires == first->siblings[0].timestamp_us + 5'000'000);
  for (size_t i = 1; i < 3; ++i) {
    auto other = stored(i, "session");
    BOOST_REQUIRE(other);
    BOOST_TEST((*other == *first), "replica " << i);
  }
  for (size_t i = 0; i < 3; ++i) {
    auto a = get_from(i, "session");
    BOOST_REQUIRE_MESSAGE(!a.err, describe(a.err));
    BOOST_TEST(a.get.found, "replica " << i << " before the expiry");
  }
  advance(4900ms);
  BOOST_TEST(get_from(0, "session").get.found); // 4.9 s in: still there
  advance(200ms);
  for (size_t i = 0; i < 3; ++i) {
    auto a = get_from(i, "session");
    BOOST_REQUIRE_MESSAGE(!a.err, describe(a.err));
    BOOST_TEST(!a.get.found, "replica " << i << " after the expiry");
    BOOST_TEST(!a.get.context.empty()); // a put with it supersedes the expired write
  }
  // A put with a TTL beside a plain one: the plain key stays once the other expired.
  BOOST_REQUIRE(!put({0, 1, 2}, "plain", "forever", 0).err);
  // Collectors on every replica, grace 10 s: nothing goes before expiry + grace ...
  for (size_t i = 0; i < 3; ++i)
    collect_on(i, 10s);
  advance(8s); // 13.1 s in: expired 8.1 s ago
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(stored(i, "session").has_value(), "replica " << i << " within the grace");
  // ... and every replica's copy goes after it (each confirms the others hold it or nothing).
  advance(8s);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(!stored(i, "session").has_value(), "replica " << i << " after the grace");
    BOOST_TEST(stored(i, "plain").has_value(), "replica " << i);
    BOOST_TEST(get_from(i, "plain").get.found);
  }
}

BOOST_FIXTURE_TEST_CASE(a_replica_that_missed_the_put_holds_collection_up_until_repaired,
                        ttl_fixture) {
  BOOST_REQUIRE(!put({0, 1, 2}, "k", "old", 0).err);
  auto read = call(coordinator({0, 1, 2}), get_call(b("k")));
  BOOST_REQUIRE(read.get.found);
  // The put with a TTL supersedes "old" but reaches n1 and n2 only: n3 keeps "old".
  BOOST_REQUIRE(!put({0, 1}, "k", "new", 2, read.get.context).err);
  run();
  BOOST_TEST(get_from(2, "k").get.found);
  for (size_t i = 0; i < 3; ++i)
    collect_on(i, 4s);
  advance(10s); // expired 8 s ago, past the grace
  // Erasing n1's and n2's copies now would let n3's "old" come back: they stay.
  BOOST_TEST(stored(0, "k").has_value());
  BOOST_TEST(stored(1, "k").has_value());
  BOOST_TEST(!get_from(0, "k").get.found);
  // A read through all three repairs n3 (the expired write supersedes "old"); then all collect.
  auto all = call(coordinator({0, 1, 2}, 3), get_call(b("k")));
  BOOST_REQUIRE_MESSAGE(!all.err, describe(all.err));
  BOOST_TEST(!all.get.found);
  advance(6s);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(!stored(i, "k").has_value(), "replica " << i);
}

BOOST_FIXTURE_TEST_CASE(anti_entropy_copies_the_expiry_and_no_expired_record_past_its_grace,
                        ttl_fixture) {
  // Both puts reach n1 and n2 only; n3 lacks both keys.
  BOOST_REQUIRE(!put({0, 1}, "brief", "v", 2).err);
  BOOST_REQUIRE(!put({0, 1}, "long", "v", 60).err);
  run();
  BOOST_REQUIRE(!stored(2, "long").has_value());
  // Past "brief"'s expiry and the grace (5 s) it is due: a replica that lacks it needs nothing.
  advance(8s);
  anti_entropy_with(2, 5s);
  advance(3s);
  auto copied = stored(2, "long");
  BOOST_REQUIRE(copied.has_value());
  BOOST_TEST((*copied == *stored(0, "long"))); // the expiry came along: the digests agree
  BOOST_TEST(copied->siblings[0].expires_us != 0);
  BOOST_TEST(!stored(2, "brief").has_value());
  auto leaves_here = engines[0]->leaves(part);
  auto leaves_there = engines[2]->leaves(part);
  BOOST_REQUIRE((leaves_here && leaves_there));
  // They differ by "brief" alone, which n1 holds and n3 never needs.
  auto leaf = storage::merkle_tree::leaf_of(b("brief"), storage::tree_leaf_bits);
  BOOST_REQUIRE(storage::merkle_tree::leaf_of(b("long"), storage::tree_leaf_bits) != leaf);
  for (size_t i = 0; i < leaves_here->size(); ++i)
    if (i != leaf)
      BOOST_TEST((*leaves_here)[i] == (*leaves_there)[i], "leaf " << i);
}

BOOST_FIXTURE_TEST_CASE(a_later_put_without_ttl_keeps_the_key, ttl_fixture) {
  BOOST_REQUIRE(!put({0, 1, 2}, "k", "brief", 2).err);
  auto read = call(coordinator({0, 1, 2}), get_call(b("k")));
  BOOST_REQUIRE(read.get.found);
  BOOST_REQUIRE(!put({0, 1, 2}, "k", "kept", 0, read.get.context).err);
  advance(5s);
  for (size_t i = 0; i < 3; ++i) {
    auto a = get_from(i, "k");
    BOOST_REQUIRE(a.get.found);
    BOOST_TEST(std::string(a.get.values[0].begin(), a.get.values[0].end()) == "kept");
  }
}

BOOST_FIXTURE_TEST_CASE(a_ttl_out_of_range_is_refused_and_nothing_is_stored, ttl_fixture) {
  auto a = put({0, 1, 2}, "k", "v", static_cast<uint32_t>(max_ttl_s + 1));
  BOOST_TEST((a.err == ec::bad_request));
  BOOST_TEST(describe(a.err).find("ten years") != std::string::npos, describe(a.err));
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(!stored(i, "k").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
