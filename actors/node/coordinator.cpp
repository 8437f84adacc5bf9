#include "actors/node/coordinator.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include <caf/all.hpp>

#include "actors/batching/batch_outbox.hpp"
#include "actors/batching/pending_calls.hpp"
#include "actors/node/event_log.hpp"
#include "actors/node/node_metrics.hpp"
#include "actors/node/permission.hpp"
#include "actors/node/route_table.hpp"
#include "cluster-config/quorum.hpp"
#include "cluster-config/ring.hpp"
#include "cluster-config/write_limits.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "messages/hex.hpp"

namespace actorkv {

namespace {

/// The flush of the batches built while working through the mailbox, and the sweep for overdue
/// replica calls, are private.
using coordinator_impl =
    coordinator_actor::extend<caf::reacts_to<caf::flush_atom>, caf::reacts_to<caf::tick_atom>>;

using answer_fn = std::function<void(replica_answer&)>;

/// Where a request's outcome goes: its client's batch of answers.
using outcome_fn = std::function<void(client_answer&)>;

/// How often replica calls are looked at for having outlived the request timeout.
constexpr auto sweep_interval = std::chrono::milliseconds{100};

/// Replica calls awaiting their answers, by id, each with the address it went to.
using replica_calls = pending_calls<replica_answer, caf::actor_addr>;

/// Calls for one destination, waiting for the flush.
struct outgoing_batch {
  replica_batch_actor local;    ///< this node's storage, or
  replica_gateway_actor remote; ///< a peer's gateway
  std::vector<replica_call> calls;
  size_t bytes = 0; ///< estimated_wire_bytes of the calls
};

struct coordinator_state {
  static inline const char* name = "coordinator";
  std::shared_ptr<node_clock> clock;          ///< stamps writes for last-writer-wins
  std::string instance;                       ///< store.name: contexts are bound to it and a key
  std::shared_ptr<const access_table> access; ///< null: no checks (TLS off)
  std::shared_ptr<memory_budget> budget;      ///< null: every request is admitted
  std::chrono::milliseconds request_timeout{5000};
  route_table routes;          ///< every partition's plan
  uint32_t replicas_total = 3; ///< N, R, W and the conflict mode: the same in every plan
  uint32_t read_quorum = 2;
  uint32_t write_quorum = 2;
  conflict_mode conflicts = conflict_mode::siblings;
  caf::actor_addr local;       ///< this node's storage
  uint32_t max_key_bytes = 0;
  uint32_t max_value_bytes = 0;
  write_limits writes;          ///< sent with each write to its coordinating replica
  uint32_t sibling_warning = 0; ///< writes leaving more siblings get a warning
  std::string node;             ///< this node's name, for its log lines
  warning_throttle warned;      ///< which keys' sibling warnings reach the log
  std::map<caf::actor_addr, outgoing_batch> outgoing;
  /// Calls for dormant peers, by name, waiting for the node to connect to them (waker).
  std::map<std::string, std::vector<replica_call>> waking;
  peer_waker_actor waker;
  replica_calls pending{sweep_interval};
  bool flush_scheduled = false;
  batch_outbox<client_answers_actor, client_answer> client_answers;
  request_metrics metrics; ///< requests by op and outcome, latency (from the actor's clock)
  std::shared_ptr<background_gate> background; ///< told each request's latency; null: none
};

using self_ptr = coordinator_impl::stateful_pointer<coordinator_state>;

void schedule_flush(self_ptr self) {
  if (self->state.flush_scheduled)
    return;
  self->state.flush_scheduled = true;
  self->send(self, caf::flush_atom::value);
}

/// Sends a destination what accumulated for it as one message. This node's storage answers as
/// the response; a peer's gateway sends the answers back in messages of their own, by call id.
void send_batch(self_ptr self, outgoing_batch& out) {
  auto calls = std::move(out.calls);
  out.calls = {};
  out.bytes = 0;
  if (out.remote) {
    self->send(out.remote, batch_atom::value, std::move(calls));
    return;
  }
  auto ids = call_ids(calls);
  self->request(out.local, caf::infinite, batch_atom::value, std::move(calls))
      .then([=](std::vector<replica_answer>& answers) { self->state.pending.settle(answers); },
            [=](caf::error& err) {
              auto failed = failed_answers(ids, err);
              self->state.pending.settle(failed);
            });
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
/// with the error that stands in for it (the request timeout, the destination gone).
void ask(self_ptr self, const replica_target& target, partition_id partition, replica_call call,
         answer_fn on_answer);

/// Adds `call` to the batch for `target` (ask).
void enqueue(self_ptr self, const replica_target& target, replica_call call) {
  auto& st = self->state;
  auto to = target.address();
  auto size = estimated_wire_bytes(call);
  auto& out = st.outgoing[to];
  if (!out.local && !out.remote) {
    out.local = target.local;
    out.remote = target.remote;
  }
  if (!out.calls.empty() && out.bytes + size > max_batch_bytes)
    send_batch(self, out);
  if (out.calls.capacity() == 0)
    out.calls.reserve(initial_batch_items);
  out.bytes += size;
  out.calls.push_back(std::move(call));
  schedule_flush(self);
}

/// The node connected to dormant peer `name` again (its routes came first), or could not (`err`):
/// its waiting calls go to the peer's gateway, or fail.
void woken(self_ptr self, const std::string& name, caf::error err) {
  auto& st = self->state;
  auto calls = std::move(st.waking[name]);
  st.waking.erase(name);
  auto target = err ? nullptr : st.routes.remote_of(name);
  if (!err && !target)
    err = caf::make_error(caf::sec::request_receiver_down);
  for (auto& call : calls) {
    auto* to = st.pending.extra_of(call.id);
    if (!to)
      continue; // timed out while waiting
    if (err) {
      if (auto e = st.pending.take(call.id))
        replica_calls::fail(e->settle, err);
      continue;
    }
    *to = target->address();
    enqueue(self, *target, std::move(call));
  }
}

/// Holds `call` for a peer the plans name without a handle until the node connects to it.
void hold(self_ptr self, const std::string& name, replica_call call) {
  auto& st = self->state;
  auto& calls = st.waking[name];
  calls.push_back(std::move(call));
  if (calls.size() > 1)
    return; // asked already
  if (!st.waker) {
    woken(self, name, caf::make_error(caf::sec::request_receiver_down));
    return;
  }
  self->request(st.waker, st.request_timeout, wake_atom::value, name)
      .then([=](caf::ok_atom) { woken(self, name, caf::none); },
            [=](caf::error& err) { woken(self, name, std::move(err)); });
}

void ask(self_ptr self, const replica_target& target, partition_id partition, replica_call call,
         answer_fn on_answer) {
  auto& st = self->state;
  call.partition = partition;
  call.id = st.pending.add(self, st.request_timeout, std::move(on_answer), target.address());
  if (!target.local && !target.remote) // dormant: no connection until woken
    hold(self, target.node, std::move(call));
  else
    enqueue(self, target, std::move(call));
}

/// Calls waiting on a peer that is no longer among the routes (it went down, or stopped
/// answering probes) fail at once: they may have been applied there, or not.
void fail_gone_destinations(self_ptr self) {
  auto& st = self->state;
  auto gone = st.pending.take_if([&](const replica_calls::entry& e) {
    // A call without an address waits for its dormant peer's wake (hold).
    return e.extra && e.extra != st.local && !st.routes.routes_to(e.extra);
  });
  for (auto& e : gone)
    replica_calls::fail(e.settle, caf::sec::request_receiver_down);
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

/// The key's partition and its plan, or why there is none.
caf::expected<std::pair<partition_id, plan_targets>> plan_of(self_ptr self, const bytes& key) {
  auto& routes = self->state.routes;
  if (routes.partitions() == 0)
    return caf::make_error(ec::unavailable, "this node does not know the ring yet");
  auto p = partition_of(key, static_cast<uint32_t>(routes.partitions()));
  return std::make_pair(p, routes.plan_of(p));
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
  read_round(const coordinator_state& st, partition_id p, std::vector<target_ptr> targets,
             outcome_fn d, bytes k, dvv::context_scope scope, int64_t now_us,
             memory_budget::charge c)
      : partition(p), asked(std::move(targets)), done(std::move(d)), key(std::move(k)),
        tally(static_cast<uint32_t>(asked.size()), st.read_quorum, st.replicas_total,
              st.conflicts, scope, now_us),
        held(std::move(c)) {}
  partition_id partition;
  std::vector<target_ptr> asked; ///< the home replicas (fallbacks hold only hints)
  outcome_fn done;
  bytes key;
  read_tally tally;
  /// The round's share of the node's memory budget: read_charge() of copy_bytes, given back when
  /// the round goes (every replica answered, failed or timed out, and its read repairs were
  /// answered). Empty without a budget.
  memory_budget::charge held;
  uint64_t copy_bytes = inline_read_bytes; ///< the largest answer charged for so far
};

/// Whether the round's charge holds an answer of `answer_bytes`: its charge grows to read_charge()
/// of the largest answer so far. When the budget has no room, `refused` says why.
bool charge_answer(self_ptr self, read_round& rd, uint64_t answer_bytes, caf::error& refused) {
  auto& budget = self->state.budget;
  if (!budget || answer_bytes <= rd.copy_bytes)
    return true;
  auto asked = rd.asked.size();
  auto more = read_charge(answer_bytes, asked) - read_charge(rd.copy_bytes, asked);
  if (!rd.held.grow(more, budget_class::client)) {
    refused =
        budget->refusal("a get of a record of " + bytes_for_people(answer_bytes),
                        read_charge(answer_bytes, asked), budget_class::client, "nothing was read");
    return false;
  }
  rd.copy_bytes = answer_bytes;
  return true;
}

/// After each answer: reply once due; once every replica answered, repair the stale ones (the
/// reconciled record is merged there). The round, and so its charge, lives until the repairs
/// were answered: it holds the record they carry.
void on_read_answer(self_ptr self, const std::shared_ptr<read_round>& rd) {
  if (auto reply = rd->tally.take_reply())
    finish(rd->done, std::move(*reply));
  if (!rd->tally.complete())
    return;
  auto stale = rd->tally.stale();
  self->state.metrics.repaired(stale.size());
  for (auto i : stale) {
    replica_call c;
    c.kind = replica_call_kind::merge;
    c.key = rd->key;
    c.rec = rd->tally.merged();
    ask(self, *rd->asked[i], rd->partition, std::move(c), [rd](replica_answer&) {});
  }
}

/// Asks replica `i` of the round for the key's record, sent whole when its wire size is at most
/// `inline_limit` (0: whatever its size). A withheld record is asked for again, whole, once the
/// round's charge grew to hold it; when the budget has no room, that replica counts as failed
/// with ec::overloaded.
void ask_read(self_ptr self, const std::shared_ptr<read_round>& rd, size_t i,
              uint64_t inline_limit) {
  replica_call c;
  c.kind = replica_call_kind::read;
  c.key = rd->key;
  c.inline_limit = inline_limit;
  ask(self, *rd->asked[i], rd->partition, std::move(c), [self, rd, i](replica_answer& a) {
    caf::error refused;
    if (!a.err && a.read.withheld_bytes != 0) {
      if (charge_answer(self, *rd, a.read.withheld_bytes, refused))
        return ask_read(self, rd, i, 0);
      a.err = std::move(refused);
    } else if (!a.err && !charge_answer(self, *rd, estimated_wire_bytes(a), refused)) {
      // Larger than its size when first read (written since): let go of it at once.
      a.err = std::move(refused);
      a.read = replica_read{};
    }
    if (a.err) {
      rd->tally.failed(i, a.err);
    } else {
      // A later write through this node must be stamped above what the reader saw.
      if (a.read.found)
        self->state.clock->observe(a.read.rec);
      rd->tally.answered(i, rd->asked[i]->node, std::move(a.read));
    }
    on_read_answer(self, rd);
  });
}

void start_get(self_ptr self, bytes key, outcome_fn done) {
  if (auto err = check_key(self, key))
    return finish<get_reply>(done, std::move(err));
  auto plan = plan_of(self, key);
  if (!plan)
    return finish<get_reply>(done, std::move(plan.error()));
  auto& st = self->state;
  auto& asked = plan->second.replicas;
  asked.erase(std::remove_if(asked.begin(), asked.end(),
                             [](const target_ptr& t) { return !t->hint_for.empty(); }),
              asked.end());
  if (asked.size() < st.read_quorum)
    return finish<get_reply>(done,
                             too_few_replicas(asked.size(), st.replicas_total, st.read_quorum));
  // Admitted only within the memory budget, charged for answers of up to inline_read_bytes each:
  // all a replica sends before the round's charge grew to a larger record's real size.
  memory_budget::charge held;
  uint64_t inline_limit = 0;
  if (auto& budget = self->state.budget) {
    auto bytes = read_charge(inline_read_bytes, asked.size());
    held = budget->take(bytes, budget_class::client);
    if (!held)
      return finish<get_reply>(
          done, budget->refusal("a get", bytes, budget_class::client, "nothing was read"));
    inline_limit = inline_read_bytes;
  }
  auto scope = dvv::scope_of(self->state.instance, key);
  // Expired values read as deleted from now on (the node's wall clock: what expiries follow).
  auto rd = std::make_shared<read_round>(st, plan->first, std::move(asked), std::move(done),
                                         std::move(key), scope, st.clock->wall(), std::move(held));
  for (size_t i = 0; i < rd->asked.size(); ++i)
    ask_read(self, rd, i, inline_limit);
}

// --- put / delete ------------------------------------------------------------------------------

struct write_round {
  write_round(const coordinator_state& st, partition_id p, plan_targets t, outcome_fn d, write_op o,
              memory_budget::charge c)
      : partition(p), plan(std::move(t)), done(std::move(d)), op(std::move(o)),
        tally(static_cast<uint32_t>(plan.replicas.size()), st.write_quorum, st.replicas_total),
        held(std::move(c)) {}
  partition_id partition;
  plan_targets plan;
  outcome_fn done;
  write_op op;
  write_tally tally;
  /// The round's share of the node's memory budget: given back when the round goes, after the
  /// last replica call's answer, failure or timeout.
  memory_budget::charge held;
  uint32_t siblings = 0; ///< in the record the coordinating replica stored
  std::string warning;   ///< for the reply: the key is collecting siblings
};

void reply_if_due(const std::shared_ptr<write_round>& wr) {
  auto reply = wr->tally.take_reply();
  if (!reply)
    return;
  if (*reply) {
    (*reply)->siblings = wr->siblings;
    (*reply)->warning = wr->warning;
  }
  finish(wr->done, std::move(*reply));
}

/// The coordinating replica stored a record of `siblings` siblings: past the soft limit the reply
/// says so, and the log too, at most once a minute per key (a client writing one key blindly in
/// a loop would otherwise write a line per put).
void note_siblings(self_ptr self, const std::shared_ptr<write_round>& wr, size_t siblings) {
  auto& st = self->state;
  wr->siblings = static_cast<uint32_t>(siblings);
  wr->warning = sibling_warning_text(siblings, st.sibling_warning, st.writes.max_siblings);
  if (wr->warning.empty() || !st.warned.due(wr->op.key, self->clock().now()))
    return;
  log_event(log_subsystem::coordinator, log_level::warning, st.node,
            "key " + key_for_log(wr->op.key) + ": " + wr->warning +
                " (clients write it without the context of a read; logged once a "
                "minute per key)");
}

/// The coordinating replica stored `rec`: the replicas after it get it (merged at home replicas,
/// held as hints at fallbacks), and so do the replicas a change under way adds.
void replicate(self_ptr self, const std::shared_ptr<write_round>& wr, const record& rec) {
  auto& plan = wr->plan;
  for (size_t i = wr->tally.coordinator() + 1; i < plan.replicas.size(); ++i) {
    auto& target = *plan.replicas[i];
    replica_call c;
    c.kind = target.hint_for.empty() ? replica_call_kind::merge : replica_call_kind::hint;
    c.target = target.hint_for;
    c.key = wr->op.key;
    c.rec = rec;
    ask(self, target, wr->partition, std::move(c), [wr](replica_answer& a) {
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
    ask(self, *target, wr->partition, std::move(c), [](replica_answer&) {});
  }
}

/// Asks replica `i` to coordinate the write: store it under its own dot and return the record.
void ask_coordinator(self_ptr self, const std::shared_ptr<write_round>& wr, size_t i) {
  auto& target = *wr->plan.replicas[i];
  replica_call c;
  c.kind = replica_call_kind::coord;
  c.op = wr->op;
  c.target = target.hint_for;
  ask(self, target, wr->partition, std::move(c), [self, wr](replica_answer& a) {
    if (!a.err) {
      self->state.clock->observe(a.rec);
      note_siblings(self, wr, a.rec.siblings.size());
      wr->tally.coordinated();
      replicate(self, wr, a.rec);
    } else if (auto next = wr->tally.coordinator_failed(std::move(a.err))) {
      // The next replica may coordinate: each dot is new, so a retry of a write that did land
      // at the failed one at most shows the value twice, never loses one. A refusal (a context
      // naming writes this replica never made, a write past the limits) is final: is_refusal.
      ask_coordinator(self, wr, *next);
    }
    reply_if_due(wr);
  });
}

void start_write(self_ptr self, write_op op, const bytes& context, uint32_t ttl_s,
                 outcome_fn done) {
  auto err = check_key(self, op.key);
  if (!err && !op.tombstone)
    err = check_value(self, op.value);
  if (!err && ttl_s != 0)
    err = check_ttl(ttl_s);
  if (err)
    return finish<write_reply>(done, std::move(err));
  auto plan = plan_of(self, op.key);
  if (!plan)
    return finish<write_reply>(done, std::move(plan.error()));
  auto& st = self->state;
  auto& p = plan->second;
  if (p.replicas.size() < st.write_quorum)
    return finish<write_reply>(
        done, too_few_replicas(p.replicas.size(), st.replicas_total, st.write_quorum));
  if (!context.empty()) {
    // Another key's or another instance's context would supersede writes the client never read.
    auto vv = dvv::decode_context(context, dvv::scope_of(self->state.instance, op.key));
    if (!vv)
      return finish<write_reply>(done, std::move(vv.error()));
    op.context = std::move(*vv);
  }
  // Admitted only within the memory budget, before anything goes to a replica: a refused write
  // is stored nowhere.
  memory_budget::charge held;
  if (auto& budget = self->state.budget) {
    auto payload = uint64_t{op.key.size()} + op.value.size();
    auto bytes = write_charge(payload, p.replicas.size() + p.joining.size());
    held = budget->take(bytes, budget_class::client);
    if (!held)
      return finish<write_reply>(done,
                                 budget->refusal((op.tombstone ? "a delete of " : "a put of ") +
                                                     std::to_string(payload) + " bytes",
                                                 bytes, budget_class::client));
  }
  op.timestamp_us = self->state.clock->stamp();
  // Chosen here, once: every replica stores this expiry with the value (dvv::is_dead).
  if (ttl_s != 0)
    op.expires_us = op.timestamp_us + int64_t{ttl_s} * 1'000'000;
  op.limits = self->state.writes;
  auto wr = std::make_shared<write_round>(st, plan->first, std::move(p), std::move(done),
                                          std::move(op), std::move(held));
  wr->tally.coordinating(0);
  ask_coordinator(self, wr, 0);
}

/// Serves one call of a client's batch; its answer joins the batch going back to that client.
void serve_client_call(self_ptr self, const client_answers_actor& to, client_call& call) {
  static const char* const ops[] = {"get", "put", "delete"};
  self->state.metrics.started();
  auto reply = [self, to, id = call.id, op = ops[static_cast<size_t>(call.kind)],
                start = self->clock().now()](client_answer& a) {
    a.id = id;
    auto now = self->clock().now();
    self->state.metrics.count(op, a, now - start);
    if (auto& gate = self->state.background)
      gate->foreground(now - start, now);
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
  start_write(self, std::move(op), call.context,
              call.kind == client_call_kind::put ? call.ttl_s : 0, reply);
}

void take_routes(self_ptr self, routes& r) {
  auto& st = self->state;
  if (!r.plans.empty()) {
    auto& first = r.plans.front();
    st.replicas_total = first.replicas_total;
    st.read_quorum = first.read_quorum;
    st.write_quorum = first.write_quorum;
    st.conflicts = first.conflicts;
  }
  st.routes.assign(r.plans);
  r.plans = {};
  st.local = r.local.address();
  st.max_key_bytes = r.max_key_bytes;
  st.max_value_bytes = r.max_value_bytes;
  st.writes = r.writes;
  st.sibling_warning = r.sibling_warning;
  fail_gone_destinations(self);
}

/// Replaces the plans of the partitions named; the others stay as they are.
void take_route_changes(self_ptr self, route_changes& changes) {
  auto& st = self->state;
  // A partition beyond the table belongs to another partition count: the next full routes
  // replace them.
  for (size_t i = 0; i < changes.partitions.size() && i < changes.plans.size(); ++i)
    st.routes.replace(changes.partitions[i], changes.plans[i]);
  fail_gone_destinations(self);
}

coordinator_impl::behavior_type coordinator_behavior(self_ptr self, coordinator_options options) {
  self->state.clock = options.clock ? std::move(options.clock) : std::make_shared<node_clock>();
  self->state.node = std::move(options.node);
  self->state.instance = std::move(options.instance);
  self->state.access = std::move(options.access);
  self->state.budget = std::move(options.budget);
  self->state.request_timeout = options.request_timeout;
  self->state.metrics = request_metrics{std::move(options.metrics)};
  self->state.background = std::move(options.background);
  self->state.waker = std::move(options.waker);
  take_routes(self, options.initial);
  return {
      [=](batch_atom, std::vector<client_call>& calls) {
        auto& sender = self->current_sender();
        if (!sender)
          return; // nowhere to answer
        auto to = caf::actor_cast<client_answers_actor>(sender);
        if (calls.empty()) {
          // A client's probe while its calls wait: the answer tells it this node still serves.
          self->send(to, batch_atom::value, std::vector<client_answer>{});
          return;
        }
        auto have = sender_role(self->state.access.get(), sender, self->node());
        for (auto& call : calls) {
          auto need = call.kind == client_call_kind::get ? role::read : role::write;
          if (allows(have, need)) {
            serve_client_call(self, to, call);
            continue;
          }
          client_answer refused;
          refused.id = call.id;
          refused.err = forbidden(need == role::read ? "get" : "a write", need, have);
          if (self->state.client_answers.add(self, to, std::move(refused)))
            schedule_flush(self);
        }
      },
      [=](routes_atom, routes& r) {
        if (permitted(self, self->state.access.get(), role::node))
          take_routes(self, r);
      },
      [=](routes_atom, route_changes& changes) {
        if (permitted(self, self->state.access.get(), role::node))
          take_route_changes(self, changes);
      },
      [=](batch_atom, std::vector<replica_answer>& answers) {
        // A peer's gateway answering: only answers to calls that went to that sender count.
        auto from = caf::actor_cast<caf::actor_addr>(self->current_sender());
        self->state.pending.settle(answers,
                                   [&](const replica_calls::entry& e) { return e.extra == from; });
      },
      [=](caf::flush_atom) { flush(self); },
      [=](caf::tick_atom) { self->state.pending.sweep(self, caf::sec::request_timeout); },
  };
}

} // namespace

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_options options) {
  return sys.spawn(coordinator_behavior, std::move(options));
}

} // namespace actorkv
