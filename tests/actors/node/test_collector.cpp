// The tombstone collector on the test coordinator, over a storage actor (in-memory engine; SQLite
// where a sweep's cost is measured) and two scripted peer vnodes: a tombstone past its grace
// period is erased only while every other home replica is up and holds the identical tombstone or
// nothing; a version-vector entry of a retired replica id is pruned only once the record's newest
// write is past the grace and every other home replica is up and holds the same record up to it.
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/collector.hpp"
#include "actors/node/storage_actor.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "storage/engine.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/record_codec.hpp"
#include "tests/actors/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr partition_id part = 2;

/// A record with one sibling by replica 7, stamped at `ts_us`: a value, or a tombstone.
record written(std::optional<std::string> value, uint64_t counter, int64_t ts_us) {
  record r;
  r.context.entries = {dot{7, counter}};
  sibling s;
  s.origin = dot{7, counter};
  s.timestamp_us = ts_us;
  s.tombstone = !value;
  if (value)
    s.value = b(*value);
  r.siblings = {s};
  return r;
}

/// Replica 7's write at `ts_us` over replica 5's (retired) with the context of a read: the
/// context names 5, no sibling does.
record overwrite(int64_t ts_us) {
  record r;
  r.context.entries = {dot{5, 1}, dot{7, 4}};
  sibling s;
  s.origin = dot{7, 4};
  s.timestamp_us = ts_us;
  s.value = b("new");
  r.siblings = {s};
  return r;
}

/// Replica 5's write that overwrite() superseded: what a replica that missed the overwrite holds.
record superseded() {
  record r;
  r.context.entries = {dot{5, 1}};
  sibling s;
  s.origin = dot{5, 1};
  s.timestamp_us = 500'000;
  s.value = b("old");
  r.siblings = {s};
  return r;
}

/// A peer vnode that answers reads of any key with `*held` (nothing when it is nullopt).
vnode_actor spawn_peer(caf::actor_system& sys, std::shared_ptr<std::optional<record>> held) {
  return sys.spawn([held](vnode_actor::pointer) -> vnode_actor::behavior_type {
    return {
        [=](read_atom, partition_id p, const bytes&) -> caf::result<replica_read> {
          if (p != part)
            return caf::make_error(ec::bad_request, "a read of another partition");
          replica_read out;
          if (*held) {
            out.found = true;
            out.rec = **held;
          }
          return out;
        },
        [=](merge_atom, partition_id, const bytes&, const record& rec) -> caf::result<record> {
          return rec;
        },
        [=](tree_atom, partition_id, uint32_t) -> caf::result<std::vector<uint64_t>> {
          return std::vector<uint64_t>{};
        },
        [=](leafkeys_atom, partition_id, const std::vector<uint64_t>&)
            -> caf::result<std::vector<key_digest>> { return std::vector<key_digest>{}; },
        [=](pace_atom) { return uint32_t{0}; },
    };
  });
}

struct collector_fixture : deterministic_fixture {
  std::shared_ptr<storage::engine> engine;
  storage_actor storage;
  collector_actor collector;
  std::shared_ptr<std::optional<record>> n2 = std::make_shared<std::optional<record>>();
  std::shared_ptr<std::optional<record>> n3 = std::make_shared<std::optional<record>>();
  vnode_actor n2_vnode;
  vnode_actor n3_vnode;
  int64_t now_us = 100'000'000; ///< the node's wall clock
  record tomb = written(std::nullopt, 2, 1'000'000);

  explicit collector_fixture(std::shared_ptr<storage::engine> store = storage::make_memory_engine())
      : engine(std::move(store)) {
    // Deleted at 1 s; the clock says 100 s; the grace is 10 s: due.
    BOOST_REQUIRE(!engine->put(part, b("deleted"), tomb));
    BOOST_REQUIRE(!engine->put(part, b("alive"), written("v", 1, 1'000'000)));
    BOOST_REQUIRE(!engine->put(part, b("fresh"), written(std::nullopt, 3, now_us - 1'000'000)));
    storage_options so{"n1", 1, conflict_mode::siblings};
    so.partitions = 8;
    so.detached = false;
    so.seed = 1;
    storage = keep(spawn_storage(sys, engine, so));
    n2_vnode = keep(spawn_peer(sys, n2));
    n3_vnode = keep(spawn_peer(sys, n3));
    collector_options co;
    co.node = "n1";
    co.storage = storage;
    co.partitions = {{part, {"n2", "n3"}}};
    co.grace = 10s;
    co.pace = 1ms;
    co.clock = std::make_shared<node_clock>([this] { return now_us; });
    collector = keep(spawn_collector(sys, co));
  }

  void peers_up(bool n3_up) {
    self->send(collector, peer_atom::value,
               std::vector<peer_view>{peer_view{"n2", true, n2_vnode, {}},
                                      peer_view{"n3", n3_up, n3_vnode, {}}});
    run();
  }

  bool held(const std::string& key) {
    auto got = engine->get(part, b(key));
    BOOST_REQUIRE(got);
    return got->has_value();
  }

  uint64_t collected() { return figures()[0]; }
  uint64_t pruned() { return figures()[2]; }

  /// Tombstones collected, sweeps, entries pruned.
  std::array<uint64_t, 3> figures() {
    std::array<uint64_t, 3> out{UINT64_MAX, UINT64_MAX, UINT64_MAX};
    self->send(collector, status_atom::value);
    run();
    self->receive(
        [&](uint64_t n, uint64_t sweeps, uint64_t pruned) {
          out = {n, sweeps, pruned};
        },
        caf::after(std::chrono::seconds(0)) >> [] { BOOST_FAIL("no status"); });
    return out;
  }

  record stored(const std::string& key) {
    auto got = engine->get(part, b(key));
    BOOST_REQUIRE(got && *got);
    return **got;
  }

  /// Tells the collector (and storage, as the node does) the retired replica ids.
  void retire(std::vector<replica_id> ids) {
    self->send(storage, prune_atom::value, ids);
    self->send(collector, prune_atom::value, ids);
    run();
  }
};

/// A SQLite store in a temporary directory, removed at the end.
struct sqlite_store {
  std::filesystem::path dir;
  std::shared_ptr<storage::engine> store;
  sqlite_store() {
    auto pattern = (std::filesystem::temp_directory_path() / "actorkv-collector-XXXXXX").string();
    BOOST_REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
    auto opened = storage::open_sqlite_engine((dir / "store.db").string(), storage::sync_mode::off);
    BOOST_REQUIRE(opened);
    store = std::move(*opened);
  }
  ~sqlite_store() {
    store.reset(); // closed before its directory goes
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

/// The collector over a SQLite store (the base classes are built in order: the store first).
struct sqlite_collector_fixture : sqlite_store, collector_fixture {
  sqlite_collector_fixture() : collector_fixture(sqlite_store::store) {}
};

} // namespace

BOOST_AUTO_TEST_SUITE(collector)

BOOST_FIXTURE_TEST_CASE(a_sweep_reads_only_the_records_dead_for_longer_than_the_grace,
                        sqlite_collector_fixture) {
  // Beside the fixture's due tombstone, young tombstone and value: 5,000 more live records in
  // the partition swept. A sweep decodes the due tombstone (read for the sweep, read again
  // before the erase) and nothing else: not a live record, not the young tombstone.
  BOOST_REQUIRE(!engine->begin());
  for (int i = 0; i < 5000; ++i)
    BOOST_REQUIRE(!engine->put(part, b("live" + std::to_string(i)), written("v", 1, 1'000'000)));
  BOOST_REQUIRE(!engine->commit());
  peers_up(true);
  auto before = storage::records_decoded();
  advance(3s); // one sweep (every 2.5 s)
  auto decoded = storage::records_decoded() - before;
  BOOST_TEST_MESSAGE("records decoded by a sweep of 5,003 records: " << decoded);
  BOOST_CHECK_EQUAL(decoded, 2u);
  BOOST_CHECK(!held("deleted"));
  BOOST_CHECK(held("fresh"));
  BOOST_CHECK(held("alive"));
  BOOST_CHECK_EQUAL(collected(), 1u);
}

BOOST_FIXTURE_TEST_CASE(a_replica_that_is_down_or_holds_the_old_value_holds_collection_up,
                        collector_fixture) {
  *n2 = tomb;
  *n3 = written("old", 1, 500'000); // missed the delete
  peers_up(false);                  // and is down
  advance(4s);                      // a sweep every max(1 s, 10 s / 4) = 2.5 s
  BOOST_CHECK(held("deleted"));
  peers_up(true); // back, with the old value
  advance(4s);
  BOOST_CHECK(held("deleted"));
  BOOST_CHECK_EQUAL(collected(), 0u);
  *n3 = tomb; // anti-entropy gave it the tombstone
  advance(4s);
  BOOST_CHECK(!held("deleted"));
  // Values, and tombstones younger than the grace period, stay.
  BOOST_CHECK(held("alive"));
  BOOST_CHECK(held("fresh"));
  BOOST_CHECK_EQUAL(collected(), 1u);
}

BOOST_FIXTURE_TEST_CASE(replicas_that_hold_nothing_do_not_hold_collection_up, collector_fixture) {
  // n2 collected its copy already; n3 never had the key (a wiped replica, say).
  peers_up(true);
  advance(4s);
  BOOST_CHECK(!held("deleted"));
  BOOST_CHECK(held("fresh"));
  // Later the young tombstone passes its grace too.
  now_us += 20'000'000;
  advance(4s);
  BOOST_CHECK(!held("fresh"));
  BOOST_CHECK(held("alive"));
  BOOST_CHECK_EQUAL(collected(), 2u);
}

BOOST_FIXTURE_TEST_CASE(nothing_is_collected_while_a_ring_change_runs, collector_fixture) {
  peers_up(true);
  self->send(collector, replicas_atom::value,
             std::vector<std::pair<partition_id, std::vector<std::string>>>{});
  advance(6s);
  BOOST_CHECK(held("deleted"));
  self->send(collector, replicas_atom::value,
             std::vector<std::pair<partition_id, std::vector<std::string>>>{{part, {"n2", "n3"}}});
  advance(4s);
  BOOST_CHECK(!held("deleted"));
}

BOOST_FIXTURE_TEST_CASE(a_stale_or_absent_home_replica_holds_pruning_back, collector_fixture) {
  auto full = overwrite(1'000'000); // past the grace (10 s; the clock says 100 s)
  auto pruned_copy = dvv::prune(full, {5});
  BOOST_REQUIRE(!engine->put(part, b("overwritten"), full));
  retire({5});
  *n2 = full;
  *n3 = superseded(); // missed the overwrite: pruning now would let "old" come back here
  peers_up(true);
  advance(6s); // two sweeps
  BOOST_CHECK((stored("overwritten") == full));
  BOOST_CHECK_EQUAL(pruned(), 0u);
  *n3 = full; // anti-entropy gave it the overwrite, but it is down
  peers_up(false);
  advance(6s);
  BOOST_CHECK((stored("overwritten") == full));
  BOOST_CHECK_EQUAL(pruned(), 0u);
  // Up, with a copy that pruned the entry already: the same record up to it.
  *n3 = pruned_copy;
  peers_up(true);
  advance(6s);
  BOOST_CHECK((stored("overwritten") == pruned_copy));
  BOOST_CHECK_EQUAL(pruned(), 1u);
  // The other records are as they were (a value without entries of 5 among them).
  BOOST_CHECK((stored("alive") == written("v", 1, 1'000'000)));
}

BOOST_FIXTURE_TEST_CASE(an_entry_is_pruned_only_once_the_newest_write_is_past_the_grace,
                        collector_fixture) {
  auto young = overwrite(now_us - 1'000'000);
  BOOST_REQUIRE(!engine->put(part, b("overwritten"), young));
  *n2 = young;
  *n3 = young;
  peers_up(true);
  advance(6s);
  BOOST_CHECK_EQUAL(pruned(), 0u); // no id retired yet
  retire({5});
  advance(6s);
  BOOST_CHECK((stored("overwritten") == young)); // written 1 s ago, the grace is 10 s
  now_us += 20'000'000;
  advance(6s);
  BOOST_CHECK((stored("overwritten") == dvv::prune(young, {5})));
  BOOST_CHECK_EQUAL(pruned(), 1u);
}

BOOST_FIXTURE_TEST_CASE(a_retired_ids_last_write_is_pruned_a_grace_after_a_write_supersedes_it,
                        collector_fixture) {
  // The record still holds replica 5's write: its entry is not prunable (it covers a sibling),
  // and the pass finds nothing to prune.
  BOOST_REQUIRE(!engine->put(part, b("overwritten"), superseded()));
  *n2 = superseded();
  *n3 = superseded();
  peers_up(true);
  retire({5});
  advance(6s);
  BOOST_CHECK((stored("overwritten") == superseded()));
  // A write supersedes it (through another replica; here straight into the store), after the
  // passes stopped: the entry becomes prunable once the write is past the grace.
  auto full = overwrite(now_us);
  BOOST_REQUIRE(!engine->put(part, b("overwritten"), full));
  *n2 = full;
  *n3 = full;
  advance(6s);
  BOOST_CHECK((stored("overwritten") == full));
  now_us += 20'000'000;
  advance(6s);
  BOOST_CHECK((stored("overwritten") == dvv::prune(full, {5})));
  BOOST_CHECK_EQUAL(pruned(), 1u);
}

BOOST_FIXTURE_TEST_CASE(a_copy_that_arrives_after_a_pass_found_nothing_is_pruned_a_grace_later,
                        collector_fixture) {
  // A wiped replica: its first pass finds no record naming the retired id and the passes stop.
  peers_up(true);
  retire({5});
  advance(6s);
  BOOST_CHECK_EQUAL(pruned(), 0u);
  // Then anti-entropy refills it with a copy that still names replica 5, which the other home
  // replicas also hold (they have not pruned it yet).
  auto refilled = overwrite(1'000'000);
  BOOST_REQUIRE(!engine->put(part, b("overwritten"), refilled));
  *n2 = refilled;
  *n3 = refilled;
  advance(6s);
  BOOST_CHECK((stored("overwritten") == refilled)); // passes stopped: nobody looks yet
  // A grace period after the pass that found nothing, the passes come back and prune it.
  now_us += 20'000'000;
  advance(6s);
  BOOST_CHECK((stored("overwritten") == dvv::prune(refilled, {5})));
  BOOST_CHECK_EQUAL(pruned(), 1u);
}

BOOST_FIXTURE_TEST_CASE(storage_prunes_only_the_record_compared, collector_fixture) {
  auto full = overwrite(1'000'000);
  BOOST_REQUIRE(!engine->put(part, b("overwritten"), full));
  auto prune = [&](const record& expected) {
    uint64_t removed = UINT64_MAX;
    self->send(storage, prune_atom::value, part, b("overwritten"), expected,
               std::vector<replica_id>{5});
    run();
    self->receive([&](uint64_t n) { removed = n; },
                  caf::after(std::chrono::seconds(0)) >> [] { BOOST_FAIL("no answer"); });
    return removed;
  };
  // A write came since the collector read the record: the write wins, nothing is pruned.
  auto older = full;
  older.siblings[0].value = b("before the write");
  BOOST_CHECK_EQUAL(prune(older), 0u);
  BOOST_CHECK((stored("overwritten") == full));
  BOOST_CHECK_EQUAL(prune(full), 1u);
  BOOST_CHECK((stored("overwritten") == dvv::prune(full, {5})));
  // The digest follows, as with any write.
  auto leaf = storage::merkle_tree::leaf_of(b("overwritten"), storage::tree_leaf_bits);
  auto digests = engine->leaf_keys(part, {leaf});
  BOOST_REQUIRE(digests);
  uint64_t digest = 0;
  for (auto& kd : *digests)
    if (kd.key == b("overwritten"))
      digest = kd.digest;
  BOOST_CHECK_EQUAL(digest, storage::record_digest(b("overwritten"), dvv::prune(full, {5})));
  BOOST_CHECK_NE(digest, storage::record_digest(b("overwritten"), full));
}

BOOST_FIXTURE_TEST_CASE(pruning_passes_stop_once_one_finds_nothing_and_a_new_id_starts_them,
                        sqlite_collector_fixture) {
  BOOST_REQUIRE(!engine->begin());
  for (int i = 0; i < 5000; ++i)
    BOOST_REQUIRE(!engine->put(part, b("live" + std::to_string(i)), written("v", 1, 1'000'000)));
  BOOST_REQUIRE(!engine->put(part, b("overwritten"), overwrite(1'000'000)));
  BOOST_REQUIRE(!engine->commit());
  *n2 = overwrite(1'000'000);
  *n3 = overwrite(1'000'000);
  peers_up(true);
  retire({5});
  auto decoded_in = [&](caf::timespan d) {
    auto before = storage::records_decoded();
    advance(d);
    return storage::records_decoded() - before;
  };
  // Sweeps every 2.5 s: the first prunes the record, the next finds nothing left.
  auto passes = decoded_in(6s);
  BOOST_TEST_MESSAGE("records decoded by the sweeps that prune: " << passes);
  BOOST_CHECK_GE(passes, 2u * 5000u);
  BOOST_CHECK_EQUAL(pruned(), 1u);
  // From then on a sweep reads the dying records only (the due tombstone: collection is held
  // up, the scripted replicas answer with another record).
  auto after = decoded_in(5s);
  BOOST_TEST_MESSAGE("records decoded by two sweeps after them: " << after);
  BOOST_CHECK_LT(after, 10u);
  // A newly retired id starts the passes again.
  retire({5, 6});
  auto again = decoded_in(3s);
  BOOST_TEST_MESSAGE("records decoded by the sweep after a new id: " << again);
  BOOST_CHECK_GE(again, 5000u);
}

BOOST_AUTO_TEST_SUITE_END()
