#include "actors/coordinator.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "messages/dvv.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

struct coordinator_state {
  static inline const char* name = "coordinator";
  coordination_plan plan;
};

using self_ptr = coordinator_actor::stateful_pointer<coordinator_state>;

int64_t wall_clock_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

caf::error unreachable(const coordination_plan& plan, uint32_t needed) {
  return caf::make_error(ec::unavailable, std::to_string(plan.replicas.size()) + " of " +
                                              std::to_string(plan.replicas_total) +
                                              " replicas reachable, " + std::to_string(needed) +
                                              " needed");
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

/// Asks a replica: a peer's through its link (batched with other requests to that node), this
/// node's at its storage, else at its vnode; all answer the same way. A link bounds its requests
/// itself (with the same timeout) and storage answers every request, so neither needs a timer of
/// CAF's clock: one fewer thread hand-off per request.
template <class OnReply, class OnError, class Atom, class... Ts>
void ask(self_ptr self, const replica_target& target, OnReply on_reply, OnError on_error, Atom atom,
         const Ts&... xs) {
  if (target.link)
    self->request(target.link, caf::infinite, atom, target.partition, xs...)
        .then(on_reply, on_error);
  else if (target.storage)
    self->request(target.storage, caf::infinite, atom, target.partition, xs...)
        .then(on_reply, on_error);
  else
    self->request(target.vnode, self->state.plan.timeout, atom, xs...).then(on_reply, on_error);
}

// --- get ---------------------------------------------------------------------------------------

struct read_round {
  caf::typed_response_promise<get_reply> rp;
  bytes key;
  uint32_t answered = 0, failed = 0;
  bool replied = false;
  record merged;
  bool any_found = false;
  std::vector<std::string> corrupt_at; ///< replicas whose stored record failed verification
  std::vector<std::pair<size_t, replica_read>> answers; ///< (replica index, its answer)
};

void read_repair_and_quit(self_ptr self, const std::shared_ptr<read_round>& rd) {
  auto& plan = self->state.plan;
  if (rd->any_found) {
    for (auto& [idx, rr] : rd->answers) {
      if (rr.found && rr.rec == rd->merged)
        continue;
      // Stale, missing or corrupt: send the reconciled record. Fire and forget, bounded.
      ask(
          self, plan.replicas[idx], [](const record&) {}, [](const caf::error&) {},
          merge_atom::value, rd->key, rd->merged);
    }
  }
  // Let the repairs leave before exiting; their answers are not awaited.
  self->quit();
}

void on_read_answer(self_ptr self, const std::shared_ptr<read_round>& rd) {
  auto& plan = self->state.plan;
  auto total = static_cast<uint32_t>(plan.replicas.size());
  if (!rd->replied && rd->answered >= plan.read_quorum) {
    rd->replied = true;
    if (rd->any_found) {
      rd->rp.deliver(to_reply(rd->merged));
    } else if (!rd->corrupt_at.empty()) {
      // Not "not found": the key exists but no intact copy answered. Never return the bytes.
      std::string where;
      for (auto& n : rd->corrupt_at)
        where += (where.empty() ? "" : ", ") + n;
      rd->rp.deliver(
          caf::make_error(ec::corrupt_record, "the stored record failed its checksum on " + where +
                                                  " and no intact replica answered"));
    } else {
      rd->rp.deliver(get_reply{});
    }
  }
  if (!rd->replied && rd->failed > total - plan.read_quorum) {
    rd->replied = true;
    rd->rp.deliver(caf::make_error(
        ec::unavailable, std::to_string(rd->answered) + " of " +
                             std::to_string(plan.replicas_total) + " replicas answered, " +
                             std::to_string(plan.read_quorum) + " needed"));
  }
  if (rd->answered + rd->failed == total)
    read_repair_and_quit(self, rd);
}

caf::result<get_reply> start_get(self_ptr self, const bytes& key) {
  auto& plan = self->state.plan;
  // Fallbacks hold hints, not the key's history: reads ask the home replicas only.
  plan.replicas.erase(std::remove_if(plan.replicas.begin(), plan.replicas.end(),
                                     [](const replica_target& t) { return !t.hint_for.empty(); }),
                      plan.replicas.end());
  if (plan.replicas.size() < plan.read_quorum) {
    self->quit();
    return unreachable(plan, plan.read_quorum);
  }
  auto rd = std::make_shared<read_round>();
  rd->rp = self->make_response_promise<get_reply>();
  rd->key = key;
  for (size_t i = 0; i < plan.replicas.size(); ++i) {
    ask(
        self, plan.replicas[i],
        [=](replica_read& rr) {
          ++rd->answered;
          if (rr.corrupt)
            rd->corrupt_at.push_back(self->state.plan.replicas[i].node);
          if (rr.found) {
            rd->merged =
                rd->any_found ? dvv::merge(rd->merged, rr.rec, self->state.plan.conflicts) : rr.rec;
            rd->any_found = true;
          }
          rd->answers.emplace_back(i, std::move(rr));
          on_read_answer(self, rd);
        },
        [=](caf::error&) {
          ++rd->failed;
          on_read_answer(self, rd);
        },
        read_atom::value, key);
  }
  return rd->rp;
}

// --- put / delete ------------------------------------------------------------------------------

struct write_round {
  caf::typed_response_promise<write_reply> rp;
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

void maybe_finish_write(self_ptr self, const std::shared_ptr<write_round>& wr) {
  auto& plan = self->state.plan;
  auto total = static_cast<uint32_t>(plan.replicas.size());
  if (!wr->replied && wr->acks >= plan.write_quorum) {
    wr->replied = true;
    wr->rp.deliver(write_reply{wr->acks});
  }
  if (!wr->replied && wr->acks + wr->outstanding < plan.write_quorum) {
    wr->replied = true;
    auto detail = std::to_string(wr->acks) + " of " + std::to_string(plan.replicas_total) +
                  " replicas stored it, " + std::to_string(plan.write_quorum) + " needed";
    if (wr->last_error)
      detail += " (last failure: " + describe(wr->last_error) + ")";
    // Only a write that no replica can have stored is a definite failure.
    wr->rp.deliver(wr->acks > 0 || wr->uncertain ? caf::make_error(ec::maybe_applied, detail)
                                                 : caf::make_error(ec::unavailable, detail));
  }
  if (wr->outstanding == 0 && wr->acks + wr->failed >= total)
    self->quit();
  else if (wr->outstanding == 0 && wr->replied)
    self->quit();
}

void replicate(self_ptr self, const std::shared_ptr<write_round>& wr, const record& rec) {
  auto& plan = self->state.plan;
  auto on_ack = [=] {
    --wr->outstanding;
    ++wr->acks;
    maybe_finish_write(self, wr);
  };
  auto on_error = [=](caf::error& err) {
    --wr->outstanding;
    ++wr->failed;
    wr->uncertain = wr->uncertain || may_have_applied(err);
    wr->last_error = std::move(err);
    maybe_finish_write(self, wr);
  };
  for (size_t i = wr->coordinator_index + 1; i < plan.replicas.size(); ++i) {
    ++wr->outstanding;
    auto& target = plan.replicas[i];
    if (target.hint_for.empty())
      ask(
          self, target, [=](const record&) { on_ack(); }, on_error, merge_atom::value, wr->op.key,
          rec);
    else
      ask(
          self, target, [=](caf::ok_atom) { on_ack(); }, on_error, hint_atom::value,
          target.hint_for, wr->op.key, rec);
  }
  for (auto& target : plan.joining)
    ask(
        self, target, [](const record&) {}, [](caf::error&) {}, merge_atom::value, wr->op.key, rec);
}

void ask_coordinator(self_ptr self, const std::shared_ptr<write_round>& wr) {
  auto& plan = self->state.plan;
  auto i = wr->coordinator_index;
  // Replicas after the coordinating one may still ack: count them as outstanding.
  wr->outstanding = static_cast<uint32_t>(plan.replicas.size() - i);
  ask(
      self, plan.replicas[i],
      [=](const record& rec) {
        wr->outstanding = 0;
        ++wr->acks;
        replicate(self, wr, rec);
        maybe_finish_write(self, wr);
      },
      [=](caf::error& err) {
        // This replica could not coordinate: the next one may (each dot is new, so a retry of a
        // write that did land here at most shows the value twice, never loses one).
        ++wr->failed;
        wr->uncertain = wr->uncertain || may_have_applied(err);
        wr->last_error = std::move(err);
        if (wr->coordinator_index + 1 < self->state.plan.replicas.size()) {
          ++wr->coordinator_index;
          ask_coordinator(self, wr);
        } else {
          wr->outstanding = 0;
          maybe_finish_write(self, wr);
        }
      },
      coord_atom::value, wr->op, plan.replicas[i].hint_for);
}

caf::result<write_reply> start_write(self_ptr self, write_op op, const bytes& context) {
  auto& plan = self->state.plan;
  if (plan.replicas.size() < plan.write_quorum) {
    self->quit();
    return unreachable(plan, plan.write_quorum);
  }
  if (!context.empty()) {
    auto vv = dvv::decode_context(context);
    if (!vv) {
      self->quit();
      return caf::make_error(ec::bad_context,
                             "the context does not decode; pass it as get printed it");
    }
    op.context = std::move(*vv);
  }
  op.timestamp_us = wall_clock_us();
  auto wr = std::make_shared<write_round>();
  wr->rp = self->make_response_promise<write_reply>();
  wr->op = std::move(op);
  ask_coordinator(self, wr);
  return wr->rp;
}

coordinator_actor::behavior_type coordinator_behavior(self_ptr self, coordination_plan plan) {
  self->state.plan = std::move(plan);
  return {
      [=](caf::get_atom, const bytes& key) { return start_get(self, key); },
      [=](caf::put_atom, put_request& req) {
        write_op op;
        op.key = std::move(req.key);
        op.value = std::move(req.value);
        return start_write(self, std::move(op), req.context);
      },
      [=](caf::delete_atom, delete_request& req) {
        write_op op;
        op.key = std::move(req.key);
        op.tombstone = true;
        return start_write(self, std::move(op), req.context);
      },
  };
}

} // namespace

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordination_plan plan) {
  return sys.spawn(coordinator_behavior, std::move(plan));
}

} // namespace actorkv
