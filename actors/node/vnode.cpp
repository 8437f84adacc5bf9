#include "actors/node/vnode.hpp"

#include <functional>
#include <map>

#include <caf/all.hpp>

namespace actorkv {

namespace {

/// Delayed answers (fault injection) come back through a private timer.
using vnode_impl = vnode_actor::extend<caf::reacts_to<caf::tick_atom, uint64_t>>;

struct vnode_state {
  static inline const char* name = "vnode";
  partition_id partition = 0;
  storage_actor storage;
  std::shared_ptr<const link_faults> faults;
  uint64_t next_delayed = 0;
  std::map<uint64_t, std::function<void()>> delayed;
};

using self_ptr = vnode_impl::stateful_pointer<vnode_state>;

/// Serves a request through storage, unless an injected fault drops or delays it.
template <class T, class... Ts>
caf::result<T> serve(self_ptr self, Ts... xs) {
  auto& st = self->state;
  auto& sender = self->current_sender();
  auto fault = sender ? st.faults->check(sender->node()) : link_faults::verdict{};
  if (fault.drop)
    return self->make_response_promise<T>(); // never answered: the peer sees a timeout
  if (fault.delay.count() == 0)
    return self->delegate(st.storage, xs...);
  auto rp = self->make_response_promise<T>();
  auto id = ++st.next_delayed;
  st.delayed[id] = [=]() mutable {
    self->request(self->state.storage, caf::infinite, xs...)
        .then([=](T& r) mutable { rp.deliver(std::move(r)); },
              [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  };
  self->delayed_send(self, fault.delay, caf::tick_atom::value, id);
  return rp;
}

vnode_impl::behavior_type vnode_behavior(self_ptr self, partition_id partition,
                                         storage_actor storage,
                                         std::shared_ptr<const link_faults> faults) {
  self->state.partition = partition;
  self->state.storage = storage;
  self->state.faults = std::move(faults);
  auto p = partition;
  // Storage is local and detached: delegate so its answer goes straight back to the requester.
  return {
      [=](read_atom, const bytes& key) {
        return serve<replica_read>(self, read_atom::value, p, key);
      },
      [=](merge_atom, const bytes& key, const record& rec) {
        return serve<record>(self, merge_atom::value, p, key, rec);
      },
      [=](tree_atom, uint32_t depth) {
        return serve<std::vector<uint64_t>>(self, tree_atom::value, p, depth);
      },
      [=](leafkeys_atom, const std::vector<uint64_t>& leaves) {
        return serve<std::vector<key_digest>>(self, leafkeys_atom::value, p, leaves);
      },
      [=](caf::tick_atom, uint64_t id) {
        auto it = self->state.delayed.find(id);
        if (it == self->state.delayed.end())
          return;
        auto run = std::move(it->second);
        self->state.delayed.erase(it);
        run();
      },
  };
}

} // namespace

vnode_actor spawn_vnode(caf::actor_system& sys, partition_id partition, storage_actor storage,
                        std::shared_ptr<const link_faults> faults) {
  return sys.spawn(vnode_behavior, partition, std::move(storage), std::move(faults));
}

} // namespace actorkv
