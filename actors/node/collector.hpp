// The tombstone collector: erases deletes once they can no longer matter, and prunes the
// version-vector entries of retired replica ids.
//
// A tombstone must stay while any home replica might still hold the value it deleted: were it
// erased, anti-entropy (or read repair) would find the value on that replica and the key missing
// here, and copy the value back. So a sweep, every max(1 s, grace / 4), reads each partition this
// node is a home replica of (only its records dead for longer than the grace: storage finds them
// in an index of the records that die, so a sweep never reads a live record; from a cursor,
// `batch` records at a time, paced) and for each such tombstone asks every other home
// replica for its copy of the key. Only when every one is up and answers with the identical
// record or with none (and none unreadable) does it ask storage to erase its own copy, and
// storage erases it only if it is still that record. Each replica collects its own copy that
// way; a replica that was down during the delete holds up the collection until anti-entropy,
// hints or read repair gave it the tombstone. While a ring change is under way, the node sends
// an empty list: nothing is collected until the home replicas are settled again. A value written
// with a TTL counts as a tombstone once it expired, aged from its expiry (dvv::tombstone_due).
//
// Version-vector entries of retired replica ids (the view's prunable_ids, told by the node) are
// pruned on the same evidence: while some record may hold one, each sweep makes a second pass
// over the same partitions, reading every record (from a cursor, in the same batches and pace),
// and for each record whose prunable entries are due (dvv::prune_due: its newest write older than
// the grace) asks every other home replica for its copy; only when every one is up and holds the
// same record up to those entries (dvv::same_up_to_retired) does it ask storage to prune its own
// copy, which storage does only if it is still that record. The passes stop once a whole pass
// finds no record with a prunable entry; a new retired id (or a new list of partitions) starts
// them again, and while ids are retired so does the first sweep a grace period later: a write
// may since have superseded a retired id's sibling, or a copy naming a retired id may have
// arrived (a wiped replica refilled by anti-entropy after its pass).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/node/wall_clock.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

struct collector_options {
  std::string node;
  storage_actor storage;
  /// For each partition this node is a home replica of: its other home replicas' names.
  std::vector<std::pair<partition_id, std::vector<std::string>>> partitions;
  std::chrono::seconds grace{86400};  ///< [storage] tombstone_grace_s
  std::chrono::milliseconds pace{10}; ///< between two batches of a sweep
  std::chrono::milliseconds timeout{5000};
  uint32_t batch = 64; ///< records read per storage request
  /// Time for a tombstone's age (the node's clock, shared: the wall clock its writes follow).
  std::shared_ptr<node_clock> clock = std::make_shared<node_clock>();
};

/// The time between two sweeps for a grace period: a quarter of it, at least a second.
std::chrono::milliseconds sweep_interval(std::chrono::seconds grace);

collector_actor spawn_collector(caf::actor_system& sys, collector_options options);

} // namespace actorkv
