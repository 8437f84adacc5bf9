// Helpers shared by the cluster suites: waiting, reading status figures, peeking into a node's
// database file, a process's memory and descriptors, and an in-process client actor system.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <dirent.h>
#include <sqlite3.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/client/tls.hpp"
#include "cluster-config/ring.hpp"
#include "messages/register_types.hpp"
#include "storage/record_codec.hpp"
#include "tests/support/cluster_fixture.hpp"

namespace actorkv::test {

/// Polls `pred` every 250 ms until it holds or `limit` passed; returns its last value.
template <class Predicate>
bool eventually(std::chrono::milliseconds limit, Predicate pred) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return pred();
}

/// Sets an environment variable for the processes started while it lives (kvnode's test hooks,
/// e.g. ACTORKV_TEST_CLOCK_OFFSET_MS); the test's own code reads none of it.
class scoped_env {
public:
  scoped_env(std::string name, const std::string& value) : name_(std::move(name)) {
    setenv(name_.c_str(), value.c_str(), 1);
  }
  ~scoped_env() { unsetenv(name_.c_str()); }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

private:
  std::string name_;
};

/// A seed for a randomised test: random, or ACTORKV_SEED to replay one; printed either way.
/// One node, 16 partitions, N = R = W = 1: the quickest cluster a test can start.
inline local_cluster::options one_node() {
  local_cluster::options o;
  o.nodes = 1;
  o.partitions = 16;
  o.replicas = 1;
  o.read_quorum = 1;
  o.write_quorum = 1;
  return o;
}

/// A tombstone grace period of 2 s. The fixture writes [storage] itself, so the setting goes into
/// that table.
inline void short_tombstone_grace(local_cluster& c) {
  c.rewrite_manifest([](std::string text) {
    auto at = text.find("[storage]\n");
    BOOST_REQUIRE(at != std::string::npos);
    return text.insert(at + 10, "tombstone_grace_s = 2\n");
  });
}

inline unsigned test_seed() {
  unsigned seed = std::random_device{}();
  if (auto* env = std::getenv("ACTORKV_SEED"))
    seed = static_cast<unsigned>(std::stoul(env));
  BOOST_TEST_MESSAGE("seed " << seed << " (ACTORKV_SEED replays it)");
  return seed;
}

/// A number printed after `label` in kvsh status output ("pending hints: 3").
inline uint64_t status_figure(const std::string& status, const std::string& label) {
  auto at = status.find(label);
  return at == std::string::npos ? UINT64_MAX : std::stoull(status.substr(at + label.size()));
}

/// The context line kvsh printed ("context: HEX"), or "".
inline std::string context_from(const std::string& out) {
  auto at = out.find("context: ");
  if (at == std::string::npos)
    return {};
  auto end = out.find('\n', at);
  return out.substr(at + 9, end - at - 9);
}

/// Whether node `i`'s status lists `name` in `state` ("up" or "down").
inline bool sees(local_cluster& c, size_t i, const std::string& name, const std::string& state) {
  auto r = c.kvsh(i, "status\n", std::chrono::seconds(10));
  std::istringstream in{r.out};
  for (std::string line; std::getline(in, line);) {
    std::istringstream words{line};
    std::string n, endpoint, s;
    int capacity = 0;
    if (words >> n >> endpoint >> capacity >> s && n == name)
      return s == state;
  }
  return false;
}

/// Waits until each of the given nodes of `c` reports every member up.
inline void wait_until_all_up_of(local_cluster& c, const std::vector<size_t>& nodes) {
  for (auto i : nodes)
    BOOST_REQUIRE_MESSAGE(eventually(std::chrono::seconds(30),
                                     [&] {
                                       auto r = c.kvsh(i, "status\n", std::chrono::seconds(10));
                                       return r.exit_code == 0 &&
                                              r.out.find(" down ") == std::string::npos;
                                     }),
                          "node " << i << " never saw every peer up");
}

/// Waits until every node of `c` (all running) reports every member up.
inline void wait_until_all_up(local_cluster& c) {
  std::vector<size_t> all;
  for (size_t i = 0; i < c.size(); ++i)
    all.push_back(i);
  wait_until_all_up_of(c, all);
}

/// Rows in a node's records table, read from its database file while it runs (WAL allows it);
/// -1 when the file cannot be read.
inline int64_t stored_records(const std::string& data_dir) {
  sqlite3* db = nullptr;
  auto path = data_dir + "/actorkv.db";
  int64_t n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM records", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

/// How many stored records and hints of a node hold `marker` in their encoded value (a value's
/// bytes appear there as written), read from its database file while it runs; -1 when the file
/// cannot be read.
inline int64_t stored_with(const std::string& data_dir, const std::string& marker) {
  sqlite3* db = nullptr;
  auto path = data_dir + "/actorkv.db";
  int64_t n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    n = 0;
    for (auto* table : {"records", "hints"}) {
      sqlite3_stmt* st = nullptr;
      auto sql = std::string{"SELECT count(*) FROM "} + table + " WHERE instr(value, ?1) > 0";
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
        n = -1;
        break;
      }
      sqlite3_bind_blob(st, 1, marker.data(), static_cast<int>(marker.size()), SQLITE_TRANSIENT);
      if (sqlite3_step(st) == SQLITE_ROW)
        n += sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
    }
  }
  sqlite3_close(db);
  return n;
}

/// The record a node stores for `key` (in a cluster of `partitions` partitions), read from its
/// database file while it runs; nullopt when it holds none or the file cannot be read.
inline std::optional<record> stored_record(const std::string& data_dir, const std::string& key,
                                           uint32_t partitions) {
  sqlite3* db = nullptr;
  std::optional<record> out;
  auto path = data_dir + "/actorkv.db";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    sqlite3_stmt* st = nullptr;
    bytes k(key.begin(), key.end());
    if (sqlite3_prepare_v2(db, "SELECT value FROM records WHERE partition = ?1 AND key = ?2", -1,
                           &st, nullptr) == SQLITE_OK) {
      sqlite3_bind_int64(st, 1, partition_of(k, partitions));
      sqlite3_bind_blob(st, 2, k.data(), static_cast<int>(k.size()), SQLITE_TRANSIENT);
      if (sqlite3_step(st) == SQLITE_ROW) {
        auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(st, 0));
        auto rec = storage::decode_record(data, static_cast<size_t>(sqlite3_column_bytes(st, 0)));
        if (rec)
          out = std::move(*rec);
      }
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

/// A node's replica id (the meta entry `replica_id`), read from its database file; 0 when it
/// cannot be read.
inline uint64_t stored_replica_id(const std::string& data_dir) {
  sqlite3* db = nullptr;
  uint64_t id = 0;
  auto path = data_dir + "/actorkv.db";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE name = 'replica_id'", -1, &st,
                           nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      id = std::stoull(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return id;
}

/// Overwrites `pages` 4 KiB pages in the middle of a stopped node's database file with garbage.
inline void damage_pages(const std::string& data_dir, size_t pages = 2) {
  auto path = data_dir + "/actorkv.db";
  auto size = std::filesystem::file_size(path);
  BOOST_REQUIRE_MESSAGE(size > (pages + 1) * 4096, path << " has only " << size << " bytes");
  std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
  f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
  std::string junk(pages * 4096, '\xA5');
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

/// Copies the write-ahead log a killed node left into its database file and removes it (what a
/// clean stop does), leaving everything else (its open state: not closed cleanly) as it was.
inline void fold_log(const std::string& data_dir) {
  sqlite3* db = nullptr;
  auto path = data_dir + "/actorkv.db";
  BOOST_REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  sqlite3_close(db); // the last connection: the log goes
  BOOST_REQUIRE(!std::filesystem::exists(path + "-wal"));
}

/// Flips one bit of the first byte of `marker` inside the stored record that holds it, behind the
/// engine's back (the node must be stopped). False when no record holds `marker`.
inline bool flip_byte_in_stored_value(const std::string& data_dir, const std::string& marker) {
  sqlite3* db = nullptr;
  auto path = data_dir + "/actorkv.db";
  bool flipped = false;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return false;
  }
  sqlite3_stmt* sel = nullptr;
  sqlite3_prepare_v2(db, "SELECT partition, key, value FROM records", -1, &sel, nullptr);
  while (!flipped && sel && sqlite3_step(sel) == SQLITE_ROW) {
    std::string value{static_cast<const char*>(sqlite3_column_blob(sel, 2)),
                      static_cast<size_t>(sqlite3_column_bytes(sel, 2))};
    auto at = value.find(marker);
    if (at == std::string::npos)
      continue;
    value[at] ^= 0x01;
    sqlite3_stmt* upd = nullptr;
    sqlite3_prepare_v2(db, "UPDATE records SET value = ?1 WHERE partition = ?2 AND key = ?3", -1,
                       &upd, nullptr);
    sqlite3_bind_blob(upd, 1, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(upd, 2, sqlite3_column_int64(sel, 0));
    sqlite3_bind_blob(upd, 3, sqlite3_column_blob(sel, 1), sqlite3_column_bytes(sel, 1),
                      SQLITE_TRANSIENT);
    flipped = sqlite3_step(upd) == SQLITE_DONE;
    sqlite3_finalize(upd);
  }
  sqlite3_finalize(sel);
  sqlite3_close(db);
  return flipped;
}

/// Resident memory and its peak (KiB), and open descriptors, of a node's process.
struct usage {
  long rss_kib = -1;
  long peak_kib = -1;
  long fds = -1;
};

inline usage usage_of(pid_t pid) {
  usage u;
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0)
      u.rss_kib = std::stol(line.substr(6));
    else if (line.rfind("VmHWM:", 0) == 0)
      u.peak_kib = std::stol(line.substr(6));
  }
  auto fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  if (auto* d = ::opendir(fd_dir.c_str())) {
    u.fds = 0;
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.')
        ++u.fds;
    ::closedir(d);
  }
  return u;
}

inline std::ostream& operator<<(std::ostream& out, const usage& u) {
  return out << "RSS " << u.rss_kib << " KiB (peak " << u.peak_kib << " KiB), " << u.fds << " fds";
}

/// An actor system for the test's own client actors (2 threads, CAF's middleman), over TLS with
/// the identity local_cluster put in the environment (ACTORKV_CA, ACTORKV_CERT, ACTORKV_KEY).
struct client_system {
  caf::actor_system_config cfg;
  caf::actor_system sys;

  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    register_types(cfg);
    cfg.load<caf::io::middleman>();
    if (auto tls = tls_files_from_environment(); tls.any())
      load_tls(cfg, tls);
    cfg.set("scheduler.max-threads", 2);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    return cfg;
  }

  client_system() : sys(init(cfg)) {}
};

/// The add-to-set workloads' values: a set of words, stored as one space-separated value; the
/// union over siblings is what a read returns.
inline std::set<std::string> elements_of(const std::vector<bytes>& siblings) {
  std::set<std::string> out;
  for (auto& v : siblings) {
    std::istringstream in{std::string(v.begin(), v.end())};
    for (std::string e; std::getline(in, e, ' ');)
      if (!e.empty())
        out.insert(e);
  }
  return out;
}

inline bytes encode_set(const std::set<std::string>& elements) {
  std::string text;
  for (auto& e : elements)
    text += (text.empty() ? "" : " ") + e;
  return bytes(text.begin(), text.end());
}

} // namespace actorkv::test
