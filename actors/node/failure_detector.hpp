// The failure detector: one per node. Probes every watched peer with a ping each interval and
// turns the answers into a phi accrual suspicion level (cluster-config/phi_accrual.hpp). Only
// answered probes count as signs of life, so a peer whose process is frozen (SIGSTOP) with its
// connection still open is detected as well as one that is gone.
//
//   watch ──> up ──phi > threshold──> down ──probe answered──> up
//              ^                                                 |
//              └─────────────────────────────────────────────────┘
//
// Every change is reported to the listener (the node) as (alive, name, up).
#pragma once

#include <chrono>
#include <string>

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
};

failure_detector_actor spawn_failure_detector(caf::actor_system& sys,
                                              failure_detector_options options);

} // namespace actorkv
