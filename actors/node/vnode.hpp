// The vnode: one partition's replica on this node, the address peers' background work (handoff,
// anti-entropy, hint delivery) uses for that partition. It serves reads and writes from the
// storage actor under its partition id, held back by injected faults (actors/node/fault_gate.hpp)
// as its node tells it.
#pragma once

#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

/// A vnode as its node holds it: peers get the vnode_actor part, the node also sets its faults.
using local_vnode_actor = vnode_actor::extend_with<fault_listener_actor>;

local_vnode_actor spawn_vnode(caf::actor_system& sys, partition_id partition,
                              storage_actor storage);

} // namespace actorkv
