#include "actors/node/peer_link.hpp"

#include <memory>

#include <caf/all.hpp>

#include "actors/batching/batch_outbox.hpp"
#include "actors/batching/pending_calls.hpp"
#include "actors/node/fault_gate.hpp"

namespace actorkv {

namespace {

/// How often a link looks for requests whose answer is overdue.
constexpr auto sweep_interval = std::chrono::milliseconds{250};

// --- the link (sending side) -------------------------------------------------------------------

using link_impl =
    peer_link_actor::extend<caf::reacts_to<caf::flush_atom>, caf::reacts_to<caf::tick_atom>>;

struct link_state {
  static inline const char* name = "peer_link";
  replica_gateway_actor gateway;
  std::chrono::milliseconds timeout{5000};
  batch_outbox<replica_gateway_actor, replica_call> outbox;
  pending_calls<replica_answer> pending{sweep_interval};
};

using link_ptr = link_impl::stateful_pointer<link_state>;

void enqueue(link_ptr self, replica_call call, std::function<void(replica_answer&)> settle) {
  auto& st = self->state;
  call.id = st.pending.add(self, st.timeout, std::move(settle));
  if (st.outbox.add(self, st.gateway, std::move(call)))
    self->send(self, caf::flush_atom::value);
}

link_impl::behavior_type link_behavior(link_ptr self, replica_gateway_actor gateway,
                                       std::chrono::milliseconds timeout) {
  self->state.gateway = gateway;
  self->state.timeout = timeout;
  self->monitor(gateway);
  self->set_down_handler([=](caf::down_msg&) {
    self->state.pending.fail_all(caf::sec::request_receiver_down);
    self->quit();
  });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    self->state.pending.fail_all(caf::sec::request_receiver_down);
    self->quit(std::move(msg.reason));
  });
  return {
      [=](batch_atom,
          std::vector<replica_call>& calls) -> caf::result<std::vector<replica_answer>> {
        if (calls.empty())
          return std::vector<replica_answer>{};
        // The requester's batch is answered as a whole, in its order and with its ids.
        struct gathering {
          caf::typed_response_promise<std::vector<replica_answer>> rp;
          std::vector<replica_answer> answers;
          size_t left = 0;
        };
        auto g = std::make_shared<gathering>();
        g->rp = self->make_response_promise<std::vector<replica_answer>>();
        g->answers.resize(calls.size());
        g->left = calls.size();
        for (size_t i = 0; i < calls.size(); ++i) {
          auto requester_id = calls[i].id;
          enqueue(self, std::move(calls[i]), [g, i, requester_id](replica_answer& a) {
            a.id = requester_id;
            g->answers[i] = std::move(a);
            if (--g->left == 0)
              g->rp.deliver(std::move(g->answers));
          });
        }
        return g->rp;
      },
      [=](batch_atom, std::vector<replica_answer>& answers) {
        self->state.pending.settle(answers);
      },
      [=](caf::flush_atom) { self->state.outbox.flush(self); },
      [=](caf::tick_atom) { self->state.pending.sweep(self, caf::sec::request_timeout); },
  };
}

// --- the gateway (receiving side) --------------------------------------------------------------

using gateway_impl = local_gateway_actor::extend<caf::reacts_to<caf::flush_atom>,
                                                  caf::reacts_to<held_atom, uint64_t>>;

struct gateway_state {
  static inline const char* name = "replica_gateway";
  storage_actor storage;
  fault_gate gate;
  batch_outbox<peer_link_actor, replica_answer> answers;
};

using gateway_ptr = gateway_impl::stateful_pointer<gateway_state>;

void answer(gateway_ptr self, const peer_link_actor& link, replica_answer a) {
  if (self->state.answers.add(self, link, std::move(a)))
    self->send(self, caf::flush_atom::value);
}

/// Runs a peer's batch against storage as one batch, and queues the answers for its link.
void serve(gateway_ptr self, const peer_link_actor& link, std::vector<replica_call>& calls) {
  std::vector<uint64_t> ids;
  ids.reserve(calls.size());
  for (auto& c : calls)
    ids.push_back(c.id);
  self->request(self->state.storage, caf::infinite, batch_atom::value, std::move(calls))
      .then(
          [=](std::vector<replica_answer>& answers) {
            for (auto& a : answers)
              answer(self, link, std::move(a));
          },
          [=](caf::error& err) {
            for (auto id : ids) {
              replica_answer a;
              a.id = id;
              a.err = err;
              answer(self, link, std::move(a));
            }
          });
}

gateway_impl::behavior_type gateway_behavior(gateway_ptr self, storage_actor storage) {
  self->state.storage = std::move(storage);
  return {
      [=](batch_atom, std::vector<replica_call>& calls) {
        auto& sender = self->current_sender();
        if (!sender)
          return;
        auto link = caf::actor_cast<peer_link_actor>(sender);
        auto rule = self->state.gate.check(sender);
        if (rule.drop)
          return; // never answered: the requests time out, as across a cut link
        if (rule.delay_ms == 0) {
          serve(self, link, calls);
          return;
        }
        self->state.gate.hold(self, std::chrono::milliseconds{rule.delay_ms},
                              [=]() mutable { serve(self, link, calls); });
      },
      [=](caf::flush_atom) { self->state.answers.flush(self); },
      [=](fault_atom, fault_rules& rules) { self->state.gate.set(std::move(rules)); },
      [=](held_atom, uint64_t id) { self->state.gate.release(id); },
  };
}

} // namespace

peer_link_actor spawn_peer_link(caf::actor_system& sys, replica_gateway_actor gateway,
                                std::chrono::milliseconds timeout) {
  return sys.spawn(link_behavior, std::move(gateway), timeout);
}

local_gateway_actor spawn_replica_gateway(caf::actor_system& sys, storage_actor storage) {
  return sys.spawn(gateway_behavior, std::move(storage));
}

} // namespace actorkv
