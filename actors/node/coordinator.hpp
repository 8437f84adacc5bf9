// The coordinator: one per node, serving every client request against the key's replicas, each
// request a small state machine (a round) inside it, whose decisions are the pure tallies of
// cluster-config/quorum.hpp:
//
//   get:   beyond the node's memory budget ──> reply(overloaded), before any replica is asked
//          read ──> R answers ──> reply(merged) ──> all answered or timed out ──> read repair
//            └─> a record above inline_read_bytes ──> its size only ──> charge grown ──> read it
//            └─> too many failures for R ──> reply(unavailable; overloaded when a replica, or
//                this node's budget, had no room for an answer)
//   write: a context of another key or instance ──> reply(bad_context)
//          fewer than W replicas (home + fallbacks) up ──> reply(unavailable)
//          coord(write) at the first replica (this node's if it is one; on failure the next)
//            ──> record ──> merge(record) at the other home replicas, hint(record) at the
//                fallbacks ──> W acks ──> reply(acks)
//            └─> W out of reach ──> reply(maybe_applied if any replica stored it, else unavailable)
//            └─> bad_context (the context names writes that replica never made) ──> reply(it)
//            └─> refused by the coordinating replica (write limits) ──> reply(the refusal)
//   a write (client or HTTPS) beyond the node's memory budget ──> reply(overloaded), before
//   anything is sent to a replica
//
// Every write carries the [limits] of the routes; the coordinating replica refuses one that
// would leave its key too many siblings or too many bytes (cluster-config/write_limits.hpp).
// A write that leaves more than sibling_warning siblings gets a warning in its reply, and the
// log a line about the key at most once a minute.
//
// Replica calls do not travel one by one: the calls for one destination (this node's storage, a
// peer's replica gateway) made while the coordinator works through its mailbox go as one request
// when a flush it sent itself arrives, after everything already queued (as in
// actors/batching/batch_outbox.hpp), or earlier once they reach max_batch_bytes. Each batch comes
// back as one answer, within the request timeout. So a client batch of K gets costs a handful of
// messages, not 10 K. Clients' answers go back batched the same way.
//
// Each admitted write holds its charge of the node's memory budget
// (cluster-config/memory_budget.hpp) until its round ends: every replica answered, or failed, or
// timed out. A write whose charge does not fit is answered ec::overloaded at once and stored
// nowhere. A replica that refuses a write as overloaded counts as failed: the write ends overloaded
// when every replica that failed it was overloaded and none stored it, maybe_applied when some
// stored it but fewer than W.
//
// A get is admitted with read_charge() of inline_read_bytes and asks its replicas for records of
// up to that size: a replica holding a larger one answers with its size only, and the round asks
// it again for the whole record once its charge grew to read_charge() of that size (a second round
// trip, for large records only). So what replicas send never exceeds what the round holds, even on
// a node that has served nothing yet: the coordinator cannot know a record's size before a replica
// read it, and an answer arrives whether it fits or not. When the budget has no room for the
// larger charge, that replica counts as failed overloaded. The charge is held until every replica
// answered and the read repairs it sent were answered.

// Writes are stamped for last-writer-wins by the node's hybrid clock (wall_clock.hpp node_clock),
// which follows every record the replicas answer with: a write after a read through this node
// orders after what the read saw, however far ahead the clock of the node that wrote it ran.
//
// Where each partition's replicas are comes from the node, as routes, whenever peers or the ring
// change (a coordinator must never wait for its node to answer a question). Batches in flight to
// a peer the new routes no longer name fail at once.
#pragma once

#include <memory>
#include <string>

#include "actors/node/background_gate.hpp"
#include "actors/node/wall_clock.hpp"
#include "cluster-config/access.hpp"
#include "cluster-config/memory_budget.hpp"
#include "cluster-config/metrics.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

struct coordinator_options {
  routes initial; ///< where replicas are until told other routes
  /// Bounds every batch of replica calls: a call unanswered by then fails with
  /// sec::request_timeout (the write may have been applied there).
  std::chrono::milliseconds request_timeout{5000};
  /// Stamps writes for last-writer-wins and follows the records replicas answer with; the node
  /// shares it with its storage and failure detector.
  std::shared_ptr<node_clock> clock = std::make_shared<node_clock>();
  std::string node{}; ///< this node's name, for its log lines (sibling warnings)
  /// Who may read and write (kvnode's guard fills it); null: everyone (TLS turned off).
  std::shared_ptr<const access_table> access{};
  /// The instance's name (store.name): contexts are bound to it and to their key, and a context
  /// of another key or instance is refused with ec::bad_context.
  std::string instance{};
  /// The node's budget for requests in flight, which each client write is charged against
  /// before it is admitted; null: no budget (tests of other things).
  std::shared_ptr<memory_budget> budget{};
  /// Counts requests by operation and outcome, their latency and siblings (node_metrics.hpp);
  /// null: nothing is counted.
  std::shared_ptr<metrics_registry> metrics{};
  /// Told every client request's latency, by which it paces the node's background work; null:
  /// nothing is told.
  std::shared_ptr<background_gate> background{};
  /// Asked for a peer whose plans name it without a handle (its idle connection was closed): the
  /// calls for it wait until it answers, then go to the peer's gateway of the new routes.
  /// Unset: such calls fail at once.
  peer_waker_actor waker{};
};

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_options options);

} // namespace actorkv
