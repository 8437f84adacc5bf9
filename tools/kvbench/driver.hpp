// The load generator's actors: workers that keep requests in flight through client actors.
//
// A worker owns one client actor (connected first to the endpoint its index picks, so that
// coordination spreads over the nodes) and a number of slots; each slot is one simulated YCSB
// client in a closed loop: it sends an operation and sends the next as soon as the answer came.
// The main thread steers a phase through `control` (atomics, since it is no actor) and never
// blocks an actor: workers only read the flags when an answer arrives.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tools/kvbench/results.hpp"
#include "tools/kvbench/workload.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv::bench {

/// What every worker needs to know; shared read-only for the whole run.
struct worker_config {
  workload_kind workload = workload_kind::a;
  distribution_kind distribution = distribution_kind::zipfian;
  uint64_t keys = 100000;
  size_t value_size = 100;
  std::chrono::milliseconds timeout{10000}; ///< the client actor's bound on each request
};

using clock_type = std::chrono::steady_clock;

/// The steering wheel of one phase, written by the main thread and by the workers.
struct control {
  std::atomic<bool> measuring{false};       ///< answers arriving now are counted and timed
  std::atomic<bool> stopping{false};        ///< slots stop sending once their answer arrived
  std::atomic<uint64_t> answered{0};        ///< every answer (warm-up too), for the progress line
  std::atomic<uint64_t> failed{0};          ///< every error answer, for the progress line
  std::atomic<uint64_t> counted{0};         ///< answers counted in the window (for the ops limit)
  uint64_t ops_limit = 0;                   ///< stop after this many counted answers; 0: no limit
  std::atomic<uint64_t> next_key{0};        ///< the next key index to insert or delete
  std::atomic<int64_t> limit_reached_ns{0}; ///< when the ops limit was reached (clock ticks)
  std::atomic<size_t> finished{0};          ///< workers whose slots all stopped

  /// Back to the start of a phase.
  void reset(uint64_t limit);
};

/// What a worker hands back at the end of a phase (written before it counts itself finished).
struct worker_output {
  phase_result result;
  clock_type::time_point finished_at;
};

/// The workers of the run: spawned once, started once per phase.
class worker_pool {
public:
  /// Spawns `actors` client actors and workers over the endpoints; `slots` requests in flight in
  /// total, dealt out as evenly as possible.
  worker_pool(caf::actor_system& sys, const std::vector<std::string>& endpoints, size_t actors,
              size_t slots, const worker_config& cfg, control& ctl, uint64_t seed);
  ~worker_pool();
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  /// Starts every worker on a phase. The caller resets `control` first and waits for
  /// `control::finished == size()`.
  void start(phase_kind phase);

  size_t size() const { return outputs_.size(); }
  const worker_output& output(size_t i) const { return outputs_[i]; }

  /// Asks the cluster for its status through the first client actor (connecting it); returns
  /// the settings text and member count, or the error rendered for people.
  bool probe(std::string& settings, size_t& members, std::string& error);

private:
  struct impl;
  std::vector<worker_output> outputs_;
  std::unique_ptr<impl> impl_;
};

} // namespace actorkv::bench
