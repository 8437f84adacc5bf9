// A unit of anti-entropy's repairs loads two nodes: the worker's own and the other side, whose
// records it reads or which takes in the records it lacks. Each node's pace
// (actors/node/background_gate.hpp) judges the foreground of its own node only, and a peer's
// background reads and writes are not foreground there. So a worker paced by its own gate alone
// ran at its own node's speed however slow the peer's clients were: in a refill of 10M keys the
// wiped replica, whose own replica latency was high because it was being refilled (so its
// relative target was wide), pulled from its peers at 20-30 units a second while the node its
// clients used sat at its floor of one. Before each unit the worker therefore asks the other
// side's vnodes for the pause its pace asks (pace_atom) and waits the longer of the two. A peer
// that does not answer in time (gone, cut off, a build without pace_atom) counts as asking none.
// The handoff does not ask its target: a joining node is slow because it takes the handoff in,
// and a 10M join whose batches waited for its pause went at a fifth of its speed
// (BENCHMARKS.md), an operator's wait that spared clients little.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>

#include <caf/all.hpp>

#include "actors/node/background_gate.hpp"
#include "messages/interfaces.hpp"

namespace actorkv {

/// Calls `then(pause)` with the pause before the next unit of background work that loads `peer`:
/// the longest of `floor`, `gate`'s pause and the pause `peer` asks for. Without a gate (workers
/// run unpaced) it calls `then(floor)` at once and asks nobody.
template <class Self, class Timeout, class Then>
void pause_for_both(Self* self, const std::shared_ptr<background_gate>& gate,
                    const vnode_actor& peer, std::chrono::milliseconds floor, Timeout timeout,
                    Then then) {
  if (!gate) {
    then(floor);
    return;
  }
  self->request(peer, timeout, pace_atom::value)
      .then(
          [=](uint32_t theirs) {
            then(std::max(gate->pause(self->clock().now(), floor),
                          std::chrono::milliseconds{theirs}));
          },
          [=](caf::error&) { then(gate->pause(self->clock().now(), floor)); });
}

} // namespace actorkv
