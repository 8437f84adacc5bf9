#include "actors/node/collector.hpp"

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/event_log.hpp"
#include "actors/node/peer_directory.hpp"
#include "messages/dvv.hpp"

namespace actorkv {

namespace {

/// tick_atom: a sweep starts; (tick_atom, 0): the sweep goes on with its next batch.
using collector_impl = collector_actor::extend<caf::reacts_to<caf::tick_atom>,
                                               caf::reacts_to<caf::tick_atom, uint64_t>>;

struct collector_state {
  static inline const char* name = "collector";
  collector_options options;
  peer_directory peers;
  /// The sweep's first pass reads the dying records (tombstones); its second, only while some
  /// record may hold a prunable entry, reads every record (pruning).
  bool pruning_pass = false;
  size_t next = 0;         ///< index into options.partitions of the pass under way
  bytes cursor;            ///< the last key read of that partition (empty: from its first)
  uint64_t collected = 0;  ///< tombstones erased here since start
  uint64_t sweeps = 0;     ///< sweeps finished
  uint64_t this_sweep = 0; ///< tombstones erased by the sweep under way
  /// The replica ids whose entries may be pruned (the view's prunable_ids), sorted.
  std::vector<replica_id> retired;
  /// Whether sweeps make the pruning pass: set by a new retired id or a new list of partitions,
  /// cleared by a whole pass that found no record with a prunable entry.
  bool prune_wanted = false;
  /// Whether the pruning pass under way met a record with a prunable entry (or a read failed):
  /// the next sweep makes the pass again.
  bool prune_found = false;
  /// When the passes stopped, the wall-clock time (Unix microseconds) after which a sweep makes
  /// the pass again (end_pass says why; 0: none owed).
  int64_t prune_again_us = 0;
  uint64_t pruned = 0;            ///< version-vector entries pruned here since start
  uint64_t pruned_this_sweep = 0; ///< of which by the sweep under way
};

using self_ptr = collector_impl::stateful_pointer<collector_state>;

void next_batch(self_ptr self) {
  self->delayed_send(self, self->state.options.pace, caf::tick_atom::value, uint64_t{0});
}

/// Runs `act(record, done)` for every record of `due` at once (at most a batch in flight: each
/// costs a read per other home replica and a storage write) and goes on with the next batch once
/// every one called `done`.
template <class Act>
void act_on_each(self_ptr self, std::vector<keyed_record> due, Act act) {
  if (due.empty()) {
    next_batch(self);
    return;
  }
  auto left = std::make_shared<size_t>(due.size());
  std::function<void()> done = [=] {
    if (--*left == 0)
      next_batch(self);
  };
  for (auto& kr : due)
    act(kr, done);
}

/// After reading `batch` of partition `p` in the pass that `pruning` names: moves the cursor past
/// it (to the next partition after a short batch) and returns the partition's other home
/// replicas; nullopt when the pass or the partition list changed while it was read (the caller
/// then goes on over the new list).
std::optional<std::vector<std::string>> advance(collector_state& st, bool pruning, partition_id p,
                                                const std::vector<keyed_record>& batch,
                                                uint32_t limit) {
  if (st.pruning_pass != pruning || st.next >= st.options.partitions.size() ||
      st.options.partitions[st.next].first != p)
    return std::nullopt;
  auto others = st.options.partitions[st.next].second;
  if (batch.size() < limit) {
    ++st.next;
    st.cursor.clear();
  } else {
    st.cursor = batch.back().key;
  }
  return others;
}

/// Asks every other home replica for its copy of `key` and calls `act` if every one is up and
/// `agrees` with its answer; calls `done` otherwise (`act` calls it when it is done).
void confirm(self_ptr self, partition_id p, const std::vector<std::string>& others,
             const bytes& key, std::function<bool(const replica_read&)> agrees,
             std::function<void()> act, std::function<void()> done) {
  auto& st = self->state;
  std::vector<vnode_actor> vnodes;
  for (auto& name : others) {
    auto* vnode = st.peers.vnodes(name);
    if (!vnode) { // a replica that is down may hold an old copy: wait for it
      st.peers.wake(self, name);
      done();
      return;
    }
    vnodes.push_back(*vnode);
  }
  if (vnodes.empty()) { // N = 1: this replica is the only one
    act();
    return;
  }
  auto left = std::make_shared<size_t>(vnodes.size());
  auto agreed = std::make_shared<bool>(true);
  auto answered = [=](bool yes) {
    *agreed = *agreed && yes;
    if (--*left > 0)
      return;
    if (*agreed)
      act();
    else
      done();
  };
  for (auto& vnode : vnodes)
    self->request(vnode, st.options.timeout, read_atom::value, p, key)
        .then([=](const replica_read& theirs) { answered(agrees(theirs)); },
              [=](caf::error&) { answered(false); });
}

/// Erases the tombstone `rec` of `key` here if every other home replica holds the same record or
/// none: no replica can then bring back what it deleted. Calls `done` in any case.
void confirm_and_reap(self_ptr self, partition_id p, const std::vector<std::string>& others,
                      const bytes& key, const record& rec, std::function<void()> done) {
  auto reap = [=] {
    self->request(self->state.options.storage, self->state.options.timeout, reap_atom::value, p,
                  key, rec)
        .then(
            [=](bool erased) {
              if (erased) {
                ++self->state.collected;
                ++self->state.this_sweep;
              }
              done();
            },
            [=](caf::error&) { done(); });
  };
  // An unreadable copy might be the old value: it does not count as none.
  auto same_or_none = [rec](const replica_read& theirs) {
    return theirs.found ? theirs.rec == rec : !theirs.corrupt;
  };
  confirm(self, p, others, key, same_or_none, reap, done);
}

/// Prunes the entries of retired ids from the record `rec` of `key` here if every other home
/// replica holds the same record up to those entries (dvv::same_up_to_retired): none holds a
/// copy with other siblings or one that has seen less of the retired ids' writes. A replica
/// without the key, or with an unreadable copy, is no evidence: it may be refilled from a stale
/// copy. Calls `done` in any case.
void confirm_and_prune(self_ptr self, partition_id p, const std::vector<std::string>& others,
                       const bytes& key, const record& rec, const std::vector<replica_id>& retired,
                       std::function<void()> done) {
  auto prune = [=] {
    self->request(self->state.options.storage, self->state.options.timeout, prune_atom::value, p,
                  key, rec, retired)
        .then(
            [=](uint64_t removed) {
              self->state.pruned += removed;
              self->state.pruned_this_sweep += removed;
              done();
            },
            [=](caf::error&) { done(); });
  };
  auto same = [rec, retired](const replica_read& theirs) {
    return theirs.found && dvv::same_up_to_retired(theirs.rec, rec, retired);
  };
  confirm(self, p, others, key, same, prune, done);
}

void end_sweep(self_ptr self) {
  auto& st = self->state;
  ++st.sweeps;
  if (st.this_sweep > 0)
    log_event(log_subsystem::tombstones, st.options.node,
              "tombstone collection: " + std::to_string(st.this_sweep) + " tombstones collected (" +
                  std::to_string(st.collected) + " since start)");
  if (st.pruned_this_sweep > 0)
    log_event(log_subsystem::tombstones, st.options.node,
              "version-vector pruning: " + std::to_string(st.pruned_this_sweep) +
                  " entries of retired replica ids pruned (" + std::to_string(st.pruned) +
                  " since start)");
  st.this_sweep = 0;
  st.pruned_this_sweep = 0;
  st.pruning_pass = false;
  st.next = 0;
  st.cursor.clear();
  self->delayed_send(self, sweep_interval(st.options.grace), caf::tick_atom::value);
}

/// The tombstone pass is done: the pruning pass follows while it is wanted, else the sweep ends.
void end_pass(self_ptr self) {
  auto& st = self->state;
  if (!st.pruning_pass && st.prune_wanted && !st.retired.empty() &&
      !st.options.partitions.empty()) {
    st.pruning_pass = true;
    st.prune_found = false;
    st.next = 0;
    st.cursor.clear();
    next_batch(self);
    return;
  }
  // A whole pass without a record to prune: none is left until a new id is retired, a write
  // supersedes a retired id's sibling that a record still holds, or a copy still naming a
  // retired id arrives (a wiped replica refilled by anti-entropy after its pass, a stale
  // replica's repair). Passes come back a grace later while ids are retired: one read of the
  // data per grace period (a day by default).
  if (st.pruning_pass && !st.prune_found) {
    st.prune_wanted = false;
    auto grace_us = std::chrono::duration_cast<std::chrono::microseconds>(st.options.grace).count();
    st.prune_again_us = st.options.clock->wall() + grace_us;
  }
  end_sweep(self);
}

/// Reads the next batch of the pruning pass and prunes what it may of it: every record of the
/// partition (from a cursor, like the handoff's scan), as no index finds the records whose
/// context names an id.
void prune_step(self_ptr self) {
  auto& st = self->state;
  auto p = st.options.partitions[st.next].first;
  auto limit = st.options.batch;
  auto retired = st.retired;
  self->request(st.options.storage, st.options.timeout, scan_atom::value, p, st.cursor, limit)
      .then(
          [=](std::vector<keyed_record>& batch) {
            auto& st = self->state;
            auto others = advance(st, true, p, batch, limit);
            if (!others) {
              next_batch(self);
              return;
            }
            auto now = st.options.clock->wall();
            auto grace_us =
                std::chrono::duration_cast<std::chrono::microseconds>(st.options.grace).count();
            std::vector<keyed_record> due;
            for (auto& kr : batch) {
              if (dvv::prunable_entries(kr.rec, retired).empty())
                continue;
              st.prune_found = true;
              if (dvv::prune_due(kr.rec, retired, now, grace_us))
                due.push_back(std::move(kr));
            }
            act_on_each(self, std::move(due), [=](const keyed_record& kr, auto done) {
              confirm_and_prune(self, p, *others, kr.key, kr.rec, retired, done);
            });
          },
          [=](caf::error&) {
            auto& st = self->state;
            st.prune_found = true; // not read: not known to hold nothing to prune
            ++st.next;
            st.cursor.clear();
            next_batch(self);
          });
}

/// Reads the next batch of the partition under way and collects what it may of it.
void sweep_step(self_ptr self) {
  auto& st = self->state;
  if (st.next >= st.options.partitions.size()) {
    end_pass(self);
    return;
  }
  if (st.pruning_pass) {
    prune_step(self);
    return;
  }
  auto p = st.options.partitions[st.next].first;
  auto limit = st.options.batch;
  // Only the records dead for longer than the grace: storage reads them from an index, so a
  // sweep costs the partition's dying records, not all of them.
  auto grace_us = std::chrono::duration_cast<std::chrono::microseconds>(st.options.grace).count();
  auto dead_before = st.options.clock->wall() - grace_us;
  self->request(st.options.storage, st.options.timeout, reap_atom::value, p, st.cursor, limit,
                dead_before)
      .then(
          [=](std::vector<keyed_record>& batch) {
            auto& st = self->state;
            auto others = advance(st, false, p, batch, limit);
            if (!others) {
              next_batch(self);
              return;
            }
            auto now = st.options.clock->wall();
            std::vector<keyed_record> due;
            for (auto& kr : batch)
              if (dvv::tombstone_due(kr.rec, now, grace_us))
                due.push_back(std::move(kr));
            act_on_each(self, std::move(due), [=](const keyed_record& kr, auto done) {
              confirm_and_reap(self, p, *others, kr.key, kr.rec, done);
            });
          },
          [=](caf::error&) {
            auto& st = self->state;
            ++st.next;
            st.cursor.clear();
            next_batch(self);
          });
}

collector_impl::behavior_type collector_behavior(self_ptr self, collector_options options) {
  self->state.options = std::move(options);
  if (!self->state.options.clock)
    self->state.options.clock = std::make_shared<node_clock>();
  self->delayed_send(self, sweep_interval(self->state.options.grace), caf::tick_atom::value);
  return {
      [=](peer_atom, std::vector<peer_view>& peers) {
        self->state.peers.update(std::move(peers),
                                 caf::actor_cast<peer_waker_actor>(self->current_sender()));
      },
      [=](replicas_atom,
          std::vector<std::pair<partition_id, std::vector<std::string>>>& partitions) {
        auto& st = self->state;
        if (partitions == st.options.partitions)
          return;
        // A sweep under way goes on over the new list from its start. New partitions may hold
        // entries to prune (a handoff copies records as they are).
        st.options.partitions = std::move(partitions);
        st.pruning_pass = false;
        st.next = 0;
        st.cursor.clear();
        st.prune_wanted = !st.retired.empty();
      },
      [=](prune_atom, std::vector<replica_id>& retired) {
        auto& st = self->state;
        if (retired == st.retired)
          return;
        st.retired = std::move(retired);
        st.prune_wanted = !st.retired.empty();
        // A pass under way may have read records before the new id counted: it cannot tell
        // that nothing is left to prune.
        st.prune_found = true;
      },
      [=](status_atom) -> caf::result<uint64_t, uint64_t, uint64_t> {
        return {self->state.collected, self->state.sweeps, self->state.pruned};
      },
      [=](caf::tick_atom) { // a sweep starts
        auto& st = self->state;
        if (st.prune_again_us != 0 && st.options.clock->wall() >= st.prune_again_us) {
          st.prune_again_us = 0;
          st.prune_wanted = !st.retired.empty();
        }
        self->state.pruning_pass = false;
        self->state.next = 0;
        self->state.cursor.clear();
        sweep_step(self);
      },
      [=](caf::tick_atom, uint64_t) { sweep_step(self); },
  };
}

} // namespace

std::chrono::milliseconds sweep_interval(std::chrono::seconds grace) {
  return std::max<std::chrono::milliseconds>(std::chrono::seconds{1}, grace / 4);
}

collector_actor spawn_collector(caf::actor_system& sys, collector_options options) {
  return sys.spawn(collector_behavior, std::move(options));
}

} // namespace actorkv
