// Tests for cluster-config/background_pace.hpp: background work slows when foreground p99 passes
// the target, never stops, and speeds up again with slack or when the node is idle. Time is a
// synthetic timeline.
#include "cluster-config/background_pace.hpp"

#include <chrono>
#include <stdexcept>

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

/// One window of `n` requests, `slow` of which take `slow_latency` and the rest 1 ms; returns the
/// time at the window's end.
clock_type::time_point window(background_pace& pace, clock_type::time_point start, int n, int slow,
                              std::chrono::microseconds slow_latency) {
  for (int i = 0; i < n; ++i)
    pace.foreground(i < slow ? slow_latency : std::chrono::microseconds(1000),
                    start + std::chrono::milliseconds(i * 1000 / n));
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
  for (int w = 0; w < 10; ++w) {
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
  for (int w = 0; w < 10; ++w)
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
}

BOOST_AUTO_TEST_SUITE_END()
