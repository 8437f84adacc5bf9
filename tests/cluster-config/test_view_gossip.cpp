// Gossip of digests (cluster-config/membership_view.hpp): a round between two views exchanges
// only what differs and leaves both holding what merge() would; removed members are purged to
// tombstones that no older entry gets past.
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <caf/message.hpp>

#include "cluster-config/manifest.hpp"
#include "cluster-config/membership_view.hpp"

using namespace actorkv;

namespace {

member_info member(const std::string& name, uint64_t version, uint64_t incarnation = 1,
                   member_state state = member_state::valid) {
  return member_info{name, "127.0.0.1", 7100, 1, state, incarnation, version, "default"};
}

/// Members n1..n`count` at version 10, and a ring of `q` partitions over them.
membership_view cluster(int count, uint32_t q = 64) {
  membership_view v;
  std::vector<ring_member> members;
  for (int i = 1; i <= count; ++i) {
    upsert(v, member("n" + std::to_string(i), 10, uint64_t(i)));
    members.push_back({"n" + std::to_string(i), 1});
  }
  v.layout.owners = ring::build(q, members).owner_names();
  return v;
}

/// What one round between `a` (who starts it) and `b` sent, and both views after it.
struct round_result {
  view_delta answer; ///< b's answer to a's digest
  view_delta back;   ///< what a sent back (empty: nothing was sent)
};

round_result gossip_round(membership_view& a, membership_view& b) {
  round_result out;
  auto a_digest = digest_of(a);
  out.answer = answer_digest(b, digest_of(b), a_digest);
  apply_delta(a, a_digest.ring, out.answer);
  out.back = fulfil(a, ring_digest_of(a.layout), out.answer);
  if (!carries_nothing(out.back))
    apply_delta(b, ring_digest_of(b.layout), out.back);
  return out;
}

/// `v` after an admin removed n4, the change finished and n4 was purged to a tombstone (at wall
/// time 0, with a tombstone grace of 1 s: `clock` goes on from there).
membership_view n4_removed_and_purged(const membership_view& v, purge_clock& clock) {
  auto removed = *apply_change(v, "remove", "n4", 3, 100);
  removed.layout.done = transfers_needed(removed, 3);
  BOOST_REQUIRE(promote_if_complete(removed, 3));
  purge_departed(removed, clock, 0, 0, 0, 1000);
  BOOST_REQUIRE(find_tombstone(removed, "n4"));
  return removed;
}

std::vector<std::string> names(const std::vector<member_info>& ms) {
  std::vector<std::string> out;
  for (auto& m : ms)
    out.push_back(m.name);
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(view_gossip)

BOOST_AUTO_TEST_CASE(identical_views_exchange_only_digests) {
  auto a = cluster(5), b = cluster(5);
  auto r = gossip_round(a, b);
  BOOST_TEST(carries_nothing(r.answer));
  BOOST_TEST(carries_nothing(r.back));
  BOOST_TEST(r.answer.ring.owners.empty());
  BOOST_TEST((a == b));
}

BOOST_AUTO_TEST_CASE(views_that_differ_in_one_member_exchange_only_that_member) {
  auto a = cluster(5), b = cluster(5);
  upsert(a, member("n3", 11, 33)); // a knows n3's newer entry
  auto r = gossip_round(a, b);
  BOOST_TEST(r.answer.members.empty());
  BOOST_TEST((r.answer.wanted == std::vector<std::string>{"n3"}));
  BOOST_TEST((names(r.back.members) == std::vector<std::string>{"n3"}));
  BOOST_TEST((r.answer.ring_sent == ring_part::none && r.back.ring_sent == ring_part::none));
  BOOST_TEST((a == b));
  BOOST_TEST(find_member(b, "n3")->incarnation == 33u);
  // The other way round: the answer carries it and nothing comes back.
  auto c = cluster(5);
  auto r2 = gossip_round(c, a);
  BOOST_TEST((names(r2.answer.members) == std::vector<std::string>{"n3"}));
  BOOST_TEST(r2.answer.wanted.empty());
  BOOST_TEST(carries_nothing(r2.back));
  BOOST_TEST((c == a));
  // A member only one side knows travels too.
  upsert(c, member("n9", 1));
  auto r3 = gossip_round(a, c);
  BOOST_TEST((names(r3.answer.members) == std::vector<std::string>{"n9"}));
  BOOST_TEST((a == c));
}

BOOST_AUTO_TEST_CASE(equal_versions_with_different_entries_travel_both_ways) {
  auto a = cluster(3), b = cluster(3);
  upsert(a, member("n2", 10, 2, member_state::removed));
  auto expected = merge(a, b);
  auto r = gossip_round(a, b);
  BOOST_TEST((names(r.answer.members) == std::vector<std::string>{"n2"}));
  BOOST_TEST((r.answer.wanted == std::vector<std::string>{"n2"}));
  BOOST_TEST((a == expected));
  BOOST_TEST((b == expected));
  BOOST_TEST((find_member(b, "n2")->state == member_state::removed));
}

BOOST_AUTO_TEST_CASE(a_ring_travels_only_when_the_rings_differ_and_progress_as_transfers) {
  auto base = cluster(3);
  upsert(base, member_info{"n4", "127.0.0.1", 7104, 2, member_state::joining, 4, 10, "default"});
  auto changed = apply_change(base, "join", "127.0.0.1:7104", 3, 100);
  BOOST_REQUIRE(changed);
  // A newer epoch: the whole layout goes to the side that lacks it, one way.
  auto a = base, b = *changed;
  auto r = gossip_round(a, b);
  BOOST_TEST((r.answer.ring_sent == ring_part::full));
  BOOST_TEST((r.answer.ring_wanted == ring_part::none));
  BOOST_TEST((r.back.ring_sent == ring_part::none));
  BOOST_TEST((a == b));
  // The same change, each side with transfers the other lacks: only transfers travel.
  auto needed = transfers_needed(*changed, 3);
  BOOST_REQUIRE(needed.size() >= 3u);
  a = *changed;
  b = *changed;
  a.layout.done = {needed[0], needed[1]};
  b.layout.done = {needed[1], needed[2]};
  auto expected = merge(a, b);
  r = gossip_round(a, b);
  BOOST_TEST((r.answer.ring_sent == ring_part::done));
  BOOST_TEST(r.answer.ring.owners.empty());
  BOOST_TEST(r.answer.ring.next_owners.empty());
  BOOST_TEST((r.back.ring_sent == ring_part::done));
  BOOST_TEST((r.back.ring.done == std::vector<partition_transfer>{needed[0]}));
  BOOST_TEST(r.back.ring.owners.empty());
  BOOST_TEST((a == expected));
  BOOST_TEST((b == expected));
  // Transfers of another change (a stale answer) are not taken.
  auto stale = r.answer;
  stale.ring_of.change ^= 1;
  stale.ring.done = {needed.back()};
  auto c = *changed;
  BOOST_TEST(!apply_delta(c, ring_digest_of(c.layout), stale).changed);
}

BOOST_AUTO_TEST_CASE(digest_rounds_converge_to_what_merge_gives) {
  unsigned seed = std::random_device{}();
  if (auto* env = std::getenv("ACTORKV_SEED"))
    seed = static_cast<unsigned>(std::stoul(env));
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937 rng{seed};
  // Six views with random histories (entries, tombstones, progress of one change), rounds
  // between random pairs: every view ends as the merge of all, and every round leaves both
  // sides as merge(a, b) would.
  auto base = cluster(4);
  auto change = *apply_change(base, "remove", "n4", 3, 100);
  auto needed = transfers_needed(change, 3);
  std::vector<membership_view> views(6);
  for (auto& v : views) {
    v = rng() % 3 == 0 ? base : change;
    if (!v.layout.next_owners.empty())
      for (auto& t : needed)
        if (rng() % 2 == 0)
          v.layout.done.push_back(t);
    for (int k = 0; k < 8; ++k) {
      // An incarnation is a data directory's: no two names share one, and a later one starts
      // later, at higher versions (wall-clock time at its start). A removal takes the largest
      // version (apply_change).
      auto name = rng() % 8;
      auto later = rng() % 3;
      auto state = static_cast<member_state>(rng() % 4);
      uint64_t version = 3 * later + rng() % 3;
      if (state == member_state::removed)
        version = UINT64_MAX;
      // Taken in by merge's rules, as a node takes in an entry it hears of.
      membership_view heard;
      heard.layout = v.layout;
      upsert(heard, member("m" + std::to_string(name), version, 100 + 3 * name + later, state));
      v = merge(v, heard);
    }
    if (rng() % 2 == 0) {
      auto name = "m" + std::to_string(rng() % 8);
      membership_view t;
      t.layout = v.layout;
      // A purge turns a removed entry into a tombstone: at the largest version.
      t.tombstones.push_back(member_tombstone{name, UINT64_MAX, int64_t(rng() % 2)});
      v = merge(v, t);
    }
    // As a node holds it: without entries its own retired ids say are over.
    membership_view none;
    none.layout = v.layout;
    v = merge(v, none);
  }
  membership_view all;
  for (auto& v : views)
    all = merge(all, v);
  // Retired ids are the exception: a side that keeps its entry never sees the other's older
  // incarnation, which the other retires as the round ends; the next round between them carries
  // it (their sets' digests differ). So a round leaves each side's set within merge's, and the
  // views end equal after rounds between every pair.
  auto without_retired = [](membership_view v) {
    v.retired.clear();
    return v;
  };
  auto within = [](const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
    return std::includes(b.begin(), b.end(), a.begin(), a.end());
  };
  for (int round = 0; round < 300; ++round) {
    auto i = rng() % views.size(), j = rng() % views.size();
    if (i == j)
      continue;
    auto expected = merge(views[i], views[j]);
    gossip_round(views[i], views[j]);
    for (auto k : {i, j}) {
      BOOST_TEST((without_retired(views[k]) == without_retired(expected)),
                 "seed " << seed << " round " << round);
      BOOST_TEST(within(views[k].retired, expected.retired), "seed " << seed << " round " << round);
    }
  }
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < views.size(); ++i)
      for (size_t j = i + 1; j < views.size(); ++j)
        gossip_round(views[i], views[j]);
  for (auto& v : views)
    BOOST_TEST((v == all), "seed " << seed);
}

BOOST_AUTO_TEST_CASE(a_removed_member_is_purged_after_the_grace_once_it_owns_nothing) {
  auto v = cluster(4);
  auto removed = *apply_change(v, "remove", "n4", 3, 100);
  purge_clock clock;
  constexpr int64_t grace = 1000, tomb_grace = 5000;
  // Still owning partitions (the handoff runs): kept past its grace.
  BOOST_TEST(purge_departed(removed, clock, 0, 0, grace, tomb_grace).purged.empty());
  BOOST_TEST(purge_departed(removed, clock, 2000, 2'000'000, grace, tomb_grace).purged.empty());
  BOOST_REQUIRE(find_member(removed, "n4"));
  removed.layout.done = transfers_needed(removed, 3);
  BOOST_REQUIRE(promote_if_complete(removed, 3));
  // Owns nothing now, and was seen removed at 0: purged at once, to a tombstone.
  auto out = purge_departed(removed, clock, 2000, 2'000'000, grace, tomb_grace);
  BOOST_TEST((out.purged == std::vector<std::string>{"n4"}));
  BOOST_TEST(!find_member(removed, "n4"));
  BOOST_REQUIRE(find_tombstone(removed, "n4"));
  BOOST_TEST(find_tombstone(removed, "n4")->version == UINT64_MAX);
  BOOST_TEST(find_tombstone(removed, "n4")->purged_us == 2'000'000);
  BOOST_TEST(was_removed(removed, "n4"));
  BOOST_TEST((departed_members(removed) == std::vector<std::string>{"n4"}));
  // The tombstone survives the text kept on disk.
  auto back = decode_view(encode_view(removed));
  BOOST_REQUIRE(back);
  BOOST_TEST((*back == removed));
  // Dropped after the second period, counted on the wall clock from its stamp (on every node
  // alike, whoever purged it).
  BOOST_TEST(purge_departed(removed, clock, 6999, 6'999'999, grace, tomb_grace).forgotten.empty());
  BOOST_TEST((purge_departed(removed, clock, 7000, 7'000'000, grace, tomb_grace).forgotten ==
              std::vector<std::string>{"n4"}));
  BOOST_TEST(!find_tombstone(removed, "n4"));
  BOOST_TEST(!was_removed(removed, "n4"));
}

BOOST_AUTO_TEST_CASE(a_stale_full_member_does_not_come_back_after_a_purge) {
  auto v = cluster(4);
  auto old = v; // a node that was away: n4 valid, with host and zone
  purge_clock clock;
  auto removed = n4_removed_and_purged(v, clock);
  // The removed entry itself (state removed, the largest version) loses to the tombstone too.
  auto before_purge = *apply_change(v, "remove", "n4", 3, 100);
  for (auto* stale : {&old, &before_purge}) {
    // Whole views (a joining node's fetch, a view kept on disk): merge.
    BOOST_TEST(!find_member(merge(removed, *stale), "n4"));
    BOOST_TEST(!find_member(merge(*stale, removed), "n4"));
    // Digest rounds, either side starting.
    auto a = removed, b = *stale;
    gossip_round(a, b);
    BOOST_TEST(!find_member(a, "n4"));
    BOOST_TEST(!find_member(b, "n4"));
    BOOST_TEST(find_tombstone(b, "n4"));
    a = removed;
    b = *stale;
    gossip_round(b, a);
    BOOST_TEST(!find_member(a, "n4"));
    BOOST_TEST(!find_member(b, "n4"));
  }
  // The node restarting with a fresh version learns it was removed.
  auto restarted = old;
  upsert(restarted, member("n4", 1u << 30, 4));
  gossip_round(restarted, removed);
  BOOST_TEST(was_removed(restarted, "n4"));
  BOOST_TEST(!find_member(removed, "n4"));
  // A purged name cannot be removed again, nor be anything else.
  auto again = apply_change(removed, "remove", "n4", 3, 200);
  BOOST_REQUIRE(!again);
}

BOOST_AUTO_TEST_CASE(a_node_away_past_both_graces_does_not_bring_a_purged_member_back) {
  auto v = cluster(4);
  auto away = v; // a node that was away: n4 valid, incarnation 4
  purge_clock clock;
  auto removed = n4_removed_and_purged(v, clock);
  // The tombstone's grace is over on every node: nothing names n4 but its retired incarnation.
  purge_departed(removed, clock, 2000, 2'000'000, 0, 1000);
  BOOST_REQUIRE(!find_tombstone(removed, "n4"));
  BOOST_REQUIRE(!find_member(removed, "n4"));
  BOOST_REQUIRE(std::binary_search(removed.retired.begin(), removed.retired.end(), 4u));
  // Whole views, either order.
  BOOST_TEST(!find_member(merge(removed, away), "n4"));
  BOOST_TEST(!find_member(merge(away, removed), "n4"));
  BOOST_TEST((merge(removed, away) == merge(away, removed)));
  // Digest rounds, either side starting: neither side holds n4 afterwards.
  for (bool away_starts : {false, true}) {
    auto a = removed, b = away;
    if (away_starts)
      gossip_round(b, a);
    else
      gossip_round(a, b);
    BOOST_TEST(!find_member(a, "n4"), "away starts: " << away_starts);
    BOOST_TEST(!find_member(b, "n4"), "away starts: " << away_starts);
    BOOST_TEST(find_member(b, "n1"));
  }
  // A node that knows n4 only from the manifest (it never announced itself there: version and
  // incarnation 0) drops it once a peer shows it does not know n4; the peer does not take it in.
  auto manifest_only = away;
  for (auto& m : manifest_only.members)
    if (m.name == "n4")
      m.version = m.incarnation = 0;
  for (bool manifest_starts : {false, true}) {
    auto a = removed, b = manifest_only;
    auto a_digest = digest_of(a), b_digest = digest_of(b);
    if (manifest_starts) {
      auto answer = answer_digest(a, a_digest, b_digest);
      apply_delta(b, b_digest.ring, answer);
      BOOST_TEST((drop_placeholders(b, answer.wanted) == std::vector<std::string>{"n4"}));
      auto back = fulfil(b, ring_digest_of(b.layout), answer);
      apply_delta(a, a_digest.ring, back);
    } else {
      // b answers a's digest, which lacks n4.
      BOOST_TEST((drop_placeholders(b, placeholders_unknown_to(b, a_digest)) ==
                  std::vector<std::string>{"n4"}));
      // Were it sent anyway, it is not taken in.
      view_delta stale;
      stale.members.push_back(*find_member(manifest_only, "n4"));
      BOOST_TEST(!apply_delta(a, a_digest.ring, stale).changed);
    }
    BOOST_TEST(!find_member(a, "n4"), "manifest side starts: " << manifest_starts);
    BOOST_TEST(placeholders_unknown_to(b, digest_of(a)).empty());
  }
  BOOST_TEST(placeholders_unknown_to(manifest_only, digest_of(manifest_only)).empty());
  // n4 itself restarting from its kept view (a fresh version, its old incarnation) loses its own
  // entry: it learns that it is over.
  auto restarted = away;
  upsert(restarted, member("n4", 1u << 30, 4));
  gossip_round(restarted, removed);
  BOOST_TEST(!find_member(restarted, "n4"));
  BOOST_TEST(!find_member(removed, "n4"));
  // A new incarnation under the name (a new data directory) is a new member, not a revival.
  auto fresh = removed;
  auto delta_view = removed;
  upsert(delta_view, member("n4", 1u << 31, 9));
  BOOST_TEST(find_member(merge(fresh, delta_view), "n4"));
}

BOOST_AUTO_TEST_CASE(a_view_kept_in_format_2_reads_and_an_unknown_format_does_not) {
  auto back = decode_view("actorkv-view 2\n"
                          "member n1 127.0.0.1 7101 1 1 5 10 a\n"
                          "member n2 127.0.0.1 7102 2 3 6 18446744073709551615 b\n"
                          "epoch 3\nowners n1 n1 n1 n1\nnext\ndone\n");
  BOOST_REQUIRE(back);
  BOOST_TEST(back->members.size() == 2u);
  BOOST_TEST(back->tombstones.empty());
  BOOST_TEST(!decode_view("actorkv-view 5\nepoch 1\nowners n1\n"));
  BOOST_TEST(!decode_view("actorkv-view 3\nepoch 1\nowners n1\ntombstone n1\n"));
  auto later = kept_view_format("actorkv-view 9\nwhatever\n");
  BOOST_REQUIRE(later);
  BOOST_TEST(*later == 9u);
  BOOST_TEST(!kept_view_format("something else\n"));
}

BOOST_AUTO_TEST_CASE(a_removal_and_a_new_incarnation_retire_ids_and_every_node_learns_them) {
  auto a = cluster(4), b = cluster(4), c = cluster(4);
  BOOST_TEST(a.retired.empty());
  // n2 restarts on a wiped data directory: a new replica id, a higher version.
  upsert(a, member("n2", 11, 22));
  BOOST_TEST((a.retired == std::vector<uint64_t>{2}));
  // An admin removes n4 (on a).
  a = *apply_change(a, "remove", "n4", 3, 100);
  BOOST_TEST((a.retired == std::vector<uint64_t>{2, 4}));
  // Gossip carries the set; b would also derive it from the entries it receives.
  auto r = gossip_round(b, a);
  BOOST_TEST((r.answer.retired == std::vector<uint64_t>{2, 4}));
  BOOST_TEST((b.retired == std::vector<uint64_t>{2, 4}));
  BOOST_TEST((a == b));
  // A node that never sees the entries that retired an id (n4 purged to a tombstone, n2 wiped
  // again) still learns every id: the set itself travels.
  purge_clock clock;
  a.layout.done = transfers_needed(a, 3);
  BOOST_REQUIRE(promote_if_complete(a, 3));
  purge_departed(a, clock, 0, 0, 0, 1000);
  BOOST_REQUIRE(find_tombstone(a, "n4"));
  upsert(a, member("n2", 12, 222));
  BOOST_TEST((a.retired == std::vector<uint64_t>{2, 4, 22}));
  gossip_round(a, c);
  BOOST_TEST((c.retired == std::vector<uint64_t>{2, 4, 22}));
  BOOST_TEST((a == c));
  // Idle rounds carry no ids.
  auto idle = gossip_round(a, c);
  BOOST_TEST(carries_nothing(idle.answer));
  BOOST_TEST(carries_nothing(idle.back));
  // Live incarnations are never prunable, and 0 (a member no node has heard from) is no id.
  BOOST_TEST((prunable_ids(a) == std::vector<uint64_t>{2, 4, 22}));
  membership_view d;
  upsert(d, member("n1", 11, 0));
  upsert(d, member("n1", 12, 5));
  BOOST_TEST(d.retired.empty());
}

BOOST_AUTO_TEST_CASE(merge_retires_what_either_side_replaced_in_any_order) {
  auto a = cluster(3), b = cluster(3), c = cluster(3);
  // b holds n1's second incarnation without having seen its first (it learnt n1 from it), a
  // still holds the first, 1: neither has retired 1, the merge sees one entry replace the other.
  b.members[0] = member("n1", 11, 11);
  upsert(c, member("n3", 11, 3, member_state::removed));
  auto ab = merge(a, b);
  BOOST_TEST((ab.retired == std::vector<uint64_t>{1}));
  BOOST_TEST((merge(b, a).retired == ab.retired));
  BOOST_TEST((merge(ab, ab) == ab));
  auto left = merge(merge(a, b), c), right = merge(a, merge(b, c));
  BOOST_TEST((left.retired == std::vector<uint64_t>{1, 3}));
  BOOST_TEST((left == right));
  // A peer's set is taken sorted, without repeats or 0, whatever it sent.
  view_delta odd;
  odd.retired = {9, 0, 7, 9};
  auto e = cluster(3);
  BOOST_TEST(apply_delta(e, ring_digest_of(e.layout), odd).changed);
  BOOST_TEST((e.retired == std::vector<uint64_t>{7, 9}));
  BOOST_TEST(!apply_delta(e, ring_digest_of(e.layout), odd).changed);
  // A tombstone reaching a node that missed the removal retires the member's incarnation.
  auto f = cluster(3);
  view_delta t;
  t.tombstones.push_back(member_tombstone{"n2", UINT64_MAX, 5});
  apply_delta(f, ring_digest_of(f.layout), t);
  BOOST_TEST((f.retired == std::vector<uint64_t>{2}));
}

BOOST_AUTO_TEST_CASE(retired_ids_are_kept_on_disk_and_a_format_3_view_reads) {
  auto v = cluster(3);
  upsert(v, member("n1", 11, 11));
  upsert(v, member("n2", 12, 2, member_state::removed));
  auto text = encode_view(v);
  BOOST_TEST(text.find("\nretired 1 2\n") != std::string::npos);
  auto back = decode_view(text);
  BOOST_REQUIRE(back);
  BOOST_TEST((*back == v));
  BOOST_TEST(fingerprint(*back) == fingerprint(v));
  auto fewer = v;
  fewer.retired.pop_back();
  BOOST_TEST(fingerprint(fewer) != fingerprint(v));
  BOOST_TEST(!decode_view("actorkv-view 4\nepoch 1\nowners n1\nretired -1\n"));
  BOOST_TEST(!decode_view("actorkv-view 4\nepoch 1\nowners n1\nretired x\n"));
  // Format 3 kept no set: a removed member's incarnation is retired as it is read.
  auto old = decode_view("actorkv-view 3\n"
                         "member n1 127.0.0.1 7101 1 1 5 10 a\n"
                         "member n2 127.0.0.1 7102 1 3 6 18446744073709551615 b\n"
                         "epoch 3\nowners n1 n1 n1 n1\nnext\ndone\n");
  BOOST_REQUIRE(old);
  BOOST_TEST((old->retired == std::vector<uint64_t>{6}));
}

BOOST_AUTO_TEST_CASE(the_purge_periods_come_from_the_manifest_with_errors_at_their_line) {
  const std::string head = "[store]\nname = \"t\"\npartitions = 8\nreplicas = 1\n"
                           "read_quorum = 1\nwrite_quorum = 1\n";
  const std::string node = "\n[[node]]\nname = \"a\"\nhost = \"127.0.0.1\"\nport = 7001\n"
                           "data_dir = \"d/a\"\n";
  auto defaults = parse_manifest(head + node, "x.toml");
  BOOST_REQUIRE(defaults);
  BOOST_TEST(defaults->gossip.removed_grace_s == 86400u);
  BOOST_TEST(defaults->gossip.tombstone_grace_s == 604800u);
  auto set = parse_manifest(
      head + "[gossip]\nremoved_grace_s = 60\ntombstone_grace_s = 600\n" + node, "x.toml");
  BOOST_REQUIRE(set);
  BOOST_TEST(set->gossip.removed_grace_s == 60u);
  BOOST_TEST(set->gossip.tombstone_grace_s == 600u);
  for (auto bad : {"removed_grace_s = 0", "tombstone_grace_s = -5", "removed_grace_s = \"1d\""}) {
    auto m = parse_manifest(head + "[gossip]\n" + bad + "\n" + node, "x.toml");
    BOOST_REQUIRE_MESSAGE(!m, bad);
    auto msg = m.error().context().get_as<std::string>(0);
    BOOST_TEST(msg.rfind("x.toml:8: ", 0) == 0u, msg);
  }
}

BOOST_AUTO_TEST_SUITE_END()
