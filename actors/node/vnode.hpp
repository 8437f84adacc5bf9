// The vnode: one partition's replica on this node, the address peers use for that partition.
// It forwards reads and writes to the storage actor under its partition id; anti-entropy and
// handoff attach here as they arrive. Injected link faults (link_faults.hpp) apply here.
#pragma once

#include <memory>

#include "actors/node/link_faults.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

/// `faults` (shared with the node) says which peers' requests to drop or delay.
vnode_actor spawn_vnode(caf::actor_system& sys, partition_id partition, storage_actor storage,
                        std::shared_ptr<const link_faults> faults);

} // namespace actorkv
