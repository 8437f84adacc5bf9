#include "actors/node/replica_gateway.hpp"

#include <algorithm>
#include <memory>

#include <caf/all.hpp>

#include "actors/batching/batch_outbox.hpp"
#include "actors/node/background_gate.hpp"
#include "actors/node/fault_gate.hpp"

namespace actorkv {

namespace {

using gateway_impl = local_gateway_actor::extend<caf::reacts_to<held_atom, uint64_t>>;

struct gateway_state {
  static inline const char* name = "replica_gateway";
  storage_actor storage;
  std::shared_ptr<memory_budget> budget;       ///< null: every batch is served
  std::shared_ptr<background_gate> background; ///< null: service times are not recorded
  fault_gate gate;
  batch_outbox<replica_answers_actor, replica_answer> answers;
};

using self_ptr = gateway_impl::stateful_pointer<gateway_state>;

bool is_write(const replica_call& c) {
  return c.kind != replica_call_kind::read;
}

/// What the batch's writes hold while storage serves them: the calls, and storage's working copy
/// of each record.
uint64_t writes_charge(const std::vector<replica_call>& calls) {
  uint64_t bytes = 0;
  for (auto& c : calls)
    if (is_write(c))
      bytes += held_charge(estimated_wire_bytes(c), 2);
  return bytes;
}

/// Sends `answers` back to `to`, cut into messages of at most max_batch_bytes, at once.
void send_all(self_ptr self, const replica_answers_actor& to,
              std::vector<replica_answer>& answers) {
  auto& outbox = self->state.answers;
  for (auto& a : answers)
    outbox.add(self, to, std::move(a)); // sends a full batch early; no flush to wait for
  outbox.flush(self);
}

/// Runs a peer's batch against storage as one batch and sends the answers back to `to`. Its
/// writes are charged to the memory budget until storage answered; when they do not fit they are
/// answered ec::overloaded at once, unserved, and only its reads go to storage.
void serve(self_ptr self, const replica_answers_actor& to, std::vector<replica_call> calls) {
  auto held = std::make_shared<memory_budget::charge>();
  if (auto& budget = self->state.budget) {
    if (auto bytes = writes_charge(calls); bytes > 0) {
      *held = budget->take(bytes, budget_class::replication);
      if (!*held) {
        auto writes = std::count_if(calls.begin(), calls.end(), is_write);
        auto err = budget->refusal(std::to_string(writes) + " replica writes from a peer", bytes,
                                   budget_class::replication);
        std::vector<replica_answer> refused;
        std::vector<replica_call> reads;
        for (auto& c : calls) {
          if (!is_write(c)) {
            reads.push_back(std::move(c));
            continue;
          }
          refused.emplace_back();
          refused.back().id = c.id;
          refused.back().err = err;
        }
        send_all(self, to, refused);
        if (reads.empty())
          return;
        calls = std::move(reads);
      }
    }
  }
  auto ids = call_ids(calls);
  auto start = self->clock().now();
  self->request(self->state.storage, caf::infinite, batch_atom::value, std::move(calls))
      .then(
          [=](std::vector<replica_answer>& answers) {
            held->release(); // storage has let go of the records
            if (auto& gate = self->state.background) {
              auto now = self->clock().now();
              gate->foreground(now - start, now, answers.size());
            }
            send_all(self, to, answers);
          },
          [=](caf::error& err) {
            held->release();
            auto failed = failed_answers(ids, err);
            send_all(self, to, failed);
          });
}

gateway_impl::behavior_type gateway_behavior(self_ptr self, storage_actor storage,
                                             std::shared_ptr<memory_budget> budget,
                                             std::shared_ptr<background_gate> background) {
  self->state.storage = std::move(storage);
  self->state.budget = std::move(budget);
  self->state.background = std::move(background);
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

local_gateway_actor spawn_replica_gateway(caf::actor_system& sys, storage_actor storage,
                                          std::shared_ptr<memory_budget> budget,
                                          std::shared_ptr<background_gate> background) {
  return sys.spawn(gateway_behavior, std::move(storage), std::move(budget), std::move(background));
}

} // namespace actorkv
