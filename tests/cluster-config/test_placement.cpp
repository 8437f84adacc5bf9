// Replica placement: whom a coordinator asks for each partition (home replicas, fallbacks holding
// hints, nodes joining during a change), which partitions a node replicates, which it hands over
// after a ring change, and which partition transfers it sends while a change runs.
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "cluster-config/membership_view.hpp"
#include "cluster-config/placement.hpp"

using namespace actorkv;

namespace {

constexpr uint32_t n_replicas = 3;

/// n1..nK, capacity 1 each.
std::vector<ring_member> nodes(size_t k) {
  std::vector<ring_member> out;
  for (size_t i = 1; i <= k; ++i)
    out.push_back({"n" + std::to_string(i), 1});
  return out;
}

/// Inputs for `self` with every peer reachable except those in `down`.
placement_inputs inputs(const std::string& self, std::set<std::string> down = {},
                        bool fallbacks = true) {
  placement_inputs in;
  in.self = self;
  in.replicas = n_replicas;
  in.fallbacks = fallbacks;
  in.reachable = [down](const std::string& name) { return down.count(name) == 0; };
  return in;
}

replica_slot home(const std::string& node) {
  return replica_slot{node, {}};
}

replica_slot fallback(const std::string& node, const std::string& hint_for) {
  return replica_slot{node, hint_for};
}

/// "n2 n1 n4>n3": the slots in order, a fallback with the node it holds hints for.
std::string show(const std::vector<replica_slot>& slots) {
  std::string out;
  for (auto& s : slots)
    out += (out.empty() ? "" : " ") + s.node + (s.hint_for.empty() ? "" : ">" + s.hint_for);
  return out;
}

std::string show(const std::vector<std::string>& names) {
  std::string out;
  for (auto& n : names)
    out += (out.empty() ? "" : " ") + n;
  return out;
}

std::string show(const std::vector<handoff_task>& tasks) {
  std::string out;
  for (auto& t : tasks)
    out += (out.empty() ? "" : ", ") + std::string(t.release ? "release " : "") +
           std::to_string(t.partition) + " -> " + show(t.targets);
  return out;
}

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

/// A view of valid members n1..nK whose ring in force is `owners`.
membership_view view_of(size_t k, const std::vector<std::string>& owners) {
  membership_view v;
  for (size_t i = 1; i <= k; ++i)
    upsert(v, member_info{"n" + std::to_string(i), "127.0.0.1", uint16_t(7100 + i), 1,
                          member_state::valid, 1, 10, "default"});
  v.layout.owners = owners;
  return v;
}

/// The first home replica of `p` under `r` that is not in `skip`: who sends p's transfers.
std::string first_home_except(const ring& r, partition_id p, const std::set<std::string>& skip) {
  for (auto& name : r.home_replicas(p, n_replicas))
    if (skip.count(name) == 0)
      return name;
  return "";
}

/// The transfer tasks `sender` should get: the not-done transfers of the partitions it sends.
std::vector<handoff_task> expected_transfers(const membership_view& v, const ring& in_force,
                                             const std::string& self,
                                             const std::set<std::string>& skip) {
  std::vector<handoff_task> out;
  for (auto& t : transfers_needed(v, n_replicas)) {
    if (std::binary_search(v.layout.done.begin(), v.layout.done.end(), t) ||
        first_home_except(in_force, t.partition, skip) != self)
      continue;
    if (out.empty() || out.back().partition != t.partition)
      out.push_back(handoff_task{t.partition, {}, false});
    out.back().targets.push_back(t.target);
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(placement)

BOOST_AUTO_TEST_CASE(with_everyone_up_the_home_replicas_are_asked_in_order_self_first) {
  auto r = ring::build(16, nodes(5));
  for (partition_id p = 0; p < r.partitions(); ++p) {
    auto prefs = r.preference_list(p, n_replicas);
    BOOST_REQUIRE(prefs.size() == 5u);
    auto mine = plan_partition(r, nullptr, p, inputs(prefs[1]));
    BOOST_TEST(show(mine.replicas) == show({home(prefs[1]), home(prefs[0]), home(prefs[2])}),
               "partition " << p);
    BOOST_TEST(mine.joining.empty());
    // A node that is no home replica of p asks the home replicas in preference order.
    auto other = plan_partition(r, nullptr, p, inputs(prefs[4]));
    BOOST_TEST(show(other.replicas) == show({home(prefs[0]), home(prefs[1]), home(prefs[2])}),
               "partition " << p);
  }
  auto all = plan_partitions(r, nullptr, inputs("n3"));
  BOOST_REQUIRE(all.size() == 16u);
  for (partition_id p = 0; p < r.partitions(); ++p)
    BOOST_TEST(show(all[p].replicas) == show(plan_partition(r, nullptr, p, inputs("n3")).replicas));
}

BOOST_AUTO_TEST_CASE(a_home_replica_down_gets_the_next_reachable_node_as_its_fallback) {
  auto r = ring::build(16, nodes(5));
  auto prefs = r.preference_list(5, n_replicas);
  auto plan = plan_partition(r, nullptr, 5, inputs(prefs[0], {prefs[1]}));
  BOOST_TEST(show(plan.replicas) ==
             show({home(prefs[0]), home(prefs[2]), fallback(prefs[3], prefs[1])}));
  // The first fallback is down too: the next one in the preference list holds the hints.
  plan = plan_partition(r, nullptr, 5, inputs(prefs[0], {prefs[1], prefs[3]}));
  BOOST_TEST(show(plan.replicas) ==
             show({home(prefs[0]), home(prefs[2]), fallback(prefs[4], prefs[1])}));
}

BOOST_AUTO_TEST_CASE(this_node_can_be_the_fallback_and_then_is_not_asked_first) {
  auto r = ring::build(16, nodes(5));
  auto prefs = r.preference_list(9, n_replicas);
  auto plan = plan_partition(r, nullptr, 9, inputs(prefs[3], {prefs[2]}));
  BOOST_TEST(show(plan.replicas) ==
             show({home(prefs[0]), home(prefs[1]), fallback(prefs[3], prefs[2])}));
}

BOOST_AUTO_TEST_CASE(without_a_sloppy_quorum_a_down_home_replica_gets_no_fallback) {
  auto r = ring::build(16, nodes(5));
  auto prefs = r.preference_list(2, n_replicas);
  auto plan = plan_partition(r, nullptr, 2, inputs(prefs[0], {prefs[1]}, false));
  BOOST_TEST(show(plan.replicas) == show({home(prefs[0]), home(prefs[2])}));
}

BOOST_AUTO_TEST_CASE(fallbacks_run_out_when_too_few_nodes_are_left) {
  auto r = ring::build(16, nodes(5));
  auto prefs = r.preference_list(0, n_replicas);
  // Two home replicas down: each gets its own fallback, in preference order.
  auto plan = plan_partition(r, nullptr, 0, inputs(prefs[1], {prefs[0], prefs[2]}));
  BOOST_TEST(show(plan.replicas) ==
             show({home(prefs[1]), fallback(prefs[3], prefs[0]), fallback(prefs[4], prefs[2])}));
  // One fallback down as well: the second unreachable home replica gets none.
  plan = plan_partition(r, nullptr, 0, inputs(prefs[1], {prefs[0], prefs[2], prefs[3]}));
  BOOST_TEST(show(plan.replicas) == show({home(prefs[1]), fallback(prefs[4], prefs[0])}));
  // Three nodes and N = 3: nobody is left to stand in.
  auto small = ring::build(16, nodes(3));
  auto three = small.preference_list(0, n_replicas);
  plan = plan_partition(small, nullptr, 0, inputs(three[0], {three[2]}));
  BOOST_TEST(show(plan.replicas) == show({home(three[0]), home(three[1])}));
}

BOOST_AUTO_TEST_CASE(during_a_change_new_home_replicas_get_writes_as_joining) {
  auto old_ring = ring::build(16, nodes(3));
  auto next = old_ring.rebalance(nodes(4)); // n4 joins
  size_t with_joiner = 0;
  for (partition_id p = 0; p < old_ring.partitions(); ++p) {
    auto plain = plan_partition(old_ring, nullptr, p, inputs("n1"));
    auto plan = plan_partition(old_ring, &next, p, inputs("n1"));
    // Three nodes homed everything: n4 is the only new home replica, where it becomes one.
    auto joins = contains(next.home_replicas(p, n_replicas), "n4");
    with_joiner += joins;
    BOOST_TEST(show(plan.joining) == (joins ? "n4" : ""), "partition " << p);
    BOOST_TEST(show(plan.replicas) == show(plain.replicas)); // joining nodes do not count for W
    // Unreachable, n4 is left out.
    BOOST_TEST(plan_partition(old_ring, &next, p, inputs("n1", {"n4"})).joining.empty());
  }
  BOOST_TEST(with_joiner > 0u);
  // n5 leaves a five-node ring: whoever takes over its partitions joins them, if reachable.
  auto five = ring::build(16, nodes(5));
  auto four = five.rebalance(nodes(4));
  size_t joined = 0;
  for (partition_id p = 0; p < five.partitions(); ++p) {
    auto before = five.home_replicas(p, n_replicas);
    std::vector<std::string> expected;
    for (auto& name : four.home_replicas(p, n_replicas))
      if (!contains(before, name) && name != "n2")
        expected.push_back(name);
    auto plan = plan_partition(five, &four, p, inputs("n1", {"n2"}));
    BOOST_TEST(show(plan.joining) == show(expected), "partition " << p);
    joined += plan.joining.size();
  }
  BOOST_TEST(joined > 0u);
}

BOOST_AUTO_TEST_CASE(home_partitions_lists_what_a_node_replicates_with_whom) {
  auto r = ring::build(16, nodes(5));
  size_t total = 0;
  for (auto& m : nodes(5)) {
    auto mine = home_partitions(r, m.name, n_replicas);
    std::vector<std::pair<partition_id, std::vector<std::string>>> expected;
    for (partition_id p = 0; p < r.partitions(); ++p) {
      auto prefs = r.preference_list(p, n_replicas);
      prefs.resize(n_replicas);
      if (!contains(prefs, m.name))
        continue;
      prefs.erase(std::find(prefs.begin(), prefs.end(), m.name));
      expected.emplace_back(p, prefs);
    }
    BOOST_TEST_REQUIRE(mine.size() == expected.size(), m.name);
    for (size_t i = 0; i < mine.size(); ++i) {
      BOOST_TEST(mine[i].first == expected[i].first);
      BOOST_TEST(show(mine[i].second) == show(expected[i].second));
    }
    total += mine.size();
  }
  BOOST_TEST(total == 16u * n_replicas); // every partition is on exactly N nodes
  // N = number of nodes: every node replicates every partition with all the others.
  auto everything = home_partitions(ring::build(8, nodes(3)), "n2", 3);
  BOOST_REQUIRE(everything.size() == 8u);
  for (auto& [p, others] : everything) {
    BOOST_TEST(others.size() == 2u);
    BOOST_TEST(!contains(others, "n2"));
  }
}

BOOST_AUTO_TEST_CASE(a_departing_node_releases_its_partitions_to_their_new_home_replicas) {
  auto before = ring::build(16, nodes(4));
  auto now = before.rebalance(nodes(3)); // n4 leaves
  std::map<partition_id, std::vector<std::string>> releases;
  update_releases(releases, before, now, "n4", n_replicas);
  size_t had = 0;
  for (partition_id p = 0; p < before.partitions(); ++p) {
    auto old_homes = before.home_replicas(p, n_replicas);
    if (!contains(old_homes, "n4")) {
      BOOST_TEST(releases.count(p) == 0u, "partition " << p);
      continue;
    }
    ++had;
    BOOST_TEST_REQUIRE(releases.count(p) == 1u, "partition " << p);
    // Exactly the nodes that replicate it now and did not before.
    std::vector<std::string> takers;
    for (auto& name : now.home_replicas(p, n_replicas))
      if (!contains(old_homes, name))
        takers.push_back(name);
    BOOST_TEST(!takers.empty());
    BOOST_TEST(show(releases[p]) == show(takers));
  }
  BOOST_TEST(releases.size() == had);
  // n1 replicates every partition of a three-node ring: it releases nothing.
  std::map<partition_id, std::vector<std::string>> none;
  update_releases(none, before, now, "n1", n_replicas);
  BOOST_TEST(none.empty());
}

BOOST_AUTO_TEST_CASE(a_partition_replicated_here_again_is_no_longer_released) {
  auto before = ring::build(16, nodes(4));
  auto now = before.rebalance(nodes(3)); // n4 leaves ...
  std::map<partition_id, std::vector<std::string>> releases;
  update_releases(releases, before, now, "n4", n_replicas);
  auto released = releases;
  BOOST_REQUIRE(!released.empty());
  auto later = now.rebalance(nodes(4)); // ... and comes back before its handoff finished
  update_releases(releases, now, later, "n4", n_replicas);
  size_t kept = 0;
  for (auto& [p, takers] : released) {
    auto again = contains(later.home_replicas(p, n_replicas), "n4");
    BOOST_TEST(releases.count(p) == (again ? 0u : 1u), "partition " << p);
    kept += !again;
  }
  BOOST_TEST(releases.size() == kept);
  BOOST_TEST(kept < released.size());
}

BOOST_AUTO_TEST_CASE(releases_stay_as_they_are_without_a_new_ring_or_new_replicas) {
  auto r = ring::build(16, nodes(4));
  std::map<partition_id, std::vector<std::string>> releases{{3, {"n2"}}};
  auto self = r.home_replicas(3, n_replicas)[0]; // a home replica of 3, but the ring is the same
  update_releases(releases, r, r, self, n_replicas);
  BOOST_TEST(releases.size() == 1u);
  BOOST_TEST(show(releases[3]) == "n2");
  // Three nodes down to two with N = 3: nobody new takes n3's partitions over.
  auto three = ring::build(16, nodes(3));
  std::map<partition_id, std::vector<std::string>> none;
  update_releases(none, three, three.rebalance(nodes(2)), "n3", n_replicas);
  BOOST_TEST(none.empty());
}

BOOST_AUTO_TEST_CASE(each_transfer_is_sent_by_the_first_live_remaining_home_replica) {
  auto base = view_of(4, ring::build(16, nodes(4)).owner_names());
  auto v = apply_change(base, "remove", "n2", n_replicas, 100); // n2 died; the others take over
  BOOST_REQUIRE(v);
  auto in_force = current_ring(*v);
  auto needed = transfers_needed(*v, n_replicas);
  BOOST_REQUIRE(!needed.empty());
  auto everyone = [](const std::string&) { return true; };
  // n2 is removed: even answering, it sends nothing, and its transfers pass to the next.
  std::vector<partition_transfer> sent;
  size_t passed_on = 0;
  for (auto& self : {"n1", "n2", "n3", "n4"}) {
    auto tasks = handoff_tasks(*v, in_force, {}, self, n_replicas, everyone);
    BOOST_TEST(show(tasks) == show(expected_transfers(*v, in_force, self, {"n2"})), self);
    for (auto& t : tasks) {
      BOOST_TEST(!t.release);
      passed_on += in_force.home_replicas(t.partition, n_replicas)[0] == "n2";
      for (auto& target : t.targets)
        sent.push_back(partition_transfer{t.partition, target});
    }
  }
  BOOST_TEST(handoff_tasks(*v, in_force, {}, "n2", n_replicas, everyone).empty());
  BOOST_TEST(passed_on > 0u);
  std::sort(sent.begin(), sent.end());
  BOOST_TEST((sent == needed)); // each transfer once, from exactly one node
  // n3 is down as well: n1 and n4 pick up what n3 would have sent.
  auto no_n3 = [](const std::string& name) { return name != "n3"; };
  for (auto& self : {"n1", "n4"})
    BOOST_TEST(show(handoff_tasks(*v, in_force, {}, self, n_replicas, no_n3)) ==
                   show(expected_transfers(*v, in_force, self, {"n2", "n3"})),
               self);
  // Finished transfers are not sent again.
  auto partly = *v;
  partly.layout.done.assign(needed.begin(), needed.begin() + needed.size() / 2);
  auto tasks = handoff_tasks(partly, in_force, {}, "n1", n_replicas, everyone);
  BOOST_TEST(show(tasks) == show(expected_transfers(partly, in_force, "n1", {"n2"})));
  for (auto& t : tasks)
    for (auto& target : t.targets)
      BOOST_TEST(!std::binary_search(partly.layout.done.begin(), partly.layout.done.end(),
                                     partition_transfer{t.partition, target}));
}

BOOST_AUTO_TEST_CASE(transfers_are_one_task_per_partition_and_releases_come_last) {
  // n4 and n5 removed at once: a partition both replicated goes to two new home replicas.
  auto five = ring::build(16, nodes(5));
  auto v = view_of(5, five.owner_names());
  for (auto name : {"n4", "n5"}) {
    auto m = *find_member(v, name);
    m.state = member_state::removed;
    upsert(v, m);
  }
  v.layout.epoch = 1;
  v.layout.next_owners = five.rebalance(nodes(3)).owner_names();
  auto in_force = current_ring(v);
  std::map<partition_id, std::vector<std::string>> releases{{2, {"n3"}}, {11, {"n2", "n3"}}};
  auto everyone = [](const std::string&) { return true; };
  auto tasks = handoff_tasks(v, in_force, releases, "n1", n_replicas, everyone);
  auto expected = expected_transfers(v, in_force, "n1", {"n4", "n5"});
  BOOST_REQUIRE(!expected.empty());
  expected.push_back(handoff_task{2, {"n3"}, true});
  expected.push_back(handoff_task{11, {"n2", "n3"}, true});
  BOOST_TEST(show(tasks) == show(expected));
  size_t two_targets = 0;
  for (auto& self : {"n1", "n2", "n3"}) {
    std::set<partition_id> seen;
    for (auto& t : handoff_tasks(v, in_force, {}, self, n_replicas, everyone)) {
      BOOST_TEST(seen.insert(t.partition).second, "partition " << t.partition << " twice");
      two_targets += t.targets.size() == 2;
    }
  }
  BOOST_TEST(two_targets > 0u);
  // With no change under way only the releases remain.
  auto settled = view_of(3, ring::build(16, nodes(3)).owner_names());
  BOOST_TEST(show(handoff_tasks(settled, current_ring(settled), releases, "n1", n_replicas,
                                everyone)) == "release 2 -> n3, release 11 -> n2 n3");
}

BOOST_AUTO_TEST_CASE(a_peer_flip_replans_only_the_partitions_that_can_depend_on_it) {
  // 12 nodes, Q = 1024, n13 joining (a change under way): flips of random peers, one at a time,
  // each followed by a plan_book refresh whose plans replace those it names; after each the plans
  // equal a full plan_partitions of the same inputs, and with every peer up it plans again only
  // the flipped peer's home partitions (about Q·N/n of them), not all Q.
  auto in_force = ring::build(1024, nodes(12));
  auto next = in_force.rebalance(nodes(13));
  std::set<std::string> down;
  auto in = [&] { return inputs("n1", down); };
  plan_book book;
  auto plans = book.rebuild(in_force, &next, in());
  BOOST_TEST((plans == plan_partitions(in_force, &next, in())));
  std::mt19937 rng{17};
  size_t replanned_all_up = 0, flips_all_up = 0;
  for (int flip = 0; flip < 200; ++flip) {
    auto peer = "n" + std::to_string(2 + rng() % 12); // n2..n13
    bool all_up = down.empty();
    if (!down.erase(peer))
      down.insert(peer);
    for (auto& [p, plan] : book.refresh(in_force, &next, in(), peer))
      plans[p] = plan;
    BOOST_REQUIRE_MESSAGE((plans == plan_partitions(in_force, &next, in())),
                          "flip " << flip << " of " << peer);
    if (all_up) {
      replanned_all_up += book.last_replanned();
      ++flips_all_up;
      // Its home partitions under either ring: at most 2·Q·N/n, and some.
      BOOST_TEST(book.last_replanned() > 0u);
      BOOST_TEST(book.last_replanned() <= 2 * 1024 * n_replicas / 12);
    }
  }
  BOOST_TEST(flips_all_up > 0u);
  BOOST_TEST_MESSAGE("partitions replanned per flip with every peer up: "
                     << replanned_all_up / std::max<size_t>(flips_all_up, 1) << " of 1024");
  // Without a change under way too.
  plan_book plain;
  down.clear();
  plans = plain.rebuild(in_force, nullptr, in());
  down.insert("n5");
  for (auto& [p, plan] : plain.refresh(in_force, nullptr, in(), "n5"))
    plans[p] = plan;
  BOOST_TEST((plans == plan_partitions(in_force, nullptr, in())));
}

BOOST_AUTO_TEST_CASE(a_ring_change_replans_only_the_partitions_it_moves) {
  // 12 nodes, Q = 1024, n7 down (its partitions walk fallbacks); n13 joins: the change begins
  // (a next ring), then ends (the next ring in force). After each, the plans change_rings names
  // replace the old ones and then equal a full plan_partitions of the new rings; it names the
  // partitions whose home replicas moved and the degraded ones, not all Q. Refreshes after it
  // still find every partition that depends on a peer (its index is the new rings').
  auto in_force = ring::build(1024, nodes(12));
  auto next = in_force.rebalance(nodes(13));
  std::set<std::string> down{"n7"};
  auto in = [&] { return inputs("n1", down); };
  plan_book book;
  auto plans = book.rebuild(in_force, nullptr, in());
  for (auto& [p, plan] : book.change_rings(in_force, nullptr, in_force, &next, in()))
    plans[p] = plan;
  BOOST_TEST((plans == plan_partitions(in_force, &next, in())));
  auto begun = book.last_replanned();
  for (auto& [p, plan] : book.change_rings(in_force, &next, next, nullptr, in()))
    plans[p] = plan;
  BOOST_TEST((plans == plan_partitions(next, nullptr, in())));
  auto ended = book.last_replanned();
  BOOST_TEST_MESSAGE("partitions replanned when the change began / ended: " << begun << " / "
                                                                            << ended << " of 1024");
  // What n13 takes over (its home partitions, about Q·N/13) and n7's degraded ones (Q·N/12).
  BOOST_TEST(begun > 0u);
  BOOST_TEST(begun < 1024u / 2);
  BOOST_TEST(ended < 1024u / 2);
  for (auto peer : {"n7", "n3", "n13"}) {
    if (!down.erase(peer))
      down.insert(peer);
    for (auto& [p, plan] : book.refresh(next, nullptr, in(), peer))
      plans[p] = plan;
    BOOST_REQUIRE_MESSAGE((plans == plan_partitions(next, nullptr, in())), "flip of " << peer);
  }
  // With every peer up, only what moves.
  down.clear();
  plan_book all_up;
  plans = all_up.rebuild(in_force, nullptr, in());
  for (auto& [p, plan] : all_up.change_rings(in_force, nullptr, in_force, &next, in()))
    plans[p] = plan;
  BOOST_TEST((plans == plan_partitions(in_force, &next, in())));
  BOOST_TEST_MESSAGE("with every peer up, when the change began: " << all_up.last_replanned()
                                                                    << " of 1024");
  BOOST_TEST(all_up.last_replanned() < begun);
}

BOOST_AUTO_TEST_SUITE_END()
