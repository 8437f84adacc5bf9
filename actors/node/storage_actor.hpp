// The storage actor: sole owner of the node's storage engine.
//
// Spawned detached (its own thread) because every engine call may block on disk. Writes are
// group-committed: the first write of a batch opens a transaction and queues a flush message to
// itself; every request that arrives before the flush joins the batch; the flush (or reaching
// max_batch) commits once and only then answers every request of the batch. Reads arriving while
// a batch is open are answered after that commit too, so no reader ever sees a write that could
// still be lost. Coordinators and peers' gateways send their replica calls as batches (one
// message, one answer for many calls); the single requests serve vnodes and background work.
//
// It also keeps a Merkle tree per partition in memory, built by one scan at start and updated by
// every write (the old record's digest out, the new one in), for anti-entropy.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "actors/node/wall_clock.hpp"
#include "messages/interfaces.hpp"
#include "storage/engine.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

class metrics_registry; // cluster-config/metrics.hpp

struct storage_options {
  std::string node;    ///< the node's name, for its log lines
  replica_id self = 0; ///< this node incarnation's id, stamped on the writes it coordinates
  conflict_mode conflicts = conflict_mode::siblings;
  uint32_t partitions = 256;   ///< Q: one Merkle tree each
  size_t max_batch = 512;      ///< commit at the latest after this many writes
  uint64_t max_hints = 100000; ///< hints held at most; beyond, fallback writes are refused
  /// Own thread (the default: engine calls block). Only a deterministic simulation, whose
  /// scheduler must run every actor itself, over an in-memory engine, sets this to false.
  bool detached = true;
  /// Draws the one-off replica ids of writes a fallback holds or a damaged record forces: fresh
  /// in every process (a repeated id could repeat a dot), fixed only to replay a test.
  uint64_t seed = fresh_seed();
  /// The node's hybrid clock (shared with its coordinator): follows the timestamp of every record
  /// and write this replica stores, and of everything on disk at start.
  std::shared_ptr<node_clock> clock = std::make_shared<node_clock>();
  /// Batch sizes and commit latency go here (node_metrics.hpp); null: nothing is counted.
  std::shared_ptr<metrics_registry> metrics{};
};

/// Spawns the storage actor owning `engine` (detached unless options.detached is false).
storage_actor spawn_storage(caf::actor_system& sys, std::shared_ptr<storage::engine> engine,
                            storage_options options);

} // namespace actorkv
