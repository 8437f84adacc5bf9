#include "cluster-config/background_pace.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace actorkv {

namespace {

constexpr double first_bound_us = 50;

constexpr double buckets_per_doubling = 4;

/// The upper bound of bucket i, in µs.
double bound_us(size_t i) {
  return first_bound_us * std::pow(2.0, static_cast<double>(i) / buckets_per_doubling);
}

size_t bucket_of(std::chrono::microseconds latency) {
  auto us = static_cast<double>(std::max<int64_t>(latency.count(), 0));
  if (us < first_bound_us)
    return 0;
  auto i =
      static_cast<size_t>(std::floor(buckets_per_doubling * std::log2(us / first_bound_us))) + 1;
  return std::min(i, background_pace::buckets - 1);
}

} // namespace

background_pace::background_pace(background_pace_options options, clock::time_point start,
                                 std::chrono::nanoseconds wall_offset)
    : options_(options), rate_(options.max_rate), wall_offset_(wall_offset), window_start_(start) {
  if (!(options_.min_rate > 0) || !(options_.max_rate >= options_.min_rate))
    throw std::invalid_argument("background_pace: rates must satisfy 0 < min_rate <= max_rate");
  if (options_.window.count() <= 0 || options_.target_p99.count() <= 0)
    throw std::invalid_argument("background_pace: the window and the target must be positive");
  if (!(options_.max_slowdown >= 1) || options_.calibrate_every == 0)
    throw std::invalid_argument(
        "background_pace: max_slowdown must be at least 1 and calibrate_every positive");
}

void background_pace::foreground(std::chrono::microseconds latency, clock::time_point now,
                                 uint64_t count) {
  rate(now); // a sample belongs to the window it arrived in
  counts_[bucket_of(latency)] += count;
  samples_ += count;
}

double background_pace::rate(clock::time_point now) {
  while (now - window_start_ >= options_.window) {
    window_start_ += options_.window;
    judge(window_start_);
  }
  return calibrating_ > 0 ? options_.min_rate : rate_;
}

std::chrono::microseconds background_pace::target() const {
  if (!floor_counts())
    return options_.target_p99;
  auto relative = std::chrono::microseconds{static_cast<int64_t>(
      std::llround(static_cast<double>(floor_p99_.count()) * options_.max_slowdown))};
  return std::max(options_.target_p99, relative);
}

std::chrono::microseconds background_pace::pause(clock::time_point now) {
  if (rate(now) >= options_.max_rate)
    return std::chrono::microseconds{0};
  return std::chrono::microseconds{static_cast<int64_t>(std::llround(1e6 / rate(now)))};
}

std::chrono::microseconds background_pace::percentile_99() const {
  // The smallest bucket bound with at least 99% of the samples at or below it.
  auto needed = static_cast<uint64_t>(std::ceil(static_cast<double>(samples_) * 0.99));
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets; ++i) {
    seen += counts_[i];
    if (seen >= needed)
      return std::chrono::microseconds{static_cast<int64_t>(std::llround(bound_us(i)))};
  }
  return std::chrono::microseconds{static_cast<int64_t>(std::llround(bound_us(buckets - 1)))};
}

void background_pace::judge(clock::time_point window_end) {
  int phase = calibrating_; // of the window that ended
  if (samples_ < options_.min_samples) {
    last_p99_ = std::chrono::microseconds{0};
    if (phase == 0)
      rate_ = std::min(options_.max_rate, rate_ * 2); // idle: nothing to protect
  } else {
    last_p99_ = percentile_99();
    // A calibration window says nothing of what the kept rate costs: the rate stays.
    if (phase == 0) {
      auto judged = target();
      // Slack is below 3/4 of the target, or below halfway from the floor's p99 to the target if
      // that is higher: a target of 130% of the floor's p99 has its 3/4 under the floor itself,
      // which held a node whose requests saw just the floor's p99 at the floor for good.
      auto slack = judged * 3 / 4;
      if (floor_counts()) // then the floor is below the target
        slack = std::max(slack, (floor_p99_ + judged) / 2);
      if (last_p99_ > judged)
        rate_ = std::max(options_.min_rate, rate_ / 2);
      else if (last_p99_ < slack)
        rate_ = std::min(options_.max_rate, rate_ + options_.max_rate / 20);
    }
  }
  if (phase == 2 && last_p99_.count() > 0) { // too few requests: nothing measured
    floors_[floors_measured_++ % floors_kept] = last_p99_;
    auto kept = std::min(floors_measured_, floors_kept);
    auto sorted = floors_;
    std::sort(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(kept));
    floor_p99_ = sorted[(kept - 1) / 2]; // the median; of an even count the lower middle
  }
  if (phase > 0) {
    calibrating_ = phase - 1;
  } else {
    // A calibration begins after the window in which a period of wall-clock time began.
    auto period = options_.window * options_.calibrate_every;
    auto wall_end = window_end.time_since_epoch() + wall_offset_;
    auto wall_start = wall_end - options_.window;
    if (wall_end / period != wall_start / period)
      calibrating_ = 3;
  }
  counts_.fill(0);
  samples_ = 0;
}

} // namespace actorkv
