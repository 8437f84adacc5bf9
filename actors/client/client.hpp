// The client actor: what kvsh, kvbench and applications hold to use a cluster.
//
// Its gets, puts and deletes go, batched, to the coordinator of its current node (which the node
// names when the client connects); status, admin and fault requests to the node itself. Requests
// made while it has no node wait while it connects to the known endpoints in turn; when a whole
// round of endpoints fails they fail with ec::unavailable, unless a node said it is starting
// (it serves once connected to its peers, or after a bounded wait): then they wait for it, within
// their deadline. Nodes' endpoints learnt from status replies are added to the list.
//
// Every get, put and delete is bounded by `timeout` from the moment it is asked, waiting and
// retries included. A call may go to other nodes, each endpoint at most once, as
// actors/client/retry_policy.hpp decides: any call the node answered ec::unavailable (that
// answer guarantees nothing was stored), and a get whose node went away or went silent (nothing
// from it, not even replies to probes, for `silence_timeout`). A put or delete in flight when its
// node went away fails with ec::maybe_applied, and one whose node went silent waits for its
// answer or its deadline (ec::timeout): neither is ever sent twice. A call that reached no node
// which may have stored it fails at its deadline with ec::unavailable, otherwise with
// ec::timeout (a write then may or may not have been applied). After `move_after_unavailable`
// unavailable answers in a row from its current node the client moves to the node that served
// the call instead. While calls wait at a node, the client sends its coordinator an empty batch
// every second (answered with an empty batch): a node closes a connection on which nothing
// arrived for 4 s, and an answer can take longer.
// A delete without a context is a get and then a delete with the context that get returned, both
// within the one timeout (delete_request::blind writes the bare tombstone instead).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

struct client_options {
  std::vector<std::string> endpoints; ///< "host:port", tried in order
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds connect_timeout{2000};
  /// Reaches nodes; unset: default_connector (actors/client/tls.hpp): TLS when the actor system
  /// loaded CAF's OpenSSL module (load_tls), else the middleman, which it must have loaded.
  connector_actor connector{};
  /// A node with calls in flight from which nothing came for this long is passed over: its gets
  /// go to other nodes, and so do new calls.
  std::chrono::milliseconds silence_timeout{2000};
  /// Add the members' endpoints that status replies name to `endpoints`. False for a client that
  /// must talk to its own node only (kvnode's HTTPS API).
  bool learn_endpoints = true;
};

client_actor spawn_client(caf::actor_system& sys, client_options options);

/// A connector that reaches `node`, an actor of this process, for every endpoint: a client in a
/// node's own process (its HTTPS API) talks to that node without a network.
connector_actor local_connector(caf::actor_system& sys, node_actor node);

/// A get, put or delete asked by code of the client actor's own process, answered by a callback
/// instead of a reply message. It runs as the `get`, `put` or `delete` message would (a delete
/// without a context reads first, as delete_request::blind = false): the same deadline, retries
/// and errors.
struct local_call {
  client_call call; ///< its id is the client's to set
  /// Runs once, on the client actor's thread, with the answer (err set when it failed); dropped
  /// uncalled if the actor stops first. Must not block.
  std::function<void(client_answer&)> done;
};

/// Calls of one batch for ask_local. Never leaves the process, so it need not be serializable.
struct local_calls {
  std::vector<local_call> calls;
};

/// Hands `calls` to `client` (an actor of spawn_client, in this process) in one message: one
/// mailbox delivery for all of them and none per answer. kvnode's HTTPS API asks this way
/// (actors/http/store_bridge.hpp). Thread-safe and non-blocking.
void ask_local(const client_actor& client, std::vector<local_call> calls);

/// Splits "h1:p1,h2:p2" into endpoints; returns an empty vector when any part is malformed.
std::vector<std::string> parse_endpoints(const std::string& text);

} // namespace actorkv

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorkv::local_calls)
