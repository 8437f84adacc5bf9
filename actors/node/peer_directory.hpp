// The peers as a background worker (membership, hint keeper, handoff, anti-entropy) last heard of
// them from its node: who is up, and the handles to reach them. The node sends the peers whose
// state changed as (peer_atom, std::vector<peer_view>), in practice one at a time: with idle
// connections closed and dialed again (actors/node/peers.cpp) peers change a few times a second,
// and a whole list each time would cost every node O(n) per change. A dormant peer (its idle
// connection closed) is alive but has no handles: wake() asks the node to connect to it again,
// and a later view has it up.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "messages/interfaces.hpp"

namespace actorkv {

class peer_directory {
public:
  /// Takes the node's latest views of the peers listed (the others stay as they were); `node` is
  /// the sender, asked to wake dormant peers.
  void update(std::vector<peer_view> peers, peer_waker_actor node = {}) {
    for (auto& p : peers) {
      woken_.erase(p.name);
      auto name = p.name;
      by_name_.insert_or_assign(std::move(name), std::move(p));
    }
    if (node)
      node_ = std::move(node);
  }

  /// Whether the peer named `name` is up or dormant: alive as far as the node knows.
  bool alive(const std::string& name) const {
    auto it = by_name_.find(name);
    return it != by_name_.end() && (it->second.up || it->second.dormant);
  }

  /// Asks the node, as `self` (the node checks that the sender is one of its own), to connect to
  /// the peer named `name` again when it is dormant (once until its next view, which tells how it
  /// went); false when it is not dormant.
  template <class Self>
  bool wake(Self* self, const std::string& name) {
    auto it = by_name_.find(name);
    if (it == by_name_.end() || !it->second.dormant || !node_)
      return false;
    if (woken_.insert(name).second)
      self->request(node_, wake_timeout, wake_atom::value, name)
          .then([](caf::ok_atom) {}, [](caf::error&) {}); // the next view tells
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
  /// A wake is a dial and a handshake, each bounded by the node (5 s for the connect).
  static constexpr auto wake_timeout = std::chrono::seconds(30);

  std::map<std::string, peer_view> by_name_;
  peer_waker_actor node_;
  std::set<std::string> woken_; ///< dormant peers asked for since their last view
};

} // namespace actorkv
