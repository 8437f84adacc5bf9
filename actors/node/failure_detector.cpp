#include "actors/node/failure_detector.hpp"

#include <map>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/event_log.hpp"
#include "cluster-config/clock.hpp"
#include "cluster-config/phi_accrual.hpp"

namespace actorkv {

namespace {

using detector_impl = failure_detector_actor::extend<caf::reacts_to<caf::tick_atom>>;

/// While clocks are off, the warning is repeated this often at most.
constexpr auto clock_warning_interval = std::chrono::minutes(1);

struct watched_peer {
  node_actor handle;
  phi_accrual detector;
  offset_filter clock{}; ///< its wall clock's offset from this node's
  bool up = true;
  bool probing = false;
};

struct detector_state {
  static inline const char* name = "failure_detector";
  failure_detector_options options;
  std::map<std::string, watched_peer> peers;
  std::string clock_off; ///< whose clock the last warning named; empty: nobody's is off
  caf::actor_clock::time_point clock_warned_at;
};

using self_ptr = detector_impl::stateful_pointer<detector_state>;

void report(self_ptr self, const std::string& name, bool up) {
  self->send(self->state.options.listener, alive_atom::value, name, up);
}

int64_t to_ms(int64_t us) {
  return us / 1000;
}

/// What the probes say of the clocks of this node and of the up peers.
clock_report clock_status(const detector_state& st) {
  clock_report out;
  auto limit_ms = st.options.max_clock_skew.count();
  out.max_clock_skew_ms = static_cast<uint32_t>(limit_ms);
  std::vector<clock_offset> offsets;
  for (auto& [name, peer] : st.peers)
    if (auto est = peer.clock.estimate(); est && peer.up) {
      offsets.push_back(*est);
      out.peer_offsets_ms.emplace_back(name, to_ms(est->offset_us));
    }
  auto verdict = own_skew(offsets, limit_ms * 1000);
  out.skew_ms = to_ms(verdict.skew_us);
  out.skewed = verdict.skewed;
  return out;
}

std::string ahead_or_behind(int64_t ms) {
  return std::to_string(ms < 0 ? -ms : ms) + " ms " + (ms < 0 ? "behind" : "ahead of");
}

/// Logs what is off with the clocks: this node's, or else the peers' that are. Once when it
/// starts, again when other nodes are off or after clock_warning_interval, once when it is over.
void check_clocks(self_ptr self) {
  auto& st = self->state;
  auto limit_us = st.options.max_clock_skew.count() * 1000;
  auto status = clock_status(st);
  std::string off; // who is off: "this node", or the peers' names
  std::string warning;
  if (status.skewed) {
    off = "this node";
    warning = "this node's wall clock is " + ahead_or_behind(status.skew_ms) + " its peers'";
  } else {
    for (auto& [name, peer] : st.peers)
      if (auto est = peer.clock.estimate(); est && peer.up && beyond(*est, limit_us)) {
        off += " " + name;
        warning += std::string{warning.empty() ? "" : "; "} + "peer " + name + "'s wall clock is " +
                   ahead_or_behind(to_ms(est->offset_us)) + " this node's";
      }
  }
  auto now = self->clock().now();
  if (off.empty()) {
    if (!st.clock_off.empty())
      log_event(log_subsystem::clock, st.options.node,
                "clock skew over: the up peers' wall clocks are within " +
                    std::to_string(status.max_clock_skew_ms) + " ms of this node's");
    st.clock_off.clear();
    return;
  }
  if (off == st.clock_off && now - st.clock_warned_at < clock_warning_interval)
    return;
  st.clock_off = off;
  st.clock_warned_at = now;
  log_event(log_subsystem::clock, log_level::warning, st.options.node,
            "clock skew: " + warning + " (more than [timeouts] max_clock_skew_ms = " +
                std::to_string(status.max_clock_skew_ms) +
                "); last-writer-wins timestamps follow the clock furthest ahead (up to an hour), "
                "so check the time source of the node that is off");
}

void probe_all(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  for (auto& [name, peer] : st.peers) {
    if (peer.up && peer.detector.phi(now) > st.options.phi_threshold) {
      peer.up = false;
      report(self, name, false);
    }
    if (peer.probing || !peer.handle)
      continue;
    peer.probing = true;
    // A probe may take as long as the detector tolerates; its answer is a heartbeat.
    auto handle = peer.handle;
    auto sent_us = st.options.clock->wall();
    self->request(handle, st.options.interval * 8, caf::ping_atom::value)
        .then(
            [=](const clock_reading& reading) {
              auto& clock = *self->state.options.clock;
              clock.observe(reading.stamp_us);
              auto it = self->state.peers.find(name);
              if (it == self->state.peers.end() || it->second.handle != handle)
                return; // watched again through a newer connection meanwhile
              it->second.clock.add(clock_probe{sent_us, reading.wall_us, clock.wall()});
              it->second.probing = false;
              it->second.detector.heartbeat(self->clock().now());
              if (!it->second.up) {
                it->second.up = true;
                report(self, name, true);
              }
            },
            [=](caf::error&) {
              auto it = self->state.peers.find(name);
              if (it != self->state.peers.end() && it->second.handle == handle)
                it->second.probing = false;
            });
  }
}

detector_impl::behavior_type detector_behavior(self_ptr self, failure_detector_options options) {
  self->state.options = std::move(options);
  if (!self->state.options.clock)
    self->state.options.clock = std::make_shared<node_clock>();
  self->send(self, caf::tick_atom::value);
  return {
      [=](watch_atom, const std::string& name, const node_actor& handle) {
        // A new connection (first, or after a restart): fresh history, alive as of now, since the
        // handshake that produced the handle was just answered.
        auto& peer = self->state.peers[name];
        auto interval = self->state.options.interval;
        // Tolerate two missed probes before suspicion grows, and never judge by a deviation below
        // half a probe period: a busy 2-core machine delays answers by that much.
        peer = watched_peer{handle, phi_accrual{100, interval / 2, interval * 2, interval}};
        peer.detector.heartbeat(self->clock().now());
      },
      [=](status_atom) { return clock_status(self->state); },
      [=](caf::tick_atom) {
        probe_all(self);
        check_clocks(self);
        self->delayed_send(self, self->state.options.interval, caf::tick_atom::value);
      },
  };
}

} // namespace

failure_detector_actor spawn_failure_detector(caf::actor_system& sys,
                                              failure_detector_options options) {
  return sys.spawn(detector_behavior, std::move(options));
}

} // namespace actorkv
