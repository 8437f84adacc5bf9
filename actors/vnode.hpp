// The vnode: one partition's replica on this node, the address peers use for that partition.
// It forwards reads and writes to the storage actor under its partition id; anti-entropy and
// handoff attach here as they arrive.
#pragma once

#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

vnode_actor spawn_vnode(caf::actor_system& sys, partition_id partition, storage_actor storage);

} // namespace actorkv
