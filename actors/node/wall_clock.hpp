// The node's one wall-clock read.
//
// Actors take time from their actor clock (self->clock()), which CAF's test coordinator replaces
// with virtual time. What must order across processes cannot: last-writer-wins timestamps and
// membership versions. The actors that stamp those get the wall clock as a function in their
// options, so tests can hand them their own; system_wall_clock_us is the one kvnode passes, and
// log lines stamp themselves with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>

namespace actorkv {

/// Microseconds since the Unix epoch.
using wall_clock = std::function<int64_t()>;

inline int64_t system_wall_clock_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

/// A seed for an actor's random choices, fresh in every process: the default of the actors'
/// `seed` options (tests pass fixed ones to replay a run).
inline uint64_t fresh_seed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

} // namespace actorkv
