// How fast a node's background work may go (handoff batches, anti-entropy partitions, hint
// deliveries), decided by what its foreground requests see: Dynamo's admission control (DeCandia
// et al. 2007, section 6.5). Every foreground request's latency is recorded; at the end of each
// trailing window the window's 99th percentile is compared with a target:
//   - above the target: the background rate is halved (multiplicative decrease), never below a
//     floor, so background work slows but always progresses;
//   - well below it (under 3/4 of the target, or under halfway from the floor's p99 below to the
//     target when that is higher): the rate rises by a step (additive increase);
//   - too few requests to judge (an idle node): the rate doubles, since nothing can suffer.
// A target below what the foreground sees with background work at its floor cannot be met by
// yielding: it would hold background work at the floor for hours (a join of 250,000 keys at 64
// keys a second). So the floor's p99 is measured, and the target judged is the larger of the
// configured one and max_slowdown times the floor's p99: background work may then cost the
// foreground that much, relative to what it has without it. A node's latency depends on its
// peers' background work too (a wiped replica's refill is written by the others), so the floor
// is measured when the whole cluster is at it: every calibrate_every windows of wall-clock time
// (two minutes), at the same moment on every node, background work drops to the floor for three
// windows: the first lets work under way drain, the second is measured, the third covers the
// measured windows of nodes whose windows end later (by less than a window). One window's p99
// is easily disturbed upwards (a checkpoint's fsync, a peer's stall, work that did not drain:
// the same node of two refills of 10M keys read 30 ms in one and 122 ms in the other), and a
// high reading let that node's background work run flat out until the next. The least of the
// last five was tried and is biased low, each reading being the p99 of one 2 s window (in a
// refill, n1's read 10.8 ms while its windows with the whole cluster at the floor saw 15.2 ms,
// and its background work stayed at the floor). So the floor's p99 is the median of the last
// floors_kept readings (six minutes): one reading off either way is outvoted, a lasting change
// counts after two. The first reading alone has nothing to outvote it (the rounds above 2x idle
// in a 10M refill fell while floors rested on one calibration), so the configured target holds
// until floors_before_relative readings exist, and then the lower of the two counts.
// Pure logic, no actors; time is a parameter. Memory is constant: latencies go into a histogram
// of exponential buckets, not a list. The node shares one through actors/node/background_gate.hpp:
// its coordinator and replica gateway feed it, its handoff and anti-entropy workers wait its pause.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace actorkv {

struct background_pace_options {
  /// Foreground p99 latency above which background work is slowed.
  std::chrono::microseconds target_p99{std::chrono::milliseconds(20)};
  /// Length of the trailing window judged at once.
  std::chrono::milliseconds window{2000};
  /// Background units (batches, partitions) per second, never less and never more.
  double min_rate = 1;
  double max_rate = 200;
  /// Foreground requests a window needs before its p99 counts as evidence.
  uint64_t min_samples = 20;
  /// The p99 background work may bring the foreground to, as a multiple of the p99 at the floor
  /// (used when that is above target_p99). 1 keeps the configured target absolute.
  double max_slowdown = 1.5;
  /// Three windows at the floor (to drain, measured, held for the others) start at each multiple
  /// of calibrate_every windows of wall-clock time, on every node at once: at most 3 / 60 of
  /// background work's time is spent measuring.
  uint32_t calibrate_every = 60;
};

class background_pace {
public:
  using clock = std::chrono::steady_clock;

  /// Starts at max_rate: a node with no foreground load runs background work at full speed.
  /// `wall_offset` is the wall clock's time since its epoch minus `clock`'s at the same moment:
  /// calibrations begin at multiples of calibrate_every windows of wall-clock time, so that nodes
  /// whose clocks agree calibrate together. Throws std::invalid_argument for a rate range that is
  /// empty or not positive, a zero window or a zero target, a slowdown below 1.
  explicit background_pace(background_pace_options options = {},
                           clock::time_point start = clock::time_point{},
                           std::chrono::nanoseconds wall_offset = {});

  /// `count` foreground requests finished after `latency` each.
  void foreground(std::chrono::microseconds latency, clock::time_point now, uint64_t count = 1);

  /// Background units admitted per second now (judging any windows that ended before `now`).
  double rate(clock::time_point now);
  /// The pause between two background units at rate(now): none at max_rate (nothing to yield
  /// to: background work runs as fast as it goes), else 1 / rate.
  std::chrono::microseconds pause(clock::time_point now);

  /// The p99 of the last judged window (0 when it had too few samples), for status.
  std::chrono::microseconds last_p99() const { return last_p99_; }
  /// The p99 with the cluster's background work at its floor: the median of the last
  /// floors_kept calibrations that had enough requests (of an even count the lower middle one;
  /// 0: none yet); and the target judged now: target_p99 until floors_before_relative
  /// calibrations measured the floor, then the larger of target_p99 and max_slowdown times it.
  std::chrono::microseconds floor_p99() const { return floor_p99_; }
  std::chrono::microseconds target() const;
  const background_pace_options& options() const { return options_; }

  /// Buckets: bucket i holds latencies below 50 µs * 2^(i/4) (four buckets per doubling, so a
  /// percentile read as its bucket's upper bound is at most 19% high), the last everything above.
  static constexpr size_t buckets = 96;
  /// Calibrations whose measurements the floor's p99 is the median of.
  static constexpr size_t floors_kept = 3;
  /// Calibrations needed before the floor's p99 counts in the target.
  static constexpr size_t floors_before_relative = 2;

private:
  /// Whether the floor's p99 counts in the target (floors_before_relative calibrations measured).
  bool floor_counts() const { return floors_measured_ >= floors_before_relative; }
  void judge(clock::time_point window_end);
  std::chrono::microseconds percentile_99() const;

  background_pace_options options_;
  double rate_;
  /// Windows of the calibration left, counting the one under way (3: draining, 2: measured,
  /// 1: held for the others); the rate is min_rate meanwhile and rate_ is kept for after it.
  int calibrating_ = 0;
  std::chrono::nanoseconds wall_offset_;
  std::chrono::microseconds floor_p99_{0};
  std::array<std::chrono::microseconds, floors_kept> floors_{}; ///< the last measurements
  size_t floors_measured_ = 0;
  clock::time_point window_start_;
  std::array<uint64_t, buckets> counts_{};
  uint64_t samples_ = 0;
  std::chrono::microseconds last_p99_{0};
};

} // namespace actorkv
