#include "actors/node/storage_actor.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/event_log.hpp"
#include "actors/node/node_metrics.hpp"
#include "cluster-config/write_limits.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "messages/hex.hpp"
#include "storage/merkle_tree.hpp"

namespace actorkv {

namespace {

/// The flush timer is private: callers only see storage_actor.
using storage_impl = storage_actor::extend<caf::reacts_to<caf::flush_atom>>;

/// An answer owed once the open batch commits: called with the commit's error (none on success).
using pending_answer = std::function<void(const caf::error&)>;

struct storage_state {
  static inline const char* name = "storage";

  std::shared_ptr<storage::engine> engine;
  storage_options options;
  std::vector<storage::merkle_tree> trees; ///< one per partition
  bool batch_open = false;
  size_t batch_writes = 0;
  std::vector<pending_answer> pending;
  /// Hints held per target, read from disk at start and kept in step by this actor, so that
  /// bounding the backlog costs no scan per write.
  std::map<std::string, uint64_t> hint_counts;
  bool writes_failing = false; ///< logged once when writes start failing, once when they recover
  std::mt19937_64 one_off_ids;
  storage_metrics metrics; ///< batch sizes, commit latency
};

using self_ptr = storage_impl::stateful_pointer<storage_state>;

/// Reads a record, treating a corrupt one as a distinct outcome for the caller to decide.
replica_read read_record(storage_state& st, partition_id p, const bytes& key) {
  replica_read out;
  auto rec = st.engine->get(p, key);
  if (!rec) {
    out.corrupt = rec.error() == ec::corrupt_record;
    log_event(st.options.node, "partition " + std::to_string(p) + " key " + key_for_log(key) +
                                   ": " + describe(rec.error()) +
                                   "; treated as missing until repaired");
    return out;
  }
  if (*rec) {
    out.found = true;
    out.rec = std::move(**rec);
  }
  return out;
}

/// Counts the hints on disk per target.
void recount_hints(storage_state& st) {
  auto counts = st.engine->hint_counts();
  st.hint_counts = counts ? std::move(*counts) : std::map<std::string, uint64_t>{};
}

/// Builds every partition's tree from what is on disk, and has the node's clock follow it (after a
/// restart too, writes through this node are stamped above what it holds).
void rebuild_trees(storage_state& st) {
  st.trees.assign(st.options.partitions, storage::merkle_tree{});
  for (partition_id p = 0; p < st.options.partitions; ++p)
    st.engine->for_each(p, [&](const bytes& key, caf::expected<record>&& rec) {
      if (!rec)
        return true;
      st.options.clock->observe(*rec);
      st.trees[p].toggle(key, storage::record_digest(key, *rec));
      return true;
    });
}

/// Logs the transitions between failing and working writes (a full disk, say), not every failure.
void note_write_outcome(storage_state& st, const caf::error& err) {
  if (err && !st.writes_failing)
    log_event(st.options.node,
              "storage writes failing, this replica stops acknowledging: " + describe(err));
  else if (!err && st.writes_failing)
    log_event(st.options.node, "storage writes succeed again");
  st.writes_failing = static_cast<bool>(err);
}

void finish_batch(self_ptr self) {
  auto& st = self->state;
  if (!st.batch_open)
    return;
  auto started = self->clock().now();
  auto err = st.engine->commit();
  st.metrics.commit(st.batch_writes, self->clock().now() - started, static_cast<bool>(err));
  if (err || st.batch_writes > 0)
    note_write_outcome(st, err);
  if (err) {
    st.engine->rollback();
    // The trees and hint counts followed writes that are now undone.
    rebuild_trees(st);
    recount_hints(st);
  }
  st.batch_open = false;
  st.batch_writes = 0;
  auto pending = std::move(st.pending);
  st.pending.clear();
  for (auto& answer : pending)
    answer(err);
}

/// Ensures a batch is open; returns an error when the engine cannot begin one.
caf::error open_batch(self_ptr self) {
  auto& st = self->state;
  if (st.batch_open)
    return caf::none;
  if (auto err = st.engine->begin())
    return err;
  st.batch_open = true;
  // Everything already queued in the mailbox joins this batch; the flush comes after it.
  self->send(self, caf::flush_atom::value);
  return caf::none;
}

/// Answers with `value` once the open batch committed (at once when none is open: a read with no
/// write pending), or with the commit's error. Reads wait for the open batch too, so that no
/// reader sees a write that could still be undone.
template <class T>
caf::result<T> answer_after_commit(self_ptr self, T value) {
  auto& st = self->state;
  if (!st.batch_open)
    return value;
  auto rp = self->make_response_promise<T>();
  st.pending.emplace_back([rp, value = std::move(value)](const caf::error& err) mutable {
    if (err)
      rp.deliver(err);
    else
      rp.deliver(std::move(value));
  });
  if (st.batch_writes >= st.options.max_batch)
    finish_batch(self);
  return rp;
}

/// Stores a hint for `target` inside the open batch.
caf::error hold_hint(storage_state& st, const std::string& target, partition_id p, const bytes& key,
                     const record& rec) {
  auto id = st.engine->add_hint(target, p, key, rec);
  if (!id) {
    note_write_outcome(st, id.error());
    return id.error();
  }
  ++st.hint_counts[target];
  ++st.batch_writes;
  return caf::none;
}

/// Stores `rec` in the open batch and keeps the partition's tree in step.
caf::error store(storage_state& st, partition_id p, const bytes& key, const replica_read& old,
                 const record& rec) {
  if (auto err = st.engine->put(p, key, rec)) {
    note_write_outcome(st, err);
    return err;
  }
  if (old.found)
    st.trees[p].toggle(key, storage::record_digest(key, old.rec));
  st.trees[p].toggle(key, storage::record_digest(key, rec));
  ++st.batch_writes;
  return caf::none;
}

caf::error check_backlog(storage_state& st) {
  uint64_t total = 0;
  for (auto& [target, n] : st.hint_counts)
    total += n;
  if (total >= st.options.max_hints)
    return caf::make_error(ec::unavailable,
                           "hint backlog full (" + std::to_string(total) + " hints held)");
  return caf::none;
}

caf::error no_partition(partition_id p) {
  return caf::make_error(ec::bad_request, "no partition " + std::to_string(p));
}

/// Applies a client write as its coordinating replica, inside the open batch; the record is
/// durable once the batch commits. With a hint target, holds it as a hint for that node instead.
caf::expected<record> apply_coord(self_ptr self, partition_id p, const write_op& op,
                                  const std::string& hint_target) {
  auto& st = self->state;
  if (p >= st.trees.size())
    return no_partition(p);
  if (auto err = open_batch(self))
    return err;
  st.options.clock->observe(op.timestamp_us); // stamped by another node's coordinator, maybe
  std::optional<bytes> value;
  if (!op.tombstone)
    value = op.value;
  if (!hint_target.empty()) {
    // A fallback has no history of the key: a one-off id keeps the dot unique.
    if (auto err = check_backlog(st))
      return err;
    replica_id one_off = 0;
    while (one_off == 0)
      one_off = st.one_off_ids();
    // Having seen nothing of the key, it can vouch for none of the client's context.
    auto seen = dvv::admit_context(op.context, record{}, one_off);
    if (!seen)
      return seen.error();
    auto rec = dvv::update(record{}, *seen, std::move(value), one_off, op.timestamp_us,
                           st.options.conflicts);
    if (auto err = hold_hint(st, hint_target, p, op.key, rec))
      return err;
    return rec;
  }
  auto current = read_record(st, p, op.key);
  auto self_id = st.options.self;
  if (current.corrupt) {
    // The damaged record may have held this replica's latest dot for the key: coordinate this
    // one write under a one-off id so that no dot can repeat.
    self_id = 0;
    while (self_id == 0)
      self_id = st.one_off_ids();
  }
  // The client's context counts only as far as this replica can vouch for it: see
  // dvv::admit_context for why an entry of its own beyond its record is refused and others are cut.
  auto seen = dvv::admit_context(op.context, current.rec, self_id);
  if (!seen)
    return seen.error();
  auto updated = dvv::update(current.rec, *seen, std::move(value), self_id, op.timestamp_us,
                             st.options.conflicts);
  // The client's limits are checked here, on the record the write would leave, before anything
  // is stored: this replica stores a client write first and the others only get what it returns,
  // so a refused write is stored nowhere (cluster-config/write_limits.hpp). Merges are not
  // checked. A fallback (above) holds no copy of the key: it has nothing to check against.
  if (auto err = check_client_write(current.rec, updated, op.limits))
    return err;
  if (auto err = store(st, p, op.key, current, updated))
    return err;
  return updated;
}

/// Merges a record from another replica into the stored one (inside the open batch when it
/// changes anything); returns the merged record.
caf::expected<record> apply_merge(self_ptr self, partition_id p, const bytes& key,
                                  const record& incoming) {
  auto& st = self->state;
  if (p >= st.trees.size())
    return no_partition(p);
  if (auto err = open_batch(self))
    return err;
  st.options.clock->observe(incoming);
  // A corrupt local record is replaced by the incoming one: that is the repair.
  auto current = read_record(st, p, key);
  if (!current.found) {
    if (auto err = store(st, p, key, current, incoming))
      return err;
    return incoming;
  }
  auto merged = dvv::merge(current.rec, incoming, st.options.conflicts);
  if (merged == current.rec)
    return merged; // nothing new to write
  if (auto err = store(st, p, key, current, merged))
    return err;
  return merged;
}

/// Holds `rec` as a hint for `target`, inside the open batch.
caf::error apply_hint(self_ptr self, partition_id p, const std::string& target, const bytes& key,
                      const record& rec) {
  auto& st = self->state;
  if (p >= st.trees.size())
    return no_partition(p);
  if (auto err = check_backlog(st))
    return err;
  if (auto err = open_batch(self))
    return err;
  st.options.clock->observe(rec);
  return hold_hint(st, target, p, key, rec);
}

/// A record, or the error that stands in for it, into an answer.
void take_record(caf::expected<record> rec, replica_answer& out) {
  if (rec)
    out.rec = std::move(*rec);
  else
    out.err = std::move(rec.error());
}

/// Serves one call of a batch into `out` (whose id is set).
void serve_call(self_ptr self, replica_call& c, replica_answer& out) {
  switch (c.kind) {
  case replica_call_kind::read:
    if (c.partition >= self->state.trees.size())
      out.err = no_partition(c.partition);
    else
      out.read = read_record(self->state, c.partition, c.key);
    return;
  case replica_call_kind::coord:
    take_record(apply_coord(self, c.partition, c.op, c.target), out);
    return;
  case replica_call_kind::merge:
    // Only success matters to the sender: the merged record stays here, off the wire.
    if (auto merged = apply_merge(self, c.partition, c.key, c.rec); !merged)
      out.err = std::move(merged.error());
    return;
  case replica_call_kind::hint:
    out.err = apply_hint(self, c.partition, c.target, c.key, c.rec);
    return;
  }
}

storage_impl::behavior_type storage_behavior(self_ptr self, std::shared_ptr<storage::engine> engine,
                                             storage_options options) {
  auto& st = self->state;
  st.engine = std::move(engine);
  st.options = options;
  st.metrics = storage_metrics{options.metrics};
  if (!st.options.clock)
    st.options.clock = std::make_shared<node_clock>();
  st.one_off_ids.seed(options.seed);
  rebuild_trees(st);
  recount_hints(st);
  return {
      [=](batch_atom,
          std::vector<replica_call>& calls) -> caf::result<std::vector<replica_answer>> {
        std::vector<replica_answer> answers(calls.size());
        auto serve_all = [&] {
          for (size_t i = 0; i < calls.size(); ++i) {
            answers[i].id = calls[i].id;
            serve_call(self, calls[i], answers[i]);
          }
        };
        auto is_read = [](const replica_call& c) { return c.kind == replica_call_kind::read; };
        if (std::all_of(calls.begin(), calls.end(), is_read)) {
          self->state.engine->read_together(serve_all);
        } else {
          // The reads of a mixed batch share its write transaction. Should the batch fail to
          // open, each write call meets that error itself.
          static_cast<void>(open_batch(self));
          serve_all();
        }
        return answer_after_commit(self, std::move(answers));
      },
      [=](read_atom, partition_id p, const bytes& key) -> caf::result<replica_read> {
        if (p >= self->state.trees.size())
          return no_partition(p);
        return answer_after_commit(self, read_record(self->state, p, key));
      },
      [=](merge_atom, partition_id p, const bytes& key,
          const record& incoming) -> caf::result<record> {
        auto rec = apply_merge(self, p, key, incoming);
        if (!rec)
          return std::move(rec.error());
        return answer_after_commit(self, std::move(*rec));
      },
      [=](hints_atom, const std::string& target,
          uint32_t limit) -> caf::result<std::vector<stored_hint>> {
        auto& st = self->state;
        size_t dropped = 0;
        auto found = st.engine->hints_for(target, limit, &dropped);
        if (!found)
          return found.error();
        if (dropped > 0) {
          // Unreadable hints are gone; anti-entropy restores what they held.
          log_event(st.options.node,
                    std::to_string(dropped) + " corrupt hints for " + target + " dropped");
          recount_hints(st);
        }
        std::vector<stored_hint> out;
        for (auto& h : *found)
          out.push_back(
              stored_hint{h.id, h.target, h.partition, std::move(h.key), std::move(h.rec)});
        return answer_after_commit(self, std::move(out));
      },
      [=](unhint_atom, const std::string& target, uint64_t id) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (auto err = open_batch(self))
          return err;
        if (auto err = st.engine->remove_hint(id))
          return err;
        if (auto it = st.hint_counts.find(target); it != st.hint_counts.end() && --it->second == 0)
          st.hint_counts.erase(it);
        ++st.batch_writes;
        return answer_after_commit(self, caf::ok_atom::value);
      },
      [=](backlog_atom) -> caf::result<std::vector<hint_backlog>> {
        std::vector<hint_backlog> out;
        for (auto& [target, n] : self->state.hint_counts)
          out.push_back(hint_backlog{target, n});
        return out;
      },
      [=](tree_atom, partition_id p, uint32_t depth) -> caf::result<std::vector<uint64_t>> {
        auto& st = self->state;
        if (p >= st.trees.size() || depth > st.trees[p].leaf_bits())
          return caf::make_error(ec::bad_request, "no such partition or tree level");
        return answer_after_commit(self, st.trees[p].level(depth));
      },
      [=](leafkeys_atom, partition_id p,
          const std::vector<uint64_t>& leaves) -> caf::result<std::vector<key_digest>> {
        auto& st = self->state;
        if (p >= st.trees.size())
          return caf::make_error(ec::bad_request, "no such partition");
        std::vector<bool> wanted(size_t{1} << st.trees[p].leaf_bits(), false);
        for (auto l : leaves)
          if (l < wanted.size())
            wanted[l] = true;
        std::vector<key_digest> out;
        auto bits = st.trees[p].leaf_bits();
        st.engine->for_each(p, [&](const bytes& key, caf::expected<record>&& rec) {
          // A corrupt record is listed with digest 0: it differs from any intact copy, so the
          // exchange repairs it.
          if (wanted[storage::merkle_tree::leaf_of(key, bits)])
            out.push_back(key_digest{key, rec ? storage::record_digest(key, *rec) : 0});
          return true;
        });
        return answer_after_commit(self, std::move(out));
      },
      [=](scan_atom, partition_id p, const bytes& after,
          uint32_t limit) -> caf::result<std::vector<keyed_record>> {
        auto& st = self->state;
        if (p >= st.trees.size())
          return caf::make_error(ec::bad_request, "no such partition");
        std::vector<keyed_record> out;
        // The engine scans from the partition's first key: skipping to `after` costs a pass over
        // the keys before it, which is small next to sending them (partitions are Q-th parts).
        auto err = st.engine->for_each(p, [&](const bytes& key, caf::expected<record>&& rec) {
          if (!after.empty() && !(after < key))
            return true;
          if (rec)
            out.push_back(keyed_record{key, std::move(*rec)});
          return out.size() < limit;
        });
        if (err)
          return err;
        return answer_after_commit(self, std::move(out));
      },
      [=](count_atom, partition_id p) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (p >= st.trees.size())
          return caf::make_error(ec::bad_request, "no such partition");
        uint64_t n = 0;
        if (auto err = st.engine->for_each(p, [&](const bytes&, caf::expected<record>&&) {
              ++n;
              return true;
            }))
          return err;
        return answer_after_commit(self, n);
      },
      [=](drop_atom, partition_id p) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (p >= st.trees.size())
          return caf::make_error(ec::bad_request, "no such partition");
        std::vector<bytes> keys;
        if (auto err = st.engine->for_each(p, [&](const bytes& key, caf::expected<record>&&) {
              keys.push_back(key);
              return true;
            }))
          return err;
        if (auto err = open_batch(self))
          return err;
        for (auto& key : keys)
          if (auto err = st.engine->erase(p, key)) {
            note_write_outcome(st, err);
            return err;
          }
        st.trees[p] = storage::merkle_tree{};
        ++st.batch_writes;
        return answer_after_commit(self, static_cast<uint64_t>(keys.size()));
      },
      [=](meta_atom, const std::string& name,
          const std::string& value) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (auto err = open_batch(self))
          return err;
        if (auto err = st.engine->set_meta(name, value))
          return err;
        ++st.batch_writes;
        return answer_after_commit(self, caf::ok_atom::value);
      },
      [=](caf::flush_atom) { finish_batch(self); },
      [=](stop_atom) {
        finish_batch(self);
        self->quit();
      },
  };
}

} // namespace

storage_actor spawn_storage(caf::actor_system& sys, std::shared_ptr<storage::engine> engine,
                            storage_options options) {
  if (!options.detached)
    return sys.spawn(storage_behavior, std::move(engine), options);
  return sys.spawn<caf::detached>(storage_behavior, std::move(engine), options);
}

} // namespace actorkv
