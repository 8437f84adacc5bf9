// The node actor's state and the functions its files share (actors/node/node.hpp has the
// contract). One actor, split by job:
//   node.cpp        spawns and wires the node's actors, dispatches its messages
//   peers.cpp       the connection to each peer: connect, handshake, up/down, reconnect
//   routes.cpp      where each partition's replicas are, for the coordinator (plans from
//                   cluster-config/placement.hpp, resolved to handles)
//   ring_change.cpp following the membership view: the ring in force, the handoff, departure
//   status.cpp      the cluster as this node sees it, for kvsh status
//   faults.cpp      fault injection commands (actors/node/fault_gate.hpp)
// Internal to actors/node: nothing outside includes this header.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/node/background_gate.hpp"
#include "actors/node/fault_gate.hpp"
#include "actors/node/node.hpp"
#include "actors/node/replica_gateway.hpp"
#include "actors/node/vnode.hpp"
#include "cluster-config/placement.hpp"
#include "cluster-config/readiness.hpp"
#include "cluster-config/ring.hpp"

namespace actorkv::node_internals {

/// Reconnect attempts, liveness, view and handoff reports, the departure check and held requests
/// are private: the public interface stays node_actor.
using node_impl =
    node_actor::extend<caf::reacts_to<connect_to_atom, uint32_t>, caf::reacts_to<caf::tick_atom>,
                       caf::reacts_to<held_atom, uint64_t>, caf::reacts_to<ready_atom>,
                       caf::reacts_to<idle_atom>>::extend_with<liveness_listener_actor>::
        extend_with<view_listener_actor>::extend_with<handoff_listener_actor>::extend_with<
            peer_waker_actor>;

/// A member of the cluster as this node knows it.
/// Failed attempts to reach a peer: the first failure of each reason is logged, repeats are
/// counted and summarised at most once per interval, so a peer that stays unreachable never
/// floods the log and never fails silently.
struct failed_attempts {
  std::string reason;   ///< the reason last logged
  uint64_t repeats = 0; ///< failures for that reason since the last line
  caf::actor_clock::time_point logged{};
};

struct peer_info {
  std::string name;
  std::string host;
  uint16_t port = 0;
  bool removed = false;          ///< removed from the cluster: no longer connected to
  node_actor handle;             ///< valid while connected
  vnode_actor vnodes;            ///< the peer's vnodes (every partition)
  replica_gateway_actor gateway; ///< where this node's coordinator sends it replica calls
  replica_id id = 0;
  bool up = false;   ///< connected and handshaken
  bool alive = true; ///< the failure detector's verdict while connected
  bool connecting = false;
  /// Its idle connection was closed by agreement (peers.cpp, "Idle connections"): a member still
  /// believed alive, in the plans as before, without handles until it is woken.
  bool dormant = false;
  bool proposed_idle = false; ///< this node asked it to close the idle connection, no answer yet
  bool published_usable = false; ///< usable() as publish_peers last told the workers
  /// Who asked for it while dormant (wake_atom): answered once it is up again, or not.
  std::vector<caf::typed_response_promise<caf::ok_atom>> wakers;
  failed_attempts failures; ///< since it was last up
  bool unreachable = false; ///< a dial or handshake failed since this node started (readiness)
  caf::node_id trusted;     ///< its process, trusted as a member since this node dialed it
};

/// Whether the peer can be asked anything now, or once woken: connected and handshaken (or
/// dormant), answering probes.
inline bool usable(const peer_info& peer) {
  return (peer.up || peer.dormant) && peer.alive;
}

struct node_state {
  static inline const char* name = "node";
  node_options options;
  /// The node actor of each process that sent this node a hello, by name: a peer that is not yet
  /// a member when it dials is adopted once it is.
  std::map<std::string, node_actor> callers;
  /// Peers whose handshake was refused for another protocol version, each logged once.
  std::set<std::string> protocol_refused;
  /// Peers whose handshake was refused for another [failure_detector] mode, each logged once.
  std::set<std::string> detector_refused;
  std::string settings;
  std::string detector_name; ///< this node's [failure_detector] mode, as peer_hello carries it
  membership_view view;      ///< as the membership actor last told it
  ring placement;            ///< the ring in force
  std::optional<ring> next;  ///< the ring a membership change leads to, while it runs
  /// Which partitions' plans a peer's reachability can change (routes.cpp): rebuilt with the
  /// routes when a ring changes, refreshed in proportion to what changed when a peer's
  /// reachability does.
  plan_book plans;
  /// Partitions this node replicated before the last ring change and no longer does, with the
  /// nodes that took them over: sent to them what they lack, then deleted here.
  std::map<partition_id, std::vector<std::string>> releases;
  bool departed = false;
  /// Clients get sessions once this is set: the node is connected to its peers, knows the others
  /// unreachable, or node_startup_wait passed (cluster-config/readiness.hpp). Never unset.
  bool serving = false;
  caf::actor_clock::time_point started{};
  bool departure_check_scheduled = false;
  local_vnode_actor vnodes;      ///< serves peers' background work, every partition
  local_gateway_actor gateway;   ///< serves the peers' batched replica requests
  coordinator_actor coordinator; ///< serves the clients' requests
  std::vector<peer_info> peers;  ///< every other member ever seen, in the order first seen
  /// Index into `peers` by name (peers are only ever added: add_peer keeps it in step).
  std::unordered_map<std::string, uint32_t> peer_index;
  failure_detector_actor detector;
  /// The peers this node shares a partition with (in the ring in force or the next one) or owes
  /// a release: their connections are never closed for idleness.
  std::unordered_set<std::string> kept;
  handoff_actor handoff;
  hint_keeper_actor hint_keeper;
  anti_entropy_actor anti_entropy;
  /// Paces handoff and anti-entropy by the coordinator's request latencies ([background]).
  std::shared_ptr<background_gate> background;
  collector_actor collector;
  /// The view's prunable_ids as last told to storage and the collector (sent when they change).
  std::vector<replica_id> prunable;
  membership_actor membership;
  /// Injected faults: the rules an admin set, by peer name, and the process each peer runs as.
  std::map<std::string, fault_rule> faults;
  std::map<std::string, caf::node_id> processes;
  fault_gate gate; ///< this node's own handlers that serve peers

  peer_info* find_peer(const std::string& name) {
    auto it = peer_index.find(name);
    return it != peer_index.end() ? &peers[it->second] : nullptr;
  }

  /// Appends a peer named `name`; its index in `peers`.
  uint32_t add_peer(const std::string& name) {
    auto index = static_cast<uint32_t>(peers.size());
    peers.emplace_back().name = name;
    peer_index.emplace(name, index);
    return index;
  }

  uint32_t replicas() const { return options.cluster.store.replicas; }
  std::chrono::milliseconds request_timeout() const {
    return std::chrono::milliseconds{options.cluster.timeouts.request_ms};
  }
};

using self_ptr = node_impl::stateful_pointer<node_state>;

// peers.cpp
peer_hello own_hello(self_ptr self, bool with_vnodes);
void follow_members(self_ptr self);
void connect_peer(self_ptr self, uint32_t index);
void peer_down(self_ptr self, const caf::down_msg& dm);
void peer_alive(self_ptr self, const std::string& name, bool alive);
caf::result<peer_hello> answer_hello(self_ptr self, const peer_hello& theirs);
/// Idle connections (peers.cpp): the peers whose connections stay open, after a ring change;
/// the periodic look for idle ones; a peer's proposal to close one; a wish to reach a peer.
void keep_replica_peers(self_ptr self);
void close_idle(self_ptr self);
caf::result<caf::ok_atom> agree_idle(self_ptr self, const std::string& name);
caf::result<caf::ok_atom> wake(self_ptr self, const std::string& name);
/// Where a starting node stands (cluster-config/readiness.hpp); sets `serving` once it may serve.
startup_state check_startup(self_ptr self);

// routes.cpp
routes make_routes(self_ptr self);
/// After the rings changed from `old_in_force` and `old_next` to those held now: tells the
/// coordinator the plans of the partitions whose replicas moved (plan_book::change_rings).
void publish_ring_change(self_ptr self, const ring& old_in_force,
                         const std::optional<ring>& old_next);
/// Tells the background workers the peers as they are now, and the coordinator the plans that
/// changed with peer `changed`'s reachability.
void publish_peers(self_ptr self, const std::string& changed);

// ring_change.cpp
void apply_view(self_ptr self, membership_view view);
void refresh_handoff(self_ptr self);
void check_departure(self_ptr self);
std::vector<std::pair<partition_id, std::vector<std::string>>> home_partitions(self_ptr self);
/// What the tombstone collector may sweep: home_partitions(), or nothing while a change runs.
std::vector<std::pair<partition_id, std::vector<std::string>>>
collectable_partitions(self_ptr self);

// status.cpp
caf::result<cluster_status> full_status(self_ptr self);
/// Every member's own status (cluster_atom): this node's and each connected peer's, asked at once
/// within the request timeout; members not connected or silent are listed as not answering.
caf::result<cluster_answers> cluster_view(self_ptr self);

// faults.cpp
caf::result<std::string> apply_fault(self_ptr self, const std::string& action,
                                     const std::vector<std::string>& peers, uint32_t delay_ms);
void bind_process(self_ptr self, const std::string& name, const caf::node_id& process);

} // namespace actorkv::node_internals
