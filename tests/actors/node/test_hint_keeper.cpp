// The hint keeper on the test coordinator, over a storage actor and the in-memory engine: hints
// held for a member that left the cluster for good are dropped in bounded batches, while those
// for live members stay until delivered.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/hint_keeper.hpp"
#include "actors/node/storage_actor.hpp"
#include "storage/engine.hpp"
#include "tests/actors/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

record one_value(uint64_t counter) {
  record r;
  r.context.entries = {dot{7, counter}};
  sibling s;
  s.origin = dot{7, counter};
  s.timestamp_us = 1000;
  s.value = b("v");
  r.siblings = {s};
  return r;
}

struct keeper_fixture : deterministic_fixture {
  std::shared_ptr<storage::engine> engine{storage::make_memory_engine()};
  storage_actor storage;
  hint_keeper_actor keeper;

  keeper_fixture() {
    // 1000 hints for n3 (to be removed), 10 for n2 (alive but down).
    for (int i = 0; i < 1000; ++i)
      BOOST_REQUIRE(engine->add_hint("n3", 1, b("k" + std::to_string(i)), one_value(i + 1)));
    for (int i = 0; i < 10; ++i)
      BOOST_REQUIRE(engine->add_hint("n2", 1, b("k" + std::to_string(i)), one_value(i + 1)));
    storage_options so{"n1", 1, conflict_mode::siblings};
    so.partitions = 8;
    so.detached = false;
    so.seed = 1;
    storage = keep(spawn_storage(sys, engine, so));
    hint_keeper_options ho;
    ho.node = "n1";
    ho.storage = storage;
    ho.interval = 1000ms;
    ho.drop_batch = 300;
    keeper = keep(spawn_hint_keeper(sys, ho));
    // Both are down: nothing can be delivered.
    self->send(keeper, peer_atom::value,
               std::vector<peer_view>{peer_view{"n2", false, {}, {}},
                                      peer_view{"n3", false, {}, {}}});
    run();
  }

  std::map<std::string, uint64_t> backlog() {
    std::map<std::string, uint64_t> out;
    self->send(storage, backlog_atom::value);
    run();
    self->receive(
        [&](std::vector<hint_backlog>& held) {
          for (auto& h : held)
            out[h.target] = h.count;
        },
        caf::after(std::chrono::seconds(0)) >> [] { BOOST_FAIL("no backlog"); });
    return out;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(hint_keeper)

BOOST_FIXTURE_TEST_CASE(hints_for_a_departed_member_are_dropped_and_the_others_kept,
                        keeper_fixture) {
  advance(3000ms);
  // Not departed yet: everything is kept (the old keeper kept them forever in any case).
  BOOST_CHECK((backlog() == std::map<std::string, uint64_t>{{"n2", 10}, {"n3", 1000}}));
  self->send(keeper, departed_atom::value, std::vector<std::string>{"n3"});
  advance(1500ms);
  BOOST_CHECK((backlog() == std::map<std::string, uint64_t>{{"n2", 10}}));
  auto left = engine->hint_counts();
  BOOST_REQUIRE(left);
  BOOST_CHECK((*left == std::map<std::string, uint64_t>{{"n2", 10}}));
}

BOOST_FIXTURE_TEST_CASE(hints_are_dropped_one_bounded_storage_batch_per_request, keeper_fixture) {
  self->send(keeper, departed_atom::value, std::vector<std::string>{"n3"});
  // The round's first request drops at most drop_batch hints; the next follows its answer.
  sched.advance_time(1000ms);
  while (engine->hint_counts()->at("n3") == 1000)
    BOOST_REQUIRE(sched.try_run_once());
  BOOST_CHECK_EQUAL(engine->hint_counts()->at("n3"), 700u);
  run();
  BOOST_CHECK_EQUAL(engine->hint_counts()->count("n3"), 0u);
}

BOOST_AUTO_TEST_SUITE_END()
