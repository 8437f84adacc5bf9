#include "actors/node/peer_clocks.hpp"

#include <vector>

#include "actors/node/event_log.hpp"
#include "cluster-config/clock.hpp"

namespace actorkv {

namespace {

/// While clocks are off, the warning is repeated this often at most.
constexpr auto clock_warning_interval = std::chrono::minutes(1);

int64_t to_ms(int64_t us) {
  return us / 1000;
}

std::string ahead_or_behind(int64_t ms) {
  return std::to_string(ms < 0 ? -ms : ms) + " ms " + (ms < 0 ? "behind" : "ahead of");
}

} // namespace

peer_clocks::peer_clocks(std::string node, std::shared_ptr<node_clock> clock,
                         std::chrono::milliseconds max_clock_skew)
    : node_(std::move(node)), clock_(clock ? std::move(clock) : std::make_shared<node_clock>()),
      max_clock_skew_(max_clock_skew) {}

clock_reading peer_clocks::reading() const {
  return clock_reading{clock_->wall(), clock_->peek()};
}

void peer_clocks::answered(const std::string& name, int64_t sent_us, const clock_reading& reading) {
  clock_->observe(reading.stamp_us);
  peers_[name].filter.add(clock_probe{sent_us, reading.wall_us, clock_->wall()});
}

void peer_clocks::reset(const std::string& name) {
  peers_.erase(name); // nothing kept until its next answer
}

void peer_clocks::set_up(const std::string& name, bool up) {
  if (auto it = peers_.find(name); it != peers_.end())
    it->second.up = up;
}

clock_report peer_clocks::status() const {
  clock_report out;
  auto limit_ms = max_clock_skew_.count();
  out.max_clock_skew_ms = static_cast<uint32_t>(limit_ms);
  std::vector<clock_offset> offsets;
  for (auto& [name, p] : peers_)
    if (auto est = p.filter.estimate(); est && p.up) {
      offsets.push_back(*est);
      out.peer_offsets_ms.emplace_back(name, to_ms(est->offset_us));
    }
  auto verdict = own_skew(offsets, limit_ms * 1000);
  out.skew_ms = to_ms(verdict.skew_us);
  out.skewed = verdict.skewed;
  return out;
}

void peer_clocks::check(time_point now) {
  auto limit_us = max_clock_skew_.count() * 1000;
  auto report = status();
  std::string off; // who is off: "this node", or the peers' names
  std::string warning;
  if (report.skewed) {
    off = "this node";
    warning = "this node's wall clock is " + ahead_or_behind(report.skew_ms) + " its peers'";
  } else {
    for (auto& [name, p] : peers_)
      if (auto est = p.filter.estimate(); est && p.up && beyond(*est, limit_us)) {
        off += " " + name;
        warning += std::string{warning.empty() ? "" : "; "} + "peer " + name + "'s wall clock is " +
                   ahead_or_behind(to_ms(est->offset_us)) + " this node's";
      }
  }
  if (off.empty()) {
    if (!off_.empty())
      log_event(log_subsystem::clock, node_,
                "clock skew over: the up peers' wall clocks are within " +
                    std::to_string(report.max_clock_skew_ms) + " ms of this node's");
    off_.clear();
    return;
  }
  if (off == off_ && now - warned_at_ < clock_warning_interval)
    return;
  off_ = off;
  warned_at_ = now;
  log_event(log_subsystem::clock, log_level::warning, node_,
            "clock skew: " + warning + " (more than [timeouts] max_clock_skew_ms = " +
                std::to_string(report.max_clock_skew_ms) +
                "); last-writer-wins timestamps follow the clock furthest ahead (up to an hour), "
                "so check the time source of the node that is off");
}

} // namespace actorkv
