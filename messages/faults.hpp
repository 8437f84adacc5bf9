// Fault injection rules, as a node hands them to the actors that serve its peers
// (actors/node/fault_gate.hpp). Local to one process: never sent across the network.
#pragma once

#include <cstdint>
#include <map>

#include <caf/meta/type_name.hpp>
#include <caf/node_id.hpp>

namespace actorkv {

/// What to do with requests from one peer's process.
struct fault_rule {
  bool drop = false;     ///< never answer them, as across a cut link
  uint32_t delay_ms = 0; ///< serve them this much later
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fault_rule& x) {
  return f(caf::meta::type_name("actorkv::fault_rule"), x.drop, x.delay_ms);
}

/// The rules in force, by the process each peer runs as (learnt at the peer handshakes).
struct fault_rules {
  std::map<caf::node_id, fault_rule> by_process;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fault_rules& x) {
  return f(caf::meta::type_name("actorkv::fault_rules"), x.by_process);
}

} // namespace actorkv
