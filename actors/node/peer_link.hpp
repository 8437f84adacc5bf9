// Batching of replica requests between nodes: a peer link on the sending node, a replica
// gateway on the receiving one (interfaces in messages/interfaces.hpp).
//
// Every remote message costs CAF 0.17 a multiplexer wake-up, a BASP frame and a trip through
// both middlemen, far more than the request itself (BENCHMARKS.md). So the coordinator's batches
// of calls for a peer go to that peer's link, a local actor, which sends everything that reached
// its mailbox meanwhile as one (batch_atom, calls) message: it schedules a flush to itself on the
// first call, and the flush arrives after the calls already queued. The gateway runs the batch
// against its node's storage as one batch and sends the answers back to the link the same way;
// the link answers each requester's batch once all of its calls are answered or failed.
//
//   coordinator ──(batch)──> link ──(batch)──> gateway ──(batch)──> storage
//   coordinator <──(batch)── link <──(batch)── gateway <──(batch)───┘
//
// A batch to the gateway is cut at max_batch_bytes (actors/batching/batch_outbox.hpp) of keys and values (a
// single larger call goes alone), so that it stays well under the receiving node's
// max_frame_bytes.
#pragma once

#include <chrono>

#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

/// A link to the peer whose gateway is `gateway`. Calls still unanswered after `timeout` (plus at
/// most a sweep interval of 250 ms) are answered with sec::request_timeout, so requesters need no
/// timeout of their own; everything in flight fails with sec::request_receiver_down when the
/// gateway goes down or the link is told to exit (its peer went away). A call's failure is its
/// answer's `err`: the batch itself is always answered.
peer_link_actor spawn_peer_link(caf::actor_system& sys, replica_gateway_actor gateway,
                                std::chrono::milliseconds timeout);

/// The gateway as its node holds it: peers get the replica_gateway_actor part, the node also sets
/// its faults (actors/node/fault_gate.hpp).
using local_gateway_actor = replica_gateway_actor::extend_with<fault_listener_actor>;

/// This node's gateway: serves peers' batched calls from `storage`.
local_gateway_actor spawn_replica_gateway(caf::actor_system& sys, storage_actor storage);

} // namespace actorkv
