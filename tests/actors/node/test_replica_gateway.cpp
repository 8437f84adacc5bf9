// The coordinator and the replica gateways it sends batches to, on CAF's test coordinator:
// every message is run by the test and time is virtual, so timeouts are exact and nothing
// sleeps. Three "nodes" are a storage actor (in-memory engine) behind a gateway each, as a
// coordinator reaches other nodes; test doubles stand in for replicas that never answer or that
// record the batches they get.
#include <boost/test/unit_test.hpp>

#include <memory>

#include <caf/all.hpp>

#include "actors/batching/batch_outbox.hpp"
#include "actors/node/background_gate.hpp"
#include "actors/node/coordinator.hpp"
#include "actors/node/replica_gateway.hpp"
#include "actors/node/storage_actor.hpp"
#include "cluster-config/ring.hpp"
#include "storage/engine.hpp"
#include "tests/actors/common.hpp"
#include "tests/actors/node/replicas.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

/// A gateway that takes every batch and never answers, like a peer whose link was cut.
replica_gateway_actor spawn_silent_gateway(caf::actor_system& sys) {
  return sys.spawn([](replica_gateway_actor::pointer) -> replica_gateway_actor::behavior_type {
    return {[=](batch_atom, std::vector<replica_call>&) {}};
  });
}

/// The messages that crossed a recording relay: per message, its items and their estimated size.
struct traffic {
  std::vector<size_t> call_batches, call_bytes;     ///< coordinator -> gateway
  std::vector<size_t> answer_batches, answer_bytes; ///< gateway -> coordinator
};

/// Stands between a coordinator and a gateway, as the network does, and records what crosses.
using relay_actor = replica_gateway_actor::extend_with<replica_answers_actor>;

struct relay_state {
  replica_answers_actor coordinator;
};

relay_actor spawn_recording_relay(caf::actor_system& sys, replica_gateway_actor gateway,
                                  std::shared_ptr<traffic> seen) {
  return sys.spawn(
      [=](relay_actor::stateful_pointer<relay_state> self) -> relay_actor::behavior_type {
        return {
            [=](batch_atom, std::vector<replica_call>& calls) {
              size_t n = 0;
              for (auto& c : calls)
                n += estimated_wire_bytes(c);
              seen->call_batches.push_back(calls.size());
              seen->call_bytes.push_back(n);
              self->state.coordinator =
                  caf::actor_cast<replica_answers_actor>(self->current_sender());
              self->send(gateway, batch_atom::value, std::move(calls));
            },
            [=](batch_atom, std::vector<replica_answer>& answers) {
              size_t n = 0;
              for (auto& a : answers)
                n += estimated_wire_bytes(a);
              seen->answer_batches.push_back(answers.size());
              seen->answer_bytes.push_back(n);
              self->send(self->state.coordinator, batch_atom::value, std::move(answers));
            },
        };
      });
}

/// Whether every recorded message stays within max_batch_bytes or holds a single item.
bool within_batch_limit(const std::vector<size_t>& items, const std::vector<size_t>& bytes) {
  for (size_t i = 0; i < items.size(); ++i)
    if (bytes[i] > max_batch_bytes && items[i] > 1)
      return false;
  return true;
}

struct gateway_fixture : deterministic_fixture {
  std::vector<storage_actor> stores;
  std::vector<local_gateway_actor> gateways;

  gateway_fixture() {
    for (replica_id id = 1; id <= 3; ++id) {
      // Two partitions: most tests route every key to one (one_partition), one uses both.
      stores.push_back(spawn_memory_storage(*this, id, 2));
      gateways.push_back(keep(spawn_replica_gateway(sys, stores.back())));
    }
  }

  /// Routes with one partition (every key) whose replicas are peers' gateways, in order.
  static routes one_partition(std::vector<replica_gateway_actor> replicas, uint32_t r = 2,
                              uint32_t w = 2) {
    coordination_plan plan;
    for (size_t i = 0; i < replicas.size(); ++i)
      plan.replicas.push_back({"n" + std::to_string(i + 1), {}, {}, replicas[i]});
    plan.replicas_total = 3;
    plan.read_quorum = r;
    plan.write_quorum = w;
    routes out;
    out.plans.push_back(std::move(plan));
    return out;
  }

  coordinator_actor coordinator(std::vector<replica_gateway_actor> replicas, uint32_t r = 2,
                                uint32_t w = 2, std::shared_ptr<memory_budget> budget = nullptr) {
    coordinator_options o{one_partition(std::move(replicas), r, w), 1s};
    o.budget = std::move(budget);
    return keep(spawn_coordinator(sys, std::move(o)));
  }

  std::vector<replica_gateway_actor> all_gateways() const {
    return {gateways[0], gateways[1], gateways[2]};
  }

  /// Sends `calls` in one batch and runs everything that is ready (no time passes).
  void send(const coordinator_actor& c, std::vector<client_call> calls) {
    self->send(c, batch_atom::value, std::move(calls));
    run();
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(coordinator_and_gateways)

BOOST_FIXTURE_TEST_CASE(many_calls_in_flight_each_get_their_own_answer_in_few_batches,
                        gateway_fixture) {
  auto seen = std::make_shared<traffic>();
  std::vector<replica_gateway_actor> replicas;
  for (auto& g : gateways)
    replicas.push_back(keep(spawn_recording_relay(sys, g, seen)));
  auto c = coordinator(replicas);
  std::vector<client_call> puts, gets;
  for (uint64_t i = 0; i < 500; ++i) {
    puts.push_back(put_call(b("k" + std::to_string(i)), b("v" + std::to_string(i)), {}, i));
    gets.push_back(get_call(b("k" + std::to_string(i)), i));
  }
  send(c, std::move(puts));
  auto written = client_answers();
  BOOST_REQUIRE_EQUAL(written.size(), 500u);
  for (auto& [id, a] : written)
    BOOST_TEST((!a.err && a.write.acks >= 2u), "put " << id << ": " << describe(a.err));
  // 500 coordinations and 1000 merges travelled in a handful of messages, and so did the answers.
  BOOST_TEST(seen->call_batches.size() <= 6u);
  BOOST_TEST(seen->answer_batches.size() <= 6u);
  send(c, std::move(gets));
  auto read = client_answers();
  BOOST_REQUIRE_EQUAL(read.size(), 500u);
  for (auto& [id, a] : read)
    BOOST_TEST((a.get.values == std::vector<bytes>{b("v" + std::to_string(id))}), "get " << id);
}

BOOST_FIXTURE_TEST_CASE(large_values_are_split_over_batches_both_ways, gateway_fixture) {
  // 40 values of 100 KiB at once: 4 MB for each replica, cut into batches of at most
  // max_batch_bytes, so that no message nears a node's max_frame_bytes. Reading them back in one
  // batch asks little, but the answers carry the 4 MB: they come back cut too.
  auto seen = std::make_shared<traffic>();
  std::vector<replica_gateway_actor> replicas;
  for (auto& g : gateways)
    replicas.push_back(keep(spawn_recording_relay(sys, g, seen)));
  auto c = coordinator(replicas);
  std::vector<client_call> puts, gets;
  for (uint64_t i = 0; i < 40; ++i) {
    puts.push_back(
        put_call(b("big" + std::to_string(i)), bytes(100 * 1024, uint8_t('a' + i % 26)), {}, i));
    gets.push_back(get_call(b("big" + std::to_string(i)), i));
  }
  send(c, std::move(puts));
  auto written = client_answers();
  BOOST_REQUIRE_EQUAL(written.size(), 40u);
  for (auto& [id, a] : written)
    BOOST_TEST(!a.err, "put " << id << ": " << describe(a.err));
  BOOST_TEST(seen->call_batches.size() >= 3u * 40 * 100 * 1024 / max_batch_bytes);
  BOOST_TEST(within_batch_limit(seen->call_batches, seen->call_bytes));
  auto answers_before = seen->answer_batches.size();
  send(c, std::move(gets));
  auto read = client_answers();
  BOOST_REQUIRE_EQUAL(read.size(), 40u);
  for (auto& [id, a] : read)
    BOOST_TEST((a.get.values == std::vector<bytes>{bytes(100 * 1024, uint8_t('a' + id % 26))}));
  BOOST_TEST(seen->answer_batches.size() - answers_before >=
             2u * 40 * 100 * 1024 / max_batch_bytes);
  BOOST_TEST(within_batch_limit(seen->answer_batches, seen->answer_bytes));
}

BOOST_FIXTURE_TEST_CASE(a_replica_dropped_from_the_routes_fails_its_calls_at_once,
                        gateway_fixture) {
  auto silent = keep(spawn_silent_gateway(sys));
  auto c = coordinator({gateways[0], silent});
  send(c, {put_call(b("k"), b("v"))});
  BOOST_TEST(!has_mail()); // stored at n1, waiting for n2's acknowledgement
  // The node learns that n2 is down: new routes without it. No time passes.
  self->send(c, routes_atom::value, one_partition({gateways[0]}));
  run();
  auto a = one_client_answer();
  BOOST_TEST((a.err == ec::maybe_applied), describe(a.err));
  BOOST_TEST(describe(a.err).find("1 of 3 replicas stored it, 2 needed") != std::string::npos,
             describe(a.err));
}

BOOST_FIXTURE_TEST_CASE(route_changes_replace_only_the_plans_named_and_fail_calls_to_gone_replicas,
                        gateway_fixture) {
  // Two partitions: p0 on n1 and a silent n2, p1 on n1 and n3. Keys of each.
  auto silent = keep(spawn_silent_gateway(sys));
  auto two = one_partition({gateways[0], silent});
  two.plans.push_back(one_partition({gateways[0], gateways[2]}).plans[0]);
  two.plans[1].replicas[1].node = "n3";
  coordinator_options o{two, 1s};
  auto c = keep(spawn_coordinator(sys, std::move(o)));
  auto key_of = [](partition_id p) {
    for (int i = 0;; ++i)
      if (partition_of(b("k" + std::to_string(i)), 2) == p)
        return b("k" + std::to_string(i));
  };
  send(c, {put_call(key_of(0), b("v"))});
  BOOST_TEST(!has_mail()); // stored at n1, waiting for n2's acknowledgement
  // n2 goes down: only p0's plan changes, sent alone. No time passes.
  route_changes changes;
  changes.partitions = {0};
  changes.plans = {one_partition({gateways[0]}).plans[0]};
  self->send(c, routes_atom::value, changes);
  run();
  auto a = one_client_answer();
  BOOST_TEST((a.err == ec::maybe_applied), describe(a.err));
  // p1 kept its routes: a write there (W = 2 of its two replicas) is acknowledged by n1 and n3.
  send(c, {put_call(key_of(1), b("w"))});
  a = one_client_answer();
  BOOST_TEST(!a.err, describe(a.err));
}

BOOST_FIXTURE_TEST_CASE(a_replica_that_never_answers_fails_by_the_request_timeout,
                        gateway_fixture) {
  auto c = coordinator({gateways[0], keep(spawn_silent_gateway(sys))});
  send(c, {get_call(b("k"), 1)});
  advance(990ms);
  BOOST_TEST(!has_mail()); // R = 2 and only n1 answered, within the 1 s timeout
  advance(120ms);          // the timeout is checked every 100 ms
  auto a = one_client_answer();
  BOOST_TEST((a.err == ec::unavailable), describe(a.err));
  BOOST_TEST(describe(a.err).find("1 of 3 replicas answered, 2 needed") != std::string::npos,
             describe(a.err));
}

BOOST_FIXTURE_TEST_CASE(injected_drops_and_delays_hold_batches_back_at_the_gateway,
                        gateway_fixture) {
  auto c = coordinator(all_gateways());
  send(c, {put_call(b("k"), b("v"))});
  BOOST_REQUIRE(!one_client_answer().err);
  auto rule_for_this_process = [&](fault_rule rule) {
    fault_rules rules;
    rules.by_process[sys.node()] = rule;
    self->send(gateways[1], fault_atom::value, rules);
    self->send(gateways[2], fault_atom::value, rules);
    run();
  };
  // n2 and n3 drop what comes from here: a get (R = 2) fails once the request timeout passed.
  rule_for_this_process(fault_rule{true, 0});
  send(c, {get_call(b("k"), 2)});
  advance(990ms);
  BOOST_TEST(!has_mail());
  advance(120ms);
  BOOST_TEST((one_client_answer().err == ec::unavailable));
  // Delayed by 300 ms instead: the answer comes, 300 ms late.
  rule_for_this_process(fault_rule{false, 300});
  send(c, {get_call(b("k"), 3)});
  advance(290ms);
  BOOST_TEST(!has_mail());
  advance(20ms);
  auto late = one_client_answer();
  BOOST_TEST((!late.err && late.get.values == std::vector<bytes>{b("v")}), describe(late.err));
  // Healed: answered at once.
  self->send(gateways[1], fault_atom::value, fault_rules{});
  self->send(gateways[2], fault_atom::value, fault_rules{});
  send(c, {get_call(b("k"), 4)});
  BOOST_TEST(!one_client_answer().err);
}

BOOST_FIXTURE_TEST_CASE(writes_beyond_the_memory_budget_are_refused_before_any_replica_sees_them,
                        gateway_fixture) {
  // Room for two writes of 1000 bytes (3 replicas: 8 copies of 1000 + 1 + 512 bytes each), and
  // the third replica never answers, so each write holds its charge until the request timeout.
  auto budget = std::make_shared<memory_budget>(budget_for_writes(1001, 3, 2));
  auto seen = std::make_shared<traffic>();
  auto c = coordinator(
      {gateways[0], gateways[1], keep(spawn_recording_relay(sys, spawn_silent_gateway(sys), seen))},
      2, 2, budget);
  send(c, {put_call(b("a"), bytes(1000, 'a'), {}, 1), put_call(b("b"), bytes(1000, 'b'), {}, 2),
           put_call(b("c"), bytes(1000, 'c'), {}, 3)});
  auto answers = client_answers();
  BOOST_REQUIRE_EQUAL(answers.size(), 3u);
  BOOST_TEST(!answers[1].err, describe(answers[1].err));
  BOOST_TEST(!answers[2].err, describe(answers[2].err));
  BOOST_TEST((answers[3].err == ec::overloaded), describe(answers[3].err));
  BOOST_TEST(describe(answers[3].err).find("overloaded: a put of 1001 bytes needs 11.8 KiB") == 0u,
             describe(answers[3].err));
  BOOST_TEST(budget->used() == 2 * write_charge(1001, 3)); // the silent replica holds them
  BOOST_TEST(budget->refused() == 1u);
  // The refused write reached no replica: "c" is stored nowhere, and only a and b went out.
  size_t calls = 0;
  for (auto n : seen->call_batches)
    calls += n;
  BOOST_TEST(calls == 2u);
  // A get is charged too (for answers of up to inline_read_bytes from each replica): refused
  // while the writes hold the budget, before any replica is asked.
  send(c, {get_call(b("c"), 4)});
  auto shed = one_client_answer();
  BOOST_TEST((shed.err == ec::overloaded), describe(shed.err));
  BOOST_TEST(describe(shed.err).find("overloaded: a get needs 99.0 KiB") == 0u, describe(shed.err));
  BOOST_TEST(describe(shed.err).find("nothing was read: retry shortly") != std::string::npos);
  BOOST_TEST(budget->refused() == 2u);
  advance(1200ms);
  // Once the silent replica's calls timed out, every charge is back: the get passes (alone, past
  // the clients' share) and so do writes.
  BOOST_TEST(budget->used() == 0u);
  send(c, {get_call(b("c"), 6)});
  advance(1200ms); // the get needs the silent one too (R = 2 of n1, n2): answered, not found
  auto got = client_answers();
  BOOST_TEST((got.count(6) == 1 && !got[6].err && !got[6].get.found), describe(got[6].err));
  BOOST_TEST(budget->used() == 0u);
  send(c, {put_call(b("c"), bytes(1000, 'c'), {}, 5)});
  auto again = one_client_answer();
  BOOST_TEST(!again.err, describe(again.err));
  advance(1200ms);
  BOOST_TEST(budget->used() == 0u);
}

BOOST_FIXTURE_TEST_CASE(gets_of_large_records_are_read_whole_only_once_the_budget_holds_them,
                        gateway_fixture) {
  // Four values of 100,000 bytes, stored without a budget.
  auto writer = coordinator(all_gateways());
  for (uint64_t i = 1; i <= 4; ++i) {
    send(writer, {put_call(b("k" + std::to_string(i)), bytes(100000, 'a' + i), {}, i)});
    BOOST_REQUIRE(!one_client_answer().err);
  }
  // Through a coordinator with a budget whose clients' share (1,095,000 bytes) holds the four
  // gets' admissions (6 copies of inline_read_bytes each) and one of them grown to 6 copies of
  // its record, not two.
  auto budget = std::make_shared<memory_budget>(1460000);
  coordinator_options o{one_partition(all_gateways()), 1s};
  o.budget = budget;
  auto c = keep(spawn_coordinator(sys, std::move(o)));
  send(c, {get_call(b("k1"), 1), get_call(b("k2"), 2), get_call(b("k3"), 3), get_call(b("k4"), 4)});
  auto got = client_answers();
  BOOST_REQUIRE_EQUAL(got.size(), 4u);
  BOOST_TEST((!got[1].err && got[1].get.values == std::vector<bytes>{bytes(100000, 'b')}),
             describe(got[1].err));
  for (uint64_t i = 2; i <= 4; ++i) {
    BOOST_TEST((got[i].err == ec::overloaded), describe(got[i].err));
    BOOST_TEST(describe(got[i].err).find("a get of a record of 97.") != std::string::npos,
               describe(got[i].err));
    BOOST_TEST(describe(got[i].err).find("nothing was read: retry shortly") != std::string::npos,
               describe(got[i].err));
  }
  // The replicas never sent more than the rounds held.
  BOOST_TEST(budget->peak() <= memory_budget::client_share(1460000));
  BOOST_TEST(budget->used() == 0u); // every round gave its charge back
  // Alone, a get is served whole.
  send(c, {get_call(b("k3"), 5)});
  auto one = one_client_answer();
  BOOST_TEST((!one.err && one.get.values == std::vector<bytes>{bytes(100000, 'd')}),
             describe(one.err));
  BOOST_TEST(budget->peak() >= read_charge(100000, 3));
  BOOST_TEST(budget->used() == 0u);
}

BOOST_FIXTURE_TEST_CASE(storage_withholds_a_record_above_the_calls_inline_limit, gateway_fixture) {
  auto c = coordinator(all_gateways());
  send(c, {put_call(b("big"), bytes(100000, 'b'), {}, 1), put_call(b("small"), b("s"), {}, 2)});
  BOOST_REQUIRE_EQUAL(client_answers().size(), 2u);
  auto read = [&](const std::string& key, uint64_t limit) {
    replica_call r;
    r.kind = replica_call_kind::read;
    r.key = b(key);
    r.inline_limit = limit;
    r.id = 7;
    replica_read out;
    auto asked = self->request(stores[0], caf::infinite, batch_atom::value,
                               std::vector<replica_call>{std::move(r)});
    run();
    asked.receive(
        [&](std::vector<replica_answer>& xs) {
          BOOST_REQUIRE_EQUAL(xs.size(), 1u);
          BOOST_TEST(!xs[0].err, describe(xs[0].err));
          out = std::move(xs[0].read);
        },
        [&](caf::error& err) { BOOST_FAIL(describe(err)); });
    return out;
  };
  auto withheld = read("big", inline_read_bytes);
  BOOST_TEST(withheld.found);
  BOOST_TEST(withheld.rec.siblings.empty()); // only its size travels
  BOOST_TEST(withheld.withheld_bytes > 100000u);
  BOOST_TEST(withheld.withheld_bytes < 100000u + 1024);
  auto whole = read("big", 0);
  BOOST_TEST((whole.found && whole.withheld_bytes == 0u));
  BOOST_REQUIRE_EQUAL(whole.rec.siblings.size(), 1u);
  BOOST_TEST(whole.rec.siblings[0].value.size() == 100000u);
  auto small = read("small", inline_read_bytes);
  BOOST_TEST((small.found && small.withheld_bytes == 0u && small.rec.siblings.size() == 1u));
  auto missing = read("none", inline_read_bytes);
  BOOST_TEST((!missing.found && missing.withheld_bytes == 0u));
}

BOOST_FIXTURE_TEST_CASE(a_replica_out_of_budget_refuses_writes_and_still_serves_reads,
                        gateway_fixture) {
  // n2's gateway has a budget already full: it refuses replica writes as overloaded, unstored.
  auto full = std::make_shared<memory_budget>(100000);
  auto taken = full->take(100000, budget_class::replication);
  auto n2 = keep(spawn_replica_gateway(sys, stores[1], full));
  // W = 2 of n1, n2: stored on n1 only, so the reply is maybe_applied, never overloaded.
  auto c = coordinator({gateways[0], n2}, 2, 2);
  send(c, {put_call(b("k"), b("v"), {}, 1)});
  auto a = one_client_answer();
  BOOST_TEST((a.err == ec::maybe_applied), describe(a.err));
  BOOST_TEST(describe(a.err).find("1 of 3 replicas stored it, 2 needed (last failure: overloaded: "
                                  "1 replica writes from a peer needs") != std::string::npos,
             describe(a.err));
  // n2 as the coordinating replica: it refuses, n1 is asked next and stores it; W = 2 is out of
  // reach with only these two, so maybe_applied again (n1 stored it).
  auto c2 = coordinator({n2, gateways[0]}, 2, 2);
  send(c2, {put_call(b("k2"), b("v"), {}, 2)});
  BOOST_TEST((one_client_answer().err == ec::maybe_applied));
  // Both replicas out of budget: nothing stored anywhere, and the client hears overloaded.
  auto also_full = std::make_shared<memory_budget>(100000);
  auto taken_too = also_full->take(100000, budget_class::replication);
  auto n1 = keep(spawn_replica_gateway(sys, stores[0], also_full));
  auto c3 = coordinator({n2, n1}, 2, 2);
  send(c3, {put_call(b("k3"), b("v"), {}, 3)});
  auto none = one_client_answer();
  BOOST_TEST((none.err == ec::overloaded), describe(none.err));
  // Reads pass a full budget: n1 and n2 answer k (on n1 only).
  auto reader = coordinator({gateways[0], n2}, 2, 2);
  send(reader, {get_call(b("k"), 4), get_call(b("k3"), 5)});
  auto got = client_answers();
  BOOST_TEST((!got[4].err && got[4].get.found), describe(got[4].err));
  BOOST_TEST((!got[5].err && !got[5].get.found), describe(got[5].err));
  taken.release();
  BOOST_TEST(full->used() == 0u); // the refused batches held nothing
}


// A node the clients do not talk to coordinates nothing, so only the replica calls its peers'
// coordinators send tell it how its storage keeps up: they must slow its background work too.
BOOST_FIXTURE_TEST_CASE(slow_replica_calls_slow_the_nodes_background_work, deterministic_fixture) {
  background_pace_options pace;
  pace.target_p99 = 20ms;
  pace.window = 2s;
  auto gate = std::make_shared<background_gate>(pace, sched.clock().now());
  auto store = spawn_memory_storage(*this, 1, 1);
  auto gateway = keep(spawn_replica_gateway(sys, store, nullptr, gate));
  BOOST_CHECK_EQUAL(gate->pause(sched.clock().now()).count(), 0); // idle: full speed
  std::vector<replica_call> reads(30);
  for (uint64_t i = 0; i < reads.size(); ++i) {
    reads[i].id = i + 1;
    reads[i].key = b("k" + std::to_string(i));
  }
  run(); // both started
  self->send(gateway, batch_atom::value, reads);
  // Up to the moment storage is about to serve the batch, which then takes 50 ms.
  auto* storage = caf::actor_cast<caf::abstract_actor*>(store);
  while (sched.has_job() && &sched.next_job<caf::abstract_actor>() != storage)
    sched.run_once();
  sched.advance_time(50ms);
  run();
  advance(2s); // the window closes and is judged
  auto reading = gate->read(sched.clock().now());
  BOOST_TEST(reading.p99.count() >= 50000, "p99 " << reading.p99.count() << " us");
  BOOST_CHECK_LT(reading.rate, reading.max_rate); // slowed
  BOOST_CHECK_GT(gate->pause(sched.clock().now()).count(), 0);
}

BOOST_AUTO_TEST_SUITE_END()
