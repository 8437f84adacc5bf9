// The client actor: what kvsh, kvbench and applications hold to use a cluster.
//
// It talks to one node at a time. Requests made while it is not connected wait (bounded by the
// request timeout) while it connects to the known endpoints in turn; when its node goes away it
// fails over to the next. Nodes' endpoints learnt from status replies are added to the list.
// Every request is bounded by `timeout`; an expired write is indeterminate (it may have been
// applied) and is never retried automatically; a read that fails because the node went away is
// retried once on the next node.
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
  /// Reaches nodes; unset: the actor system's middleman (which it must have loaded).
  connector_actor connector{};
};

client_actor spawn_client(caf::actor_system& sys, client_options options);

/// Splits "h1:p1,h2:p2" into endpoints; returns an empty vector when any part is malformed.
std::vector<std::string> parse_endpoints(const std::string& text);

} // namespace actorkv
