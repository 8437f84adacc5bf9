// The ring: MD5 positions, partition numbers, capacity-proportional and interleaved ownership,
// preference lists on distinct nodes, and rebalancing that moves only what the new shares need.
#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "cluster-config/ring.hpp"
#include "messages/hex.hpp"

using namespace actorkv;

namespace {

bytes text(const std::string& s) {
  return bytes(s.begin(), s.end());
}

std::string md5_hex(const std::string& s) {
  auto pos = ring_position(text(s));
  return to_hex(bytes(pos.begin(), pos.end()));
}

/// n1..nK with the given capacities.
std::vector<ring_member> nodes(const std::vector<uint32_t>& capacities) {
  std::vector<ring_member> out;
  for (size_t i = 0; i < capacities.size(); ++i)
    out.push_back({"n" + std::to_string(i + 1), capacities[i]});
  return out;
}

std::vector<ring_member> equal_nodes(size_t k) {
  return nodes(std::vector<uint32_t>(k, 1));
}

std::vector<std::string> owners(const ring& r) {
  std::vector<std::string> out;
  for (partition_id p = 0; p < r.partitions(); ++p)
    out.push_back(r.owner(p));
  return out;
}

uint32_t owned_by(const ring& r, const std::string& name) {
  auto counts = r.partitions_owned();
  for (size_t i = 0; i < r.members().size(); ++i)
    if (r.members()[i].name == name)
      return counts[i];
  return 0;
}

/// Every member owns within `tolerance` (a fraction) of its capacity share.
void check_shares(const ring& r, double tolerance) {
  uint64_t total = 0;
  for (auto& m : r.members())
    total += m.capacity;
  auto counts = r.partitions_owned();
  uint32_t sum = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    double ideal = double(r.partitions()) * r.members()[i].capacity / total;
    BOOST_CHECK_MESSAGE(std::abs(counts[i] - ideal) <= tolerance * ideal,
                        r.members()[i].name << " owns " << counts[i] << ", ideal " << ideal);
    sum += counts[i];
  }
  BOOST_CHECK_EQUAL(sum, r.partitions());
}

/// Consecutive partitions (including the last and the first) have different owners.
void check_neighbours_differ(const ring& r) {
  auto q = r.partitions();
  for (partition_id p = 0; p < q; ++p)
    BOOST_CHECK_MESSAGE(r.owner(p) != r.owner((p + 1) % q),
                        "partitions " << p << " and " << (p + 1) % q << " both belong to "
                                      << r.owner(p));
}

/// Every preference list names every member once; its first n are distinct by construction.
void check_preference_lists(const ring& r, size_t n) {
  for (partition_id p = 0; p < r.partitions(); ++p) {
    auto prefs = r.preference_list(p, 3);
    BOOST_REQUIRE_EQUAL(prefs.size(), r.members().size());
    BOOST_CHECK_EQUAL(prefs.front(), r.owner(p));
    std::set<std::string> distinct(prefs.begin(), prefs.end());
    BOOST_CHECK_EQUAL(distinct.size(), prefs.size());
    std::set<std::string> home(prefs.begin(), prefs.begin() + std::min(n, prefs.size()));
    BOOST_CHECK_EQUAL(home.size(), std::min(n, prefs.size()));
  }
}

/// How many partitions from p on a preference list walks to find its first n nodes.
uint32_t walk_length(const ring& r, partition_id p, size_t n) {
  std::set<std::string> seen;
  uint32_t k = 0;
  while (seen.size() < n)
    seen.insert(r.owner((p + k++) % r.partitions()));
  return k;
}

/// Partitions whose owner differs between a and b, counted here and checked against moves_to().
uint32_t count_moves(const ring& a, const ring& b) {
  uint32_t moves = 0;
  for (partition_id p = 0; p < a.partitions(); ++p)
    moves += a.owner(p) != b.owner(p) ? 1 : 0;
  BOOST_CHECK_EQUAL(moves, a.moves_to(b));
  BOOST_CHECK_EQUAL(moves, b.moves_to(a));
  return moves;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ring_positions)

BOOST_AUTO_TEST_CASE(md5_known_vectors) {
  BOOST_CHECK_EQUAL(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  BOOST_CHECK_EQUAL(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  BOOST_CHECK_EQUAL(md5_hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
}

BOOST_AUTO_TEST_CASE(partition_is_the_top_bits) {
  for (auto key : {"", "abc", "user:42", "zzzzzzzz", "actorkv"}) {
    auto pos = ring_position(text(key));
    uint32_t top = (uint32_t{pos[0]} << 8) | pos[1];
    BOOST_CHECK_EQUAL(partition_of(text(key), 1), 0u);
    BOOST_CHECK_EQUAL(partition_of(text(key), 2), top >> 15);
    BOOST_CHECK_EQUAL(partition_of(text(key), 64), top >> 10);
    BOOST_CHECK_EQUAL(partition_of(text(key), 256), pos[0]);
    BOOST_CHECK_EQUAL(partition_of(text(key), 65536), top);
  }
  // md5("abc") starts 0x90 0x01: partition 0x90 of 256, 0x9001 of 65536, 4 of 8.
  BOOST_CHECK_EQUAL(partition_of(text("abc"), 256), 0x90u);
  BOOST_CHECK_EQUAL(partition_of(text("abc"), 65536), 0x9001u);
  BOOST_CHECK_EQUAL(partition_of(text("abc"), 8), 4u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ring_ownership)

BOOST_AUTO_TEST_CASE(member_order_does_not_matter) {
  auto members = nodes({1, 2, 1, 3, 1});
  auto a = ring::build(256, members);
  std::reverse(members.begin(), members.end());
  auto b = ring::build(256, members);
  std::rotate(members.begin(), members.begin() + 2, members.end());
  auto c = ring::build(256, members);
  BOOST_CHECK(owners(a) == owners(b));
  BOOST_CHECK(owners(a) == owners(c));
  BOOST_REQUIRE_EQUAL(a.members().size(), 5u);
  for (size_t i = 0; i < 5; ++i)
    BOOST_CHECK_EQUAL(a.members()[i].name, "n" + std::to_string(i + 1));
}

BOOST_AUTO_TEST_CASE(capacities_1_1_2) {
  auto r = ring::build(256, nodes({1, 1, 2}));
  BOOST_TEST_MESSAGE("1,1,2 at Q=256: " << owned_by(r, "n1") << " " << owned_by(r, "n2") << " "
                                        << owned_by(r, "n3"));
  BOOST_CHECK(std::abs(int(owned_by(r, "n3")) - 128) <= 13);
  BOOST_CHECK(std::abs(int(owned_by(r, "n1")) - 64) <= 7);
  BOOST_CHECK(std::abs(int(owned_by(r, "n2")) - 64) <= 7);
  check_shares(r, 0.10);
  check_neighbours_differ(r); // n3 holds exactly half: it must alternate
  check_preference_lists(r, 3);
}

BOOST_AUTO_TEST_CASE(capacities_1_1_1_1_2) {
  auto r = ring::build(256, nodes({1, 1, 1, 1, 2}));
  auto counts = r.partitions_owned();
  BOOST_TEST_MESSAGE("1,1,1,1,2 at Q=256: " << counts[0] << " " << counts[1] << " " << counts[2]
                                            << " " << counts[3] << " " << counts[4]);
  BOOST_CHECK(std::abs(int(owned_by(r, "n5")) - 85) <= 9);
  check_shares(r, 0.10);
  check_neighbours_differ(r);
  check_preference_lists(r, 3);
  // n5 owns a third: its partitions can be three apart, so home replicas lie within p..p+2.
  for (partition_id p = 0; p < r.partitions(); ++p)
    BOOST_CHECK_LE(walk_length(r, p, 3), 3u);
}

BOOST_AUTO_TEST_CASE(largest_remainder_is_exact) {
  // 256 * 1/3 = 85.33: the leftover partition goes to the first name.
  auto r = ring::build(256, equal_nodes(3));
  BOOST_CHECK(r.partitions_owned() == (std::vector<uint32_t>{86, 85, 85}));
  auto h = ring::build(256, nodes({1, 1, 1, 1, 2}));
  BOOST_CHECK(h.partitions_owned() == (std::vector<uint32_t>{43, 43, 43, 42, 85}));
}

BOOST_AUTO_TEST_CASE(equal_nodes_are_interleaved) {
  for (uint32_t q : {64u, 256u}) {
    for (size_t k = 3; k <= 8; ++k) {
      BOOST_TEST_CONTEXT("Q=" << q << ", " << k << " nodes") {
        auto r = ring::build(q, equal_nodes(k));
        check_shares(r, 0.10);
        check_neighbours_differ(r);
        check_preference_lists(r, 3);
        for (partition_id p = 0; p < q; ++p)
          BOOST_CHECK_LE(walk_length(r, p, 3), 4u);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(skewed_capacities_still_list_every_node) {
  for (auto caps : std::vector<std::vector<uint32_t>>{
           {1, 5}, {1, 1, 5}, {1, 2, 3}, {3, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 9}}) {
    auto r = ring::build(256, nodes(caps));
    check_shares(r, 0.10);
    check_preference_lists(r, 3);
  }
}

BOOST_AUTO_TEST_CASE(more_members_than_partitions) {
  auto r = ring::build(2, equal_nodes(5));
  auto counts = r.partitions_owned();
  BOOST_CHECK_EQUAL(std::count(counts.begin(), counts.end(), 1u), 2);
  check_preference_lists(r, 3);
  auto single = ring::build(1, equal_nodes(1));
  BOOST_CHECK_EQUAL(single.owner(0), "n1");
  BOOST_CHECK(single.preference_list(0, 3) == std::vector<std::string>{"n1"});
}

BOOST_AUTO_TEST_CASE(preconditions_are_checked) {
  BOOST_CHECK_THROW(ring::build(100, equal_nodes(3)), std::invalid_argument);
  BOOST_CHECK_THROW(ring::build(0, equal_nodes(3)), std::invalid_argument);
  BOOST_CHECK_THROW(ring::build(64, {}), std::invalid_argument);
  BOOST_CHECK_THROW(ring::build(64, {{"a", 1}, {"a", 2}}), std::invalid_argument);
  BOOST_CHECK_THROW(ring::build(64, {{"a", 1}, {"b", 0}}), std::invalid_argument);
  auto r = ring::build(64, equal_nodes(3));
  BOOST_CHECK_THROW(r.owner(64), std::out_of_range);
  BOOST_CHECK_THROW(r.preference_list(64, 3), std::out_of_range);
  BOOST_CHECK_THROW(r.rebalance({}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(largest_ring_builds_and_rebalances) {
  auto r = ring::build(65536, nodes({1, 2, 3, 1, 1}));
  check_shares(r, 0.01);
  check_neighbours_differ(r);
  auto grown = r.rebalance(nodes({1, 2, 3, 1, 1, 2}));
  BOOST_CHECK_EQUAL(count_moves(r, grown), owned_by(grown, "n6"));
  check_shares(grown, 0.01);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ring_rebalance)

BOOST_AUTO_TEST_CASE(same_members_move_nothing) {
  for (auto caps : std::vector<std::vector<uint32_t>>{{1, 1, 1}, {1, 1, 2}, {1, 1, 1, 1, 2}}) {
    auto r = ring::build(256, nodes(caps));
    auto members = nodes(caps);
    std::reverse(members.begin(), members.end());
    auto same = r.rebalance(members);
    BOOST_CHECK_EQUAL(count_moves(r, same), 0u);
    BOOST_CHECK(owners(r) == owners(same));
  }
}

BOOST_AUTO_TEST_CASE(adding_a_node_moves_only_its_share) {
  for (uint32_t q : {64u, 256u}) {
    for (size_t k = 3; k <= 7; ++k) {
      for (uint32_t capacity : {1u, 2u}) {
        BOOST_TEST_CONTEXT("Q=" << q << ", " << k << " nodes + one of capacity " << capacity) {
          auto before = ring::build(q, equal_nodes(k));
          auto members = equal_nodes(k);
          auto added = "n" + std::to_string(k + 1);
          members.push_back({added, capacity});
          auto after = before.rebalance(members);
          auto moves = count_moves(before, after);
          auto target = owned_by(ring::build(q, members), added);
          BOOST_CHECK_EQUAL(owned_by(after, added), target);
          BOOST_CHECK_LE(moves, target + 2);
          for (partition_id p = 0; p < q; ++p)
            if (before.owner(p) != after.owner(p))
              BOOST_CHECK_EQUAL(after.owner(p), added);
          check_shares(after, 0.10);
          check_preference_lists(after, 3);
          if (capacity == 1)
            check_neighbours_differ(after);
          if (q == 256 && k == 3 && capacity == 2)
            BOOST_TEST_MESSAGE("3 nodes + capacity 2 at Q=256: " << moves << " moves, n4 owns "
                                                                 << owned_by(after, added));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(removing_a_node_moves_only_its_partitions) {
  for (uint32_t q : {64u, 256u}) {
    for (size_t k = 3; k <= 8; ++k) {
      for (size_t gone = 0; gone < k; gone += k - 1) {
        BOOST_TEST_CONTEXT("Q=" << q << ", " << k << " nodes, removing n" << gone + 1) {
          auto members = equal_nodes(k);
          auto before = ring::build(q, members);
          auto name = members[gone].name;
          members.erase(members.begin() + gone);
          auto after = before.rebalance(members);
          for (partition_id p = 0; p < q; ++p)
            if (before.owner(p) != name)
              BOOST_CHECK_EQUAL(after.owner(p), before.owner(p));
          BOOST_CHECK_EQUAL(count_moves(before, after), owned_by(before, name));
          BOOST_CHECK_EQUAL(owned_by(after, name), 0u);
          check_shares(after, 0.10);
          check_preference_lists(after, 3);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(growing_one_node_at_a_time) {
  // 1 -> 8 nodes: each step moves exactly what the newcomer should own, and the ring stays as
  // interleaved as a ring built from scratch.
  auto members = equal_nodes(1);
  auto r = ring::build(256, members);
  for (size_t k = 2; k <= 8; ++k) {
    BOOST_TEST_CONTEXT(k << " nodes") {
      members.push_back({"n" + std::to_string(k), 1});
      auto next = r.rebalance(members);
      BOOST_CHECK_EQUAL(count_moves(r, next), owned_by(next, members.back().name));
      check_shares(next, 0.10);
      check_neighbours_differ(next);
      check_preference_lists(next, 3);
      r = next;
    }
  }
}

BOOST_AUTO_TEST_CASE(capacity_change_and_replacement) {
  auto before = ring::build(256, nodes({1, 1, 1, 1}));
  // n2 doubles: it gains only what the others give up.
  auto grown = before.rebalance(nodes({1, 2, 1, 1}));
  BOOST_CHECK_EQUAL(count_moves(before, grown), owned_by(grown, "n2") - owned_by(before, "n2"));
  check_shares(grown, 0.10);
  check_preference_lists(grown, 3);
  // n4 replaced by n5: exactly n4's partitions move, all to n5, keeping the interleaving.
  auto replaced = before.rebalance({{"n1", 1}, {"n2", 1}, {"n3", 1}, {"n5", 1}});
  BOOST_CHECK_EQUAL(count_moves(before, replaced), owned_by(before, "n4"));
  for (partition_id p = 0; p < 256; ++p)
    if (before.owner(p) == "n4")
      BOOST_CHECK_EQUAL(replaced.owner(p), "n5");
  check_neighbours_differ(replaced);
}

BOOST_AUTO_TEST_CASE(rebalance_is_deterministic) {
  auto before = ring::build(256, equal_nodes(4));
  auto members = nodes({1, 1, 1, 1, 2});
  auto a = before.rebalance(members);
  std::reverse(members.begin(), members.end());
  auto b = before.rebalance(members);
  BOOST_CHECK(owners(a) == owners(b));
}

BOOST_AUTO_TEST_CASE(a_ring_kept_as_owner_names_comes_back_the_same) {
  auto r = ring::build(64, {{"a", 1}, {"b", 1}, {"c", 2}});
  auto back = ring::from_owners({{"c", 2}, {"a", 1}, {"b", 1}}, r.owner_names());
  for (partition_id p = 0; p < 64; ++p) {
    BOOST_TEST((back.preference_list(p, 3) == r.preference_list(p, 3)));
    auto prefs = r.preference_list(p, 3);
    prefs.resize(2);
    BOOST_TEST((r.home_replicas(p, 2) == prefs));
  }
  BOOST_CHECK_THROW(ring::from_owners({{"a", 1}}, r.owner_names()), std::invalid_argument);
  BOOST_CHECK_THROW(ring::from_owners({{"a", 1}}, {"a", "a", "a"}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(transfers_go_exactly_to_the_new_home_replicas) {
  auto from = ring::build(64, {{"a", 1}, {"b", 1}, {"c", 1}});
  auto to = from.rebalance({{"a", 1}, {"b", 1}, {"c", 1}, {"d", 2}});
  auto transfers = transfers_between(from, to, 3);
  BOOST_TEST(transfers_between(from, from, 3).empty());
  BOOST_TEST(std::is_sorted(transfers.begin(), transfers.end()));
  size_t expected = 0;
  for (partition_id p = 0; p < 64; ++p) {
    auto before = from.home_replicas(p, 3);
    for (auto& name : to.home_replicas(p, 3))
      if (std::find(before.begin(), before.end(), name) == before.end()) {
        ++expected;
        BOOST_TEST(
            std::binary_search(transfers.begin(), transfers.end(), partition_transfer{p, name}));
      }
  }
  BOOST_TEST(transfers.size() == expected);
  for (auto& t : transfers)
    BOOST_TEST(t.target == "d"); // a join only copies to the newcomer
}

BOOST_AUTO_TEST_SUITE_END()
