// The SQLite engine: one connection in WAL mode, owned by one thread at a time, plus a
// checkpointer thread with a connection of its own (and, while one runs, an integrity check with
// another, read-only).
//
// Every statement is prepared once at open and reset after each use, so no read transaction
// outlives a call (a forgotten reset would pin an old WAL snapshot and stall checkpoints).
// storage/FORMAT.md documents the tables and the schema version.
#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <pthread.h>
#include <sqlite3.h>

#include "storage/engine.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/record_codec.hpp"

namespace actorkv::storage {
namespace {

/// The schema this build creates and understands; stored in meta as 'schema_version'. Versions 1
/// and 2 are upgraded in place when opened (FORMAT.md).
constexpr int schema_version = 3;

/// The meta rows the engine owns; callers may read them but not write them.
constexpr const char* schema_version_name = "schema_version";
/// The newest sibling timestamp stored (engine::newest_timestamp), as decimal text.
constexpr const char* newest_timestamp_name = "newest_timestamp_us";
/// "closed" once the engine closed the file cleanly with no check owed; "open" while it is in use;
/// "check owed" when it was not closed cleanly (or was upgraded) since the last check passed.
constexpr const char* open_state_name = "open_state";

bool engine_owned(const std::string& name) {
  return name == schema_version_name || name == newest_timestamp_name || name == open_state_name;
}

/// How long a call waits for a lock held by another connection (an operator's sqlite3 shell, a
/// backup) before failing with SQLITE_BUSY.
constexpr int busy_timeout_ms = 5000;

/// The leaf summaries follow every change of `records` inside SQLite, in the statement that makes
/// it: whatever writes the table (this engine, an upgrade, an operator's shell) leaves `leaves`
/// right. XOR is (a | b) & ~(a & b): SQLite has no XOR operator. A record's leaf is a function of
/// its key, so only the digest changes in place.
#define ACTORKV_XOR(a, b) "((" a ") | (" b ")) & ~((" a ") & (" b "))"
constexpr const char* leaf_triggers_sql =
    "CREATE TRIGGER records_added AFTER INSERT ON records BEGIN "
    "INSERT INTO leaves(partition, leaf, digest, records) "
    "VALUES(new.partition, new.leaf, new.digest, 1) "
    "ON CONFLICT(partition, leaf) DO UPDATE SET digest = " ACTORKV_XOR("digest", "new.digest")
    ", records = records + 1; END;"
    "CREATE TRIGGER records_removed AFTER DELETE ON records BEGIN "
    "UPDATE leaves SET digest = " ACTORKV_XOR("digest", "old.digest") ", records = records - 1 "
    "WHERE partition = old.partition AND leaf = old.leaf; END;"
    "CREATE TRIGGER records_changed AFTER UPDATE OF digest ON records "
    "WHEN old.digest != new.digest BEGIN "
    "UPDATE leaves SET digest = " ACTORKV_XOR("digest", ACTORKV_XOR("old.digest", "new.digest"))
    " WHERE partition = old.partition AND leaf = old.leaf; END;";
#undef ACTORKV_XOR

/// The leaves' keys: a range of this index per leaf. It holds no digest, so writing an existing
/// key's record leaves it untouched.
constexpr const char* leaf_index_sql =
    "CREATE INDEX records_by_leaf ON records(partition, leaf, key);";

/// Every table of the current schema. IF NOT EXISTS makes it the upgrade from version 1 (no
/// hints) too; `records` gains its columns leaf and digest in the upgrade from version 2.
constexpr const char* tables_sql =
    "CREATE TABLE IF NOT EXISTS records(partition INTEGER NOT NULL, key BLOB NOT NULL, "
    "value BLOB NOT NULL, leaf INTEGER NOT NULL DEFAULT 0, digest INTEGER NOT NULL DEFAULT 0, "
    "PRIMARY KEY(partition, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS hints(id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "target TEXT NOT NULL, partition INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS hints_by_target ON hints(target, id);"
    "CREATE TABLE IF NOT EXISTS leaves(partition INTEGER NOT NULL, leaf INTEGER NOT NULL, "
    "digest INTEGER NOT NULL, records INTEGER NOT NULL, PRIMARY KEY(partition, leaf)) "
    "WITHOUT ROWID;";

/// The leaf of `key` as stored (merkle_tree::leaf_of with tree_leaf_bits).
sqlite3_int64 leaf_column(const bytes& key) {
  return static_cast<sqlite3_int64>(merkle_tree::leaf_of(key, tree_leaf_bits));
}

/// SQL functions for the upgrade from version 2, registered on the upgrading connection only
/// (never used by a trigger, so another connection needs none of them). They count the records
/// they derive a digest for, for the caller's progress callback.
struct upgrade_functions {
  const std::function<void(uint64_t)>* progress = nullptr;
  uint64_t records = 0;

  static bytes blob(sqlite3_value* v) {
    auto data = static_cast<const uint8_t*>(sqlite3_value_blob(v));
    auto size = static_cast<size_t>(sqlite3_value_bytes(v));
    return data == nullptr ? bytes{} : bytes(data, data + size);
  }

  /// actorkv_leaf(key)
  static void leaf(sqlite3_context* ctx, int, sqlite3_value** argv) {
    sqlite3_result_int64(ctx, leaf_column(blob(argv[0])));
  }

  /// actorkv_digest(key, value): record_digest, 0 for a record that fails verification.
  static void digest(sqlite3_context* ctx, int, sqlite3_value** argv) {
    auto& self = *static_cast<upgrade_functions*>(sqlite3_user_data(ctx));
    auto value = blob(argv[1]);
    auto rec = decode_record(value.data(), value.size());
    sqlite3_result_int64(ctx, rec ? static_cast<sqlite3_int64>(record_digest(blob(argv[0]), *rec))
                                  : 0);
    if (++self.records % 10000 == 0 && self.progress && *self.progress)
      (*self.progress)(self.records);
  }

  /// actorkv_newest(value): the newest sibling timestamp, 0 for an unreadable record.
  static void newest(sqlite3_context* ctx, int, sqlite3_value** argv) {
    auto value = blob(argv[0]);
    auto rec = decode_record(value.data(), value.size());
    sqlite3_result_int64(ctx, rec ? storage::newest_timestamp(*rec) : 0);
  }

  /// actorkv_xor(digest): the XOR of a group's digests.
  static void xor_step(sqlite3_context* ctx, int, sqlite3_value** argv) {
    auto* acc = static_cast<sqlite3_int64*>(sqlite3_aggregate_context(ctx, sizeof(sqlite3_int64)));
    if (acc != nullptr)
      *acc ^= sqlite3_value_int64(argv[0]);
  }
  static void xor_final(sqlite3_context* ctx) {
    auto* acc = static_cast<sqlite3_int64*>(sqlite3_aggregate_context(ctx, 0));
    sqlite3_result_int64(ctx, acc == nullptr ? 0 : *acc);
  }

  /// Registers them on `db` (removed again by unregister()).
  int register_on(sqlite3* db) {
    auto flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY;
    int rc = SQLITE_OK;
    for (auto [name, args, fn] :
         {std::tuple{"actorkv_leaf", 1, &leaf}, std::tuple{"actorkv_digest", 2, &digest},
          std::tuple{"actorkv_newest", 1, &newest}})
      if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, name, args, flags, this, fn, nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK)
      rc = sqlite3_create_function_v2(db, "actorkv_xor", 1, flags, this, nullptr, &xor_step,
                                      &xor_final, nullptr);
    return rc;
  }
  static void unregister(sqlite3* db) {
    for (auto [name, args] : {std::pair{"actorkv_leaf", 1}, std::pair{"actorkv_digest", 2},
                              std::pair{"actorkv_newest", 1}, std::pair{"actorkv_xor", 1}})
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

/// The integrity check of the file at `path` (engine::integrity_check): on a read-only connection
/// of its own, in one read snapshot, quick_check and then every record.
integrity_report check_file(const std::string& path, check_control& control) {
  integrity_report out;
  sqlite3* db = nullptr;
  auto fail = [&](sqlite3* conn) {
    auto code = conn == nullptr ? SQLITE_NOMEM : sqlite3_extended_errcode(conn) & 0xFF;
    std::string msg = conn == nullptr ? "cannot allocate a SQLite connection" : sqlite3_errmsg(conn);
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
      out.damage = caf::make_error(ec::corrupt_record, path + ": database file damaged (" + msg + ")");
    else
      out.failure = caf::make_error(ec::storage_failure, path + ": integrity check: " + msg);
  };
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    fail(db);
    sqlite3_close(db);
    return out;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  // Cancelling interrupts whatever statement runs, quick_check included.
  sqlite3_progress_handler(
      db, 10000,
      [](void* c) -> int { return static_cast<check_control*>(c)->cancel.load() ? 1 : 0; },
      &control);
  sqlite3_stmt* stmt = nullptr;
  auto finish = [&] {
    sqlite3_finalize(stmt);
    stmt = nullptr;
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db);
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
  if (sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK ||
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
    out.damage = caf::make_error(ec::corrupt_record,
                                 path + ": database file damaged (" + verdict + ")");
    return finish();
  }
  sqlite3_finalize(stmt);
  stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT partition, key, value, digest FROM records", -1, &stmt,
                         nullptr) != SQLITE_OK) {
    fail(db);
    return finish();
  }
  while (!cancelled() && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    auto p = static_cast<partition_id>(sqlite3_column_int64(stmt, 0));
    auto key = column_bytes(stmt, 1);
    auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 2));
    auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, 2));
    auto stored = static_cast<uint64_t>(sqlite3_column_int64(stmt, 3));
    auto rec = decode_record(data, size);
    if (!rec || record_digest(key, *rec) != stored)
      out.suspects.emplace_back(p, std::move(key));
    ++out.records;
    control.records.fetch_add(1, std::memory_order_relaxed);
  }
  if (!out.failure && rc != SQLITE_DONE && !cancelled())
    fail(db);
  return finish();
}

class sqlite_engine final : public engine {
public:
  explicit sqlite_engine(std::string path) : path_(std::move(path)) {}

  sqlite_engine(const sqlite_engine&) = delete;
  sqlite_engine& operator=(const sqlite_engine&) = delete;

  ~sqlite_engine() override {
    checkpointer_.stop();
    rollback();
    // A clean close: the next open owes no check, unless one was owed and has not passed yet, or
    // this connection met damage.
    if (set_meta_ != nullptr && !check_owed_ && !damage_seen_)
      write_meta(open_state_name, "closed");
    // Every statement of the connection, so that none is forgotten: with one left, close fails
    // and the WAL is never checkpointed into the database file.
    while (auto* stmt = sqlite3_next_stmt(db_, nullptr))
      sqlite3_finalize(stmt);
    // Closing the last connection checkpoints the WAL into the database file.
    sqlite3_close(db_);
  }

  /// Opens the connection, configures it, creates, upgrades or checks the schema and prepares
  /// statements.
  caf::error open(sync_mode sync, uint32_t cache_mib,
                  const std::function<void(uint64_t)>& progress) {
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
    check_owed_ = *opened == schema_state::upgraded ||
                  (*opened == schema_state::existing && *state != std::optional<std::string>{"closed"});
    if (auto err = write_meta(open_state_name, check_owed_ ? "check owed" : "open"))
      return err;
    if (checkpointer_.start(path_))
      sqlite3_wal_hook(db_, &wal_checkpointer::on_commit, &checkpointer_); // replaces SQLite's
    return caf::none;
  }

  integrity_job integrity_check() override {
    return [path = path_](check_control& control) { return check_file(path, control); };
  }

  bool check_owed() const override { return check_owed_; }

  caf::error check_passed() override {
    check_owed_ = false;
    return write_meta(open_state_name, "open");
  }

  bool damage_seen() const override { return damage_seen_; }

  caf::expected<std::optional<record>> get(partition_id p, const bytes& key) override {
    statement_use use{get_};
    bind_record_key(get_, p, key);
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
    // Outside a batch the record and the newest timestamp still change together.
    if (!in_batch_) {
      if (auto err = begin())
        return err;
      if (auto err = put(p, key, rec)) {
        rollback();
        return err;
      }
      return commit();
    }
    if (auto err = check_batch())
      return err;
    auto value = encode_record(rec);
    statement_use use{put_};
    bind_record_key(put_, p, key);
    bind_blob(put_, 3, value.data(), value.size());
    sqlite3_bind_int64(put_, 4, leaf_column(key));
    sqlite3_bind_int64(put_, 5, static_cast<sqlite3_int64>(record_digest(key, rec)));
    if (auto err = step_done(put_))
      return err;
    newest_ = std::max(newest_, storage::newest_timestamp(rec));
    return caf::none;
  }

  caf::error erase(partition_id p, const bytes& key) override {
    if (auto err = check_batch())
      return err;
    statement_use use{erase_};
    bind_record_key(erase_, p, key);
    return step_done(erase_);
  }

  caf::error for_each(partition_id p, const std::optional<bytes>& after,
                      const scan_fn& f) override {
    auto* stmt = after ? scan_after_ : scan_;
    statement_use use{stmt};
    sqlite3_bind_int64(stmt, 1, p);
    if (after)
      bind_blob(stmt, 2, after->data(), after->size());
    for (;;) {
      switch (sqlite3_step(stmt)) {
      case SQLITE_ROW: {
        auto key = column_bytes(stmt, 0);
        auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 1));
        auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, 1));
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

  caf::expected<uint64_t> count(partition_id p) override {
    statement_use use{count_};
    sqlite3_bind_int64(count_, 1, p);
    if (sqlite3_step(count_) != SQLITE_ROW)
      return failure();
    return static_cast<uint64_t>(sqlite3_column_int64(count_, 0));
  }

  caf::expected<std::vector<uint64_t>> leaves(partition_id p) override {
    std::vector<uint64_t> out(size_t{1} << tree_leaf_bits, 0);
    statement_use use{leaves_};
    sqlite3_bind_int64(leaves_, 1, p);
    for (;;) {
      switch (sqlite3_step(leaves_)) {
      case SQLITE_ROW: {
        auto leaf = static_cast<uint64_t>(sqlite3_column_int64(leaves_, 0));
        if (leaf < out.size())
          out[leaf] = static_cast<uint64_t>(sqlite3_column_int64(leaves_, 1));
        break;
      }
      case SQLITE_DONE:
        return out;
      default:
        return failure();
      }
    }
  }

  caf::expected<std::vector<key_digest>>
  leaf_keys(partition_id p, const std::vector<uint64_t>& leaves) override {
    std::vector<uint64_t> wanted;
    for (auto l : leaves)
      if (l < (uint64_t{1} << tree_leaf_bits))
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
    if (auto err = check_batch())
      return err;
    uint64_t digest = 0;
    {
      statement_use use{stored_digest_};
      bind_record_key(stored_digest_, p, key);
      switch (sqlite3_step(stored_digest_)) {
      case SQLITE_ROW: {
        auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stored_digest_, 0));
        auto size = static_cast<size_t>(sqlite3_column_bytes(stored_digest_, 0));
        auto rec = decode_record(data, size);
        digest = rec ? record_digest(key, *rec) : 0;
        if (digest == static_cast<uint64_t>(sqlite3_column_int64(stored_digest_, 1)))
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
    sqlite3_bind_int64(set_digest_, 3, static_cast<sqlite3_int64>(digest));
    return step_done(set_digest_);
  }

  int64_t newest_timestamp() const override { return newest_; }

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
      newest_ = persisted_newest_;
      return err;
    }
    caf::error err;
    if (newest_ > persisted_newest_)
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
    persisted_newest_ = newest_;
    return caf::none;
  }

  void rollback() override {
    if (!in_batch_)
      return;
    in_batch_ = false;
    newest_ = persisted_newest_;
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
    // the leaves and each record's leaf and digest.
    const bool upgrade = *found && (**found == "1" || **found == "2");
    if (*found && !upgrade) {
      const auto& text = **found;
      auto digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
      if (digits && (text.size() > 9 || std::stoi(text) > schema_version))
        return failure_text("schema version " + text + " is newer than this build understands (" +
                            current + ")");
      return failure_text("unknown schema version '" + text + "'");
    }
    if (!upgrade) {
      if (sqlite3_exec(db_, tables_sql, nullptr, nullptr, nullptr) != SQLITE_OK ||
          sqlite3_exec(db_, leaf_index_sql, nullptr, nullptr, nullptr) != SQLITE_OK ||
          sqlite3_exec(db_, leaf_triggers_sql, nullptr, nullptr, nullptr) != SQLITE_OK)
        return failure();
    } else {
      // The hints table comes first: version 1's hints move out of the records before these
      // gain their digests.
      if (sqlite3_exec(db_,
                       "CREATE TABLE IF NOT EXISTS hints(id INTEGER PRIMARY KEY AUTOINCREMENT, "
                       "target TEXT NOT NULL, partition INTEGER NOT NULL, key BLOB NOT NULL, "
                       "value BLOB NOT NULL);"
                       "CREATE INDEX IF NOT EXISTS hints_by_target ON hints(target, id);",
                       nullptr, nullptr, nullptr) != SQLITE_OK)
        return failure();
      if (**found == "1")
        if (auto err = move_legacy_hints())
          return err;
      if (auto err = upgrade_records(progress))
        return err;
    }
    auto sql = std::string{"INSERT INTO meta(name, value) VALUES('"} + schema_version_name +
               "', '" + current + "') ON CONFLICT(name) DO UPDATE SET value = excluded.value";
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return failure();
    return upgrade ? schema_state::upgraded : schema_state::created;
  }

  /// Upgrade 2 -> 3: adds each record's leaf and digest (value bytes unchanged; one that fails
  /// verification gets digest 0), the index of the leaves' keys, the leaf summaries and their
  /// triggers, and records the newest timestamp held. Reads every record twice and rewrites it
  /// once; runs inside ensure_schema()'s transaction, so it happens entirely or not at all.
  caf::error upgrade_records(const std::function<void(uint64_t)>& progress) {
    upgrade_functions fns;
    fns.progress = &progress;
    if (fns.register_on(db_) != SQLITE_OK)
      return failure();
    auto err = upgrade_records_with(fns);
    upgrade_functions::unregister(db_);
    if (!err && progress)
      progress(fns.records);
    return err;
  }

  caf::error upgrade_records_with(upgrade_functions&) {
    const char* steps =
        "ALTER TABLE records ADD COLUMN leaf INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE records ADD COLUMN digest INTEGER NOT NULL DEFAULT 0;"
        "UPDATE records SET leaf = actorkv_leaf(key), digest = actorkv_digest(key, value);"
        "CREATE TABLE IF NOT EXISTS leaves(partition INTEGER NOT NULL, leaf INTEGER NOT NULL, "
        "digest INTEGER NOT NULL, records INTEGER NOT NULL, PRIMARY KEY(partition, leaf)) "
        "WITHOUT ROWID;"
        "INSERT INTO leaves(partition, leaf, digest, records) "
        "SELECT partition, leaf, actorkv_xor(digest), count(*) FROM records "
        "GROUP BY partition, leaf;"
        "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta(name, value) "
        "SELECT 'newest_timestamp_us', coalesce(max(actorkv_newest(value)), 0) FROM records "
        "WHERE true ON CONFLICT(name) DO UPDATE SET value = excluded.value;";
    if (sqlite3_exec(db_, steps, nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_exec(db_, leaf_index_sql, nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_exec(db_, leaf_triggers_sql, nullptr, nullptr, nullptr) != SQLITE_OK)
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
        {&get_, "SELECT value FROM records WHERE partition = ?1 AND key = ?2"},
        // The leaf is set when the key is inserted; an update leaves it (and the leaf index)
        // alone.
        {&put_, "INSERT INTO records(partition, key, value, leaf, digest) "
                "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(partition, key) "
                "DO UPDATE SET value = excluded.value, digest = excluded.digest"},
        {&erase_, "DELETE FROM records WHERE partition = ?1 AND key = ?2"},
        {&scan_, "SELECT key, value FROM records WHERE partition = ?1 ORDER BY key"},
        // A range read of the primary key from the cursor on.
        {&scan_after_, "SELECT key, value FROM records WHERE partition = ?1 AND key > ?2 "
                       "ORDER BY key"},
        {&count_, "SELECT coalesce(sum(records), 0) FROM leaves WHERE partition = ?1"},
        {&leaves_, "SELECT leaf, digest FROM leaves WHERE partition = ?1"},
        // Without statistics the planner would rather scan the partition by its primary key.
        {&leaf_keys_, "SELECT key, digest FROM records INDEXED BY records_by_leaf "
                      "WHERE partition = ?1 AND leaf = ?2 ORDER BY key"},
        {&stored_digest_, "SELECT value, digest FROM records WHERE partition = ?1 AND key = ?2"},
        {&set_digest_, "UPDATE records SET digest = ?3 WHERE partition = ?1 AND key = ?2"},
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

  /// Writes a meta row, the engine's own included (same batch rules as put()).
  caf::error write_meta(const std::string& name, const std::string& value) {
    if (auto err = check_batch())
      return err;
    statement_use use{set_meta_};
    bind_text(set_meta_, 1, name);
    bind_text(set_meta_, 2, value);
    return step_done(set_meta_);
  }

  /// Binds (partition, key) of a record to parameters 1 and 2.
  static void bind_record_key(sqlite3_stmt* stmt, partition_id p, const bytes& key) {
    sqlite3_bind_int64(stmt, 1, p);
    bind_blob(stmt, 2, key.data(), key.size());
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  /// True between a successful begin() and commit()/rollback().
  bool in_batch_ = false;
  /// engine::check_owed(); cleared by check_passed().
  bool check_owed_ = false;
  /// A call met SQLITE_CORRUPT or SQLITE_NOTADB (failure() sets it).
  mutable bool damage_seen_ = false;
  /// The newest sibling timestamp stored, with the open batch's writes, and as committed.
  int64_t newest_ = 0;
  int64_t persisted_newest_ = 0;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* erase_ = nullptr;
  sqlite3_stmt* scan_ = nullptr;
  sqlite3_stmt* scan_after_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
  sqlite3_stmt* leaves_ = nullptr;
  sqlite3_stmt* leaf_keys_ = nullptr;
  sqlite3_stmt* stored_digest_ = nullptr;
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
  wal_checkpointer checkpointer_;
};

} // namespace

caf::expected<std::unique_ptr<engine>>
open_sqlite_engine(const std::string& path, sync_mode sync, uint32_t cache_mib,
                   const std::function<void(uint64_t)>& progress) {
  auto result = std::make_unique<sqlite_engine>(path);
  if (auto err = result->open(sync, cache_mib, progress))
    return err;
  return std::unique_ptr<engine>{std::move(result)};
}

} // namespace actorkv::storage
