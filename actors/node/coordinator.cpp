#include "actors/node/coordinator.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include <caf/all.hpp>

#include "actors/batching/batch_outbox.hpp"
#include "actors/batching/pending_calls.hpp"
#include "cluster-config/ring.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

/// The flush of the batches built while working through the mailbox is private.
using coordinator_impl = coordinator_actor::extend<caf::reacts_to<caf::flush_atom>>;

using answer_fn = std::function<void(replica_answer&)>;
using plan_ptr = std::shared_ptr<const coordination_plan>;

/// Where a request's outcome goes (its response promise, or its client's batch of answers): a
/// client_answer holding the reply or the error, as a client actor gets it from a node.
using outcome_fn = std::function<void(client_answer&)>;

/// Calls for one destination, waiting for the flush.
struct outgoing_batch {
  replica_batch_actor to;
  std::vector<replica_call> calls;
  std::vector<answer_fn> settle; ///< by call, in order
};

struct coordinator_state {
  static inline const char* name = "coordinator";
  wall_clock now_us; ///< stamps writes for last-writer-wins
  std::vector<plan_ptr> plans; ///< by partition
  uint32_t max_key_bytes = 0;
  uint32_t max_value_bytes = 0;
  std::map<caf::actor_addr, outgoing_batch> outgoing;
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

/// Sends every destination its batch, and every client its answers.
void flush(self_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  auto outgoing = std::move(st.outgoing);
  st.outgoing.clear();
  for (auto& entry : outgoing) {
    auto& out = entry.second;
    auto settle = std::make_shared<std::vector<answer_fn>>(std::move(out.settle));
    self->request(out.to, caf::infinite, batch_atom::value, std::move(out.calls))
        .then(
            [settle](std::vector<replica_answer>& answers) {
              auto& fns = *settle;
              for (size_t i = 0; i < fns.size(); ++i) {
                if (i < answers.size()) {
                  fns[i](answers[i]);
                } else {
                  replica_answer missing;
                  missing.err = caf::make_error(ec::bad_request, "no answer in the batch");
                  fns[i](missing);
                }
              }
            },
            [settle](caf::error& err) {
              for (auto& fn : *settle) {
                replica_answer failed;
                failed.err = err;
                fn(failed);
              }
            });
  }
  st.client_answers.flush(self);
}

/// Asks a replica (this node's storage, or a peer through its link) in the batch for it that goes
/// at the flush. Both answer every call (a link bounds its calls by its timeout), so
/// `on_answer` always runs exactly once.
void ask(self_ptr self, const replica_target& target, replica_call call, answer_fn on_answer) {
  call.partition = target.partition;
  auto& out = self->state.outgoing[target.via.address()];
  if (!out.to) {
    out.to = target.via;
    out.calls.reserve(initial_batch_items);
    out.settle.reserve(initial_batch_items);
  }
  out.calls.push_back(std::move(call));
  out.settle.push_back(std::move(on_answer));
  schedule_flush(self);
}

caf::error unreachable(size_t reachable, const coordination_plan& plan, uint32_t needed) {
  return caf::make_error(ec::unavailable,
                         std::to_string(reachable) + " of " + std::to_string(plan.replicas_total) +
                             " replicas reachable, " + std::to_string(needed) + " needed");
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

/// What the client sees of a record: its visible values (identical bytes shown once) and context.
get_reply to_reply(const record& rec) {
  get_reply out;
  for (auto* s : dvv::visible(rec))
    if (std::find(out.values.begin(), out.values.end(), s->value) == out.values.end())
      out.values.push_back(s->value);
  out.found = !out.values.empty();
  out.context = dvv::encode_context(rec.context);
  return out;
}

/// Hands a request's outcome (its error, or its reply) to where it goes.
void finish(const outcome_fn& done, caf::error err) {
  client_answer a;
  a.err = std::move(err);
  done(a);
}

void finish(const outcome_fn& done, get_reply reply) {
  client_answer a;
  a.get = std::move(reply);
  done(a);
}

void finish(const outcome_fn& done, write_reply reply) {
  client_answer a;
  a.write = reply;
  done(a);
}

// --- get ---------------------------------------------------------------------------------------

struct read_round {
  plan_ptr plan;
  std::vector<const replica_target*> asked; ///< the home replicas (fallbacks hold only hints)
  outcome_fn done;
  bytes key;
  uint32_t answered = 0, failed = 0;
  bool replied = false;
  record merged;
  bool any_found = false;
  std::vector<std::string> corrupt_at; ///< replicas whose stored record failed verification
  std::vector<std::pair<size_t, replica_read>> answers; ///< (index in asked, its answer)
};

void read_repair(self_ptr self, const std::shared_ptr<read_round>& rd) {
  if (!rd->any_found)
    return;
  for (auto& [idx, rr] : rd->answers) {
    if (rr.found && rr.rec == rd->merged)
      continue;
    // Stale, missing or corrupt: send the reconciled record. Fire and forget, bounded.
    replica_call c;
    c.kind = replica_call_kind::merge;
    c.key = rd->key;
    c.rec = rd->merged;
    ask(self, *rd->asked[idx], std::move(c), [](replica_answer&) {});
  }
}

void on_read_answer(self_ptr self, const std::shared_ptr<read_round>& rd) {
  auto& plan = *rd->plan;
  auto total = static_cast<uint32_t>(rd->asked.size());
  if (!rd->replied && rd->answered >= plan.read_quorum) {
    rd->replied = true;
    if (rd->any_found) {
      finish(rd->done, to_reply(rd->merged));
    } else if (!rd->corrupt_at.empty()) {
      // Not "not found": the key exists but no intact copy answered. Never return the bytes.
      std::string where;
      for (auto& n : rd->corrupt_at)
        where += (where.empty() ? "" : ", ") + n;
      finish(rd->done,
             caf::make_error(ec::corrupt_record, "the stored record failed its checksum on " +
                                                     where + " and no intact replica answered"));
    } else {
      finish(rd->done, get_reply{});
    }
  }
  if (!rd->replied && rd->failed > total - plan.read_quorum) {
    rd->replied = true;
    finish(rd->done,
           caf::make_error(ec::unavailable, std::to_string(rd->answered) + " of " +
                                                std::to_string(plan.replicas_total) +
                                                " replicas answered, " +
                                                std::to_string(plan.read_quorum) + " needed"));
  }
  if (rd->answered + rd->failed == total)
    read_repair(self, rd);
}

void start_get(self_ptr self, bytes key, outcome_fn done) {
  if (auto err = check_key(self, key))
    return finish(done, std::move(err));
  auto plan = plan_of(self, key);
  if (!plan)
    return finish(done, std::move(plan.error()));
  auto rd = std::make_shared<read_round>();
  rd->plan = std::move(*plan);
  for (auto& t : rd->plan->replicas)
    if (t.hint_for.empty())
      rd->asked.push_back(&t);
  if (rd->asked.size() < rd->plan->read_quorum)
    return finish(done, unreachable(rd->asked.size(), *rd->plan, rd->plan->read_quorum));
  rd->done = std::move(done);
  rd->key = std::move(key);
  for (size_t i = 0; i < rd->asked.size(); ++i) {
    replica_call c;
    c.kind = replica_call_kind::read;
    c.key = rd->key;
    ask(self, *rd->asked[i], std::move(c), [self, rd, i](replica_answer& a) {
      if (a.err) {
        ++rd->failed;
        on_read_answer(self, rd);
        return;
      }
      ++rd->answered;
      auto& rr = a.read;
      if (rr.corrupt)
        rd->corrupt_at.push_back(rd->asked[i]->node);
      if (rr.found) {
        rd->merged = rd->any_found ? dvv::merge(rd->merged, rr.rec, rd->plan->conflicts) : rr.rec;
        rd->any_found = true;
      }
      rd->answers.emplace_back(i, std::move(rr));
      on_read_answer(self, rd);
    });
  }
}

// --- put / delete ------------------------------------------------------------------------------

struct write_round {
  plan_ptr plan;
  outcome_fn done;
  write_op op;
  size_t coordinator_index = 0; ///< the replica currently asked to coordinate
  uint32_t acks = 0, failed = 0, outstanding = 0;
  bool replied = false;
  bool uncertain = false; ///< a replica did not answer: it may have stored the write anyway
  caf::error last_error;
};

/// Whether a failed replica request leaves open that the replica applied the write.
bool may_have_applied(const caf::error& err) {
  return err == caf::sec::request_timeout || err == caf::sec::request_receiver_down;
}

void maybe_finish_write(const std::shared_ptr<write_round>& wr) {
  auto& plan = *wr->plan;
  if (!wr->replied && wr->acks >= plan.write_quorum) {
    wr->replied = true;
    finish(wr->done, write_reply{wr->acks});
  }
  if (!wr->replied && wr->acks + wr->outstanding < plan.write_quorum) {
    wr->replied = true;
    auto detail = std::to_string(wr->acks) + " of " + std::to_string(plan.replicas_total) +
                  " replicas stored it, " + std::to_string(plan.write_quorum) + " needed";
    if (wr->last_error)
      detail += " (last failure: " + describe(wr->last_error) + ")";
    // Only a write that no replica can have stored is a definite failure.
    finish(wr->done, wr->acks > 0 || wr->uncertain ? caf::make_error(ec::maybe_applied, detail)
                                                   : caf::make_error(ec::unavailable, detail));
  }
}

void replicate(self_ptr self, const std::shared_ptr<write_round>& wr, const record& rec) {
  auto& plan = *wr->plan;
  auto on_answer = [wr](replica_answer& a) {
    --wr->outstanding;
    if (a.err) {
      ++wr->failed;
      wr->uncertain = wr->uncertain || may_have_applied(a.err);
      wr->last_error = std::move(a.err);
    } else {
      ++wr->acks;
    }
    maybe_finish_write(wr);
  };
  for (size_t i = wr->coordinator_index + 1; i < plan.replicas.size(); ++i) {
    ++wr->outstanding;
    auto& target = plan.replicas[i];
    replica_call c;
    c.kind = target.hint_for.empty() ? replica_call_kind::merge : replica_call_kind::hint;
    c.target = target.hint_for;
    c.key = wr->op.key;
    c.rec = rec;
    ask(self, target, std::move(c), on_answer);
  }
  for (auto& target : plan.joining) {
    replica_call c;
    c.kind = replica_call_kind::merge;
    c.key = wr->op.key;
    c.rec = rec;
    ask(self, target, std::move(c), [](replica_answer&) {});
  }
}

void ask_coordinator(self_ptr self, const std::shared_ptr<write_round>& wr) {
  auto& plan = *wr->plan;
  auto i = wr->coordinator_index;
  // Replicas after the coordinating one may still ack: count them as outstanding.
  wr->outstanding = static_cast<uint32_t>(plan.replicas.size() - i);
  replica_call c;
  c.kind = replica_call_kind::coord;
  c.op = wr->op;
  c.target = plan.replicas[i].hint_for;
  ask(self, plan.replicas[i], std::move(c), [self, wr](replica_answer& a) {
    if (!a.err) {
      wr->outstanding = 0;
      ++wr->acks;
      replicate(self, wr, a.rec);
      maybe_finish_write(wr);
      return;
    }
    // This replica could not coordinate: the next one may (each dot is new, so a retry of a
    // write that did land here at most shows the value twice, never loses one).
    ++wr->failed;
    wr->uncertain = wr->uncertain || may_have_applied(a.err);
    wr->last_error = std::move(a.err);
    if (wr->coordinator_index + 1 < wr->plan->replicas.size()) {
      ++wr->coordinator_index;
      ask_coordinator(self, wr);
    } else {
      wr->outstanding = 0;
      maybe_finish_write(wr);
    }
  });
}

void start_write(self_ptr self, write_op op, const bytes& context, outcome_fn done) {
  auto err = check_key(self, op.key);
  if (!err && !op.tombstone)
    err = check_value(self, op.value);
  if (err)
    return finish(done, std::move(err));
  auto plan = plan_of(self, op.key);
  if (!plan)
    return finish(done, std::move(plan.error()));
  auto& p = **plan;
  if (p.replicas.size() < p.write_quorum)
    return finish(done, unreachable(p.replicas.size(), p, p.write_quorum));
  if (!context.empty()) {
    auto vv = dvv::decode_context(context);
    if (!vv)
      return finish(done,
                    caf::make_error(ec::bad_context,
                                    "the context does not decode; pass it as get printed it"));
    op.context = std::move(*vv);
  }
  op.timestamp_us = self->state.now_us();
  auto wr = std::make_shared<write_round>();
  wr->plan = std::move(*plan);
  wr->done = std::move(done);
  wr->op = std::move(op);
  ask_coordinator(self, wr);
}

/// Serves one call of a client's batch; its answer joins the batch going back to that client.
void serve_client_call(self_ptr self, const client_answers_actor& to, client_call& call) {
  auto reply = [self, to, id = call.id](client_answer& a) {
    a.id = id;
    size_t size = 64 + a.get.context.size();
    for (auto& v : a.get.values)
      size += v.size();
    if (self->state.client_answers.add(self, to, std::move(a), size))
      schedule_flush(self);
  };
  switch (call.kind) {
  case client_call_kind::get:
    start_get(self, std::move(call.key), reply);
    break;
  case client_call_kind::put: {
    write_op op;
    op.key = std::move(call.key);
    op.value = std::move(call.value);
    start_write(self, std::move(op), call.context, reply);
    break;
  }
  case client_call_kind::del: {
    write_op op;
    op.key = std::move(call.key);
    op.tombstone = true;
    start_write(self, std::move(op), call.context, reply);
    break;
  }
  }
}

void take_routes(self_ptr self, routes& r) {
  auto& st = self->state;
  st.plans.clear();
  for (auto& plan : r.plans)
    st.plans.push_back(std::make_shared<const coordination_plan>(std::move(plan)));
  st.max_key_bytes = r.max_key_bytes;
  st.max_value_bytes = r.max_value_bytes;
}

coordinator_impl::behavior_type coordinator_behavior(self_ptr self,
                                                     coordinator_options options) {
  self->state.now_us = std::move(options.now_us);
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
