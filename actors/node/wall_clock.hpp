// The node's one wall-clock read, and the clock that stamps last-writer-wins writes.
//
// Actors take time from their actor clock (self->clock()), which CAF's test coordinator replaces
// with virtual time. What must order across processes cannot: last-writer-wins timestamps and
// membership versions. The actors that stamp those get the wall clock as a function in their
// options (membership), or a node_clock built over one (coordinator, storage, failure detector),
// so tests can hand them their own; system_wall_clock_us is the one kvnode passes (shifted by its
// test hook ACTORKV_TEST_CLOCK_OFFSET_MS, if set), and log lines stamp themselves with it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <utility>

#include "cluster-config/clock.hpp"
#include "messages/record.hpp"

namespace actorkv {

/// Microseconds since the Unix epoch.
using wall_clock = std::function<int64_t()>;

inline int64_t system_wall_clock_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

/// The node's clock for last-writer-wins timestamps: its wall clock and the hybrid logical clock
/// (cluster-config/clock.hpp) that every timestamp the node sees advances. One per node, shared
/// through the options of the actors that see timestamps: the coordinator stamps writes with it
/// and observes the records replicas answer with, the storage actor observes every record and
/// write it stores, the failure detector observes the clocks peers show in probe answers. So a
/// write through a node is stamped above every version that node has seen. Thread-safe (storage
/// runs on its own thread): each call is one wall-clock read and an atomic compare-and-swap.
class node_clock {
public:
  explicit node_clock(wall_clock wall = system_wall_clock_us,
                      int64_t max_lead_us = hybrid_clock::default_max_lead_us)
      : wall_(std::move(wall)), hlc_(max_lead_us) {}

  /// The wall clock alone: what peers compare clocks by.
  int64_t wall() const { return wall_(); }
  /// A timestamp for a new write, above every one seen or stamped before.
  int64_t stamp() { return hlc_.now(wall_()); }
  /// The hybrid clock without advancing it: what this node shows its peers.
  int64_t peek() const { return hlc_.peek(wall_()); }
  /// Follows a timestamp seen elsewhere (within hybrid_clock's bound).
  void observe(int64_t ts) { hlc_.observe(ts, wall_()); }
  /// Follows the newest sibling of a record.
  void observe(const record& r) {
    if (r.siblings.empty())
      return;
    auto newest = r.siblings.front().timestamp_us;
    for (auto& s : r.siblings)
      newest = std::max(newest, s.timestamp_us);
    observe(newest);
  }

private:
  wall_clock wall_;
  hybrid_clock hlc_;
};

/// A seed for an actor's random choices, fresh in every process: the default of the actors'
/// `seed` options (tests pass fixed ones to replay a run).
inline uint64_t fresh_seed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

} // namespace actorkv
