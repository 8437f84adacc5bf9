#include <boost/test/unit_test.hpp>

#include <random>

#include <algorithm>
#include <set>

#include "cluster-config/membership_view.hpp"
#include "messages/error.hpp"

using namespace actorkv;

namespace {

member_info member(const std::string& name, uint64_t version, uint64_t incarnation = 1,
                   member_state state = member_state::valid) {
  return member_info{name, "127.0.0.1", 7100, 1, state, incarnation, version, "default"};
}

membership_view view_of(std::initializer_list<member_info> ms) {
  membership_view v;
  for (auto& m : ms)
    upsert(v, m);
  return v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(membership_views)

BOOST_AUTO_TEST_CASE(newer_entry_wins_and_unknown_members_are_learnt) {
  auto a = view_of({member("n1", 5, 11), member("n2", 1)});
  auto b = view_of({member("n1", 7, 12), member("n3", 1)});
  auto m = merge(a, b);
  BOOST_REQUIRE(m.members.size() == 3u);
  BOOST_TEST(find_member(m, "n1")->incarnation == 12u);
  BOOST_TEST(find_member(m, "n2") != nullptr);
  BOOST_TEST(find_member(m, "n3") != nullptr);
}

BOOST_AUTO_TEST_CASE(equal_versions_resolve_the_same_way_everywhere) {
  auto a = view_of({member("n1", 5, 11, member_state::valid)});
  auto b = view_of({member("n1", 5, 11, member_state::removed)});
  BOOST_TEST((merge(a, b) == merge(b, a)));
  BOOST_TEST((find_member(merge(a, b), "n1")->state == member_state::removed));
}

BOOST_AUTO_TEST_CASE(gossip_in_any_order_converges) {
  unsigned seed = std::random_device{}();
  if (auto* env = std::getenv("ACTORKV_SEED"))
    seed = static_cast<unsigned>(std::stoul(env));
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937 rng{seed};
  // Five nodes each know a different random history; pairwise push-pull gossip in random order.
  // An incarnation belongs to one name, and a later one starts later, at higher versions: an
  // entry of an incarnation that was replaced never comes back (merge drops such entries).
  std::vector<membership_view> views(5);
  for (auto& v : views)
    for (int k = 0; k < 6; ++k) {
      auto name = rng() % 6;
      auto later = rng() % 3;
      v = merge(v, view_of({member("n" + std::to_string(name), 3 * later + rng() % 3,
                                   1 + 3 * name + later, static_cast<member_state>(rng() % 3))}));
    }
  membership_view all;
  for (auto& v : views)
    all = merge(all, v);
  for (int round = 0; round < 200; ++round) {
    auto i = rng() % 5, j = rng() % 5;
    auto m = merge(views[i], views[j]);
    views[i] = m;
    views[j] = m;
  }
  for (auto& v : views) {
    BOOST_TEST((v == all), "seed " << seed);
    BOOST_TEST(fingerprint(v) == fingerprint(all));
  }
  BOOST_TEST((merge(all, all) == all));
}

BOOST_AUTO_TEST_SUITE_END()

// --- membership changes and the ring layout ----------------------------------------------------

namespace {

/// Three valid members (n1..n3) on 127.0.0.1:7101..7103 and the ring they build, Q = 64; plus n4
/// (capacity 2) joining on port 7104 when `with_joiner`.
membership_view three_nodes(bool with_joiner) {
  membership_view v;
  std::vector<ring_member> members;
  for (int i = 1; i <= 3; ++i) {
    upsert(v, member_info{"n" + std::to_string(i), "127.0.0.1", uint16_t(7100 + i), 1,
                          member_state::valid, 1, 10, "default"});
    members.push_back({"n" + std::to_string(i), 1});
  }
  if (with_joiner)
    upsert(v, member_info{"n4", "127.0.0.1", 7104, 2, member_state::joining, 4, 10, "default"});
  v.layout.owners = ring::build(64, members).owner_names();
  return v;
}

/// Marks every transfer the change under way needs as done.
void finish_transfers(membership_view& v, uint32_t n) {
  v.layout.done = transfers_needed(v, n);
}

} // namespace

BOOST_AUTO_TEST_SUITE(membership_changes)

BOOST_AUTO_TEST_CASE(a_join_sets_the_next_ring_and_promotes_once_every_transfer_is_done) {
  auto before = three_nodes(true);
  auto after = apply_change(before, "join", "127.0.0.1:7104", 3, 100);
  BOOST_REQUIRE(after);
  BOOST_TEST((find_member(*after, "n4")->state == member_state::valid));
  BOOST_TEST(find_member(*after, "n4")->version >= 100u);
  BOOST_TEST(after->layout.epoch == 1u);
  BOOST_REQUIRE(next_ring(*after));
  auto owned = 0;
  for (auto& o : after->layout.next_owners)
    owned += o == "n4";
  BOOST_TEST(owned == 26 - 1); // 64 * 2/5 = 25.6, largest remainder gives 25 or 26
  auto needed = transfers_needed(*after, 3);
  BOOST_TEST(!needed.empty());
  for (auto& t : needed)
    BOOST_TEST(t.target == "n4"); // only the newcomer receives copies
  auto partial = *after;
  partial.layout.done.assign(needed.begin(), needed.end() - 1);
  BOOST_TEST(!promote_if_complete(partial, 3));
  BOOST_TEST(partial.layout.epoch == 1u);
  finish_transfers(partial, 3);
  BOOST_TEST(promote_if_complete(partial, 3));
  BOOST_TEST(partial.layout.epoch == 2u);
  BOOST_TEST(partial.layout.next_owners.empty());
  BOOST_TEST(partial.layout.done.empty());
  BOOST_TEST((partial.layout.owners == after->layout.next_owners));
  auto text = describe_change(before, *after, 3);
  BOOST_TEST(text.find("25 of 64 partitions change owner") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(changes_that_cannot_be_made_say_why) {
  auto v = three_nodes(true);
  auto refused = [&](const membership_view& view, const std::string& action,
                     const std::string& subject, const std::string& why) {
    auto r = apply_change(view, action, subject, 3, 1);
    BOOST_TEST_REQUIRE(!r, action << " " << subject << " was accepted");
    BOOST_TEST((r.error() == ec::bad_request));
    BOOST_TEST(describe(r.error()).find(why) != std::string::npos, describe(r.error()));
  };
  refused(v, "join", "127.0.0.1:9999", "has asked to join");
  refused(v, "join", "127.0.0.1:7101", "already a member");
  refused(v, "leave", "n9", "no member named");
  refused(v, "remove", "n1", "only 2 nodes would hold data");
  refused(v, "rename", "n1", "unknown change");
  auto running = *apply_change(v, "join", "127.0.0.1:7104", 3, 1);
  refused(running, "leave", "n1", "a handoff is still running");
}

BOOST_AUTO_TEST_CASE(a_remove_during_a_handoff_keeps_the_transfers_still_needed) {
  auto v = three_nodes(true);
  v = *apply_change(v, "join", "127.0.0.1:7104", 3, 1);
  auto needed = transfers_needed(v, 3);
  v.layout.done.assign(needed.begin(), needed.begin() + needed.size() / 2);
  auto after = apply_change(v, "remove", "n4", 3, 2);
  BOOST_REQUIRE(after);
  BOOST_TEST((find_member(*after, "n4")->state == member_state::removed));
  // The new target ring holds no partition of n4 and only transfers it still needs count as done.
  for (auto& o : after->layout.next_owners)
    BOOST_TEST(o != "n4");
  auto still = transfers_needed(*after, 3);
  for (auto& t : after->layout.done)
    BOOST_TEST(std::binary_search(still.begin(), still.end(), t));
}

BOOST_AUTO_TEST_CASE(a_leaving_node_has_left_once_the_ring_in_force_gives_it_nothing) {
  auto v = *apply_change(three_nodes(true), "join", "127.0.0.1:7104", 3, 1);
  finish_transfers(v, 3);
  BOOST_REQUIRE(promote_if_complete(v, 3));
  BOOST_TEST(!has_left(v, "n2")); // a valid member
  auto leaving = *apply_change(v, "leave", "n2", 3, 2);
  BOOST_TEST((find_member(leaving, "n2")->state == member_state::leaving));
  BOOST_TEST(!has_left(leaving, "n2")); // its partitions are still being handed off
  finish_transfers(leaving, 3);
  BOOST_REQUIRE(promote_if_complete(leaving, 3));
  BOOST_TEST(has_left(leaving, "n2"));
  BOOST_TEST(!has_left(leaving, "n1"));
  BOOST_TEST(!has_left(leaving, "n9")); // unknown
}

BOOST_AUTO_TEST_CASE(departed_members_are_the_removed_and_those_whose_handoff_finished) {
  auto v = *apply_change(three_nodes(true), "join", "127.0.0.1:7104", 3, 1);
  finish_transfers(v, 3);
  BOOST_REQUIRE(promote_if_complete(v, 3));
  BOOST_TEST(departed_members(v).empty());
  auto leaving = *apply_change(v, "leave", "n2", 3, 2);
  BOOST_TEST(departed_members(leaving).empty()); // still handing its partitions off
  finish_transfers(leaving, 3);
  BOOST_REQUIRE(promote_if_complete(leaving, 3));
  BOOST_TEST((departed_members(leaving) == std::vector<std::string>{"n2"}));
  auto removed = apply_change(v, "remove", "n3", 3, 3);
  BOOST_REQUIRE(removed);
  // Removed at once, before its partitions are re-replicated: its hints are useless already.
  BOOST_TEST((departed_members(*removed) == std::vector<std::string>{"n3"}));
}

BOOST_AUTO_TEST_CASE(a_removal_survives_a_restart_of_the_removed_node) {
  auto v = three_nodes(false);
  upsert(v, member_info{"n4", "127.0.0.1", 7104, 1, member_state::valid, 4, 10, "default"});
  v.layout.owners = three_nodes(false).layout.owners; // n4 owns nothing: simplest ring
  auto removed = *apply_change(v, "remove", "n4", 3, 50);
  // The node comes back with its old view and a fresh (wall-clock) version.
  auto restarted = v;
  upsert(restarted,
         member_info{"n4", "127.0.0.1", 7104, 1, member_state::valid, 4, 1u << 30, "default"});
  BOOST_TEST((find_member(merge(removed, restarted), "n4")->state == member_state::removed));
  BOOST_TEST((find_member(merge(restarted, removed), "n4")->state == member_state::removed));
}

BOOST_AUTO_TEST_CASE(ring_layouts_merge_the_same_way_in_any_order) {
  auto base = three_nodes(true);
  auto change = *apply_change(base, "join", "127.0.0.1:7104", 3, 1);
  auto needed = transfers_needed(change, 3);
  BOOST_REQUIRE(needed.size() >= 2u);
  auto a = change, b = change;
  a.layout.done = {needed[0]};
  b.layout.done = {needed[1]};
  auto ab = merge(a, b);
  BOOST_TEST((ab == merge(b, a)));
  BOOST_TEST(ab.layout.done.size() == 2u);              // finished transfers unite
  BOOST_TEST((merge(base, change).layout.epoch == 1u)); // the later epoch wins
  // Two different changes made at once on two nodes: one wins, on every node alike.
  auto x = *apply_change(base, "join", "127.0.0.1:7104", 3, 1);
  auto y = base;
  y.layout.epoch = 1;
  y.layout.next_owners = base.layout.owners;
  std::reverse(y.layout.next_owners.begin(), y.layout.next_owners.end());
  BOOST_TEST((merge(x, y).layout.next_owners == merge(y, x).layout.next_owners));
}

BOOST_AUTO_TEST_CASE(views_keep_in_text_and_come_back_equal) {
  auto v = *apply_change(three_nodes(true), "join", "127.0.0.1:7104", 3, 77);
  auto needed = transfers_needed(v, 3);
  v.layout.done.assign(needed.begin(), needed.begin() + 3);
  auto text = encode_view(v);
  auto back = decode_view(text);
  BOOST_REQUIRE(back);
  BOOST_TEST((*back == v));
  BOOST_TEST(fingerprint(*back) == fingerprint(v));
  BOOST_TEST(!decode_view(""));
  BOOST_TEST(!decode_view("actorkv-view 1\nmember n1 h\n"));
  BOOST_TEST(!decode_view("something else\n"));
  BOOST_TEST(!decode_view("actorkv-view 5\nepoch 1\nowners n1\n"));
  // A zone survives the text, and is part of the fingerprint.
  auto zoned = v;
  zoned.members[0].zone = "rack-7";
  auto zoned_back = decode_view(encode_view(zoned));
  BOOST_REQUIRE(zoned_back);
  BOOST_TEST(zoned_back->members[0].zone == "rack-7");
  BOOST_TEST(fingerprint(zoned) != fingerprint(v));
}

BOOST_AUTO_TEST_CASE(a_view_kept_before_zones_reads_with_every_member_in_the_default_zone) {
  auto back = decode_view("actorkv-view 1\n"
                          "member n1 127.0.0.1 7101 1 1 5 10\n"
                          "member n2 127.0.0.1 7102 2 1 6 11\n"
                          "epoch 3\nowners n1 n2 n1 n2\nnext\ndone\n");
  BOOST_REQUIRE(back);
  BOOST_REQUIRE_EQUAL(back->members.size(), 2u);
  BOOST_TEST(back->members[0].zone == "default");
  BOOST_TEST(back->members[1].capacity == 2u);
  BOOST_TEST(back->format == membership_format);
  // Written back, it is in the current format.
  BOOST_TEST(encode_view(*back).rfind("actorkv-view " + std::to_string(membership_format) + "\n",
                                      0) == 0u);
}

BOOST_AUTO_TEST_CASE(a_view_in_another_format_is_refused_with_a_reason) {
  membership_view v;
  BOOST_TEST(format_refusal(v).empty());
  v.format = 1;
  auto why = format_refusal(v);
  BOOST_TEST(why.find("format 1") != std::string::npos, why);
  BOOST_TEST(why.find("upgrade every node together") != std::string::npos, why);
}

BOOST_AUTO_TEST_CASE(zones_reach_the_ring_from_the_manifest_and_from_a_join) {
  // Six nodes in three zones: every partition's three home replicas are in three zones, and stay
  // so after a seventh node joins in zone c.
  membership_view v;
  std::vector<ring_member> members;
  for (int i = 1; i <= 6; ++i) {
    std::string zone(1, char('a' + (i - 1) % 3));
    upsert(v, member_info{"n" + std::to_string(i), "127.0.0.1", uint16_t(7100 + i), 1,
                          member_state::valid, 1, 10, zone});
    members.push_back({"n" + std::to_string(i), 1, zone});
  }
  upsert(v, member_info{"n7", "127.0.0.1", 7107, 1, member_state::joining, 7, 10, "c"});
  v.layout.owners = ring::build(64, members).owner_names();
  auto zone_of = [&](const membership_view& view, const std::string& name) {
    return find_member(view, name)->zone;
  };
  auto spans_three_zones = [&](const membership_view& view, const ring& r) {
    for (partition_id p = 0; p < r.partitions(); ++p) {
      std::set<std::string> zones;
      for (auto& h : r.home_replicas(p, 3))
        zones.insert(zone_of(view, h));
      if (zones.size() != 3)
        return false;
    }
    return true;
  };
  BOOST_TEST(current_ring(v).zones() == 3u);
  BOOST_TEST(spans_three_zones(v, current_ring(v)));
  auto joined = apply_change(v, "join", "127.0.0.1:7107", 3, 20);
  BOOST_REQUIRE(joined);
  auto next = next_ring(*joined);
  BOOST_REQUIRE(next);
  BOOST_TEST(spans_three_zones(*joined, *next));
  BOOST_TEST(describe_change(v, *joined, 3).find(" c ") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
