// Tests for cluster-config/clock.hpp: the hybrid logical clock that stamps last-writer-wins
// writes, and the estimates of peers' wall clocks. Pure: wall-clock readings are arguments, taken
// from a synthetic timeline.
#include "cluster-config/clock.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

using namespace actorkv;

namespace {

/// An arbitrary wall-clock reading: 2026-01-01T00:00:00Z in microseconds.
constexpr int64_t t0 = int64_t{1767225600} * 1000 * 1000;
constexpr int64_t second = 1000 * 1000;
constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();

clock_probe probe(int64_t sent, int64_t peer, int64_t received) {
  return clock_probe{sent, peer, received};
}

} // namespace

BOOST_AUTO_TEST_SUITE(hybrid_clock_tests)

BOOST_AUTO_TEST_CASE(follows_the_wall_clock_while_it_advances) {
  hybrid_clock c;
  BOOST_TEST(c.now(t0) == t0);
  BOOST_TEST(c.now(t0 + 5) == t0 + 5);
  BOOST_TEST(c.now(t0 + second) == t0 + second);
  BOOST_TEST(c.peek(t0 + 2 * second) == t0 + 2 * second);
}

BOOST_AUTO_TEST_CASE(stamps_are_unique_within_one_microsecond) {
  hybrid_clock c;
  auto a = c.now(t0);
  auto b = c.now(t0);
  auto d = c.now(t0);
  BOOST_TEST(a == t0);
  BOOST_TEST(b == t0 + 1);
  BOOST_TEST(d == t0 + 2);
  // Once the wall clock passes the logical ticks, stamps are physical again.
  BOOST_TEST(c.now(t0 + 10) == t0 + 10);
}

BOOST_AUTO_TEST_CASE(stays_monotonic_when_the_wall_clock_goes_back) {
  hybrid_clock c;
  auto before = c.now(t0 + 60 * second);
  // NTP steps the clock back a minute: stamps keep increasing.
  auto after = c.now(t0);
  BOOST_TEST(after > before);
  BOOST_TEST(c.now(t0 + 1) > after);
  BOOST_TEST(c.peek(t0) >= after);
}

BOOST_AUTO_TEST_CASE(observing_a_timestamp_ahead_puts_every_later_stamp_above_it) {
  // A record written by a node whose clock is 120 s ahead.
  hybrid_clock c;
  auto skewed = t0 + 120 * second;
  BOOST_TEST(c.observe(skewed, t0));
  BOOST_TEST(c.now(t0 + 1) > skewed);
  BOOST_TEST(c.peek(t0) >= skewed);
  // Timestamps behind the clock change nothing.
  BOOST_TEST(c.observe(t0 - second, t0));
  BOOST_TEST(c.now(t0 + 2) == skewed + 2);
}

BOOST_AUTO_TEST_CASE(a_timestamp_beyond_the_bound_moves_the_clock_only_to_the_bound) {
  hybrid_clock c{10 * second};
  BOOST_TEST(!c.observe(t0 + 3600 * second, t0));
  auto stamp = c.now(t0);
  BOOST_TEST(stamp == t0 + 10 * second + 1);
  // Even a timestamp at the end of int64 does not get the clock there.
  BOOST_TEST(!c.observe(int64_max, t0));
  BOOST_TEST(c.now(t0) < t0 + 11 * second);
  // The default bound is an hour: more than two minutes of skew is followed in full.
  hybrid_clock d;
  BOOST_TEST(d.max_lead_us() == int64_t{3600} * second);
  BOOST_TEST(d.observe(t0 + 120 * second, t0));
  BOOST_TEST(!d.observe(t0 + 3601 * second, t0));
  BOOST_TEST(d.now(t0) == t0 + 3600 * second + 1);
}

BOOST_AUTO_TEST_CASE(saturates_at_the_end_of_int64_instead_of_wrapping) {
  hybrid_clock c{int64_max};
  c.observe(int64_max, t0);
  BOOST_TEST(c.now(t0) == int64_max);
  BOOST_TEST(c.now(t0) == int64_max);
}

BOOST_AUTO_TEST_CASE(threads_sharing_a_clock_never_get_the_same_stamp) {
  hybrid_clock c;
  constexpr int per_thread = 20000;
  std::vector<std::vector<int64_t>> stamps(4);
  std::vector<std::thread> threads;
  for (auto& mine : stamps)
    threads.emplace_back([&c, &mine] {
      for (int i = 0; i < per_thread; ++i) {
        mine.push_back(c.now(t0)); // a wall clock stuck at t0: only logical ticks
        c.observe(t0 + i, t0);
      }
    });
  for (auto& t : threads)
    t.join();
  std::vector<int64_t> all;
  for (auto& mine : stamps) {
    for (size_t i = 1; i < mine.size(); ++i)
      BOOST_REQUIRE(mine[i] > mine[i - 1]);
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  BOOST_TEST((std::adjacent_find(all.begin(), all.end()) == all.end()));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(peer_clock_offsets)

BOOST_AUTO_TEST_CASE(one_probe_gives_the_offset_within_half_the_round_trip) {
  // Sent at t0, answered 10 ms later; the peer, 120 s ahead, read its clock halfway.
  auto o = offset_of(probe(t0, t0 + 5000 + 120 * second, t0 + 10000));
  BOOST_TEST(o.offset_us == 120 * second);
  BOOST_TEST(o.error_us == 5000);
  // A peer behind.
  o = offset_of(probe(t0, t0 - 2 * second, t0 + 2));
  BOOST_TEST(o.offset_us == -2 * second - 1);
  BOOST_TEST(o.error_us == 1);
}

BOOST_AUTO_TEST_CASE(the_filter_trusts_the_probe_with_the_shortest_round_trip) {
  offset_filter f{4};
  BOOST_TEST(!f.estimate());
  // A probe held up 3 s on the way back makes the peer look 1.5 s behind.
  f.add(probe(t0, t0, t0 + 3 * second));
  BOOST_TEST(f.estimate()->offset_us == -1500 * 1000);
  BOOST_TEST(!beyond(*f.estimate(), second)); // the error bound explains it
  f.add(probe(t0 + second, t0 + second + 100, t0 + second + 200));
  BOOST_TEST(f.estimate()->offset_us == 0);
  BOOST_TEST(f.estimate()->error_us == 100);
  // Only the last 4 probes count: the clock was corrected, slower probes say so.
  for (int i = 2; i < 6; ++i)
    f.add(probe(t0 + i * second, t0 + i * second + 500 + 120 * second, t0 + i * second + 1000));
  BOOST_TEST(f.estimate()->offset_us == 120 * second);
  BOOST_TEST(beyond(*f.estimate(), second));
  // This node's clock stepped back 10 s while a probe was out: that probe says nothing.
  f.add(probe(t0 + 9 * second, t0 + 9 * second, t0 - second));
  BOOST_TEST(f.estimate()->offset_us == 120 * second);
  BOOST_TEST(f.estimate()->error_us == 500);
}

BOOST_AUTO_TEST_CASE(beyond_allows_for_the_error_bound) {
  BOOST_TEST(!beyond(clock_offset{1500 * 1000, 600 * 1000}, second));
  BOOST_TEST(beyond(clock_offset{1700 * 1000, 600 * 1000}, second));
  BOOST_TEST(beyond(clock_offset{-1700 * 1000, 600 * 1000}, second));
  BOOST_TEST(!beyond(clock_offset{second, 0}, second));
}

BOOST_AUTO_TEST_CASE(only_the_node_whose_clock_is_off_is_skewed) {
  auto off = [](int64_t offset) { return clock_offset{offset, 1000}; };
  // Three nodes, n1 120 s ahead. n1 sees both peers 120 s behind: skewed, ahead.
  auto n1 = own_skew({off(-120 * second), off(-120 * second)}, second);
  BOOST_TEST(n1.skewed);
  BOOST_TEST(n1.skew_us == 120 * second);
  // n2 sees n1 ahead and n3 level: n2 is fine (the median nearer to 0).
  auto n2 = own_skew({off(120 * second), off(3000)}, second);
  BOOST_TEST(!n2.skewed);
  BOOST_TEST(n2.skew_us == -3000);
  // Five nodes, two of them off in different directions: the others are fine.
  auto n3 = own_skew({off(120 * second), off(-90 * second), off(0), off(2000)}, second);
  BOOST_TEST(!n3.skewed);
  // One peer measured (two nodes, or just started): no telling which clock is off; the peer is
  // beyond the limit, which is what gets reported.
  auto alone = own_skew({off(120 * second)}, second);
  BOOST_TEST(!alone.skewed);
  BOOST_TEST(alone.skew_us == -120 * second);
  BOOST_TEST(beyond(off(120 * second), second));
  // No estimates yet: nothing to say.
  BOOST_TEST(!own_skew({}, second).skewed);
  // Within the limit.
  BOOST_TEST(!own_skew({off(-900 * 1000), off(-900 * 1000)}, second).skewed);
}

BOOST_AUTO_TEST_SUITE_END()
