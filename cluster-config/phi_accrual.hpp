// The phi accrual failure detector (Hayashibara et al.; as in Akka and Cassandra): pure logic,
// no actors. It keeps the intervals between a peer's recent heartbeats and answers how suspicious
// the current silence is: phi = -log10(P(a heartbeat arrives later than now)), with the interval
// distribution approximated by a normal one. phi 1 means a 10% chance that the peer is alive and
// merely late, phi 8 one in 10^8.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

namespace actorkv {

class phi_accrual {
public:
  using clock = std::chrono::steady_clock;

  /// `window`: intervals kept; `min_stddev`: floor on the deviation so that a very regular peer
  /// is not condemned by a tiny variance; `acceptable_pause`: added to the mean, tolerance for
  /// pauses such as a busy machine; `first_interval`: the assumed mean before two heartbeats.
  explicit phi_accrual(size_t window = 100,
                       std::chrono::milliseconds min_stddev = std::chrono::milliseconds(100),
                       std::chrono::milliseconds acceptable_pause = std::chrono::milliseconds(0),
                       std::chrono::milliseconds first_interval = std::chrono::milliseconds(1000));

  void heartbeat(clock::time_point now);

  /// Suspicion now: 0 right after a heartbeat (and before any), growing with the silence; large
  /// but finite when long overdue.
  double phi(clock::time_point now) const;

  bool has_heartbeat() const { return has_last_; }

private:
  size_t window_;
  double min_stddev_ms_;
  double acceptable_pause_ms_;
  std::deque<double> intervals_ms_;
  double sum_ = 0;
  double sum_squares_ = 0;
  clock::time_point last_;
  bool has_last_ = false;
};

} // namespace actorkv
