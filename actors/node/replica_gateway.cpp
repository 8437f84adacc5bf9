#include "actors/node/replica_gateway.hpp"

#include <caf/all.hpp>

#include "actors/batching/batch_outbox.hpp"
#include "actors/node/fault_gate.hpp"

namespace actorkv {

namespace {

using gateway_impl = local_gateway_actor::extend<caf::reacts_to<held_atom, uint64_t>>;

struct gateway_state {
  static inline const char* name = "replica_gateway";
  storage_actor storage;
  fault_gate gate;
  batch_outbox<replica_answers_actor, replica_answer> answers;
};

using self_ptr = gateway_impl::stateful_pointer<gateway_state>;

/// Runs a peer's batch against storage as one batch and sends the answers back to `to`, cut into
/// messages of at most max_batch_bytes, at once.
void serve(self_ptr self, const replica_answers_actor& to, std::vector<replica_call> calls) {
  auto ids = call_ids(calls);
  auto send_all = [=](std::vector<replica_answer>& answers) {
    auto& outbox = self->state.answers;
    for (auto& a : answers)
      outbox.add(self, to, std::move(a)); // sends a full batch early; no flush to wait for
    outbox.flush(self);
  };
  self->request(self->state.storage, caf::infinite, batch_atom::value, std::move(calls))
      .then([=](std::vector<replica_answer>& answers) { send_all(answers); },
            [=](caf::error& err) {
              auto failed = failed_answers(ids, err);
              send_all(failed);
            });
}

gateway_impl::behavior_type gateway_behavior(self_ptr self, storage_actor storage) {
  self->state.storage = std::move(storage);
  return {
      [=](batch_atom, std::vector<replica_call>& calls) {
        auto& sender = self->current_sender();
        if (!sender)
          return; // nowhere to answer
        auto to = caf::actor_cast<replica_answers_actor>(sender);
        auto rule = self->state.gate.check(sender);
        if (rule.drop)
          return; // never answered: the calls time out, as across a cut link
        if (rule.delay_ms == 0) {
          serve(self, to, std::move(calls));
          return;
        }
        self->state.gate.hold(self, std::chrono::milliseconds{rule.delay_ms},
                              [=]() mutable { serve(self, to, std::move(calls)); });
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
