// The coordinator: serves one client request against the key's replicas, then exits.
//
//   get:   read ──> R answers ──> reply(merged) ──> all answered or timed out ──> read repair ──>
//   exit
//            └─> too many failures for R ──> reply(unavailable) ──> exit
//   write: fewer than W replicas (home + fallbacks) up ──> reply(unavailable) ──> exit
//          coord(write) at the first replica (this node's if it is one; on failure the next)
//            ──> record ──> merge(record) at the other home replicas, hint(record) at the
//                fallbacks ──> W acks ──> reply(acks)
//            └─> W out of reach ──> reply(maybe_applied if any replica stored it, else unavailable)
//          ──> every replica answered or timed out ──> exit
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

/// A replica the coordinator may use: a node's vnode for the key's partition; for a peer, the
/// link that batches requests to it (actors/peer_link.hpp); for this node, its storage.
struct replica_target {
  std::string node;
  vnode_actor vnode;
  std::string hint_for; ///< empty: a home replica; else a fallback holding writes for that node
  peer_link_actor link; ///< valid: ask through it, for `partition`, instead of the vnode
  partition_id partition = 0;
  storage_actor storage; ///< valid: this node's replica, asked directly for `partition`
};

/// Everything a coordinator needs to know, computed by the node for the request's partition.
struct coordination_plan {
  /// Reachable home replicas in preference order, then (sloppy quorum only) one fallback for
  /// each unreachable home replica. Reads use the home replicas only.
  std::vector<replica_target> replicas;
  /// While a membership change moves partitions: the reachable nodes that become home replicas of
  /// the partition. They get every write too (not counted towards W), so that nothing written
  /// during the handoff is missing on them once the new ring is in force.
  std::vector<replica_target> joining;
  uint32_t replicas_total = 3; ///< N
  uint32_t read_quorum = 2;    ///< R
  uint32_t write_quorum = 2;   ///< W
  conflict_mode conflicts = conflict_mode::siblings;
  std::chrono::milliseconds timeout{5000}; ///< per replica request
};

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordination_plan plan);

} // namespace actorkv
