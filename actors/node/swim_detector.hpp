// The SWIM failure detector ([failure_detector] mode = "swim", the default): one per node, in
// place of the phi accrual one (failure_detector.hpp, mode = "all") and with the same contract
// towards the node: `watch` names the peers, every change of a peer's verdict goes to the listener
// as (alive, name, up), and `status` tells the clocks.
//
// Each period it probes ONE watched peer (cluster-config/swim.hpp picks it, round-robin over a
// shuffled list): a swim_ping answered within ping_timeout is a sign of life; otherwise it asks
// up to k other peers to probe it (swim_relay) and waits for any of them to report it reached.
// A peer that none of them reached by the end of the period becomes a suspect; a suspect that
// does not refute within the suspicion timeout is down. Rumors of suspicion, verdicts and
// refutations ride on the pings and their acks (each rumor a bounded number of times), so a
// node's work per period stays constant whatever the cluster's size.
//
//   watch ──> alive ──no ack, no relay reached──> suspect ──timeout──> dead (reported down)
//               ^  ^                                 |                   |
//               |  └──refutation (higher incarnation)┘                   |
//               └──refutation, or reconnect (watch: suspect again)───────┘
//
// Peers are addressed as swim_peer_actor: in a node the peer's node actor, which hands SWIM
// messages to its detector through its fault gate; in the simulation the detectors themselves.
// Clocks ride on the direct acks as on phi accrual's pings (peer_clocks.hpp), so each peer's
// offset is measured once per round (n periods) rather than once per period.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "actors/node/failure_detector.hpp"
#include "cluster-config/swim.hpp"

namespace actorkv {

struct swim_detector_options {
  swim_options swim; ///< period, k, suspicion timeout, rumors per message
  uint64_t seed = 0; ///< for the probe order and the helpers (0: fresh_seed())
  /// How long a direct probe may take, and how long a helper waits for its own probe of the
  /// target; the prober waits twice that for the helpers. Both within one period.
  std::chrono::milliseconds ping_timeout{0}; ///< 0: 30% of the period
  /// How many peers to make room for at once (swim::reserve): the size of the node's view. 0:
  /// none; the per-peer state grows as peers are watched.
  size_t expected_peers = 0;
  /// When a large message from peer `name` last advanced on this node's connections (in a node,
  /// cluster-config/frame_progress.hpp; nullopt: never). A suspicion counts from the last such
  /// sign (swim::heard_from): the peer's acks are queued behind the message, not missing. Unset:
  /// no such evidence, a suspicion counts from when it began.
  std::function<std::optional<std::chrono::steady_clock::time_point>(const std::string&)> progress;
  /// Asked to connect again to a watched peer whose handle was taken back (watch with a null
  /// handle: its idle connection was closed) when a probe is due; unset: such a peer is not
  /// probed.
  peer_waker_actor waker{};
};

/// `options.interval` is ignored: the period is `swim.swim.period`.
swim_detector_actor spawn_swim_detector(caf::actor_system& sys, failure_detector_options options,
                                        swim_detector_options swim);

} // namespace actorkv
