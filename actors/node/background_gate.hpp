// The node's one background_pace (cluster-config/background_pace.hpp), shared by the actors that
// feed it and those it paces: the coordinator records every client request's latency, the
// replica gateway every peer's call's service time, and the handoff and anti-entropy workers
// wait pause() between their units of work (a batch streamed, a partition compared). They run on
// different threads, hence the lock; it is held for a few arithmetic operations per request.
#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>

#include "cluster-config/background_pace.hpp"

namespace actorkv {

class background_gate {
public:
  using clock = background_pace::clock;

  background_gate(background_pace_options options, clock::time_point start,
                  std::chrono::nanoseconds wall_offset = {})
      : pace_(options, start, wall_offset) {}

  /// `count` requests finished after `took` each (a batch served at once takes the lock once).
  void foreground(std::chrono::nanoseconds took, clock::time_point now, uint64_t count = 1) {
    std::lock_guard<std::mutex> lock{mutex_};
    pace_.foreground(std::chrono::duration_cast<std::chrono::microseconds>(took), now, count);
  }

  /// The pause before the next background unit, at least `floor` (a worker's own pacing).
  std::chrono::milliseconds pause(clock::time_point now, std::chrono::milliseconds floor = {}) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto p = std::chrono::duration_cast<std::chrono::milliseconds>(pace_.pause(now));
    return std::max(p, floor);
  }

  /// Units per second admitted now, the p99 the last window had (0: too few requests), the
  /// p99 last measured at the floor (0: none), and the target judged and the configured one.
  struct reading {
    double rate = 0;
    double max_rate = 0;
    std::chrono::microseconds p99{0};
    std::chrono::microseconds floor_p99{0};
    std::chrono::microseconds target{0};
    std::chrono::microseconds configured_target{0};
  };
  reading read(clock::time_point now) {
    std::lock_guard<std::mutex> lock{mutex_};
    reading r;
    r.rate = pace_.rate(now); // judges the windows that ended: the rest reads after it
    r.max_rate = pace_.options().max_rate;
    r.p99 = pace_.last_p99();
    r.floor_p99 = pace_.floor_p99();
    r.target = pace_.target();
    r.configured_target = pace_.options().target_p99;
    return r;
  }

private:
  std::mutex mutex_;
  background_pace pace_;
};

} // namespace actorkv
