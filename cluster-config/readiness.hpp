// When a node that has just started begins to serve clients: pure logic, no actors or clocks
// (the time since the start is a parameter), unit-tested directly.
//
// A node that has just started knows no peer yet: every request through it would fail with
// ec::unavailable (too few replicas reachable) although the cluster could serve it. So it gives
// clients no session (their client actors go to another node, or wait) until each peer is
// connected or known unreachable (a dial or handshake failed), or node_startup_wait has passed:
// a peer that dials this node (the lower name dials, actors/node/peers.cpp) cannot be known down
// until then. After that it serves what it can, and its answers say what is missing.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace actorkv {

/// The longest a starting node refuses clients: long enough for the peers that dial it (every
/// second) and for its own dials (a connect timeout of 5 s), short of a client's default timeout
/// (10 s), so that a client with no other node waits for it rather than fails.
constexpr std::chrono::milliseconds node_startup_wait{5000};

/// A peer as a starting node knows it.
struct peer_progress {
  std::string name;
  bool up = false;          ///< connected and handshaken
  bool unreachable = false; ///< a dial or handshake failed since this node started
};

struct startup_state {
  bool serving = false;
  /// Not serving: why, for the clients it refuses ("connected to 1 of 4 peers, waiting for n3,
  /// n4 (at most 3.2 s more)"). Serving: how it came to ("connected to 4 of 4 peers").
  std::string reason;
};

/// Whether a node `elapsed` after its start, with these peers (removed members excluded), serves
/// clients, and why (or why not).
startup_state startup_readiness(const std::vector<peer_progress>& peers,
                                std::chrono::milliseconds elapsed,
                                std::chrono::milliseconds wait = node_startup_wait);

} // namespace actorkv
