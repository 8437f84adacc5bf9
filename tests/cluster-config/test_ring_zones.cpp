// Zones in the ring (home replicas spread over zones, lazy fallbacks) and the ring at scale:
// Q = 65,536 partitions over 1,000 members of capacities 1, 2 and 4 in 3 zones (issue #17,
// proof 3). The figures it prints (time, memory) are recorded in docs/scale.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <malloc.h>

#include <boost/test/unit_test.hpp>

#include "cluster-config/ring.hpp"

using namespace actorkv;

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// Bytes the heap holds now (glibc; small blocks and mmapped ones): what a ring keeps is the
/// difference around its making.
size_t heap_in_use() {
  auto m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

/// CPU seconds of this process (the machine is shared: wall time says less).
double cpu_seconds() {
  return double(std::clock()) / CLOCKS_PER_SEC;
}

/// `k` members named m0000.., capacities 1, 2, 4 in turn per zone, zones z0..z{zones-1} in turn,
/// so every zone has the same mix of capacities.
std::vector<ring_member> members(size_t k, uint32_t zones) {
  static const uint32_t capacities[] = {1, 2, 4};
  std::vector<ring_member> out;
  for (size_t i = 0; i < k; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "m%04zu", i);
    out.push_back({name, capacities[(i / zones) % 3], "z" + std::to_string(i % zones)});
  }
  return out;
}

std::map<std::string, const ring_member*> by_name(const ring& r) {
  std::map<std::string, const ring_member*> out;
  for (auto& m : r.members())
    out[m.name] = &m;
  return out;
}

/// Every member owns within `tolerance` of its capacity share; returns the worst deviation.
double check_shares(const ring& r, double tolerance) {
  uint64_t total = 0;
  for (auto& m : r.members())
    total += m.capacity;
  auto counts = r.partitions_owned();
  double worst = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    double ideal = double(r.partitions()) * r.members()[i].capacity / total;
    auto off = std::abs(counts[i] - ideal) / ideal;
    worst = std::max(worst, off);
    BOOST_CHECK_MESSAGE(off <= tolerance,
                        r.members()[i].name << " owns " << counts[i] << ", ideal " << ideal);
  }
  return worst;
}

/// Every partition's `n` home replicas are distinct nodes in min(n, zones) distinct zones.
void check_home_zones(const ring& r, uint32_t n, size_t zones) {
  auto member = by_name(r);
  size_t failures = 0;
  for (partition_id p = 0; p < r.partitions(); ++p) {
    auto homes = r.home_replicas(p, n);
    std::set<std::string> nodes(homes.begin(), homes.end());
    std::set<std::string> in_zones;
    for (auto& h : homes)
      in_zones.insert(member.at(h)->zone);
    if (homes.size() != n || nodes.size() != n || in_zones.size() != std::min<size_t>(n, zones) ||
        homes.front() != r.owner(p))
      ++failures;
  }
  BOOST_TEST(failures == 0u, failures << " partitions whose home replicas miss a zone");
}

/// The smallest and largest ratio of a member's home-replica count (N = n) to its ideal, n times
/// its capacity share, over the members other than `except`; `except`'s own in `excepted`.
std::pair<double, double> replica_load(const ring& r, uint32_t n, const std::string& except = {},
                                       double* excepted = nullptr) {
  std::map<std::string, uint32_t> held;
  for (partition_id p = 0; p < r.partitions(); ++p)
    for (auto& h : r.home_replicas(p, n))
      ++held[h];
  uint64_t total = 0;
  for (auto& m : r.members())
    total += m.capacity;
  double lo = 1e9;
  double hi = 0;
  for (auto& m : r.members()) {
    double ideal = double(n) * r.partitions() * m.capacity / total;
    if (m.name == except) {
      *excepted = held[m.name] / ideal;
      continue;
    }
    lo = std::min(lo, held[m.name] / ideal);
    hi = std::max(hi, held[m.name] / ideal);
  }
  return {lo, hi};
}

} // namespace

BOOST_AUTO_TEST_SUITE(ring_zones)

BOOST_AUTO_TEST_CASE(home_replicas_span_as_many_zones_as_exist_up_to_n) {
  // Three zones of unequal size: every partition still has one home replica in each.
  std::vector<ring_member> m = {{"a1", 1, "a"}, {"a2", 1, "a"}, {"a3", 1, "a"}, {"a4", 1, "a"},
                                {"b1", 1, "b"}, {"b2", 1, "b"}, {"c1", 1, "c"}};
  auto r = ring::build(64, m);
  BOOST_TEST(r.zones() == 3u);
  check_home_zones(r, 3, 3);
  // N above the number of zones: every zone, then the nearest nodes of zones already listed.
  check_home_zones(r, 4, 3);
  // Two zones, N = 3: both zones, three distinct nodes.
  auto two = ring::build(64, {{"a1", 1, "a"}, {"a2", 1, "a"}, {"b1", 1, "b"}, {"b2", 2, "b"}});
  check_home_zones(two, 3, 2);
  // One zone: exactly the lists of a ring without zones.
  auto plain = ring::build(64, {{"a1", 1}, {"a2", 1}, {"a3", 2}, {"a4", 1}});
  auto zoned = ring::build(64, {{"a1", 1, "x"}, {"a2", 1, "x"}, {"a3", 2, "x"}, {"a4", 1, "x"}});
  BOOST_TEST(plain.owner_names() == zoned.owner_names());
  for (partition_id p = 0; p < 64; ++p)
    BOOST_TEST(plain.preference_list(p, 3) == zoned.preference_list(p, 3));
}

BOOST_AUTO_TEST_CASE(a_zone_aware_list_skips_a_same_zone_owner_a_plain_walk_would_take) {
  // Owners laid out by hand so that p+1 is in p's zone: the walk must pass over it.
  std::vector<ring_member> m = {{"a1", 1, "a"}, {"a2", 1, "a"}, {"b1", 1, "b"}, {"c1", 1, "c"}};
  auto r = ring::from_owners(m, {"a1", "a2", "b1", "c1"});
  BOOST_TEST((r.home_replicas(0, 3) == std::vector<std::string>{"a1", "b1", "c1"}));
  BOOST_TEST((r.home_replicas(1, 3) == std::vector<std::string>{"a2", "b1", "c1"}));
  BOOST_TEST((r.home_replicas(0, 2) == std::vector<std::string>{"a1", "b1"}));
  // The skipped node is the first fallback; the whole list names everyone once.
  BOOST_TEST((r.preference_list(0, 3) == std::vector<std::string>{"a1", "b1", "c1", "a2"}));
  BOOST_TEST((r.preference_list(2, 3) == std::vector<std::string>{"b1", "c1", "a1", "a2"}));
}

BOOST_AUTO_TEST_CASE(fallbacks_are_produced_lazily_and_only_as_many_as_asked) {
  auto r = ring::build(256, members(30, 3));
  for (partition_id p = 0; p < 256; p += 17) {
    auto full = r.preference_list(p, 3);
    BOOST_REQUIRE(full.size() == 30u);
    BOOST_TEST(std::set<std::string>(full.begin(), full.end()).size() == 30u);
    auto homes = r.home_replicas(p, 3);
    BOOST_TEST(std::equal(homes.begin(), homes.end(), full.begin()));
    auto some = r.preference_list(p, 3, 2);
    BOOST_TEST(some.size() == 5u);
    BOOST_TEST(std::equal(some.begin(), some.end(), full.begin()));
    size_t visits = 0;
    r.for_each_fallback(p, 3, [&](const std::string& name) {
      BOOST_TEST(name == full[3 + visits]);
      return ++visits < 4;
    });
    BOOST_TEST(visits == 4u); // stopped when asked to, not after all 27
  }
}

BOOST_AUTO_TEST_CASE(members_without_partitions_are_listed_last) {
  // More members than partitions: some own nothing and are fallbacks only.
  auto r = ring::build(4, members(6, 3));
  for (partition_id p = 0; p < 4; ++p) {
    auto full = r.preference_list(p, 3);
    BOOST_TEST(full.size() == 6u);
    BOOST_TEST(std::set<std::string>(full.begin(), full.end()).size() == 6u);
  }
}

// The figures of issue #17, proof 3.
BOOST_AUTO_TEST_CASE(q_65536_on_1000_members_of_mixed_capacity_in_3_zones) {
  constexpr uint32_t q = 65536;
  auto heap_before = heap_in_use();
  auto start = clock_type::now();
  auto cpu = cpu_seconds();
  auto r = ring::build(q, members(1000, 3));
  auto build_s = seconds_since(start);
  auto build_cpu = cpu_seconds() - cpu;
  auto ring_bytes = heap_in_use() - heap_before;
  // The layout as the membership view keeps and gossips it: one owner name per partition.
  heap_before = heap_in_use();
  auto names = r.owner_names();
  auto names_bytes = heap_in_use() - heap_before;

  auto worst = check_shares(r, 0.10);
  start = clock_type::now();
  check_home_zones(r, 3, 3);
  auto homes_s = seconds_since(start);
  auto [lo, hi] = replica_load(r, 3);
  // Skipping same-zone owners must not pile replicas onto a few nodes.
  BOOST_TEST(lo >= 0.8);
  BOOST_TEST(hi <= 1.2);
  BOOST_TEST_MESSAGE("Q=65536, 1000 members (capacity 1/2/4, 3 zones): build "
                     << build_s << " s (CPU " << build_cpu << " s), ring " << ring_bytes / 1024
                     << " KiB, owner names " << names_bytes / 1024 << " KiB; worst share deviation "
                     << worst * 100 << "%; home replicas (N=3) of all partitions " << homes_s
                     << " s; replica load " << lo << ".." << hi << " of capacity share");

  // A join: capacity 4 in zone z1. It moves about its own share, and the rules still hold.
  auto grown_members = members(1000, 3);
  grown_members.push_back({"m1000", 4, "z1"});
  start = clock_type::now();
  cpu = cpu_seconds();
  auto grown = r.rebalance(grown_members);
  auto join_s = seconds_since(start);
  auto join_cpu = cpu_seconds() - cpu;
  double total = 0;
  for (auto& m : grown_members)
    total += m.capacity;
  auto ideal = q * 4 / total;
  auto moved = r.moves_to(grown);
  BOOST_TEST(moved <= 1.2 * ideal, moved << " partitions moved, the joiner's share is " << ideal);
  check_shares(grown, 0.10);
  check_home_zones(grown, 3, 3);
  auto copies = transfers_between(r, grown, 3).size();
  // The joiner takes partitions from nodes of every zone, and where it sits between owners of
  // other zones it is the home replica of fewer partitions: it holds less than its share (never
  // more), and nobody else is pushed far from theirs.
  double joiner_load = 0;
  auto [grown_lo, grown_hi] = replica_load(grown, 3, "m1000", &joiner_load);
  BOOST_TEST(grown_lo >= 0.8);
  BOOST_TEST(grown_hi <= 1.2);
  BOOST_TEST(joiner_load >= 0.5);
  BOOST_TEST(joiner_load <= 1.2);
  BOOST_TEST_MESSAGE("join of a capacity-4 member: rebalance "
                     << join_s << " s (CPU " << join_cpu << " s), " << moved
                     << " partitions move (ideal " << ideal << "), " << copies
                     << " partition copies stream; replica load " << grown_lo << ".." << grown_hi
                     << ", the joiner's " << joiner_load);

  // A leave: a capacity-2 member. Only its partitions move.
  auto shrunk_members = members(1000, 3);
  auto leaver = shrunk_members[3]; // m0003, capacity 2
  BOOST_REQUIRE(leaver.capacity == 2u);
  shrunk_members.erase(shrunk_members.begin() + 3);
  start = clock_type::now();
  auto shrunk = r.rebalance(shrunk_members);
  auto leave_s = seconds_since(start);
  auto held = r.partitions_owned()[3];
  BOOST_REQUIRE(r.members()[3].name == leaver.name);
  auto left_moved = r.moves_to(shrunk);
  BOOST_TEST(left_moved <= 1.2 * held, left_moved << " partitions moved, the leaver had " << held);
  check_shares(shrunk, 0.10);
  check_home_zones(shrunk, 3, 3);
  auto [shrunk_lo, shrunk_hi] = replica_load(shrunk, 3);
  BOOST_TEST(shrunk_lo >= 0.8);
  BOOST_TEST(shrunk_hi <= 1.2);
  BOOST_TEST_MESSAGE("leave of a capacity-2 member: rebalance "
                     << leave_s << " s, " << left_moved << " partitions move (it owned " << held
                     << "); replica load " << shrunk_lo << ".." << shrunk_hi);
}

BOOST_AUTO_TEST_SUITE_END()
