#include "actors/node/replica_gateway.hpp"

#include <caf/all.hpp>

#include "actors/node/fault_gate.hpp"

namespace actorkv {

namespace {

using gateway_impl = local_gateway_actor::extend<caf::reacts_to<held_atom, uint64_t>>;

struct gateway_state {
  static inline const char* name = "replica_gateway";
  fault_gate gate;
};

using self_ptr = gateway_impl::stateful_pointer<gateway_state>;

gateway_impl::behavior_type gateway_behavior(self_ptr self, storage_actor storage) {
  return {
      [=](batch_atom, std::vector<replica_call>& calls) {
        return gated_delegate<std::vector<replica_answer>>(self, storage, batch_atom::value,
                                                           std::move(calls));
      },
      [=](fault_atom, fault_rules& rules) { self->state.gate.set(std::move(rules)); },
      [=](held_atom, uint64_t id) { self->state.gate.release(id); },
  };
}

} // namespace

local_gateway_actor spawn_replica_gateway(caf::actor_system& sys, storage_actor storage) {
  return sys.spawn(gateway_behavior, std::move(storage));
}

} // namespace actorkv
