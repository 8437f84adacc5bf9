#include "actors/node/failure_detector.hpp"

#include <map>

#include <caf/all.hpp>

#include "cluster-config/phi_accrual.hpp"

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
};

using self_ptr = detector_impl::stateful_pointer<detector_state>;

void report(self_ptr self, const std::string& name, bool up) {
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
    self->request(handle, st.options.interval * 8, caf::ping_atom::value)
        .then(
            [=](caf::pong_atom) {
              auto it = self->state.peers.find(name);
              if (it == self->state.peers.end() || it->second.handle != handle)
                return; // watched again through a newer connection meanwhile
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
      [=](caf::tick_atom) {
        probe_all(self);
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
