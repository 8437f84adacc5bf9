// Every typed actor interface of actorkv, in one place. Implementations include this header and
// never restate a signature. Handlers that cross the network are always requested with a timeout.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/client.hpp"
#include "messages/faults.hpp"
#include "messages/liveness.hpp"
#include "messages/membership.hpp"
#include "messages/record.hpp"
#include "messages/replication.hpp"

namespace actorkv {

/// What serves replica calls in batches as requests: a node's storage, asked by its own
/// coordinator and gateway. The answers come in the order of the calls, each with the call's id.
/// Batches keep the cost of a message (a mailbox hop, or a network frame) per many requests.
using replica_batch_actor = caf::typed_actor<
    caf::replies_to<batch_atom, std::vector<replica_call>>::with<std::vector<replica_answer>>>;

/// Storage: the one owner of a node's database (spawned detached: every handler may block on
/// disk). Writes are group-committed: a reply is sent only after the write's batch committed.
/// The engine keeps each partition's Merkle leaves with the records (storage/engine.hpp).
using storage_actor = replica_batch_actor::extend<
    /// Reads the key's record as stored.
    caf::replies_to<read_atom, partition_id, bytes>::with<replica_read>,
    /// Merges a record from another replica into the stored one; returns the merged record,
    /// durable.
    caf::replies_to<merge_atom, partition_id, bytes, record>::with<record>,
    /// Up to `limit` hints held for the named node, oldest first.
    caf::replies_to<hints_atom, std::string, uint32_t>::with<std::vector<stored_hint>>,
    /// Deletes a delivered hint (target name, hint id).
    caf::replies_to<unhint_atom, std::string, uint64_t>::with<caf::ok_atom>,
    /// Hints held per target node.
    caf::replies_to<backlog_atom>::with<std::vector<hint_backlog>>,
    /// Deletes up to `limit` hints held for the named node (one that left the cluster: they can
    /// never be delivered), oldest first; answers how many it deleted.
    caf::replies_to<forget_atom, std::string, uint32_t>::with<uint64_t>,
    /// One level of a partition's Merkle tree (0 = root).
    caf::replies_to<tree_atom, partition_id, uint32_t>::with<std::vector<uint64_t>>,
    /// Every key of a partition under the given leaves, with its digest (a range read of those
    /// leaves only).
    caf::replies_to<leafkeys_atom, partition_id,
                    std::vector<uint64_t>>::with<std::vector<key_digest>>,
    /// Up to `limit` records of a partition whose keys follow `after` (empty: from the first) in
    /// the engine's scan order, for a handoff: a range read from the cursor, so streaming a
    /// partition batch by batch reads it once. Corrupt records are left out (anti-entropy repairs
    /// them).
    caf::replies_to<scan_atom, partition_id, bytes, uint32_t>::with<std::vector<keyed_record>>,
    /// How many records a partition holds here (for handoff progress; reads no record).
    caf::replies_to<count_atom, partition_id>::with<uint64_t>,
    /// Starts a full integrity check in the background (the node serves meanwhile); answers
    /// what it did ("started", or that one is running).
    caf::replies_to<check_atom>::with<std::string>,
    /// The integrity check's state for status: running (records read so far), or how the last
    /// one ended, or that none ran since start.
    caf::replies_to<status_atom>::with<std::string>,
    /// The tombstone collector's read: like scan_atom, up to `limit` records of a partition
    /// after `after`, but only those dead for good since before the given time (Unix
    /// microseconds; dvv::dead_from): read from an index of the records that die, never the
    /// live ones (storage::engine::for_each_dead).
    caf::replies_to<reap_atom, partition_id, bytes, uint32_t,
                    int64_t>::with<std::vector<keyed_record>>,
    /// Collects a tombstone: erases the key's record if it is still exactly the given one (no
    /// write came since the collector read it); answers whether it did.
    caf::replies_to<reap_atom, partition_id, bytes, record>::with<bool>,
    /// The replica ids whose version-vector entries may be pruned (the view's prunable_ids;
    /// replaces the previous set): a merge whose result differs from the stored record only by
    /// entries of these ids that the stored one lacks (dvv::same_up_to_retired) keeps the stored
    /// record, so that no copy gives a pruned one its entries back (docs/design.md section 6).
    caf::reacts_to<prune_atom, std::vector<replica_id>>,
    /// Prunes a record: replaces the key's record by dvv::prune of it under the given retired
    /// ids if it is still exactly the given one (no write came since the collector read it);
    /// answers how many entries it removed (0: none, or the record changed).
    caf::replies_to<prune_atom, partition_id, bytes, record,
                    std::vector<replica_id>>::with<uint64_t>,
    /// Starts an online backup of the store to a file on this node's machine (an absolute path
    /// that must not exist), in the background (the node serves and writes meanwhile); answers
    /// that it started, or ec::bad_request (one is running, the path is unusable).
    caf::replies_to<backup_atom, std::string>::with<std::string>,
    /// The backup's state: running (pages copied of the total), or how the last one ended.
    caf::replies_to<backup_atom>::with<std::string>,
    /// Deletes up to `limit` records of a partition this node no longer replicates (the first in
    /// scan order, one batch); answers how many: fewer than `limit` when none is left. Bounded so
    /// that a large partition never holds the writer for long (the handoff paces the steps).
    caf::replies_to<drop_atom, partition_id, uint32_t>::with<uint64_t>,
    /// Stores an instance metadata entry (e.g. the membership view), durable when answered.
    caf::replies_to<meta_atom, std::string, std::string>::with<caf::ok_atom>,
    /// An orderly stop: handles everything queued before it, commits the open batch, then
    /// exits. (An exit message would jump the queue: writes queued but not yet begun, such as
    /// the membership view a departing node stores, would be dropped.)
    caf::reacts_to<stop_atom>>;

/// What a node tells each actor that serves its peers (its replica gateway and vnodes; never a
/// peer): the injected faults now in force (actors/node/fault_gate.hpp).
using fault_listener_actor = caf::typed_actor<caf::reacts_to<fault_atom, fault_rules>>;

/// Vnodes: a node's replicas of its partitions as other nodes' background work (handoff,
/// anti-entropy, hint delivery, tombstone collection) reaches them. One actor per node serves every
/// partition, named in each message, so a peer holds one handle per node, not one per partition.
/// Coordinators use the batched path instead (storage, replica gateways).
using vnode_actor = caf::typed_actor<
    /// This replica's record of a key.
    caf::replies_to<read_atom, partition_id, bytes>::with<replica_read>,
    /// Merges a record sent by another node (handoff, anti-entropy, hint delivery).
    caf::replies_to<merge_atom, partition_id, bytes, record>::with<record>,
    /// Merkle tree level of the partition.
    caf::replies_to<tree_atom, partition_id, uint32_t>::with<std::vector<uint64_t>>,
    /// Keys and digests under the given leaves of the partition.
    caf::replies_to<leafkeys_atom, partition_id,
                    std::vector<uint64_t>>::with<std::vector<key_digest>>,
    /// The pause, in milliseconds, this node's background pace asks between two units of
    /// background work now (0: none): a peer's worker whose units load this node waits at least
    /// that long (actors/node/anti_entropy.cpp).
    caf::replies_to<pace_atom>::with<uint32_t>>;

/// Replica gateway: where a node's peers' coordinators send their batches of replica calls
/// (actors/node/replica_gateway.hpp). Each batch is served by this node's storage; the answers go
/// back to the sender (a replica_answers_actor) as (batch_atom, std::vector<replica_answer>),
/// each with its call's id, cut at max_batch_bytes so that no message nears the receiving node's
/// max_frame_bytes however large the records read. Injected faults apply here as at the vnodes.
using replica_gateway_actor =
    caf::typed_actor<caf::reacts_to<batch_atom, std::vector<replica_call>>>;

/// Where a replica gateway sends the answers to a batch: the coordinator that sent it.
using replica_answers_actor =
    caf::typed_actor<caf::reacts_to<batch_atom, std::vector<replica_answer>>>;

/// The version of the messages nodes exchange (their types and layouts): raise it with every
/// change to a message between nodes. Peers of different versions refuse each other in the
/// handshake with one log line naming both, instead of failing every decode. peer_hello's layout
/// up to `protocol` must never change, so that any two versions can read each other's.
/// 2: replica reads' inline limit; node_actor's (status, cluster); SWIM probes between nodes.
/// 3: peer_hello's detector; one vnode actor per node, its messages naming the partition,
///    instead of one per partition; gossip of digests (view_digest, view_delta);
///    membership_view format 3 (tombstones).
/// 4: membership_view format 4 (retired replica ids in the view, its digest and its deltas).
/// 5: cluster_status's entries_pruned (version-vector entries of retired replica ids pruned).
/// 6: cluster_status's ae_peer_pause_ms and ae_paced_by (anti-entropy waiting a peer's pace).
/// 7: node_actor's (idle, name): idle connections closed by agreement; cluster_status's idle.
constexpr uint32_t protocol_version = 7;

/// Peer handshake: who a node is, with which instance settings, and the two actors that serve its
/// peers (a constant size, whatever the number of partitions).
struct peer_hello {
  uint32_t protocol = protocol_version; ///< first, so that every version reads it
  std::string name;
  replica_id id = 0;
  std::string settings; ///< describe(store_settings) flattened; peers must agree exactly
  /// [failure_detector] mode ("swim" or "all"); peers must agree, since a phi accrual node
  /// cannot take part in SWIM's indirect probes.
  std::string detector;
  vnode_actor vnodes;            ///< serves every partition; invalid in the request
  replica_gateway_actor gateway; ///< invalid in the request
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_hello& x) {
  return f(caf::meta::type_name("actorkv::peer_hello"), x.protocol, x.name, x.id, x.settings,
           x.detector, x.vnodes, x.gateway);
}

/// A replica a coordinator may use: this node's storage, or a peer's replica gateway; either way
/// its calls travel batched with the other calls to the same place. Exactly one handle is set.
struct replica_target {
  std::string node;
  std::string hint_for;         ///< empty: a home replica; else a fallback holding writes for it
  replica_batch_actor local;    ///< this node's storage: answers each batch as the response
  replica_gateway_actor remote; ///< a peer's gateway: answers in messages of their own

  caf::actor_addr address() const { return local ? local.address() : remote.address(); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_target& x) {
  return f(caf::meta::type_name("actorkv::replica_target"), x.node, x.hint_for, x.local, x.remote);
}

/// Everything a coordinator needs to know of one partition's replicas, computed by its node.
struct coordination_plan {
  /// Reachable home replicas in preference order, then (sloppy quorum only) one fallback for
  /// each unreachable home replica. Reads use the home replicas only.
  std::vector<replica_target> replicas;
  /// While a membership change moves partitions: the reachable nodes that become home replicas of
  /// the partition. They get every write too (not counted towards W), so that nothing written
  /// during the handoff is missing on them once the new ring is in force.
  std::vector<replica_target> joining;
  /// The store's settings, the same in every plan (the coordinator keeps those of the first).
  uint32_t replicas_total = 3; ///< N
  uint32_t read_quorum = 2;    ///< R
  uint32_t write_quorum = 2;   ///< W
  conflict_mode conflicts = conflict_mode::siblings;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, coordination_plan& x) {
  return f(caf::meta::type_name("actorkv::coordination_plan"), x.replicas, x.joining,
           x.replicas_total, x.read_quorum, x.write_quorum, x.conflicts);
}

/// A coordinator's routes: the plan of every partition, indexed by partition (a key's partition
/// is partition_of(key, plans.size())), and the limits requests are checked against. Calls in
/// flight to a peer the new routes no longer name fail at once (it went down or stopped
/// answering); those to `local`, this node's storage, always get their answer.
struct routes {
  std::vector<coordination_plan> plans;
  replica_batch_actor local;
  uint32_t max_key_bytes = 1024;
  uint32_t max_value_bytes = 1024 * 1024;
  write_limits writes;          ///< passed with each write to its coordinating replica
  uint32_t sibling_warning = 0; ///< writes leaving more siblings get a warning (0: none)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, routes& x) {
  return f(caf::meta::type_name("actorkv::routes"), x.plans, x.local, x.max_key_bytes,
           x.max_value_bytes, x.writes, x.sibling_warning);
}

/// Some partitions' new plans, after a peer's reachability or a ring changed: the coordinator
/// replaces those and keeps its other routes. Sent in proportion to what changed, where routes
/// would carry all Q (they go once, when the coordinator starts).
struct route_changes {
  std::vector<partition_id> partitions;
  std::vector<coordination_plan> plans; ///< plans[i] is the plan of partitions[i]
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_changes& x) {
  return f(caf::meta::type_name("actorkv::route_changes"), x.partitions, x.plans);
}

/// Where clients' gets, puts and deletes go: a node's coordinator, which a client reaches through
/// the node's session handler. The one path every client request takes.
using client_requests_actor = caf::typed_actor<
    /// Calls in a batch; each call's answer goes to the sender (a client_answers_actor), batched
    /// with the other answers ready at the same time, with the call's id. An empty batch is a
    /// client's probe, answered with an empty batch.
    caf::reacts_to<batch_atom, std::vector<client_call>>>;

/// Where a coordinator sends the answers to a client's calls: the client actor.
using client_answers_actor =
    caf::typed_actor<caf::reacts_to<batch_atom, std::vector<client_answer>>>;

/// Coordinator: serves every client request of its node against the key's replicas, many at
/// once (actors/node/coordinator.hpp), and read-repairs what it finds stale. Peers' gateways send
/// it the answers to its batches (replica_answers_actor).
using coordinator_actor = client_requests_actor::extend<
    /// Where each partition's replicas are now (replaces the previous routes).
    caf::reacts_to<routes_atom, routes>,
    /// Where some partitions' replicas are now (replaces those partitions' plans).
    caf::reacts_to<routes_atom, route_changes>>::extend_with<replica_answers_actor>;

/// What a node's failure detector knows of wall clocks, for status.
struct clock_report {
  int64_t skew_ms = 0; ///< this node's wall clock minus its peers' (cluster-config own_skew)
  bool skewed = false; ///< this node's clock is the one off by more than max_clock_skew_ms
  uint32_t max_clock_skew_ms = 0;
  /// Each up peer with an estimate: its wall clock minus this node's.
  std::vector<std::pair<std::string, int64_t>> peer_offsets_ms;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, clock_report& x) {
  return f(caf::meta::type_name("actorkv::clock_report"), x.skew_ms, x.skewed, x.max_clock_skew_ms,
           x.peer_offsets_ms);
}

/// SWIM failure detection (actors/node/swim_detector.hpp): what a node's failure detector asks
/// its peers' detectors. A node answers these for its detector (delegating to it through its
/// fault gate), so in a cluster the handle is the peer's node actor; a simulation hands the
/// detectors each other directly.
using swim_peer_actor = caf::typed_actor<
    /// A direct probe: hears the rumors, answers at once with this node's clocks and rumors.
    caf::replies_to<swim_atom, swim_ping>::with<swim_ack>,
    /// An indirect probe: probes the target in turn and answers whether it answered
    /// (reached = false also when the target is not one this node watches).
    caf::replies_to<swim_atom, swim_relay>::with<swim_ack>>;

/// Node: the one actor each kvnode publishes on its host:port. Serves clients (a session with its
/// coordinator, status, admin) and peers (handshake, liveness probes, gossip).
using node_actor = caf::typed_actor<
    /// A client's session: where its gets, puts and deletes go (this node's coordinator).
    /// Fails with ec::unavailable, saying why, while the node is starting: until it is connected
    /// to its peers (or knows them unreachable), at most node_startup_wait after it started
    /// (senders in the node's own process always get it).
    caf::replies_to<session_atom>::with<client_requests_actor>,
    /// The cluster as this node sees it.
    caf::replies_to<status_atom>::with<cluster_status>,
    /// Every member's own status, asked by this node of each member it is connected to (and of
    /// itself) at once, within the request timeout; the others are listed as not answering.
    /// Needs the role status needs (read).
    caf::replies_to<status_atom, cluster_atom>::with<cluster_answers>,
    /// Peer handshake: answers with this node's own hello, including its vnodes. Fails with
    /// ec::peer_mismatch when the settings differ.
    caf::replies_to<peer_atom, peer_hello>::with<peer_hello>,
    /// Liveness probe of the failure detector: answered at once, with this node's clocks.
    caf::replies_to<caf::ping_atom>::with<clock_reading>,
    /// Gossip: merges the sender's view into this node's and answers with the result (a joining
    /// node fetches the view this way).
    caf::replies_to<gossip_atom, membership_view>::with<membership_view>,
    /// A gossip round's digest: answers with the entries the sender lacks and asks for the ones
    /// this node lacks (delegated to membership).
    caf::replies_to<gossip_atom, view_digest>::with<view_delta>,
    /// The second half of a round: the entries asked for; merged, answered with ok.
    caf::replies_to<gossip_atom, view_delta>::with<caf::ok_atom>,
    /// Fault injection: ("drop", peers, 0) drops, ("delay", peers, ms) delays every request from
    /// those peers' processes; ("heal", {}, 0) clears all rules. Answers with a description of the
    /// rules now in force; ec::bad_request unless the manifest's [faults] injection is true.
    caf::replies_to<fault_atom, std::string, std::vector<std::string>, uint32_t>::with<std::string>,
    /// Membership change: (action, subject, apply) with action "join" (subject HOST:PORT),
    /// "leave" or "remove" (subject a member's name). Answers with what the change moves; it is
    /// made only when `apply` is true. ec::bad_request says why a change cannot be made. Action
    /// "check" (no subject) instead starts a full integrity check of this node's store in the
    /// background and answers what it did; "backup" (subject an absolute path on the node's
    /// machine) starts an online backup of it, "backup-status" (no subject) tells its progress.
    caf::replies_to<admin_atom, std::string, std::string, bool>::with<std::string>,
    /// The named peer proposes to close its connection with this node, idle for a while
    /// (actors/node/peers.cpp, "Idle connections"): ok once this node has let go of its handles,
    /// an error while it still needs the peer.
    caf::replies_to<idle_atom, std::string>::with<caf::ok_atom>>::
    /// SWIM probes, handed to this node's failure detector.
    extend_with<swim_peer_actor>;

/// Where a node's own actors ask for a peer whose idle connection was closed: answered ok once
/// the node is connected to it again (their handles for it are then current), or with why not.
using peer_waker_actor =
    caf::typed_actor<caf::replies_to<wake_atom, std::string>::with<caf::ok_atom>>;

/// What the membership actor tells its node whenever the view changes.
using view_listener_actor = caf::typed_actor<caf::reacts_to<view_atom, membership_view>>;

/// Failure detector: watches the peers and reports changes of its up/down view, by phi accrual
/// over probes of every peer ([failure_detector] mode = "all") or by SWIM (mode = "swim": one
/// probe per period). From the probes' answers it also estimates each peer's wall-clock offset
/// and advances this node's hybrid clock (cluster-config/clock.hpp).
using failure_detector_actor = caf::typed_actor<
    /// Watches (or re-watches after a reconnect) the named peer through this handle.
    caf::reacts_to<watch_atom, std::string, node_actor>,
    /// The connection to the named peer dropped: SWIM suspects it at once (it refutes if alive,
    /// and is declared down a suspicion timeout later if not), instead of when its turn to be
    /// probed comes; phi accrual's probes tell by themselves.
    caf::reacts_to<lost_atom, std::string>,
    /// What it knows of the peers' wall clocks, and whether this node's is skewed.
    caf::replies_to<status_atom>::with<clock_report>>::extend_with<swim_peer_actor>;

/// The SWIM detector also watches peers through their detectors' SWIM handles alone (the
/// simulation, tests/simulation/test_swim_sim.cpp, wires thousands of them in one process).
using swim_detector_actor =
    failure_detector_actor::extend<caf::reacts_to<watch_atom, std::string, swim_peer_actor>>;

/// What the failure detector reports to: the named peer is now up (true) or down (false).
using liveness_listener_actor = caf::typed_actor<caf::reacts_to<alive_atom, std::string, bool>>;

/// A peer as its node sees it, passed to the node's background workers whenever it changes.
struct peer_view {
  std::string name;
  bool up = false;
  vnode_actor vnodes; ///< its partitions; invalid while not connected
  node_actor node;    ///< invalid while not connected
  /// Not connected, but alive as far as this node knows: its idle connection was closed, and
  /// the node connects again when asked (wake_atom, peer_waker_actor).
  bool dormant = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_view& x) {
  return f(caf::meta::type_name("actorkv::peer_view"), x.name, x.up, x.vnodes, x.node, x.dormant);
}

/// Anti-entropy progress, shown by status.
struct anti_entropy_stats {
  uint64_t rounds = 0;             ///< completed rounds
  uint64_t repairs_last_round = 0; ///< keys repaired in the last completed round
  uint64_t repairs_total = 0;
  uint64_t partition = 0;          ///< partitions done in the round under way
  uint64_t partitions = 0;         ///< partitions the round under way visits
  uint64_t repairs_running = 0;    ///< keys being repaired now
  uint64_t repairs_this_round = 0; ///< keys repaired so far in the round under way
  /// While a partition's repairs go on: the pause (ms) its last unit waited because the other
  /// side's pace asked more than this node's, and that side's name; 0 and empty when this node's
  /// own pause decided.
  uint32_t peer_pause_ms = 0;
  std::string paced_by;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, anti_entropy_stats& x) {
  return f(caf::meta::type_name("actorkv::anti_entropy_stats"), x.rounds, x.repairs_last_round,
           x.repairs_total, x.partition, x.partitions, x.repairs_running, x.repairs_this_round,
           x.peer_pause_ms, x.paced_by);
}

/// Hint keeper: delivers the hints this node holds to their targets once those are up, deleting
/// each only after its target acknowledged it.
using hint_keeper_actor = caf::typed_actor<
    /// The peers whose state changed (the others stay as last told: peer_directory.hpp).
    caf::reacts_to<peer_atom, std::vector<peer_view>>,
    /// The members that left the cluster for good (removed, or left with their handoff
    /// finished; replaces the previous list): the hints held for them are dropped.
    caf::reacts_to<departed_atom, std::vector<std::string>>>;

/// Anti-entropy: round after round, compares each partition this node replicates with another
/// up replica's Merkle tree and repairs the keys that differ, in both directions.
using anti_entropy_actor = caf::typed_actor<
    /// The peers whose state changed (the others stay as last told: peer_directory.hpp).
    caf::reacts_to<peer_atom, std::vector<peer_view>>,
    /// The partitions this node now replicates, each with its other home replicas (after a ring
    /// change; replaces the previous list).
    caf::reacts_to<replicas_atom, std::vector<std::pair<partition_id, std::vector<std::string>>>>,
    /// Progress so far.
    caf::replies_to<status_atom>::with<anti_entropy_stats>>;

/// Tombstone collector: sweep after sweep, erases the tombstones older than the grace period that
/// every other home replica holds identically or not at all, and prunes the version-vector
/// entries of retired replica ids on the same evidence (docs/design.md section 6).
using collector_actor = caf::typed_actor<
    /// The peers whose state changed (the others stay as last told: peer_directory.hpp).
    caf::reacts_to<peer_atom, std::vector<peer_view>>,
    /// The partitions this node replicates, each with its other home replicas (replaces the
    /// previous list; empty while a ring change is under way: nothing is collected then).
    caf::reacts_to<replicas_atom, std::vector<std::pair<partition_id, std::vector<std::string>>>>,
    /// The replica ids whose entries may be pruned (the view's prunable_ids; replaces the
    /// previous set): a new id starts the pruning passes again.
    caf::reacts_to<prune_atom, std::vector<replica_id>>,
    /// Tombstones collected since start, sweeps finished, and version-vector entries pruned.
    caf::replies_to<status_atom>::with<uint64_t, uint64_t, uint64_t>>;

/// Handoff worker: streams partitions to the nodes that become their home replicas after a ring
/// change, in bounded batches, each partition as a unit retried from its start after a failure;
/// reports each finished transfer and release to its node.
using handoff_actor = caf::typed_actor<
    /// The peers whose state changed (the others stay as last told: peer_directory.hpp).
    caf::reacts_to<peer_atom, std::vector<peer_view>>,
    /// The work for ring epoch `epoch` (replaces the previous list; work already finished for
    /// the same epoch is not repeated).
    caf::reacts_to<handoff_atom, uint64_t, std::vector<handoff_task>>,
    /// Progress so far.
    caf::replies_to<status_atom>::with<handoff_stats>>;

/// What the handoff worker reports to its node.
using handoff_listener_actor = caf::typed_actor<
    /// Partition `transfer.partition` reached `transfer.target` completely (ring epoch given).
    caf::reacts_to<transfer_atom, uint64_t, partition_transfer>,
    /// A partition this node no longer replicates was streamed to its new replicas and deleted.
    caf::reacts_to<release_atom, partition_id>>;

/// Membership: holds this node's versioned cluster view and gossips it with a random reachable
/// peer every interval (push-pull), so that every node converges on the same view.
using membership_actor = caf::typed_actor<
    /// The peers whose reachability changed (the others stay as last told: peer_directory.hpp).
    caf::reacts_to<peer_atom, std::vector<peer_view>>,
    /// A peer's whole view (a joining node's): merge and answer with the merged view.
    caf::replies_to<gossip_atom, membership_view>::with<membership_view>,
    /// A peer's digest: answer with what it lacks, ask for what this view lacks (merges nothing).
    caf::replies_to<gossip_atom, view_digest>::with<view_delta>,
    /// The entries a peer was asked for in the answer to its digest: merged.
    caf::replies_to<gossip_atom, view_delta>::with<caf::ok_atom>,
    /// The current view.
    caf::replies_to<view_atom>::with<membership_view>,
    /// An admin's change (see node_actor's admin handler).
    caf::replies_to<admin_atom, std::string, std::string, bool>::with<std::string>,
    /// A partition transfer of the change of ring epoch `epoch` finished.
    caf::reacts_to<transfer_atom, uint64_t, partition_transfer>>;

/// What a client asks to reach the node at (host, port): CAF's middleman (its connect handler),
/// or a test double standing in for the network. Answers with the node's id, actor and interface.
using connector_actor =
    caf::typed_actor<caf::replies_to<caf::connect_atom, std::string, uint16_t>::with<
        caf::node_id, caf::strong_actor_ptr, std::set<std::string>>>;

/// Client: what kvsh, kvbench and applications hold. Talks to one node at a time, fails over to
/// the next known node when it goes away, asks other nodes what one could not serve
/// (actors/client/retry_policy.hpp), bounds every request with the configured timeout.
/// Errors are actorkv::ec codes (see messages/error.hpp), or ec::timeout when no answer came.
using client_actor = caf::typed_actor<
    /// The key's values and context; found == false when it is absent or deleted.
    caf::replies_to<caf::get_atom, bytes>::with<get_reply>,
    /// Several keys at once, answered in the order asked (each like a single get; the first error
    /// fails the whole batch).
    caf::replies_to<caf::get_atom, std::vector<bytes>>::with<std::vector<get_reply>>,
    /// Stores a value superseding what the request's context covers.
    caf::replies_to<caf::put_atom, put_request>::with<write_reply>,
    /// Deletes what the request's context covers; without a context (and not blind), reads the
    /// key and deletes what that read returned.
    caf::replies_to<caf::delete_atom, delete_request>::with<write_reply>,
    /// The cluster as the connected node sees it.
    caf::replies_to<status_atom>::with<cluster_status>,
    /// Every member's own status as the connected node collected it (see node_actor).
    caf::replies_to<status_atom, cluster_atom>::with<cluster_answers>,
    /// Fault injection on the connected node (see node_actor).
    caf::replies_to<fault_atom, std::string, std::vector<std::string>, uint32_t>::with<std::string>,
    /// Membership change through the connected node (see node_actor).
    caf::replies_to<admin_atom, std::string, std::string, bool>::with<std::string>>;

} // namespace actorkv
