// Last-writer-wins timestamps under clock skew, in one process on CAF's test coordinator: three
// replicas in lww mode and the coordinators of two "nodes", one whose wall clock runs 120 s ahead
// and a correct one, each with its node_clock over an injected wall clock; and the failure
// detector, which estimates peers' clocks from its probes and follows their hybrid clocks.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <optional>

#include <caf/all.hpp>

#include "actors/node/coordinator.hpp"
#include "actors/node/failure_detector.hpp"
#include "actors/node/storage_actor.hpp"
#include "actors/node/swim_detector.hpp"
#include "messages/error.hpp"
#include "storage/engine.hpp"
#include "tests/actors/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

/// 2026-01-01T00:00:00Z in microseconds, and a second.
constexpr int64_t t0 = int64_t{1767225600} * 1000 * 1000;
constexpr int64_t second = 1000 * 1000;

struct skew_fixture : deterministic_fixture {
  int64_t real = t0; ///< what a correct wall clock reads; the test moves it
  std::vector<storage_actor> stores;

  /// A node's clock whose wall clock is `skew_us` off the real one.
  std::shared_ptr<node_clock> clock(int64_t skew_us) {
    return std::make_shared<node_clock>([this, skew_us] { return real + skew_us; });
  }

  /// Three lww replicas; replica i shares clocks[i] with its node's coordinator (null: a clock
  /// of its own).
  void replicas(std::vector<std::shared_ptr<node_clock>> clocks) {
    for (replica_id id = 1; id <= 3; ++id) {
      storage_options opts{"n" + std::to_string(id), id, conflict_mode::lww};
      opts.partitions = 1;
      opts.detached = false;
      opts.seed = id;
      if (auto& c = clocks[id - 1])
        opts.clock = c;
      stores.push_back(keep(spawn_storage(
          sys, std::shared_ptr<storage::engine>{storage::make_memory_engine()}, opts)));
    }
  }

  /// The coordinator of the node whose replica is stores[first] (which coordinates its writes),
  /// over all three replicas.
  coordinator_actor coordinator(size_t first, std::shared_ptr<node_clock> c) {
    coordination_plan plan;
    for (size_t k = 0; k < 3; ++k) {
      auto i = (first + k) % 3;
      plan.replicas.push_back({"n" + std::to_string(i + 1), {}, stores[i], {}});
    }
    plan.replicas_total = 3;
    plan.read_quorum = 2;
    plan.write_quorum = 2;
    plan.conflicts = conflict_mode::lww;
    routes r;
    r.plans.push_back(std::move(plan));
    coordinator_options co{std::move(r)};
    co.clock = std::move(c);
    return keep(spawn_coordinator(sys, std::move(co)));
  }

  client_answer one(const coordinator_actor& c, client_call call) {
    self->send(c, batch_atom::value, std::vector<client_call>{std::move(call)});
    run();
    return one_client_answer();
  }

  std::string value_via(const coordinator_actor& c, const std::string& key) {
    auto a = one(c, get_call(b(key)));
    BOOST_REQUIRE_MESSAGE(!a.err, describe(a.err));
    BOOST_REQUIRE(a.get.found);
    BOOST_REQUIRE_EQUAL(a.get.values.size(), 1u);
    return std::string(a.get.values[0].begin(), a.get.values[0].end());
  }

  void put_via(const coordinator_actor& c, const std::string& key, const std::string& value) {
    auto a = one(c, put_call(b(key), b(value)));
    BOOST_REQUIRE_MESSAGE(!a.err, describe(a.err));
  }

  /// A failure detector over `c` watching fake peers that answer probes with the clocks
  /// `offsets_us` off the real one (wall and hybrid clock alike).
  /// `swim`: the SWIM detector ([failure_detector] mode = "swim"), whose acks carry the clocks.
  failure_detector_actor detector(std::shared_ptr<node_clock> c, std::vector<int64_t> offsets_us,
                                  bool swim = false) {
    failure_detector_options fo{"n1", 500ms, 8.0, caf::actor_cast<liveness_listener_actor>(self)};
    fo.clock = std::move(c);
    fo.max_clock_skew = 1000ms;
    auto d = swim ? failure_detector_actor{keep(spawn_swim_detector(sys, fo, {}))}
                  : keep(spawn_failure_detector(sys, std::move(fo)));
    for (size_t i = 0; i < offsets_us.size(); ++i) {
      fake_node_parts parts;
      parts.clocks = [this, off = offsets_us[i]] { return clock_reading{real + off, real + off}; };
      auto peer = keep(spawn_fake_node(sys, parts));
      self->send(d, watch_atom::value, "n" + std::to_string(i + 2), peer);
    }
    advance(2s); // a few probes answered
    return d;
  }

  clock_report clocks_of(const failure_detector_actor& d) {
    clock_report out;
    auto answer = self->request(d, caf::infinite, status_atom::value);
    run();
    answer.receive([&](clock_report& r) { out = std::move(r); },
                   [&](caf::error& e) { BOOST_FAIL("status failed: " << describe(e)); });
    return out;
  }
};

std::optional<int64_t> offset_of(const clock_report& r, const std::string& peer) {
  for (auto& [name, ms] : r.peer_offsets_ms)
    if (name == peer)
      return ms;
  return std::nullopt;
}

} // namespace

BOOST_AUTO_TEST_SUITE(lww_clock)

BOOST_FIXTURE_TEST_CASE(a_blind_put_after_a_read_wins_over_a_write_from_a_clock_ahead,
                        skew_fixture) {
  // The replicas keep clocks of their own: only what the correct coordinator read can help it.
  replicas({nullptr, nullptr, nullptr});
  auto skewed = coordinator(0, clock(120 * second));
  auto correct = coordinator(1, clock(0));
  put_via(skewed, "k", "early");
  real += second;
  BOOST_TEST(value_via(correct, "k") == "early");
  real += second;
  put_via(correct, "k", "later");
  BOOST_TEST(value_via(correct, "k") == "later");
  BOOST_TEST(value_via(skewed, "k") == "later");
}

BOOST_FIXTURE_TEST_CASE(a_blind_put_through_a_replica_of_a_skewed_write_wins_over_it,
                        skew_fixture) {
  auto skewed_clock = clock(120 * second);
  auto correct_clock = clock(0);
  replicas({skewed_clock, correct_clock, nullptr});
  auto skewed = coordinator(0, skewed_clock);
  auto correct = coordinator(1, correct_clock);
  put_via(skewed, "k", "early"); // replicated to stores[1], which shares the correct node's clock
  real += second;
  put_via(correct, "k", "later"); // no read first
  BOOST_TEST(value_via(correct, "k") == "later");
  BOOST_TEST(value_via(skewed, "k") == "later");
}

BOOST_FIXTURE_TEST_CASE(probes_show_this_node_behind_its_peers_and_carry_their_clocks,
                        skew_fixture) {
  auto mine = clock(0);
  auto d = detector(mine, {120 * second, 120 * second});
  auto r = clocks_of(d);
  BOOST_TEST(r.skewed);
  BOOST_TEST(r.skew_ms == -120000);
  BOOST_TEST(r.max_clock_skew_ms == 1000u);
  BOOST_CHECK(offset_of(r, "n2") == std::optional<int64_t>{120000});
  BOOST_CHECK(offset_of(r, "n3") == std::optional<int64_t>{120000});
  // The peers' hybrid clocks carried this node's along: its next write orders after theirs.
  BOOST_TEST(mine->stamp() > real + 120 * second);
}

BOOST_FIXTURE_TEST_CASE(swim_probes_carry_the_clocks_as_well, skew_fixture) {
  auto mine = clock(0);
  auto d = detector(mine, {120 * second, 120 * second}, true);
  auto r = clocks_of(d);
  BOOST_TEST(r.skewed);
  BOOST_TEST(r.skew_ms == -120000);
  BOOST_CHECK(offset_of(r, "n2") == std::optional<int64_t>{120000});
  BOOST_CHECK(offset_of(r, "n3") == std::optional<int64_t>{120000});
  BOOST_TEST(mine->stamp() > real + 120 * second);
}

BOOST_FIXTURE_TEST_CASE(one_peer_ahead_does_not_make_this_node_skewed, skew_fixture) {
  auto d = detector(clock(0), {120 * second, 200 * 1000});
  auto r = clocks_of(d);
  BOOST_TEST(!r.skewed);
  BOOST_TEST(r.skew_ms == -200);
  BOOST_CHECK(offset_of(r, "n2") == std::optional<int64_t>{120000});
  BOOST_CHECK(offset_of(r, "n3") == std::optional<int64_t>{200});
}

BOOST_FIXTURE_TEST_CASE(peers_within_the_limit_are_not_skewed, skew_fixture) {
  auto d = detector(clock(0), {-900 * 1000, 900 * 1000});
  auto r = clocks_of(d);
  BOOST_TEST(!r.skewed);
  BOOST_TEST(r.peer_offsets_ms.size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
