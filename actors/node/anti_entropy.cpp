#include "actors/node/anti_entropy.hpp"

#include <algorithm>
#include <map>
#include <memory>

#include <caf/all.hpp>

#include "actors/node/event_log.hpp"
#include "actors/node/peer_directory.hpp"
#include "messages/dvv.hpp"
#include "storage/merkle_tree.hpp"

namespace actorkv {

namespace {

using ae_impl = anti_entropy_actor::extend<caf::reacts_to<caf::tick_atom>,
                                           caf::reacts_to<caf::tick_atom, uint64_t>>;

/// The keys of one partition that differ, repaired at most options.repairs at a time, in units of
/// options.unit keys with the background pause between two units.
struct repair_queue {
  partition_id partition = 0;
  std::string peer; ///< the other side's name
  vnode_actor remote;
  std::vector<bytes> keys;
  std::vector<bool> absent_there; ///< per key: the other side did not list it
  size_t next = 0;                ///< keys[next] is the next to start
  size_t running = 0;             ///< repairs started and not done
  size_t in_unit = 0;             ///< repairs started in the unit under way
};

struct ae_state {
  static inline const char* name = "anti_entropy";
  anti_entropy_options options;
  peer_directory peers;
  anti_entropy_stats stats; ///< its round figures count the round under way
  size_t next = 0;          ///< index into options.partitions within the running round
  /// The partition's repairs waiting for the pause after a unit (resume_repairs).
  std::shared_ptr<repair_queue> waiting;
};

/// (tick_atom, next_partition_tick): the round goes on; (tick_atom, resume_repairs): the next
/// unit of the partition's repairs starts.
constexpr uint64_t next_partition_tick = 0;
constexpr uint64_t resume_repairs = 1;

using self_ptr = ae_impl::stateful_pointer<ae_state>;

void next_partition(self_ptr self);

/// The pause before the next unit of background work: the background gate's, at least `floor`.
std::chrono::milliseconds background_pause(self_ptr self, std::chrono::milliseconds floor) {
  auto& o = self->state.options;
  return o.background ? o.background->pause(self->clock().now(), floor) : floor;
}

// A unit of anti-entropy's repairs loads two nodes: the worker's own and the other side, whose
// records it reads or which takes in the records it lacks. Each node's pace
// (background_gate.hpp) judges the foreground of its own node only, and a peer's
// background reads and writes are not foreground there. So a worker paced by its own gate alone
// ran at its own node's speed however slow the peer's clients were: in a refill of 10M keys the
// wiped replica, whose own replica latency was high because it was being refilled (so its
// relative target was wide), pulled from its peers at 20-30 units a second while the node its
// clients used sat at its floor of one. Before each unit the worker therefore asks the other
// side's vnodes for the pause its pace asks (pace_atom) and waits the longer of the two. A peer
// that does not answer in time (gone, cut off, a build without pace_atom) counts as asking none.
// The handoff does not ask its target: a joining node is slow because it takes the handoff in,
// and a 10M join whose batches waited for its pause went at a fifth of its speed
// (BENCHMARKS.md), an operator's wait that spared clients little.

/// Status no longer says a peer's pace holds the worker back.
void clear_peer_pause(anti_entropy_stats& stats) {
  stats.peer_pause_ms = 0;
  stats.paced_by.clear();
}

/// Calls `then(pause)` with the pause before the next unit of repairs against `remote`: the
/// longer of this node's and the one `remote` asks for (none without a gate: unpaced). When the
/// other side's is longer, status says so (stats.peer_pause_ms, stats.paced_by).
template <class Then>
void unit_pause(self_ptr self, const std::string& peer, const vnode_actor& remote, Then then) {
  auto& o = self->state.options;
  clear_peer_pause(self->state.stats);
  if (!o.background) {
    then(std::chrono::milliseconds{0});
    return;
  }
  self->request(remote, o.timeout, pace_atom::value)
      .then(
          [=](uint32_t theirs) {
            auto own = background_pause(self, std::chrono::milliseconds{0});
            if (std::chrono::milliseconds{theirs} > own) {
              self->state.stats.peer_pause_ms = theirs;
              self->state.stats.paced_by = peer;
            }
            then(std::max(own, std::chrono::milliseconds{theirs}));
          },
          [=](caf::error&) { then(background_pause(self, std::chrono::milliseconds{0})); });
}

/// Moves on to the next partition after the pause that spares foreground work.
void done_with_partition(self_ptr self) {
  clear_peer_pause(self->state.stats);
  ++self->state.next;
  self->state.stats.partition = self->state.next;
  self->delayed_send(self, background_pause(self, self->state.options.pace), caf::tick_atom::value,
                     next_partition_tick);
}

void end_round(self_ptr self) {
  auto& st = self->state;
  ++st.stats.rounds;
  st.stats.repairs_last_round = st.stats.repairs_this_round;
  st.stats.repairs_total += st.stats.repairs_this_round;
  if (st.stats.repairs_this_round > 0)
    log_event(log_subsystem::anti_entropy, st.options.node,
              "anti-entropy round " + std::to_string(st.stats.rounds) + ": " +
                  std::to_string(st.stats.repairs_this_round) + " keys repaired");
  else
    log_event(log_subsystem::anti_entropy, log_level::debug, st.options.node,
              "anti-entropy round " + std::to_string(st.stats.rounds) + ": no differences");
  st.stats.repairs_this_round = 0;
  st.stats.partition = 0;
  st.stats.partitions = 0; // no round under way
  st.next = 0;
  self->delayed_send(self, st.options.interval, caf::tick_atom::value);
}

/// Merges both sides' records of `key` and sends the merge to each side that lacked it.
void settle(self_ptr self, partition_id p, const vnode_actor& remote, const bytes& key,
            const replica_read& mine, const replica_read& theirs,
            const std::function<void()>& done) {
  if (!mine.found && !theirs.found) {
    done();
    return;
  }
  auto& o = self->state.options;
  record merged = !mine.found     ? theirs.rec
                  : !theirs.found ? mine.rec
                                  : dvv::merge(mine.rec, theirs.rec, o.conflicts);
  // A side without the key needs no tombstone that is due for collection (an unreadable copy
  // might be the old value: it gets it).
  auto due = dvv::tombstone_due(
      merged, o.clock->wall(),
      std::chrono::duration_cast<std::chrono::microseconds>(o.tombstone_grace).count());
  auto lacks = [&](const replica_read& r) { return r.found ? r.rec != merged : r.corrupt || !due; };
  auto left = std::make_shared<int>(0);
  auto finish = [=] {
    if (--*left == 0)
      done();
  };
  if (lacks(mine)) {
    ++*left;
    self->request(o.storage, o.timeout, merge_atom::value, p, key, merged)
        .then([=](const record&) { finish(); }, [=](caf::error&) { finish(); });
  }
  if (lacks(theirs)) {
    ++*left;
    self->request(remote, o.timeout, merge_atom::value, p, key, merged)
        .then([=](const record&) { finish(); }, [=](caf::error&) { finish(); });
  }
  if (*left == 0)
    done();
  else
    ++self->state.stats.repairs_this_round;
}

/// Reads `key` on both sides and settles it. A key the other side did not list
/// (`absent_there`) is not read there when this side holds it: the merge is this side's record
/// (a key written there since merges with it), so a wiped replica's refill costs one message
/// to it per key, not two.
void repair_key(self_ptr self, partition_id p, vnode_actor remote, bytes key, bool absent_there,
                std::function<void()> done) {
  auto timeout = self->state.options.timeout;
  self->request(self->state.options.storage, timeout, read_atom::value, p, key)
      .then(
          [=](replica_read& mine) {
            if (absent_there && mine.found) {
              settle(self, p, remote, key, mine, replica_read{}, done);
              return;
            }
            self->request(remote, timeout, read_atom::value, p, key)
                .then(
                    [=](replica_read& theirs) { settle(self, p, remote, key, mine, theirs, done); },
                    [=](caf::error&) { done(); });
          },
          [=](caf::error&) { done(); });
}

/// Starts repairs until `repairs` run, the unit is full or none is left; the partition is done
/// when all are; a full unit, once done, waits the background pause of both sides.
void pump(self_ptr self, const std::shared_ptr<repair_queue>& q) {
  auto& st = self->state;
  while (q->running < st.options.repairs && q->next < q->keys.size() &&
         q->in_unit < st.options.unit) {
    ++q->running;
    ++q->in_unit;
    ++st.stats.repairs_running;
    auto i = q->next++;
    repair_key(self, q->partition, q->remote, q->keys[i], q->absent_there[i], [self, q] {
      --q->running;
      --self->state.stats.repairs_running;
      pump(self, q);
    });
  }
  if (q->running > 0)
    return;
  if (q->next == q->keys.size()) {
    done_with_partition(self);
    return;
  }
  q->in_unit = 0;
  // A unit's repairs load the other side too (reads there, or records it takes in): its pace
  // counts (unit_pause).
  unit_pause(self, q->peer, q->remote, [self, q](std::chrono::milliseconds pause) {
                   if (pause.count() == 0) {
                     pump(self, q);
                     return;
                   }
                   self->state.waiting = q;
                   self->delayed_send(self, pause, caf::tick_atom::value, resume_repairs);
                 });
}

void compare_keys(self_ptr self, partition_id p, std::string peer, vnode_actor remote,
                  std::vector<uint64_t> leaves) {
  auto timeout = self->state.options.timeout;
  self->request(self->state.options.storage, timeout, leafkeys_atom::value, p, leaves)
      .then(
          [=](std::vector<key_digest>& mine) {
            self->request(remote, timeout, leafkeys_atom::value, p, leaves)
                .then(
                    [=](std::vector<key_digest>& theirs) {
                      // Digest 0 stands for absent or corrupt.
                      struct both {
                        uint64_t mine = 0;
                        uint64_t theirs = 0;
                        bool listed_there = false;
                      };
                      std::map<bytes, both> digests;
                      for (auto& kd : mine)
                        digests[kd.key].mine = kd.digest;
                      for (auto& kd : theirs) {
                        auto& d = digests[kd.key];
                        d.theirs = kd.digest;
                        d.listed_there = true;
                      }
                      auto q = std::make_shared<repair_queue>();
                      q->partition = p;
                      q->peer = peer;
                      q->remote = remote;
                      for (auto& [key, d] : digests)
                        if (d.mine != d.theirs || d.mine == 0) {
                          q->keys.push_back(key);
                          q->absent_there.push_back(!d.listed_there);
                        }
                      pump(self, q);
                    },
                    [=](caf::error&) { done_with_partition(self); });
          },
          [=](caf::error&) { done_with_partition(self); });
}

void compare_trees(self_ptr self, partition_id p, std::string peer, vnode_actor remote) {
  auto timeout = self->state.options.timeout;
  auto storage = self->state.options.storage;
  auto leaf_depth = static_cast<uint32_t>(storage::merkle_tree{}.leaf_bits());
  self->request(storage, timeout, tree_atom::value, p, uint32_t{0})
      .then(
          [=](std::vector<uint64_t>& my_root) {
            self->request(remote, timeout, tree_atom::value, p, uint32_t{0})
                .then(
                    [=](std::vector<uint64_t>& their_root) {
                      if (my_root == their_root) {
                        done_with_partition(self);
                        return;
                      }
                      // Roots differ: descend to the leaves and compare only the differing ones.
                      self->request(storage, timeout, tree_atom::value, p, leaf_depth)
                          .then(
                              [=](std::vector<uint64_t>& mine) {
                                self->request(remote, timeout, tree_atom::value, p, leaf_depth)
                                    .then(
                                        [=](std::vector<uint64_t>& theirs) {
                                          if (mine.size() != theirs.size()) {
                                            done_with_partition(self);
                                            return;
                                          }
                                          std::vector<uint64_t> leaves;
                                          for (auto i :
                                               storage::merkle_tree::differing(mine, theirs))
                                            leaves.push_back(i);
                                          compare_keys(self, p, peer, remote, std::move(leaves));
                                        },
                                        [=](caf::error&) { done_with_partition(self); });
                              },
                              [=](caf::error&) { done_with_partition(self); });
                    },
                    [=](caf::error&) { done_with_partition(self); });
          },
          [=](caf::error&) { done_with_partition(self); });
}

void next_partition(self_ptr self) {
  auto& st = self->state;
  while (st.next < st.options.partitions.size()) {
    auto& [p, others] = st.options.partitions[st.next];
    // Rotate through the other replicas from round to round.
    for (size_t k = 0; k < others.size(); ++k) {
      auto& name = others[(st.stats.rounds + k) % others.size()];
      if (auto* vnode = st.peers.vnodes(name)) {
        compare_trees(self, p, name, *vnode);
        return;
      }
      st.peers.wake(self, name); // a later round finds it connected
    }
    st.stats.partition = ++st.next; // no other replica up: nothing to compare with
  }
  end_round(self);
}

ae_impl::behavior_type ae_behavior(self_ptr self, anti_entropy_options options) {
  self->state.options = std::move(options);
  self->delayed_send(self, self->state.options.interval, caf::tick_atom::value);
  return {
      [=](peer_atom, std::vector<peer_view>& peers) {
        self->state.peers.update(std::move(peers),
                                 caf::actor_cast<peer_waker_actor>(self->current_sender()));
      },
      [=](replicas_atom,
          std::vector<std::pair<partition_id, std::vector<std::string>>>& partitions) {
        // A round under way goes on over the new list; its index may now skip or repeat one.
        self->state.options.partitions = std::move(partitions);
      },
      [=](status_atom) { return self->state.stats; },
      [=](caf::tick_atom) { // a round starts
        self->state.next = 0;
        self->state.stats.partition = 0;
        self->state.stats.partitions = self->state.options.partitions.size();
        next_partition(self);
      },
      [=](caf::tick_atom, uint64_t what) {
        if (what == resume_repairs) {
          if (auto q = std::move(self->state.waiting))
            pump(self, q);
          return;
        }
        next_partition(self); // the round goes on
      },
  };
}

} // namespace

anti_entropy_actor spawn_anti_entropy(caf::actor_system& sys, anti_entropy_options options) {
  return sys.spawn(ae_behavior, std::move(options));
}

} // namespace actorkv
