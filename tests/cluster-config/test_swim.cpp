#include <boost/test/unit_test.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "cluster-config/swim.hpp"

using namespace actorkv;
using namespace std::chrono_literals;

namespace {

using time_point = swim::clock::time_point;

swim with_members(const std::string& self, int n, uint64_t seed = 1) {
  swim s{self, swim_options{}, seed};
  for (int i = 0; i < n; ++i)
    s.add("n" + std::to_string(i));
  return s;
}

/// A cluster of swim instances run period by period in one thread: each live member probes its
/// target, the probe and its ack carry rumors both ways; an unanswered probe goes through k
/// helpers (carrying rumors to them too) and then makes the target a suspect.
struct simulation {
  std::map<std::string, swim> members;
  std::set<std::string> crashed;
  time_point now{};
  size_t messages = 0;

  explicit simulation(int n, uint64_t seed) {
    for (int i = 0; i < n; ++i) {
      auto name = "n" + std::to_string(i);
      swim s{name, swim_options{}, seed + i};
      for (int j = 0; j < n; ++j)
        s.add("n" + std::to_string(j));
      members.emplace(name, std::move(s));
    }
  }

  void exchange(const std::string& a, const std::string& b) {
    for (auto& r : members.at(a).rumors_to_send())
      members.at(b).hear(r, now);
    for (auto& r : members.at(b).rumors_to_send())
      members.at(a).hear(r, now);
    messages += 2;
  }

  void period() {
    now += 500ms;
    for (auto& [name, s] : members) {
      if (crashed.count(name))
        continue;
      auto target = s.next_target();
      if (!target)
        continue;
      if (!crashed.count(*target)) {
        exchange(name, *target);
        continue;
      }
      ++messages; // the unanswered probe
      for (auto& helper : s.indirect_helpers(*target))
        if (!crashed.count(helper))
          exchange(name, helper); // the request and the helper's answer that the target is silent
      s.unreachable(*target, now);
    }
    for (auto& [name, s] : members)
      if (!crashed.count(name))
        s.expire(now);
  }

  /// Live members that believe `who` is `h`.
  size_t believing(const std::string& who, swim_health h) const {
    size_t n = 0;
    for (auto& [name, s] : members)
      if (!crashed.count(name) && name != who && s.health(who) == h)
        ++n;
    return n;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(swim_detector)

BOOST_AUTO_TEST_CASE(every_member_is_probed_once_per_round_in_a_new_order) {
  auto s = with_members("me", 20);
  BOOST_TEST(s.size() == 20u); // "me" is not among them (n0..n19)
  std::vector<std::string> first, second;
  for (int i = 0; i < 20; ++i)
    first.push_back(*s.next_target());
  for (int i = 0; i < 20; ++i)
    second.push_back(*s.next_target());
  BOOST_TEST(std::set<std::string>(first.begin(), first.end()).size() == 20u);
  BOOST_TEST(std::set<std::string>(second.begin(), second.end()).size() == 20u);
  BOOST_TEST((first != second)); // reshuffled (a 1 in 20! chance of equality)
}

BOOST_AUTO_TEST_CASE(the_dead_are_probed_too_and_a_newcomer_is_within_two_rounds) {
  auto s = with_members("me", 5);
  auto t0 = time_point{};
  s.hear({"n2", swim_health::dead, 0}, t0);
  s.add("late");
  std::set<std::string> probed;
  for (int i = 0; i < 12; ++i)
    probed.insert(*s.next_target());
  BOOST_TEST(probed.count("n2")); // so that it can refute once reachable again
  BOOST_TEST(probed.count("late"));
  BOOST_TEST(probed.size() == 6u);
  s.remove("late");
  for (int i = 0; i < 10; ++i)
    BOOST_TEST(*s.next_target() != "late");
}

BOOST_AUTO_TEST_CASE(indirect_helpers_are_few_live_and_not_the_target) {
  auto s = with_members("me", 50);
  auto helpers = s.indirect_helpers("n7");
  BOOST_TEST(helpers.size() == 3u);
  for (auto& h : helpers)
    BOOST_TEST((h != "n7" && h != "me"));
  auto two = with_members("me", 2);
  BOOST_TEST((two.indirect_helpers("n0") == std::vector<std::string>{"n1"}));
}

BOOST_AUTO_TEST_CASE(a_silent_member_is_suspected_then_dead_after_the_timeout) {
  auto s = with_members("me", 4);
  auto t0 = time_point{} + 1h;
  s.unreachable("n1", t0);
  BOOST_TEST((s.health("n1") == swim_health::suspect));
  BOOST_TEST(s.expire(t0 + s.suspicion_timeout() - 1ms).empty());
  auto dead = s.expire(t0 + s.suspicion_timeout());
  BOOST_TEST((dead == std::vector<std::string>{"n1"}));
  BOOST_TEST((s.health("n1") == swim_health::dead));
}

BOOST_AUTO_TEST_CASE(the_suspicion_timeout_grows_with_the_log_of_the_cluster) {
  swim_options o;
  o.suspicion_min = 0ms;
  swim small{"me", o, 1}, large{"me", o, 1};
  for (int i = 0; i < 9; ++i)
    small.add("n" + std::to_string(i));
  for (int i = 0; i < 9999; ++i)
    large.add("n" + std::to_string(i));
  auto ms = [](swim::clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  BOOST_TEST(ms(small.suspicion_timeout()) == 2000); // 4 periods x log10(10)
  BOOST_TEST(ms(large.suspicion_timeout()) == 8000); // x log10(10000)
}

BOOST_AUTO_TEST_CASE(rumors_follow_swims_precedence) {
  auto s = with_members("me", 3);
  auto t = time_point{};
  BOOST_TEST(s.hear({"n0", swim_health::suspect, 0}, t)); // suspect(i) beats alive(i)
  BOOST_TEST(!s.hear({"n0", swim_health::alive, 0}, t));  // alive(i) does not beat suspect(i)
  BOOST_TEST(s.hear({"n0", swim_health::alive, 1}, t));   // the refutation: alive(i + 1)
  BOOST_TEST((s.health("n0") == swim_health::alive));
  BOOST_TEST(!s.hear({"n0", swim_health::suspect, 0}, t)); // a stale suspicion
  BOOST_TEST(!s.hear({"n0", swim_health::alive, 1}, t));   // nothing new
  BOOST_TEST(s.hear({"n0", swim_health::dead, 1}, t));
  BOOST_TEST(!s.hear({"n0", swim_health::suspect, 5}, t)); // dead is final
  BOOST_TEST(!s.hear({"unknown", swim_health::dead, 0}, t));
  BOOST_TEST((s.incarnation_of("n0") == uint64_t{1}));
}

BOOST_AUTO_TEST_CASE(a_suspected_member_refutes_with_a_higher_incarnation) {
  auto s = with_members("me", 3);
  auto t = time_point{};
  BOOST_TEST(s.incarnation() == 0u);
  BOOST_TEST(s.hear({"me", swim_health::suspect, 0}, t));
  BOOST_TEST(s.incarnation() == 1u);
  auto out = s.rumors_to_send();
  BOOST_REQUIRE(out.size() == 1u);
  BOOST_TEST(out[0].member == "me");
  BOOST_TEST((out[0].health == swim_health::alive));
  BOOST_TEST(out[0].incarnation == 1u);
  BOOST_TEST(!s.hear({"me", swim_health::suspect, 0}, t)); // already refuted
  BOOST_TEST(s.hear({"me", swim_health::dead, 3}, t));     // even a verdict, while it runs
  BOOST_TEST(s.incarnation() == 4u);
}

BOOST_AUTO_TEST_CASE(rumors_are_bounded_per_message_and_forgotten_after_enough_sends) {
  auto s = with_members("me", 30);
  auto t = time_point{};
  for (int i = 0; i < 12; ++i)
    s.unreachable("n" + std::to_string(i), t);
  auto first = s.rumors_to_send();
  BOOST_TEST(first.size() == 8u);
  auto second = s.rumors_to_send();
  // The four not sent yet go first.
  std::set<std::string> firsts;
  for (auto& r : first)
    firsts.insert(r.member);
  size_t unsent_first = 0;
  for (size_t i = 0; i < 4; ++i)
    unsent_first += !firsts.count(second[i].member);
  BOOST_TEST(unsent_first == 4u);
  // 4 x ceil(log10(32)) = 8 sends each: 12 rumors x 8 / 8 per message = 12 messages in all.
  size_t messages = 2;
  while (!s.rumors_to_send().empty())
    ++messages;
  BOOST_TEST(messages == 12u);
}

BOOST_AUTO_TEST_CASE(a_crash_is_known_everywhere_quickly_and_nobody_alive_is_declared_dead) {
  simulation sim{100, 42};
  for (int i = 0; i < 20; ++i)
    sim.period();
  for (auto& [name, s] : sim.members)
    for (int j = 0; j < 100; ++j)
      BOOST_TEST_REQUIRE((s.health("n" + std::to_string(j)) != swim_health::dead));
  sim.messages = 0;
  sim.crashed.insert("n13");
  int periods = 0;
  while (sim.believing("n13", swim_health::dead) < 99 && periods < 200) {
    sim.period();
    ++periods;
  }
  BOOST_TEST_MESSAGE("100 members: the crash of n13 known dead by all after " << periods
                                                                               << " periods, "
                                                                               << sim.messages
                                                                               << " messages");
  BOOST_TEST(sim.believing("n13", swim_health::dead) == 99u);
  // Expected: probed within about a round (100 periods at worst), suspected, dead 4 periods
  // later; gossip spreads it in O(log n) periods.
  BOOST_TEST(periods <= 130);
  // Constant work: at most a probe and k indirect exchanges per member and period.
  BOOST_TEST(sim.messages <= static_cast<size_t>(periods) * 99 * (2 + 2 * 3));
  for (int j = 0; j < 100; ++j)
    if (j != 13)
      BOOST_TEST(sim.believing("n" + std::to_string(j), swim_health::dead) == 0u);
}

BOOST_AUTO_TEST_CASE(a_false_suspicion_is_refuted_before_anyone_declares_it) {
  simulation sim{50, 7};
  for (int i = 0; i < 5; ++i)
    sim.period();
  // A lost probe: n0 suspects n20, which is alive and well.
  sim.members.at("n0").unreachable("n20", sim.now);
  for (int i = 0; i < 60; ++i) {
    sim.period();
    BOOST_TEST_REQUIRE(sim.believing("n20", swim_health::dead) == 0u);
  }
  BOOST_TEST(sim.members.at("n20").incarnation() >= 1u);
  BOOST_TEST(sim.believing("n20", swim_health::alive) == 49u);
}

BOOST_AUTO_TEST_CASE(a_suspicion_counts_from_the_last_sign_of_life) {
  auto s = with_members("self", 3);
  time_point t0{};
  s.unreachable("n1", t0);
  BOOST_TEST(s.suspects() == std::vector<std::string>{"n1"});
  // n1's large message keeps arriving until t0 + 1.5 s: the suspicion counts from then.
  s.heard_from("n1", t0 + 1500ms);
  s.heard_from("n1", t0 + 1000ms); // an older sign changes nothing
  s.heard_from("n2", t0 + 1500ms); // nor one of a member believed alive
  BOOST_TEST(s.expire(t0 + 2500ms).empty());
  BOOST_TEST(s.expire(t0 + 3400ms).empty());
  BOOST_TEST(s.expire(t0 + 3500ms) == std::vector<std::string>{"n1"});
  BOOST_TEST(s.suspects().empty());
  BOOST_TEST((s.health("n2") == swim_health::alive));
  // Unsuspected, its signs do not make it a suspect either.
  s.heard_from("n2", t0 + 4000ms);
  BOOST_TEST(s.expire(t0 + 10s).empty());
}

BOOST_AUTO_TEST_CASE(a_member_that_hears_nobody_declares_nobody_dead_until_it_hears_again) {
  // Period 500 ms, suspicion timeout 2 s; deaf after 1 s of silence, for at most 4 s.
  auto s = with_members("self", 3);
  time_point t0{};
  s.heard(t0);
  // Its own I/O stalls at t0: no ack, no probe from anyone; it suspects n1 at t0 + 0.5 s.
  s.unreachable("n1", t0 + 500ms);
  BOOST_TEST(s.expire(t0 + 2500ms).empty()); // the timeout passed, but it heard nobody since
  // The stall ends at t0 + 3 s: what it suspected meanwhile starts anew.
  s.heard(t0 + 3s);
  for (auto t = t0 + 3500ms; t < t0 + 5s; t += 500ms) { // others talk again; n1 does not
    BOOST_TEST(s.expire(t).empty());
    s.heard(t);
  }
  BOOST_TEST(s.expire(t0 + 5s) == std::vector<std::string>{"n1"});
  // Deaf for good (its peers are all gone): a suspicion lasts twice the timeout, no more.
  s.unreachable("n2", t0 + 6s);
  BOOST_TEST(s.expire(t0 + 9900ms).empty());
  BOOST_TEST(s.expire(t0 + 10s) == std::vector<std::string>{"n2"});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(a_dead_member_that_reconnects_is_a_suspect_that_can_refute) {
  auto s = with_members("n0", 3);
  time_point now{};
  BOOST_TEST(!s.about("n1").has_value());
  s.unreachable("n1", now);
  s.expire(now + s.suspicion_timeout());
  BOOST_TEST((s.health("n1") == swim_health::dead));
  BOOST_TEST((s.about("n1")->health == swim_health::dead));
  // Its node reconnected: probed again as a suspect, and told so with each probe.
  s.revive("n1", now);
  BOOST_TEST((s.health("n1") == swim_health::suspect));
  BOOST_TEST((s.about("n1")->health == swim_health::suspect));
  bool probed = false;
  for (int i = 0; i < 6; ++i)
    probed = probed || s.next_target() == std::optional<std::string>{"n1"};
  BOOST_TEST(probed);
  // The member itself hears the claim and refutes; its refutation makes it alive again here.
  auto n1 = with_members("n1", 3);
  n1.hear(*s.about("n1"), now);
  bool refuted = false;
  for (auto& r : n1.rumors_to_send())
    refuted = refuted || s.hear(r, now);
  BOOST_TEST(refuted);
  BOOST_TEST((s.health("n1") == swim_health::alive));
  BOOST_TEST(!s.about("n1").has_value());
  // Reviving a live member changes nothing.
  s.revive("n2", now);
  BOOST_TEST((s.health("n2") == swim_health::alive));
}

BOOST_AUTO_TEST_CASE(an_older_suspicion_heard_after_the_refutation_was_spent_is_refuted_again) {
  auto s = with_members("n0", 3);
  time_point now{};
  BOOST_TEST(s.hear({"n0", swim_health::suspect, 0}, now));
  BOOST_TEST(s.incarnation() == 1u);
  // The refutation goes out until spent (say, on answers to probes nobody waits for any more).
  for (int i = 0; i < 100; ++i)
    s.rumors_to_send();
  BOOST_TEST(s.rumors_to_send().empty());
  // Someone still declares it dead at the old incarnation: the refutation goes out again.
  BOOST_TEST(!s.hear({"n0", swim_health::dead, 0}, now));
  auto again = s.rumors_to_send();
  BOOST_REQUIRE_EQUAL(again.size(), 1u);
  BOOST_TEST(again[0].member == "n0");
  BOOST_TEST((again[0].health == swim_health::alive));
  BOOST_TEST(again[0].incarnation == 1u);
  BOOST_TEST(s.incarnation() == 1u);
}
