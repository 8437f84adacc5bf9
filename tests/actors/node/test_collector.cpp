// The tombstone collector on the test coordinator, over a storage actor (in-memory engine; SQLite
// where a sweep's cost is measured) and two scripted peer vnodes: a tombstone past its grace
// period is erased only while every other home replica is up and holds the identical tombstone or
// nothing.
#include <boost/test/unit_test.hpp>

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
#include "messages/error.hpp"
#include "storage/engine.hpp"
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
        [=](batch_atom, const std::vector<replica_call>&)
            -> caf::result<std::vector<replica_answer>> {
          return caf::make_error(ec::bad_request, "the collector sends no batches");
        },
        [=](tree_atom, partition_id, uint32_t) -> caf::result<std::vector<uint64_t>> {
          return std::vector<uint64_t>{};
        },
        [=](leafkeys_atom, partition_id, const std::vector<uint64_t>&)
            -> caf::result<std::vector<key_digest>> { return std::vector<key_digest>{}; },
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

  uint64_t collected() {
    uint64_t out = UINT64_MAX;
    self->send(collector, status_atom::value);
    run();
    self->receive([&](uint64_t n, uint64_t) { out = n; },
                  caf::after(std::chrono::seconds(0)) >> [] { BOOST_FAIL("no status"); });
    return out;
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

BOOST_AUTO_TEST_SUITE_END()
