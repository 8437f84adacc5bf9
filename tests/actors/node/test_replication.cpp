// Replication conversations in one process: three "nodes" (each a storage actor over the
// in-memory engine plus a vnode) and coordinators built over them (one per set of reachable
// replicas), on CAF's test coordinator: every message is run by the test, nothing sleeps.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <caf/all.hpp>

#include "actors/node/coordinator.hpp"
#include "actors/node/replica_gateway.hpp"
#include "actors/node/storage_actor.hpp"
#include "actors/node/vnode.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "messages/register_types.hpp"
#include "storage/engine.hpp"
#include "tests/actors/common.hpp"
#include "tests/actors/node/replicas.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

struct replica_fixture : deterministic_fixture {
  std::vector<storage_actor> stores;
  std::vector<vnode_actor> vnodes;

  replica_fixture() {
    for (replica_id id = 1; id <= 3; ++id) {
      stores.push_back(spawn_memory_storage(*this, id));
      vnodes.push_back(keep(spawn_vnode(sys, stores.back())));
    }
  }

  /// A coordinator over the replicas with the given indexes (the reachable ones).
  coordinator_actor coordinator(std::vector<size_t> reachable, uint32_t r = 2, uint32_t w = 2) {
    return keep(
        spawn_coordinator(sys, coordinator_options{one_plan_routes(stores, reachable, r, w)}));
  }

  /// Sends `calls` in one batch, runs everything that follows, and returns the answers by id.
  std::map<uint64_t, client_answer> exchange(const coordinator_actor& c,
                                             std::vector<client_call> calls) {
    self->send(c, batch_atom::value, std::move(calls));
    run();
    return client_answers();
  }

  /// The answer to one call; ec::timeout when none came.
  client_answer one(const coordinator_actor& c, client_call call) {
    self->send(c, batch_atom::value, std::vector<client_call>{std::move(call)});
    run();
    return one_client_answer();
  }

  caf::expected<write_reply> put(std::vector<size_t> reachable, const std::string& key,
                                 const std::string& value, bytes context = {}) {
    auto a = one(coordinator(reachable), put_call(b(key), b(value), std::move(context)));
    if (a.err)
      return std::move(a.err);
    return a.write;
  }

  caf::expected<get_reply> get(std::vector<size_t> reachable, const std::string& key) {
    auto a = one(coordinator(reachable), get_call(b(key)));
    if (a.err)
      return std::move(a.err);
    return std::move(a.get);
  }

  /// What replica `i` stores for `key`, read directly (no repair).
  replica_read stored(size_t i, const std::string& key) {
    replica_read out;
    auto answer =
        self->request(vnodes[i], caf::infinite, read_atom::value, partition_id{0}, b(key));
    run();
    answer.receive([&](replica_read& r) { out = r; },
                   [&](caf::error& e) { BOOST_FAIL("read failed: " << describe(e)); });
    return out;
  }
};

std::vector<std::string> texts(const get_reply& r) {
  std::vector<std::string> out;
  for (auto& v : r.values)
    out.emplace_back(v.begin(), v.end());
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(replication)

BOOST_FIXTURE_TEST_CASE(put_reaches_every_reachable_replica, replica_fixture) {
  auto w = put({0, 1, 2}, "k", "v1");
  BOOST_REQUIRE_MESSAGE(w, (w ? "" : describe(w.error())));
  BOOST_TEST(w->acks >= 2u);
  auto g = get({0, 1, 2}, "k");
  BOOST_REQUIRE(g);
  BOOST_TEST(g->found);
  BOOST_TEST(texts(*g) == std::vector<std::string>{"v1"});
  // The coordinator keeps replicating after the quorum answered: all three end up with it.
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(stored(i, "k").found, "replica " << i);
}

BOOST_FIXTURE_TEST_CASE(missing_key_is_not_found_not_an_error, replica_fixture) {
  auto g = get({0, 1, 2}, "nothing-here");
  BOOST_REQUIRE(g);
  BOOST_TEST(!g->found);
}

BOOST_FIXTURE_TEST_CASE(concurrent_puts_become_siblings_and_context_resolves, replica_fixture) {
  // Two writers coordinated by different replicas, neither with a context.
  BOOST_REQUIRE(put({0, 1, 2}, "cart", "apples"));
  BOOST_REQUIRE(put({1, 0, 2}, "cart", "pears"));
  auto g = get({0, 1, 2}, "cart");
  BOOST_REQUIRE(g);
  BOOST_TEST(texts(*g) == (std::vector<std::string>{"apples", "pears"}));
  BOOST_REQUIRE(put({2, 0, 1}, "cart", "apples+pears", g->context));
  auto resolved = get({0, 1, 2}, "cart");
  BOOST_REQUIRE(resolved);
  BOOST_TEST(texts(*resolved) == std::vector<std::string>{"apples+pears"});
}

BOOST_FIXTURE_TEST_CASE(too_few_replicas_is_unavailable, replica_fixture) {
  auto w = put({0}, "k", "v");
  BOOST_REQUIRE(!w);
  BOOST_TEST((w.error() == ec::unavailable));
  BOOST_TEST(describe(w.error()).find("1 of 3 replicas reachable, 2 needed") != std::string::npos);
  auto g = get({2}, "k");
  BOOST_REQUIRE(!g);
  BOOST_TEST((g.error() == ec::unavailable));
}

BOOST_FIXTURE_TEST_CASE(read_repairs_a_stale_replica, replica_fixture) {
  // Replica 2 misses the write (unreachable at the time).
  BOOST_REQUIRE(put({0, 1}, "k", "v1"));
  BOOST_TEST(!stored(2, "k").found);
  auto g = get({0, 1, 2}, "k");
  BOOST_REQUIRE(g);
  BOOST_TEST(texts(*g) == std::vector<std::string>{"v1"});
  auto r = stored(2, "k"); // the repair ran with the get
  BOOST_TEST(r.found);
  BOOST_TEST((r.rec == stored(0, "k").rec));
}

BOOST_FIXTURE_TEST_CASE(read_repairs_are_counted_in_the_metrics, replica_fixture) {
  auto registry = std::make_shared<metrics_registry>();
  coordinator_options o{one_plan_routes(stores, {0, 1, 2}, 2, 2)};
  o.metrics = registry;
  auto coord = keep(spawn_coordinator(sys, std::move(o)));
  auto& repairs = registry->counter("actorkv_read_repairs_total", "");
  BOOST_REQUIRE(put({0, 1}, "k", "v1")); // replica 2 misses it
  BOOST_REQUIRE(!one(coord, get_call(b("k"))).err);
  BOOST_TEST(repairs.value() == 1u);
  // Every replica holds the same record now: nothing more to repair.
  BOOST_REQUIRE(!one(coord, get_call(b("k"))).err);
  BOOST_TEST(repairs.value() == 1u);
}

BOOST_FIXTURE_TEST_CASE(delete_hides_the_key, replica_fixture) {
  BOOST_REQUIRE(put({0, 1, 2}, "k", "v1"));
  auto g = get({0, 1, 2}, "k");
  BOOST_REQUIRE(g);
  auto d = one(coordinator({0, 1, 2}), delete_call(b("k"), g->context));
  BOOST_REQUIRE_MESSAGE(!d.err, describe(d.err));
  auto after = get({0, 1, 2}, "k");
  BOOST_REQUIRE(after);
  BOOST_TEST(!after->found);
}

BOOST_FIXTURE_TEST_CASE(malformed_context_is_refused, replica_fixture) {
  auto w = put({0, 1, 2}, "k", "v", bytes{0xff, 0x00, 0x13});
  BOOST_REQUIRE(!w);
  BOOST_TEST((w.error() == ec::bad_context));
}

BOOST_FIXTURE_TEST_CASE(a_client_batch_gets_one_answer_per_call, replica_fixture) {
  // 200 puts, an empty key and a missing key in one batch, as a client actor sends them.
  auto coord = coordinator({0, 1, 2});
  std::vector<client_call> puts;
  for (uint64_t i = 0; i < 200; ++i)
    puts.push_back(client_call{
        i, client_call_kind::put, b("k" + std::to_string(i)), b("v" + std::to_string(i)), {}});
  puts.push_back(client_call{1000, client_call_kind::put, {}, b("v"), {}});
  puts.push_back(client_call{1001, client_call_kind::get, b("missing"), {}, {}});
  auto written = exchange(coord, std::move(puts));
  BOOST_REQUIRE_EQUAL(written.size(), 202u);
  for (uint64_t i = 0; i < 200; ++i)
    BOOST_TEST((!written[i].err && written[i].write.acks >= 2u), "put " << i);
  BOOST_TEST((written[1000].err == ec::empty_key));
  BOOST_TEST((!written[1001].err && !written[1001].get.found));
  std::vector<client_call> gets;
  for (uint64_t i = 0; i < 200; ++i)
    gets.push_back(client_call{i, client_call_kind::get, b("k" + std::to_string(i)), {}, {}});
  auto read = exchange(coord, std::move(gets));
  BOOST_REQUIRE_EQUAL(read.size(), 200u);
  for (uint64_t i = 0; i < 200; ++i)
    BOOST_TEST((read[i].get.values == std::vector<bytes>{b("v" + std::to_string(i))}), "get " << i);
  // Every replica ends up with every key.
  for (size_t r = 0; r < 3; ++r) {
    size_t held = 0;
    for (uint64_t i = 0; i < 200; ++i)
      held += stored(r, "k" + std::to_string(i)).found;
    BOOST_TEST(held == 200u, "replica " << r);
  }
}

namespace {

/// The node's side of a wake for a coordinator whose routes name n2 and n3 without a handle (their
/// idle connections closed): a peer it can reach gets its gateway in new routes, then the answer.
struct waking_fixture : replica_fixture {
  std::vector<replica_gateway_actor> gateways;
  std::shared_ptr<coordinator_actor> coord = std::make_shared<coordinator_actor>();
  std::shared_ptr<std::vector<std::string>> asked = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::set<std::string>> reachable = std::make_shared<std::set<std::string>>();

  waking_fixture() {
    for (auto& st : stores)
      gateways.push_back(keep(spawn_replica_gateway(sys, st)));
  }

  /// Partition 0's plan: n1 this node's storage, n2 and n3 peers, with gateways for `woken`.
  coordination_plan plan(const std::set<std::string>& woken, uint32_t w) {
    coordination_plan p;
    p.replicas.push_back({"n1", {}, stores[0], {}});
    for (size_t i : {1, 2}) {
      auto name = "n" + std::to_string(i + 1);
      p.replicas.push_back(
          {name, {}, {}, woken.count(name) ? gateways[i] : replica_gateway_actor{}});
    }
    p.read_quorum = 2;
    p.write_quorum = w;
    return p;
  }

  coordinator_actor start(uint32_t w) {
    auto woken = std::make_shared<std::set<std::string>>();
    auto waker = keep(sys.spawn(
        [=, self = this](peer_waker_actor::pointer me) -> peer_waker_actor::behavior_type {
          return {
              [=](wake_atom, const std::string& name) -> caf::result<caf::ok_atom> {
                asked->push_back(name);
                if (!reachable->count(name))
                  return caf::make_error(ec::unavailable, "peer " + name + " unreachable");
                woken->insert(name);
                me->send(*coord, routes_atom::value, route_changes{{0}, {self->plan(*woken, w)}});
                return caf::ok_atom::value;
              },
          };
        }));
    routes r;
    r.plans.push_back(plan({}, w));
    coordinator_options o{r};
    o.waker = waker;
    *coord = keep(spawn_coordinator(sys, o));
    return *coord;
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(calls_for_replicas_whose_connections_closed_wait_for_the_wake,
                        waking_fixture) {
  *reachable = {"n2", "n3"};
  auto c = start(3);
  std::vector<client_call> puts;
  for (uint64_t i = 0; i < 20; ++i)
    puts.push_back(client_call{
        i, client_call_kind::put, b("k" + std::to_string(i)), b("v" + std::to_string(i)), {}});
  auto written = exchange(c, std::move(puts));
  BOOST_REQUIRE_EQUAL(written.size(), 20u);
  for (uint64_t i = 0; i < 20; ++i)
    BOOST_TEST((!written[i].err && written[i].write.acks == 3u), "put " << i);
  // One wake each, however many calls waited for it; then the calls go straight to the gateway.
  std::sort(asked->begin(), asked->end());
  BOOST_TEST((*asked == std::vector<std::string>{"n2", "n3"}));
  for (size_t r = 0; r < 3; ++r)
    BOOST_TEST(stored(r, "k7").found, "replica " << r);
  auto again = one(c, get_call(b("k7")));
  BOOST_TEST((again.get.values == std::vector<bytes>{b("v7")}));
  BOOST_TEST(asked->size() == 2u);
}

BOOST_FIXTURE_TEST_CASE(calls_for_a_replica_that_cannot_be_woken_fail_at_once, waking_fixture) {
  *reachable = {"n2"};
  auto c = start(3);
  // W = 3 needs n3, which the node cannot reach: the put fails as soon as the wake does, not
  // at the request timeout (the test's clock does not move).
  auto a = one(c, put_call(b("k"), b("v")));
  BOOST_TEST(static_cast<bool>(a.err));
  BOOST_TEST(stored(1, "k").found); // n2 was woken and took the write
  // With W = 2 the same put succeeds on n1 and n2.
  auto c2 = start(2);
  auto ok = one(c2, put_call(b("k2"), b("v")));
  BOOST_TEST((!ok.err && ok.write.acks == 2u), describe(ok.err));
}

BOOST_AUTO_TEST_SUITE_END()
