#include "actors/node/failure_detector.hpp"

#include <map>
#include <optional>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/peer_clocks.hpp"
#include "cluster-config/phi_accrual.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

using detector_impl = failure_detector_actor::extend<caf::reacts_to<caf::tick_atom>>;

struct watched_peer {
  node_actor handle;
  phi_accrual detector;
  bool up = true;
  bool probing = false;
};

struct detector_state {
  static inline const char* name = "failure_detector";
  failure_detector_options options;
  std::map<std::string, watched_peer> peers;
  std::optional<peer_clocks> clocks;
};

using self_ptr = detector_impl::stateful_pointer<detector_state>;

void report(self_ptr self, const std::string& name, bool up) {
  self->state.clocks->set_up(name, up);
  self->send(self->state.options.listener, alive_atom::value, name, up);
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
    auto sent_us = st.clocks->wall();
    self->request(handle, st.options.interval * 8, caf::ping_atom::value)
        .then(
            [=](const clock_reading& reading) {
              auto it = self->state.peers.find(name);
              if (it == self->state.peers.end() || it->second.handle != handle)
                return; // watched again through a newer connection meanwhile
              self->state.clocks->answered(name, sent_us, reading);
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
  auto& o = self->state.options;
  self->state.clocks.emplace(o.node, o.clock, o.max_clock_skew);
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
        self->state.clocks->reset(name);
      },
      [=](lost_atom, const std::string&) {}, // the probes of every peer tell
      [=](status_atom) { return self->state.clocks->status(); },
      // A peer in SWIM mode probing this one (the manifest's modes differ): answered as a ping,
      // without rumors, since this node is alive; it cannot help with indirect probes.
      [=](swim_atom, const swim_ping&) {
        return swim_ack{self->state.clocks->reading(), {}, true};
      },
      [=](swim_atom, const swim_relay&) -> caf::result<swim_ack> {
        return caf::make_error(ec::bad_request,
                               "indirect probe refused: this node's [failure_detector] mode is "
                               "\"all\" (phi accrual), not \"swim\"");
      },
      [=](caf::tick_atom) {
        probe_all(self);
        self->state.clocks->check(self->clock().now());
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
