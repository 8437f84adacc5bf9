// The peers as a background worker (membership, hint keeper, handoff, anti-entropy) last heard of
// them from its node: who is up, and the handles to reach them. The node sends the whole list as
// (peer_atom, std::vector<peer_view>) whenever anything about a peer changes. A dormant peer (its
// idle connection closed) is alive but has no handles: wake() asks the node to connect to it
// again, and a later list has it up.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/send.hpp>

#include "messages/interfaces.hpp"

namespace actorkv {

class peer_directory {
public:
  /// Replaces every peer with the node's latest list.
  /// Replaces every peer with the node's latest list; `node` is the sender of the list, asked to
  /// wake dormant peers.
  void replace(std::vector<peer_view> peers, peer_waker_actor node = {}) {
    by_name_.clear();
    woken_.clear();
    for (auto& p : peers)
      by_name_.emplace(p.name, std::move(p));
    node_ = std::move(node);
  }

  /// Whether the peer named `name` is up or dormant: alive as far as the node knows.
  bool alive(const std::string& name) const {
    auto it = by_name_.find(name);
    return it != by_name_.end() && (it->second.up || it->second.dormant);
  }

  /// Asks the node to connect to the peer named `name` again when it is dormant (once per list:
  /// the next list tells how it went); false when it is not dormant.
  bool wake(const std::string& name) {
    auto it = by_name_.find(name);
    if (it == by_name_.end() || !it->second.dormant || !node_)
      return false;
    if (woken_.insert(name).second)
      caf::anon_send(node_, wake_atom::value, name);
    return true;
  }

  /// The peer named `name` when it is up; nullptr otherwise.
  const peer_view* up(const std::string& name) const {
    auto it = by_name_.find(name);
    return it != by_name_.end() && it->second.up ? &it->second : nullptr;
  }

  /// The vnodes of the peer named `name` (every partition's, named in each message), when that
  /// peer is up; nullptr otherwise.
  const vnode_actor* vnodes(const std::string& name) const {
    auto* peer = up(name);
    return peer && peer->vnodes ? &peer->vnodes : nullptr;
  }

  /// The node actors of every peer that is up, in name order.
  std::vector<node_actor> up_nodes() const {
    std::vector<node_actor> out;
    for (auto& [name, p] : by_name_)
      if (p.up && p.node)
        out.push_back(p.node);
    return out;
  }

private:
  std::map<std::string, peer_view> by_name_;
  peer_waker_actor node_;
  std::set<std::string> woken_; ///< dormant peers already asked for since the last list
};

} // namespace actorkv
