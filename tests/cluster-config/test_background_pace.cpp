// Tests for cluster-config/background_pace.hpp: background work slows when foreground p99 passes
// the target, never stops, and speeds up again with slack or when the node is idle. Time is a
// synthetic timeline.
#include "cluster-config/background_pace.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include <boost/test/unit_test.hpp>

using namespace actorkv;
using namespace std::chrono_literals;

namespace {

using clock_type = background_pace::clock;
const clock_type::time_point t0 = clock_type::time_point{} + std::chrono::hours(1);

background_pace_options target_20ms() {
  background_pace_options o;
  o.target_p99 = 20ms;
  o.window = 1000ms;
  o.min_rate = 1;
  o.max_rate = 100;
  o.min_samples = 20;
  return o;
}

/// One window of `n` requests, `slow` of which take `slow_latency` and the rest 1 ms, judged;
/// returns the time at the window's end.
clock_type::time_point window(background_pace& pace, clock_type::time_point start, int n, int slow,
                              std::chrono::microseconds slow_latency) {
  for (int i = 0; i < n; ++i)
    pace.foreground(i < slow ? slow_latency : std::chrono::microseconds(1000),
                    start + std::chrono::milliseconds(i * 1000 / n));
  pace.rate(start + 1000ms);
  return start + 1000ms;
}

} // namespace

BOOST_AUTO_TEST_SUITE(background_pace_suite)

BOOST_AUTO_TEST_CASE(an_idle_node_runs_background_work_at_full_speed) {
  background_pace pace{target_20ms(), t0};
  BOOST_TEST(pace.rate(t0) == 100);
  BOOST_TEST(pace.rate(t0 + 10s) == 100);
  BOOST_TEST(pace.pause(t0 + 10s).count() == 0); // full speed: no pause
}

BOOST_AUTO_TEST_CASE(foreground_p99_above_the_target_halves_the_rate_down_to_the_floor) {
  background_pace pace{target_20ms(), t0};
  auto t = t0;
  double expected = 100;
  for (int w = 0; w < 7; ++w) {
    t = window(pace, t, 1000, 50, 80ms); // 5% of requests take 80 ms: p99 is 80 ms
    expected = std::max(1.0, expected / 2);
    BOOST_TEST(pace.rate(t) == expected);
    BOOST_TEST(pace.last_p99().count() > 20000);
  }
  // Never zero: background work still progresses at one unit per second.
  BOOST_TEST(pace.rate(t) == 1);
  BOOST_TEST(pace.pause(t).count() == 1000000);
}

BOOST_AUTO_TEST_CASE(a_few_slow_requests_below_the_percentile_do_not_slow_it) {
  background_pace pace{target_20ms(), t0};
  // 0.5% slow: the 99th percentile is the fast requests' latency.
  auto t = window(pace, t0, 1000, 5, 500ms);
  BOOST_TEST(pace.rate(t) == 100);
  BOOST_TEST(pace.last_p99().count() <= 2000);
  // 2% slow: it is the slow ones'.
  t = window(pace, t, 1000, 20, 500ms);
  BOOST_TEST(pace.rate(t) == 50);
  BOOST_TEST(pace.last_p99().count() >= 500000);
}

BOOST_AUTO_TEST_CASE(slack_raises_the_rate_step_by_step_and_idleness_doubles_it) {
  background_pace pace{target_20ms(), t0};
  auto t = t0;
  for (int w = 0; w < 7; ++w)
    t = window(pace, t, 1000, 50, 80ms);
  BOOST_REQUIRE(pace.rate(t) == 1);
  // Busy but fast (p99 about 1 ms, well under 3/4 of 20 ms): +5 per window (max_rate / 20).
  t = window(pace, t, 1000, 0, 0us);
  BOOST_TEST(pace.rate(t) == 6);
  t = window(pace, t, 1000, 0, 0us);
  BOOST_TEST(pace.rate(t) == 11);
  BOOST_TEST(pace.pause(t).count() == 90909); // 1 / 11 s
  // Near the target (p99 between 3/4 of it and it): held.
  t = window(pace, t, 1000, 50, 18ms);
  BOOST_TEST(pace.rate(t) == 11);
  // Idle (fewer than min_samples): doubled each window, up to max_rate.
  t = window(pace, t, 10, 0, 0us);
  BOOST_TEST(pace.rate(t) == 22);
  BOOST_TEST(pace.last_p99().count() == 0);
  BOOST_TEST(pace.rate(t + 5s) == 100);
}

BOOST_AUTO_TEST_CASE(the_rate_changes_only_when_a_window_ends) {
  background_pace pace{target_20ms(), t0};
  for (int i = 0; i < 100; ++i)
    pace.foreground(500ms, t0 + std::chrono::milliseconds(i * 9));
  BOOST_TEST(pace.rate(t0 + 999ms) == 100); // the window is still open
  BOOST_TEST(pace.rate(t0 + 1000ms) == 50);
  // Samples after the window end belong to the next window.
  BOOST_TEST(pace.rate(t0 + 1500ms) == 50);
}

BOOST_AUTO_TEST_CASE(a_target_below_the_p99_at_the_floor_gives_way_to_a_multiple_of_that_p99) {
  // The foreground's p99 is 80 ms whatever background work does: the 20 ms target cannot be met
  // by yielding. Once two calibrations measured the floor's p99 (windows 61-63 and 121-123: the
  // calibrations after the minutes that began at the end of windows 60 and 120), the target
  // judged is 1.5x it and the rate climbs again instead of crawling at one unit a second for good.
  background_pace pace{target_20ms(), t0};
  auto t = t0;
  for (int w = 0; w < 60; ++w)
    t = window(pace, t, 1000, 50, 80ms);
  BOOST_TEST(pace.rate(t) == 1);
  BOOST_TEST(pace.target().count() == 20000); // nothing measured at the floor yet
  for (int w = 0; w < 3; ++w)
    t = window(pace, t, 1000, 50, 80ms);
  BOOST_TEST(pace.floor_p99().count() >= 80000);
  BOOST_TEST(pace.target().count() == 20000); // one reading has nothing to outvote it
  for (int w = 0; w < 60; ++w)
    t = window(pace, t, 1000, 50, 80ms);
  BOOST_TEST(pace.rate(t) == 1);
  BOOST_TEST(pace.floor_p99().count() >= 80000);
  BOOST_TEST(pace.floor_p99().count() <= 96000); // a bucket's bound: at most 19% high
  BOOST_TEST(std::abs(pace.target().count() - pace.floor_p99().count() * 3 / 2) <= 1);
  t = window(pace, t, 1000, 50, 80ms);
  BOOST_TEST(pace.rate(t) == 6);
  for (int w = 0; w < 25; ++w)
    t = window(pace, t, 1000, 50, 80ms);
  BOOST_TEST(pace.rate(t) == 100);
}

BOOST_AUTO_TEST_CASE(background_work_that_slows_requests_past_the_allowed_multiple_is_halved) {
  // p99 is 40 ms at the floor and 100 ms (2.5x) while background work runs faster than 30 units
  // a second: once the floor is measured the rate settles below 30 instead of at the maximum.
  background_pace pace{target_20ms(), t0};
  auto t = t0;
  for (int w = 0; w < 180; ++w) {
    auto r = pace.rate(t);
    t = window(pace, t, 1000, 50, r > 30 ? 100ms : 40ms);
    if (w >= 135)
      BOOST_TEST(pace.rate(t) <= 35); // one step of 5 above 30 before it is halved again
  }
  BOOST_TEST(pace.target().count() >= 60000);
  BOOST_TEST(pace.target().count() < 100000);
}

BOOST_AUTO_TEST_CASE(with_a_slowdown_of_1_the_target_stays_absolute) {
  auto o = target_20ms();
  o.max_slowdown = 1;
  background_pace pace{o, t0};
  auto t = t0;
  for (int w = 0; w < 100; ++w)
    t = window(pace, t, 1000, 50, 80ms);
  BOOST_TEST(pace.rate(t) == 1);
}

BOOST_AUTO_TEST_CASE(the_floor_is_measured_again_so_a_quieter_foreground_gets_its_target_back) {
  // Background work above 50 units a second adds 30 ms to the p99. While the foreground's own
  // p99 is 80 ms that is within 1.5x; once the foreground is fast (1 ms) it is not, and the next
  // two calibrations (each minute: windows 61-63, 121-123, ..., 241-243, 301-303) find that out.
  background_pace pace{target_20ms(), t0};
  auto t = t0;
  auto base = 80ms;
  int calibrations = 0;
  double previous = 0;
  double highest_late = 0;
  for (int w = 0; w < 320; ++w) {
    if (w == 190)
      base = 1ms;
    auto r = pace.rate(t);
    if (r == 1 && previous > 1)
      ++calibrations;
    previous = r;
    if (w >= 306)
      highest_late = std::max(highest_late, r);
    auto p99 = base + (r > 50 ? 30ms : 0ms);
    t = window(pace, t, 1000, 50, std::chrono::duration_cast<std::chrono::microseconds>(p99));
    if (w == 189) {
      BOOST_TEST(pace.rate(t) > 50); // 110 ms is within 1.5x of 80 ms
      BOOST_TEST(pace.target().count() > 110000);
    }
  }
  BOOST_TEST(calibrations >= 2);
  BOOST_TEST(pace.target().count() == 20000);
  BOOST_TEST(highest_late <= 55); // halved whenever it passes 50 (100 without the calibration)
}

BOOST_AUTO_TEST_CASE(one_disturbed_calibration_does_not_raise_the_target) {
  // The first calibration finds 40 ms at the floor, the second, disturbed, 200 ms: until the
  // next the target stays 1.5x 40 ms instead of 300 ms, and background work that brings the
  // foreground to 100 ms is still halved.
  auto o = target_20ms();
  o.calibrate_every = 10; // calibrations in windows 11-13, 21-23, ...; measured: 12, 22
  background_pace pace{o, t0};
  auto t = t0;
  for (int w = 1; w <= 25; ++w)
    t = window(pace, t, 1000, 50, w == 22 ? 200ms : w == 12 ? 40ms : 30ms);
  BOOST_TEST(pace.floor_p99().count() >= 40000);
  BOOST_TEST(pace.floor_p99().count() < 48000);
  BOOST_TEST(pace.target().count() < 72000);
  auto before = pace.rate(t);
  t = window(pace, t, 1000, 50, 100ms);
  BOOST_TEST(pace.rate(t) == before / 2);
}

BOOST_AUTO_TEST_CASE(one_lucky_calibration_does_not_lower_the_target) {
  // Calibrations find 40, 40 and then, with a lucky window, 10 ms: the floor stays 40 ms, so a
  // foreground at 50 ms (within 1.5x of it) does not halve the background rate.
  auto o = target_20ms();
  o.calibrate_every = 10; // measured in windows 12, 22, 32
  background_pace pace{o, t0};
  auto t = t0;
  for (int w = 1; w <= 35; ++w)
    t = window(pace, t, 1000, 50, w == 32 ? 10ms : w == 12 || w == 22 ? 40ms : 30ms);
  BOOST_TEST(pace.floor_p99().count() >= 40000);
  BOOST_TEST(pace.floor_p99().count() < 48000);
  auto before = pace.rate(t);
  BOOST_TEST(before > 1);
  t = window(pace, t, 1000, 50, 50ms);
  BOOST_TEST(pace.rate(t) >= before);
}

BOOST_AUTO_TEST_CASE(at_130_percent_requests_at_the_floors_p99_let_background_work_speed_up) {
  // With the target at 130% of the floor's p99, 3/4 of it lies below the floor itself: a node
  // whose requests see what they saw at the floor must still speed up, not stay at one unit a
  // second for good (a 10M join's slowest sender did). Above 130% it is halved again.
  auto o = target_20ms();
  o.max_slowdown = 1.3;
  o.calibrate_every = 10; // measured in windows 12, 22
  background_pace pace{o, t0};
  auto t = t0;
  for (int w = 1; w <= 24; ++w) // the next calibration is in windows 31-33
    t = window(pace, t, 1000, 50, w == 12 || w == 22 ? 40ms : 80ms);
  BOOST_TEST(pace.rate(t) == 1);
  BOOST_TEST(pace.floor_p99().count() >= 40000);
  for (int w = 0; w < 4; ++w)
    t = window(pace, t, 1000, 50, 40ms); // the floor's p99: slack
  BOOST_TEST(pace.rate(t) == 21);        // four steps of 5 above the floor
  t = window(pace, t, 1000, 50, 60ms);   // above 130% of the floor
  BOOST_TEST(pace.rate(t) == 10.5);
}

BOOST_AUTO_TEST_CASE(a_calibration_drains_measures_and_holds_then_the_rate_returns) {
  auto o = target_20ms();
  o.calibrate_every = 5; // a calibration after windows 5, 10, ...
  background_pace pace{o, t0};
  auto t = t0;
  for (int w = 0; w < 5; ++w) // 100 halved five times
    t = window(pace, t, 1000, 50, 80ms);
  BOOST_TEST(pace.rate(t) == 1); // window 6: draining
  BOOST_TEST(pace.pause(t).count() == 1000000);
  t = window(pace, t, 1000, 50, 500ms); // not measured
  BOOST_TEST(pace.rate(t) == 1);        // window 7: measured
  t = window(pace, t, 1000, 50, 60ms);
  BOOST_TEST(pace.rate(t) == 1); // window 8: held for the others
  t = window(pace, t, 1000, 50, 500ms);
  BOOST_TEST(pace.rate(t) == 3.125); // the rate from before, kept
  BOOST_TEST(pace.floor_p99().count() >= 60000);
  BOOST_TEST(pace.floor_p99().count() < 72000);
  // One reading alone leaves the target as configured: 80 ms is above 20 ms.
  t = window(pace, t, 1000, 50, 80ms);
  BOOST_TEST(pace.rate(t) == 1.5625);
  t = window(pace, t, 1000, 0, 0us); // fast: +5; then the second calibration, windows 11-13
  BOOST_TEST(pace.rate(t) == 1);
  t = window(pace, t, 1000, 50, 500ms);
  t = window(pace, t, 1000, 50, 60ms);
  t = window(pace, t, 1000, 50, 500ms);
  BOOST_TEST(pace.rate(t) == 6.5625);
  t = window(pace, t, 1000, 50, 80ms); // 80 ms is within 1.5x of 60 ms: held, not halved
  BOOST_TEST(pace.rate(t) == 6.5625);
}

BOOST_AUTO_TEST_CASE(nodes_whose_clocks_agree_calibrate_together) {
  // Two nodes started half a window apart, with steady clocks that share nothing: each one's
  // measured window lies within the other's time at the floor, since both follow the wall clock.
  using namespace std::chrono;
  const auto wall_start = seconds(3600); // wall-clock time since its epoch
  background_pace a{target_20ms(), clock_type::time_point{} + seconds(100),
                    wall_start - seconds(100)};
  background_pace b{target_20ms(), clock_type::time_point{} + seconds(7000) + 500ms,
                    wall_start - seconds(7000)};
  auto steady_a = [&](milliseconds wall) {
    return clock_type::time_point{} + wall - wall_start + seconds(100);
  };
  auto steady_b = [&](milliseconds wall) {
    return clock_type::time_point{} + wall - wall_start + seconds(7000);
  };
  std::vector<milliseconds> a_floor, b_floor; // wall-clock moments at the floor
  for (auto wall = milliseconds(wall_start) + 500ms; wall < milliseconds(wall_start) + 130s;
       wall += 10ms) {
    a.foreground(1ms, steady_a(wall));
    b.foreground(1ms, steady_b(wall));
    if (a.rate(steady_a(wall)) == 1)
      a_floor.push_back(wall);
    if (b.rate(steady_b(wall)) == 1)
      b_floor.push_back(wall);
  }
  // Fast requests: the floor only for the calibrations, three windows (300 steps) each, after the
  // minutes that began at 3660 s and 3720 s of wall-clock time.
  BOOST_REQUIRE_EQUAL(a_floor.size(), 600u);
  BOOST_REQUIRE_EQUAL(b_floor.size(), 600u);
  BOOST_TEST(a_floor.front().count() == 3660000);
  BOOST_TEST(b_floor.front().count() == 3660500);
  BOOST_TEST(a_floor[300].count() == 3720000);
  BOOST_TEST(b_floor[300].count() == 3720500);
}

BOOST_AUTO_TEST_CASE(nonsensical_options_are_refused) {
  auto o = target_20ms();
  o.min_rate = 0;
  BOOST_CHECK_THROW((background_pace{o, t0}), std::invalid_argument);
  o = target_20ms();
  o.max_rate = 0.5;
  BOOST_CHECK_THROW((background_pace{o, t0}), std::invalid_argument);
  o = target_20ms();
  o.window = 0ms;
  BOOST_CHECK_THROW((background_pace{o, t0}), std::invalid_argument);
  o = target_20ms();
  o.max_slowdown = 0.5;
  BOOST_CHECK_THROW((background_pace{o, t0}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
