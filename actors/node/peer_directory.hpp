// The peers as a background worker (membership, hint keeper, handoff, anti-entropy) last heard of
// them from its node: who is up, and the handles to reach them. The node sends the whole list as
// (peer_atom, std::vector<peer_view>) whenever anything about a peer changes.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "messages/interfaces.hpp"

namespace actorkv {

class peer_directory {
public:
  /// Replaces every peer with the node's latest list.
  void replace(std::vector<peer_view> peers) {
    by_name_.clear();
    for (auto& p : peers)
      by_name_.emplace(p.name, std::move(p));
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
};

} // namespace actorkv
