#include "actors/node/handoff.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include <caf/all.hpp>

#include "actors/node/event_log.hpp"
#include "actors/node/peer_directory.hpp"
#include "messages/error.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/record_codec.hpp"

namespace actorkv {

namespace {

/// tick: retry what waits; (tick, id): the running stream's next batch after its pause.
using handoff_impl =
    handoff_actor::extend<caf::reacts_to<caf::tick_atom>, caf::reacts_to<caf::tick_atom, uint64_t>>;

/// One stream: a partition to one target; a release stream deletes the partition when its last
/// target has it.
struct stream_key {
  partition_id partition;
  std::string target;
  bool release;
  bool operator<(const stream_key& o) const {
    return std::tie(release, partition, target) < std::tie(o.release, o.partition, o.target);
  }
};

/// Where a stream stands, kept across its interruptions (for the ring epoch it belongs to).
struct stream_progress {
  bytes cursor; ///< the last key the target acknowledged in the current pass (empty: none)
  /// The current pass sends only records with a sibling stamped at or after this (a catch-up
  /// pass after an interruption); nullopt: every record.
  std::optional<int64_t> since_us;
  /// A catch-up pass owed once the current one is through: writes stamped since then may have
  /// missed the target before the cursor.
  std::optional<int64_t> owed_since_us;
  /// Wall clock when the batch that ended at `cursor` was read (the target was up then).
  int64_t acked_read_us = 0;
};

struct handoff_state {
  static inline const char* name = "handoff";
  handoff_options options;
  peer_directory peers;
  uint64_t epoch = 0;
  std::vector<handoff_task> tasks;
  std::set<stream_key> finished; ///< transfers of this epoch, releases ever
  std::map<partition_id, caf::actor_clock::time_point>
      release_after;         ///< when each release may start
  uint64_t active = 0;       ///< id of the running stream, 0: none
  uint64_t active_epoch = 0; ///< the epoch the running stream was started for
  uint64_t last_id = 0;
  bool tick_scheduled = false;
  std::set<stream_key> failed_logged;
  std::set<stream_key> sized; ///< streams whose partition size counts in stats.keys_total
  std::map<stream_key, stream_progress> progress; ///< streams begun and not finished
  /// Keys each release sent its new replicas before the partition is deleted here (for the log).
  std::map<partition_id, uint64_t> release_sent;
  /// The released partition being deleted here, if any (its stream is finished: it still counts
  /// as queued, so status says releases run until the last one is deleted).
  std::optional<partition_id> dropping;
  /// The running stream's next batch (or a release's next deletion step), while it waits out the
  /// background pause.
  std::function<void()> paused_batch;
  handoff_stats stats;
};

using self_ptr = handoff_impl::stateful_pointer<handoff_state>;

void schedule(self_ptr self, std::chrono::milliseconds after) {
  if (self->state.tick_scheduled)
    return;
  self->state.tick_scheduled = true;
  self->delayed_send(self, after, caf::tick_atom::value);
}

/// Streams that still have to run.
std::vector<stream_key> open_streams(handoff_state& st) {
  std::vector<stream_key> out;
  for (auto& t : st.tasks)
    for (auto& target : t.targets) {
      stream_key k{t.partition, target, t.release};
      if (!st.finished.count(k))
        out.push_back(k);
    }
  return out;
}

/// What status counts as queued here: the streams to run and a partition being deleted.
uint32_t queued(handoff_state& st) {
  return static_cast<uint32_t>(open_streams(st).size()) + (st.dropping ? 1 : 0);
}

void next_stream(self_ptr self);

/// Runs `next` (the running stream's next unit, `id`) once the background pause allows:
/// foreground requests first, so while they are slow, batches and deletion steps wait.
void after_pause(self_ptr self, uint64_t id, std::function<void()> next) {
  auto& st = self->state;
  auto pause = st.options.background ? st.options.background->pause(self->clock().now())
                                     : std::chrono::milliseconds{0};
  if (pause.count() == 0) {
    next();
    return;
  }
  st.paused_batch = std::move(next);
  self->delayed_send(self, pause, caf::tick_atom::value, id);
}

void drop_step(self_ptr self, uint64_t drop_id, stream_key k, uint64_t deleted);

void stream_failed(self_ptr self, uint64_t id, const stream_key& k, const std::string& why) {
  auto& st = self->state;
  if (st.active != id)
    return;
  st.active = 0;
  if (auto it = st.progress.find(k); it != st.progress.end() && !it->second.cursor.empty()) {
    // What the target acknowledged stays; what was written before the cursor since the target
    // was last reached is sent by a catch-up pass once the stream is through.
    auto& pr = it->second;
    auto since =
        pr.acked_read_us -
        std::chrono::duration_cast<std::chrono::microseconds>(st.options.clock_margin).count();
    pr.owed_since_us = pr.owed_since_us ? std::min(*pr.owed_since_us, since) : since;
  }
  if (st.failed_logged.insert(k).second)
    log_event(log_subsystem::handoff, st.options.node,
              k.release
                  ? "release of partition " + std::to_string(k.partition) + " to " + k.target +
                        " interrupted (" + why + "); it compares again"
                  : "handoff of partition " + std::to_string(k.partition) + " to " + k.target +
                        " interrupted (" + why + "); it resumes after the last key acknowledged");
  schedule(self, st.options.retry);
}

void stream_finished(self_ptr self, uint64_t id, const stream_key& k) {
  auto& st = self->state;
  if (st.active != id)
    return;
  st.active = 0;
  ++st.stats.tasks_done;
  st.progress.erase(k);
  log_event(log_subsystem::handoff, log_level::debug, st.options.node,
            "partition " + std::to_string(k.partition) + " streamed to " + k.target +
                (k.release ? " (release)" : ""));
  if (!k.release) {
    // A transfer started for an earlier change still reports under that epoch: ignored there.
    if (st.active_epoch == st.epoch)
      st.finished.insert(k);
    self->send(st.options.listener, transfer_atom::value, st.active_epoch,
               partition_transfer{k.partition, k.target});
    next_stream(self);
    return;
  }
  st.finished.insert(k);
  // A release deletes the partition once every new replica has it.
  for (auto& t : st.tasks)
    if (t.release && t.partition == k.partition)
      for (auto& target : t.targets)
        if (!st.finished.count(stream_key{k.partition, target, true})) {
          next_stream(self);
          return;
        }
  st.active = ++st.last_id;
  st.dropping = k.partition;
  drop_step(self, st.active, k, 0);
}

/// Deletes the next drop_batch records of the released partition, then, after the background
/// pause, the next, until none is left: one request per step, so that a large partition never
/// holds the storage writer (and the foreground writes queued behind it) for long.
void drop_step(self_ptr self, uint64_t drop_id, stream_key k, uint64_t deleted) {
  auto& st = self->state;
  auto limit = std::max<uint32_t>(st.options.drop_batch, 1);
  self->request(st.options.storage, st.options.timeout, drop_atom::value, k.partition, limit)
      .then(
          [=](uint64_t dropped) {
            auto& st = self->state;
            if (dropped >= limit) {
              after_pause(self, drop_id, [=] { drop_step(self, drop_id, k, deleted + dropped); });
              return;
            }
            ++st.stats.partitions_released;
            auto sent = st.release_sent[k.partition];
            st.release_sent.erase(k.partition);
            log_event(log_subsystem::handoff, st.options.node,
                      "partition " + std::to_string(k.partition) + " handed off (" +
                          std::to_string(sent) + " keys its new replicas lacked sent first); " +
                          std::to_string(deleted + dropped) + " records deleted here");
            self->send(st.options.listener, release_atom::value, k.partition);
            st.dropping.reset();
            if (st.active == drop_id)
              st.active = 0;
            next_stream(self);
          },
          [=](caf::error& err) {
            // What is left stays; the next list retries the release (comparing again is
            // harmless).
            self->state.dropping.reset();
            for (auto& t : self->state.tasks)
              if (t.release && t.partition == k.partition)
                for (auto& target : t.targets)
                  self->state.finished.erase(stream_key{k.partition, target, true});
            stream_failed(self, drop_id, k, "deleting it failed: " + describe(err));
          });
}

/// Sends the batch of records after the stream's cursor, then the next, until the partition is
/// through; then a catch-up pass if one is owed, or the stream is finished.
void send_batch(self_ptr self, uint64_t id, stream_key k, vnode_actor target) {
  auto& st = self->state;
  auto timeout = st.options.timeout;
  auto& pr = st.progress[k];
  auto read_at = st.options.wall();
  self->request(st.options.storage, timeout, scan_atom::value, k.partition, pr.cursor,
                st.options.batch)
      .then(
          [=](std::vector<keyed_record>& batch) {
            auto& st = self->state;
            if (st.active != id)
              return;
            auto& pr = st.progress[k];
            if (batch.empty()) {
              if (!pr.owed_since_us) {
                stream_finished(self, id, k);
                return;
              }
              // Through, but interrupted on the way: once more from the start, sending only what
              // was written since.
              pr.since_us = pr.owed_since_us;
              pr.owed_since_us.reset();
              pr.cursor.clear();
              send_batch(self, id, k, target);
              return;
            }
            auto last = batch.back().key;
            std::vector<keyed_record> sending;
            for (auto& kr : batch)
              if (!pr.since_us || storage::newest_timestamp(kr.rec) >= *pr.since_us)
                sending.push_back(std::move(kr));
            if (sending.empty()) {
              pr.cursor = last;
              send_batch(self, id, k, target);
              return;
            }
            auto left = std::make_shared<size_t>(sending.size());
            auto failed = std::make_shared<bool>(false);
            auto count = sending.size();
            for (auto& kr : sending)
              self->request(target, timeout, merge_atom::value, k.partition, kr.key, kr.rec)
                  .then(
                      [=](const record&) {
                        if (--*left > 0 || *failed)
                          return;
                        auto& st = self->state;
                        st.stats.keys_sent += count;
                        if (k.release) { // not counted in advance (see send_release_keys)
                          st.stats.keys_total += count;
                          st.release_sent[k.partition] += count;
                        }
                        if (st.active != id)
                          return;
                        auto& pr = st.progress[k];
                        pr.cursor = last;
                        pr.acked_read_us = read_at;
                        after_pause(self, id, [=] { send_batch(self, id, k, target); });
                      },
                      [=](caf::error& err) {
                        if (*failed)
                          return;
                        *failed = true;
                        stream_failed(self, id, k, describe(err));
                      });
          },
          [=](caf::error& err) { stream_failed(self, id, k, "reading it: " + describe(err)); });
}

/// Leaves of a released partition whose keys one unit lists on both sides (about 2,400 keys at
/// 10M keys per node and Q = 256).
constexpr size_t release_leaves_per_unit = 16;

/// A release's comparison with one new replica: the leaves whose digests differ there, and the
/// keys of the unit under way that it lacks.
struct release_diff {
  std::vector<uint64_t> leaves;
  size_t next_leaf = 0;
  std::vector<bytes> keys;
  size_t next_key = 0;
};

void compare_release_unit(self_ptr self, uint64_t id, stream_key k, vnode_actor target,
                          std::shared_ptr<release_diff> d);

/// Sends the target up to `batch` of the unit's keys it lacks (each read here, merged there),
/// then, after the background pause, the next ones, then compares the next unit's leaves.
void send_release_keys(self_ptr self, uint64_t id, stream_key k, vnode_actor target,
                       std::shared_ptr<release_diff> d) {
  auto& st = self->state;
  if (st.active != id)
    return;
  if (d->next_key == d->keys.size()) {
    after_pause(self, id, [=] { compare_release_unit(self, id, k, target, d); });
    return;
  }
  auto count =
      std::min<size_t>(std::max<uint32_t>(st.options.batch, 1), d->keys.size() - d->next_key);
  auto left = std::make_shared<size_t>(count);
  auto failed = std::make_shared<bool>(false);
  auto sent = std::make_shared<uint64_t>(0);
  auto timeout = st.options.timeout;
  auto one_done = [=] {
    if (--*left > 0 || *failed)
      return;
    auto& st = self->state;
    // A release's keys become known as its comparison finds them: they count in the total too,
    // so that progress stays within it.
    st.stats.keys_sent += *sent;
    st.stats.keys_total += *sent;
    st.release_sent[k.partition] += *sent;
    if (st.active != id)
      return;
    d->next_key += count;
    after_pause(self, id, [=] { send_release_keys(self, id, k, target, d); });
  };
  auto fail = [=](const std::string& why) {
    if (*failed)
      return;
    *failed = true;
    stream_failed(self, id, k, why);
  };
  for (size_t i = d->next_key; i < d->next_key + count; ++i) {
    auto key = d->keys[i];
    self->request(st.options.storage, timeout, read_atom::value, k.partition, key)
        .then(
            [=](replica_read& mine) {
              if (!mine.found) { // deleted here since, or unreadable: nothing to hand on
                one_done();
                return;
              }
              self->request(target, timeout, merge_atom::value, k.partition, key, mine.rec)
                  .then(
                      [=](const record&) {
                        ++*sent;
                        one_done();
                      },
                      [=](caf::error& err) { fail(describe(err)); });
            },
            [=](caf::error& err) { fail("reading it: " + describe(err)); });
  }
}

/// Lists the keys of the next unit's differing leaves on both sides and sends the target those
/// it lacks or holds otherwise; the stream is finished once every differing leaf is through.
void compare_release_unit(self_ptr self, uint64_t id, stream_key k, vnode_actor target,
                          std::shared_ptr<release_diff> d) {
  auto& st = self->state;
  if (st.active != id)
    return;
  if (d->next_leaf == d->leaves.size()) {
    stream_finished(self, id, k);
    return;
  }
  auto end = std::min(d->leaves.size(), d->next_leaf + release_leaves_per_unit);
  std::vector<uint64_t> unit(d->leaves.begin() + d->next_leaf, d->leaves.begin() + end);
  auto timeout = st.options.timeout;
  self->request(st.options.storage, timeout, leafkeys_atom::value, k.partition, unit)
      .then(
          [=](std::vector<key_digest>& mine) {
            self->request(target, timeout, leafkeys_atom::value, k.partition, unit)
                .then(
                    [=](std::vector<key_digest>& theirs) {
                      if (self->state.active != id)
                        return;
                      std::map<bytes, uint64_t> there;
                      for (auto& kd : theirs)
                        there.emplace(std::move(kd.key), kd.digest);
                      d->keys.clear();
                      d->next_key = 0;
                      // Digest 0: unreadable here, nothing to hand on (anti-entropy's business).
                      for (auto& kd : mine)
                        if (kd.digest != 0) {
                          auto it = there.find(kd.key);
                          if (it == there.end() || it->second != kd.digest)
                            d->keys.push_back(std::move(kd.key));
                        }
                      d->next_leaf = end;
                      send_release_keys(self, id, k, target, d);
                    },
                    [=](caf::error& err) {
                      stream_failed(self, id, k, "listing its keys: " + describe(err));
                    });
          },
          [=](caf::error& err) {
            stream_failed(self, id, k, "listing keys here: " + describe(err));
          });
}

/// A release hands the new replica only what it lacks: it took the partition in from the
/// transfer and the writes coordinators sent it during the change, so streaming every record
/// once more (as releases first did) mostly sent what it held. The Merkle trees of both sides
/// name the leaves that differ; in those, the keys whose digests differ are sent. Without a tree
/// here (or with trees of another shape) every record is streamed.
void start_release(self_ptr self, uint64_t id, stream_key k, vnode_actor target) {
  auto& st = self->state;
  auto timeout = st.options.timeout;
  auto depth = static_cast<uint32_t>(storage::tree_leaf_bits);
  self->request(st.options.storage, timeout, tree_atom::value, k.partition, depth)
      .then(
          [=](std::vector<uint64_t>& mine) {
            self->request(target, timeout, tree_atom::value, k.partition, depth)
                .then(
                    [=](std::vector<uint64_t>& theirs) {
                      if (self->state.active != id)
                        return;
                      if (mine.size() != theirs.size()) {
                        send_batch(self, id, k, target);
                        return;
                      }
                      auto d = std::make_shared<release_diff>();
                      for (auto leaf : storage::merkle_tree::differing(mine, theirs))
                        d->leaves.push_back(leaf);
                      compare_release_unit(self, id, k, target, d);
                    },
                    [=](caf::error& err) {
                      stream_failed(self, id, k, "reading its tree: " + describe(err));
                    });
          },
          [=](caf::error&) {
            if (self->state.active == id)
              send_batch(self, id, k, target);
          });
}

void next_stream(self_ptr self) {
  auto& st = self->state;
  st.stats.tasks_queued = queued(st);
  if (st.active != 0)
    return;
  bool waiting = false;
  auto now = self->clock().now();
  for (auto& k : open_streams(st)) {
    if (k.release) {
      auto& after = st.release_after[k.partition];
      if (after == caf::actor_clock::time_point{})
        after = now + st.options.release_grace;
      if (now < after) {
        waiting = true;
        continue;
      }
    }
    auto* target = st.peers.vnodes(k.target);
    if (!target) {
      st.peers.wake(self, k.target); // its idle connection was closed: the next list has it up
      waiting = true;
      continue;
    }
    st.active = ++st.last_id;
    st.active_epoch = st.epoch;
    auto& pr = st.progress[k];
    if (pr.cursor.empty() && !pr.since_us)
      pr.acked_read_us = st.options.wall(); // nothing acknowledged yet: nothing to catch up on
    if (k.release && pr.cursor.empty() && !pr.owed_since_us)
      start_release(self, st.active, k, *target);
    else
      send_batch(self, st.active, k, *target);
    return;
  }
  if (waiting)
    schedule(self, st.options.retry);
}

handoff_impl::behavior_type handoff_behavior(self_ptr self, handoff_options options) {
  self->state.options = std::move(options);
  return {
      [=](peer_atom, std::vector<peer_view>& peers) {
        self->state.peers.update(std::move(peers),
                                 caf::actor_cast<peer_waker_actor>(self->current_sender()));
        next_stream(self);
      },
      [=](handoff_atom, uint64_t epoch, std::vector<handoff_task>& tasks) {
        auto& st = self->state;
        if (epoch != st.epoch) {
          // Transfers belong to one change; releases outlive it.
          for (auto it = st.finished.begin(); it != st.finished.end();)
            it = it->release ? std::next(it) : st.finished.erase(it);
          for (auto it = st.progress.begin(); it != st.progress.end();)
            it = it->first.release ? std::next(it) : st.progress.erase(it);
          st.epoch = epoch;
        }
        st.tasks = std::move(tasks);
        // Progress counts each stream's partition as large as it is when the stream is queued
        // (storage counts without reading records; nothing waits for it).
        // A release sends only what its new replicas lack: not counted.
        for (auto& k : open_streams(st))
          if (!k.release && st.sized.insert(k).second)
            self->request(st.options.storage, st.options.timeout, count_atom::value, k.partition)
                .then([=](uint64_t n) { self->state.stats.keys_total += n; }, [](caf::error&) {});
        next_stream(self);
      },
      [=](status_atom) {
        auto& st = self->state;
        st.stats.tasks_queued = queued(st);
        return st.stats;
      },
      [=](caf::tick_atom) {
        self->state.tick_scheduled = false;
        next_stream(self);
      },
      [=](caf::tick_atom, uint64_t id) {
        auto& st = self->state;
        auto next = std::move(st.paused_batch);
        st.paused_batch = nullptr;
        if (next && st.active == id)
          next();
      },
  };
}

} // namespace

handoff_actor spawn_handoff(caf::actor_system& sys, handoff_options options) {
  return sys.spawn(handoff_behavior, std::move(options));
}

} // namespace actorkv
