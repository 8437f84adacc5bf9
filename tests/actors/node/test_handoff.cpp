// The handoff worker on the test coordinator: a partition streamed from a storage actor (over the
// in-memory engine) to a scripted target vnode that counts every record it is sent and fails on
// command, so the tests see what is sent, resent and skipped.
#include <boost/test/unit_test.hpp>

#include <set>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/handoff.hpp"
#include "actors/node/storage_actor.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "storage/engine.hpp"
#include "tests/actors/common.hpp"
#include "tests/actors/node/handoff_target.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr partition_id part = 3;

/// A handoff listener double: remembers the transfers and releases reported.
struct listener_log {
  std::vector<partition_transfer> transfers;
  std::vector<partition_id> releases;
};

handoff_listener_actor spawn_listener(caf::actor_system& sys, std::shared_ptr<listener_log> log) {
  return sys.spawn([log](handoff_listener_actor::pointer) -> handoff_listener_actor::behavior_type {
    return {
        [=](transfer_atom, uint64_t, const partition_transfer& t) { log->transfers.push_back(t); },
        [=](release_atom, partition_id p) { log->releases.push_back(p); },
    };
  });
}

/// A record holding one value, written at `ts_us` by replica 7.
record written(const std::string& value, uint64_t counter, int64_t ts_us) {
  record r;
  r.context.entries = {dot{7, counter}};
  sibling s;
  s.origin = dot{7, counter};
  s.timestamp_us = ts_us;
  s.value = b(value);
  r.siblings = {s};
  return r;
}

std::string key_name(int i) {
  auto n = std::to_string(i);
  return "key" + std::string(4 - n.size(), '0') + n;
}

struct handoff_fixture : deterministic_fixture {
  std::shared_ptr<storage::engine> engine{storage::make_memory_engine()};
  storage_actor storage;
  std::shared_ptr<target_log> target = std::make_shared<target_log>();
  std::shared_ptr<listener_log> listener = std::make_shared<listener_log>();
  handoff_actor handoff;
  vnode_actor target_vnode;
  std::vector<bytes> order; ///< the keys in the order storage streams them

  /// `records` records in partition `part`, written long ago (timestamps near 0).
  explicit handoff_fixture(int records = 200) {
    for (int i = 0; i < records; ++i)
      BOOST_REQUIRE(!engine->put(part, b(key_name(i)), written("old", i + 1, 1000 + i)));
    BOOST_REQUIRE(!engine->for_each(part, [&](const bytes& key, caf::expected<record>&&) {
      order.push_back(key);
      return true;
    }));
    storage_options so{"n1", 1, conflict_mode::siblings};
    so.partitions = 8;
    so.detached = false;
    so.seed = 1;
    storage = keep(spawn_storage(sys, engine, so));
    target_vnode = keep(spawn_handoff_target(sys, target, part));
    handoff_options ho;
    ho.node = "n1";
    ho.storage = storage;
    ho.listener = keep(spawn_listener(sys, listener));
    ho.batch = 10;
    ho.drop_batch = 50;
    ho.retry = 1000ms;
    ho.background = background;
    handoff = keep(spawn_handoff(sys, ho));
  }

  /// Paces the worker (its clock is the test's virtual one); idle, it lets batches go at once.
  std::shared_ptr<background_gate> background = [this] {
    background_pace_options o;
    o.target_p99 = 10ms;
    o.window = 1000ms;
    o.max_rate = 200;
    o.max_slowdown = 1; // slow clients hold the gate at its floor: this tests the worker
    return std::make_shared<background_gate>(o, sched.clock().now());
  }();

  /// A second of client requests taking `latency` each (200 of them), then the window ends.
  void foreground_second(std::chrono::milliseconds latency) {
    for (int i = 0; i < 200; ++i)
      background->foreground(latency, sched.clock().now());
    advance(1000ms);
  }

  /// The target's node "n2" up (or down) with its vnodes.
  void target_up(bool up) {
    self->send(handoff, peer_atom::value,
               std::vector<peer_view>{peer_view{"n2", up, target_vnode, {}}});
    run();
  }

  void start() {
    target_up(true);
    self->send(handoff, handoff_atom::value, uint64_t{1},
               std::vector<handoff_task>{handoff_task{part, {"n2"}, false}});
    run();
  }

  handoff_stats stats() {
    handoff_stats out;
    self->send(handoff, status_atom::value);
    run();
    self->receive([&](handoff_stats& s) { out = s; },
                  caf::after(std::chrono::seconds(0)) >> [] { BOOST_FAIL("no status"); });
    return out;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(handoff)

BOOST_FIXTURE_TEST_CASE(a_partition_is_streamed_once_batch_after_batch, handoff_fixture) {
  start();
  BOOST_REQUIRE_EQUAL(listener->transfers.size(), 1u);
  BOOST_CHECK_EQUAL(listener->transfers[0].partition, part);
  BOOST_CHECK_EQUAL(target->held.size(), 200u);
  BOOST_CHECK_EQUAL(target->total(), 200u);
  for (auto& [key, n] : target->merges)
    BOOST_CHECK_EQUAL(n, 1u);
  BOOST_CHECK_EQUAL(stats().keys_sent, 200u);
  BOOST_CHECK_EQUAL(stats().keys_total, 200u);
}

BOOST_FIXTURE_TEST_CASE(an_interrupted_transfer_resumes_after_its_last_acknowledged_key,
                        handoff_fixture) {
  // Batches of 10: the target takes 5 batches and half of the 6th, then refuses.
  target->accept = 55;
  start();
  BOOST_REQUIRE(listener->transfers.empty());
  BOOST_CHECK_EQUAL(target->total(), 60u);
  // While the target is away, a client overwrites a key the target already has and one it has
  // not had yet (stamped now, as a coordinator would).
  auto now_us = system_wall_clock_us();
  auto had = order[10];
  auto not_yet = order[150];
  self->send(storage, merge_atom::value, part, had, written("new", 1000, now_us));
  self->send(storage, merge_atom::value, part, not_yet, written("new", 1001, now_us));
  run();
  // The target is back; after the retry interval the stream goes on.
  target->accept = UINT32_MAX;
  advance(1500ms);
  BOOST_REQUIRE_EQUAL(listener->transfers.size(), 1u);
  BOOST_CHECK_EQUAL(target->held.size(), 200u);
  // The 50 keys acknowledged before the interruption were not sent again (the old worker
  // restarted from the partition's first key and sent all 200 a second time)...
  for (int i = 0; i < 50; ++i)
    if (i != 10)
      BOOST_CHECK_MESSAGE(target->merges[order[i]] == 1u, "the " << i << "th key was sent "
                                                                 << target->merges[order[i]]
                                                                 << " times");
  // ...but the one written meanwhile was (a catch-up pass sends what was stamped since the
  // target was last reached), and every key ends up with its newest record.
  BOOST_CHECK_EQUAL(target->merges[had], 2u);
  for (auto& key : {had, not_yet}) {
    auto& held = target->held[key];
    BOOST_REQUIRE_EQUAL(held.siblings.size(), 1u); // its context covers the old write
    BOOST_CHECK(held.siblings[0].value == b("new"));
  }
  // Sent in all: 200, the interrupted batch again, and the two records written meanwhile again
  // (the catch-up pass cannot tell which of them the resumed pass already sent).
  BOOST_TEST_MESSAGE("records sent for 200 keys: " << target->total());
  BOOST_CHECK_LE(target->total(), 200u + 10u + 2u);
}

BOOST_FIXTURE_TEST_CASE(a_transfer_waits_for_a_target_that_is_down_and_resumes, handoff_fixture) {
  target->accept = 30;
  start();
  target_up(false);
  target->accept = UINT32_MAX;
  advance(3000ms); // retried while the target is down: nothing is sent
  BOOST_CHECK_EQUAL(target->total(), 40u);
  BOOST_CHECK(listener->transfers.empty());
  target_up(true);
  advance(1500ms);
  BOOST_REQUIRE_EQUAL(listener->transfers.size(), 1u);
  BOOST_CHECK_EQUAL(target->held.size(), 200u);
  BOOST_CHECK_LE(target->total(), 200u + 10u);
}

BOOST_FIXTURE_TEST_CASE(batches_wait_between_them_while_client_requests_are_slow, handoff_fixture) {
  // Client requests at 50 ms, five times the 10 ms target: the background rate halves from 200
  // to 100 batches a second, 10 ms between batches.
  foreground_second(50ms);
  BOOST_REQUIRE_EQUAL(background->read(sched.clock().now()).rate, 100.0);
  start();
  BOOST_CHECK_EQUAL(target->total(), 10u); // one batch, then a pause
  advance(45ms);
  BOOST_CHECK_LE(target->total(), 60u);
  BOOST_CHECK_GE(target->total(), 40u);
  advance(200ms);
  BOOST_CHECK_EQUAL(target->total(), 200u);
  BOOST_CHECK_EQUAL(listener->transfers.size(), 1u);
}

BOOST_FIXTURE_TEST_CASE(fast_client_requests_leave_the_stream_at_full_speed, handoff_fixture) {
  foreground_second(1ms);
  start(); // no virtual time passes: every batch goes as soon as the last was acknowledged
  BOOST_CHECK_EQUAL(target->total(), 200u);
  BOOST_CHECK_EQUAL(listener->transfers.size(), 1u);
}

BOOST_FIXTURE_TEST_CASE(batches_do_not_wait_the_pause_the_target_asks, handoff_fixture) {
  // The target's pace asks a second between units: it is slow because it takes the handoff in
  // (a joining node). Waiting for it held a 10M join at a fifth of its speed.
  foreground_second(1ms);
  target->pause_ms = 1000;
  start(); // no virtual time passes: every batch goes as soon as the last was acknowledged
  BOOST_CHECK_EQUAL(target->total(), 200u);
  BOOST_CHECK_EQUAL(listener->transfers.size(), 1u);
}

BOOST_FIXTURE_TEST_CASE(a_released_partition_is_deleted_in_bounded_steps_that_wait_for_slow_clients,
                        handoff_fixture) {
  // This node hands partition `part` to n2 and then deletes its own copy, 50 records a step,
  // while client requests stay at 50 ms (the rate falls to one unit a second): the deletion
  // waits between steps, so no single storage request deletes the whole partition.
  target_up(true);
  self->send(handoff, handoff_atom::value, uint64_t{1},
             std::vector<handoff_task>{handoff_task{part, {"n2"}, true}});
  std::vector<uint64_t> held;               // the records left here, second by second
  std::set<uint32_t> queued_while_deleting; // what status counts meanwhile
  for (int second = 0; second < 60 && listener->releases.empty(); ++second) {
    foreground_second(50ms);
    auto n = engine->count(part);
    BOOST_REQUIRE(n);
    held.push_back(*n);
    if (*n > 0 && *n < 200)
      queued_while_deleting.insert(stats().tasks_queued);
  }
  BOOST_REQUIRE_EQUAL(listener->releases.size(), 1u);
  BOOST_CHECK_EQUAL(target->held.size(), 200u); // n2 got everything first
  BOOST_CHECK_EQUAL(held.back(), 0u);
  std::set<uint64_t> between;
  for (auto n : held)
    if (n > 0 && n < 200)
      between.insert(n);
  // 200 records in steps of 50: 150, 100 and 50 left at some second.
  BOOST_CHECK_EQUAL(between.size(), 3u);
  // The release counts as queued until the last record is deleted.
  BOOST_TEST((queued_while_deleting == std::set<uint32_t>{1}));
  BOOST_CHECK_EQUAL(stats().tasks_queued, 0u);
}

BOOST_FIXTURE_TEST_CASE(a_release_sends_the_new_replica_only_the_records_it_lacks,
                        handoff_fixture) {
  // n2 took partition `part` in during the change, all but ten keys, and five it holds in an
  // older version; it also holds a key written only there. Releasing the partition sends those
  // fifteen, nothing else, and then deletes it here. (Releases once streamed all 200.)
  for (int i = 10; i < 200; ++i)
    target->preload(part, b(key_name(i)),
                    i < 15 ? written("older", i, 500 + i) : written("old", i + 1, 1000 + i));
  target->preload(part, b("only-there"), written("new", 1, 5000));
  target_up(true);
  self->send(handoff, handoff_atom::value, uint64_t{1},
             std::vector<handoff_task>{handoff_task{part, {"n2"}, true}});
  for (int second = 0; second < 60 && listener->releases.empty(); ++second)
    foreground_second(1ms);
  BOOST_REQUIRE_EQUAL(listener->releases.size(), 1u);
  std::set<bytes> sent;
  for (auto& [key, count] : target->merges) {
    BOOST_TEST(count == 1u);
    sent.insert(key);
  }
  std::set<bytes> lacked;
  for (int i = 0; i < 15; ++i)
    lacked.insert(b(key_name(i)));
  BOOST_TEST((sent == lacked));
  BOOST_CHECK_EQUAL(target->held.size(), 201u);
  for (int i = 0; i < 200; ++i) { // n2 holds this node's version of every key
    auto& rec = target->held[b(key_name(i))];
    BOOST_REQUIRE_EQUAL(rec.siblings.size(), 1u);
    BOOST_TEST((rec.siblings[0].value == b("old")), key_name(i));
  }
  BOOST_CHECK_EQUAL(*engine->count(part), 0u);
  BOOST_CHECK_EQUAL(stats().keys_sent, 15u);
}

BOOST_FIXTURE_TEST_CASE(a_release_to_a_new_replica_that_holds_everything_sends_nothing,
                        handoff_fixture) {
  for (int i = 0; i < 200; ++i)
    target->preload(part, b(key_name(i)), written("old", i + 1, 1000 + i));
  target_up(true);
  self->send(handoff, handoff_atom::value, uint64_t{1},
             std::vector<handoff_task>{handoff_task{part, {"n2"}, true}});
  auto queued_while_waiting = stats().tasks_queued; // the release grace
  for (int second = 0; second < 60 && listener->releases.empty(); ++second)
    foreground_second(1ms);
  BOOST_REQUIRE_EQUAL(listener->releases.size(), 1u);
  BOOST_CHECK_EQUAL(target->total(), 0u);
  BOOST_CHECK_EQUAL(*engine->count(part), 0u);
  BOOST_CHECK_EQUAL(queued_while_waiting, 1u);
  BOOST_CHECK_EQUAL(stats().tasks_queued, 0u);
}

BOOST_AUTO_TEST_SUITE_END()
