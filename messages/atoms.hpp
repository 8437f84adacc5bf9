// Every atom actorkv defines, grouped by protocol (CAF 0.17: at most 10 characters each).
// CAF's own get_atom, put_atom, delete_atom, ok_atom, flush_atom, tick_atom are reused as is.
#pragma once

#include <caf/atom.hpp>

namespace actorkv {

// Client protocol (client -> node; client <-> coordinator through batch_atom).
using session_atom = caf::atom_constant<caf::atom("session")>; ///< where a client's calls go
using status_atom = caf::atom_constant<caf::atom("status")>;
using cluster_atom = caf::atom_constant<caf::atom("cluster")>; ///< status of every member

// Peer protocol (node <-> node).
using peer_atom = caf::atom_constant<caf::atom("peer")>;

// Replication protocol (coordinator -> storage, or -> a peer's gateway -> its storage; background
// work -> vnode -> storage).
using merge_atom = caf::atom_constant<caf::atom("merge")>;   ///< merge a replicated record
using read_atom = caf::atom_constant<caf::atom("read")>;     ///< read a replica's record
using batch_atom = caf::atom_constant<caf::atom("batch")>;   ///< replica calls or answers, batched
using routes_atom = caf::atom_constant<caf::atom("routes")>; ///< where partitions' replicas are

// Hinted handoff (hint keeper -> storage; coordinators hold hints through replica calls).
using hints_atom = caf::atom_constant<caf::atom("hints")>;       ///< list held hints
using unhint_atom = caf::atom_constant<caf::atom("unhint")>;     ///< drop a delivered hint
using backlog_atom = caf::atom_constant<caf::atom("backlog")>;   ///< hints held per target
using forget_atom = caf::atom_constant<caf::atom("forget")>;     ///< drop undeliverable hints
using departed_atom = caf::atom_constant<caf::atom("departed")>; ///< members gone for good

// Anti-entropy (anti-entropy actor -> vnodes).
using tree_atom = caf::atom_constant<caf::atom("tree")>;         ///< one level of a Merkle tree
using leafkeys_atom = caf::atom_constant<caf::atom("leafkeys")>; ///< keys and digests of leaves

// Background work (anti-entropy, handoff -> the peer's vnodes).
using pace_atom = caf::atom_constant<caf::atom("pace")>; ///< the pause a peer's pace asks for now

// Membership (membership actor <-> peers' membership actors, through their nodes).
using gossip_atom = caf::atom_constant<caf::atom("gossip")>; ///< push-pull exchange of views
using view_atom = caf::atom_constant<caf::atom("view")>;     ///< the current view

// Elastic membership (admin -> node -> membership; handoff worker -> storage, node).
using admin_atom = caf::atom_constant<caf::atom("admin")>;       ///< join / leave / remove
using transfer_atom = caf::atom_constant<caf::atom("transfer")>; ///< a partition transfer done
using release_atom = caf::atom_constant<caf::atom("release")>;   ///< a partition released here
using handoff_atom = caf::atom_constant<caf::atom("handoff")>;   ///< the handoff work to do
using scan_atom = caf::atom_constant<caf::atom("scan")>;         ///< a batch of a partition
using count_atom = caf::atom_constant<caf::atom("count")>;       ///< records in a partition
using drop_atom = caf::atom_constant<caf::atom("drop")>;         ///< delete a partition here
using meta_atom = caf::atom_constant<caf::atom("meta")>;         ///< store instance metadata
using check_atom = caf::atom_constant<caf::atom("check")>;       ///< a full integrity check
using backup_atom = caf::atom_constant<caf::atom("backup")>;     ///< an online backup
using replicas_atom = caf::atom_constant<caf::atom("replicas")>; ///< partitions replicated here
using reap_atom = caf::atom_constant<caf::atom("reap")>;         ///< collect a tombstone
using prune_atom = caf::atom_constant<caf::atom("prune")>;       ///< retired ids' entries, pruned

// Failure detection and liveness (failure detector <-> node).
using watch_atom = caf::atom_constant<caf::atom("watch")>; ///< start watching a peer
using alive_atom = caf::atom_constant<caf::atom("alive")>; ///< a peer's up/down changed
using swim_atom = caf::atom_constant<caf::atom("swim")>;   ///< SWIM probes between detectors
using lost_atom = caf::atom_constant<caf::atom("lost")>;   ///< a peer's connection dropped

// Connections on demand (actors/node/peers.cpp, "Idle connections").
using idle_atom = caf::atom_constant<caf::atom("idle")>; ///< close our idle connection?
using wake_atom = caf::atom_constant<caf::atom("wake")>; ///< connect to this peer again

// Fault injection (admin -> node, refused unless the manifest enables it; node -> the actors that
// serve its peers), and a request held back by an injected delay coming due.
using fault_atom = caf::atom_constant<caf::atom("fault")>;
using held_atom = caf::atom_constant<caf::atom("held")>;

// Private timers and housekeeping.
using stop_atom = caf::atom_constant<caf::atom("stop")>; ///< an orderly stop, after queued work
using connect_to_atom = caf::atom_constant<caf::atom("connect_to")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>; ///< a starting node's wait is over

} // namespace actorkv
