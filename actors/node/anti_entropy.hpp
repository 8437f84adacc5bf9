// Anti-entropy: keeps the replicas of each partition in agreement without any reads.
//
// A round visits every partition this node is a home replica of, one after another (paced, so
// foreground requests keep the cores). For each it picks another home replica that is up
// (rotating between rounds) and compares Merkle trees: roots first; when they differ, the leaves;
// for the differing leaves both sides list their keys with digests (storage reads each leaf as a
// range of its primary key: nothing else of the partition); every key whose digest differs or is
// missing on one side is read on both sides (only here when the other side did not list it),
// merged, and the merged record sent to each side that lacked it, at most `repairs` keys at a
// time and in units of `unit` keys, each unit after the background pause as each partition is.
// Records found unreadable list with digest 0, so the exchange repairs them too. A tombstone past
// its grace period goes only to a side that holds another record for the key, never to one that
// holds none: the tombstone collector (collector.hpp) is about to erase it everywhere, and
// copying it back would undo that. Progress (the partition of the round under way, repairs
// running and done) and repairs per round are shown by status.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "actors/node/background_gate.hpp"
#include "actors/node/wall_clock.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

struct anti_entropy_options {
  std::string node;
  storage_actor storage;
  conflict_mode conflicts = conflict_mode::siblings;
  /// For each partition this node is a home replica of: the partition and its other home
  /// replicas' names.
  std::vector<std::pair<partition_id, std::vector<std::string>>> partitions;
  std::chrono::milliseconds interval{10000};
  std::chrono::milliseconds pace{10}; ///< between partitions, at least
  /// Lengthens the pause between partitions, and between units of repairs, while foreground
  /// requests are slow; null: `pace` between partitions, none between units.
  std::shared_ptr<background_gate> background{};
  std::chrono::milliseconds timeout{5000};
  /// Keys repaired at once: each is two reads and up to two merges in flight.
  uint32_t repairs = 16;
  /// Keys repaired between two of the background pauses (a unit of background work, as a handoff
  /// batch is): a partition's differences may be all of it (a wiped replica), and a pause only
  /// between partitions let one partition's repairs run at full speed whatever the foreground.
  uint32_t unit = 64;
  /// [storage] tombstone_grace_s: a tombstone older than this is not copied to a replica that
  /// lacks the key (it holds nothing the tombstone must cover; the holder collects it instead).
  std::chrono::seconds tombstone_grace{86400};
  /// The node's clock, for a tombstone's age.
  std::shared_ptr<node_clock> clock = std::make_shared<node_clock>();
};

anti_entropy_actor spawn_anti_entropy(caf::actor_system& sys, anti_entropy_options options);

} // namespace actorkv
