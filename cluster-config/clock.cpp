#include "cluster-config/clock.hpp"

#include <algorithm>
#include <limits>

namespace actorkv {

namespace {

constexpr int64_t int64_min = std::numeric_limits<int64_t>::min();
constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();

/// a + b for b >= 0, stopping at the end of int64 instead of wrapping.
int64_t saturating_add(int64_t a, int64_t b) {
  return a > int64_max - b ? int64_max : a + b;
}

int64_t magnitude(int64_t x) {
  return x == int64_min ? int64_max : (x < 0 ? -x : x);
}

} // namespace

hybrid_clock::hybrid_clock(int64_t max_lead_us)
    : last_(int64_min), max_lead_us_(std::max<int64_t>(max_lead_us, 0)) {}

int64_t hybrid_clock::now(int64_t wall_us) {
  auto cur = last_.load();
  for (;;) {
    // At the end of int64 the clock stays there: only a bound far beyond any real clock gets it
    // that far (observe caps what others show it).
    auto next = std::max(wall_us, saturating_add(cur, 1));
    if (last_.compare_exchange_weak(cur, next))
      return next;
  }
}

int64_t hybrid_clock::peek(int64_t wall_us) const {
  return std::max(wall_us, last_.load());
}

bool hybrid_clock::observe(int64_t ts, int64_t wall_us) {
  auto bound = saturating_add(wall_us, max_lead_us_);
  auto target = std::min(ts, bound);
  auto cur = last_.load();
  while (cur < target && !last_.compare_exchange_weak(cur, target)) {
  }
  return ts <= bound;
}

clock_offset offset_of(const clock_probe& p) {
  // Halve before adding: no overflow whatever the readings.
  auto middle = p.sent_us / 2 + p.received_us / 2 + (p.sent_us % 2 + p.received_us % 2) / 2;
  auto round_trip = std::max<int64_t>(p.received_us - p.sent_us, 0);
  return clock_offset{p.peer_wall_us - middle, (round_trip + 1) / 2};
}

offset_filter::offset_filter(size_t window) : window_(std::max<size_t>(window, 1)) {}

void offset_filter::add(const clock_probe& probe) {
  // A wall clock stepped back while the probe was out: its round trip, and so the estimate's
  // error bound, mean nothing (it would look like the best probe of all).
  if (probe.received_us < probe.sent_us)
    return;
  if (recent_.size() < window_) {
    recent_.push_back(offset_of(probe));
    return;
  }
  recent_[head_] = offset_of(probe);
  head_ = (head_ + 1) % window_;
}

std::optional<clock_offset> offset_filter::estimate() const {
  if (recent_.empty())
    return std::nullopt;
  // Of equal error bounds, the latest: the clock may have been corrected meanwhile. Newest
  // first: the newest is just before head_ (the oldest, 0 until the window is full).
  auto n = recent_.size();
  auto best = &recent_[(head_ + n - 1) % n];
  for (size_t back = 1; back < n; ++back) {
    auto& at = recent_[(head_ + n - 1 - back) % n];
    if (at.error_us < best->error_us)
      best = &at;
  }
  return *best;
}

bool beyond(const clock_offset& o, int64_t limit_us) {
  return magnitude(o.offset_us) - o.error_us > limit_us;
}

skew_verdict own_skew(const std::vector<clock_offset>& peers, int64_t limit_us) {
  if (peers.empty())
    return {};
  // What each peer says of this node: the negated offset.
  std::vector<clock_offset> mine;
  for (auto& p : peers)
    mine.push_back(clock_offset{p.offset_us == int64_min ? int64_max : -p.offset_us, p.error_us});
  std::sort(mine.begin(), mine.end(),
            [](const clock_offset& a, const clock_offset& b) { return a.offset_us < b.offset_us; });
  auto n = mine.size();
  auto pick = mine[n / 2];
  if (n % 2 == 0 && magnitude(mine[n / 2 - 1].offset_us) < magnitude(pick.offset_us))
    pick = mine[n / 2 - 1];
  return skew_verdict{pick.offset_us, pick.error_us, n >= 2 && beyond(pick, limit_us)};
}

} // namespace actorkv
