// What only the durable engine can show: data outliving the connection, corruption on disk being
// caught, schema versions being checked, and a full disk being reported and survived.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/record_codec.hpp"
#include "storage/thread_priority.hpp"

using namespace actorkv;
using namespace actorkv::storage;
using namespace actorkv::storage::test;

namespace {

bool mentions_text(const std::string& haystack, const std::string& text) {
  return haystack.find(text) != std::string::npos;
}

bool mentions(const caf::error& err, const std::string& text) {
  return mentions_text(describe(err), text);
}

/// A VFS wrapped around SQLite's default one, installed as the default while it lives. Setting
/// `full` makes every file write fail with SQLITE_FULL, the way a full disk does; reads and
/// everything else pass through untouched.
class full_disk_vfs {
public:
  static inline std::atomic<bool> full{false};

  full_disk_vfs() {
    base_ = sqlite3_vfs_find(nullptr);
    BOOST_REQUIRE(base_ != nullptr);
    vfs_ = *base_;     // keeps mxPathname and the like
    vfs_.iVersion = 2; // no system-call overrides
    vfs_.szOsFile = static_cast<int>(sizeof(shim_file)) + base_->szOsFile;
    vfs_.pNext = nullptr;
    vfs_.zName = "actorkv-full-disk";
    vfs_.pAppData = base_;
    vfs_.xOpen = &open;
    vfs_.xDelete = [](sqlite3_vfs* v, const char* name, int sync) {
      return base(v)->xDelete(base(v), name, sync);
    };
    vfs_.xAccess = [](sqlite3_vfs* v, const char* name, int flags, int* out) {
      return base(v)->xAccess(base(v), name, flags, out);
    };
    vfs_.xFullPathname = [](sqlite3_vfs* v, const char* name, int n, char* out) {
      return base(v)->xFullPathname(base(v), name, n, out);
    };
    vfs_.xDlOpen = [](sqlite3_vfs* v, const char* name) { return base(v)->xDlOpen(base(v), name); };
    vfs_.xDlError = [](sqlite3_vfs* v, int n, char* out) { base(v)->xDlError(base(v), n, out); };
    vfs_.xDlSym = [](sqlite3_vfs* v, void* h, const char* sym) {
      return base(v)->xDlSym(base(v), h, sym);
    };
    vfs_.xDlClose = [](sqlite3_vfs* v, void* h) { base(v)->xDlClose(base(v), h); };
    vfs_.xRandomness = [](sqlite3_vfs* v, int n, char* out) {
      return base(v)->xRandomness(base(v), n, out);
    };
    vfs_.xSleep = [](sqlite3_vfs* v, int us) { return base(v)->xSleep(base(v), us); };
    vfs_.xCurrentTime = [](sqlite3_vfs* v, double* out) {
      return base(v)->xCurrentTime(base(v), out);
    };
    vfs_.xGetLastError = [](sqlite3_vfs* v, int n, char* out) {
      return base(v)->xGetLastError(base(v), n, out);
    };
    vfs_.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
      return base(v)->xCurrentTimeInt64(base(v), out);
    };
    vfs_.xSetSystemCall = nullptr;
    vfs_.xGetSystemCall = nullptr;
    vfs_.xNextSystemCall = nullptr;
    BOOST_REQUIRE_EQUAL(sqlite3_vfs_register(&vfs_, 1), SQLITE_OK);
    full = false;
  }

  full_disk_vfs(const full_disk_vfs&) = delete;
  full_disk_vfs& operator=(const full_disk_vfs&) = delete;

  ~full_disk_vfs() {
    full = false;
    sqlite3_vfs_register(base_, 1);
    sqlite3_vfs_unregister(&vfs_);
  }

private:
  /// Our file object, with the wrapped VFS's file object right behind it.
  struct shim_file {
    sqlite3_file head;
    sqlite3_file* real;
  };

  static sqlite3_vfs* base(sqlite3_vfs* v) { return static_cast<sqlite3_vfs*>(v->pAppData); }
  static sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<shim_file*>(f)->real; }
  static const sqlite3_io_methods* real_methods(sqlite3_file* f) { return real(f)->pMethods; }

  static int open(sqlite3_vfs* v, const char* name, sqlite3_file* file, int flags, int* out) {
    auto* shim = reinterpret_cast<shim_file*>(file);
    shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
    auto rc = base(v)->xOpen(base(v), name, shim->real, flags, out);
    shim->head.pMethods = shim->real->pMethods != nullptr ? &methods : nullptr;
    return rc;
  }

  static inline const sqlite3_io_methods methods = {
      3,
      [](sqlite3_file* f) { return real_methods(f)->xClose(real(f)); },
      [](sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
        return real_methods(f)->xRead(real(f), buf, n, off);
      },
      [](sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
        if (full)
          return SQLITE_FULL;
        return real_methods(f)->xWrite(real(f), buf, n, off);
      },
      [](sqlite3_file* f, sqlite3_int64 size) { return real_methods(f)->xTruncate(real(f), size); },
      [](sqlite3_file* f, int flags) { return real_methods(f)->xSync(real(f), flags); },
      [](sqlite3_file* f, sqlite3_int64* size) {
        return real_methods(f)->xFileSize(real(f), size);
      },
      [](sqlite3_file* f, int lock) { return real_methods(f)->xLock(real(f), lock); },
      [](sqlite3_file* f, int lock) { return real_methods(f)->xUnlock(real(f), lock); },
      [](sqlite3_file* f, int* out) { return real_methods(f)->xCheckReservedLock(real(f), out); },
      [](sqlite3_file* f, int op, void* arg) {
        return real_methods(f)->xFileControl(real(f), op, arg);
      },
      [](sqlite3_file* f) { return real_methods(f)->xSectorSize(real(f)); },
      [](sqlite3_file* f) { return real_methods(f)->xDeviceCharacteristics(real(f)); },
      [](sqlite3_file* f, int page, int size, int extend, void volatile** out) {
        return real_methods(f)->xShmMap(real(f), page, size, extend, out);
      },
      [](sqlite3_file* f, int offset, int n, int flags) {
        return real_methods(f)->xShmLock(real(f), offset, n, flags);
      },
      [](sqlite3_file* f) { real_methods(f)->xShmBarrier(real(f)); },
      [](sqlite3_file* f, int del) { return real_methods(f)->xShmUnmap(real(f), del); },
      [](sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
        return real_methods(f)->xFetch(real(f), off, n, out);
      },
      [](sqlite3_file* f, sqlite3_int64 off, void* p) {
        return real_methods(f)->xUnfetch(real(f), off, p);
      },
  };

  sqlite3_vfs* base_ = nullptr;
  sqlite3_vfs vfs_{};
};

/// The leaves and size of partition `p` as they must be: folded from the records a scan reads.
std::pair<std::vector<uint64_t>, uint64_t> summaries_from_records(engine& e, partition_id p) {
  merkle_tree t;
  uint64_t n = 0;
  auto err = e.for_each(p, [&](const bytes& key, caf::expected<record>&& rec) {
    BOOST_CHECK_MESSAGE(rec, "unreadable record");
    if (rec)
      t.toggle(key, record_digest(key, *rec));
    ++n;
    return true;
  });
  ACTORKV_REQUIRE_OK(err);
  return {t.level(tree_leaf_bits), n};
}

/// The engine's leaves and size of partition `p`.
std::pair<std::vector<uint64_t>, uint64_t> summaries(engine& e, partition_id p) {
  auto leaves = e.leaves(p);
  ACTORKV_REQUIRE_OK(leaves);
  auto n = e.count(p);
  ACTORKV_REQUIRE_OK(n);
  return {*leaves, *n};
}

/// Copies the database files of an open engine, as a crash would leave them (no write running).
void copy_as_crashed(const std::string& from, const std::string& to) {
  for (auto suffix : {"", "-wal"})
    if (std::filesystem::exists(from + suffix))
      std::filesystem::copy_file(from + suffix, to + suffix,
                                 std::filesystem::copy_options::overwrite_existing);
}

/// The fixture for the full-disk case: the VFS must be the default before the engine opens.
struct full_disk_fixture {
  full_disk_vfs vfs;
  sqlite_fixture db;
};

} // namespace

BOOST_AUTO_TEST_SUITE(sqlite_engine)

BOOST_FIXTURE_TEST_CASE(data_survives_close_and_reopen, sqlite_fixture) {
  ACTORKV_REQUIRE_OK(store().put(0, to_bytes("plain"), sample_record()));
  ACTORKV_REQUIRE_OK(store().begin());
  ACTORKV_REQUIRE_OK(store().put(1, to_bytes("batched"), value_record(all_byte_values())));
  ACTORKV_REQUIRE_OK(store().set_meta("replica_id", "99"));
  ACTORKV_REQUIRE_OK(store().commit());
  for (auto sync : {sync_mode::full, sync_mode::normal, sync_mode::off}) {
    reopen(sync);
    auto plain = store().get(0, to_bytes("plain"));
    ACTORKV_REQUIRE_OK(plain);
    BOOST_REQUIRE(*plain);
    BOOST_CHECK(**plain == sample_record());
    auto batched = store().get(1, to_bytes("batched"));
    ACTORKV_REQUIRE_OK(batched);
    BOOST_REQUIRE(*batched);
    BOOST_CHECK(**batched == value_record(all_byte_values()));
    auto id = store().get_meta("replica_id");
    ACTORKV_REQUIRE_OK(id);
    BOOST_CHECK(*id == std::optional<std::string>{"99"});
    store().read_together([&] { ACTORKV_REQUIRE_OK(store().get(0, to_bytes("plain"))); });
  }
  close();
  // A clean close copies the log into the database file and removes it: the file alone is then
  // the whole store (what a stopped node's backup copies, what tests that damage pages rely on).
  BOOST_CHECK(!std::filesystem::exists(path() + "-wal"));
  raw_db raw{path()};
  BOOST_CHECK_EQUAL(raw.text("PRAGMA journal_mode"), "wal");
  BOOST_CHECK_EQUAL(raw.text("SELECT value FROM meta WHERE name = 'schema_version'"), "4");
  BOOST_CHECK_EQUAL(raw.text("SELECT count(*) FROM records"), "2");
  BOOST_CHECK_EQUAL(raw.text("SELECT value FROM meta WHERE name = 'open_state'"), "closed");
}

BOOST_FIXTURE_TEST_CASE(the_log_is_copied_into_the_database_as_writes_go_on, sqlite_fixture) {
  // 60 MB of 2 KiB values (about 140 MB of log pages: each value spills into overflow pages) in
  // batches with short pauses, as the storage actor commits them under load: the checkpointer
  // thread must keep the write-ahead log near its 10,000-page threshold (40 MB). (The writer
  // checkpoints itself only at 40,000 pages, 160 MB: without the checkpointer the log would hold
  // all 140 MB.) The checkpointer needs CPU time in the pauses; on a machine busy with other work
  // it may get none, so the run is tried up to three times on a fresh log, and one run within the
  // bound passes.
  const bytes value(2048, 0x5a);
  auto wal_bytes = [&] {
    std::ifstream wal{path() + "-wal", std::ios::binary | std::ios::ate};
    return wal ? static_cast<int64_t>(wal.tellg()) : int64_t{-1};
  };
  int64_t least = INT64_MAX;
  for (int attempt = 0; attempt < 3 && least >= 96 * 1024 * 1024; ++attempt) {
    if (attempt > 0) {
      close(); // a clean close copies the log and removes it
      reopen();
    }
    for (int batch = 0; batch < 300; ++batch) {
      ACTORKV_REQUIRE_OK(store().begin());
      for (int i = 0; i < 100; ++i)
        ACTORKV_REQUIRE_OK(
            store().put(0, to_bytes("k" + std::to_string(batch * 100 + i)), value_record(value)));
      ACTORKV_REQUIRE_OK(store().commit());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    BOOST_TEST_MESSAGE("write-ahead log after 60 MB of values written (run " << attempt + 1
                                                                    << "): " << wal_bytes()
                                                                    << " bytes");
    least = std::min(least, wal_bytes());
  }
  BOOST_TEST(least < 96 * 1024 * 1024);
  reopen();
  auto last = store().get(0, to_bytes("k29999"));
  ACTORKV_REQUIRE_OK(last);
  BOOST_REQUIRE(*last);
  BOOST_CHECK(**last == value_record(value));
}

BOOST_FIXTURE_TEST_CASE(the_log_shrinks_back_after_a_burst, sqlite_fixture) {
  // One large commit (a handoff's batch of big values, a restore) grows the write-ahead log to
  // its size. Once the log has been copied and starts over, the file must shrink back to the
  // log's working size instead of keeping its largest size until the node stops.
  const bytes value(2048, 0x5a);
  auto wal_bytes = [&] {
    std::ifstream wal{path() + "-wal", std::ios::binary | std::ios::ate};
    return wal ? static_cast<int64_t>(wal.tellg()) : int64_t{-1};
  };
  ACTORKV_REQUIRE_OK(store().begin());
  for (int i = 0; i < 32000; ++i)
    ACTORKV_REQUIRE_OK(store().put(0, to_bytes("k" + std::to_string(i)), value_record(value)));
  ACTORKV_REQUIRE_OK(store().commit());
  auto burst = wal_bytes();
  BOOST_TEST_MESSAGE("write-ahead log after one 64 MB commit: " << burst << " bytes");
  BOOST_REQUIRE(burst > 64 * 1024 * 1024);
  // Small writes go on, as they do on a live node; the checkpointer copies the log meanwhile.
  // The working size is 40 MB (checkpoint_pages).
  int64_t now = burst;
  for (int i = 0; i < 200 && now > 41 * 1024 * 1024; ++i) {
    ACTORKV_REQUIRE_OK(store().put(1, to_bytes("small" + std::to_string(i)), sample_record()));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    now = wal_bytes();
  }
  BOOST_TEST(now <= 41 * 1024 * 1024, "the log kept " << now << " bytes of its " << burst);
  auto first = store().get(0, to_bytes("k0"));
  ACTORKV_REQUIRE_OK(first);
  BOOST_CHECK(*first);
}

BOOST_FIXTURE_TEST_CASE(an_open_batch_is_discarded_on_close, sqlite_fixture) {
  ACTORKV_REQUIRE_OK(store().put(0, to_bytes("committed"), sample_record()));
  ACTORKV_REQUIRE_OK(store().begin());
  ACTORKV_REQUIRE_OK(store().put(0, to_bytes("uncommitted"), sample_record()));
  ACTORKV_REQUIRE_OK(store().erase(0, to_bytes("committed")));
  reopen();
  auto committed = store().get(0, to_bytes("committed"));
  ACTORKV_REQUIRE_OK(committed);
  BOOST_CHECK(*committed);
  auto uncommitted = store().get(0, to_bytes("uncommitted"));
  ACTORKV_REQUIRE_OK(uncommitted);
  BOOST_CHECK(!*uncommitted);
}

BOOST_FIXTURE_TEST_CASE(a_flipped_byte_on_disk_is_reported_never_returned, sqlite_fixture) {
  auto victim = to_bytes("victim");
  ACTORKV_REQUIRE_OK(store().put(2, to_bytes("before"), value_record(to_bytes("fine"))));
  ACTORKV_REQUIRE_OK(store().put(2, victim, value_record(all_byte_values())));
  ACTORKV_REQUIRE_OK(store().put(2, to_bytes("z-after"), value_record(to_bytes("fine too"))));
  raw_db raw{path()};
  const auto original = raw.value(2, victim);
  // The format byte, the checksum, the payload's first byte and a byte inside the value.
  for (size_t pos : {size_t{0}, size_t{1}, size_t{4}, size_t{5}, original.size() - 1}) {
    BOOST_TEST_CONTEXT("byte " << pos << " flipped") {
      auto damaged = original;
      damaged[pos] ^= 0x10;
      raw.set_value(2, victim, damaged);
      auto got = store().get(2, victim);
      BOOST_REQUIRE(!got);
      ACTORKV_CHECK_EC(got.error(), ec::corrupt_record);
      std::vector<std::string> seen;
      auto err = store().for_each(2, [&](const bytes& key, caf::expected<record>&& rec) {
        std::string name(key.begin(), key.end());
        if (key == victim) {
          BOOST_CHECK(!rec);
          if (!rec)
            ACTORKV_CHECK_EC(rec.error(), ec::corrupt_record);
        } else {
          BOOST_CHECK_MESSAGE(rec, name << ": " << why(rec));
        }
        seen.push_back(name);
        return true;
      });
      ACTORKV_REQUIRE_OK(err);
      std::sort(seen.begin(), seen.end());
      BOOST_CHECK(seen == (std::vector<std::string>{"before", "victim", "z-after"}));
    }
  }
  // Stored values that are too short to hold a header.
  for (const auto& truncated : {bytes{}, bytes{1}, bytes{1, 0, 0, 0, 0}}) {
    raw.set_value(2, victim, truncated);
    auto got = store().get(2, victim);
    BOOST_REQUIRE(!got);
    ACTORKV_CHECK_EC(got.error(), ec::corrupt_record);
  }
  // Nothing is cached: restoring the bytes restores the record.
  raw.set_value(2, victim, original);
  auto got = store().get(2, victim);
  ACTORKV_REQUIRE_OK(got);
  BOOST_REQUIRE(*got);
  BOOST_CHECK(**got == value_record(all_byte_values()));
}

BOOST_FIXTURE_TEST_CASE(a_newer_schema_version_is_refused, sqlite_fixture) {
  ACTORKV_REQUIRE_OK(store().put(0, to_bytes("k"), sample_record()));
  close();
  {
    raw_db raw{path()};
    raw.exec("UPDATE meta SET value = '5' WHERE name = 'schema_version'");
  }
  auto opened = open_sqlite_engine(path(), sync_mode::full);
  BOOST_REQUIRE(!opened);
  ACTORKV_CHECK_EC(opened.error(), ec::storage_failure);
  BOOST_CHECK_MESSAGE(mentions(opened.error(), path()) && mentions(opened.error(), "version 5"),
                      describe(opened.error()));
  {
    raw_db raw{path()};
    // The refused file is left as it was.
    BOOST_CHECK_EQUAL(raw.text("SELECT value FROM meta WHERE name = 'schema_version'"), "5");
    raw.exec("UPDATE meta SET value = 'banana' WHERE name = 'schema_version'");
  }
  opened = open_sqlite_engine(path(), sync_mode::full);
  BOOST_REQUIRE(!opened);
  ACTORKV_CHECK_EC(opened.error(), ec::storage_failure);
  BOOST_CHECK_MESSAGE(mentions(opened.error(), "banana"), describe(opened.error()));
  {
    raw_db raw{path()};
    raw.exec("UPDATE meta SET value = '4' WHERE name = 'schema_version'");
  }
  reopen();
  auto got = store().get(0, to_bytes("k"));
  ACTORKV_REQUIRE_OK(got);
  BOOST_CHECK(*got);
}

BOOST_AUTO_TEST_CASE(files_that_cannot_be_opened_are_reported_with_their_path) {
  temp_dir dir;
  auto missing_dir = dir.file("no/such/dir/store.db");
  auto opened = open_sqlite_engine(missing_dir, sync_mode::full);
  BOOST_REQUIRE(!opened);
  ACTORKV_CHECK_EC(opened.error(), ec::storage_failure);
  BOOST_CHECK_MESSAGE(mentions(opened.error(), missing_dir), describe(opened.error()));
  auto not_a_db = dir.file("garbage.db");
  std::ofstream{not_a_db} << std::string(4096, 'x');
  opened = open_sqlite_engine(not_a_db, sync_mode::full);
  BOOST_REQUIRE(!opened);
  // Damage, not an I/O failure: kvnode sets such a file aside and starts empty.
  ACTORKV_CHECK_EC(opened.error(), ec::corrupt_record);
  BOOST_CHECK_MESSAGE(mentions(opened.error(), not_a_db), describe(opened.error()));
}

BOOST_FIXTURE_TEST_CASE(a_full_disk_fails_writes_and_leaves_reads_working, full_disk_fixture) {
  auto& e = db.store();
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("kept"), sample_record()));
  ACTORKV_REQUIRE_OK(e.set_meta("replica_id", "5"));
  full_disk_vfs::full = true;
  // A write outside a batch.
  auto err = e.put(0, to_bytes("lost"), value_record(pseudo_random_bytes(100'000)));
  ACTORKV_CHECK_EC(err, ec::storage_failure);
  BOOST_TEST_MESSAGE("a full disk reads: " << describe(err));
  BOOST_CHECK_MESSAGE(mentions(err, "full") && mentions(err, db.path()), describe(err));
  ACTORKV_CHECK_EC(e.set_meta("replica_id", "6"), ec::storage_failure);
  auto hinted = e.add_hint("n2", 0, to_bytes("lost"), sample_record());
  BOOST_REQUIRE(!hinted);
  ACTORKV_CHECK_EC(hinted.error(), ec::storage_failure);
  // A batch: its commit fails and discards it, the leaf summaries with it.
  auto summed = summaries(e, 0);
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("batched"), sample_record()));
  ACTORKV_REQUIRE_OK(e.erase(0, to_bytes("kept")));
  err = e.commit();
  ACTORKV_CHECK_EC(err, ec::storage_failure);
  BOOST_CHECK_MESSAGE(mentions(err, "full"), describe(err));
  ACTORKV_CHECK_EC(e.commit(), ec::storage_failure); // the batch is gone
  e.rollback();
  BOOST_CHECK(summaries(e, 0) == summed);
  BOOST_CHECK(summaries(e, 0) == summaries_from_records(e, 0));
  // Reads still work and show only what was committed before the disk filled up.
  auto kept = e.get(0, to_bytes("kept"));
  ACTORKV_REQUIRE_OK(kept);
  BOOST_REQUIRE(*kept);
  BOOST_CHECK(**kept == sample_record());
  for (const char* key : {"lost", "batched"}) {
    auto got = e.get(0, to_bytes(key));
    ACTORKV_REQUIRE_OK(got);
    BOOST_CHECK_MESSAGE(!*got, key << " should not be stored");
  }
  size_t count = 0;
  ACTORKV_REQUIRE_OK(e.for_each(0, [&](const bytes&, caf::expected<record>&& rec) {
    BOOST_CHECK(rec);
    ++count;
    return true;
  }));
  BOOST_CHECK_EQUAL(count, 1u);
  auto id = e.get_meta("replica_id");
  ACTORKV_REQUIRE_OK(id);
  BOOST_CHECK(*id == std::optional<std::string>{"5"});
  auto hint_counts = e.hint_counts();
  ACTORKV_REQUIRE_OK(hint_counts);
  BOOST_CHECK(hint_counts->empty());
  // Space freed: the same engine writes again, and the data survives a reopen.
  full_disk_vfs::full = false;
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("later"), sample_record()));
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("batched"), sample_record()));
  ACTORKV_REQUIRE_OK(e.commit());
  db.reopen();
  size_t after = 0;
  ACTORKV_REQUIRE_OK(db.store().for_each(0, [&](const bytes&, caf::expected<record>&& rec) {
    BOOST_CHECK(rec);
    ++after;
    return true;
  }));
  BOOST_CHECK_EQUAL(after, 3u);
}

BOOST_FIXTURE_TEST_CASE(hints_survive_reopen_and_ids_keep_increasing, sqlite_fixture) {
  auto first = store().add_hint("n2", 4, to_bytes("a"), sample_record());
  ACTORKV_REQUIRE_OK(first);
  ACTORKV_REQUIRE_OK(store().begin());
  auto batched = store().add_hint("n3", 0xFFFFu, all_byte_values(), value_record(to_bytes("v")));
  ACTORKV_REQUIRE_OK(batched);
  ACTORKV_REQUIRE_OK(store().commit());
  ACTORKV_REQUIRE_OK(store().begin());
  ACTORKV_REQUIRE_OK(store().add_hint("n2", 4, to_bytes("never committed"), sample_record()));
  reopen(); // closes with the batch open: it is discarded
  auto n2 = store().hints_for("n2", 10);
  ACTORKV_REQUIRE_OK(n2);
  BOOST_REQUIRE_EQUAL(n2->size(), 1u);
  BOOST_CHECK_EQUAL(n2->at(0).id, *first);
  BOOST_CHECK_EQUAL(n2->at(0).partition, 4u);
  BOOST_CHECK(n2->at(0).key == to_bytes("a"));
  BOOST_CHECK(n2->at(0).rec == sample_record());
  auto n3 = store().hints_for("n3", 10);
  ACTORKV_REQUIRE_OK(n3);
  BOOST_REQUIRE_EQUAL(n3->size(), 1u);
  BOOST_CHECK_EQUAL(n3->at(0).id, *batched);
  BOOST_CHECK_EQUAL(n3->at(0).partition, 0xFFFFu);
  BOOST_CHECK(n3->at(0).key == all_byte_values());
  // AUTOINCREMENT: an id is never handed out twice, even once its hint is gone.
  ACTORKV_REQUIRE_OK(store().remove_hint(*batched));
  reopen();
  auto next = store().add_hint("n3", 1, to_bytes("b"), sample_record());
  ACTORKV_REQUIRE_OK(next);
  BOOST_CHECK_GT(*next, *batched);
  auto counts = store().hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"n2", 1}, {"n3", 1}}));
  close();
  raw_db raw{path()};
  BOOST_CHECK_EQUAL(raw.text("SELECT count(*) FROM hints"), "2");
  BOOST_CHECK_EQUAL(raw.text("SELECT count(*) FROM records"), "0");
  BOOST_CHECK_EQUAL(raw.text("SELECT sql FROM sqlite_master WHERE name = 'hints_by_target'"),
                    "CREATE INDEX hints_by_target ON hints(target, id)");
  // The listing is an index range read in id order, not a scan and a sort.
  auto plan = raw.lines("EXPLAIN QUERY PLAN SELECT id, partition, key, value FROM hints "
                        "WHERE target = 'n2' ORDER BY id",
                        3);
  BOOST_CHECK_MESSAGE(mentions_text(plan, "hints_by_target") && !mentions_text(plan, "TEMP B-TREE"),
                      plan);
}

BOOST_FIXTURE_TEST_CASE(a_corrupt_hint_is_dropped_and_counted, sqlite_fixture) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = store().add_hint("n2", 1, to_bytes("k" + std::to_string(i)),
                               value_record(to_bytes("v" + std::to_string(i)), i + 1));
    ACTORKV_REQUIRE_OK(id);
    ids.push_back(*id);
  }
  auto other = store().add_hint("n3", 1, to_bytes("k"), sample_record());
  ACTORKV_REQUIRE_OK(other);
  {
    raw_db raw{path()};
    auto value = raw.hint_value(ids[1]);
    value.back() ^= 0x01; // a flipped bit in the value: the checksum no longer matches
    raw.set_hint_value(ids[1], value);
    raw.set_hint_value(ids[2], bytes{1, 0, 0}); // truncated
  }
  // Not yet met, so still counted.
  auto counts = store().hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"n2", 5}, {"n3", 1}}));
  // The corrupt ones do not count towards the limit.
  size_t dropped = 99;
  auto held = store().hints_for("n2", 2, &dropped);
  ACTORKV_REQUIRE_OK(held);
  BOOST_REQUIRE_EQUAL(held->size(), 2u);
  BOOST_CHECK_EQUAL(held->at(0).id, ids[0]);
  BOOST_CHECK_EQUAL(held->at(1).id, ids[3]);
  BOOST_CHECK(held->at(1).rec == value_record(to_bytes("v3"), 4));
  BOOST_CHECK_EQUAL(dropped, 2u);
  counts = store().hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"n2", 3}, {"n3", 1}}));
  // Gone for good: the next listing meets none, with or without a counter.
  held = store().hints_for("n2", 10, &dropped);
  ACTORKV_REQUIRE_OK(held);
  BOOST_CHECK_EQUAL(held->size(), 3u);
  BOOST_CHECK_EQUAL(dropped, 0u);
  {
    raw_db raw{path()};
    raw.set_hint_value(*other, bytes{});
  }
  held = store().hints_for("n3", 10);
  ACTORKV_REQUIRE_OK(held);
  BOOST_CHECK(held->empty());
  counts = store().hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"n2", 3}}));
}

BOOST_AUTO_TEST_CASE(a_version_1_database_is_upgraded_and_its_hints_moved) {
  temp_dir dir;
  auto path = dir.file("v1.db");
  // Schema version 1 as FORMAT.md describes it, with hints kept among the records under
  // partition 0xFFFFFFFF.
  auto legacy_key = [](const std::string& target, partition_id p, const bytes& key) {
    bytes out{static_cast<uint8_t>(target.size() >> 8), static_cast<uint8_t>(target.size())};
    out.insert(out.end(), target.begin(), target.end());
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<uint8_t>(p >> shift));
    out.insert(out.end(), key.begin(), key.end());
    return out;
  };
  const partition_id legacy = 0xFFFFFFFFu;
  const bytes malformed{0, 9, 'n'}; // claims a 9-byte name
  {
    raw_db raw{path};
    raw.exec("PRAGMA journal_mode=WAL");
    raw.exec("CREATE TABLE records(partition INTEGER NOT NULL, key BLOB NOT NULL, "
             "value BLOB NOT NULL, PRIMARY KEY(partition, key)) WITHOUT ROWID;"
             "CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
             "INSERT INTO meta VALUES('schema_version', '1'), ('instance_id', 'abc');");
    raw.insert_record(3, to_bytes("user"), encode_record(sample_record()));
    raw.insert_record(legacy, legacy_key("n3", 9, {}), encode_record(sample_record()));
    raw.insert_record(legacy, legacy_key("n2", 7, to_bytes("b")), bytes{1, 2, 3});
    raw.insert_record(legacy, legacy_key("n2", 7, to_bytes("a")),
                      encode_record(value_record(to_bytes("x"))));
    raw.insert_record(legacy, legacy_key("n2", 70000, all_byte_values()),
                      encode_record(value_record(to_bytes("y"))));
    raw.insert_record(legacy, malformed, encode_record(value_record(to_bytes("?"))));
  }
  for (int round = 0; round < 2; ++round) {
    BOOST_TEST_CONTEXT("open " << round + 1) {
      auto opened = open_sqlite_engine(path, sync_mode::full);
      ACTORKV_REQUIRE_OK(opened);
      auto& e = **opened;
      auto version = e.get_meta("schema_version");
      ACTORKV_REQUIRE_OK(version);
      BOOST_CHECK(*version == std::optional<std::string>{"4"});
      auto instance = e.get_meta("instance_id");
      ACTORKV_REQUIRE_OK(instance);
      BOOST_CHECK(*instance == std::optional<std::string>{"abc"});
      auto user = e.get(3, to_bytes("user"));
      ACTORKV_REQUIRE_OK(user);
      BOOST_CHECK(*user == std::optional<record>{sample_record()});
      // Moved in stored-key order; the corrupt one came along and is dropped when met.
      size_t dropped = 0;
      auto n2 = e.hints_for("n2", 10, &dropped);
      ACTORKV_REQUIRE_OK(n2);
      BOOST_REQUIRE_EQUAL(n2->size(), 2u);
      BOOST_CHECK_EQUAL(n2->at(0).partition, 7u);
      BOOST_CHECK(n2->at(0).key == to_bytes("a"));
      BOOST_CHECK(n2->at(0).rec == value_record(to_bytes("x")));
      BOOST_CHECK_EQUAL(n2->at(1).partition, 70000u);
      BOOST_CHECK(n2->at(1).key == all_byte_values());
      BOOST_CHECK_LT(n2->at(0).id, n2->at(1).id);
      BOOST_CHECK_EQUAL(dropped, round == 0 ? 1u : 0u);
      auto n3 = e.hints_for("n3", 10);
      ACTORKV_REQUIRE_OK(n3);
      BOOST_REQUIRE_EQUAL(n3->size(), 1u);
      BOOST_CHECK(n3->at(0).key.empty());
      BOOST_CHECK(n3->at(0).rec == sample_record());
      // Only the row that could not be read as a hint is left where it was.
      std::vector<bytes> left;
      ACTORKV_REQUIRE_OK(e.for_each(legacy, [&](const bytes& key, caf::expected<record>&&) {
        left.push_back(key);
        return true;
      }));
      BOOST_CHECK(left == std::vector<bytes>{malformed});
    }
  }
}

BOOST_FIXTURE_TEST_CASE(a_check_is_owed_after_an_unclean_close_until_one_passes, sqlite_fixture) {
  // A new file, and one closed cleanly: nothing to check.
  BOOST_CHECK(!store().check_owed());
  ACTORKV_REQUIRE_OK(store().put(0, to_bytes("k"), sample_record()));
  reopen();
  BOOST_CHECK(!store().check_owed());
  // The files as a crash (kill -9, power loss) leaves them: the copy was never closed.
  auto crashed = path() + ".crashed";
  copy_as_crashed(path(), crashed);
  for (int round = 0; round < 2; ++round) {
    BOOST_TEST_CONTEXT("open " << round + 1) {
      auto opened = open_sqlite_engine(crashed, sync_mode::full);
      ACTORKV_REQUIRE_OK(opened);
      // Owed until a check passes, even across a clean close in between; the Merkle summaries
      // wait for it.
      BOOST_CHECK((*opened)->check_owed());
      auto leaves = (*opened)->leaves(0);
      BOOST_REQUIRE(!leaves);
      ACTORKV_CHECK_EC(leaves.error(), ec::unavailable);
      auto got = (*opened)->get(0, to_bytes("k"));
      ACTORKV_REQUIRE_OK(got);
      BOOST_CHECK(*got == std::optional<record>{sample_record()});
    }
  }
  {
    auto opened = open_sqlite_engine(crashed, sync_mode::full);
    ACTORKV_REQUIRE_OK(opened);
    check_control control;
    auto report = (*opened)->integrity_check()(control);
    BOOST_REQUIRE(!report.damage && !report.failure);
    ACTORKV_REQUIRE_OK((*opened)->check_done(report));
    BOOST_CHECK(!(*opened)->check_owed());
    BOOST_CHECK(summaries(**opened, 0) == summaries_from_records(**opened, 0));
  }
  // Closed cleanly since: no check owed, the summaries there at once.
  auto opened = open_sqlite_engine(crashed, sync_mode::full);
  ACTORKV_REQUIRE_OK(opened);
  BOOST_CHECK(!(*opened)->check_owed());
  BOOST_CHECK(summaries(**opened, 0) == summaries_from_records(**opened, 0));
  BOOST_CHECK_EQUAL(summaries(**opened, 0).second, 1u);
}

BOOST_FIXTURE_TEST_CASE(a_clean_close_keeps_the_summaries_for_the_next_open, sqlite_fixture) {
  for (int i = 0; i < 3000; ++i)
    ACTORKV_REQUIRE_OK(store().put(i % 9, to_bytes("k" + std::to_string(i)), sample_record()));
  ACTORKV_REQUIRE_OK(store().erase(3, to_bytes("k3")));
  std::vector<std::pair<std::vector<uint64_t>, uint64_t>> before;
  for (partition_id p = 0; p < 9; ++p)
    before.push_back(summaries(store(), p));
  reopen();
  BOOST_CHECK(!store().check_owed());
  for (partition_id p = 0; p < 9; ++p) {
    BOOST_CHECK(summaries(store(), p) == before[p]);
    BOOST_CHECK(summaries(store(), p) == summaries_from_records(store(), p));
  }
}

BOOST_FIXTURE_TEST_CASE(an_integrity_check_finds_a_damaged_record_for_anti_entropy,
                        sqlite_fixture) {
  for (int i = 0; i < 20; ++i)
    ACTORKV_REQUIRE_OK(
        store().put(4, to_bytes("k" + std::to_string(i)), value_record(to_bytes("v"), i + 1)));
  auto intact = summaries(store(), 4);
  auto victim = to_bytes("k7");
  {
    raw_db raw{path()};
    auto damaged = raw.value(4, victim);
    damaged.back() ^= 0x01;
    raw.set_value(4, victim, damaged);
  }
  // The stored digest still vouches for the record until a check (or a repair) says otherwise.
  BOOST_CHECK(summaries(store(), 4) == intact);
  check_control control;
  auto report = store().integrity_check()(control);
  BOOST_REQUIRE_MESSAGE(!report.damage && !report.failure, describe(report.damage)
                                                               << describe(report.failure));
  BOOST_CHECK_EQUAL(report.records, 20u);
  BOOST_REQUIRE_EQUAL(report.suspects.size(), 1u);
  BOOST_CHECK_EQUAL(report.suspects[0].first, 4u);
  BOOST_CHECK(report.suspects[0].second == victim);
  for (auto& [p, key] : report.suspects)
    ACTORKV_REQUIRE_OK(store().refresh_digest(p, key));
  // Its leaf no longer counts it, and it lists with digest 0: anti-entropy repairs it.
  auto leaf = merkle_tree::leaf_of(victim, tree_leaf_bits);
  auto now = summaries(store(), 4);
  BOOST_CHECK_EQUAL(now.second, 20u);
  auto rec = value_record(to_bytes("v"), 8);
  BOOST_CHECK_EQUAL(now.first[leaf], intact.first[leaf] ^ record_digest(victim, rec));
  auto listed = store().leaf_keys(4, {leaf});
  ACTORKV_REQUIRE_OK(listed);
  auto it = std::find_if(listed->begin(), listed->end(),
                         [&](const key_digest& kd) { return kd.key == victim; });
  BOOST_REQUIRE(it != listed->end());
  BOOST_CHECK_EQUAL(it->digest, 0u);
  // The repair (a put of the intact record) puts its digest back.
  ACTORKV_REQUIRE_OK(store().put(4, victim, rec));
  BOOST_CHECK(summaries(store(), 4) == intact);
}

BOOST_FIXTURE_TEST_CASE(an_integrity_check_finds_damaged_pages, sqlite_fixture) {
  for (int i = 0; i < 2000; ++i)
    ACTORKV_REQUIRE_OK(store().put(i % 16, to_bytes("key-" + std::to_string(i)),
                                   value_record(pseudo_random_bytes(200, i))));
  close();
  auto size = std::filesystem::file_size(path());
  BOOST_REQUIRE(size > 16 * 4096);
  {
    std::fstream f{path(), std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
    std::string junk(3 * 4096, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  // Closed cleanly before the damage: it opens without a check owed, and the check finds it.
  reopen();
  BOOST_CHECK(!store().check_owed());
  check_control control;
  auto report = store().integrity_check()(control);
  BOOST_CHECK(report.damage == ec::corrupt_record);
  BOOST_CHECK_MESSAGE(mentions(report.damage, path()) && mentions(report.damage, "damaged"),
                      describe(report.damage));
}

BOOST_FIXTURE_TEST_CASE(after_a_crash_the_check_rebuilds_the_summaries_while_writes_go_on,
                        sqlite_fixture) {
  for (int i = 0; i < 20000; ++i) {
    if (i % 1000 == 0)
      ACTORKV_REQUIRE_OK(store().begin());
    ACTORKV_REQUIRE_OK(store().put(i % 16, to_bytes("k" + std::to_string(i)), sample_record()));
    if (i % 1000 == 999)
      ACTORKV_REQUIRE_OK(store().commit());
  }
  auto crashed = path() + ".crashed";
  copy_as_crashed(path(), crashed);
  auto opened = open_sqlite_engine(crashed, sync_mode::full);
  ACTORKV_REQUIRE_OK(opened);
  auto& e = **opened;
  BOOST_REQUIRE(e.check_owed());
  // Writes before the check starts, a rolled-back batch among them.
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("early"), value_record(to_bytes("e"))));
  ACTORKV_REQUIRE_OK(e.erase(2, to_bytes("k2")));
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("undone"), sample_record()));
  e.rollback();
  check_control control;
  integrity_report report;
  std::thread checker{[&, job = e.integrity_check()] { report = job(control); }};
  // Meanwhile the owner goes on writing, overwriting and deleting (on its own connection).
  size_t writes = 0;
  while (control.records.load() < 20000 && writes < 100000) {
    ACTORKV_REQUIRE_OK(e.begin());
    for (int i = 0; i < 50; ++i, ++writes) {
      ACTORKV_REQUIRE_OK(
          e.put(writes % 16, to_bytes("w" + std::to_string(writes)), sample_record()));
      ACTORKV_REQUIRE_OK(e.put(writes % 16, to_bytes("k" + std::to_string(writes * 16 % 20000)),
                               value_record(to_bytes("new"), writes + 2)));
    }
    ACTORKV_REQUIRE_OK(e.erase(writes % 16, to_bytes("k" + std::to_string(writes % 20000))));
    ACTORKV_REQUIRE_OK(e.commit());
    auto got = e.get(3, to_bytes("k3"));
    ACTORKV_REQUIRE_OK(got);
  }
  checker.join();
  BOOST_TEST_MESSAGE("records written while the check ran: " << writes);
  BOOST_REQUIRE_MESSAGE(!report.damage && !report.failure, describe(report.damage)
                                                               << describe(report.failure));
  BOOST_CHECK_GE(report.records, 20000u);
  BOOST_CHECK(report.suspects.empty());
  BOOST_CHECK_GT(writes, 0u);
  // Not before the check is taken in: then its snapshot's summaries plus every write since.
  BOOST_CHECK(!e.leaves(0));
  ACTORKV_REQUIRE_OK(e.check_done(report));
  for (partition_id p = 0; p < 16; ++p)
    BOOST_CHECK_MESSAGE(summaries(e, p) == summaries_from_records(e, p), "partition " << p);
}

BOOST_AUTO_TEST_CASE(a_version_2_database_is_upgraded_keeping_every_record) {
  temp_dir dir;
  auto path = dir.file("v2.db");
  // Schema version 2 as FORMAT.md describes it; records in several partitions, one of them
  // unreadable, a hint, and metadata.
  std::map<std::pair<partition_id, bytes>, record> stored;
  int64_t newest = 0;
  const bytes broken_key = to_bytes("broken");
  std::vector<std::pair<partition_id, bytes>> deleted;
  {
    raw_db raw{path};
    raw.exec("PRAGMA journal_mode=WAL");
    raw.exec("CREATE TABLE records(partition INTEGER NOT NULL, key BLOB NOT NULL, "
             "value BLOB NOT NULL, PRIMARY KEY(partition, key)) WITHOUT ROWID;"
             "CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
             "CREATE TABLE hints(id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, "
             "partition INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL);"
             "CREATE INDEX hints_by_target ON hints(target, id);"
             "INSERT INTO meta VALUES('schema_version', '2'), ('replica_id', '77');"
             "BEGIN;");
    for (int i = 0; i < 3000; ++i) {
      auto p = static_cast<partition_id>(i % 7);
      auto key = to_bytes("user" + std::to_string(i));
      auto rec = value_record(pseudo_random_bytes(100, i), i + 1);
      rec.siblings[0].timestamp_us = 1'700'000'000'000'000 + i;
      if (i % 1000 == 0) { // a few deletes, which version 4 indexes
        rec.siblings[0].tombstone = true;
        rec.siblings[0].value.clear();
        deleted.push_back({p, key});
      }
      newest = std::max(newest, rec.siblings[0].timestamp_us);
      raw.insert_record(p, key, encode_record(rec));
      stored[{p, key}] = rec;
    }
    raw.insert_record(3, broken_key, bytes{1, 2, 3});
    raw.exec("INSERT INTO hints(target, partition, key, value) VALUES('n2', 1, x'6b', x'00');"
             "COMMIT;");
  }
  for (int round = 0; round < 2; ++round) {
    BOOST_TEST_CONTEXT("open " << round + 1) {
      std::vector<uint64_t> told;
      auto opened =
          open_sqlite_engine(path, sync_mode::full, 64, [&](uint64_t n) { told.push_back(n); });
      ACTORKV_REQUIRE_OK(opened);
      auto& e = **opened;
      // Told of the upgrade's progress once, not again.
      BOOST_CHECK_EQUAL(told.empty(), round == 1);
      if (round == 0)
        BOOST_CHECK_EQUAL(told.back(), 3001u);
      auto version = e.get_meta("schema_version");
      ACTORKV_REQUIRE_OK(version);
      BOOST_CHECK(*version == std::optional<std::string>{"4"});
      auto id = e.get_meta("replica_id");
      ACTORKV_REQUIRE_OK(id);
      BOOST_CHECK(*id == std::optional<std::string>{"77"});
      // The deletes, and only they, are found as dead (every record's death was set).
      std::vector<std::pair<partition_id, bytes>> dead;
      for (partition_id p = 0; p < 7; ++p)
        ACTORKV_REQUIRE_OK(e.for_each_dead(p, std::nullopt, newest + 1,
                                           [&](const bytes& key, caf::expected<record>&&) {
                                             dead.emplace_back(p, key);
                                             return true;
                                           }));
      std::sort(dead.begin(), dead.end());
      std::sort(deleted.begin(), deleted.end());
      BOOST_CHECK(dead == deleted);
      // Every record, readable as before; the unreadable one still reported as such.
      size_t found = 0;
      for (partition_id p = 0; p < 7; ++p) {
        ACTORKV_REQUIRE_OK(e.for_each(p, [&](const bytes& key, caf::expected<record>&& rec) {
          if (key == broken_key) {
            BOOST_CHECK(!rec);
            return true;
          }
          auto it = stored.find({p, key});
          BOOST_CHECK(it != stored.end());
          BOOST_CHECK(rec && it != stored.end() && *rec == it->second);
          ++found;
          return true;
        }));
      }
      BOOST_CHECK_EQUAL(found, stored.size());
      // The clock's floor is the newest timestamp held. An upgraded file gets a full check once
      // (nothing vouched for it before), which builds the summaries; once it passed, they agree
      // with the records (the unreadable one counted, with digest 0).
      BOOST_CHECK_EQUAL(e.newest_timestamp(), newest);
      auto counts = e.hint_counts();
      ACTORKV_REQUIRE_OK(counts);
      BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"n2", 1}}));
      if (round == 1) {
        // The first open's check passed and it closed cleanly: nothing owed, summaries there.
        BOOST_CHECK(!e.check_owed());
      } else {
        BOOST_CHECK(e.check_owed());
        BOOST_CHECK(!e.leaves(0));
        check_control control;
        auto report = e.integrity_check()(control);
        BOOST_REQUIRE(!report.damage && !report.failure);
        BOOST_CHECK_EQUAL(report.records, 3001u);
        BOOST_CHECK_EQUAL(report.suspects.size(), 1u); // the unreadable one
        ACTORKV_REQUIRE_OK(e.check_done(report));
      }
      for (partition_id p = 0; p < 7; ++p) {
        auto sums = summaries(e, p);
        merkle_tree t;
        uint64_t n = 0;
        for (auto& [at, rec] : stored)
          if (at.first == p) {
            t.toggle(at.second, record_digest(at.second, rec));
            ++n;
          }
        BOOST_CHECK(sums.first == t.level(tree_leaf_bits));
        BOOST_CHECK_EQUAL(sums.second, n + (p == 3 ? 1 : 0));
      }
      auto listed = e.leaf_keys(3, {merkle_tree::leaf_of(broken_key, tree_leaf_bits)});
      ACTORKV_REQUIRE_OK(listed);
      BOOST_CHECK(std::any_of(listed->begin(), listed->end(), [&](const key_digest& kd) {
        return kd.key == broken_key && kd.digest == 0;
      }));
    }
  }
}

namespace {

/// The size of the database file alone (the log apart), in bytes.
uint64_t file_bytes(const std::string& path) {
  return static_cast<uint64_t>(std::filesystem::file_size(path));
}

/// Waits up to `limit` for `pred`, polling every 100 ms.
template <class Predicate>
bool within(std::chrono::milliseconds limit, Predicate pred) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(a_new_file_returns_the_pages_of_erased_records_to_the_file_system,
                        sqlite_fixture) {
  {
    raw_db raw{path()};
    BOOST_CHECK_EQUAL(raw.text("PRAGMA auto_vacuum"), "2"); // INCREMENTAL
  }
  // About 8 MB of records, written in batches, then checkpointed into the file.
  std::vector<bytes> keys;
  const std::string filler(400, 'x');
  for (int batch = 0; batch < 20; ++batch) {
    ACTORKV_REQUIRE_OK(store().begin());
    for (int i = 0; i < 1000; ++i) {
      keys.push_back(to_bytes("key-" + std::to_string(batch) + "-" + std::to_string(i)));
      auto rec = sample_record();
      rec.siblings.front().value = to_bytes(filler);
      ACTORKV_REQUIRE_OK(store().put(static_cast<partition_id>(i % 16), keys.back(), rec));
    }
    ACTORKV_REQUIRE_OK(store().commit());
  }
  BOOST_REQUIRE(within(std::chrono::seconds(20), [&] { return file_bytes(path()) > 8000000; }));
  auto loaded = file_bytes(path());
  ACTORKV_REQUIRE_OK(store().begin());
  for (size_t i = 0; i < keys.size(); ++i)
    ACTORKV_REQUIRE_OK(store().erase(static_cast<partition_id>(i % 1000 % 16), keys[i]));
  ACTORKV_REQUIRE_OK(store().commit());
  // The engine's background thread returns the free pages, a bounded step at a time.
  BOOST_CHECK_MESSAGE(within(std::chrono::seconds(20),
                             [&] { return file_bytes(path()) < loaded / 10; }),
                      "the file still has " << file_bytes(path()) << " of " << loaded << " bytes");
  // Still a good database: writes go on, and it reopens.
  ACTORKV_REQUIRE_OK(store().put(1, to_bytes("after"), sample_record()));
  reopen();
  auto got = store().get(1, to_bytes("after"));
  ACTORKV_REQUIRE_OK(got);
  BOOST_CHECK(*got);
}

BOOST_FIXTURE_TEST_CASE(the_collectors_read_decodes_only_the_records_that_died, sqlite_fixture) {
  // One partition of 20,000 live records and 20 that die: 12 deletes and 8 values with an
  // expiry, 4 of them expired by the time asked about. The collector's read (for_each_dead)
  // must decode the 16 dead ones only, never a live record: a sweep costs what it may collect.
  constexpr int live = 20000;
  constexpr int64_t asked = 6000;
  std::vector<bytes> dead;
  ACTORKV_REQUIRE_OK(store().begin());
  for (int i = 0; i < live; ++i)
    ACTORKV_REQUIRE_OK(store().put(0, to_bytes("live" + std::to_string(i)),
                                   value_record(pseudo_random_bytes(100, i))));
  for (int i = 0; i < 12; ++i) {
    record r;
    r.context.entries = {dot{9, 1}};
    r.siblings = {make_tombstone(9, 1, 1000 + i)};
    dead.push_back(to_bytes("deleted" + std::to_string(i)));
    ACTORKV_REQUIRE_OK(store().put(0, dead.back(), r));
  }
  for (int i = 0; i < 8; ++i) {
    auto r = value_record(to_bytes("expiring"));
    r.siblings[0].expires_us = 2000 + 1000 * i; // 2000 .. 9000: the first 4 before `asked`
    auto key = to_bytes("expiring" + std::to_string(i));
    if (r.siblings[0].expires_us < asked)
      dead.push_back(key);
    ACTORKV_REQUIRE_OK(store().put(0, key, r));
  }
  ACTORKV_REQUIRE_OK(store().commit());
  std::sort(dead.begin(), dead.end());
  // The keys the read reports, reading `batch` at a time from a cursor, and the decodes it cost.
  auto read = [&](auto& source, size_t batch) {
    std::vector<bytes> keys;
    auto before = records_decoded();
    std::optional<bytes> cursor;
    for (;;) {
      size_t n = 0;
      ACTORKV_REQUIRE_OK(
          source.for_each_dead(0, cursor, asked, [&](const bytes& key, caf::expected<record>&&) {
            keys.push_back(key);
            return ++n < batch;
          }));
      if (n < batch)
        break;
      cursor = keys.back();
    }
    auto decoded = records_decoded() - before;
    std::sort(keys.begin(), keys.end());
    BOOST_CHECK(keys == dead);
    return decoded;
  };
  BOOST_TEST_MESSAGE("records decoded by a sweep of " << live + 20
                                                      << " records: " << read(store(), 1000));
  BOOST_CHECK_EQUAL(read(store(), 1000), dead.size());
  BOOST_CHECK_EQUAL(read(store(), 5), dead.size());
  // The reader, which serves the collector in a node, reads the same way.
  auto reader = store().open_reader();
  ACTORKV_REQUIRE_OK(reader);
  BOOST_CHECK_EQUAL(read(**reader, 1000), dead.size());
}

BOOST_AUTO_TEST_CASE(a_version_3_database_gets_each_records_death) {
  temp_dir dir;
  auto path = dir.file("v3.db");
  // A file as this build writes it, taken back to version 3's layout (FORMAT.md: no `dies_us`,
  // no `records_dying`) after a clean close, its leaf summaries in place: deletes, expiring
  // values and live ones in three partitions, and an unreadable row.
  std::vector<std::pair<partition_id, bytes>> dead;
  const bytes broken_key = to_bytes("broken");
  {
    auto opened = open_sqlite_engine(path, sync_mode::full);
    ACTORKV_REQUIRE_OK(opened);
    auto& e = **opened;
    ACTORKV_REQUIRE_OK(e.begin());
    for (int i = 0; i < 3000; ++i) {
      auto p = static_cast<partition_id>(i % 3);
      auto key = to_bytes("user" + std::to_string(i));
      auto r = value_record(pseudo_random_bytes(50, i));
      if (i % 100 == 0) {
        r.siblings[0].tombstone = true;
        r.siblings[0].value.clear();
      } else if (i % 100 == 1) {
        r.siblings[0].expires_us = 5000;
      } else if (i % 100 == 2) {
        r.siblings[0].expires_us = 1'000'000'000; // not yet expired
      }
      if (i % 100 < 2)
        dead.emplace_back(p, key);
      ACTORKV_REQUIRE_OK(e.put(p, key, r));
    }
    ACTORKV_REQUIRE_OK(e.set_meta("replica_id", "77"));
    ACTORKV_REQUIRE_OK(e.commit());
  }
  {
    raw_db raw{path};
    raw.exec("BEGIN;"
             "DROP INDEX records_dying;"
             "CREATE TABLE records_v3(partition INTEGER NOT NULL, leaf INTEGER NOT NULL, "
             "key BLOB NOT NULL, digest INTEGER NOT NULL, value BLOB NOT NULL, "
             "PRIMARY KEY(partition, leaf, key)) WITHOUT ROWID;"
             "INSERT INTO records_v3 SELECT partition, leaf, key, digest, value FROM records;"
             "DROP TABLE records;"
             "ALTER TABLE records_v3 RENAME TO records;"
             "UPDATE meta SET value = '3' WHERE name = 'schema_version';"
             "COMMIT;");
    // Behind the engine's back (so partition 9's summary is not compared below).
    raw.exec("INSERT INTO records VALUES(9, " +
             std::to_string(merkle_tree::leaf_of(broken_key, tree_leaf_bits)) +
             ", x'62726f6b656e', 0, x'010203')");
    BOOST_REQUIRE_EQUAL(
        raw.text("SELECT count(*) FROM pragma_table_info('records') WHERE name = 'dies_us'"), "0");
    BOOST_REQUIRE_EQUAL(raw.text("SELECT value FROM meta WHERE name = 'open_state'"), "closed");
  }
  std::sort(dead.begin(), dead.end());
  for (int round = 0; round < 2; ++round) {
    BOOST_TEST_CONTEXT("open " << round + 1) {
      std::vector<uint64_t> told;
      auto opened =
          open_sqlite_engine(path, sync_mode::full, 64, [&](uint64_t n) { told.push_back(n); });
      ACTORKV_REQUIRE_OK(opened);
      auto& e = **opened;
      // Every record read once, at the first open only.
      BOOST_CHECK_EQUAL(told.empty(), round == 1);
      if (round == 0)
        BOOST_CHECK_EQUAL(told.back(), 3001u);
      auto version = e.get_meta("schema_version");
      ACTORKV_REQUIRE_OK(version);
      BOOST_CHECK(*version == std::optional<std::string>{"4"});
      auto id = e.get_meta("replica_id");
      ACTORKV_REQUIRE_OK(id);
      BOOST_CHECK(*id == std::optional<std::string>{"77"});
      // Nothing the summaries vouch for changed: the clean close still counts, no check owed.
      BOOST_CHECK(!e.check_owed());
      for (partition_id p = 0; p < 3; ++p)
        BOOST_CHECK(summaries(e, p) == summaries_from_records(e, p));
      std::vector<std::pair<partition_id, bytes>> found;
      for (partition_id p : {0u, 1u, 2u, 9u})
        ACTORKV_REQUIRE_OK(
            e.for_each_dead(p, std::nullopt, 6000, [&](const bytes& key, caf::expected<record>&&) {
              found.emplace_back(p, key);
              return true;
            }));
      std::sort(found.begin(), found.end());
      BOOST_CHECK(found == dead);
      // Every death is as the records say: a check finds only the unreadable row.
      check_control control;
      auto report = e.integrity_check()(control);
      BOOST_REQUIRE(!report.damage && !report.failure);
      BOOST_CHECK_EQUAL(report.records, 3001u);
      BOOST_REQUIRE_EQUAL(report.suspects.size(), 1u);
      BOOST_CHECK(report.suspects[0] == std::make_pair(partition_id{9}, broken_key));
      ACTORKV_REQUIRE_OK(e.check_done(report));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(an_integrity_check_corrects_a_wrong_death, sqlite_fixture) {
  // A row whose `dies_us` was changed behind the engine's back would hide a delete from the
  // collector (or show it a live record): the check finds it and sets it from the record.
  record deleted;
  deleted.context.entries = {dot{9, 1}};
  deleted.siblings = {make_tombstone(9, 1, 1000)};
  ACTORKV_REQUIRE_OK(store().put(0, to_bytes("deleted"), deleted));
  ACTORKV_REQUIRE_OK(store().put(0, to_bytes("live"), value_record(to_bytes("v"))));
  {
    raw_db raw{path()};
    raw.exec("UPDATE records SET dies_us = NULL WHERE key = x'64656c65746564';"
             "UPDATE records SET dies_us = 5 WHERE key = x'6c697665'");
  }
  auto dead = [&] {
    std::vector<bytes> out;
    ACTORKV_REQUIRE_OK(store().for_each_dead(0, std::nullopt, 2000,
                                             [&](const bytes& key, caf::expected<record>&&) {
                                               out.push_back(key);
                                               return true;
                                             }));
    return out;
  };
  BOOST_CHECK(dead() == std::vector<bytes>{to_bytes("live")}); // reported, as the row says
  check_control control;
  auto report = store().integrity_check()(control);
  BOOST_REQUIRE(!report.damage && !report.failure);
  BOOST_CHECK_EQUAL(report.suspects.size(), 2u);
  ACTORKV_REQUIRE_OK(store().check_done(report));
  BOOST_CHECK(dead() == std::vector<bytes>{to_bytes("deleted")});
}

BOOST_AUTO_TEST_CASE(a_file_made_without_incremental_vacuum_still_opens_and_serves) {
  temp_dir dir;
  auto path = dir.file("old.db");
  {
    auto opened = open_sqlite_engine(path, sync_mode::full);
    ACTORKV_REQUIRE_OK(opened);
    ACTORKV_REQUIRE_OK((*opened)->put(0, to_bytes("k"), sample_record()));
  }
  {
    // What a file from an earlier build looks like: auto_vacuum NONE.
    raw_db raw{path};
    raw.exec("PRAGMA auto_vacuum=NONE");
    raw.exec("VACUUM");
    BOOST_REQUIRE_EQUAL(raw.text("PRAGMA auto_vacuum"), "0");
  }
  auto opened = open_sqlite_engine(path, sync_mode::full);
  ACTORKV_REQUIRE_OK(opened);
  auto got = (*opened)->get(0, to_bytes("k"));
  ACTORKV_REQUIRE_OK(got);
  BOOST_CHECK(*got);
  ACTORKV_REQUIRE_OK((*opened)->erase(0, to_bytes("k")));
  opened->reset();
  raw_db raw{path};
  BOOST_CHECK_EQUAL(raw.text("PRAGMA auto_vacuum"), "0"); // left as it was
}

BOOST_FIXTURE_TEST_CASE(a_backup_copies_a_snapshot_while_writes_go_on, sqlite_fixture) {
  auto& e = store();
  ACTORKV_REQUIRE_OK(e.set_meta("replica_id", "7"));
  ACTORKV_REQUIRE_OK(e.begin());
  for (int i = 0; i < 3000; ++i)
    ACTORKV_REQUIRE_OK(e.put(static_cast<partition_id>(i % 16), to_bytes("k" + std::to_string(i)),
                             value_record(pseudo_random_bytes(200, i))));
  ACTORKV_REQUIRE_OK(e.commit());
  temp_dir out;
  auto dest = out.file("copy.db");
  backup_control control;
  caf::expected<backup_result> done = caf::make_error(ec::storage_failure, "not run");
  std::thread copying{[&] { done = e.backup(dest, "backup of test")(control); }};
  // The engine's own writes go on, batch after batch, while the copy is made.
  for (int b = 0; b < 20; ++b) {
    ACTORKV_REQUIRE_OK(e.begin());
    for (int i = 0; i < 50; ++i)
      ACTORKV_REQUIRE_OK(e.put(0, to_bytes("w" + std::to_string(b * 50 + i)), sample_record()));
    ACTORKV_REQUIRE_OK(e.commit());
  }
  copying.join();
  ACTORKV_REQUIRE_OK(done);
  BOOST_TEST(done->pages > 0u);
  BOOST_TEST(control.pages_done.load() == control.pages_total.load());
  BOOST_TEST(done->bytes == std::filesystem::file_size(dest));
  BOOST_TEST(!std::filesystem::exists(dest + ".partial"));
  auto copy = open_sqlite_engine(dest, sync_mode::full);
  ACTORKV_REQUIRE_OK(copy);
  // Every record written before the backup began, intact; the marker; and a check owed (the
  // copy was taken of an open store).
  for (int i = 0; i < 3000; ++i) {
    auto rec = (*copy)->get(static_cast<partition_id>(i % 16), to_bytes("k" + std::to_string(i)));
    ACTORKV_REQUIRE_OK(rec);
    BOOST_REQUIRE(rec->has_value());
  }
  auto marker = (*copy)->get_meta("backup");
  ACTORKV_REQUIRE_OK(marker);
  BOOST_TEST((*marker == std::optional<std::string>{"backup of test"}));
  BOOST_TEST((*copy)->check_owed());
  auto replica = (*copy)->get_meta("replica_id");
  ACTORKV_REQUIRE_OK(replica);
  BOOST_TEST((*replica == std::optional<std::string>{"7"}));
}

BOOST_FIXTURE_TEST_CASE(a_backup_refuses_unusable_paths_with_clear_errors, sqlite_fixture) {
  auto& e = store();
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("k"), sample_record()));
  temp_dir out;
  backup_control control;
  auto taken = out.file("taken.db");
  std::ofstream{taken} << "something";
  auto exists = e.backup(taken, "m")(control);
  BOOST_REQUIRE(!exists);
  ACTORKV_CHECK_EC(exists.error(), ec::bad_request);
  BOOST_CHECK_MESSAGE(mentions(exists.error(), taken + " exists"), describe(exists.error()));
  auto relative = e.backup("copy.db", "m")(control);
  BOOST_REQUIRE(!relative);
  BOOST_CHECK_MESSAGE(mentions(relative.error(), "not an absolute path"),
                      describe(relative.error()));
  auto missing = e.backup(out.file("no-dir/copy.db"), "m")(control);
  BOOST_REQUIRE(!missing);
  BOOST_CHECK_MESSAGE(mentions(missing.error(), "does not exist"), describe(missing.error()));
  BOOST_TEST(!std::filesystem::exists(out.file("copy.db")));
}

BOOST_FIXTURE_TEST_CASE(a_backup_onto_a_full_disk_fails_and_leaves_no_file, full_disk_fixture) {
  auto& e = db.store();
  ACTORKV_REQUIRE_OK(e.begin());
  for (int i = 0; i < 500; ++i)
    ACTORKV_REQUIRE_OK(e.put(0, to_bytes("k" + std::to_string(i)), sample_record()));
  ACTORKV_REQUIRE_OK(e.commit());
  temp_dir out;
  auto dest = out.file("copy.db");
  backup_control control;
  full_disk_vfs::full = true;
  auto done = e.backup(dest, "m")(control);
  full_disk_vfs::full = false;
  BOOST_REQUIRE(!done);
  ACTORKV_CHECK_EC(done.error(), ec::storage_failure);
  BOOST_TEST_MESSAGE("a backup onto a full disk reads: " << describe(done.error()));
  BOOST_CHECK_MESSAGE(mentions(done.error(), "full") && mentions(done.error(), dest),
                      describe(done.error()));
  BOOST_TEST(!std::filesystem::exists(dest));
  BOOST_TEST(!std::filesystem::exists(dest + ".partial"));
  // The store itself is untouched and still takes writes.
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("after"), sample_record()));
}

namespace {

/// Every key the reader scans in partition `p`, from the first.
std::vector<bytes> reader_keys(reader& r, partition_id p) {
  std::vector<bytes> out;
  auto err = r.for_each(p, std::nullopt, [&](const bytes& key, caf::expected<record>&&) {
    out.push_back(key);
    return true;
  });
  BOOST_CHECK_MESSAGE(!err, describe(err));
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(a_reader_sees_committed_writes_and_none_of_an_open_batch, sqlite_fixture) {
  ACTORKV_REQUIRE_OK(store().put(1, to_bytes("before"), value_record(to_bytes("v0"))));
  auto opened = store().open_reader();
  ACTORKV_REQUIRE_OK(opened);
  BOOST_REQUIRE(*opened != nullptr);
  auto& r = **opened;
  auto got = r.get(1, to_bytes("before"));
  ACTORKV_REQUIRE_OK(got);
  BOOST_REQUIRE(got->has_value());
  BOOST_CHECK(**got == value_record(to_bytes("v0")));

  // A batch open on the writer: its writes are invisible to the reader, which does not wait.
  ACTORKV_REQUIRE_OK(store().begin());
  ACTORKV_REQUIRE_OK(store().put(1, to_bytes("open"), value_record(to_bytes("v1"))));
  ACTORKV_REQUIRE_OK(store().put(1, to_bytes("before"), value_record(to_bytes("v2"), 2)));
  ACTORKV_REQUIRE_OK(store().erase(1, to_bytes("before")));
  ACTORKV_REQUIRE_OK(store().add_hint("n2", 1, to_bytes("h"), value_record(to_bytes("hv"))));
  auto started = std::chrono::steady_clock::now();
  got = r.get(1, to_bytes("open"));
  ACTORKV_REQUIRE_OK(got);
  BOOST_CHECK(!got->has_value());
  got = r.get(1, to_bytes("before"));
  ACTORKV_REQUIRE_OK(got);
  BOOST_REQUIRE(got->has_value());
  BOOST_CHECK(**got == value_record(to_bytes("v0")));
  BOOST_CHECK(reader_keys(r, 1) == std::vector<bytes>{to_bytes("before")});
  auto leaf = merkle_tree::leaf_of(to_bytes("open"), tree_leaf_bits);
  auto listed = r.leaf_keys(1, {leaf});
  ACTORKV_REQUIRE_OK(listed);
  for (auto& kd : *listed)
    BOOST_CHECK(kd.key != to_bytes("open"));
  std::vector<uint64_t> corrupt;
  auto hints = r.hints_for("n2", 10, corrupt);
  ACTORKV_REQUIRE_OK(hints);
  BOOST_CHECK(hints->empty());
  // Well under the busy timeout: a WAL reader never waits for the writer's lock.
  BOOST_CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));

  // Committed: every later read sees the batch.
  ACTORKV_REQUIRE_OK(store().commit());
  got = r.get(1, to_bytes("open"));
  ACTORKV_REQUIRE_OK(got);
  BOOST_REQUIRE(got->has_value());
  BOOST_CHECK(**got == value_record(to_bytes("v1")));
  got = r.get(1, to_bytes("before"));
  ACTORKV_REQUIRE_OK(got);
  BOOST_CHECK(!got->has_value());
  BOOST_CHECK(reader_keys(r, 1) == std::vector<bytes>{to_bytes("open")});
  listed = r.leaf_keys(1, {leaf});
  ACTORKV_REQUIRE_OK(listed);
  BOOST_REQUIRE_EQUAL(listed->size(), 1u);
  BOOST_CHECK(listed->at(0).key == to_bytes("open"));
  hints = r.hints_for("n2", 10, corrupt);
  ACTORKV_REQUIRE_OK(hints);
  BOOST_REQUIRE_EQUAL(hints->size(), 1u);
  BOOST_CHECK(hints->at(0).rec == value_record(to_bytes("hv")));

  // A rolled-back batch never shows.
  ACTORKV_REQUIRE_OK(store().begin());
  ACTORKV_REQUIRE_OK(store().put(1, to_bytes("undone"), value_record(to_bytes("v3"))));
  store().rollback();
  got = r.get(1, to_bytes("undone"));
  ACTORKV_REQUIRE_OK(got);
  BOOST_CHECK(!got->has_value());
}

BOOST_FIXTURE_TEST_CASE(a_reader_reports_corrupt_hints_and_deletes_nothing, sqlite_fixture) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto id = store().add_hint("n2", 1, to_bytes("k" + std::to_string(i)),
                               value_record(to_bytes("v"), i + 1));
    ACTORKV_REQUIRE_OK(id);
    ids.push_back(*id);
  }
  {
    raw_db raw{path()};
    raw.set_hint_value(ids[1], bytes{1, 0, 0}); // truncated
  }
  auto opened = store().open_reader();
  ACTORKV_REQUIRE_OK(opened);
  auto& r = **opened;
  std::vector<uint64_t> corrupt;
  auto held = r.hints_for("n2", 2, corrupt);
  ACTORKV_REQUIRE_OK(held);
  BOOST_REQUIRE_EQUAL(held->size(), 2u);
  BOOST_CHECK_EQUAL(held->at(0).id, ids[0]);
  BOOST_CHECK_EQUAL(held->at(1).id, ids[2]);
  BOOST_CHECK(corrupt == std::vector<uint64_t>{ids[1]});
  // Still held: only the owner deletes.
  auto counts = store().hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"n2", 3}}));
}

BOOST_FIXTURE_TEST_CASE(a_reader_on_its_own_thread_reads_while_the_writer_commits, sqlite_fixture) {
  auto opened = store().open_reader();
  ACTORKV_REQUIRE_OK(opened);
  std::shared_ptr<reader> r = std::move(*opened);
  // The writer commits batches of 10 keys; the reader, concurrently, must only ever see whole
  // batches (a multiple of 10 keys), and in the end all of them.
  std::atomic<bool> done{false};
  std::atomic<int> odd{0};
  std::atomic<int> scans{0};
  std::thread reading{[&] {
    while (!done) {
      auto n = reader_keys(*r, 4).size();
      if (n % 10 != 0)
        ++odd;
      ++scans;
    }
  }};
  for (int b = 0; b < 50; ++b) {
    ACTORKV_REQUIRE_OK(store().begin());
    for (int i = 0; i < 10; ++i)
      ACTORKV_REQUIRE_OK(
          store().put(4, to_bytes("k" + std::to_string(b * 10 + i)), value_record(to_bytes("v"))));
    ACTORKV_REQUIRE_OK(store().commit());
  }
  done = true;
  reading.join();
  BOOST_CHECK_EQUAL(odd.load(), 0);
  BOOST_CHECK_GT(scans.load(), 0);
  BOOST_CHECK_EQUAL(reader_keys(*r, 4).size(), 500u);
  // The reader may outlive the engine.
  close();
  BOOST_CHECK_EQUAL(reader_keys(*r, 4).size(), 500u);
}

BOOST_AUTO_TEST_CASE(the_memory_engine_has_no_reader) {
  auto engine = make_memory_engine();
  auto r = engine->open_reader();
  ACTORKV_REQUIRE_OK(r);
  BOOST_CHECK(*r == nullptr);
}

BOOST_AUTO_TEST_CASE(background_threads_lower_their_priority_below_the_process) {
  // The engine's checkpointer and the storage reader call this on their own threads: requests'
  // threads keep the process's nice value, background ones get 10 more, never past 19.
  auto nice_after = [](int start) {
    int seen = -100;
    std::thread t([&] {
      auto tid = static_cast<id_t>(syscall(SYS_gettid));
      setpriority(PRIO_PROCESS, tid, start);
      storage::lower_thread_priority();
      seen = getpriority(PRIO_PROCESS, tid);
    });
    t.join();
    return seen;
  };
  auto process = getpriority(PRIO_PROCESS, 0);
  BOOST_TEST(nice_after(process) == std::min(process + 10, 19));
  BOOST_TEST(nice_after(15) == 19);
  BOOST_TEST(getpriority(PRIO_PROCESS, 0) == process); // the calling thread kept its own
}

BOOST_AUTO_TEST_SUITE_END()
