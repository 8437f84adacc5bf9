#include "actors/node/storage_actor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
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
#include "storage/thread_priority.hpp"

namespace actorkv {

namespace {

/// The reader: a read-only connection (storage::reader) on a thread of its own (detached: its
/// reads block on disk). It serves the reads of committed data (read, batches of reads, hints,
/// leafkeys, scan) and forwards every other request to the storage actor, so background work
/// holds it as its storage actor. close_atom (from the storage actor) closes its connection.
using reader_actor = storage_actor::extend<caf::replies_to<caf::close_atom>::with<caf::ok_atom>>;

/// The flush timer, a check coming due and a check's report are private: callers only see
/// storage_actor. So are the reader's reports: corrupt hints to delete (target, ids) and damage
/// it met (why a check should run).
using storage_impl =
    storage_actor::extend<caf::reacts_to<caf::flush_atom>, caf::reacts_to<check_atom, uint64_t>,
                          caf::reacts_to<check_atom, uint64_t, storage::integrity_report>,
                          caf::reacts_to<backup_atom, uint64_t, bool, std::string>,
                          caf::reacts_to<unhint_atom, std::string, std::vector<uint64_t>>,
                          caf::reacts_to<check_atom, std::string>,
                          caf::reacts_to<caf::open_atom, reader_actor>>;

/// Runs one integrity job on a thread of its own (spawned detached: it blocks on disk for as long
/// as the check takes) and answers with its report.
using checker_actor =
    caf::typed_actor<caf::replies_to<check_atom>::with<storage::integrity_report>>;

/// Runs one backup job on a thread of its own (detached, like the checker) and answers with a
/// description of what it wrote, or its error.
using backup_worker_actor = caf::typed_actor<caf::replies_to<backup_atom>::with<std::string>>;

/// The online backup's progress and outcome (kvsh backup polls it).
struct backup_progress {
  bool running = false;
  std::string path;    ///< of the current or last backup
  uint64_t id = 0;     ///< of the current backup
  std::string outcome; ///< how the last one ended ("" before the first)
  caf::actor_clock::time_point started;
  std::shared_ptr<storage::backup_control> control = std::make_shared<storage::backup_control>();
};

/// The integrity check's progress and outcome, for status.
struct check_progress {
  enum class phase { none, waiting, running, passed, damaged, failed };
  phase now = phase::none;
  std::string reason;   ///< why the current or last check runs
  uint64_t id = 0;      ///< of the current check
  uint64_t total = 0;   ///< records held when it started
  uint64_t repairs = 0; ///< records found unreadable (handed to anti-entropy) by the last check
  std::string outcome;  ///< how the last check ended
  caf::actor_clock::time_point started;
  /// Shared with the running check's thread: records read so far, and its cancellation.
  std::shared_ptr<storage::check_control> control = std::make_shared<storage::check_control>();
};

/// An answer owed once the open batch commits: called with the commit's error (none on success).
using pending_answer = std::function<void(const caf::error&)>;

struct storage_state {
  static inline const char* name = "storage";

  std::shared_ptr<storage::engine> engine;
  storage_options options;
  bool batch_open = false;
  size_t batch_writes = 0;
  std::vector<pending_answer> pending;
  /// Hints held per target, read from disk at start and kept in step by this actor, so that
  /// bounding the backlog costs no scan per write.
  std::map<std::string, uint64_t> hint_counts;
  /// What the open batch added to (or removed from) hint_counts: undone if it fails to commit.
  std::map<std::string, int64_t> batch_hint_delta;
  check_progress check;
  backup_progress backup;
  bool damage_checked = false; ///< a check has run (or runs) for damage the engine met
  bool writes_failing = false; ///< logged once when writes start failing, once when they recover
  std::mt19937_64 one_off_ids;
  storage_metrics metrics; ///< batch sizes, commit latency
  /// Serves the reads of committed data (null: this actor does: a memory engine, a simulation).
  reader_actor reader;
  /// The replica ids whose version-vector entries may be pruned (the view's prunable_ids, as the
  /// node last told them): a merge that would only give a record entries of these back keeps it.
  std::vector<replica_id> retired;
};

using self_ptr = storage_impl::stateful_pointer<storage_state>;

/// Reads a record from `source` (an engine or a reader), treating a corrupt one as a distinct
/// outcome for the caller to decide.
template <class Source>
replica_read read_from(Source& source, const std::string& node, partition_id p, const bytes& key) {
  replica_read out;
  auto rec = source.get(p, key);
  if (!rec) {
    out.corrupt = rec.error() == ec::corrupt_record;
    log_event(log_subsystem::storage, log_level::warning, node,
              "partition " + std::to_string(p) + " key " + key_for_log(key) + ": " +
                  describe(rec.error()) + "; treated as missing until repaired");
    return out;
  }
  if (*rec) {
    out.found = true;
    out.rec = std::move(**rec);
  }
  return out;
}

replica_read read_record(storage_state& st, partition_id p, const bytes& key) {
  return read_from(*st.engine, st.options.node, p, key);
}

/// Counts the hints on disk per target.
void recount_hints(storage_state& st) {
  auto counts = st.engine->hint_counts();
  st.hint_counts = counts ? std::move(*counts) : std::map<std::string, uint64_t>{};
}

/// Adds `n` (negative: removes) to the hints counted for `target`, remembering it for the open
/// batch.
void count_hints(storage_state& st, const std::string& target, int64_t n) {
  auto& held = st.hint_counts[target];
  held = static_cast<uint64_t>(static_cast<int64_t>(held) + n);
  if (held == 0)
    st.hint_counts.erase(target);
  st.batch_hint_delta[target] += n;
}

/// Logs the transitions between failing and working writes (a full disk, say), not every failure.
void note_write_outcome(storage_state& st, const caf::error& err) {
  if (err && !st.writes_failing)
    log_event(log_subsystem::storage, log_level::error, st.options.node,
              "storage writes failing, this replica stops acknowledging: " + describe(err));
  else if (!err && st.writes_failing)
    log_event(log_subsystem::storage, st.options.node, "storage writes succeed again");
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
    // The engine's leaves went back with the records; only the hint counts need undoing.
    st.engine->rollback();
    for (auto& [target, n] : st.batch_hint_delta) {
      auto& held = st.hint_counts[target];
      held = static_cast<uint64_t>(std::max<int64_t>(0, static_cast<int64_t>(held) - n));
      if (held == 0)
        st.hint_counts.erase(target);
    }
  }
  st.batch_hint_delta.clear();
  st.batch_open = false;
  st.batch_writes = 0;
  auto pending = std::move(st.pending);
  st.pending.clear();
  st.metrics.pending(0);
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
  st.metrics.pending(st.pending.size());
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
  count_hints(st, target, 1);
  ++st.batch_writes;
  return caf::none;
}

/// Stores `rec` in the open batch (the engine keeps its leaf in step).
caf::error store(storage_state& st, partition_id p, const bytes& key, const record& rec) {
  if (auto err = st.engine->put(p, key, rec)) {
    note_write_outcome(st, err);
    return err;
  }
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
  if (p >= st.options.partitions)
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
                           st.options.conflicts, op.expires_us);
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
                             st.options.conflicts, op.expires_us);
  // The client's limits are checked here, on the record the write would leave, before anything
  // is stored: this replica stores a client write first and the others only get what it returns,
  // so a refused write is stored nowhere (cluster-config/write_limits.hpp). Merges are not
  // checked. A fallback (above) holds no copy of the key: it has nothing to check against.
  if (auto err = check_client_write(current.rec, updated, op.limits))
    return err;
  if (auto err = store(st, p, op.key, updated))
    return err;
  return updated;
}

/// Merges a record from another replica into the stored one (inside the open batch when it
/// changes anything); returns the merged record.
caf::expected<record> apply_merge(self_ptr self, partition_id p, const bytes& key,
                                  const record& incoming) {
  auto& st = self->state;
  if (p >= st.options.partitions)
    return no_partition(p);
  if (auto err = open_batch(self))
    return err;
  st.options.clock->observe(incoming);
  // A corrupt local record is replaced by the incoming one: that is the repair.
  auto current = read_record(st, p, key);
  if (!current.found) {
    if (auto err = store(st, p, key, incoming))
      return err;
    return incoming;
  }
  auto merged = dvv::merge(current.rec, incoming, st.options.conflicts);
  if (merged == current.rec)
    return merged; // nothing new to write
  // The same siblings, and only entries of retired ids that the stored record lacks: it pruned
  // them (without pruning, every copy holding the siblings that superseded a retired id's writes
  // holds their entries too). Writing them back would undo the pruning, and a pruned and an
  // unpruned copy would be repaired back and forth; the unpruned one prunes too once its
  // collector finds every home replica agreeing (docs/design.md section 6).
  if (!st.retired.empty() && dvv::same_up_to_retired(merged, current.rec, st.retired))
    return current.rec;
  if (auto err = store(st, p, key, merged))
    return err;
  return merged;
}

/// Holds `rec` as a hint for `target`, inside the open batch.
caf::error apply_hint(self_ptr self, partition_id p, const std::string& target, const bytes& key,
                      const record& rec) {
  auto& st = self->state;
  if (p >= st.options.partitions)
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
    if (c.partition >= self->state.options.partitions)
      out.err = no_partition(c.partition);
    else
      out.read = read_record(self->state, c.partition, c.key);
    // A record above the coordinator's limit goes only once its budget holds it: answered with
    // its size, and let go here at once.
    if (auto size = estimated_wire_bytes(out);
        c.inline_limit != 0 && out.read.found && size > c.inline_limit) {
      out.read.rec = record{};
      out.read.withheld_bytes = size;
    }
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

/// The collector's compare-and-set: opens the batch and tells whether `key` still holds exactly
/// `expected`, the record the collector compared with every other replica (a write since wins).
caf::expected<bool> still_holds(self_ptr self, partition_id p, const bytes& key,
                                const record& expected) {
  auto& st = self->state;
  if (p >= st.options.partitions)
    return caf::make_error(ec::bad_request, "no such partition");
  if (auto err = open_batch(self))
    return err;
  auto now = read_record(st, p, key);
  return now.found && now.rec == expected;
}

/// What status shows of the integrity check.
std::string describe_check(self_ptr self) {
  auto& c = self->state.check;
  using phase = check_progress::phase;
  auto seconds = [&] {
    auto d = self->clock().now() - c.started;
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + " s";
  };
  switch (c.now) {
  case phase::none:
    return "none since start (none owed: the store was new or closed cleanly)";
  case phase::waiting:
  case phase::running: {
    auto read = std::to_string(c.control->records.load(std::memory_order_relaxed));
    // Without the Merkle summaries (after an unclean stop) the size is unknown until it is done.
    auto rebuilding = !self->state.engine->count(0);
    return "running for " + seconds() + " (" + c.reason + "), " + read +
           (rebuilding ? " records read, rebuilding the Merkle trees (anti-entropy waits)"
                       : " of about " + std::to_string(c.total) + " records read") +
           "; the node serves meanwhile";
  }
  default:
    return c.outcome;
  }
}

/// Starts a full integrity check of the store unless one is under way: after `check_delay`, a
/// detached checker runs the engine's job on a connection of its own while this actor serves.
/// Returns what it did.
std::string start_check(self_ptr self, const std::string& reason) {
  auto& st = self->state;
  auto& c = st.check;
  using phase = check_progress::phase;
  if (c.now == phase::waiting || c.now == phase::running)
    return "an integrity check is already running (" + c.reason + ")";
  c.now = phase::waiting;
  c.reason = reason;
  c.started = self->clock().now();
  c.control = std::make_shared<storage::check_control>();
  c.total = 0;
  for (partition_id p = 0; p < st.options.partitions; ++p)
    if (auto n = st.engine->count(p))
      c.total += *n;
  log_event(log_subsystem::storage, st.options.node,
            "integrity check started in the background (" + reason +
                "); the node serves meanwhile");
  self->delayed_send(self, st.options.check_delay, check_atom::value, ++c.id);
  return "integrity check started (" + std::to_string(c.total) +
         " records); status shows its progress";
}

/// Spawns the worker of one blocking job (an integrity check, a backup) whose behaviour `run`
/// makes: on a thread of its own at background priority, or, for a storage actor on the test
/// coordinator (options.detached false, a simulation over a memory engine), as a plain actor.
template <class Handle, class Run>
Handle spawn_worker(self_ptr self, Run run) {
  if (!self->state.options.detached)
    return self->spawn(run);
  return self->template spawn<caf::detached>(
      [run](typename Handle::pointer me) -> typename Handle::behavior_type {
        storage::lower_thread_priority(); // a detached actor's behaviour starts on its thread
        return run(me);
      });
}

/// Starts an online backup to `path` on a detached worker (the engine's job reads a snapshot
/// through a connection of its own, so this actor goes on serving and committing). Returns what
/// it did, or ec::bad_request when one is running.
caf::result<std::string> start_backup(self_ptr self, const std::string& path) {
  auto& st = self->state;
  auto& b = st.backup;
  if (b.running)
    return caf::make_error(ec::bad_request, "a backup to " + b.path + " is already running");
  if (path.empty() || path.front() != '/')
    return caf::make_error(
        ec::bad_request, "backup needs an absolute path on the node's machine, got '" + path + "'");
  b.running = true;
  b.path = path;
  b.started = self->clock().now();
  b.control = std::make_shared<storage::backup_control>();
  auto id = ++b.id;
  // The copy records whose it was: the node that opens it as its store draws a new replica id.
  auto job = st.engine->backup(path, "backup of " + st.options.node + " (replica id " +
                                         std::to_string(st.options.self) + ")");
  auto control = b.control;
  auto run = [job, control](backup_worker_actor::pointer me) -> backup_worker_actor::behavior_type {
    return {[=](backup_atom) -> caf::result<std::string> {
      auto done = job(*control);
      me->quit();
      if (!done)
        return std::move(done.error());
      return std::to_string(done->pages) + " pages (" +
             std::to_string(done->bytes / (1024 * 1024)) + " MiB)";
    }};
  };
  auto worker = spawn_worker<backup_worker_actor>(self, run);
  self->request(worker, caf::infinite, backup_atom::value)
      .then(
          [=](std::string& text) { self->send(self, backup_atom::value, id, true, text); },
          [=](caf::error& err) { self->send(self, backup_atom::value, id, false, describe(err)); });
  log_event(log_subsystem::storage, st.options.node,
            "backup to " + path +
                " started in the background; the node serves "
                "meanwhile");
  return "backup to " + path + " started";
}

/// What kvsh backup shows while it waits.
std::string describe_backup(self_ptr self) {
  auto& b = self->state.backup;
  if (!b.running)
    return b.outcome.empty() ? std::string{"no backup since start"} : b.outcome;
  auto done = b.control->pages_done.load();
  auto total = b.control->pages_total.load();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(self->clock().now() - b.started);
  return "backup to " + b.path + " running for " + std::to_string(secs.count()) +
         " s: " + std::to_string(done) + " of " + std::to_string(total) + " pages copied (" +
         std::to_string(total == 0 ? 0 : done * 100 / total) + "%)";
}

/// Acts on a check's report: marks the records found unreadable for anti-entropy (refreshing
/// their digests), records a passed check, or reports a damaged store.
void finish_check(self_ptr self, storage::integrity_report& report) {
  auto& st = self->state;
  auto& c = st.check;
  using phase = check_progress::phase;
  auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(self->clock().now() - c.started);
  auto when = "after " + std::to_string(took.count() / 1000) + "." +
              std::to_string(took.count() % 1000 / 100) + " s (" + c.reason + ")";
  if (report.damage) {
    c.now = phase::damaged;
    c.outcome = "the last found the file damaged " + when + ": " + describe(report.damage);
    log_event(log_subsystem::storage, log_level::error, st.options.node,
              "integrity check: " + describe(report.damage));
    if (st.options.on_damage)
      st.options.on_damage(describe(report.damage));
    return;
  }
  if (report.failure) {
    c.now = phase::failed;
    c.outcome = "the last could not finish " + when + ": " + describe(report.failure);
    log_event(log_subsystem::storage, log_level::error, st.options.node,
              "integrity check could not finish: " + describe(report.failure));
    return;
  }
  caf::error err = open_batch(self);
  if (!err)
    err = st.engine->check_done(report);
  ++st.batch_writes;
  c.repairs = report.suspects.size();
  if (err) {
    c.now = phase::failed;
    c.outcome = "the last could not record its findings " + when + ": " + describe(err);
    log_event(log_subsystem::storage, log_level::error, st.options.node,
              "integrity check: recording its findings failed: " + describe(err));
    return;
  }
  c.now = phase::passed;
  c.outcome = "the last passed " + when + ": " + std::to_string(report.records) +
              " records read, " + std::to_string(c.repairs) +
              " unreadable (left to anti-entropy to repair)";
  log_event(log_subsystem::storage, st.options.node,
            "integrity check passed: " + std::to_string(report.records) + " records read in " +
                std::to_string(took.count()) + " ms, " + std::to_string(c.repairs) +
                " unreadable (anti-entropy repairs them)");
}

/// After a call met damage of the file itself, checks the whole store once (in the background).
void check_if_damaged(self_ptr self) {
  auto& st = self->state;
  if (st.damage_checked || !st.engine->damage_seen())
    return;
  st.damage_checked = true;
  start_check(self, "a read or write met a damaged page");
}

/// Up to `limit` records of partition `p` after `after` (empty: from the first) from `source`;
/// with `dead_before`, only those dead for good since before it (the collector's read:
/// engine::for_each_dead, which never reads the live records).
template <class Source>
caf::expected<std::vector<keyed_record>>
scan_batch(Source& source, partition_id p, const bytes& after, uint32_t limit,
           std::optional<int64_t> dead_before = std::nullopt) {
  std::vector<keyed_record> out;
  // A range read from the cursor: a partition streamed batch by batch is read once.
  // Client keys are never empty, so an empty cursor means the partition's first key.
  auto from = after.empty() ? std::nullopt : std::optional<bytes>{after};
  auto take = [&](const bytes& key, caf::expected<record>&& rec) {
    if (rec)
      out.push_back(keyed_record{key, std::move(*rec)});
    return out.size() < limit;
  };
  auto err = dead_before ? source.for_each_dead(p, from, *dead_before, take)
                         : source.for_each(p, from, take);
  if (err)
    return err;
  return out;
}

std::vector<stored_hint> to_stored(std::vector<storage::hint>& found) {
  std::vector<stored_hint> out;
  for (auto& h : found)
    out.push_back(stored_hint{h.id, h.target, h.partition, std::move(h.key), std::move(h.rec)});
  return out;
}

struct reader_state {
  static inline const char* name = "storage-reader";
  std::shared_ptr<storage::reader> reader;
  std::string node;
  uint32_t partitions = 0;
  storage_impl storage; ///< told of corrupt hints and damage
  bool damage_reported = false;
};

/// After a call met damage of the file, asks the storage actor (once) to check the whole store.
void report_damage(reader_actor::stateful_pointer<reader_state> self) {
  auto& st = self->state;
  if (st.damage_reported || !st.reader || !st.reader->damage_seen())
    return;
  st.damage_reported = true;
  self->send(st.storage, check_atom::value, std::string{"a read met a damaged page"});
}

/// The reader's behaviour: `storage` is the storage actor whose store `reader` reads.
reader_actor::behavior_type reader_behavior(reader_actor::stateful_pointer<reader_state> self,
                                            std::shared_ptr<storage::reader> reader,
                                            std::string node, uint32_t partitions,
                                            storage_impl storage) {
  auto& st = self->state;
  storage::lower_thread_priority(); // spawned detached only: this is its own thread
  st.reader = std::move(reader);
  st.node = std::move(node);
  st.partitions = partitions;
  st.storage = std::move(storage);
  return {
      [=](read_atom, partition_id p, const bytes& key) -> caf::result<replica_read> {
        auto& st = self->state;
        if (p >= st.partitions)
          return no_partition(p);
        auto found = read_from(*st.reader, st.node, p, key);
        report_damage(self);
        return found;
      },
      [=](batch_atom a, std::vector<replica_call>& calls) {
        // Coordinators' and gateways' batches are foreground work: the storage actor's.
        return self->delegate(self->state.storage, a, std::move(calls));
      },
      [=](hints_atom, const std::string& target,
          uint32_t limit) -> caf::result<std::vector<stored_hint>> {
        auto& st = self->state;
        std::vector<uint64_t> corrupt;
        auto found = st.reader->hints_for(target, limit, corrupt);
        report_damage(self);
        if (!corrupt.empty())
          self->send(st.storage, unhint_atom::value, target, std::move(corrupt));
        if (!found)
          return found.error();
        return to_stored(*found);
      },
      [=](leafkeys_atom, partition_id p,
          const std::vector<uint64_t>& leaves) -> caf::result<std::vector<key_digest>> {
        auto& st = self->state;
        if (p >= st.partitions)
          return caf::make_error(ec::bad_request, "no such partition");
        auto keys = st.reader->leaf_keys(p, leaves);
        report_damage(self);
        if (!keys)
          return keys.error();
        return std::move(*keys);
      },
      [=](scan_atom, partition_id p, const bytes& after,
          uint32_t limit) -> caf::result<std::vector<keyed_record>> {
        auto& st = self->state;
        if (p >= st.partitions)
          return caf::make_error(ec::bad_request, "no such partition");
        auto out = scan_batch(*st.reader, p, after, limit);
        report_damage(self);
        if (!out)
          return out.error();
        return std::move(*out);
      },
      [=](reap_atom, partition_id p, const bytes& after, uint32_t limit,
          int64_t dead_before) -> caf::result<std::vector<keyed_record>> {
        auto& st = self->state;
        if (p >= st.partitions)
          return caf::make_error(ec::bad_request, "no such partition");
        auto out = scan_batch(*st.reader, p, after, limit, dead_before);
        report_damage(self);
        if (!out)
          return out.error();
        return std::move(*out);
      },
      [=](caf::close_atom) {
        // The connection closes before the answer: the storage actor closes the store's last.
        self->state.reader.reset();
        self->quit();
        return caf::ok_atom::value;
      },
      // Everything else is the storage actor's.
      [=](merge_atom a, partition_id p, const bytes& key, const record& rec) {
        return self->delegate(self->state.storage, a, p, key, rec);
      },
      [=](unhint_atom a, const std::string& target, uint64_t id) {
        return self->delegate(self->state.storage, a, target, id);
      },
      [=](backlog_atom a) { return self->delegate(self->state.storage, a); },
      [=](forget_atom a, const std::string& target, uint32_t limit) {
        return self->delegate(self->state.storage, a, target, limit);
      },
      [=](tree_atom a, partition_id p, uint32_t depth) {
        // The leaf summaries are the storage actor's, in memory.
        return self->delegate(self->state.storage, a, p, depth);
      },
      [=](count_atom a, partition_id p) { return self->delegate(self->state.storage, a, p); },
      [=](check_atom a) { return self->delegate(self->state.storage, a); },
      [=](status_atom a) { return self->delegate(self->state.storage, a); },
      [=](reap_atom a, partition_id p, const bytes& key, const record& expected) {
        return self->delegate(self->state.storage, a, p, key, expected);
      },
      [=](prune_atom a, const std::vector<replica_id>& retired) {
        self->send(self->state.storage, a, retired);
      },
      [=](prune_atom a, partition_id p, const bytes& key, const record& expected,
          const std::vector<replica_id>& retired) {
        return self->delegate(self->state.storage, a, p, key, expected, retired);
      },
      [=](backup_atom a, const std::string& path) {
        return self->delegate(self->state.storage, a, path);
      },
      [=](backup_atom a) { return self->delegate(self->state.storage, a); },
      [=](drop_atom a, partition_id p, uint32_t limit) {
        return self->delegate(self->state.storage, a, p, limit);
      },
      [=](meta_atom a, const std::string& name, const std::string& value) {
        return self->delegate(self->state.storage, a, name, value);
      },
      [=](stop_atom a) { self->send(self->state.storage, a); },
  };
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
  // Nothing on disk is read but the hint counts: the engine recorded the newest timestamp it
  // holds, so writes through this node are stamped above it after a restart too.
  st.options.clock->observe(st.engine->newest_timestamp());
  recount_hints(st);
  if (st.engine->check_owed())
    start_check(self, "the store was not closed cleanly");

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
          // Served here, not by the reader: measured (tools/bench a and c), the reader's extra
          // hop did not pay for the commit it spares these foreground reads.
          self->state.engine->read_together(serve_all);
        } else {
          // The reads of a mixed batch share its write transaction. Should the batch fail to
          // open, each write call meets that error itself.
          static_cast<void>(open_batch(self));
          serve_all();
        }
        check_if_damaged(self);
        return answer_after_commit(self, std::move(answers));
      },
      [=](read_atom, partition_id p, const bytes& key) -> caf::result<replica_read> {
        // Single reads come from vnodes: peers' background work.
        if (self->state.reader)
          return self->delegate(self->state.reader, read_atom::value, p, key);
        if (p >= self->state.options.partitions)
          return no_partition(p);
        auto found = read_record(self->state, p, key);
        check_if_damaged(self);
        return answer_after_commit(self, std::move(found));
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
        if (st.reader)
          return self->delegate(st.reader, hints_atom::value, target, limit);
        size_t dropped = 0;
        auto found = st.engine->hints_for(target, limit, &dropped);
        if (!found)
          return found.error();
        if (dropped > 0) {
          // Unreadable hints are gone; anti-entropy restores what they held.
          log_event(log_subsystem::storage, log_level::warning, st.options.node,
                    std::to_string(dropped) + " corrupt hints for " + target + " dropped");
          recount_hints(st);
        }
        return answer_after_commit(self, to_stored(*found));
      },
      [=](unhint_atom, const std::string& target, uint64_t id) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (auto err = open_batch(self))
          return err;
        if (auto err = st.engine->remove_hint(id))
          return err;
        if (st.hint_counts.count(target) > 0)
          count_hints(st, target, -1);
        ++st.batch_writes;
        return answer_after_commit(self, caf::ok_atom::value);
      },
      [=](forget_atom, const std::string& target, uint32_t limit) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (auto err = open_batch(self))
          return err;
        auto dropped = st.engine->drop_hints(target, limit);
        if (!dropped) {
          note_write_outcome(st, dropped.error());
          return dropped.error();
        }
        if (*dropped > 0 && st.hint_counts.count(target) > 0)
          count_hints(st, target, -static_cast<int64_t>(*dropped));
        ++st.batch_writes;
        return answer_after_commit(self, *dropped);
      },
      [=](backlog_atom) -> caf::result<std::vector<hint_backlog>> {
        std::vector<hint_backlog> out;
        for (auto& [target, n] : self->state.hint_counts)
          out.push_back(hint_backlog{target, n});
        return out;
      },
      [=](tree_atom, partition_id p, uint32_t depth) -> caf::result<std::vector<uint64_t>> {
        auto& st = self->state;
        if (p >= st.options.partitions || depth > storage::tree_leaf_bits)
          return caf::make_error(ec::bad_request, "no such partition or tree level");
        // The leaves are read (2^tree_leaf_bits rows), the levels above computed from them.
        auto leaves = st.engine->leaves(p);
        check_if_damaged(self);
        if (!leaves)
          return leaves.error();
        return answer_after_commit(self, storage::merkle_tree::from_leaves(*leaves).level(depth));
      },
      [=](leafkeys_atom, partition_id p,
          const std::vector<uint64_t>& leaves) -> caf::result<std::vector<key_digest>> {
        auto& st = self->state;
        if (st.reader)
          return self->delegate(st.reader, leafkeys_atom::value, p, leaves);
        if (p >= st.options.partitions)
          return caf::make_error(ec::bad_request, "no such partition");
        // Digests as stored: a record found unreadable since it was written lists with 0 once an
        // integrity check (or a read that met it and the repair after) refreshed it.
        auto keys = st.engine->leaf_keys(p, leaves);
        check_if_damaged(self);
        if (!keys)
          return keys.error();
        return answer_after_commit(self, std::move(*keys));
      },
      [=](scan_atom, partition_id p, const bytes& after,
          uint32_t limit) -> caf::result<std::vector<keyed_record>> {
        auto& st = self->state;
        if (st.reader)
          return self->delegate(st.reader, scan_atom::value, p, after, limit);
        if (p >= st.options.partitions)
          return caf::make_error(ec::bad_request, "no such partition");
        auto out = scan_batch(*st.engine, p, after, limit);
        check_if_damaged(self);
        if (!out)
          return out.error();
        return answer_after_commit(self, std::move(*out));
      },
      [=](reap_atom, partition_id p, const bytes& after, uint32_t limit,
          int64_t dead_before) -> caf::result<std::vector<keyed_record>> {
        auto& st = self->state;
        if (st.reader)
          return self->delegate(st.reader, reap_atom::value, p, after, limit, dead_before);
        if (p >= st.options.partitions)
          return caf::make_error(ec::bad_request, "no such partition");
        auto out = scan_batch(*st.engine, p, after, limit, dead_before);
        check_if_damaged(self);
        if (!out)
          return out.error();
        return answer_after_commit(self, std::move(*out));
      },
      [=](count_atom, partition_id p) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (p >= st.options.partitions)
          return caf::make_error(ec::bad_request, "no such partition");
        auto n = st.engine->count(p);
        if (!n)
          return n.error();
        return answer_after_commit(self, *n);
      },
      [=](reap_atom, partition_id p, const bytes& key,
          const record& expected) -> caf::result<bool> {
        auto& st = self->state;
        auto same = still_holds(self, p, key, expected);
        if (!same)
          return std::move(same.error());
        if (!*same)
          return answer_after_commit(self, false);
        if (auto err = st.engine->erase(p, key)) {
          note_write_outcome(st, err);
          return err;
        }
        ++st.batch_writes;
        return answer_after_commit(self, true);
      },
      [=](prune_atom, std::vector<replica_id>& retired) {
        self->state.retired = std::move(retired);
      },
      [=](prune_atom, partition_id p, const bytes& key, const record& expected,
          const std::vector<replica_id>& retired) -> caf::result<uint64_t> {
        auto& st = self->state;
        // A write since is pruned by a later pass, on new evidence.
        auto same = still_holds(self, p, key, expected);
        if (!same)
          return std::move(same.error());
        if (!*same)
          return answer_after_commit(self, uint64_t{0});
        auto pruned = dvv::prune(expected, retired);
        auto removed = expected.context.entries.size() - pruned.context.entries.size();
        if (removed == 0)
          return answer_after_commit(self, uint64_t{0});
        // A write like any other: the engine updates the key's digest and Merkle leaf.
        if (auto err = store(st, p, key, pruned))
          return err;
        return answer_after_commit(self, static_cast<uint64_t>(removed));
      },
      [=](drop_atom, partition_id p, uint32_t limit) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (p >= st.options.partitions)
          return caf::make_error(ec::bad_request, "no such partition");
        std::vector<bytes> keys;
        if (auto err = st.engine->for_each(p, [&](const bytes& key, caf::expected<record>&&) {
              keys.push_back(key);
              return keys.size() < limit;
            }))
          return err;
        if (auto err = open_batch(self))
          return err;
        for (auto& key : keys)
          if (auto err = st.engine->erase(p, key)) {
            note_write_outcome(st, err);
            return err;
          }
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
      [=](check_atom) -> std::string { return start_check(self, "requested"); },
      [=](status_atom) -> std::string { return describe_check(self); },
      [=](check_atom, uint64_t id) {
        // The check comes due: its job runs on a thread of its own, reading a snapshot through a
        // connection of its own, while this actor goes on serving.
        auto& c = self->state.check;
        if (id != c.id || c.now != check_progress::phase::waiting)
          return;
        c.now = check_progress::phase::running;
        // The check takes its snapshot now, between batches (one that rebuilds the Merkle
        // summaries needs every write before it committed and every one after it counted apart).
        finish_batch(self);
        auto job = self->state.engine->integrity_check();
        auto control = c.control;
        auto run = [job, control](checker_actor::pointer me) -> checker_actor::behavior_type {
          return {[=](check_atom) {
            auto report = job(*control);
            me->quit();
            return report;
          }};
        };
        auto checker = spawn_worker<checker_actor>(self, run);
        self->request(checker, caf::infinite, check_atom::value)
            .then(
                [=](storage::integrity_report& report) {
                  self->send(self, check_atom::value, id, std::move(report));
                },
                [=](caf::error& err) {
                  storage::integrity_report report;
                  report.failure = std::move(err);
                  self->send(self, check_atom::value, id, std::move(report));
                });
      },
      [=](backup_atom, const std::string& path) { return start_backup(self, path); },
      [=](backup_atom) -> std::string { return describe_backup(self); },
      [=](backup_atom, uint64_t id, bool ok, const std::string& text) {
        auto& b = self->state.backup;
        if (id != b.id || !b.running)
          return;
        b.running = false;
        auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(self->clock().now() - b.started);
        b.outcome = ok ? "backup to " + b.path + " done: " + text + " in " +
                             std::to_string(ms.count()) + " ms"
                       : "backup failed: " + text;
        log_event(log_subsystem::storage, ok ? log_level::info : log_level::error,
                  self->state.options.node, b.outcome);
      },
      [=](check_atom, uint64_t id, storage::integrity_report& report) {
        if (id == self->state.check.id)
          finish_check(self, report);
      },
      [=](caf::flush_atom) {
        finish_batch(self);
        check_if_damaged(self);
      },
      [=](unhint_atom, const std::string& target, const std::vector<uint64_t>& ids) {
        // Hints the reader found unreadable: gone, anti-entropy restores what they held.
        auto& st = self->state;
        if (auto err = open_batch(self))
          return;
        for (auto id : ids)
          if (st.engine->remove_hint(id))
            return;
        st.batch_writes += ids.size();
        recount_hints(st);
        log_event(log_subsystem::storage, log_level::warning, st.options.node,
                  std::to_string(ids.size()) + " corrupt hints for " + target + " dropped");
      },
      [=](caf::open_atom, reader_actor& reader) {
        // The first message (spawn_storage): reads are served by the reader from here on.
        self->state.reader = reader;
        // However this actor ends, its reader ends too.
        self->attach_functor(
            [reader] { caf::anon_send_exit(reader, caf::exit_reason::user_shutdown); });
      },
      [=](check_atom, const std::string& reason) {
        auto& st = self->state;
        if (st.damage_checked)
          return;
        st.damage_checked = true;
        start_check(self, reason);
      },
      [=](stop_atom) {
        finish_batch(self);
        // A check under way stops soon rather than hold up the process's exit.
        self->state.check.control->cancel = true;
        self->state.backup.control->cancel = true;
        if (!self->state.reader) {
          self->quit();
          return;
        }
        // The reader closes its connection first, so that this one, the last, checkpoints the
        // log into the file when it closes. Reads meanwhile are served here.
        auto reader = std::move(self->state.reader);
        self->state.reader = nullptr;
        self->request(reader, caf::infinite, caf::close_atom::value)
            .then([=](caf::ok_atom) { self->quit(); }, [=](caf::error&) { self->quit(); });
      },
  };
}

} // namespace

storage_actor spawn_storage(caf::actor_system& sys, std::shared_ptr<storage::engine> engine,
                            storage_options options) {
  storage_actor reads;
  return spawn_storage(sys, std::move(engine), std::move(options), reads);
}

storage_actor spawn_storage(caf::actor_system& sys, std::shared_ptr<storage::engine> engine,
                            storage_options options, storage_actor& reads) {
  if (!options.detached) {
    // A simulation runs every actor on the test coordinator: reads are served by the storage
    // actor itself (its memory engine has no reader).
    auto storage = sys.spawn(storage_behavior, std::move(engine), options);
    reads = storage;
    return storage;
  }
  // Opened here, before the storage actor owns the engine (a reader outlives no engine call).
  std::shared_ptr<storage::reader> reader;
  if (auto opened = engine->open_reader(); !opened)
    log_event(log_subsystem::storage, log_level::warning, options.node,
              "reads stay on the storage thread, no reader: " + describe(opened.error()));
  else
    reader = std::move(*opened);
  auto node = options.node;
  auto partitions = options.partitions;
  auto storage = sys.spawn<caf::detached>(storage_behavior, std::move(engine), std::move(options));
  reads = storage;
  if (!reader)
    return storage;
  auto impl = caf::actor_cast<storage_impl>(storage);
  auto handle = sys.spawn<caf::detached>(reader_behavior, std::move(reader), std::move(node),
                                         partitions, impl);
  caf::anon_send(impl, caf::open_atom::value, handle);
  reads = caf::actor_cast<storage_actor>(handle);
  return storage;
}

} // namespace actorkv
