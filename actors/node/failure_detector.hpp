// The phi accrual failure detector ([failure_detector] mode = "all"; swim_detector.hpp is the
// default one, mode = "swim"): one per node. Probes every watched peer with a ping each interval
// and turns the answers into a phi accrual suspicion level (cluster-config/phi_accrual.hpp). Only
// answered probes count as signs of life, so a peer whose process is frozen (SIGSTOP) with its
// connection still open is detected as well as one that is gone.
//
//   watch ──> up ──phi > threshold──> down ──probe answered──> up
//              ^                                                 |
//              └─────────────────────────────────────────────────┘
//
// Every change is reported to the listener (the node) as (alive, name, up).
//
// Clocks ride on the probes: each answer carries the peer's wall clock and hybrid clock. The
// first gives the peer's offset from this node's wall clock (cluster-config/clock.hpp
// offset_filter), from which the detector decides whether this node's clock, or a peer's, is off
// by more than max_clock_skew (logged at most once a minute while it lasts, shown by status); the
// second advances this node's hybrid clock, so every node's last-writer-wins timestamps follow
// the clock furthest ahead within a probe interval.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "actors/node/wall_clock.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

struct failure_detector_options {
  std::string node; ///< this node's name, for log lines
  std::chrono::milliseconds interval{500};
  double phi_threshold = 8.0;
  liveness_listener_actor listener;
  std::shared_ptr<node_clock> clock = std::make_shared<node_clock>(); ///< the node's
  std::chrono::milliseconds max_clock_skew{1000}; ///< [timeouts] max_clock_skew_ms
};

failure_detector_actor spawn_failure_detector(caf::actor_system& sys,
                                              failure_detector_options options);

} // namespace actorkv
