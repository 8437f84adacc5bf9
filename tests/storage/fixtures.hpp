// Shared helpers for the storage suite: sample records, temporary directories, the engine fixtures
// the conformance cases run against, and a raw SQLite connection for tampering with a database
// behind the engine's back.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sqlite3.h>

#include <boost/test/unit_test.hpp>

#include "messages/error.hpp"
#include "messages/record.hpp"
#include "storage/engine.hpp"

namespace actorkv::storage::test {

inline bytes to_bytes(std::string_view text) {
  return bytes(text.begin(), text.end());
}

inline sibling make_sibling(replica_id id, uint64_t counter, int64_t ts, bytes value) {
  sibling s;
  s.origin = dot{id, counter};
  s.timestamp_us = ts;
  s.value = std::move(value);
  return s;
}

inline sibling make_tombstone(replica_id id, uint64_t counter, int64_t ts) {
  auto s = make_sibling(id, counter, ts, {});
  s.tombstone = true;
  return s;
}

/// Three concurrent writes, one of them a delete, under a two-replica context.
inline record sample_record() {
  record r;
  r.context.entries = {dot{0x1111, 3}, dot{0xFFFFFFFFFFFFFFFFull, 2}};
  r.siblings = {make_sibling(0x1111, 3, 1'700'000'000'000'000, to_bytes("alpha")),
                make_sibling(0xFFFFFFFFFFFFFFFFull, 2, -5, to_bytes("beta")),
                make_tombstone(0x2222, 1, 1'700'000'000'000'001)};
  return r;
}

/// A record holding one value.
inline record value_record(bytes value, uint64_t counter = 1) {
  record r;
  r.context.entries = {dot{42, counter}};
  r.siblings = {make_sibling(42, counter, 1000 + static_cast<int64_t>(counter), std::move(value))};
  return r;
}

/// Every byte value once, in order.
inline bytes all_byte_values() {
  bytes out(256);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(i);
  return out;
}

/// `size` bytes of a fixed pseudo-random sequence (deterministic, so failures replay).
inline bytes pseudo_random_bytes(size_t size, uint32_t seed = 12345) {
  bytes out(size);
  for (auto& b : out) {
    seed = seed * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(seed >> 24);
  }
  return out;
}

/// Checks that `err` (evaluated once) carries `code`, printing the error otherwise.
#define ACTORKV_CHECK_EC(err, code)                                                                \
  do {                                                                                             \
    const caf::error& actorkv_err_ = (err);                                                        \
    BOOST_CHECK_MESSAGE(actorkv_err_ == (code), "expected " << ::actorkv::to_string(code)          \
                                                            << ", got "                            \
                                                            << ::actorkv::describe(actorkv_err_)); \
  } while (false)

/// Fails the test with the error's text when `x` (an expected or an error, evaluated once) holds
/// an error.
#define ACTORKV_REQUIRE_OK(x)                                                                      \
  do {                                                                                             \
    const auto& actorkv_result_ = (x);                                                             \
    BOOST_REQUIRE_MESSAGE(::actorkv::storage::test::is_ok(actorkv_result_),                        \
                          ::actorkv::storage::test::why(actorkv_result_));                         \
  } while (false)

inline bool is_ok(const caf::error& err) {
  return !err;
}
template <class T>
bool is_ok(const caf::expected<T>& x) {
  return static_cast<bool>(x);
}
inline std::string why(const caf::error& err) {
  return describe(err);
}
template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{"ok"} : describe(x.error());
}

/// A fresh directory under the system's temporary directory, removed with everything in it.
class temp_dir {
public:
  temp_dir() {
    auto pattern = (std::filesystem::temp_directory_path() / "actorkv-storage-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

/// The reference engine.
struct memory_fixture {
  static constexpr const char* name = "memory";
  memory_fixture() : engine_(make_memory_engine()) {}
  engine& store() { return *engine_; }

private:
  std::unique_ptr<engine> engine_;
};

/// A SQLite engine on a database file in a fresh temporary directory.
struct sqlite_fixture {
  static constexpr const char* name = "sqlite";
  sqlite_fixture() : path_(dir_.file("store.db")) { reopen(); }
  engine& store() { return *engine_; }

  /// Closes the engine and opens the same file again.
  void reopen(sync_mode sync = sync_mode::full) {
    engine_.reset();
    auto opened = open_sqlite_engine(path_, sync);
    ACTORKV_REQUIRE_OK(opened);
    engine_ = std::move(*opened);
  }

  void close() { engine_.reset(); }

  const std::string& path() const { return path_; }

private:
  temp_dir dir_;
  std::string path_;
  std::unique_ptr<engine> engine_;
};

/// A second, plain sqlite3 connection to an engine's database, for tampering with its contents.
class raw_db {
public:
  explicit raw_db(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK)
      throw std::runtime_error("cannot open " + path);
    sqlite3_busy_timeout(db_, 5000);
  }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  ~raw_db() { sqlite3_close(db_); }

  void exec(const std::string& sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string text = msg != nullptr ? msg : "?";
      sqlite3_free(msg);
      throw std::runtime_error(sql + ": " + text);
    }
  }

  /// The first column of the first row of `sql` as text.
  std::string text(const std::string& sql) {
    std::string out;
    query(sql, [&](sqlite3_stmt* stmt) {
      if (auto p = sqlite3_column_text(stmt, 0))
        out = reinterpret_cast<const char*>(p);
    });
    return out;
  }

  /// Column `column` of every row of `sql` as text, one line per row.
  std::string lines(const std::string& sql, int column) {
    std::string out;
    sqlite3_stmt* stmt = nullptr;
    BOOST_REQUIRE_EQUAL(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW)
      if (auto p = sqlite3_column_text(stmt, column))
        out += std::string(reinterpret_cast<const char*>(p)) + "\n";
    sqlite3_finalize(stmt);
    return out;
  }

  /// The stored value of (partition, key).
  bytes value(partition_id p, const bytes& key) {
    bytes out;
    with_key("SELECT value FROM records WHERE partition = ?1 AND key = ?2", p, key,
             [&](sqlite3_stmt* stmt) {
               BOOST_REQUIRE_EQUAL(sqlite3_step(stmt), SQLITE_ROW);
               auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 0));
               out.assign(data, data + sqlite3_column_bytes(stmt, 0));
             });
    return out;
  }

  /// Replaces the stored value of (partition, key) with raw bytes.
  void set_value(partition_id p, const bytes& key, const bytes& value) {
    with_key("UPDATE records SET value = ?3 WHERE partition = ?1 AND key = ?2", p, key,
             [&](sqlite3_stmt* stmt) {
               static const uint8_t empty = 0;
               sqlite3_bind_blob(stmt, 3, value.empty() ? &empty : value.data(),
                                 static_cast<int>(value.size()), SQLITE_TRANSIENT);
               BOOST_REQUIRE_EQUAL(sqlite3_step(stmt), SQLITE_DONE);
               BOOST_REQUIRE_EQUAL(sqlite3_changes(db_), 1);
             });
  }

  /// The stored value of hint `id`.
  bytes hint_value(uint64_t id) {
    bytes out;
    with_id("SELECT value FROM hints WHERE id = ?1", id, [&](sqlite3_stmt* stmt) {
      BOOST_REQUIRE_EQUAL(sqlite3_step(stmt), SQLITE_ROW);
      auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 0));
      out.assign(data, data + sqlite3_column_bytes(stmt, 0));
    });
    return out;
  }

  /// Replaces the stored value of hint `id` with raw bytes.
  void set_hint_value(uint64_t id, const bytes& value) {
    with_id("UPDATE hints SET value = ?2 WHERE id = ?1", id, [&](sqlite3_stmt* stmt) {
      bind(stmt, 2, value);
      BOOST_REQUIRE_EQUAL(sqlite3_step(stmt), SQLITE_DONE);
      BOOST_REQUIRE_EQUAL(sqlite3_changes(db_), 1);
    });
  }

  /// Inserts a row into `records` with raw bytes, bypassing the engine.
  void insert_record(partition_id p, const bytes& key, const bytes& value) {
    with_key("INSERT INTO records(partition, key, value) VALUES(?1, ?2, ?3)", p, key,
             [&](sqlite3_stmt* stmt) {
               bind(stmt, 3, value);
               BOOST_REQUIRE_EQUAL(sqlite3_step(stmt), SQLITE_DONE);
             });
  }

private:
  static void bind(sqlite3_stmt* stmt, int index, const bytes& value) {
    static const uint8_t empty = 0;
    sqlite3_bind_blob(stmt, index, value.empty() ? &empty : value.data(),
                      static_cast<int>(value.size()), SQLITE_TRANSIENT);
  }

  template <class F>
  void with_id(const char* sql, uint64_t id, F&& f) {
    sqlite3_stmt* stmt = nullptr;
    BOOST_REQUIRE_EQUAL(sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr), SQLITE_OK);
    sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(id));
    f(stmt);
    sqlite3_finalize(stmt);
  }

  template <class F>
  void query(const std::string& sql, F&& f) {
    sqlite3_stmt* stmt = nullptr;
    BOOST_REQUIRE_EQUAL(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW)
      f(stmt);
    sqlite3_finalize(stmt);
  }

  template <class F>
  void with_key(const char* sql, partition_id p, const bytes& key, F&& f) {
    sqlite3_stmt* stmt = nullptr;
    BOOST_REQUIRE_EQUAL(sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr), SQLITE_OK);
    sqlite3_bind_int64(stmt, 1, p);
    sqlite3_bind_blob(stmt, 2, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    f(stmt);
    sqlite3_finalize(stmt);
  }

  sqlite3* db_ = nullptr;
};

} // namespace actorkv::storage::test
