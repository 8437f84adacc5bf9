// The storage interface: one node's durable records, hints and instance metadata.
//
// Contract:
//  - One owner. An engine is not thread-safe; exactly one actor (actors/node/storage_actor) or one
//    test thread calls it. Every call may block on disk I/O: never call it from a CAF scheduler
//    thread (the storage actor runs detached).
//  - Records are addressed by (partition, key). get() verifies the record's checksum: a record
//    that fails it, or does not decode, yields ec::corrupt_record and is never returned.
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

#include "messages/error.hpp"
#include "messages/record.hpp"

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

class engine {
public:
  virtual ~engine() = default;

  /// The key's record, nullopt when absent, ec::corrupt_record when it fails verification.
  virtual caf::expected<std::optional<record>> get(partition_id p, const bytes& key) = 0;

  /// Stores `rec` as the key's record, replacing any previous one.
  virtual caf::error put(partition_id p, const bytes& key, const record& rec) = 0;

  /// Removes the key's record; removing an absent key is not an error.
  virtual caf::error erase(partition_id p, const bytes& key) = 0;

  /// Calls `f` for every key of partition `p` in key order (bytes compared unsigned, a prefix
  /// first), with its record or the error that reading it produced (ec::corrupt_record); stops
  /// early when `f` returns false. `f` must not call back into the engine: the scan holds a
  /// statement open.
  virtual caf::error
  for_each(partition_id p,
           const std::function<bool(const bytes& key, caf::expected<record>&& rec)>& f) = 0;

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

  /// Checks the structure of the whole store (for SQLite, its quick_check: every page, not the
  /// records' checksums). ec::corrupt_record when it is damaged beyond per-record repair; the
  /// caller then sets the file aside and starts empty, to be refilled from the other replicas.
  virtual caf::error verify() = 0;

  /// Instance metadata (settings, ids): nullopt when unset. The name "schema_version" belongs to
  /// the engine: it reads "2" and set_meta() refuses it.
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

  /// Number of hints held, per target name (targets with none are absent). Corrupt hints not yet
  /// met by hints_for() are counted too. Cost: a scan of the hints index.
  virtual caf::expected<std::map<std::string, uint64_t>> hint_counts() = 0;
};

/// The reference implementation: everything in memory, nothing durable.
std::unique_ptr<engine> make_memory_engine();

/// Opens (creating when missing) the SQLite database at `path` in WAL mode with a page cache of
/// `cache_mib` MiB, upgrading a file of an older schema version in place (storage/FORMAT.md). Fails
/// with ec::storage_failure naming the path and SQLite's message, or when the file's schema version
/// is newer than this build understands; with ec::corrupt_record when the file is not a database or
/// is damaged.
caf::expected<std::unique_ptr<engine>> open_sqlite_engine(const std::string& path, sync_mode sync,
                                                          uint32_t cache_mib = 64);

} // namespace actorkv::storage
