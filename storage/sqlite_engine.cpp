// The SQLite engine: one connection in WAL mode, owned by one thread at a time, plus a
// checkpointer thread with a connection of its own (and, while one runs, an integrity check with
// another, read-only). A reader (engine::open_reader) is the same engine on a read-only
// connection of its own: it runs only the engine's read statements, each on the snapshot of what
// was committed when it started.
//
// Every statement is prepared once at open and reset after each use, so no read transaction
// outlives a call (a forgotten reset would pin an old WAL snapshot and stall checkpoints). The
// Merkle leaf summaries live in memory beside the connection: written to the file at a clean
// close, read back at the next open, rebuilt by the integrity check after an unclean one.
// storage/FORMAT.md documents the tables and the schema version.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pthread.h>
#include <unistd.h>
#include <sqlite3.h>

#include "messages/dvv.hpp"
#include "storage/engine.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/record_codec.hpp"
#include "storage/thread_priority.hpp"

namespace actorkv::storage {
namespace {

/// The schema this build creates and understands; stored in meta as 'schema_version'. Versions 1
/// to 3 are upgraded in place when opened (FORMAT.md).
constexpr int schema_version = 4;

/// The meta rows the engine owns; callers may read them but not write them.
constexpr const char* schema_version_name = "schema_version";
/// The newest sibling timestamp stored (engine::newest_timestamp), as decimal text.
constexpr const char* newest_timestamp_name = "newest_timestamp_us";
/// "closed" once the engine closed the file cleanly (the leaf summaries written, no check owed);
/// "open" while it is in use; "check owed" when it was not closed cleanly (or was upgraded) since
/// the last check passed.
constexpr const char* open_state_name = "open_state";

bool engine_owned(const std::string& name) {
  return name == schema_version_name || name == newest_timestamp_name || name == open_state_name;
}

/// How long a call waits for a lock held by another connection (an operator's sqlite3 shell, a
/// backup) before failing with SQLITE_BUSY.
constexpr int busy_timeout_ms = 5000;

/// The newest timestamp is written with a batch that raises it by more than this (and at a clean
/// close): one row less to write per commit, at the price of a restarted node's clock starting up
/// to this much below the newest record after a crash (its wall clock is normally ahead anyway).
constexpr int64_t newest_timestamp_slack_us = 1'000'000;

constexpr size_t leaves_per_partition = size_t{1} << tree_leaf_bits;

/// Every table of the current schema. `records` is clustered on (partition, leaf, key): a leaf's
/// keys are a range of the primary key, and a write touches no other table. `dies_us` is
/// dvv::dead_from(record) (NULL: a sibling never dies, or the record is unreadable). `leaves`
/// holds the leaf summaries written at a clean close.
constexpr const char* tables_sql =
    "CREATE TABLE IF NOT EXISTS records(partition INTEGER NOT NULL, leaf INTEGER NOT NULL, "
    "key BLOB NOT NULL, digest INTEGER NOT NULL, value BLOB NOT NULL, dies_us INTEGER, "
    "PRIMARY KEY(partition, leaf, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS hints(id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "target TEXT NOT NULL, partition INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS hints_by_target ON hints(target, id);"
    "CREATE TABLE IF NOT EXISTS leaves(partition INTEGER PRIMARY KEY, summary BLOB NOT NULL);";

/// The records that die (tombstones, values with an expiry), in scan order, with their death:
/// the collector's sweep reads this range, never the live records. Partial, so a live record's
/// write never touches it. Created after any upgrade of `records` (it names `dies_us`).
constexpr const char* dying_index_sql =
    "CREATE INDEX IF NOT EXISTS records_dying ON records(partition, leaf, key, dies_us) "
    "WHERE dies_us IS NOT NULL;";

/// The leaf of `key` as stored (merkle_tree::leaf_of with tree_leaf_bits).
sqlite3_int64 leaf_column(const bytes& key) {
  return static_cast<sqlite3_int64>(merkle_tree::leaf_of(key, tree_leaf_bits));
}

/// Binds a record's `dies_us` (dvv::dead_from; NULL when it never dies) to parameter `index`.
void bind_dies(sqlite3_stmt* stmt, int index, const std::optional<int64_t>& dies) {
  if (dies)
    sqlite3_bind_int64(stmt, index, *dies);
  else
    sqlite3_bind_null(stmt, index);
}

/// A `dies_us` column as read: nullopt for NULL.
std::optional<int64_t> column_dies(sqlite3_stmt* stmt, int index) {
  if (sqlite3_column_type(stmt, index) == SQLITE_NULL)
    return std::nullopt;
  return sqlite3_column_int64(stmt, index);
}

/// One leaf's summary: the XOR of its records' digests and their number.
struct leaf_summary {
  uint64_t digest = 0;
  uint64_t records = 0;
};

/// Summaries by partition, each with leaves_per_partition leaves.
using summaries = std::unordered_map<partition_id, std::vector<leaf_summary>>;

/// Adds (or with records -1, removes) a digest to a leaf; XOR makes the two the same.
void fold(summaries& s, partition_id p, size_t leaf, uint64_t digest, int64_t records) {
  auto& leaves = s[p];
  if (leaves.empty())
    leaves.resize(leaves_per_partition);
  leaves[leaf].digest ^= digest;
  leaves[leaf].records =
      static_cast<uint64_t>(static_cast<int64_t>(leaves[leaf].records) + records);
}

/// A partition's summary as stored in `leaves.summary`: per leaf, the digest then the number of
/// records, each a little-endian u64.
bytes encode_summary(const std::vector<leaf_summary>& leaves) {
  bytes out(leaves.size() * 16);
  for (size_t i = 0; i < leaves.size(); ++i)
    for (int b = 0; b < 8; ++b) {
      out[16 * i + b] = static_cast<uint8_t>(leaves[i].digest >> (8 * b));
      out[16 * i + 8 + b] = static_cast<uint8_t>(leaves[i].records >> (8 * b));
    }
  return out;
}

bool decode_summary(const uint8_t* data, size_t size, std::vector<leaf_summary>& out) {
  if (size != leaves_per_partition * 16)
    return false;
  out.assign(leaves_per_partition, leaf_summary{});
  for (size_t i = 0; i < leaves_per_partition; ++i)
    for (int b = 0; b < 8; ++b) {
      out[i].digest |= uint64_t{data[16 * i + b]} << (8 * b);
      out[i].records |= uint64_t{data[16 * i + 8 + b]} << (8 * b);
    }
  return true;
}

/// SQL functions for the upgrade from version 2, registered on the upgrading connection only.
/// They count the records they derive a digest for, for the caller's progress callback.
struct upgrade_functions {
  const std::function<void(uint64_t)>* progress = nullptr;
  uint64_t records = 0;
  int64_t newest = 0;

  static bytes blob(sqlite3_value* v) {
    auto data = static_cast<const uint8_t*>(sqlite3_value_blob(v));
    auto size = static_cast<size_t>(sqlite3_value_bytes(v));
    return data == nullptr ? bytes{} : bytes(data, data + size);
  }

  /// actorkv_leaf(key)
  static void leaf(sqlite3_context* ctx, int, sqlite3_value** argv) {
    sqlite3_result_int64(ctx, leaf_column(blob(argv[0])));
  }

  /// actorkv_digest(key, value): record_digest, 0 for a record that fails verification; also
  /// follows the newest timestamp.
  static void digest(sqlite3_context* ctx, int, sqlite3_value** argv) {
    auto& self = *static_cast<upgrade_functions*>(sqlite3_user_data(ctx));
    auto value = blob(argv[1]);
    auto rec = decode_record(value.data(), value.size());
    sqlite3_int64 out = 0;
    if (rec) {
      out = static_cast<sqlite3_int64>(record_digest(blob(argv[0]), *rec));
      self.newest = std::max(self.newest, storage::newest_timestamp(*rec));
    }
    sqlite3_result_int64(ctx, out);
    if (++self.records % 10000 == 0 && self.progress && *self.progress)
      (*self.progress)(self.records);
  }

  /// actorkv_dies(value): dvv::dead_from, NULL when a sibling never dies or the record fails
  /// verification.
  static void dies(sqlite3_context* ctx, int, sqlite3_value** argv) {
    auto value = blob(argv[0]);
    auto rec = decode_record(value.data(), value.size());
    auto died = rec ? dvv::dead_from(*rec) : std::nullopt;
    if (died)
      sqlite3_result_int64(ctx, *died);
    else
      sqlite3_result_null(ctx);
  }

  int register_on(sqlite3* db) {
    auto flags = SQLITE_UTF8 | SQLITE_DIRECTONLY;
    auto rc = sqlite3_create_function_v2(db, "actorkv_leaf", 1, flags | SQLITE_DETERMINISTIC, this,
                                         &leaf, nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK)
      rc = sqlite3_create_function_v2(db, "actorkv_digest", 2, flags, this, &digest, nullptr,
                                      nullptr, nullptr);
    if (rc == SQLITE_OK)
      rc = sqlite3_create_function_v2(db, "actorkv_dies", 1, flags | SQLITE_DETERMINISTIC, this,
                                      &dies, nullptr, nullptr, nullptr);
    return rc;
  }
  static void unregister(sqlite3* db) {
    for (auto [name, args] : {std::pair{"actorkv_leaf", 1}, std::pair{"actorkv_digest", 2},
                              std::pair{"actorkv_dies", 1}})
      sqlite3_create_function_v2(db, name, args, SQLITE_UTF8, nullptr, nullptr, nullptr, nullptr,
                                 nullptr);
  }
};

/// Where schema version 1 kept hints: records under a partition no ring uses, keyed by
/// `u16 BE name length | name | u32 BE partition | key` (FORMAT.md). The upgrade moves them.
constexpr partition_id legacy_hint_partition = 0xFFFFFFFFu;

/// Splits a version-1 hint key; false for one that is not well-formed.
bool parse_legacy_hint_key(const bytes& hk, std::string& target, partition_id& p, bytes& key) {
  if (hk.size() < 2)
    return false;
  size_t len = size_t{hk[0]} << 8 | hk[1];
  if (hk.size() < 2 + len + 4)
    return false;
  auto name_end = hk.begin() + 2 + static_cast<std::ptrdiff_t>(len);
  target.assign(hk.begin() + 2, name_end);
  p = 0;
  for (size_t i = 0; i < 4; ++i)
    p = p << 8 | hk[2 + len + i];
  key.assign(name_end + 4, hk.end());
  return true;
}

const char* synchronous_pragma(sync_mode mode) {
  switch (mode) {
  case sync_mode::full:
    return "PRAGMA synchronous=FULL";
  case sync_mode::normal:
    return "PRAGMA synchronous=NORMAL";
  case sync_mode::off:
    return "PRAGMA synchronous=OFF";
  }
  return "PRAGMA synchronous=FULL";
}

/// Resets a statement and its bindings when a call is done with it, on every path out.
class statement_use {
public:
  explicit statement_use(sqlite3_stmt* stmt) : stmt_(stmt) {}
  statement_use(const statement_use&) = delete;
  statement_use& operator=(const statement_use&) = delete;
  ~statement_use() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

private:
  sqlite3_stmt* stmt_;
};

/// Binds a blob; SQLite binds a null pointer as NULL, so empty blobs need a non-null pointer.
int bind_blob(sqlite3_stmt* stmt, int index, const uint8_t* data, size_t size) {
  static const uint8_t empty = 0;
  return sqlite3_bind_blob64(stmt, index, size == 0 ? &empty : data, size, SQLITE_STATIC);
}

int bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  return sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

bytes column_bytes(sqlite3_stmt* stmt, int index) {
  auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, index));
  auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, index));
  return data == nullptr ? bytes{} : bytes(data, data + size);
}

/// WAL pages after which the checkpointer copies the log into the database file (40 MB). A page
/// written again before the copy is copied once: SQLite's default of 1,000 pages copied most
/// of a busy node's pages once per write (tools/bench a and w, 100,000 keys: 6-15% more
/// operations a second with 10,000; at 10M keys 6%, with a lower update p99: BENCHMARKS.md).
constexpr int checkpoint_pages = 10000;

/// WAL pages after which the writer checkpoints itself, as SQLite would: the log starts over
/// only once a checkpoint has copied all of it, which a writer that never pauses does not let
/// the checkpointer do. Bounds the log at about 160 MB.
constexpr int writer_checkpoint_pages = 4 * checkpoint_pages;

/// The size the write-ahead log file is cut back to when the log starts over: the log's working
/// size (the checkpointer copies it at checkpoint_pages of 4 KiB).
constexpr int64_t wal_size_limit_bytes = int64_t{checkpoint_pages} * 4096;

/// Free pages an incremental vacuum step returns to the file system at most (1 MiB of 4 KiB
/// pages): a foreground commit waits at most for one such step.
constexpr int vacuum_step_pages = 256;

/// Steps per round of the vacuum thread, with a pause between two: at most 16 MiB returned per
/// second, and the writer gets the lock between steps.
constexpr int vacuum_steps_per_round = 16;

/// Free pages below which none are returned (256 KiB): a busy store frees and reuses a few pages
/// all the time, and moving them would only add to its log.
constexpr int vacuum_min_free_pages = 64;

/// Copies the WAL into the database file on its own thread and connection. SQLite's automatic
/// checkpoint runs inside the commit that crosses the threshold, on the writing connection, with
/// its page writes and (sync normal or full) an fsync: every write waiting behind that commit
/// waited for it too. Measured with tools/bench --workloads "a w": update p99 13-16 ms with
/// automatic checkpoints, 7 ms with none. A PASSIVE checkpoint from another connection never
/// blocks the writer, and once it has copied everything the writer starts the log over.
///
/// The same thread returns free pages to the file system, in a file whose auto_vacuum mode is
/// INCREMENTAL (every file this build creates: storage/FORMAT.md): every second, while the free
/// list holds at least vacuum_min_free_pages, `PRAGMA incremental_vacuum(vacuum_step_pages)` steps, each its own short
/// write transaction that gives up at once when the writer holds the lock (no busy timeout on
/// this connection), then a checkpoint, which truncates the file.
class wal_checkpointer {
public:
  wal_checkpointer() = default;
  wal_checkpointer(const wal_checkpointer&) = delete;
  wal_checkpointer& operator=(const wal_checkpointer&) = delete;
  ~wal_checkpointer() { stop(); }

  /// Opens its connection to `path` and starts the thread; false when it cannot (the writer
  /// then keeps SQLite's automatic checkpoints).
  bool start(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
      return false;
    }
    // A connection learns that the database is in WAL mode only by reading it; until then a
    // checkpoint is silently a no-op.
    if (sqlite3_exec(db_, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
      return false;
    }
    incremental_ = pragma_number("auto_vacuum") == 2;
    thread_ = std::thread([this] { run(); });
    pthread_setname_np(thread_.native_handle(), "kv-checkpoint");
    return true;
  }

  /// Asks for a checkpoint (cheap; called after commits once the log is long).
  void wake() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      requested_ = true;
    }
    cv_.notify_one();
  }

  /// Stops the thread and closes the connection; idempotent.
  void stop() {
    if (!thread_.joinable())
      return;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
    sqlite3_close(db_);
    db_ = nullptr;
  }

  /// sqlite3_wal_hook callback of the writing connection: runs after each commit.
  static int on_commit(void* self, sqlite3* writer, const char*, int pages) {
    if (pages >= writer_checkpoint_pages)
      sqlite3_wal_checkpoint_v2(writer, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    else if (pages >= checkpoint_pages)
      static_cast<wal_checkpointer*>(self)->wake();
    return SQLITE_OK;
  }

private:
  void run() {
    lower_thread_priority();
    std::unique_lock<std::mutex> lock{mtx_};
    for (;;) {
      // Woken by a long log, or (in a file that can return free pages) every second to look
      // for some.
      if (incremental_)
        cv_.wait_for(lock, std::chrono::seconds(1), [this] { return requested_ || stopping_; });
      else
        cv_.wait(lock, [this] { return requested_ || stopping_; });
      if (stopping_)
        return;
      bool requested = requested_;
      requested_ = false;
      lock.unlock();
      // Errors (a full disk, a busy lock) leave the log as it is; the next commit asks again.
      if (requested)
        sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      // Then free pages, if any, and a checkpoint that truncates the file to what is left.
      if (incremental_ && vacuum())
        sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      lock.lock();
    }
  }

  /// Returns free pages in bounded steps; stops at a busy lock, an error, a short free list or
  /// a checkpoint asked for (a long log comes first). Whether it returned any.
  bool vacuum() {
    bool any = false;
    for (int step = 0; step < vacuum_steps_per_round; ++step) {
      auto before = pragma_number("freelist_count");
      if (before < vacuum_min_free_pages)
        return any;
      auto sql = "PRAGMA incremental_vacuum(" + std::to_string(vacuum_step_pages) + ")";
      if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
        return any; // the writer holds the lock (SQLITE_BUSY), or the disk is full: next second
      auto after = pragma_number("freelist_count");
      if (after >= 0 && after < before)
        any = true;
      std::unique_lock<std::mutex> lock{mtx_};
      if (cv_.wait_for(lock, std::chrono::milliseconds(5),
                       [this] { return stopping_ || requested_; }))
        return any;
    }
    return any;
  }

  /// An integer pragma's value on this connection; -1 when it cannot be read.
  int64_t pragma_number(const char* name) {
    sqlite3_stmt* stmt = nullptr;
    int64_t out = -1;
    auto sql = std::string{"PRAGMA "} + name;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
      out = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return out;
  }

  sqlite3* db_ = nullptr;
  std::thread thread_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool requested_ = false;
  bool stopping_ = false;
  bool incremental_ = false; ///< the file's auto_vacuum mode is INCREMENTAL
};

/// Opens a read-only connection to `path` set up as the engine's own (extended result codes, the
/// busy timeout), for an integrity check or a reader: SQLITE_OK, or SQLite's code with `db` left
/// for its message (the caller closes it).
int open_read_only(const std::string& path, sqlite3*& db) {
  auto rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK)
    return rc;
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return SQLITE_OK;
}

/// What an integrity check shares with the engine that made it: its connection (with a read
/// snapshot already taken on the owner's thread when it rebuilds the summaries) and the summaries
/// it found there.
struct check_state {
  std::string path;
  sqlite3* db = nullptr; ///< read-only; the check opens its own when null
  bool rebuild = false;  ///< fold the stored digests into `found`
  summaries found;
  bool complete = false; ///< every record was read (set by the check's thread before it answers)
  ~check_state() {
    if (db != nullptr) {
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
      sqlite3_close(db);
    }
  }
};

/// The integrity check (engine::integrity_check): quick_check and then every record, in one read
/// snapshot of a read-only connection of its own.
integrity_report check_file(check_state& state, check_control& control) {
  integrity_report out;
  auto& path = state.path;
  auto fail = [&](sqlite3* conn) {
    auto code = conn == nullptr ? SQLITE_NOMEM : sqlite3_extended_errcode(conn) & 0xFF;
    std::string msg =
        conn == nullptr ? "cannot allocate a SQLite connection" : sqlite3_errmsg(conn);
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
      out.damage =
          caf::make_error(ec::corrupt_record, path + ": database file damaged (" + msg + ")");
    else
      out.failure = caf::make_error(ec::storage_failure, path + ": integrity check: " + msg);
  };
  bool pinned = state.db != nullptr;
  if (!pinned) {
    if (open_read_only(path, state.db) != SQLITE_OK) {
      fail(state.db);
      sqlite3_close(state.db);
      state.db = nullptr;
      return out;
    }
  }
  auto* db = state.db;
  // Cancelling interrupts whatever statement runs, quick_check included.
  sqlite3_progress_handler(
      db, 10000,
      [](void* c) -> int { return static_cast<check_control*>(c)->cancel.load() ? 1 : 0; },
      &control);
  sqlite3_stmt* stmt = nullptr;
  auto finish = [&] {
    sqlite3_finalize(stmt);
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    state.db = nullptr;
    return out;
  };
  auto cancelled = [&] {
    if (!control.cancel)
      return false;
    out.failure = caf::make_error(ec::storage_failure, path + ": integrity check cancelled");
    return true;
  };
  // One snapshot for both passes: what quick_check vouched for is what the records pass reads.
  if (cancelled())
    return finish();
  if ((!pinned && sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) ||
      sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &stmt, nullptr) != SQLITE_OK) {
    fail(db);
    return finish();
  }
  auto rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    if (!cancelled())
      fail(db);
    return finish();
  }
  auto first = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  std::string verdict = first == nullptr ? std::string{} : first;
  if (verdict != "ok") {
    out.damage =
        caf::make_error(ec::corrupt_record, path + ": database file damaged (" + verdict + ")");
    return finish();
  }
  sqlite3_finalize(stmt);
  stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT partition, leaf, key, digest, value, dies_us FROM records", -1,
                         &stmt, nullptr) != SQLITE_OK) {
    fail(db);
    return finish();
  }
  while (!cancelled() && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    auto p = static_cast<partition_id>(sqlite3_column_int64(stmt, 0));
    auto leaf = static_cast<size_t>(sqlite3_column_int64(stmt, 1));
    auto key = column_bytes(stmt, 2);
    auto stored = static_cast<uint64_t>(sqlite3_column_int64(stmt, 3));
    auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 4));
    auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, 4));
    auto rec = decode_record(data, size);
    // A wrong `dies_us` would hide a tombstone from the collector, or show it a live record.
    if (!rec || record_digest(key, *rec) != stored || leaf >= leaves_per_partition ||
        leaf != static_cast<size_t>(leaf_column(key)) ||
        dvv::dead_from(*rec) != column_dies(stmt, 5))
      out.suspects.emplace_back(p, std::move(key));
    // The summaries hold the digests as stored; the owner's refresh_digest of the suspects
    // corrects both afterwards.
    if (state.rebuild && leaf < leaves_per_partition)
      fold(state.found, p, leaf, stored, 1);
    ++out.records;
    control.records.fetch_add(1, std::memory_order_relaxed);
  }
  if (!out.failure && rc != SQLITE_DONE && !cancelled())
    fail(db);
  state.complete = !out.failure && !out.damage;
  return finish();
}

/// Pages copied per backup step: a step holds the source's read snapshot (never a lock writers
/// wait for, in WAL mode) and the destination's write lock; between steps the job checks for
/// cancellation and reports progress.
constexpr int backup_step_pages = 256;

/// The online backup (engine::backup): SQLite's backup API from a read snapshot of a read-only
/// connection of its own into `destination`.partial, renamed to `destination` when complete.
caf::expected<backup_result> backup_file(const std::string& source, const std::string& destination,
                                         const std::string& marker, backup_control& control) {
  namespace fs = std::filesystem;
  std::error_code fs_err;
  fs::path dest{destination};
  if (!dest.is_absolute())
    return caf::make_error(ec::bad_request,
                           "backup: " + destination + " is not an absolute path on the node");
  if (fs::exists(dest, fs_err) || fs::is_symlink(dest, fs_err))
    return caf::make_error(ec::bad_request, "backup: " + destination +
                                                " exists; a backup never overwrites a file");
  auto dir = dest.parent_path();
  if (!fs::is_directory(dir, fs_err))
    return caf::make_error(ec::bad_request,
                           "backup: directory " + dir.string() + " does not exist on the node");
  if (::access(dir.c_str(), W_OK) != 0)
    return caf::make_error(ec::bad_request,
                           "backup: directory " + dir.string() + " is not writable by the node");
  auto partial = destination + ".partial";
  auto drop_partial = [&] {
    for (auto suffix : {"", "-wal", "-shm", "-journal"})
      fs::remove(partial + suffix, fs_err);
  };
  drop_partial();
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  sqlite3_backup* copy = nullptr;
  auto close_all = [&] {
    if (copy != nullptr)
      sqlite3_backup_finish(copy);
    if (src != nullptr) {
      sqlite3_exec(src, "COMMIT", nullptr, nullptr, nullptr);
      sqlite3_close(src);
    }
    sqlite3_close(dst);
    copy = nullptr;
    src = dst = nullptr;
  };
  auto fail = [&](sqlite3* conn, const std::string& what) -> caf::error {
    std::string msg = conn == nullptr ? "cannot allocate a SQLite connection" : sqlite3_errmsg(conn);
    auto code = conn == nullptr ? SQLITE_NOMEM : sqlite3_extended_errcode(conn) & 0xFF;
    if (code == SQLITE_FULL)
      msg += ": the disk holding " + dir.string() + " is full";
    close_all();
    drop_partial();
    return caf::make_error(ec::storage_failure, "backup to " + destination + ": " + what + ": " +
                                                    msg);
  };
  if (sqlite3_open_v2(source.c_str(), &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return fail(src, "cannot open " + source);
  sqlite3_extended_result_codes(src, 1);
  sqlite3_busy_timeout(src, busy_timeout_ms);
  // One read snapshot for the whole copy (a WAL reader's snapshot is taken at its first read):
  // backup steps use the open read transaction, so writes made meanwhile never restart the copy.
  if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM meta;", nullptr, nullptr, nullptr) !=
      SQLITE_OK)
    return fail(src, "cannot read " + source);
  if (sqlite3_open_v2(partial.c_str(), &dst,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return fail(dst, "cannot create " + partial);
  sqlite3_extended_result_codes(dst, 1);
  sqlite3_busy_timeout(dst, busy_timeout_ms);
  copy = sqlite3_backup_init(dst, "main", src, "main");
  if (copy == nullptr)
    return fail(dst, "cannot start");
  int rc = SQLITE_OK;
  while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    if (control.cancel)
      break;
    rc = sqlite3_backup_step(copy, backup_step_pages);
    control.pages_total = static_cast<uint64_t>(sqlite3_backup_pagecount(copy));
    control.pages_done = control.pages_total - static_cast<uint64_t>(sqlite3_backup_remaining(copy));
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  backup_result out;
  out.pages = control.pages_total;
  // finish() leaves the step's error, if any, on the destination connection.
  auto finished = sqlite3_backup_finish(copy);
  copy = nullptr;
  if (rc != SQLITE_DONE) {
    if (control.cancel) {
      close_all();
      drop_partial();
      return caf::make_error(ec::storage_failure, "backup to " + destination + " cancelled");
    }
    return fail(dst, "copying");
  }
  if (finished != SQLITE_OK)
    return fail(dst, "copying");
  // The copy says it is one: the node that opens it as its store takes a new replica id.
  sqlite3_stmt* stmt = nullptr;
  bool marked =
      sqlite3_prepare_v2(dst, "INSERT OR REPLACE INTO meta(name, value) VALUES('backup', ?1)", -1,
                         &stmt, nullptr) == SQLITE_OK &&
      sqlite3_bind_text(stmt, 1, marker.data(), static_cast<int>(marker.size()),
                        SQLITE_TRANSIENT) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_DONE;
  sqlite3_finalize(stmt);
  if (!marked)
    return fail(dst, "marking the copy");
  sqlite3_int64 page_size = 0;
  if (sqlite3_prepare_v2(dst, "PRAGMA page_size", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW)
    page_size = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  out.bytes = out.pages * static_cast<uint64_t>(page_size);
  // Closing the copy's last connection checkpoints its log into the file and removes it.
  if (sqlite3_close(dst) != SQLITE_OK)
    return fail(dst, "closing the copy");
  dst = nullptr;
  close_all();
  if (fs::exists(partial + "-wal", fs_err) || fs::exists(destination, fs_err)) {
    drop_partial();
    return caf::make_error(ec::storage_failure,
                           "backup to " + destination +
                               ": the copy's log was not folded in, or the file appeared meanwhile");
  }
  fs::rename(partial, destination, fs_err);
  if (fs_err) {
    drop_partial();
    return caf::make_error(ec::storage_failure,
                           "backup to " + destination + ": renaming the copy: " + fs_err.message());
  }
  return out;
}

class sqlite_engine final : public engine {
public:
  explicit sqlite_engine(std::string path) : path_(std::move(path)) {}

  sqlite_engine(const sqlite_engine&) = delete;
  sqlite_engine& operator=(const sqlite_engine&) = delete;

  ~sqlite_engine() override {
    checkpointer_.stop();
    rollback();
    // A clean close: the summaries go to the file with the state that vouches for them, unless a
    // check is owed (it then runs again at the next start, rebuilding them) or this connection
    // met damage.
    if (set_meta_ != nullptr && !check_owed_ && !damage_seen_ && ready_ && !read_only_)
      close_cleanly();
    // Every statement of the connection, so that none is forgotten: with one left, close fails
    // and the WAL is never checkpointed into the database file.
    while (auto* stmt = sqlite3_next_stmt(db_, nullptr))
      sqlite3_finalize(stmt);
    // Closing the last connection checkpoints the WAL into the database file.
    sqlite3_close(db_);
  }

  /// Opens the connection, configures it, creates, upgrades or checks the schema, prepares
  /// statements and reads what a clean close left (the leaf summaries, the newest timestamp).
  caf::error open(sync_mode sync, uint32_t cache_mib,
                  const std::function<void(uint64_t)>& progress) {
    auto flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr) != SQLITE_OK)
      return db_ == nullptr ? failure_text("cannot allocate a SQLite connection") : failure();
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    // Takes effect only in a new file, and only before WAL mode writes its first page: freed
    // pages can then be returned to the file system (wal_checkpointer). An older file keeps
    // its mode (storage/FORMAT.md says how to convert it).
    if (sqlite3_exec(db_, "PRAGMA auto_vacuum=INCREMENTAL", nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    if (auto err = enable_wal())
      return err;
    if (sqlite3_exec(db_, synchronous_pragma(sync), nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    // Without a limit the log file keeps the largest size a burst (a large commit, a reader
    // that held checkpoints back) ever gave it until the node stops; with one, SQLite cuts it
    // back whenever the log starts over.
    auto limit = "PRAGMA journal_size_limit=" + std::to_string(wal_size_limit_bytes);
    if (sqlite3_exec(db_, limit.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    // A negative cache_size is in KiB.
    cache_mib_ = cache_mib;
    auto cache = "PRAGMA cache_size=-" + std::to_string(uint64_t{cache_mib} * 1024);
    if (sqlite3_exec(db_, cache.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    auto opened = ensure_schema(progress);
    if (!opened)
      return std::move(opened.error());
    if (auto err = prepare_all())
      return err;
    auto newest = get_meta(newest_timestamp_name);
    if (!newest)
      return std::move(newest.error());
    if (*newest) {
      try {
        newest_ = std::stoll(**newest);
      } catch (const std::exception&) {
        newest_ = 0; // unreadable: the clock then follows what it sees from here on
      }
    }
    persisted_newest_ = newest_;
    auto state = get_meta(open_state_name);
    if (!state)
      return std::move(state.error());
    auto clean = *state == std::optional<std::string>{"closed"};
    check_owed_ =
        *opened == schema_state::upgraded || (*opened == schema_state::existing && !clean);
    ready_ = *opened == schema_state::created;
    if (*opened == schema_state::existing && clean)
      if (auto err = read_summaries())
        return err;
    // From here on the summaries in the file are stale: only a clean close writes them again.
    if (sqlite3_exec(db_, "DELETE FROM leaves", nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    if (auto err = write_meta(open_state_name, check_owed_ ? "check owed" : "open"))
      return err;
    if (checkpointer_.start(path_))
      sqlite3_wal_hook(db_, &wal_checkpointer::on_commit, &checkpointer_); // replaces SQLite's
    return caf::none;
  }

  caf::expected<std::unique_ptr<reader>> open_reader() override;

  /// Opens this engine as a reader of `path`, which its writer has opened (so it exists, in WAL
  /// mode, of this schema): a read-only connection with the writer's cache size and the
  /// statements prepared, nothing written.
  caf::error open_as_reader(uint32_t cache_mib) {
    read_only_ = true;
    if (open_read_only(path_, db_) != SQLITE_OK)
      return db_ == nullptr ? failure_text("cannot allocate a SQLite connection") : failure();
    auto cache = "PRAGMA cache_size=-" + std::to_string(uint64_t{cache_mib} * 1024);
    if (sqlite3_exec(db_, cache.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    return prepare_all();
  }

  /// The read of hints_for() without its deletes: the corrupt hints met go to `corrupt`.
  caf::expected<std::vector<hint>> read_hints(const std::string& target, size_t limit,
                                              std::vector<uint64_t>& corrupt) {
    std::vector<hint> out;
    // No LIMIT in the statement: corrupt hints met on the way do not count towards `limit`.
    // Stepping stops as soon as enough are found, so only those rows are read.
    statement_use use{hints_for_};
    bind_text(hints_for_, 1, target);
    while (out.size() < limit) {
      auto rc = sqlite3_step(hints_for_);
      if (rc == SQLITE_DONE)
        break;
      if (rc != SQLITE_ROW)
        return failure();
      auto id = static_cast<uint64_t>(sqlite3_column_int64(hints_for_, 0));
      auto data = static_cast<const uint8_t*>(sqlite3_column_blob(hints_for_, 3));
      auto size = static_cast<size_t>(sqlite3_column_bytes(hints_for_, 3));
      auto rec = decode_record(data, size);
      if (!rec) {
        corrupt.push_back(id);
        continue;
      }
      out.push_back(hint{id, target, static_cast<partition_id>(sqlite3_column_int64(hints_for_, 1)),
                         column_bytes(hints_for_, 2), std::move(*rec)});
    }
    return out;
  }

  integrity_job integrity_check() override {
    auto state = std::make_shared<check_state>();
    state->path = path_;
    // Every check rebuilds the summaries from a snapshot taken now (after an unclean stop they are
    // missing; otherwise this corrects any drift, say from rows changed behind the engine's back);
    // writes from here on are gathered apart and folded in when it is done.
    if (auto err = pin_snapshot(*state))
      return [err](check_control&) {
        integrity_report out;
        out.failure = err;
        return out;
      };
    state->rebuild = true;
    delta_.clear();
    rebuilding_ = state;
    return [state](check_control& control) { return check_file(*state, control); };
  }

  backup_job backup(const std::string& destination, const std::string& marker) override {
    return [source = path_, destination, marker](backup_control& control) {
      return backup_file(source, destination, marker, control);
    };
  }

  bool check_owed() const override { return check_owed_; }

  caf::error check_done(const integrity_report& report) override {
    if (rebuilding_ && rebuilding_->complete) {
      // The summaries of the snapshot, plus every write made since it was taken.
      summaries_ = std::move(rebuilding_->found);
      for (auto& [p, leaves] : delta_)
        for (size_t l = 0; l < leaves.size(); ++l)
          fold(summaries_, p, l, leaves[l].digest, static_cast<int64_t>(leaves[l].records));
      delta_.clear();
      ready_ = true;
      rebuilding_.reset();
    }
    for (auto& [p, key] : report.suspects)
      if (auto err = refresh_digest(p, key))
        return err;
    check_owed_ = false;
    return write_meta(open_state_name, "open");
  }

  bool damage_seen() const override { return damage_seen_; }

  caf::expected<std::optional<record>> get(partition_id p, const bytes& key) override {
    statement_use use{get_};
    bind_record_key(get_, p, key);
    switch (sqlite3_step(get_)) {
    case SQLITE_ROW: {
      remember_read(p, key, static_cast<uint64_t>(sqlite3_column_int64(get_, 1)));
      // Decode straight from SQLite's buffer: valid until the statement is reset.
      auto data = static_cast<const uint8_t*>(sqlite3_column_blob(get_, 0));
      auto size = static_cast<size_t>(sqlite3_column_bytes(get_, 0));
      auto rec = decode_record(data, size);
      if (!rec)
        return std::move(rec.error());
      return std::optional<record>{std::move(*rec)};
    }
    case SQLITE_DONE:
      remember_read(p, key, std::nullopt);
      return std::optional<record>{};
    default:
      return failure();
    }
  }

  void read_together(const std::function<void()>& reads) override {
    if (in_batch_) {
      reads();
      return;
    }
    // A deferred transaction takes its read lock at the first get() and keeps it to the COMMIT,
    // so the reads of a batch pay SQLite's WAL read-lock syscalls once instead of each.
    bool snapshot = false;
    {
      statement_use use{begin_read_};
      snapshot = !step_done(begin_read_);
    }
    reads();
    if (!snapshot)
      return;
    statement_use use{commit_};
    if (step_done(commit_)) {
      statement_use undo{rollback_};
      sqlite3_step(rollback_);
    }
  }

  caf::error put(partition_id p, const bytes& key, const record& rec) override {
    // Outside a batch the record, its leaf and the newest timestamp still change together.
    if (!in_batch_)
      return on_its_own([&] { return put(p, key, rec); });
    if (auto err = check_batch())
      return err;
    auto old = stored_digest(p, key);
    if (!old)
      return std::move(old.error());
    auto value = encode_record(rec);
    auto digest = record_digest(key, rec);
    statement_use use{put_};
    bind_record_key(put_, p, key);
    sqlite3_bind_int64(put_, 4, static_cast<sqlite3_int64>(digest));
    bind_blob(put_, 5, value.data(), value.size());
    bind_dies(put_, 6, dvv::dead_from(rec));
    if (auto err = step_done(put_))
      return err;
    auto leaf = static_cast<size_t>(leaf_column(key));
    if (*old)
      change(p, leaf, **old ^ digest, 0);
    else
      change(p, leaf, digest, 1);
    remember_read(p, key, digest);
    newest_ = std::max(newest_, storage::newest_timestamp(rec));
    return caf::none;
  }

  caf::error erase(partition_id p, const bytes& key) override {
    if (!in_batch_)
      return on_its_own([&] { return erase(p, key); });
    if (auto err = check_batch())
      return err;
    auto old = stored_digest(p, key);
    if (!old)
      return std::move(old.error());
    if (!*old)
      return caf::none;
    statement_use use{erase_};
    bind_record_key(erase_, p, key);
    if (auto err = step_done(erase_))
      return err;
    change(p, static_cast<size_t>(leaf_column(key)), **old, -1);
    remember_read(p, key, std::nullopt);
    return caf::none;
  }

  caf::error for_each(partition_id p, const std::optional<bytes>& after,
                      const scan_fn& f) override {
    auto* stmt = after ? scan_after_ : scan_;
    statement_use use{stmt};
    sqlite3_bind_int64(stmt, 1, p);
    if (after) {
      sqlite3_bind_int64(stmt, 2, leaf_column(*after));
      bind_blob(stmt, 3, after->data(), after->size());
    }
    return each_record(stmt, [&](const bytes& key, caf::expected<record>&& rec) {
      return f(key, std::move(rec));
    });
  }

  caf::error for_each_dead(partition_id p, const std::optional<bytes>& after, int64_t before_us,
                           const scan_fn& f) override {
    statement_use use{scan_dead_};
    sqlite3_bind_int64(scan_dead_, 1, p);
    sqlite3_bind_int64(scan_dead_, 2, after ? leaf_column(*after) : -1);
    if (after)
      bind_blob(scan_dead_, 3, after->data(), after->size());
    else
      bind_blob(scan_dead_, 3, nullptr, 0);
    sqlite3_bind_int64(scan_dead_, 4, before_us);
    return each_record(scan_dead_, [&](const bytes& key, caf::expected<record>&& rec) {
      // Only a readable record has a death; a row changed behind the engine's back is not
      // reported (the integrity check corrects its `dies_us`).
      return !rec || f(key, std::move(rec));
    });
  }

  caf::expected<uint64_t> count(partition_id p) override {
    if (auto err = check_ready())
      return err;
    uint64_t n = 0;
    if (auto it = summaries_.find(p); it != summaries_.end())
      for (auto& leaf : it->second)
        n += leaf.records;
    return n;
  }

  caf::expected<std::vector<uint64_t>> leaves(partition_id p) override {
    if (auto err = check_ready())
      return err;
    std::vector<uint64_t> out(leaves_per_partition, 0);
    if (auto it = summaries_.find(p); it != summaries_.end())
      for (size_t l = 0; l < leaves_per_partition; ++l)
        out[l] = it->second[l].digest;
    return out;
  }

  caf::expected<std::vector<key_digest>> leaf_keys(partition_id p,
                                                   const std::vector<uint64_t>& leaves) override {
    std::vector<uint64_t> wanted;
    for (auto l : leaves)
      if (l < leaves_per_partition)
        wanted.push_back(l);
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    std::vector<key_digest> out;
    for (auto leaf : wanted) {
      statement_use use{leaf_keys_};
      sqlite3_bind_int64(leaf_keys_, 1, p);
      sqlite3_bind_int64(leaf_keys_, 2, static_cast<sqlite3_int64>(leaf));
      int rc;
      while ((rc = sqlite3_step(leaf_keys_)) == SQLITE_ROW)
        out.push_back(key_digest{column_bytes(leaf_keys_, 0),
                                 static_cast<uint64_t>(sqlite3_column_int64(leaf_keys_, 1))});
      if (rc != SQLITE_DONE)
        return failure();
    }
    return out;
  }

  caf::error refresh_digest(partition_id p, const bytes& key) override {
    if (!in_batch_)
      return on_its_own([&] { return refresh_digest(p, key); });
    if (auto err = check_batch())
      return err;
    uint64_t digest = 0;
    uint64_t stored = 0;
    std::optional<int64_t> dies;
    {
      statement_use use{stored_value_};
      bind_record_key(stored_value_, p, key);
      switch (sqlite3_step(stored_value_)) {
      case SQLITE_ROW: {
        auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stored_value_, 0));
        auto size = static_cast<size_t>(sqlite3_column_bytes(stored_value_, 0));
        auto rec = decode_record(data, size);
        digest = rec ? record_digest(key, *rec) : 0;
        dies = rec ? dvv::dead_from(*rec) : std::nullopt;
        stored = static_cast<uint64_t>(sqlite3_column_int64(stored_value_, 1));
        if (digest == stored && dies == column_dies(stored_value_, 2))
          return caf::none;
        break;
      }
      case SQLITE_DONE:
        return caf::none;
      default:
        return failure();
      }
    }
    statement_use use{set_digest_};
    bind_record_key(set_digest_, p, key);
    sqlite3_bind_int64(set_digest_, 4, static_cast<sqlite3_int64>(digest));
    bind_dies(set_digest_, 5, dies);
    if (auto err = step_done(set_digest_))
      return err;
    remember_read(p, key, digest);
    change(p, static_cast<size_t>(leaf_column(key)), stored ^ digest, 0);
    return caf::none;
  }

  int64_t newest_timestamp() const override { return newest_; }

  caf::error begin() override {
    if (in_batch_)
      return failure_text("begin: a batch is already open");
    statement_use use{begin_};
    if (auto err = step_done(begin_))
      return err;
    in_batch_ = true;
    batch_newest_ = newest_;
    return caf::none;
  }

  caf::error commit() override {
    if (!in_batch_)
      return failure_text("commit: no batch is open");
    if (auto err = check_batch()) {
      rollback();
      return err;
    }
    caf::error err;
    if (newest_ > persisted_newest_ + newest_timestamp_slack_us)
      err = write_meta(newest_timestamp_name, std::to_string(newest_));
    if (!err) {
      statement_use use{commit_};
      err = step_done(commit_);
    }
    if (err) {
      // A commit that fails (disk full, I/O error) discards the batch rather than leaving a half
      // state for the caller to guess about: none of its writes are durable.
      rollback();
      return err;
    }
    in_batch_ = false;
    undo_.clear();
    if (newest_ > persisted_newest_ + newest_timestamp_slack_us)
      persisted_newest_ = newest_;
    return caf::none;
  }

  void rollback() override {
    if (!in_batch_)
      return;
    in_batch_ = false;
    // The summaries go back with the records.
    last_read_.reset();
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it)
      apply_change(it->partition, it->leaf, it->digest, -it->records);
    undo_.clear();
    newest_ = batch_newest_;
    // SQLite may already have rolled the transaction back after an I/O error or a full disk.
    if (sqlite3_get_autocommit(db_) == 0 && rollback_ != nullptr) {
      statement_use use{rollback_};
      sqlite3_step(rollback_);
    }
  }

  caf::expected<std::optional<std::string>> get_meta(const std::string& name) override {
    statement_use use{get_meta_};
    bind_text(get_meta_, 1, name);
    switch (sqlite3_step(get_meta_)) {
    case SQLITE_ROW: {
      auto text = reinterpret_cast<const char*>(sqlite3_column_text(get_meta_, 0));
      auto size = static_cast<size_t>(sqlite3_column_bytes(get_meta_, 0));
      return std::optional<std::string>{text == nullptr ? std::string{} : std::string(text, size)};
    }
    case SQLITE_DONE:
      return std::optional<std::string>{};
    default:
      return failure();
    }
  }

  caf::error set_meta(const std::string& name, const std::string& value) override {
    if (engine_owned(name))
      return failure_text("meta name '" + name + "' is reserved for the engine");
    return write_meta(name, value);
  }

  caf::expected<uint64_t> add_hint(const std::string& target, partition_id p, const bytes& key,
                                   const record& rec) override {
    if (auto err = check_batch())
      return err;
    auto value = encode_record(rec);
    statement_use use{add_hint_};
    bind_text(add_hint_, 1, target);
    sqlite3_bind_int64(add_hint_, 2, p);
    bind_blob(add_hint_, 3, key.data(), key.size());
    bind_blob(add_hint_, 4, value.data(), value.size());
    if (auto err = step_done(add_hint_))
      return err;
    return static_cast<uint64_t>(sqlite3_last_insert_rowid(db_));
  }

  caf::expected<std::vector<hint>> hints_for(const std::string& target, size_t limit,
                                             size_t* corrupt_dropped) override {
    if (corrupt_dropped != nullptr)
      *corrupt_dropped = 0;
    std::vector<uint64_t> corrupt;
    auto out = read_hints(target, limit, corrupt);
    if (!out)
      return out;
    // Deleted once the scan's statement is reset, so no read is open on the table meanwhile.
    for (auto id : corrupt)
      if (auto err = remove_hint(id))
        return err;
    if (corrupt_dropped != nullptr)
      *corrupt_dropped = corrupt.size();
    return out;
  }

  caf::error remove_hint(uint64_t id) override {
    if (auto err = check_batch())
      return err;
    statement_use use{remove_hint_};
    sqlite3_bind_int64(remove_hint_, 1, static_cast<sqlite3_int64>(id));
    return step_done(remove_hint_);
  }

  caf::expected<uint64_t> drop_hints(const std::string& target, size_t limit) override {
    if (auto err = check_batch())
      return err;
    statement_use use{drop_hints_};
    bind_text(drop_hints_, 1, target);
    sqlite3_bind_int64(drop_hints_, 2, static_cast<sqlite3_int64>(limit));
    if (auto err = step_done(drop_hints_))
      return err;
    return static_cast<uint64_t>(sqlite3_changes(db_));
  }

  caf::expected<std::map<std::string, uint64_t>> hint_counts() override {
    std::map<std::string, uint64_t> out;
    statement_use use{hint_counts_};
    for (;;) {
      switch (sqlite3_step(hint_counts_)) {
      case SQLITE_ROW: {
        auto text = reinterpret_cast<const char*>(sqlite3_column_text(hint_counts_, 0));
        auto size = static_cast<size_t>(sqlite3_column_bytes(hint_counts_, 0));
        out[text == nullptr ? std::string{} : std::string(text, size)] =
            static_cast<uint64_t>(sqlite3_column_int64(hint_counts_, 1));
        break;
      }
      case SQLITE_DONE:
        return out;
      default:
        return failure();
      }
    }
  }

private:
  /// The error for the connection's latest failure: "<path>: <SQLite's message>", with a full disk
  /// (or a database at its page limit) spelled out because operators must act on it.
  /// Steps `stmt` to its end, handing each row's key (column 0) and decoded record (column 1) to
  /// `row`, which returns false to stop early; SQLite's error when a step fails.
  template <class Row>
  caf::error each_record(sqlite3_stmt* stmt, Row&& row) {
    for (;;) {
      switch (sqlite3_step(stmt)) {
      case SQLITE_ROW: {
        auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 1));
        auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, 1));
        if (!row(column_bytes(stmt, 0), decode_record(data, size)))
          return caf::none;
        break;
      }
      case SQLITE_DONE:
        return caf::none;
      default:
        return failure();
      }
    }
  }

  caf::error failure() const {
    auto code = sqlite3_extended_errcode(db_) & 0xFF;
    std::string msg = sqlite3_errmsg(db_);
    if (code == SQLITE_FULL)
      return failure_text("disk is full (" + msg + ")");
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
      damage_seen_ = true;
      return caf::make_error(ec::corrupt_record, path_ + ": database file damaged (" + msg + ")");
    }
    return failure_text(msg);
  }

  caf::error failure_text(const std::string& text) const {
    return caf::make_error(ec::storage_failure, path_ + ": " + text);
  }

  /// Runs a statement that returns no rows.
  caf::error step_done(sqlite3_stmt* stmt) {
    if (sqlite3_step(stmt) != SQLITE_DONE)
      return failure();
    return caf::none;
  }

  /// Refuses writes into a batch that SQLite has already rolled back (after a full disk or an I/O
  /// error): they would otherwise run as separate transactions and break the batch's atomicity.
  caf::error check_batch() const {
    if (in_batch_ && sqlite3_get_autocommit(db_) != 0)
      return failure_text("the open batch was rolled back after an earlier error");
    return caf::none;
  }

  caf::error enable_wal() {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr) != SQLITE_OK)
      return failure();
    std::string mode;
    auto rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
      mode = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW)
      return failure();
    if (mode != "wal")
      return failure_text("cannot enable WAL mode (journal mode is " + mode + ")");
    return caf::none;
  }

  /// Whether the file was new, already of the current version, or upgraded by this open.
  enum class schema_state { created, existing, upgraded };

  /// Creates the tables and the schema version row, or checks an existing database's version and
  /// upgrades an older one. The version is read before anything is created, so a newer database
  /// is left untouched.
  caf::expected<schema_state> ensure_schema(const std::function<void(uint64_t)>& progress) {
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    auto state = ensure_schema_in_transaction(progress);
    if (!state) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return state;
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      auto err = failure();
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return err;
    }
    return state;
  }

  caf::expected<schema_state>
  ensure_schema_in_transaction(const std::function<void(uint64_t)>& progress) {
    auto found = read_schema_version();
    if (!found)
      return std::move(found.error());
    auto current = std::to_string(schema_version);
    if (*found && **found == current)
      return schema_state::existing;
    // Version 1 lacks the hints table and keeps hints among the records; versions 1 and 2 lack
    // each record's leaf and digest, and the leaves table; versions 1 to 3 each record's death
    // and its index.
    const bool upgrade = *found && (**found == "1" || **found == "2" || **found == "3");
    if (*found && !upgrade) {
      const auto& text = **found;
      auto digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
      if (digits && (text.size() > 9 || std::stoi(text) > schema_version))
        return failure_text("schema version " + text + " is newer than this build understands (" +
                            current + ")");
      return failure_text("unknown schema version '" + text + "'");
    }
    // For an upgrade the old records table exists: IF NOT EXISTS leaves it to upgrade_records().
    if (sqlite3_exec(db_, tables_sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    if (upgrade) {
      if (**found == "1")
        if (auto err = move_legacy_hints())
          return err;
      if (**found == "3") {
        if (auto err = add_deaths(progress))
          return err;
      } else if (auto err = upgrade_records(progress)) {
        return err;
      }
    }
    if (sqlite3_exec(db_, dying_index_sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    auto sql = std::string{"INSERT INTO meta(name, value) VALUES('"} + schema_version_name +
               "', '" + current + "') ON CONFLICT(name) DO UPDATE SET value = excluded.value";
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    // From version 3 nothing the leaf summaries or open_state vouch for changed: the file opens
    // as it would have (a clean one with its summaries, no check owed).
    if (upgrade && **found == "3")
      return schema_state::existing;
    return upgrade ? schema_state::upgraded : schema_state::created;
  }

  /// Upgrade 3 -> 4: gives `records` its `dies_us` column (NULL in every row: adding it rewrites
  /// nothing) and sets it in the rows of records that die, found by decoding every record once
  /// (a row whose record fails verification keeps NULL). Runs inside ensure_schema()'s
  /// transaction, so it happens entirely or not at all; the index is created after it.
  caf::error add_deaths(const std::function<void(uint64_t)>& progress) {
    if (sqlite3_exec(db_, "ALTER TABLE records ADD COLUMN dies_us INTEGER", nullptr, nullptr,
                     nullptr) != SQLITE_OK)
      return failure();
    struct dying_row {
      sqlite3_int64 partition;
      sqlite3_int64 leaf;
      bytes key;
      int64_t dies;
    };
    std::vector<dying_row> dying;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT partition, leaf, key, value FROM records", -1, &stmt,
                           nullptr) != SQLITE_OK)
      return failure();
    uint64_t records = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 3));
      auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, 3));
      auto rec = decode_record(data, size);
      if (auto died = rec ? dvv::dead_from(*rec) : std::nullopt)
        dying.push_back(dying_row{sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1),
                                  column_bytes(stmt, 2), *died});
      if (++records % 10000 == 0 && progress)
        progress(records);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
      return failure();
    if (progress)
      progress(records);
    // Updated once the scan is done: no statement reads the table while it changes.
    if (sqlite3_prepare_v2(db_,
                           "UPDATE records SET dies_us = ?4 "
                           "WHERE partition = ?1 AND leaf = ?2 AND key = ?3",
                           -1, &stmt, nullptr) != SQLITE_OK)
      return failure();
    for (const auto& row : dying) {
      sqlite3_bind_int64(stmt, 1, row.partition);
      sqlite3_bind_int64(stmt, 2, row.leaf);
      bind_blob(stmt, 3, row.key.data(), row.key.size());
      sqlite3_bind_int64(stmt, 4, row.dies);
      rc = sqlite3_step(stmt);
      sqlite3_reset(stmt);
      if (rc != SQLITE_DONE) {
        auto err = failure();
        sqlite3_finalize(stmt);
        return err;
      }
    }
    sqlite3_finalize(stmt);
    return caf::none;
  }

  /// Upgrade 2 -> 4: rebuilds `records` clustered on (partition, leaf, key) with each record's
  /// digest (value bytes unchanged; one that fails verification gets digest 0) and death
  /// (`dies_us`, version 4's column, filled in the same pass), and records the
  /// newest timestamp held. Reads and writes every record once; runs inside ensure_schema()'s
  /// transaction, so it happens entirely or not at all. The leaf summaries are left to the
  /// integrity check an upgraded file owes.
  caf::error upgrade_records(const std::function<void(uint64_t)>& progress) {
    upgrade_functions fns;
    fns.progress = &progress;
    if (fns.register_on(db_) != SQLITE_OK)
      return failure();
    auto create = std::string{tables_sql}.substr(0, std::string{tables_sql}.find(';') + 1);
    create.replace(create.find("IF NOT EXISTS records"), 21, "records_v3");
    caf::error err;
    if (sqlite3_exec(db_, create.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_exec(db_,
                     "INSERT INTO records_v3(partition, leaf, key, digest, value, dies_us) "
                     "SELECT partition, actorkv_leaf(key), key, actorkv_digest(key, value), value, "
                     "actorkv_dies(value) FROM records;"
                     "DROP TABLE records;"
                     "ALTER TABLE records_v3 RENAME TO records;",
                     nullptr, nullptr, nullptr) != SQLITE_OK)
      err = failure();
    upgrade_functions::unregister(db_);
    if (err)
      return err;
    if (progress)
      progress(fns.records);
    auto sql = std::string{"INSERT INTO meta(name, value) VALUES('"} + newest_timestamp_name +
               "', '" + std::to_string(fns.newest) +
               "') ON CONFLICT(name) DO UPDATE SET value = excluded.value";
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    return caf::none;
  }

  /// Upgrade 1 -> 2: moves every well-formed version-1 hint (a record in legacy_hint_partition)
  /// into the hints table, value bytes unchanged (a corrupt one is then dropped by hints_for()),
  /// in key order. A row whose key does not parse stays where it is: nothing is deleted that
  /// could not be moved. Runs inside ensure_schema()'s transaction, so it happens entirely or
  /// not at all.
  caf::error move_legacy_hints() {
    struct legacy_row {
      bytes stored_key;
      std::string target;
      partition_id partition = 0;
      bytes key;
      bytes value;
    };
    std::vector<legacy_row> rows;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT key, value FROM records WHERE partition = ?1 ORDER BY key",
                           -1, &stmt, nullptr) != SQLITE_OK)
      return failure();
    sqlite3_bind_int64(stmt, 1, legacy_hint_partition);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      legacy_row row;
      row.stored_key = column_bytes(stmt, 0);
      if (parse_legacy_hint_key(row.stored_key, row.target, row.partition, row.key)) {
        row.value = column_bytes(stmt, 1);
        rows.push_back(std::move(row));
      }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
      return failure();
    sqlite3_stmt* insert = nullptr;
    sqlite3_stmt* remove = nullptr;
    auto finalize = [&] {
      sqlite3_finalize(insert);
      sqlite3_finalize(remove);
    };
    if (sqlite3_prepare_v2(db_,
                           "INSERT INTO hints(target, partition, key, value) "
                           "VALUES(?1, ?2, ?3, ?4)",
                           -1, &insert, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_, "DELETE FROM records WHERE partition = ?1 AND key = ?2", -1,
                           &remove, nullptr) != SQLITE_OK) {
      auto err = failure();
      finalize();
      return err;
    }
    for (const auto& row : rows) {
      bind_text(insert, 1, row.target);
      sqlite3_bind_int64(insert, 2, row.partition);
      bind_blob(insert, 3, row.key.data(), row.key.size());
      bind_blob(insert, 4, row.value.data(), row.value.size());
      sqlite3_bind_int64(remove, 1, legacy_hint_partition);
      bind_blob(remove, 2, row.stored_key.data(), row.stored_key.size());
      auto inserted = sqlite3_step(insert);
      auto removed = inserted == SQLITE_DONE ? sqlite3_step(remove) : inserted;
      sqlite3_reset(insert);
      sqlite3_reset(remove);
      if (inserted != SQLITE_DONE || removed != SQLITE_DONE) {
        auto err = failure();
        finalize();
        return err;
      }
    }
    finalize();
    return caf::none;
  }

  /// The stored schema version, nullopt for a database without one (a new file).
  caf::expected<std::optional<std::string>> read_schema_version() {
    sqlite3_stmt* stmt = nullptr;
    const char* probe = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'";
    if (sqlite3_prepare_v2(db_, probe, -1, &stmt, nullptr) != SQLITE_OK)
      return failure();
    auto rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc == SQLITE_DONE)
      return std::optional<std::string>{};
    if (rc != SQLITE_ROW)
      return failure();
    if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE name = ?1", -1, &stmt, nullptr) !=
        SQLITE_OK)
      return failure();
    sqlite3_bind_text(stmt, 1, schema_version_name, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    std::optional<std::string> result;
    if (rc == SQLITE_ROW) {
      auto text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      result = text == nullptr ? std::string{} : std::string{text};
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      return failure();
    return result;
  }

  caf::error prepare(sqlite3_stmt*& stmt, const char* sql) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK)
      return failure();
    return caf::none;
  }

  caf::error prepare_all() {
    const std::pair<sqlite3_stmt**, const char*> statements[] = {
        {&get_, "SELECT value, digest FROM records "
                "WHERE partition = ?1 AND leaf = ?2 AND key = ?3"},
        {&put_, "INSERT INTO records(partition, leaf, key, digest, value, dies_us) "
                "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(partition, leaf, key) "
                "DO UPDATE SET digest = excluded.digest, value = excluded.value, "
                "dies_us = excluded.dies_us"},
        {&erase_, "DELETE FROM records WHERE partition = ?1 AND leaf = ?2 AND key = ?3"},
        {&scan_, "SELECT key, value FROM records WHERE partition = ?1 ORDER BY leaf, key"},
        // A range read of the primary key from the cursor on (SQLite compares the row values).
        {&scan_after_, "SELECT key, value FROM records WHERE partition = ?1 "
                       "AND (leaf, key) > (?2, ?3) ORDER BY leaf, key"},
        // The dying records only: a range of records_dying from the cursor ((-1, x'') for the
        // partition's first), whose rows carry the death, so a record not yet due is skipped
        // without reading it. INDEXED BY makes preparing fail rather than fall back to a scan.
        {&scan_dead_, "SELECT key, value FROM records INDEXED BY records_dying "
                      "WHERE partition = ?1 AND (leaf, key) > (?2, ?3) AND dies_us IS NOT NULL "
                      "AND dies_us < ?4 ORDER BY leaf, key"},
        {&leaf_keys_, "SELECT key, digest FROM records WHERE partition = ?1 AND leaf = ?2 "
                      "ORDER BY key"},
        {&stored_digest_, "SELECT digest FROM records "
                          "WHERE partition = ?1 AND leaf = ?2 AND key = ?3"},
        {&stored_value_, "SELECT value, digest, dies_us FROM records "
                         "WHERE partition = ?1 AND leaf = ?2 AND key = ?3"},
        {&set_digest_, "UPDATE records SET digest = ?4, dies_us = ?5 "
                       "WHERE partition = ?1 AND leaf = ?2 AND key = ?3"},
        {&begin_, "BEGIN IMMEDIATE"},
        {&begin_read_, "BEGIN DEFERRED"},
        {&commit_, "COMMIT"},
        {&rollback_, "ROLLBACK"},
        {&get_meta_, "SELECT value FROM meta WHERE name = ?1"},
        {&set_meta_, "INSERT INTO meta(name, value) VALUES(?1, ?2) "
                     "ON CONFLICT(name) DO UPDATE SET value = excluded.value"},
        {&add_hint_, "INSERT INTO hints(target, partition, key, value) VALUES(?1, ?2, ?3, ?4)"},
        // Served by hints_by_target: a range read in id order, no sort.
        {&hints_for_, "SELECT id, partition, key, value FROM hints WHERE target = ?1 ORDER BY id"},
        {&remove_hint_, "DELETE FROM hints WHERE id = ?1"},
        {&hint_counts_, "SELECT target, count(*) FROM hints GROUP BY target"},
        {&drop_hints_, "DELETE FROM hints WHERE id IN (SELECT id FROM hints WHERE target = ?1 "
                       "ORDER BY id LIMIT ?2)"},
    };
    for (const auto& [stmt, sql] : statements)
      if (auto err = prepare(*stmt, sql))
        return err;
    return caf::none;
  }

  /// Writes a meta row, the engine's own included (same batch rules as put()).
  caf::error write_meta(const std::string& name, const std::string& value) {
    if (auto err = check_batch())
      return err;
    statement_use use{set_meta_};
    bind_text(set_meta_, 1, name);
    bind_text(set_meta_, 2, value);
    return step_done(set_meta_);
  }

  /// Binds (partition, leaf, key) of a record to parameters 1-3.
  static void bind_record_key(sqlite3_stmt* stmt, partition_id p, const bytes& key) {
    sqlite3_bind_int64(stmt, 1, p);
    sqlite3_bind_int64(stmt, 2, leaf_column(key));
    bind_blob(stmt, 3, key.data(), key.size());
  }

  /// Runs `write` in a batch of its own (a write made outside a batch).
  template <class Write>
  caf::error on_its_own(Write write) {
    if (auto err = begin())
      return err;
    if (auto err = write()) {
      rollback();
      return err;
    }
    return commit();
  }

  /// What the last get() (or write) of a key found stored: the key and its digest, or nullopt
  /// when it was absent. The storage actor reads a record just before it writes it; this spares
  /// the write a second lookup of the same row.
  struct read_digest {
    partition_id partition;
    bytes key;
    std::optional<uint64_t> digest;
  };

  void remember_read(partition_id p, const bytes& key, std::optional<uint64_t> digest) {
    if (!last_read_)
      last_read_.emplace();
    last_read_->partition = p;
    last_read_->key = key;
    last_read_->digest = digest;
  }

  /// The key's digest as stored; nullopt when the key is absent.
  caf::expected<std::optional<uint64_t>> stored_digest(partition_id p, const bytes& key) {
    if (last_read_ && last_read_->partition == p && last_read_->key == key)
      return last_read_->digest;
    statement_use use{stored_digest_};
    bind_record_key(stored_digest_, p, key);
    switch (sqlite3_step(stored_digest_)) {
    case SQLITE_ROW:
      return std::optional<uint64_t>{
          static_cast<uint64_t>(sqlite3_column_int64(stored_digest_, 0))};
    case SQLITE_DONE:
      return std::optional<uint64_t>{};
    default:
      return failure();
    }
  }

  /// A change of a leaf (its digest XOR `digest`, `records` more records) made by the open batch:
  /// applied to the summaries (or, while they are rebuilt, to the changes since the snapshot) and
  /// remembered for a rollback.
  void change(partition_id p, size_t leaf, uint64_t digest, int64_t records) {
    apply_change(p, leaf, digest, records);
    undo_.push_back(leaf_change{p, leaf, digest, records});
  }

  /// Folds a change into the summaries when they are there, and into the changes since a running
  /// check's snapshot.
  void apply_change(partition_id p, size_t leaf, uint64_t digest, int64_t records) {
    if (ready_)
      fold(summaries_, p, leaf, digest, records);
    if (rebuilding_)
      fold(delta_, p, leaf, digest, records);
  }

  caf::error check_ready() const {
    if (ready_)
      return caf::none;
    return caf::make_error(ec::unavailable,
                           "Merkle trees not ready: the integrity check rebuilds them after an "
                           "unclean stop");
  }

  /// Reads the summaries a clean close wrote. A damaged one makes the check owed: it rebuilds them.
  caf::error read_summaries() {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT partition, summary FROM leaves", -1, &stmt, nullptr) !=
        SQLITE_OK)
      return failure();
    int rc;
    bool intact = true;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      auto p = static_cast<partition_id>(sqlite3_column_int64(stmt, 0));
      auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 1));
      auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, 1));
      if (data == nullptr || !decode_summary(data, size, summaries_[p]))
        intact = false;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
      return failure();
    ready_ = intact;
    check_owed_ = check_owed_ || !intact;
    if (!intact)
      summaries_.clear();
    return caf::none;
  }

  /// A clean close: the summaries, the newest timestamp and the state "closed" in one
  /// transaction (none of them if it fails: the next open then rebuilds the summaries).
  void close_cleanly() {
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE; DELETE FROM leaves;", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return;
    }
    sqlite3_stmt* stmt = nullptr;
    bool ok = sqlite3_prepare_v2(db_, "INSERT INTO leaves(partition, summary) VALUES(?1, ?2)", -1,
                                 &stmt, nullptr) == SQLITE_OK;
    for (auto it = summaries_.begin(); ok && it != summaries_.end(); ++it) {
      auto held = std::any_of(it->second.begin(), it->second.end(),
                              [](const leaf_summary& l) { return l.records > 0; });
      if (!held)
        continue;
      auto blob = encode_summary(it->second);
      sqlite3_bind_int64(stmt, 1, it->first);
      bind_blob(stmt, 2, blob.data(), blob.size());
      ok = sqlite3_step(stmt) == SQLITE_DONE;
      sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    ok = ok && !write_meta(newest_timestamp_name, std::to_string(newest_)) &&
         !write_meta(open_state_name, "closed") &&
         sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
    if (!ok)
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

  /// Opens `state`'s read-only connection and takes its read snapshot now, between batches.
  caf::error pin_snapshot(check_state& state) {
    if (in_batch_)
      return failure_text("an integrity check cannot start while a batch is open");
    if (open_read_only(path_, state.db) != SQLITE_OK) {
      auto err = failure_text(state.db == nullptr ? std::string{"cannot open a connection"}
                                                  : sqlite3_errmsg(state.db));
      sqlite3_close(state.db);
      state.db = nullptr;
      return err;
    }
    // A WAL reader's snapshot is taken at its first read.
    if (sqlite3_exec(state.db, "BEGIN; SELECT count(*) FROM meta;", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      auto err = failure_text(sqlite3_errmsg(state.db));
      sqlite3_close(state.db);
      state.db = nullptr;
      return err;
    }
    return caf::none;
  }

  /// One change of the open batch to a leaf summary.
  struct leaf_change {
    partition_id partition;
    size_t leaf;
    uint64_t digest;
    int64_t records;
  };

  std::string path_;
  sqlite3* db_ = nullptr;
  /// True between a successful begin() and commit()/rollback().
  bool in_batch_ = false;
  /// engine::check_owed(); cleared by check_done().
  bool check_owed_ = false;
  /// A call met SQLITE_CORRUPT or SQLITE_NOTADB (failure() sets it).
  mutable bool damage_seen_ = false;
  /// A reader's engine (open_as_reader): a read-only connection, never closed "cleanly".
  bool read_only_ = false;
  uint32_t cache_mib_ = 64; ///< the page cache's size, a reader's too
  /// The leaf summaries of every partition, true to the records when ready_. An integrity check
  /// (rebuilding_) rebuilds them from its snapshot, and delta_ gathers the changes made since it;
  /// after an unclean stop they are missing until it is done.
  summaries summaries_;
  bool ready_ = false;
  summaries delta_;
  std::shared_ptr<check_state> rebuilding_;
  std::vector<leaf_change> undo_; ///< the open batch's changes to them
  std::optional<read_digest> last_read_;
  /// The newest sibling timestamp stored, as of the open batch, before it, and as written.
  int64_t newest_ = 0;
  int64_t batch_newest_ = 0;
  int64_t persisted_newest_ = 0;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* erase_ = nullptr;
  sqlite3_stmt* scan_ = nullptr;
  sqlite3_stmt* scan_after_ = nullptr;
  sqlite3_stmt* scan_dead_ = nullptr;
  sqlite3_stmt* leaf_keys_ = nullptr;
  sqlite3_stmt* stored_digest_ = nullptr;
  sqlite3_stmt* stored_value_ = nullptr;
  sqlite3_stmt* set_digest_ = nullptr;
  /// BEGIN IMMEDIATE takes the write lock up front, so a batch never fails half-way for want of it.
  sqlite3_stmt* begin_ = nullptr;
  /// A read snapshot for read_together(); commit_ ends it.
  sqlite3_stmt* begin_read_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* get_meta_ = nullptr;
  sqlite3_stmt* set_meta_ = nullptr;
  sqlite3_stmt* add_hint_ = nullptr;
  sqlite3_stmt* hints_for_ = nullptr;
  sqlite3_stmt* remove_hint_ = nullptr;
  sqlite3_stmt* hint_counts_ = nullptr;
  sqlite3_stmt* drop_hints_ = nullptr;
  wal_checkpointer checkpointer_;
};

/// engine::open_reader(): a sqlite_engine opened as a reader, of which only the reads are used.
class sqlite_reader final : public reader {
public:
  explicit sqlite_reader(std::unique_ptr<sqlite_engine> engine) : engine_(std::move(engine)) {}

  caf::expected<std::optional<record>> get(partition_id p, const bytes& key) override {
    return engine_->get(p, key);
  }
  caf::error for_each(partition_id p, const std::optional<bytes>& after,
                      const scan_fn& f) override {
    return engine_->for_each(p, after, f);
  }
  caf::error for_each_dead(partition_id p, const std::optional<bytes>& after, int64_t before_us,
                           const scan_fn& f) override {
    return engine_->for_each_dead(p, after, before_us, f);
  }
  caf::expected<std::vector<key_digest>> leaf_keys(partition_id p,
                                                   const std::vector<uint64_t>& leaves) override {
    return engine_->leaf_keys(p, leaves);
  }
  caf::expected<std::vector<hint>> hints_for(const std::string& target, size_t limit,
                                             std::vector<uint64_t>& corrupt) override {
    return engine_->read_hints(target, limit, corrupt);
  }
  bool damage_seen() const override { return engine_->damage_seen(); }

private:
  std::unique_ptr<sqlite_engine> engine_;
};

caf::expected<std::unique_ptr<reader>> sqlite_engine::open_reader() {
  auto out = std::make_unique<sqlite_engine>(path_);
  if (auto err = out->open_as_reader(cache_mib_))
    return err;
  return std::unique_ptr<reader>{std::make_unique<sqlite_reader>(std::move(out))};
}

} // namespace

caf::expected<std::unique_ptr<engine>>
open_sqlite_engine(const std::string& path, sync_mode sync, uint32_t cache_mib,
                   const std::function<void(uint64_t)>& progress) {
  // SQLite counts every allocation under one process-wide mutex unless told not to; nothing here
  // reads those statistics, and without them a stored update costs about 3% less (BENCHMARKS.md).
  // Only possible before SQLite's first use in the process; later calls change nothing.
  static const bool memory_statistics_off = [] {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  }();
  (void)memory_statistics_off;
  auto result = std::make_unique<sqlite_engine>(path);
  if (auto err = result->open(sync, cache_mib, progress))
    return err;
  return std::unique_ptr<engine>{std::move(result)};
}

} // namespace actorkv::storage
