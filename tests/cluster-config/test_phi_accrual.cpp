// Tests for cluster-config/phi_accrual.hpp, the failure detector's arithmetic. Pure: time is passed
// in as time points on a synthetic timeline, never read from a clock. Jittered streams print their
// seed and take ACTORKV_SEED to replay one.
#include "cluster-config/phi_accrual.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <random>
#include <vector>

#include <boost/test/unit_test.hpp>

using namespace actorkv;
using namespace std::chrono_literals;

namespace {

using clock_type = phi_accrual::clock;
using ms = std::chrono::milliseconds;

/// An arbitrary origin for the synthetic timeline.
const clock_type::time_point t0 = clock_type::time_point{} + std::chrono::hours(1);

/// The seed for a randomised test: ACTORKV_SEED when set, else a fresh one, printed either way.
uint64_t test_seed() {
  uint64_t seed = 0;
  if (const char* env = std::getenv("ACTORKV_SEED"))
    seed = std::stoull(env);
  else
    seed = std::random_device{}();
  BOOST_TEST_MESSAGE("seed " << seed << " (set ACTORKV_SEED=" << seed << " to replay)");
  return seed;
}

/// Feeds `count` heartbeats `interval` ± `jitter` apart, starting at `start`; returns the time of
/// the last one.
clock_type::time_point beat(phi_accrual& fd, clock_type::time_point start, int count, ms interval,
                            ms jitter, std::mt19937_64& rng) {
  std::uniform_int_distribution<long> offset{-jitter.count(), jitter.count()};
  auto now = start;
  for (int i = 0; i < count; ++i) {
    if (i > 0)
      now += interval + ms{offset(rng)};
    fd.heartbeat(now);
  }
  return now;
}

/// The first silence (in steps of `step`, up to `limit`) at which phi exceeds `threshold`, checking
/// on the way that phi never decreases and stays finite; `limit` + `step` if it never does.
ms time_to_exceed(const phi_accrual& fd, clock_type::time_point last, double threshold,
                  ms step = 10ms, ms limit = 60'000ms) {
  double previous = 0;
  std::optional<ms> crossed;
  for (ms silence{0}; silence <= limit; silence += step) {
    auto phi = fd.phi(last + silence);
    BOOST_REQUIRE_MESSAGE(std::isfinite(phi) && phi >= 0,
                          "phi " << phi << " at +" << silence.count() << " ms");
    BOOST_REQUIRE_MESSAGE(phi >= previous, "phi fell from " << previous << " to " << phi << " at +"
                                                            << silence.count() << " ms");
    previous = phi;
    if (!crossed && phi > threshold)
      crossed = silence;
  }
  return crossed ? *crossed : limit + step;
}

} // namespace

BOOST_AUTO_TEST_SUITE(phi_accrual_detector)

BOOST_AUTO_TEST_CASE(phi_is_zero_before_any_heartbeat) {
  phi_accrual fd;
  BOOST_CHECK(!fd.has_heartbeat());
  for (auto at : {t0, t0 + 1s, t0 + 24h})
    BOOST_CHECK_EQUAL(fd.phi(at), 0.0);
  fd.heartbeat(t0);
  BOOST_CHECK(fd.has_heartbeat());
  BOOST_CHECK_LT(fd.phi(t0), 0.01);
  // One heartbeat: judged against first_interval (1 s) until a second one arrives.
  BOOST_CHECK_LT(fd.phi(t0 + 1s), 1.0);
  BOOST_CHECK_GT(fd.phi(t0 + 10s), 8.0);
}

BOOST_AUTO_TEST_CASE(a_regular_peer_is_trusted_and_a_silent_one_suspected_within_seconds) {
  auto seed = test_seed();
  BOOST_TEST_CONTEXT("seed " << seed) {
    std::mt19937_64 rng{seed};
    phi_accrual fd;
    std::uniform_int_distribution<long> jitter{-20, 20};
    auto now = t0;
    fd.heartbeat(now);
    double worst = 0;
    for (int i = 0; i < 200; ++i) {
      // Half a second after each heartbeat, when the next one is due: not suspicious.
      worst = std::max(worst, fd.phi(now + 500ms));
      BOOST_CHECK_LT(fd.phi(now + 500ms), 1.0);
      now += 500ms + ms{jitter(rng)};
      fd.heartbeat(now);
      BOOST_CHECK_LT(fd.phi(now), 0.01);
    }
    BOOST_TEST_MESSAGE("largest phi at +500 ms over 200 heartbeats: " << worst);
    auto to_1 = time_to_exceed(fd, now, 1.0);
    auto to_8 = time_to_exceed(fd, now, 8.0);
    BOOST_TEST_MESSAGE("after silence, phi exceeds 1 at +" << to_1.count() << " ms and 8 at +"
                                                           << to_8.count() << " ms");
    BOOST_CHECK_GT(to_1.count(), 500);
    BOOST_CHECK_LE(to_8.count(), 2500);
    // Long overdue: huge, yet finite.
    for (auto silence : {ms{60'000}, ms{3'600'000}, ms{86'400'000LL * 365}}) {
      auto phi = fd.phi(now + silence);
      BOOST_CHECK(std::isfinite(phi));
      BOOST_CHECK_GT(phi, 8.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(phi_never_decreases_with_the_silence) {
  auto seed = test_seed();
  BOOST_TEST_CONTEXT("seed " << seed) {
    std::mt19937_64 rng{seed};
    struct setting {
      size_t window;
      ms min_stddev;
      ms pause;
      ms first;
      ms interval;
      ms jitter;
    };
    const std::vector<setting> settings = {
        {100, 100ms, 0ms, 1000ms, 500ms, 20ms},   {100, 100ms, 0ms, 1000ms, 500ms, 200ms},
        {10, 0ms, 0ms, 1000ms, 100ms, 0ms},       {2, 0ms, 0ms, 10ms, 1000ms, 0ms},
        {100, 250ms, 1000ms, 500ms, 500ms, 50ms}, {1000, 1ms, 0ms, 1ms, 1ms, 0ms},
    };
    for (const auto& s : settings) {
      BOOST_TEST_CONTEXT("window " << s.window << ", min_stddev " << s.min_stddev.count()
                                   << " ms, pause " << s.pause.count() << " ms, interval "
                                   << s.interval.count() << " ± " << s.jitter.count() << " ms") {
        phi_accrual fd{s.window, s.min_stddev, s.pause, s.first};
        auto last = beat(fd, t0, 50, s.interval, s.jitter, rng);
        auto crossed = time_to_exceed(fd, last, 8.0, 1ms, 20 * s.interval + 5s);
        BOOST_CHECK_LE(crossed.count(), (20 * s.interval + 5s).count());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(phi_is_finite_even_without_any_deviation) {
  // min_stddev 0 and a metronome: every interval equal, so the measured deviation is 0. A silence
  // of exactly the mean used to compute 0/0.
  phi_accrual fd{2, 0ms, 0ms, 500ms};
  auto last = t0;
  for (int i = 0; i < 10; ++i, last += 500ms)
    fd.heartbeat(last);
  last -= 500ms;
  for (auto silence : {0ms, 499ms, 500ms, 501ms, 10'000ms}) {
    auto phi = fd.phi(last + silence);
    BOOST_CHECK_MESSAGE(std::isfinite(phi) && phi >= 0,
                        "phi " << phi << " at +" << silence.count() << " ms");
  }
  BOOST_CHECK_LT(fd.phi(last + 499ms), 0.01);
  BOOST_CHECK_LT(fd.phi(last + 500ms), 1.0);
  BOOST_CHECK_GT(fd.phi(last + 501ms), 8.0);
  // A time point before the last heartbeat (a caller's clock stepping back) is not suspicious.
  BOOST_CHECK_EQUAL(fd.phi(last - 1s), 0.0);
}

BOOST_AUTO_TEST_CASE(a_paused_then_resumed_stream_brings_phi_back_near_zero) {
  auto seed = test_seed();
  BOOST_TEST_CONTEXT("seed " << seed) {
    std::mt19937_64 rng{seed};
    phi_accrual fd;
    auto last = beat(fd, t0, 40, 500ms, 20ms, rng);
    // Ten seconds of silence (a paused process, a partition): clearly suspected.
    BOOST_CHECK_GT(fd.phi(last + 10s), 8.0);
    auto resumed = last + 10s;
    fd.heartbeat(resumed);
    BOOST_TEST_MESSAGE("phi right after the pause ends: " << fd.phi(resumed));
    BOOST_CHECK_LT(fd.phi(resumed), 0.5);
    last = beat(fd, resumed + 500ms, 10, 500ms, 20ms, rng);
    BOOST_TEST_MESSAGE("phi 500 ms after the 10th resumed heartbeat: " << fd.phi(last + 500ms));
    BOOST_CHECK_LT(fd.phi(last), 0.5);
    BOOST_CHECK_LT(fd.phi(last + 500ms), 1.0);
    // The pause widened the distribution, so suspicion now takes longer, yet it still comes.
    auto to_8 = time_to_exceed(fd, last, 8.0);
    BOOST_TEST_MESSAGE("phi exceeds 8 after the pause at +" << to_8.count() << " ms");
    BOOST_CHECK_LE(to_8.count(), 60'000);
  }
}

BOOST_AUTO_TEST_SUITE_END()
