#include "cluster-config/phi_accrual.hpp"

#include <algorithm>
#include <cmath>

namespace actorkv {

namespace {

/// The deviation used when every measured one is smaller: a microsecond, far below the jitter of
/// any real heartbeat, so it only keeps the arithmetic finite.
constexpr double smallest_stddev_ms = 1e-3;

} // namespace

phi_accrual::phi_accrual(size_t window, std::chrono::milliseconds min_stddev,
                         std::chrono::milliseconds acceptable_pause,
                         std::chrono::milliseconds first_interval)
    : window_(std::max<size_t>(window, 2)), min_stddev_ms_(static_cast<double>(min_stddev.count())),
      acceptable_pause_ms_(static_cast<double>(acceptable_pause.count())) {
  // Seed with two intervals around the first guess so the first judgements are sane.
  auto first = static_cast<double>(first_interval.count());
  for (double x : {first - first / 4, first + first / 4}) {
    intervals_ms_.push_back(x);
    sum_ += x;
    sum_squares_ += x * x;
  }
}

void phi_accrual::heartbeat(clock::time_point now) {
  if (has_last_) {
    auto ms = std::chrono::duration<double, std::milli>(now - last_).count();
    intervals_ms_.push_back(ms);
    sum_ += ms;
    sum_squares_ += ms * ms;
    if (intervals_ms_.size() > window_) {
      auto old = intervals_ms_.front();
      intervals_ms_.pop_front();
      sum_ -= old;
      sum_squares_ -= old * old;
    }
  }
  last_ = now;
  has_last_ = true;
}

double phi_accrual::phi(clock::time_point now) const {
  if (!has_last_)
    return 0;
  auto n = static_cast<double>(intervals_ms_.size());
  auto mean = sum_ / n + acceptable_pause_ms_;
  auto variance = std::max(0.0, sum_squares_ / n - (sum_ / n) * (sum_ / n));
  // Never 0, even with min_stddev 0 and perfectly regular heartbeats: a zero deviation would make
  // y infinite, or NaN when the silence equals the mean exactly.
  auto stddev = std::max({std::sqrt(variance), min_stddev_ms_, smallest_stddev_ms});
  auto elapsed = std::chrono::duration<double, std::milli>(now - last_).count();
  // Logistic approximation of the normal CDF's tail (as Akka uses), in a form that does not
  // overflow: P(later) = e / (1 + e) with e = exp(-y (1.5976 + 0.070566 y^2)).
  auto y = (elapsed - mean) / stddev;
  auto exponent = -y * (1.5976 + 0.070566 * y * y);
  double p_later;
  if (exponent > 50) // far too early to suspect anything
    p_later = 1.0;
  else
    p_later = std::exp(exponent) / (1.0 + std::exp(exponent));
  p_later = std::max(p_later, 1e-300); // keeps phi finite however long the silence
  return std::max(0.0, -std::log10(p_later));
}

} // namespace actorkv
