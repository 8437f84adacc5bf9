#include "actors/peer_link.hpp"

#include <caf/all.hpp>

#include "actors/batching.hpp"

namespace actorkv {

namespace {

/// How often a link looks for requests whose answer is overdue.
constexpr auto sweep_interval = std::chrono::milliseconds{250};

size_t record_bytes(const record& rec) {
  size_t n = 0;
  for (auto& s : rec.siblings)
    n += s.value.size() + 32;
  return n + rec.context.entries.size() * 16;
}

size_t call_bytes(const replica_call& c) {
  return 64 + c.key.size() + c.op.key.size() + c.op.value.size() + record_bytes(c.rec);
}

size_t answer_bytes(const replica_answer& a) {
  return 64 + record_bytes(a.read.rec) + record_bytes(a.rec);
}

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
  auto size = call_bytes(call);
  if (st.outbox.add(self, st.gateway, std::move(call), size))
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
      [=](read_atom, partition_id p, bytes& key) {
        auto rp = self->make_response_promise<replica_read>();
        replica_call c;
        c.kind = replica_call_kind::read;
        c.partition = p;
        c.key = std::move(key);
        enqueue(self, std::move(c), deliver_to<replica_answer>(rp, [](replica_answer& a) {
                  return std::move(a.read);
                }));
        return rp;
      },
      [=](coord_atom, partition_id p, write_op& op, std::string& hint_target) {
        auto rp = self->make_response_promise<record>();
        replica_call c;
        c.kind = replica_call_kind::coord;
        c.partition = p;
        c.op = std::move(op);
        c.target = std::move(hint_target);
        enqueue(self, std::move(c),
                deliver_to<replica_answer>(rp, [](replica_answer& a) { return std::move(a.rec); }));
        return rp;
      },
      [=](merge_atom, partition_id p, bytes& key, record& rec) {
        auto rp = self->make_response_promise<record>();
        replica_call c;
        c.kind = replica_call_kind::merge;
        c.partition = p;
        c.key = std::move(key);
        c.rec = std::move(rec);
        enqueue(self, std::move(c),
                deliver_to<replica_answer>(rp, [](replica_answer& a) { return std::move(a.rec); }));
        return rp;
      },
      [=](hint_atom, partition_id p, std::string& target, bytes& key, record& rec) {
        auto rp = self->make_response_promise<caf::ok_atom>();
        replica_call c;
        c.kind = replica_call_kind::hint;
        c.partition = p;
        c.target = std::move(target);
        c.key = std::move(key);
        c.rec = std::move(rec);
        enqueue(self, std::move(c), deliver_to<replica_answer>(rp, [](replica_answer&) {
                  return caf::ok_atom::value;
                }));
        return rp;
      },
      [=](batch_atom, std::vector<replica_answer>& answers) {
        self->state.pending.settle(answers);
      },
      [=](caf::flush_atom) { self->state.outbox.flush(self); },
      [=](caf::tick_atom) { self->state.pending.sweep(self, caf::sec::request_timeout); },
  };
}

// --- the gateway (receiving side) --------------------------------------------------------------

/// A batch held back by an injected delay comes back to the gateway as a tick.
using gateway_impl = replica_gateway_actor::extend<
    caf::reacts_to<caf::flush_atom>,
    caf::reacts_to<caf::tick_atom, peer_link_actor, std::vector<replica_call>>>;

struct gateway_state {
  static inline const char* name = "replica_gateway";
  storage_actor storage;
  std::shared_ptr<const link_faults> faults;
  batch_outbox<peer_link_actor, replica_answer> answers;
};

using gateway_ptr = gateway_impl::stateful_pointer<gateway_state>;

void answer(gateway_ptr self, const peer_link_actor& link, replica_answer a) {
  auto size = answer_bytes(a);
  if (self->state.answers.add(self, link, std::move(a), size))
    self->send(self, caf::flush_atom::value);
}

void serve(gateway_ptr self, const peer_link_actor& link, std::vector<replica_call>& calls) {
  auto& storage = self->state.storage;
  for (auto& c : calls) {
    auto reply = [=, id = c.id](replica_answer a) {
      a.id = id;
      answer(self, link, std::move(a));
    };
    auto failed = [=](caf::error& err) {
      replica_answer a;
      a.err = std::move(err);
      reply(std::move(a));
    };
    auto with_record = [=](record& rec) {
      replica_answer a;
      a.rec = std::move(rec);
      reply(std::move(a));
    };
    switch (c.kind) {
    case replica_call_kind::read:
      self->request(storage, caf::infinite, read_atom::value, c.partition, std::move(c.key))
          .then(
              [=](replica_read& rr) {
                replica_answer a;
                a.read = std::move(rr);
                reply(std::move(a));
              },
              failed);
      break;
    case replica_call_kind::coord:
      self->request(storage, caf::infinite, coord_atom::value, c.partition, std::move(c.op),
                    std::move(c.target))
          .then(with_record, failed);
      break;
    case replica_call_kind::merge:
      self->request(storage, caf::infinite, merge_atom::value, c.partition, std::move(c.key),
                    std::move(c.rec))
          .then(with_record, failed);
      break;
    case replica_call_kind::hint:
      self->request(storage, caf::infinite, hint_atom::value, c.partition, std::move(c.target),
                    std::move(c.key), std::move(c.rec))
          .then([=](caf::ok_atom) { reply(replica_answer{}); }, failed);
      break;
    }
  }
}

gateway_impl::behavior_type gateway_behavior(gateway_ptr self, storage_actor storage,
                                             std::shared_ptr<const link_faults> faults) {
  self->state.storage = std::move(storage);
  self->state.faults = std::move(faults);
  return {
      [=](batch_atom, std::vector<replica_call>& calls) {
        auto& sender = self->current_sender();
        if (!sender)
          return;
        auto link = caf::actor_cast<peer_link_actor>(sender);
        auto fault = self->state.faults->check(sender->node());
        if (fault.drop)
          return; // never answered: the requests time out, as across a cut link
        if (fault.delay.count() == 0) {
          serve(self, link, calls);
          return;
        }
        self->delayed_send(self, fault.delay, caf::tick_atom::value, link, std::move(calls));
      },
      [=](caf::tick_atom, const peer_link_actor& link, std::vector<replica_call>& calls) {
        serve(self, link, calls);
      },
      [=](caf::flush_atom) { self->state.answers.flush(self); },
  };
}

} // namespace

peer_link_actor spawn_peer_link(caf::actor_system& sys, replica_gateway_actor gateway,
                                std::chrono::milliseconds timeout) {
  return sys.spawn(link_behavior, std::move(gateway), timeout);
}

replica_gateway_actor spawn_replica_gateway(caf::actor_system& sys, storage_actor storage,
                                            std::shared_ptr<const link_faults> faults) {
  return sys.spawn(gateway_behavior, std::move(storage), std::move(faults));
}

} // namespace actorkv
