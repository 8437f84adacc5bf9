// The SQLite engine: one connection in WAL mode, owned by one thread at a time, plus a
// checkpointer thread with a connection of its own.
//
// Every statement is prepared once at open and reset after each use, so no read transaction
// outlives a call (a forgotten reset would pin an old WAL snapshot and stall checkpoints).
// storage/FORMAT.md documents the tables and the schema version.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>
#include <sqlite3.h>

#include "storage/engine.hpp"
#include "storage/record_codec.hpp"

namespace actorkv::storage {
namespace {

/// The schema this build creates and understands; stored in meta as 'schema_version'. Version 1
/// (no hints table) is upgraded in place when opened.
constexpr int schema_version = 2;

/// The meta row holding the schema version; callers may read it but not write it.
constexpr const char* schema_version_name = "schema_version";

/// How long a call waits for a lock held by another connection (an operator's sqlite3 shell, a
/// backup) before failing with SQLITE_BUSY.
constexpr int busy_timeout_ms = 5000;

/// Every table of the current schema. IF NOT EXISTS makes it the upgrade from version 1 too,
/// which lacks only the hints.
constexpr const char* schema_sql =
    "CREATE TABLE IF NOT EXISTS records(partition INTEGER NOT NULL, key BLOB NOT NULL, "
    "value BLOB NOT NULL, PRIMARY KEY(partition, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS hints(id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "target TEXT NOT NULL, partition INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS hints_by_target ON hints(target, id);";

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

/// WAL pages after which the checkpointer copies the log into the database file (SQLite's own
/// automatic checkpoint uses the same figure).
constexpr int checkpoint_pages = 1000;

/// WAL pages after which the writer checkpoints itself, as SQLite would: the log starts over
/// only once a checkpoint has copied all of it, which a writer that never pauses does not let
/// the checkpointer do. Bounds the log at about 32 MB.
constexpr int writer_checkpoint_pages = 8 * checkpoint_pages;

/// Copies the WAL into the database file on its own thread and connection. SQLite's automatic
/// checkpoint runs inside the commit that crosses the threshold, on the writing connection, with
/// its page writes and (sync normal or full) an fsync: every write waiting behind that commit
/// waited for it too. Measured with tools/bench --workloads "a w": update p99 13-16 ms with
/// automatic checkpoints, 7 ms with none. A PASSIVE checkpoint from another connection never
/// blocks the writer, and once it has copied everything the writer starts the log over.
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
    std::unique_lock<std::mutex> lock{mtx_};
    for (;;) {
      cv_.wait(lock, [this] { return requested_ || stopping_; });
      if (stopping_)
        return;
      requested_ = false;
      lock.unlock();
      // Errors (a full disk, a busy lock) leave the log as it is; the next commit asks again.
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      lock.lock();
    }
  }

  sqlite3* db_ = nullptr;
  std::thread thread_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool requested_ = false;
  bool stopping_ = false;
};

class sqlite_engine final : public engine {
public:
  explicit sqlite_engine(std::string path) : path_(std::move(path)) {}

  sqlite_engine(const sqlite_engine&) = delete;
  sqlite_engine& operator=(const sqlite_engine&) = delete;

  ~sqlite_engine() override {
    checkpointer_.stop();
    rollback();
    // Every statement of the connection, so that none is forgotten: with one left, close fails
    // and the WAL is never checkpointed into the database file.
    while (auto* stmt = sqlite3_next_stmt(db_, nullptr))
      sqlite3_finalize(stmt);
    // Closing the last connection checkpoints the WAL into the database file.
    sqlite3_close(db_);
  }

  /// Opens the connection, configures it, creates or checks the schema and prepares statements.
  caf::error open(sync_mode sync, uint32_t cache_mib) {
    auto flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr) != SQLITE_OK)
      return db_ == nullptr ? failure_text("cannot allocate a SQLite connection") : failure();
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    if (auto err = enable_wal())
      return err;
    if (sqlite3_exec(db_, synchronous_pragma(sync), nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    // A negative cache_size is in KiB.
    auto cache = "PRAGMA cache_size=-" + std::to_string(uint64_t{cache_mib} * 1024);
    if (sqlite3_exec(db_, cache.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    if (auto err = ensure_schema())
      return err;
    if (auto err = prepare_all())
      return err;
    if (checkpointer_.start(path_))
      sqlite3_wal_hook(db_, &wal_checkpointer::on_commit, &checkpointer_); // replaces SQLite's
    return caf::none;
  }

  caf::error verify() override {
    std::string first_row;
    auto rc = sqlite3_exec(
        db_, "PRAGMA quick_check",
        [](void* out, int, char** values, char**) {
          auto& row = *static_cast<std::string*>(out);
          if (row.empty() && values[0] != nullptr)
            row = values[0];
          return 0;
        },
        &first_row, nullptr);
    if (rc != SQLITE_OK)
      return failure();
    if (first_row != "ok")
      return caf::make_error(ec::corrupt_record,
                             path_ + ": database file damaged (" + first_row + ")");
    return caf::none;
  }

  caf::expected<std::optional<record>> get(partition_id p, const bytes& key) override {
    statement_use use{get_};
    sqlite3_bind_int64(get_, 1, p);
    bind_blob(get_, 2, key.data(), key.size());
    switch (sqlite3_step(get_)) {
    case SQLITE_ROW: {
      // Decode straight from SQLite's buffer: valid until the statement is reset.
      auto data = static_cast<const uint8_t*>(sqlite3_column_blob(get_, 0));
      auto size = static_cast<size_t>(sqlite3_column_bytes(get_, 0));
      auto rec = decode_record(data, size);
      if (!rec)
        return std::move(rec.error());
      return std::optional<record>{std::move(*rec)};
    }
    case SQLITE_DONE:
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
    if (auto err = check_batch())
      return err;
    auto value = encode_record(rec);
    statement_use use{put_};
    sqlite3_bind_int64(put_, 1, p);
    bind_blob(put_, 2, key.data(), key.size());
    bind_blob(put_, 3, value.data(), value.size());
    return step_done(put_);
  }

  caf::error erase(partition_id p, const bytes& key) override {
    if (auto err = check_batch())
      return err;
    statement_use use{erase_};
    sqlite3_bind_int64(erase_, 1, p);
    bind_blob(erase_, 2, key.data(), key.size());
    return step_done(erase_);
  }

  caf::error
  for_each(partition_id p,
           const std::function<bool(const bytes& key, caf::expected<record>&& rec)>& f) override {
    statement_use use{scan_};
    sqlite3_bind_int64(scan_, 1, p);
    for (;;) {
      switch (sqlite3_step(scan_)) {
      case SQLITE_ROW: {
        auto key = column_bytes(scan_, 0);
        auto data = static_cast<const uint8_t*>(sqlite3_column_blob(scan_, 1));
        auto size = static_cast<size_t>(sqlite3_column_bytes(scan_, 1));
        if (!f(key, decode_record(data, size)))
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

  caf::error begin() override {
    if (in_batch_)
      return failure_text("begin: a batch is already open");
    statement_use use{begin_};
    if (auto err = step_done(begin_))
      return err;
    in_batch_ = true;
    return caf::none;
  }

  caf::error commit() override {
    if (!in_batch_)
      return failure_text("commit: no batch is open");
    if (auto err = check_batch()) {
      in_batch_ = false;
      return err;
    }
    caf::error err;
    {
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
    return caf::none;
  }

  void rollback() override {
    if (!in_batch_)
      return;
    in_batch_ = false;
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
    if (name == schema_version_name)
      return failure_text("meta name '" + name + "' is reserved for the engine");
    if (auto err = check_batch())
      return err;
    statement_use use{set_meta_};
    bind_text(set_meta_, 1, name);
    bind_text(set_meta_, 2, value);
    return step_done(set_meta_);
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
    std::vector<hint> out;
    std::vector<uint64_t> corrupt;
    {
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
        out.push_back(hint{id, target,
                           static_cast<partition_id>(sqlite3_column_int64(hints_for_, 1)),
                           column_bytes(hints_for_, 2), std::move(*rec)});
      }
    }
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
  caf::error failure() const {
    auto code = sqlite3_extended_errcode(db_) & 0xFF;
    std::string msg = sqlite3_errmsg(db_);
    if (code == SQLITE_FULL)
      return failure_text("disk is full (" + msg + ")");
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
      return caf::make_error(ec::corrupt_record, path_ + ": database file damaged (" + msg + ")");
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

  /// Creates the tables and the schema version row, or checks an existing database's version.
  /// The version is read before anything is created, so a newer database is left untouched.
  caf::error ensure_schema() {
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    auto err = ensure_schema_in_transaction();
    if (err) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return err;
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      err = failure();
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return err;
    }
    return caf::none;
  }

  caf::error ensure_schema_in_transaction() {
    auto found = read_schema_version();
    if (!found)
      return std::move(found.error());
    // Version 1 differs only by lacking the hints table: schema_sql adds it, then the hints that
    // version 1 kept among the records move into it.
    const bool upgrade = *found && **found == "1";
    if (*found && !upgrade) {
      const auto& text = **found;
      if (text != std::to_string(schema_version)) {
        auto digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        if (digits && (text.size() > 9 || std::stoi(text) > schema_version))
          return failure_text("schema version " + text + " is newer than this build understands (" +
                              std::to_string(schema_version) + ")");
        return failure_text("unknown schema version '" + text + "'");
      }
    }
    if (sqlite3_exec(db_, schema_sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    if (upgrade)
      if (auto err = move_legacy_hints())
        return err;
    if (!*found || upgrade) {
      auto sql = std::string{"INSERT INTO meta(name, value) VALUES('"} + schema_version_name +
                 "', '" + std::to_string(schema_version) +
                 "') ON CONFLICT(name) DO UPDATE SET value = excluded.value";
      if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
        return failure();
    }
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
        {&get_, "SELECT value FROM records WHERE partition = ?1 AND key = ?2"},
        {&put_, "INSERT INTO records(partition, key, value) VALUES(?1, ?2, ?3) "
                "ON CONFLICT(partition, key) DO UPDATE SET value = excluded.value"},
        {&erase_, "DELETE FROM records WHERE partition = ?1 AND key = ?2"},
        {&scan_, "SELECT key, value FROM records WHERE partition = ?1 ORDER BY key"},
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
    };
    for (const auto& [stmt, sql] : statements)
      if (auto err = prepare(*stmt, sql))
        return err;
    return caf::none;
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  /// True between a successful begin() and commit()/rollback().
  bool in_batch_ = false;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* erase_ = nullptr;
  sqlite3_stmt* scan_ = nullptr;
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
  wal_checkpointer checkpointer_;
};

} // namespace

caf::expected<std::unique_ptr<engine>> open_sqlite_engine(const std::string& path, sync_mode sync,
                                                          uint32_t cache_mib) {
  auto result = std::make_unique<sqlite_engine>(path);
  if (auto err = result->open(sync, cache_mib))
    return err;
  return std::unique_ptr<engine>{std::move(result)};
}

} // namespace actorkv::storage
