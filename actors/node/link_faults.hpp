// Fault injection in actorkv's inter-node link layer, for tests: a node told to drop or delay
// traffic from named peers does so on the receiving side, for every request its node actor,
// vnodes and replica gateway get from those peers' processes. Telling both sides of a cut gives a
// network partition (each side's requests die at the other), without any kernel support. Only nodes
// whose manifest enables [faults] injection accept the rules (see node_actor's fault handler).
//
// Shared by the node, its vnodes and its gateway (one process), hence the lock; consulted once per
// request or batch.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include <caf/node_id.hpp>

namespace actorkv {

class link_faults {
public:
  /// What to do with a request from a peer's process.
  struct verdict {
    bool drop = false;
    std::chrono::milliseconds delay{0};
  };

  /// The rule for traffic from the node named `peer`.
  void set(const std::string& peer, verdict v) {
    std::lock_guard<std::mutex> guard{mtx_};
    rules_[peer] = v;
  }

  /// Forgets every rule: the links heal.
  void heal() {
    std::lock_guard<std::mutex> guard{mtx_};
    rules_.clear();
  }

  /// Records which process the node named `peer` runs as (learnt at each handshake).
  void bind(const std::string& peer, const caf::node_id& process) {
    std::lock_guard<std::mutex> guard{mtx_};
    names_[process] = peer;
  }

  /// The rule for a request that came from `process`.
  verdict check(const caf::node_id& process) const {
    std::lock_guard<std::mutex> guard{mtx_};
    if (rules_.empty())
      return {};
    auto name = names_.find(process);
    if (name == names_.end())
      return {};
    auto rule = rules_.find(name->second);
    return rule == rules_.end() ? verdict{} : rule->second;
  }

private:
  mutable std::mutex mtx_;
  std::map<std::string, verdict> rules_;
  std::map<caf::node_id, std::string> names_;
};

} // namespace actorkv
