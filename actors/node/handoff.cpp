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
              "handoff of partition " + std::to_string(k.partition) + " to " + k.target +
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
            log_event(log_subsystem::handoff, st.options.node,
                      "partition " + std::to_string(k.partition) + " handed off; " +
                          std::to_string(deleted + dropped) + " records deleted here");
            self->send(st.options.listener, release_atom::value, k.partition);
            if (st.active == drop_id)
              st.active = 0;
            next_stream(self);
          },
          [=](caf::error& err) {
            // What is left stays; the next list retries the release (streaming again is harmless).
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

void next_stream(self_ptr self) {
  auto& st = self->state;
  st.stats.tasks_queued = static_cast<uint32_t>(open_streams(st).size());
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
      waiting = true;
      continue;
    }
    st.active = ++st.last_id;
    st.active_epoch = st.epoch;
    auto& pr = st.progress[k];
    if (pr.cursor.empty() && !pr.since_us)
      pr.acked_read_us = st.options.wall(); // nothing acknowledged yet: nothing to catch up on
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
        self->state.peers.replace(std::move(peers));
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
        for (auto& k : open_streams(st))
          if (st.sized.insert(k).second)
            self->request(st.options.storage, st.options.timeout, count_atom::value, k.partition)
                .then([=](uint64_t n) { self->state.stats.keys_total += n; }, [](caf::error&) {});
        next_stream(self);
      },
      [=](status_atom) {
        auto& st = self->state;
        st.stats.tasks_queued = static_cast<uint32_t>(open_streams(st).size());
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
