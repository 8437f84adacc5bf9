// Batching of replica requests between nodes: a peer link on the sending node, a replica
// gateway on the receiving one (interfaces in messages/interfaces.hpp).
//
// Every remote message costs CAF 0.17 a multiplexer wake-up, a BASP frame and a trip through
// both middlemen, far more than the request itself (BENCHMARKS.md). So a coordinator's replica
// requests to a peer go to that peer's link, a local actor, which sends everything that reached
// its mailbox meanwhile as one (batch_atom, calls) message: it schedules a flush to itself on the
// first request, and the flush arrives after the requests already queued. The gateway runs each
// call against its node's storage and sends the answers back to the link the same way. Under
// load a batch carries many requests; alone, a request waits for nothing.
//
//   coordinator ──request──> link ──(batch)──> gateway ──> storage
//   coordinator <──deliver── link <──(batch)── gateway <──┘
//
// A batch is cut at max_batch_bytes (actors/batching.hpp) of keys and values (a single larger
// request goes alone), so
// that it stays well under the receiving node's max_frame_bytes.
#pragma once

#include <chrono>
#include <memory>

#include "actors/link_faults.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

/// A link to the peer whose gateway is `gateway`. Requests still unanswered after `timeout` (plus
/// at most a sweep interval of 250 ms) are failed with sec::request_timeout, so requesters need
/// no timeout of their own; everything in flight fails with sec::request_receiver_down when the
/// gateway goes down or the link is told to exit (its peer went away).
peer_link_actor spawn_peer_link(caf::actor_system& sys, replica_gateway_actor gateway,
                                std::chrono::milliseconds timeout);

/// This node's gateway: serves peers' batched calls from `storage`; `faults` (shared with the
/// node) says which peers' batches to drop or delay.
replica_gateway_actor spawn_replica_gateway(caf::actor_system& sys, storage_actor storage,
                                            std::shared_ptr<const link_faults> faults);

} // namespace actorkv
