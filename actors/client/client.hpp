// The client actor: what kvsh, kvbench and applications hold to use a cluster.
//
// It talks to one node at a time: its gets, puts and deletes go, batched, to that node's
// coordinator (which the node names when the client connects); status, admin and fault requests
// to the node itself. Requests made while it is not connected wait while it connects to the known
// endpoints in turn; when a whole round of endpoints fails they fail with ec::unavailable. When
// its node goes away it fails over to the next. Nodes' endpoints learnt from status replies are
// added to the list. Every get, put and delete is bounded by `timeout` from the moment it is
// asked, waiting and retries included; an expired one fails with ec::timeout (a write then may or
// may not have been applied) and is never retried. A get that was in flight when its node went
// away is sent once more to the next node, keeping its deadline; a put or delete fails with
// ec::maybe_applied instead (the node may have stored it), and is never sent twice. While calls
// wait for their answers, the client sends its node's coordinator an empty batch every second:
// a node closes a connection on which nothing arrived for 4 s, and an answer can take longer.
// A delete without a context is a get and then a delete with the context that get returned, both
// within the one timeout (delete_request::blind writes the bare tombstone instead).
#pragma once

#include <chrono>
#include <string>
#include <vector>

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
};

client_actor spawn_client(caf::actor_system& sys, client_options options);

/// A connector that reaches `node`, an actor of this process, for every endpoint: a client in a
/// node's own process (its HTTPS API) talks to that node without a network.
connector_actor local_connector(caf::actor_system& sys, node_actor node);

/// Splits "h1:p1,h2:p2" into endpoints; returns an empty vector when any part is malformed.
std::vector<std::string> parse_endpoints(const std::string& text);

} // namespace actorkv
