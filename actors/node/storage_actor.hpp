// The storage actor: sole owner of the node's storage engine.
//
// Spawned detached (its own thread) because every engine call may block on disk. Writes are
// group-committed: the first write of a batch opens a transaction and queues a flush message to
// itself; every request that arrives before the flush joins the batch; the flush (or reaching
// max_batch) commits once and only then answers every request of the batch. Coordinators and
// peers' gateways send their replica calls as batches (one message, one answer for many calls);
// the single requests serve vnodes and background work.
//
// Foreground reads (coordinators' and gateways' batches) are served here too: reads arriving while
// a batch is open are answered after its commit, so no reader sees a write that could still be
// lost.
//
// Background reads run on a reader: a second, read-only connection (engine::open_reader; in WAL
// mode it never waits for the writer) owned by an actor on a thread of its own. It serves single
// reads, hint listings, leaf keys and handoff/collector scans, each on a snapshot of what was
// committed when it ran: every write acknowledged before the read was sent is in it (writes are
// acknowledged only after their commit), none that could still be lost is. Background work
// (handoff, anti-entropy, hint delivery, the collector) holds the reader as its storage actor: it
// forwards everything else (merges, batches, the Merkle trees kept in memory here, counts, drops,
// hint deletes) to the storage actor, which in turn delegates the single reads it gets (from
// vnodes: peers' background work) to it. Threads: the storage actor's, the reader's, the engine's
// checkpointer and, while they run, an integrity check's and a backup's. Without a reader (the
// memory engine, a simulation with detached false) the storage actor serves every read itself.
//
// The engine keeps each partition's Merkle leaves and size with its records (storage/engine.hpp),
// so start-up reads no record: the node's clock follows the newest timestamp the engine recorded.
// A full integrity check runs in the background, on a thread and connection of its own, when the
// store was not closed cleanly, when a call met damage of the file, or on request (kvsh check);
// the node serves meanwhile. Records it finds unreadable get digest 0, so anti-entropy repairs
// them; a damaged file is reported to on_damage.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
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
  /// Called (on the storage thread) when an integrity check found the store damaged beyond
  /// per-record repair, with the description; kvnode restarts itself to set the file aside.
  std::function<void(const std::string&)> on_damage{};
  /// How long an integrity check waits before it starts reading: 0, except in tests that need
  /// one running for a while (kvnode's ACTORKV_TEST_CHECK_DELAY_MS).
  std::chrono::milliseconds check_delay{0};
};

/// Spawns the storage actor owning `engine` (detached unless options.detached is false), and its
/// reader when the engine has one.
storage_actor spawn_storage(caf::actor_system& sys, std::shared_ptr<storage::engine> engine,
                            storage_options options);
/// The same, and sets `reads` to the handle background work uses: the reader, or the storage
/// actor itself when there is none.
storage_actor spawn_storage(caf::actor_system& sys, std::shared_ptr<storage::engine> engine,
                            storage_options options, storage_actor& reads);

} // namespace actorkv
