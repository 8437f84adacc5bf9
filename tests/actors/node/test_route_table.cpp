// The coordinator's route table: each partition's plan comes back as it was given, in order,
// while every target is kept once however many partitions name it. The last case measures it at
// Q = 65,536 on 1,000 members (issue #17; its figures are in docs/scale.md).
#include <malloc.h>

#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include "actors/node/route_table.hpp"
#include "cluster-config/placement.hpp"
#include "cluster-config/ring.hpp"
#include "tests/actors/common.hpp"

using namespace actorkv;
using namespace actorkv::test;

namespace {

struct route_table_fixture : deterministic_fixture {
  /// n1..n5: a gateway each (never run; only their addresses matter).
  std::vector<replica_gateway_actor> gateways;

  route_table_fixture() {
    for (int i = 0; i < 5; ++i)
      gateways.push_back(keep(sys.spawn(
          [](replica_gateway_actor::pointer) -> replica_gateway_actor::behavior_type {
            return {[](batch_atom, std::vector<replica_call>&) {}};
          })));
  }

  replica_target home(int i) { return {"n" + std::to_string(i + 1), {}, {}, gateways[i]}; }
  replica_target fallback(int i, int for_i) {
    return {"n" + std::to_string(i + 1), "n" + std::to_string(for_i + 1), {}, gateways[i]};
  }

  /// Partition p's plan on a ring of three nodes n1..n3, dealt round.
  coordination_plan dealt(partition_id p) {
    coordination_plan plan;
    for (int k = 0; k < 3; ++k)
      plan.replicas.push_back(home(static_cast<int>((p + k) % 3)));
    return plan;
  }

  static std::vector<std::string> names(const std::vector<target_ptr>& targets) {
    std::vector<std::string> out;
    for (auto& t : targets)
      out.push_back(t->node + (t->hint_for.empty() ? "" : "/" + t->hint_for));
    return out;
  }
};

using strings = std::vector<std::string>;

/// Bytes the heap holds now (glibc): what a structure keeps is the difference around its making.
size_t heap_in_use() {
  auto m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

double mib(size_t bytes) {
  return double(bytes) / (1024 * 1024);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(route_table_suite, route_table_fixture)

BOOST_AUTO_TEST_CASE(every_partition_gets_its_own_plan_back_with_each_target_kept_once) {
  std::vector<coordination_plan> plans;
  for (partition_id p = 0; p < 1024; ++p)
    plans.push_back(dealt(p));
  route_table table;
  table.assign(plans);
  BOOST_CHECK_EQUAL(table.partitions(), 1024u);
  BOOST_CHECK_EQUAL(table.targets(), 3u);
  BOOST_CHECK(names(table.plan_of(0).replicas) == (strings{"n1", "n2", "n3"}));
  BOOST_CHECK(names(table.plan_of(1).replicas) == (strings{"n2", "n3", "n1"}));
  BOOST_CHECK(names(table.plan_of(1023).replicas) == (strings{"n1", "n2", "n3"}));
  BOOST_CHECK(table.plan_of(5).joining.empty());
  // Plans share their targets: the same object, not copies.
  BOOST_CHECK(table.plan_of(0).replicas[0] == table.plan_of(3).replicas[0]);
  BOOST_CHECK(table.routes_to(gateways[2].address()));
  BOOST_CHECK(!table.routes_to(gateways[3].address()));
}

BOOST_AUTO_TEST_CASE(a_replaced_plan_changes_only_its_partition_and_lets_go_of_what_nobody_names) {
  std::vector<coordination_plan> plans{dealt(0), dealt(1), dealt(2)};
  route_table table;
  table.assign(plans);
  // n2 went down: partition 0 writes to n4 for it.
  coordination_plan degraded;
  degraded.replicas = {home(0), home(2), fallback(3, 1)};
  BOOST_CHECK(table.replace(0, degraded));
  BOOST_CHECK(names(table.plan_of(0).replicas) == (strings{"n1", "n3", "n4/n2"}));
  BOOST_CHECK(names(table.plan_of(1).replicas) == (strings{"n2", "n3", "n1"}));
  BOOST_CHECK_EQUAL(table.targets(), 4u);
  BOOST_CHECK(table.routes_to(gateways[3].address()));
  // A request holding the fallback keeps it after the plan lets go of it.
  auto held = table.plan_of(0);
  BOOST_CHECK(table.replace(0, dealt(0)));
  BOOST_CHECK_EQUAL(table.targets(), 3u);
  BOOST_CHECK(!table.routes_to(gateways[3].address()));
  BOOST_CHECK_EQUAL(held.replicas[2]->hint_for, "n2");
  BOOST_CHECK(held.replicas[2]->remote == gateways[3]);
  // n2 is still named by the other partitions.
  BOOST_CHECK(table.routes_to(gateways[1].address()));
  BOOST_CHECK(!table.replace(3, dealt(3))); // beyond the table: nothing changes
  BOOST_CHECK_EQUAL(table.partitions(), 3u);
}

BOOST_AUTO_TEST_CASE(a_plan_wider_than_the_others_keeps_every_plan_intact) {
  std::vector<coordination_plan> plans{dealt(0), dealt(1), dealt(2)};
  route_table table;
  table.assign(plans);
  // A change under way adds two joining nodes to partition 1, and a home replica too many for
  // the layout the table started with.
  coordination_plan wide = dealt(1);
  wide.replicas.push_back(home(3));
  wide.joining = {home(3), home(4)};
  BOOST_CHECK(table.replace(1, wide));
  BOOST_CHECK(names(table.plan_of(0).replicas) == (strings{"n1", "n2", "n3"}));
  BOOST_CHECK(names(table.plan_of(1).replicas) == (strings{"n2", "n3", "n1", "n4"}));
  BOOST_CHECK(names(table.plan_of(1).joining) == (strings{"n4", "n5"}));
  BOOST_CHECK(names(table.plan_of(2).replicas) == (strings{"n3", "n1", "n2"}));
  BOOST_CHECK_EQUAL(table.targets(), 5u);
  // Full routes replace everything.
  std::vector<coordination_plan> fewer{dealt(0)};
  table.assign(fewer);
  BOOST_CHECK_EQUAL(table.partitions(), 1u);
  BOOST_CHECK_EQUAL(table.targets(), 3u);
  BOOST_CHECK(!table.routes_to(gateways[4].address()));
}

BOOST_AUTO_TEST_CASE(q_65536_on_1000_members_takes_a_few_mib_where_plans_took_tens) {
  constexpr uint32_t q = 65536;
  constexpr size_t members = 1000;
  std::vector<ring_member> ms;
  std::map<std::string, replica_gateway_actor> gateway_of;
  for (size_t i = 0; i < members; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "m%04zu", i);
    ms.push_back({name, 1, "z" + std::to_string(i % 3)});
    gateway_of[name] = gateways[i % gateways.size()]; // handles only: no message is sent
  }
  auto r = ring::build(q, ms);
  placement_inputs in;
  in.self = "m0000";
  in.reachable = [](const std::string&) { return true; };
  auto decided = plan_partitions(r, nullptr, in);
  // The plans as the node sends them (the coordinator kept them so until now).
  auto before_plans = heap_in_use();
  std::vector<coordination_plan> plans(q);
  for (partition_id p = 0; p < q; ++p)
    for (auto& slot : decided[p].replicas)
      plans[p].replicas.push_back({slot.node, slot.hint_for, {}, gateway_of[slot.node]});
  auto plans_bytes = heap_in_use() - before_plans;
  auto before_table = heap_in_use();
  route_table table;
  table.assign(plans);
  auto table_bytes = heap_in_use() - before_table;
  BOOST_TEST_MESSAGE("Q=65536, 1000 members, N=3: routes as plans " << mib(plans_bytes)
                     << " MiB, as the table " << mib(table_bytes) << " MiB ("
                     << double(table_bytes) / q << " bytes a partition), " << table.targets()
                     << " targets");
  BOOST_CHECK_EQUAL(table.partitions(), q);
  BOOST_CHECK_EQUAL(table.targets(), members);
  for (partition_id p = 0; p < q; ++p) {
    auto got = table.plan_of(p);
    BOOST_REQUIRE_EQUAL(got.replicas.size(), plans[p].replicas.size());
    for (size_t i = 0; i < got.replicas.size(); ++i) {
      BOOST_REQUIRE_EQUAL(got.replicas[i]->node, plans[p].replicas[i].node);
      BOOST_REQUIRE(got.replicas[i]->remote == plans[p].replicas[i].remote);
    }
  }
  // Not a timing: bytes counted by the allocator, the same on every run.
  BOOST_CHECK_LT(table_bytes * 8, plans_bytes);
}

BOOST_AUTO_TEST_SUITE_END()
