#include "actors/node/vnode.hpp"

#include <caf/all.hpp>

#include "actors/node/background_gate.hpp"
#include "actors/node/fault_gate.hpp"

namespace actorkv {

namespace {

using vnode_impl = local_vnode_actor::extend<caf::reacts_to<held_atom, uint64_t>>;

struct vnode_state {
  static inline const char* name = "vnodes";
  fault_gate gate;
};

using self_ptr = vnode_impl::stateful_pointer<vnode_state>;

vnode_impl::behavior_type vnode_behavior(self_ptr self, storage_actor storage,
                                         std::shared_ptr<background_gate> background) {
  // Storage is local and detached: delegate so its answer goes straight back to the requester.
  // Storage checks the partition (ec::bad_request when there is no such partition).
  return {
      [=](read_atom, partition_id p, const bytes& key) {
        return gated_delegate<replica_read>(self, storage, read_atom::value, p, key);
      },
      [=](merge_atom, partition_id p, const bytes& key, const record& rec) {
        return gated_delegate<record>(self, storage, merge_atom::value, p, key, rec);
      },
      [=](tree_atom, partition_id p, uint32_t depth) {
        return gated_delegate<std::vector<uint64_t>>(self, storage, tree_atom::value, p, depth);
      },
      [=](leafkeys_atom, partition_id p, const std::vector<uint64_t>& leaves) {
        return gated_delegate<std::vector<key_digest>>(self, storage, leafkeys_atom::value, p,
                                                       leaves);
      },
      [=](pace_atom) {
        return gated_answer<uint32_t>(self, [=]() -> caf::expected<uint32_t> {
          if (!background)
            return uint32_t{0};
          return static_cast<uint32_t>(background->pause(self->clock().now()).count());
        });
      },
      [=](fault_atom, fault_rules& rules) { self->state.gate.set(std::move(rules)); },
      [=](held_atom, uint64_t id) { self->state.gate.release(id); },
  };
}

} // namespace

local_vnode_actor spawn_vnode(caf::actor_system& sys, storage_actor storage,
                              std::shared_ptr<background_gate> background) {
  return sys.spawn(vnode_behavior, std::move(storage), std::move(background));
}

} // namespace actorkv
