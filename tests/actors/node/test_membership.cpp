// The membership actor, several in one process on CAF's test coordinator: gossip, admin changes,
// transfers and restarts with virtual time, fake wall clocks and fixed seeds, so every run is the
// same and nothing sleeps. Each member has a fake node (its gossip handler hands the view to that
// member) and a listener double standing in for the node it tells of every change.
//
// How much gossip is enough: every interval each member starts one push-pull exchange with a
// random up peer, and both ends of an exchange leave it knowing what either knew. With three
// members all up, an entry known to one member A at time s is known to A's partner after A's
// exchange (some time in [s, s + I)); the third member's next exchange comes strictly later and
// before s + 2I, and whichever of the other two it picks, that one knows the entry. So two gossip
// intervals after the last change every member holds every entry, whatever partners the seeds
// pick; the tests advance exactly that much.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/membership.hpp"
#include "cluster-config/membership_view.hpp"
#include "tests/actors/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t partitions = 16;
/// N = 2 with three nodes: a leave keeps N valid nodes (with N = 3 apply_change refuses it).
constexpr uint32_t replicas = 2;
constexpr auto interval = 1s;

/// What a listener double heard: how many views, and the last.
struct heard_views {
  size_t count = 0;
  membership_view last;
};

/// A view_listener_actor double: records what its membership actor tells the node. (Everything
/// runs on the test thread under the test coordinator, so sharing the record is safe.)
view_listener_actor spawn_listener(caf::actor_system& sys, std::shared_ptr<heard_views> heard) {
  return sys.spawn([=](view_listener_actor::pointer) -> view_listener_actor::behavior_type {
    return {[=](view_atom, membership_view& v) {
      ++heard->count;
      heard->last = std::move(v);
    }};
  });
}

manifest three_nodes() {
  manifest m;
  m.store.name = "test";
  m.store.partitions = partitions;
  m.store.replicas = replicas;
  m.store.read_quorum = 1;
  m.store.write_quorum = 1;
  // Short enough for a test to see a purge (virtual time), far beyond every other test's span.
  m.gossip.removed_grace_s = 30;
  m.gossip.tombstone_grace_s = 120;
  for (int i = 1; i <= 3; ++i)
    m.nodes.push_back(node_entry{"n" + std::to_string(i), "127.0.0.1",
                                 static_cast<uint16_t>(7100 + i), 1, "data" + std::to_string(i)});
  return m;
}

std::string name_of(size_t i) {
  return "n" + std::to_string(i + 1);
}

/// What went through the fake nodes' gossip handlers (see fake_node_parts::on_gossip).
struct gossip_log {
  std::map<std::string, size_t> messages; ///< by kind
  size_t entries = 0;
  size_t owners = 0;
};

struct member {
  membership_actor actor;
  node_actor node;
  std::shared_ptr<int64_t> clock; ///< what its wall clock reads, in microseconds
  std::shared_ptr<heard_views> heard;
  replica_id incarnation = 0;
};

/// Three membership actors n1..n3 of one manifest, started (and stamped) at virtual time 0, not
/// yet told of any peer: only their first tick ran, which found nobody to gossip with.
struct membership_fixture : deterministic_fixture {
  manifest cluster = three_nodes();
  std::vector<member> members;
  std::shared_ptr<gossip_log> log = std::make_shared<gossip_log>();

  explicit membership_fixture(uint64_t seed = 1) {
    for (size_t i = 0; i < 3; ++i)
      members.push_back(start(i, 1'000'000 + 1000 * int64_t(i), 11 + i, seed * 100 + i));
    run();
  }

  /// A membership actor for node `i` with its own clock, incarnation and seed, and its fake node.
  member start(size_t i, int64_t clock_us, replica_id incarnation, uint64_t seed,
               std::optional<membership_view> initial = std::nullopt) {
    member m;
    m.clock = std::make_shared<int64_t>(clock_us);
    m.heard = std::make_shared<heard_views>();
    m.incarnation = incarnation;
    membership_options o;
    auto& entry = cluster.nodes[i];
    o.self.name = entry.name;
    o.self.host = entry.host;
    o.self.port = entry.port;
    o.self.capacity = entry.capacity;
    o.self.zone = entry.zone;
    o.incarnation = incarnation;
    o.cluster = cluster;
    o.initial = std::move(initial);
    o.listener = keep(spawn_listener(sys, m.heard));
    o.interval = interval;
    o.now_us = [clock = m.clock] { return *clock; };
    o.seed = seed;
    m.actor = keep(spawn_membership(sys, std::move(o)));
    fake_node_parts parts{{}, m.actor};
    parts.on_gossip = [log = log](const std::string& kind, size_t entries, size_t owners) {
      ++log->messages[kind];
      log->entries += entries;
      log->owners += owners;
    };
    m.node = keep(spawn_fake_node(sys, std::move(parts)));
    return m;
  }

  /// Tells member `i` of the other two, up when in `up`.
  void tell_peers(size_t i, const std::set<size_t>& up) {
    std::vector<peer_view> peers;
    for (size_t j = 0; j < members.size(); ++j)
      if (j != i)
        peers.push_back(peer_view{name_of(j), up.count(j) > 0, {}, members[j].node});
    self->send(members[i].actor, peer_atom::value, std::move(peers));
  }

  /// Every member sees the other two up.
  void all_up() {
    for (size_t i = 0; i < members.size(); ++i)
      tell_peers(i, {0, 1, 2});
    run();
  }

  void gossip_intervals(int n) { advance(n * interval); }

  membership_view view_of(size_t i) {
    auto h = self->request(members[i].actor, caf::infinite, view_atom::value);
    run();
    BOOST_REQUIRE(has_mail());
    membership_view out;
    h.receive([&](membership_view& v) { out = std::move(v); },
              [&](caf::error& e) { BOOST_FAIL("view of " << name_of(i) << ": " << describe(e)); });
    return out;
  }

  std::vector<membership_view> views() {
    std::vector<membership_view> out;
    for (size_t i = 0; i < members.size(); ++i)
      out.push_back(view_of(i));
    return out;
  }

  /// An admin change at member `i`: the answer's text, or the error's description after "error: ".
  std::string admin(size_t i, const std::string& action, const std::string& subject, bool apply) {
    auto h =
        self->request(members[i].actor, caf::infinite, admin_atom::value, action, subject, apply);
    run();
    BOOST_REQUIRE(has_mail());
    std::string out;
    h.receive([&](std::string& text) { out = std::move(text); },
              [&](caf::error& e) { out = "error: " + describe(e); });
    return out;
  }

  /// The three views are one, and each member told its node of it.
  void require_converged() {
    auto vs = views();
    for (size_t i = 1; i < vs.size(); ++i) {
      BOOST_TEST(fingerprint(vs[i]) == fingerprint(vs[0]), name_of(i) << " vs n1");
      BOOST_TEST((vs[i] == vs[0]), name_of(i) << " vs n1");
    }
    for (size_t i = 0; i < vs.size(); ++i)
      BOOST_TEST((members[i].heard->last == vs[i]), name_of(i) << "'s node was not told");
  }

  /// Everybody up and converged, then `leave n3` applied at n1 and spread by gossip.
  membership_view n3_leaving() {
    all_up();
    gossip_intervals(2);
    auto answer = admin(0, "leave", "n3", true);
    BOOST_REQUIRE_MESSAGE(answer.rfind("leave n3 applied (ring epoch 1)", 0) == 0, answer);
    gossip_intervals(2);
    require_converged();
    return view_of(0);
  }
};

bool owns_any(const std::vector<std::string>& owners, const std::string& name) {
  return std::find(owners.begin(), owners.end(), name) != owners.end();
}

} // namespace

BOOST_AUTO_TEST_SUITE(membership_actor)

BOOST_AUTO_TEST_CASE(views_converge_within_two_gossip_intervals) {
  // The bound does not depend on the partners the seeds pick: try several.
  for (uint64_t seed : {1, 2, 3, 7, 42}) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      membership_fixture f{seed};
      // Started and stamped, but nobody gossiped: each knows only its own stamp.
      auto before = f.views();
      for (size_t i = 0; i < 3; ++i)
        for (size_t j = 0; j < 3; ++j) {
          auto* e = find_member(before[i], name_of(j));
          BOOST_REQUIRE(e);
          BOOST_TEST(e->version == (i == j ? uint64_t(*f.members[j].clock) : 0u));
          if (j > i)
            BOOST_TEST(fingerprint(before[i]) != fingerprint(before[j]));
        }
      f.all_up();
      f.gossip_intervals(2);
      f.require_converged();
      auto after = f.view_of(0);
      BOOST_TEST(after.members.size() == 3u);
      for (size_t j = 0; j < 3; ++j) {
        auto* e = find_member(after, name_of(j));
        BOOST_REQUIRE(e);
        BOOST_TEST(e->incarnation == f.members[j].incarnation, name_of(j));
        BOOST_TEST(e->version == uint64_t(*f.members[j].clock), name_of(j));
        BOOST_TEST((e->state == member_state::valid), name_of(j));
      }
      BOOST_TEST(after.layout.epoch == 0u);
      BOOST_TEST(after.layout.next_owners.empty());
    }
  }
}

BOOST_FIXTURE_TEST_CASE(an_admin_change_spreads_and_a_plan_changes_nothing, membership_fixture) {
  all_up();
  gossip_intervals(2);
  auto start = view_of(0);
  auto told = members[0].heard->count;
  // A plan describes the change and makes none.
  auto plan = admin(0, "leave", "n3", false);
  BOOST_TEST(plan.rfind("plan for leave n3:", 0) == 0, plan);
  BOOST_TEST((view_of(0) == start));
  BOOST_TEST(members[0].heard->count == told);
  gossip_intervals(2);
  for (auto& v : views())
    BOOST_TEST((v == start));
  // Applied at n1 (which sees n3 up), it reaches every member.
  *members[0].clock += 5'000'000;
  auto answer = admin(0, "leave", "n3", true);
  BOOST_TEST(answer.rfind("leave n3 applied (ring epoch 1)", 0) == 0, answer);
  auto at_n1 = view_of(0);
  BOOST_TEST(members[0].heard->count > told);
  BOOST_TEST((find_member(view_of(1), "n3")->state == member_state::valid)); // not yet gossiped
  gossip_intervals(2);
  require_converged();
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT(name_of(i)) {
      auto v = view_of(i);
      auto* n3 = find_member(v, "n3");
      BOOST_REQUIRE(n3);
      BOOST_TEST((n3->state == member_state::leaving));
      BOOST_TEST(n3->version == uint64_t(*members[0].clock)); // stamped by n1's clock
      BOOST_TEST(v.layout.epoch == 1u);
      BOOST_TEST(v.layout.owners == start.layout.owners);
      BOOST_TEST(v.layout.next_owners == at_n1.layout.next_owners);
      BOOST_TEST(v.layout.next_owners.size() == size_t(partitions));
      BOOST_TEST(!owns_any(v.layout.next_owners, "n3"));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(the_ring_is_promoted_once_every_transfer_is_done, membership_fixture) {
  auto changing = n3_leaving();
  auto needed = transfers_needed(changing, replicas);
  BOOST_REQUIRE(needed.size() >= 2u);
  auto epoch = changing.layout.epoch;
  // All but the last, spread over the members, and the last under a stale epoch: no promotion.
  for (size_t k = 0; k + 1 < needed.size(); ++k)
    self->send(members[k % 3].actor, transfer_atom::value, epoch, needed[k]);
  self->send(members[2].actor, transfer_atom::value, epoch - 1, needed.back());
  gossip_intervals(2);
  require_converged();
  std::vector<partition_transfer> all_but_last(needed.begin(), needed.end() - 1);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT(name_of(i)) {
      auto v = view_of(i);
      BOOST_TEST(v.layout.epoch == epoch);
      BOOST_TEST(v.layout.next_owners == changing.layout.next_owners);
      BOOST_TEST((v.layout.done == all_but_last));
    }
  }
  // The last one, at one member: it promotes, and gossip brings the new ring to the others.
  self->send(members[(needed.size() - 1) % 3].actor, transfer_atom::value, epoch, needed.back());
  gossip_intervals(2);
  require_converged();
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT(name_of(i)) {
      auto v = view_of(i);
      BOOST_TEST(v.layout.epoch == epoch + 1);
      BOOST_TEST(v.layout.next_owners.empty());
      BOOST_TEST(v.layout.done.empty());
      BOOST_TEST(v.layout.owners == changing.layout.next_owners);
      BOOST_TEST(!owns_any(v.layout.owners, "n3"));
      BOOST_TEST(transfers_needed(v, replicas).empty());
    }
  }
}

namespace {

/// Restarts n2 from the view its old incarnation held, with incarnation 99 and a clock reading
/// `clock_us`; wires it to the others in place of the old one. Returns the old view's n2 entry.
member_info restart_n2(membership_fixture& f, int64_t clock_us) {
  auto old_view = f.view_of(1);
  auto old = *find_member(old_view, "n2");
  caf::anon_send_exit(f.members[1].actor, caf::exit_reason::user_shutdown);
  f.run();
  f.members[1] = f.start(1, clock_us, 99, 1234, old_view);
  f.run(); // started, its first tick found no peers
  f.all_up();
  return old;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(a_restart_outranks_the_old_incarnation, membership_fixture) {
  all_up();
  gossip_intervals(2);
  auto old = restart_n2(*this, *members[1].clock + 60'000'000); // a minute later
  auto restarted = view_of(1);
  auto fresh = find_member(restarted, "n2");
  BOOST_TEST(fresh->incarnation == 99u);
  BOOST_TEST(fresh->version == uint64_t(*members[1].clock));
  BOOST_TEST(fresh->version > old.version);
  // The others still hold the old incarnation until gossip tells them.
  BOOST_TEST(find_member(view_of(0), "n2")->incarnation == old.incarnation);
  gossip_intervals(2);
  require_converged();
  for (size_t i = 0; i < 3; ++i) {
    auto* n2 = find_member(view_of(i), "n2");
    BOOST_TEST(n2->incarnation == 99u, name_of(i));
    BOOST_TEST(n2->version == uint64_t(*members[1].clock), name_of(i));
    // The old incarnation is retired on every node (its version-vector entries may go), the
    // new one is not.
    auto v = view_of(i);
    BOOST_TEST(std::binary_search(v.retired.begin(), v.retired.end(), old.incarnation), name_of(i));
    BOOST_TEST(!std::binary_search(v.retired.begin(), v.retired.end(), replica_id{99}), name_of(i));
    BOOST_TEST((members[i].heard->last.retired == v.retired), name_of(i));
  }
}

BOOST_FIXTURE_TEST_CASE(a_restart_keeps_the_zone_the_view_has, membership_fixture) {
  // Zones place replicas without a handoff, so a member's zone stays what the cluster knows even
  // when its manifest entry now says otherwise.
  all_up();
  gossip_intervals(2);
  cluster.nodes[1].zone = "elsewhere";
  restart_n2(*this, *members[1].clock + 60'000'000);
  gossip_intervals(2);
  require_converged();
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(find_member(view_of(i), "n2")->zone == "default", name_of(i));
  BOOST_TEST(find_member(view_of(1), "n2")->incarnation == 99u); // the restart itself took
}

BOOST_FIXTURE_TEST_CASE(a_restart_with_a_clock_behind_still_outranks, membership_fixture) {
  all_up();
  gossip_intervals(2);
  auto old = restart_n2(*this, 5); // the wall clock was set back
  gossip_intervals(2);
  require_converged();
  for (size_t i = 0; i < 3; ++i) {
    auto* n2 = find_member(view_of(i), "n2");
    BOOST_TEST(n2->incarnation == 99u, name_of(i));
    BOOST_TEST(n2->version == old.version + 1, name_of(i));
  }
}

BOOST_FIXTURE_TEST_CASE(a_partitioned_member_changes_nobody_until_peers_are_up,
                        membership_fixture) {
  // n3 is cut off both ways: its list says nobody is up, and n1 and n2 see it down.
  tell_peers(0, {1});
  tell_peers(1, {0});
  tell_peers(2, {});
  run();
  gossip_intervals(10);
  auto v1 = view_of(0), v2 = view_of(1), v3 = view_of(2);
  BOOST_TEST((v1 == v2)); // n1 and n2 gossip with each other
  BOOST_TEST(find_member(v1, "n2")->version == uint64_t(*members[1].clock));
  BOOST_TEST(find_member(v1, "n3")->version == 0u); // the manifest's entry: n3's stamp is unknown
  BOOST_TEST(find_member(v1, "n3")->incarnation == 0u);
  BOOST_TEST(find_member(v3, "n1")->version == 0u); // and n3 heard from nobody
  BOOST_TEST(find_member(v3, "n2")->version == 0u);
  BOOST_TEST(find_member(v3, "n3")->version == uint64_t(*members[2].clock));
  // The partition heals.
  all_up();
  gossip_intervals(2);
  require_converged();
  auto v = view_of(0);
  for (size_t j = 0; j < 3; ++j) {
    BOOST_TEST(find_member(v, name_of(j))->version == uint64_t(*members[j].clock), name_of(j));
    BOOST_TEST(find_member(v, name_of(j))->incarnation == members[j].incarnation, name_of(j));
  }
}

BOOST_FIXTURE_TEST_CASE(idle_rounds_send_digests_and_no_entry_nor_ring, membership_fixture) {
  all_up();
  gossip_intervals(2);
  require_converged();
  *log = gossip_log{};
  auto heard = members[0].heard->count;
  gossip_intervals(5);
  // Each member starts a round every interval: 15 digests, each answered with nothing.
  BOOST_TEST(log->messages["digest"] >= 15u);
  BOOST_TEST(log->messages["answer"] == log->messages["digest"]);
  BOOST_TEST(log->messages["view"] == 0u);  // no whole view
  BOOST_TEST(log->messages["delta"] == 0u); // nothing was asked for
  BOOST_TEST(log->entries == 15u * 3u);     // the digests' three names each, nothing more
  BOOST_TEST(log->owners == 0u);
  BOOST_TEST(members[0].heard->count == heard); // and no view change
  // A change travels as that change: one entry (and the ring, whose epoch moved).
  *log = gossip_log{};
  auto answer = admin(0, "leave", "n3", true);
  BOOST_REQUIRE_MESSAGE(answer.rfind("leave n3 applied", 0) == 0, answer);
  gossip_intervals(2);
  require_converged();
  BOOST_TEST(log->messages["view"] == 0u);
  BOOST_TEST(log->owners > 0u);
  BOOST_TEST(log->owners <= 2u * 2u * 2u * partitions); // the ring went to each member once or so
}

BOOST_FIXTURE_TEST_CASE(a_removed_member_is_purged_after_the_grace_and_stays_out,
                        membership_fixture) {
  // n3 is down for n1 and n2 (and hears from nobody): an admin removes it.
  tell_peers(0, {1});
  tell_peers(1, {0});
  tell_peers(2, {});
  run();
  gossip_intervals(2);
  auto answer = admin(0, "remove", "n3", true);
  BOOST_REQUIRE_MESSAGE(answer.rfind("remove n3 applied", 0) == 0, answer);
  gossip_intervals(2);
  auto changing = view_of(0);
  for (auto& t : transfers_needed(changing, replicas))
    self->send(members[0].actor, transfer_atom::value, changing.layout.epoch, t);
  gossip_intervals(2);
  for (size_t i : {0, 1}) {
    auto v = view_of(i);
    BOOST_TEST(v.layout.next_owners.empty(), name_of(i));
    BOOST_REQUIRE((find_member(v, "n3") && find_member(v, "n3")->state == member_state::removed));
  }
  // Removed at ~4 s: still there before the 30 s grace, a tombstone after it, on both.
  advance(20s);
  BOOST_TEST(find_member(view_of(0), "n3"));
  advance(10s);
  for (size_t i : {0, 1}) {
    auto v = view_of(i);
    BOOST_TEST(!find_member(v, "n3"), name_of(i));
    BOOST_TEST(find_tombstone(v, "n3"), name_of(i));
    BOOST_TEST((members[i].heard->last == v), name_of(i) << "'s node was not told");
  }
  // n3 comes back with its old view (itself valid, at a fresh version): its entry stays out, and
  // it learns it was removed (its node stops on that).
  tell_peers(0, {1, 2});
  tell_peers(1, {0, 2});
  tell_peers(2, {0, 1});
  run();
  gossip_intervals(2);
  for (size_t i : {0, 1, 2})
    BOOST_TEST(!find_member(view_of(i), "n3"), name_of(i));
  BOOST_TEST(was_removed(view_of(2), "n3"));
  BOOST_TEST((view_of(0) == view_of(1)));
  // It stops; the tombstone goes 120 s after its stamp, by the wall clocks (virtual time alone
  // does not move them).
  tell_peers(0, {1});
  tell_peers(1, {0});
  run();
  advance(200s);
  BOOST_TEST(find_tombstone(view_of(0), "n3"));
  for (size_t i : {0, 1})
    *members[i].clock += 119'000'000;
  gossip_intervals(2);
  BOOST_TEST(find_tombstone(view_of(0), "n3"));
  for (size_t i : {0, 1})
    *members[i].clock += 2'000'000;
  gossip_intervals(2);
  BOOST_TEST(!find_tombstone(view_of(0), "n3"));
  BOOST_TEST(!find_tombstone(view_of(1), "n3"));
  BOOST_TEST(view_of(0).members.size() == 2u);
  // Its replica id stays retired after every trace of its name is gone.
  for (size_t i : {0, 1})
    BOOST_TEST((view_of(i).retired == std::vector<uint64_t>{members[2].incarnation}), name_of(i));
}

BOOST_AUTO_TEST_SUITE_END()
