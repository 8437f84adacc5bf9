#include "actors/node/collector.hpp"

#include <algorithm>
#include <memory>

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
  size_t next = 0;         ///< index into options.partitions of the sweep under way
  bytes cursor;            ///< the last key read of that partition (empty: from its first)
  uint64_t collected = 0;  ///< tombstones erased here since start
  uint64_t sweeps = 0;     ///< sweeps finished
  uint64_t this_sweep = 0; ///< tombstones erased by the sweep under way
};

using self_ptr = collector_impl::stateful_pointer<collector_state>;

void next_batch(self_ptr self) {
  self->delayed_send(self, self->state.options.pace, caf::tick_atom::value, uint64_t{0});
}

/// Erases the tombstone `rec` of `key` here if every other home replica holds the same record or
/// none: no replica can then bring back what it deleted. Calls `done` in any case.
void confirm_and_reap(self_ptr self, partition_id p, const std::vector<std::string>& others,
                      const bytes& key, const record& rec, std::function<void()> done) {
  auto& st = self->state;
  std::vector<vnode_actor> vnodes;
  for (auto& name : others) {
    auto* vnode = st.peers.vnodes(name);
    if (!vnode) { // a replica that is down may hold the old value: wait for it
      done();
      return;
    }
    vnodes.push_back(*vnode);
  }
  auto left = std::make_shared<size_t>(vnodes.size());
  auto agreed = std::make_shared<bool>(true);
  auto reap = [=] {
    if (!*agreed) {
      done();
      return;
    }
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
  if (vnodes.empty()) { // N = 1: this replica is the only one
    reap();
    return;
  }
  auto answered = [=](bool same_or_none) {
    *agreed = *agreed && same_or_none;
    if (--*left == 0)
      reap();
  };
  for (auto& vnode : vnodes)
    self->request(vnode, st.options.timeout, read_atom::value, p, key)
        .then(
            [=](const replica_read& theirs) {
              // An unreadable copy might be the old value: it does not count as none.
              answered(theirs.found ? theirs.rec == rec : !theirs.corrupt);
            },
            [=](caf::error&) { answered(false); });
}

void end_sweep(self_ptr self) {
  auto& st = self->state;
  ++st.sweeps;
  if (st.this_sweep > 0)
    log_event(log_subsystem::tombstones, st.options.node,
              "tombstone collection: " + std::to_string(st.this_sweep) + " tombstones collected (" +
                  std::to_string(st.collected) + " since start)");
  st.this_sweep = 0;
  st.next = 0;
  st.cursor.clear();
  self->delayed_send(self, sweep_interval(st.options.grace), caf::tick_atom::value);
}

/// Reads the next batch of the partition under way and collects what it may of it.
void sweep_step(self_ptr self) {
  auto& st = self->state;
  if (st.next >= st.options.partitions.size()) {
    end_sweep(self);
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
            if (st.next >= st.options.partitions.size() ||
                st.options.partitions[st.next].first != p) {
              next_batch(self); // the list changed meanwhile: go on over the new one
              return;
            }
            auto others = st.options.partitions[st.next].second;
            if (batch.size() < limit) {
              ++st.next;
              st.cursor.clear();
            } else {
              st.cursor = batch.back().key;
            }
            auto now = st.options.clock->wall();
            auto due = std::make_shared<std::vector<keyed_record>>();
            for (auto& kr : batch)
              if (dvv::tombstone_due(kr.rec, now, grace_us))
                due->push_back(std::move(kr));
            if (due->empty()) {
              next_batch(self);
              return;
            }
            // At most `batch` keys in flight, each two reads per other replica and one erase.
            auto left = std::make_shared<size_t>(due->size());
            for (auto& kr : *due)
              confirm_and_reap(self, p, others, kr.key, kr.rec, [=] {
                if (--*left == 0)
                  next_batch(self);
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
        self->state.peers.replace(std::move(peers));
      },
      [=](replicas_atom,
          std::vector<std::pair<partition_id, std::vector<std::string>>>& partitions) {
        auto& st = self->state;
        if (partitions == st.options.partitions)
          return;
        // A sweep under way goes on over the new list from its start.
        st.options.partitions = std::move(partitions);
        st.next = 0;
        st.cursor.clear();
      },
      [=](status_atom) -> caf::result<uint64_t, uint64_t> {
        return {self->state.collected, self->state.sweeps};
      },
      [=](caf::tick_atom) { // a sweep starts
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
