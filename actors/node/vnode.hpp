// The vnodes: this node's replicas of its partitions, the one address peers' background work
// (handoff, anti-entropy, hint delivery, tombstone collection) uses for any of them; each message
// names its partition. One actor per node, not one per partition: a vnode held no state of its
// own (storage keeps each partition's records and Merkle leaves), and one per partition cost
// every node Q actors and every peer Q handles of it. It serves reads and writes from the storage
// actor, held back by injected faults (actors/node/fault_gate.hpp) as its node tells it, and
// tells peers' anti-entropy the pause its node's pace asks (pace_atom, actors/node/anti_entropy.cpp).
#pragma once

#include <memory>

#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

class background_gate; // actors/node/background_gate.hpp

/// A vnode as its node holds it: peers get the vnode_actor part, the node also sets its faults.
using local_vnode_actor = vnode_actor::extend_with<fault_listener_actor>;

/// `background`: the node's pace, whose pause peers are told (null: none, they are told 0).
local_vnode_actor spawn_vnode(caf::actor_system& sys, storage_actor storage,
                              std::shared_ptr<background_gate> background = nullptr);

} // namespace actorkv
