#include "actors/node/coordinator.hpp"

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include <caf/all.hpp>

#include "actors/batching/batch_outbox.hpp"
#include "cluster-config/quorum.hpp"
#include "cluster-config/ring.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

/// The flush of the batches built while working through the mailbox is private.
using coordinator_impl = coordinator_actor::extend<caf::reacts_to<caf::flush_atom>>;

using answer_fn = std::function<void(replica_answer&)>;
using plan_ptr = std::shared_ptr<const coordination_plan>;

/// Where a request's outcome goes: its client's batch of answers.
using outcome_fn = std::function<void(client_answer&)>;

/// Calls for one destination, waiting for the flush.
struct outgoing_batch {
  replica_batch_actor to;
  std::vector<replica_call> calls;
  std::vector<answer_fn> settle; ///< by call, in order
  size_t bytes = 0;              ///< estimated_wire_bytes of the calls
};

/// A batch sent and not yet answered.
struct batch_in_flight {
  caf::actor_addr to;
  std::vector<answer_fn> settle; ///< by call, in order
};

struct coordinator_state {
  static inline const char* name = "coordinator";
  wall_clock now_us; ///< stamps writes for last-writer-wins
  std::chrono::milliseconds request_timeout{5000};
  std::vector<plan_ptr> plans; ///< by partition
  caf::actor_addr local;       ///< this node's storage
  uint32_t max_key_bytes = 0;
  uint32_t max_value_bytes = 0;
  std::map<caf::actor_addr, outgoing_batch> outgoing;
  std::unordered_map<uint64_t, batch_in_flight> in_flight; ///< by batch number
  uint64_t last_batch = 0;
  bool flush_scheduled = false;
  batch_outbox<client_answers_actor, client_answer> client_answers;
};

using self_ptr = coordinator_impl::stateful_pointer<coordinator_state>;

void schedule_flush(self_ptr self) {
  if (self->state.flush_scheduled)
    return;
  self->state.flush_scheduled = true;
  self->send(self, caf::flush_atom::value);
}

/// Hands the answers of batch `id` to its calls, in order, or `err` to each; nothing when the
/// batch was failed already (its destination went away).
void settle_batch(self_ptr self, uint64_t id, std::vector<replica_answer>* answers,
                  const caf::error& err) {
  auto& in_flight = self->state.in_flight;
  auto it = in_flight.find(id);
  if (it == in_flight.end())
    return;
  auto fns = std::move(it->second.settle);
  in_flight.erase(it);
  for (size_t i = 0; i < fns.size(); ++i) {
    replica_answer failed;
    if (!answers)
      failed.err = err;
    else if (i >= answers->size())
      failed.err = caf::make_error(ec::bad_request, "no answer in the batch");
    fns[i](answers && i < answers->size() ? (*answers)[i] : failed);
  }
}

/// Sends a destination what accumulated for it as one request, bounded by the request timeout.
void send_batch(self_ptr self, outgoing_batch& out) {
  auto& st = self->state;
  auto id = ++st.last_batch;
  st.in_flight.emplace(id, batch_in_flight{out.to.address(), std::move(out.settle)});
  self->request(out.to, st.request_timeout, batch_atom::value, std::move(out.calls))
      .then([=](std::vector<replica_answer>& answers) { settle_batch(self, id, &answers, {}); },
            [=](caf::error& err) { settle_batch(self, id, nullptr, err); });
  out.calls = {};
  out.settle = {};
  out.bytes = 0;
}

/// Sends every destination its batch, and every client its answers.
void flush(self_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  for (auto& entry : st.outgoing)
    if (!entry.second.calls.empty())
      send_batch(self, entry.second);
  st.outgoing.clear(); // holds no destination's handle longer than needed
  st.client_answers.flush(self);
}

/// Asks a replica (this node's storage, or a peer's gateway) in the batch for it that goes at the
/// flush, or at once when the batch has grown to max_batch_bytes (so that it stays well under
/// the receiving node's max_frame_bytes). `on_answer` runs exactly once: with the answer, or
/// with the error that stands in for it (a timeout, the destination gone).
void ask(self_ptr self, const replica_target& target, replica_call call, answer_fn on_answer) {
  call.partition = target.partition;
  auto size = estimated_wire_bytes(call);
  auto& out = self->state.outgoing[target.via.address()];
  if (!out.to)
    out.to = target.via;
  if (!out.calls.empty() && out.bytes + size > max_batch_bytes)
    send_batch(self, out);
  if (out.calls.capacity() == 0) {
    out.calls.reserve(initial_batch_items);
    out.settle.reserve(initial_batch_items);
  }
  out.bytes += size;
  out.calls.push_back(std::move(call));
  out.settle.push_back(std::move(on_answer));
  schedule_flush(self);
}

/// Batches in flight to a peer that is no longer among the routes (it went down, or stopped
/// answering probes) fail at once: their calls may have been applied, or not.
void fail_gone_destinations(self_ptr self) {
  auto& st = self->state;
  std::set<caf::actor_addr> routed;
  for (auto& plan : st.plans) {
    for (auto& t : plan->replicas)
      routed.insert(t.via.address());
    for (auto& t : plan->joining)
      routed.insert(t.via.address());
  }
  std::vector<uint64_t> gone;
  for (auto& [id, batch] : st.in_flight)
    if (batch.to != st.local && routed.count(batch.to) == 0)
      gone.push_back(id);
  for (auto id : gone)
    settle_batch(self, id, nullptr, caf::sec::request_receiver_down);
}

caf::error check_key(self_ptr self, const bytes& key) {
  if (key.empty())
    return caf::make_error(ec::empty_key, "keys must hold at least one byte");
  auto limit = self->state.max_key_bytes;
  if (key.size() > limit)
    return caf::make_error(ec::key_too_large, "key is " + std::to_string(key.size()) +
                                                  " bytes, the limit is " + std::to_string(limit));
  return caf::none;
}

caf::error check_value(self_ptr self, const bytes& value) {
  auto limit = self->state.max_value_bytes;
  if (value.size() > limit)
    return caf::make_error(ec::value_too_large, "value is " + std::to_string(value.size()) +
                                                    " bytes, the limit is " +
                                                    std::to_string(limit));
  return caf::none;
}

/// The plan of the key's partition, or why there is none.
caf::expected<plan_ptr> plan_of(self_ptr self, const bytes& key) {
  auto& plans = self->state.plans;
  if (plans.empty())
    return caf::make_error(ec::unavailable, "this node does not know the ring yet");
  return plans[partition_of(key, static_cast<uint32_t>(plans.size()))];
}

/// Hands a request's outcome (its error, or its reply) to its client.
template <class Reply>
void finish(const outcome_fn& done, caf::expected<Reply> reply) {
  client_answer a;
  if (!reply)
    a.err = std::move(reply.error());
  else if constexpr (std::is_same_v<Reply, get_reply>)
    a.get = std::move(*reply);
  else
    a.write = *reply;
  done(a);
}

// --- get ---------------------------------------------------------------------------------------

struct read_round {
  read_round(plan_ptr p, std::vector<const replica_target*> targets, outcome_fn d, bytes k)
      : plan(std::move(p)), asked(std::move(targets)), done(std::move(d)), key(std::move(k)),
        tally(static_cast<uint32_t>(asked.size()), plan->read_quorum, plan->replicas_total,
              plan->conflicts) {}
  plan_ptr plan;
  std::vector<const replica_target*> asked; ///< the home replicas (fallbacks hold only hints)
  outcome_fn done;
  bytes key;
  read_tally tally;
};

/// After each answer: reply once due; once every replica answered, repair the stale ones (fire
/// and forget: the reconciled record is merged there).
void on_read_answer(self_ptr self, const std::shared_ptr<read_round>& rd) {
  if (auto reply = rd->tally.take_reply())
    finish(rd->done, std::move(*reply));
  if (!rd->tally.complete())
    return;
  for (auto i : rd->tally.stale()) {
    replica_call c;
    c.kind = replica_call_kind::merge;
    c.key = rd->key;
    c.rec = rd->tally.merged();
    ask(self, *rd->asked[i], std::move(c), [](replica_answer&) {});
  }
}

void start_get(self_ptr self, bytes key, outcome_fn done) {
  if (auto err = check_key(self, key))
    return finish<get_reply>(done, std::move(err));
  auto plan = plan_of(self, key);
  if (!plan)
    return finish<get_reply>(done, std::move(plan.error()));
  std::vector<const replica_target*> asked;
  for (auto& t : (*plan)->replicas)
    if (t.hint_for.empty())
      asked.push_back(&t);
  auto& p = **plan;
  if (asked.size() < p.read_quorum)
    return finish<get_reply>(done, too_few_replicas(asked.size(), p.replicas_total, p.read_quorum));
  auto rd = std::make_shared<read_round>(std::move(*plan), std::move(asked), std::move(done),
                                         std::move(key));
  for (size_t i = 0; i < rd->asked.size(); ++i) {
    replica_call c;
    c.kind = replica_call_kind::read;
    c.key = rd->key;
    ask(self, *rd->asked[i], std::move(c), [self, rd, i](replica_answer& a) {
      if (a.err)
        rd->tally.failed(i);
      else
        rd->tally.answered(i, rd->asked[i]->node, std::move(a.read));
      on_read_answer(self, rd);
    });
  }
}

// --- put / delete ------------------------------------------------------------------------------

struct write_round {
  write_round(plan_ptr p, outcome_fn d, write_op o)
      : plan(std::move(p)), done(std::move(d)), op(std::move(o)),
        tally(static_cast<uint32_t>(plan->replicas.size()), plan->write_quorum,
              plan->replicas_total) {}
  plan_ptr plan;
  outcome_fn done;
  write_op op;
  write_tally tally;
};

void reply_if_due(const std::shared_ptr<write_round>& wr) {
  if (auto reply = wr->tally.take_reply())
    finish(wr->done, std::move(*reply));
}

/// The coordinating replica stored `rec`: the replicas after it get it (merged at home replicas,
/// held as hints at fallbacks), and so do the replicas a change under way adds.
void replicate(self_ptr self, const std::shared_ptr<write_round>& wr, const record& rec) {
  auto& plan = *wr->plan;
  for (size_t i = wr->tally.coordinator() + 1; i < plan.replicas.size(); ++i) {
    auto& target = plan.replicas[i];
    replica_call c;
    c.kind = target.hint_for.empty() ? replica_call_kind::merge : replica_call_kind::hint;
    c.target = target.hint_for;
    c.key = wr->op.key;
    c.rec = rec;
    ask(self, target, std::move(c), [wr](replica_answer& a) {
      if (a.err)
        wr->tally.failed(std::move(a.err));
      else
        wr->tally.acked();
      reply_if_due(wr);
    });
  }
  for (auto& target : plan.joining) {
    replica_call c;
    c.kind = replica_call_kind::merge;
    c.key = wr->op.key;
    c.rec = rec;
    ask(self, target, std::move(c), [](replica_answer&) {});
  }
}

/// Asks replica `i` to coordinate the write: store it under its own dot and return the record.
void ask_coordinator(self_ptr self, const std::shared_ptr<write_round>& wr, size_t i) {
  auto& target = wr->plan->replicas[i];
  replica_call c;
  c.kind = replica_call_kind::coord;
  c.op = wr->op;
  c.target = target.hint_for;
  ask(self, target, std::move(c), [self, wr](replica_answer& a) {
    if (!a.err) {
      wr->tally.coordinated();
      replicate(self, wr, a.rec);
    } else if (auto next = wr->tally.coordinator_failed(std::move(a.err))) {
      // The next replica may coordinate: each dot is new, so a retry of a write that did land
      // at the failed one at most shows the value twice, never loses one.
      ask_coordinator(self, wr, *next);
    }
    reply_if_due(wr);
  });
}

void start_write(self_ptr self, write_op op, const bytes& context, outcome_fn done) {
  auto err = check_key(self, op.key);
  if (!err && !op.tombstone)
    err = check_value(self, op.value);
  if (err)
    return finish<write_reply>(done, std::move(err));
  auto plan = plan_of(self, op.key);
  if (!plan)
    return finish<write_reply>(done, std::move(plan.error()));
  auto& p = **plan;
  if (p.replicas.size() < p.write_quorum)
    return finish<write_reply>(
        done, too_few_replicas(p.replicas.size(), p.replicas_total, p.write_quorum));
  if (!context.empty()) {
    auto vv = dvv::decode_context(context);
    if (!vv)
      return finish<write_reply>(
          done, caf::make_error(ec::bad_context,
                                "the context does not decode; pass it as get printed it"));
    op.context = std::move(*vv);
  }
  op.timestamp_us = self->state.now_us();
  auto wr = std::make_shared<write_round>(std::move(*plan), std::move(done), std::move(op));
  wr->tally.coordinating(0);
  ask_coordinator(self, wr, 0);
}

/// Serves one call of a client's batch; its answer joins the batch going back to that client.
void serve_client_call(self_ptr self, const client_answers_actor& to, client_call& call) {
  auto reply = [self, to, id = call.id](client_answer& a) {
    a.id = id;
    if (self->state.client_answers.add(self, to, std::move(a)))
      schedule_flush(self);
  };
  write_op op;
  switch (call.kind) {
  case client_call_kind::get:
    start_get(self, std::move(call.key), reply);
    return;
  case client_call_kind::put:
    op.value = std::move(call.value);
    break;
  case client_call_kind::del:
    op.tombstone = true;
    break;
  }
  op.key = std::move(call.key);
  start_write(self, std::move(op), call.context, reply);
}

void take_routes(self_ptr self, routes& r) {
  auto& st = self->state;
  st.plans.clear();
  for (auto& plan : r.plans)
    st.plans.push_back(std::make_shared<const coordination_plan>(std::move(plan)));
  st.local = r.local.address();
  st.max_key_bytes = r.max_key_bytes;
  st.max_value_bytes = r.max_value_bytes;
  fail_gone_destinations(self);
}

coordinator_impl::behavior_type coordinator_behavior(self_ptr self, coordinator_options options) {
  self->state.now_us = std::move(options.now_us);
  self->state.request_timeout = options.request_timeout;
  take_routes(self, options.initial);
  return {
      [=](batch_atom, std::vector<client_call>& calls) {
        auto& sender = self->current_sender();
        if (!sender)
          return; // nowhere to answer
        auto to = caf::actor_cast<client_answers_actor>(sender);
        for (auto& call : calls)
          serve_client_call(self, to, call);
      },
      [=](routes_atom, routes& r) { take_routes(self, r); },
      [=](caf::flush_atom) { flush(self); },
  };
}

} // namespace

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_options options) {
  return sys.spawn(coordinator_behavior, std::move(options));
}

} // namespace actorkv
