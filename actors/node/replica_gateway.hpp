// The replica gateway: where a node's peers send their coordinators' batches of replica calls.
//
// A peer's coordinator sends one batch per flush to this node; the gateway has the node's storage
// serve it as one batch and sends the answers back to that coordinator, each with its call's id:
//
//   coordinator ──(batch)──> gateway ──(batch)──> storage ──(answers, after commit)──> gateway
//   coordinator <──(answers, cut at max_batch_bytes)── gateway
//
// The answers travel in messages of at most max_batch_bytes (actors/batching/batch_outbox.hpp)
// however large the records read, so that none nears the coordinator's node's max_frame_bytes.
// It is the one place peers' replication traffic enters a node, so injected faults
// (actors/node/fault_gate.hpp) apply here: a dropped batch is never answered, a delayed one is
// served later.
//
// Each batch's writes (coord, merge, hint) are charged to the node's memory budget
// (cluster-config/memory_budget.hpp, replication class) while storage serves them; when they do
// not fit, each is answered ec::overloaded at once and nothing of them is stored (the batch's
// reads are still served). The peer's coordinator counts that replica as failed.
//
// How long storage took to serve each call (arrival to answer) is this node's foreground
// latency as its peers' coordinators see it, so it feeds the node's background pace
// (actors/node/background_gate.hpp) beside the requests the node coordinates itself: a node that
// only serves as a replica (the clients talk to others) still slows its handoff and anti-entropy
// when its own storage answers late (Dynamo's admission control watches the local resource
// accesses of foreground operations).
#pragma once

#include <memory>

#include "cluster-config/memory_budget.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

class background_gate; // actors/node/background_gate.hpp

/// The gateway as its node holds it: peers get the replica_gateway_actor part, the node also sets
/// its faults.
using local_gateway_actor = replica_gateway_actor::extend_with<fault_listener_actor>;

/// This node's gateway: serves peers' batches from `storage`, their writes within `budget`
/// (null: no budget), and records each call's service time in `background` (null: nowhere).
local_gateway_actor spawn_replica_gateway(caf::actor_system& sys, storage_actor storage,
                                          std::shared_ptr<memory_budget> budget = nullptr,
                                          std::shared_ptr<background_gate> background = nullptr);

} // namespace actorkv
