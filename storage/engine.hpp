// The storage interface: one node's durable records, hints and instance metadata.
//
// Contract:
//  - One owner. An engine is not thread-safe; exactly one actor (actors/storage_actor) or one
//    test thread calls it. Every call may block on disk I/O: never call it from a CAF scheduler
//    thread (the storage actor runs detached).
//  - Records are addressed by (partition, key); the storage actor keeps hints in partition
//    0xFFFFFFFF (see FORMAT.md), which no ring uses. get() verifies the record's checksum: a
//    record that fails it, or does not decode, yields ec::corrupt_record and is never returned.
//  - Durability: writes made between begin() and commit() become durable together at commit()
//    (group commit); a write made outside a batch is durable when the call returns. After a crash,
//    every committed write is present and no uncommitted one is.
//  - Errors are actorkv::ec codes (storage_failure for I/O errors, including a full disk); an
//    engine stays usable after a failed call, and rollback() discards an open batch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/error.hpp"
#include "messages/record.hpp"

namespace actorkv::storage {

using partition_id = uint32_t;

/// SQLite's `synchronous` setting, from the manifest's [storage] sync.
enum class sync_mode { full, normal, off };

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

  /// Instance metadata (settings, ids): nullopt when unset. The name "schema_version" belongs to
  /// the engine: it reads "1" and set_meta() refuses it.
  virtual caf::expected<std::optional<std::string>> get_meta(const std::string& name) = 0;
  virtual caf::error set_meta(const std::string& name, const std::string& value) = 0;
};

/// The reference implementation: everything in memory, nothing durable.
std::unique_ptr<engine> make_memory_engine();

/// Opens (creating when missing) the SQLite database at `path` in WAL mode. Fails with
/// ec::storage_failure naming the path and SQLite's message, or when the file's schema version
/// is newer than this build understands.
caf::expected<std::unique_ptr<engine>> open_sqlite_engine(const std::string& path, sync_mode sync);

} // namespace actorkv::storage
