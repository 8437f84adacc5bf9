// The storage interface: one node's durable records, hints and instance metadata.
//
// Contract:
//  - One owner. An engine is not thread-safe; exactly one actor (actors/node/storage_actor) or one
//    test thread calls it. Every call may block on disk I/O: never call it from a CAF scheduler
//    thread (the storage actor runs detached).
//  - Records are addressed by (partition, key). get() verifies the record's checksum: a record
//    that fails it, or does not decode, yields ec::corrupt_record and is never returned.
//  - Beside each record the engine keeps its anti-entropy digest and Merkle leaf
//    (storage/merkle_tree.hpp), and per leaf the XOR of its keys' digests and their number, in
//    step with every write and rollback: a partition's tree, its size and the keys of one leaf are
//    read without reading the partition. They survive a clean close; after an unclean one they are
//    unavailable (ec::unavailable) until the integrity check owed rebuilds them (check_done()),
//    while the engine serves everything else.
//  - Hints (writes held for a node that is down) are a separate queue, not records: they never
//    show in get() or for_each(), and several hints for the same target and key may coexist, each
//    delivered and removed on its own. They obey the same batch and durability rules as records,
//    so a coordinator can store a write's hint and acknowledge it in one group commit.
//  - Durability: writes made between begin() and commit() become durable together at commit()
//    (group commit); a write made outside a batch is durable when the call returns. After a crash,
//    every committed write is present and no uncommitted one is.
//  - Errors are actorkv::ec codes (storage_failure for I/O errors, including a full disk); an
//    engine stays usable after a failed call, and rollback() discards an open batch.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "messages/error.hpp"
#include "messages/record.hpp"
#include "messages/replication.hpp"

namespace actorkv::storage {

using partition_id = uint32_t;

/// SQLite's `synchronous` setting, from the manifest's [storage] sync.
enum class sync_mode { full, normal, off };

/// A write held for a node that was down: delivered to `target` (the node's name, stable across
/// restarts and wipes) when it is back, deleted only after the target acknowledged it.
struct hint {
  uint64_t id = 0;    ///< assigned by add_hint(); larger means stored later
  std::string target; ///< the node the write is meant for
  partition_id partition = 0;
  bytes key;
  record rec; ///< the record to merge into the target's copy of the key
};

/// What a full integrity check found (engine::integrity_check).
struct integrity_report {
  /// ec::corrupt_record when the store is damaged beyond per-record repair (for SQLite, its pages):
  /// the caller sets the file aside and starts empty, to be refilled from the other replicas.
  caf::error damage;
  /// The check could not run to its end for another reason (an I/O error, say): nothing is known.
  caf::error failure;
  uint64_t records = 0; ///< records read
  /// Records whose value fails verification or whose stored digest is not their record's: the
  /// owner passes each to refresh_digest(), after which anti-entropy repairs the unreadable ones.
  std::vector<std::pair<partition_id, bytes>> suspects;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, integrity_report& x) {
  return f(caf::meta::type_name("actorkv::storage::integrity_report"), x.damage, x.failure,
           x.records, x.suspects);
}

/// Shared by an integrity check's thread and its owner's.
struct check_control {
  std::atomic<uint64_t> records{0}; ///< read so far
  std::atomic<bool> cancel{false};  ///< set by the owner: the check stops soon, as a failure
};

/// A full integrity check, made by engine::integrity_check(): it runs on any thread while the
/// engine serves on its own.
using integrity_job = std::function<integrity_report(check_control&)>;

/// Shared by a backup's thread and its owner's: progress in pages, and its cancellation.
struct backup_control {
  std::atomic<uint64_t> pages_done{0};
  std::atomic<uint64_t> pages_total{0};
  std::atomic<bool> cancel{false}; ///< set by the owner: the backup stops soon, as a failure
};

/// What a finished backup wrote.
struct backup_result {
  uint64_t pages = 0;
  uint64_t bytes = 0;
};

/// An online backup, made by engine::backup(): runs on any thread while the engine serves.
using backup_job = std::function<caf::expected<backup_result>(backup_control&)>;

/// The callback of a record scan: the key and its record, or the error reading it produced.
using scan_fn = std::function<bool(const bytes& key, caf::expected<record>&& rec)>;

/// A read-only view of an engine's committed data, for another thread (engine::open_reader()):
/// background work and foreground gets read through it without waiting for the owner's open batch.
/// Each call reads one snapshot of what was committed when it started, so it sees every write
/// committed (and so acknowledged) before it and none of an open batch. One owner, like an engine.
class reader {
public:
  virtual ~reader() = default;
  /// As engine::get().
  virtual caf::expected<std::optional<record>> get(partition_id p, const bytes& key) = 0;
  /// As engine::for_each() (one snapshot for the whole scan).
  virtual caf::error for_each(partition_id p, const std::optional<bytes>& after,
                              const scan_fn& f) = 0;
  /// As engine::for_each_dead() (one snapshot for the whole scan). This default filters
  /// for_each().
  virtual caf::error for_each_dead(partition_id p, const std::optional<bytes>& after,
                                   int64_t before_us, const scan_fn& f);
  /// As engine::leaf_keys().
  virtual caf::expected<std::vector<key_digest>> leaf_keys(partition_id p,
                                                           const std::vector<uint64_t>& leaves) = 0;
  /// As engine::hints_for(), except that hints whose record fails verification are not deleted
  /// (a reader writes nothing): their ids go to `corrupt`, for the owner to remove.
  virtual caf::expected<std::vector<hint>> hints_for(const std::string& target, size_t limit,
                                                     std::vector<uint64_t>& corrupt) = 0;
  /// Whether a call met damage of the store itself (as engine::damage_seen()).
  virtual bool damage_seen() const { return false; }
};

class engine {
public:
  virtual ~engine() = default;

  /// A reader of this store's committed data on a connection of its own (SQLite: read-only, with
  /// a page cache as large as the engine's; in WAL mode readers never wait for the writer), to be
  /// used from one other thread; null when the engine has none (the memory engine: its owner
  /// serves reads itself). It may be destroyed before or after the engine (SQLite: the last
  /// connection to close copies the log into the file, so close the reader first).
  virtual caf::expected<std::unique_ptr<reader>> open_reader() { return std::unique_ptr<reader>{}; }

  /// The key's record, nullopt when absent, ec::corrupt_record when it fails verification.
  virtual caf::expected<std::optional<record>> get(partition_id p, const bytes& key) = 0;

  /// Stores `rec` as the key's record, replacing any previous one.
  virtual caf::error put(partition_id p, const bytes& key, const record& rec) = 0;

  /// Removes the key's record; removing an absent key is not an error.
  virtual caf::error erase(partition_id p, const bytes& key) = 0;

  /// Calls `f` for every key of partition `p` after `after` (nullopt: from the first) in scan
  /// order, with its record or the error that reading it produced (ec::corrupt_record); stops
  /// early when `f` returns false. Scan order is by Merkle leaf (merkle_tree::leaf_of), then by key
  /// bytes (compared unsigned, a prefix first). A scan continued after the last key it reported (a
  /// cursor) visits every key present throughout once, at the cost of the keys it reports. `f`
  /// must not call back into the engine: the scan holds a statement open.
  virtual caf::error for_each(partition_id p, const std::optional<bytes>& after,
                              const scan_fn& f) = 0;
  /// The whole partition.
  caf::error for_each(partition_id p, const scan_fn& f) { return for_each(p, std::nullopt, f); }

  /// As for_each(), but only the records dead for good since before `before_us`: those whose
  /// every sibling is a tombstone or a value with an expiry, the newest of those deaths earlier
  /// than `before_us` (dvv::dead_from(rec) < before_us); records that fail verification are
  /// never reported. For the tombstone collector. The SQLite engine keeps each record's death
  /// beside it, indexed (FORMAT.md, `dies_us`), so the cost is an index range over the
  /// partition's records that die at all plus a read of those reported: never its live
  /// records. This default (the memory engine's) filters for_each(), reading everything.
  virtual caf::error for_each_dead(partition_id p, const std::optional<bytes>& after,
                                   int64_t before_us, const scan_fn& f);

  /// Records held in partition `p`; ec::unavailable while the summaries are rebuilt. Cost: the
  /// partition's leaf summaries, not its records.
  virtual caf::expected<uint64_t> count(partition_id p) = 0;

  /// The 2^tree_leaf_bits Merkle leaves of partition `p`, left to right: each the XOR of the
  /// stored digests of the keys in that leaf (0 when it has none); ec::unavailable while the
  /// summaries are rebuilt. Cost: as count().
  virtual caf::expected<std::vector<uint64_t>> leaves(partition_id p) = 0;

  /// Every key of partition `p` in the given leaves (indexes beyond the last are ignored), with
  /// its stored digest, in scan order. Cost: a range read per leaf; no record is decoded.
  virtual caf::expected<std::vector<key_digest>> leaf_keys(partition_id p,
                                                           const std::vector<uint64_t>& leaves) = 0;

  /// Sets the key's stored digest to what its record as stored now gives: record_digest(), or 0
  /// when the record fails verification (the leaf then differs from an intact replica's, and the
  /// key lists with digest 0, so anti-entropy repairs it). An absent key is not an error. Same
  /// batch rules as put().
  virtual caf::error refresh_digest(partition_id p, const bytes& key) = 0;

  /// The newest sibling timestamp of every record ever stored here (0: none), durable with the
  /// records: a restarted node's clock follows it without reading them.
  virtual int64_t newest_timestamp() const = 0;

  /// Opens a batch; writes until commit() become durable together, and reads see them at once.
  /// Batches do not nest: begin() inside a batch fails and leaves the batch open.
  virtual caf::error begin() = 0;
  /// Makes the open batch durable. A failed commit discards the batch (none of its writes
  /// persist); commit() without a batch fails.
  virtual caf::error commit() = 0;
  /// Discards the open batch; without one, does nothing.
  virtual void rollback() = 0;

  /// Runs `reads`, which may only call get(), in one read snapshot: they share one round of
  /// locking instead of paying one each (a batch of replica reads). Inside a batch, or when the
  /// snapshot cannot be taken, the reads run as they would without it. No snapshot outlives the
  /// call.
  virtual void read_together(const std::function<void()>& reads) { reads(); }

  /// A full check of the store, to run on another thread (SQLite: a connection of its own, on one
  /// read snapshot taken when this is called, outside a batch): its structure (SQLite's
  /// quick_check: every page) and every record (checksum, and the stored digest against the
  /// record). It also rebuilds the leaf summaries from that snapshot, for check_done(). The job
  /// must be run: the snapshot is held until it has. Cost: a read of the whole store.
  virtual integrity_job integrity_check() = 0;

  /// Whether a full integrity check is owed: the store was not closed cleanly (a crash, kill -9,
  /// a power loss; or it was upgraded) since the last check that passed. Read at open.
  virtual bool check_owed() const = 0;
  /// Takes what the last check made here found, when it found no damage and ran to its end: the
  /// leaf summaries it rebuilt (with every write made since its snapshot folded in), the suspects'
  /// digests refreshed (refresh_digest()), and the check no longer owed. Same batch rules as
  /// put().
  virtual caf::error check_done(const integrity_report& report) = 0;
  /// Whether a call has met damage of the store itself (SQLite: SQLITE_CORRUPT, SQLITE_NOTADB;
  /// not a record failing its checksum) since it was opened: the owner then runs a full check.
  virtual bool damage_seen() const { return false; }

  /// An online backup of the whole store to the file `destination` (which must not exist), to
  /// run on another thread while the engine serves (SQLite: the online backup API, in steps, from
  /// a read snapshot of a connection of its own taken when the job starts, so writers are never
  /// blocked). The copy is written to `destination`.partial and renamed when complete, so a
  /// failed backup (disk full, say) leaves no file that looks like a backup; its meta entry
  /// "backup" is set to `marker`, which tells open_instance (actors/node/instance.hpp) that the
  /// file is a restored copy. Errors: ec::bad_request (destination exists, directory missing or
  /// not writable), ec::storage_failure (SQLite's message, e.g. "database or disk is full").
  /// The memory engine has nothing to back up.
  virtual backup_job backup(const std::string& destination, const std::string& marker);

  /// Instance metadata (settings, ids): nullopt when unset. The names "schema_version",
  /// "newest_timestamp_us" and "open_state" belong to the engine: set_meta() refuses them
  /// (schema_version reads "4").
  virtual caf::expected<std::optional<std::string>> get_meta(const std::string& name) = 0;
  virtual caf::error set_meta(const std::string& name, const std::string& value) = 0;

  /// Stores a hint (same batching and durability rules as put()) and returns its id. Ids increase:
  /// a hint's id is larger than that of every hint stored before it (ids of a rolled-back batch
  /// may be handed out again).
  virtual caf::expected<uint64_t> add_hint(const std::string& target, partition_id p,
                                           const bytes& key, const record& rec) = 0;

  /// Up to `limit` hints for `target`, oldest (smallest id) first. A hint whose record fails
  /// verification cannot be delivered and would block the queue: it is skipped and deleted (in
  /// the open batch, if any), and counted in `*corrupt_dropped` when that is non-null (set to 0
  /// first); the data it held is restored by anti-entropy from the other replicas. Fails only when
  /// reading, or deleting a corrupt hint, fails. Cost: one index range read of the hints returned
  /// plus any corrupt ones met on the way.
  virtual caf::expected<std::vector<hint>> hints_for(const std::string& target, size_t limit,
                                                     size_t* corrupt_dropped = nullptr) = 0;

  /// Deletes one hint (same batching rules as erase()); deleting an absent one is not an error.
  virtual caf::error remove_hint(uint64_t id) = 0;

  /// Deletes up to `limit` of the hints held for `target`, oldest first (same batching rules as
  /// erase()), and returns how many it deleted: the hints for a node that left the cluster can
  /// never be delivered, and are dropped a bounded batch at a time. Cost: one index range.
  virtual caf::expected<uint64_t> drop_hints(const std::string& target, size_t limit) = 0;

  /// Number of hints held, per target name (targets with none are absent). Corrupt hints not yet
  /// met by hints_for() are counted too. Cost: a scan of the hints index.
  virtual caf::expected<std::map<std::string, uint64_t>> hint_counts() = 0;
};

/// The reference implementation: everything in memory, nothing durable.
std::unique_ptr<engine> make_memory_engine();

/// Opens (creating when missing) the SQLite database at `path` in WAL mode with a page cache of
/// `cache_mib` MiB, upgrading a file of an older schema version in place (storage/FORMAT.md; the
/// upgrade from version 2 rewrites every record once, `progress` is told how many so far). Fails
/// with ec::storage_failure naming the path and SQLite's message, or when the file's schema version
/// is newer than this build understands; with ec::corrupt_record when the file is not a database or
/// is damaged.
caf::expected<std::unique_ptr<engine>>
open_sqlite_engine(const std::string& path, sync_mode sync, uint32_t cache_mib = 64,
                   const std::function<void(uint64_t records)>& progress = {});

} // namespace actorkv::storage
