#include "actors/vnode.hpp"

#include <caf/all.hpp>

namespace actorkv {

namespace {

struct vnode_state {
  static inline const char* name = "vnode";
  partition_id partition = 0;
  storage_actor storage;
};

vnode_actor::behavior_type vnode_behavior(vnode_actor::stateful_pointer<vnode_state> self,
                                          partition_id partition, storage_actor storage) {
  self->state.partition = partition;
  self->state.storage = storage;
  // Storage is local and detached: delegate so its answer goes straight back to the requester.
  return {
    [=](read_atom, const bytes& key) {
      return self->delegate(self->state.storage, read_atom::value, self->state.partition, key);
    },
    [=](coord_atom, const write_op& op, const std::string& hint_target) {
      return self->delegate(self->state.storage, coord_atom::value, self->state.partition, op,
                            hint_target);
    },
    [=](merge_atom, const bytes& key, const record& rec) {
      return self->delegate(self->state.storage, merge_atom::value, self->state.partition, key,
                            rec);
    },
    [=](hint_atom, const std::string& target, const bytes& key, const record& rec) {
      return self->delegate(self->state.storage, hint_atom::value, self->state.partition, target,
                            key, rec);
    },
    [=](tree_atom, uint32_t depth) {
      return self->delegate(self->state.storage, tree_atom::value, self->state.partition, depth);
    },
    [=](leafkeys_atom, const std::vector<uint64_t>& leaves) {
      return self->delegate(self->state.storage, leafkeys_atom::value, self->state.partition,
                            leaves);
    },
  };
}

} // namespace

vnode_actor spawn_vnode(caf::actor_system& sys, partition_id partition, storage_actor storage) {
  return sys.spawn(vnode_behavior, partition, std::move(storage));
}

} // namespace actorkv
