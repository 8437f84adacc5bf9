// kvbench-storage: what one replica's storage work costs, without nodes, network or actors.
//
//   kvbench-storage --dir DIR [--workload a|c|w] [--keys N] [--duration SECONDS] ...
//
// Drives the SQLite engine (storage/engine.hpp) the way a node's storage actor does for the
// replica that coordinates a put: read the key's record, apply the client's write to it
// (dvv::update), store it, `--batch` operations per commit; gets read through a reader of their
// own, as a node's do. Prints the rate, the CPU per operation (the calling thread and the
// engine's own threads) and the bytes the process wrote to the disk per operation, so storage
// changes can be compared in seconds, away from the 10-30% noise of a whole cluster on shared
// cores (BENCHMARKS.md). Bad arguments: one line on stderr, exit 2; a store that cannot be
// opened or written: exit 1.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>

#include "cluster-config/ring.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "storage/engine.hpp"
#include "tools/kvbench/arguments.hpp"
#include "tools/kvbench/workload.hpp"
#include "tools/version.hpp"

namespace {

using namespace actorkv;
using bench::parse_count;
using bench::parse_distribution;
using bench::parse_seconds;
using bench::usage_error;

constexpr const char* usage = R"(usage: kvbench-storage --dir DIR [options]

What one replica's storage work costs, without nodes, network or actors: the SQLite engine is
driven as a node's storage actor drives it for the replica that coordinates a put (read the
record, apply the write, store it; --batch operations per commit), and gets read through a
reader of their own. A new store is first loaded with every key (progress on stderr every 5 s,
then the load's rate); a store that holds records already is used as it is. Prints the rate,
the CPU per operation and the bytes written to the disk per operation.

options:
  --dir DIR              the store's directory (created when missing; the database is
                         DIR/actorkv.db, as a node's)
  --workload a|c|w       a: 50% get 50% update, c: get only, w: update only (default w)
  --keys N               key space: user0000000000 .. user<N-1>, as kvbench's (default 100000)
  --distribution D       uniform | zipfian (YCSB's scrambled zipfian, 0.99; default zipfian)
  --value-size BYTES     bytes per written value, random (default 100)
  --batch N              operations per commit (default 32: a clump of kvbench's 32 in flight)
  --duration SECONDS     measure this long (default 10)
  --warmup SECONDS       run the workload this long before measuring (default 2)
  --cache-mib MIB        SQLite's page cache ([storage] cache_mib; default 64)
  --sync full|normal|off ([storage] sync; default normal)
  --partitions Q         ring partitions the keys are placed in (default 256)
  --seed N               random seed (default 1)
  --help                 this text
  --version              the release of actorkv this program belongs to

CPU per operation is the process's (the engine's checkpoint thread included), split into the
thread that drives the engine and the rest. Bytes written are /proc/self/io's write_bytes:
what reached the block layer in the measured time, so writes still in the page cache at the
end are not counted.
)";

enum class workload { a, c, w };

struct options {
  std::string dir;
  workload kind = workload::w;
  uint64_t keys = 100000;
  bench::distribution_kind distribution = bench::distribution_kind::zipfian;
  size_t value_size = 100;
  uint32_t batch = 32;
  double duration = 10;
  double warmup = 2;
  uint32_t cache_mib = 64;
  storage::sync_mode sync = storage::sync_mode::normal;
  uint32_t partitions = 256;
  uint64_t seed = 1;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    if (i + 1 >= argc)
      throw usage_error{arg.rfind("--", 0) == 0 ? arg + " needs a value"
                                                : "unknown argument '" + arg + "'"};
    std::string v = argv[++i];
    if (arg == "--dir") {
      o.dir = v;
    } else if (arg == "--workload") {
      if (v == "a")
        o.kind = workload::a;
      else if (v == "c")
        o.kind = workload::c;
      else if (v == "w")
        o.kind = workload::w;
      else
        throw usage_error{"--workload needs a, c or w, got '" + v + "'"};
    } else if (arg == "--keys") {
      o.keys = parse_count(arg, v, 1, uint64_t{1} << 40);
    } else if (arg == "--distribution") {
      o.distribution = parse_distribution(v);
    } else if (arg == "--value-size") {
      o.value_size = parse_count(arg, v, 0, 64 << 20);
    } else if (arg == "--batch") {
      o.batch = static_cast<uint32_t>(parse_count(arg, v, 1, 100000));
    } else if (arg == "--duration") {
      o.duration = parse_seconds(arg, v, 0);
    } else if (arg == "--warmup") {
      o.warmup = parse_seconds(arg, v, 0);
    } else if (arg == "--cache-mib") {
      o.cache_mib = static_cast<uint32_t>(parse_count(arg, v, 1, 1 << 20));
    } else if (arg == "--sync") {
      if (v == "full")
        o.sync = storage::sync_mode::full;
      else if (v == "normal")
        o.sync = storage::sync_mode::normal;
      else if (v == "off")
        o.sync = storage::sync_mode::off;
      else
        throw usage_error{"--sync needs full, normal or off, got '" + v + "'"};
    } else if (arg == "--partitions") {
      o.partitions = static_cast<uint32_t>(parse_count(arg, v, 1, 65536));
    } else if (arg == "--seed") {
      o.seed = parse_count(arg, v, 0, UINT64_MAX);
    } else {
      throw usage_error{"unknown option '" + arg + "' (--help lists them)"};
    }
  }
  if (o.dir.empty())
    throw usage_error{"--dir DIR is required: the store's directory"};
  return o;
}

double cpu_seconds(clockid_t which) {
  timespec ts{};
  clock_gettime(which, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

/// Bytes this process caused to be written to the block layer so far (0 when unknown).
uint64_t bytes_written() {
  std::ifstream io{"/proc/self/io"};
  std::string name;
  uint64_t value = 0;
  while (io >> name >> value)
    if (name == "write_bytes:")
      return value;
  return 0;
}

/// Where the process stands: wall clock, CPU of this thread and of all, bytes written.
struct sample {
  std::chrono::steady_clock::time_point at = std::chrono::steady_clock::now();
  double thread_cpu = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
  double process_cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  uint64_t written = bytes_written();
};

/// One line: `count` of `unit` (singular) between the two samples, and what each cost.
void report(const std::string& what, const std::string& unit, uint64_t count, const sample& from,
            const sample& to) {
  double wall = std::chrono::duration<double>(to.at - from.at).count();
  double n = count == 0 ? 1 : static_cast<double>(count);
  double mine = (to.thread_cpu - from.thread_cpu) / n * 1e6;
  double rest = (to.process_cpu - from.process_cpu) / n * 1e6 - mine;
  std::printf("%s: %llu %ss in %.1f s = %.0f %ss/s; CPU per %s %.2f us (this thread %.2f, the "
              "engine's threads %.2f); %.0f bytes written per %s\n",
              what.c_str(), static_cast<unsigned long long>(count), unit.c_str(), wall,
              wall > 0 ? static_cast<double>(count) / wall : 0.0, unit.c_str(), unit.c_str(),
              mine + rest, mine, rest, static_cast<double>(to.written - from.written) / n,
              unit.c_str());
  std::fflush(stdout);
}

[[noreturn]] void fail(const std::string& what, const caf::error& err) {
  std::cerr << "kvbench-storage: " << what << ": " << describe(err) << "\n";
  std::exit(1);
}

/// The replica id the coordinated writes are stamped with (any fixed nonzero id).
constexpr replica_id bench_replica = 0x6b7662656e6368ULL;

class bench_run {
public:
  bench_run(const options& o, storage::engine& engine, storage::reader& reader)
      : o_(o), engine_(engine), reader_(reader), chooser_(o.distribution, o.keys), rng_(o.seed),
        value_(o.value_size) {}

  /// Inserts every key once, 1,000 per commit, with a progress line on stderr every 5 s.
  void load() {
    sample from;
    auto shown = from.at;
    for (uint64_t i = 0; i < o_.keys;) {
      begin();
      for (int n = 0; n < 1000 && i < o_.keys; ++n, ++i)
        write(bench::key_name(i), std::nullopt);
      commit();
      if (auto now = std::chrono::steady_clock::now(); now - shown >= std::chrono::seconds(5)) {
        shown = now;
        std::fprintf(stderr, "kvbench-storage: loaded %llu of %llu records\n",
                     static_cast<unsigned long long>(i), static_cast<unsigned long long>(o_.keys));
      }
    }
    report("load", "record", o_.keys, from, sample{});
  }

  /// Runs batches of the workload until `duration` passed; the count of operations.
  uint64_t run(double duration) {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(duration);
    std::bernoulli_distribution is_read{o_.kind == workload::c   ? 1.0
                                        : o_.kind == workload::a ? 0.5
                                                                 : 0.0};
    uint64_t ops = 0;
    while (std::chrono::steady_clock::now() < end) {
      bool open = false;
      for (uint32_t n = 0; n < o_.batch; ++n, ++ops) {
        auto key = bench::key_name(chooser_.next(rng_));
        if (is_read(rng_)) {
          auto b = to_bytes(key);
          if (auto rec = reader_.get(partition_of(b, o_.partitions), b); !rec)
            fail("a get", rec.error());
          continue;
        }
        if (!open) {
          begin();
          open = true;
        }
        auto b = to_bytes(key);
        auto current = engine_.get(partition_of(b, o_.partitions), b);
        if (!current)
          fail("a get before a put", current.error());
        write(key, *current);
      }
      if (open)
        commit();
    }
    return ops;
  }

private:
  static bytes to_bytes(const std::string& s) { return bytes(s.begin(), s.end()); }

  void begin() {
    if (auto err = engine_.begin())
      fail("beginning a batch", err);
  }

  void commit() {
    if (auto err = engine_.commit())
      fail("committing a batch", err);
  }

  /// A blind put (no client context), as kvbench's updates, coordinated here under lww.
  void write(const std::string& key, const std::optional<record>& current) {
    // Eight random bytes per draw: a draw per byte cost about 1 us of every update.
    for (size_t i = 0; i < value_.size(); i += 8) {
      auto bits = rng_();
      std::memcpy(value_.data() + i, &bits, std::min<size_t>(8, value_.size() - i));
    }
    auto b = to_bytes(key);
    auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    auto rec = dvv::update(current ? *current : record{}, version_vector{}, value_, bench_replica,
                           now_us, conflict_mode::lww);
    if (auto err = engine_.put(partition_of(b, o_.partitions), b, rec))
      fail("a put", err);
  }

  const options& o_;
  storage::engine& engine_;
  storage::reader& reader_;
  bench::key_chooser chooser_;
  std::mt19937_64 rng_;
  bytes value_;
};

} // namespace

int main(int argc, char** argv) {
  if (actorkv::print_version_if_asked(argc, argv, "kvbench-storage"))
    return 0;
  options o;
  try {
    o = parse(argc, argv);
  } catch (const usage_error& e) {
    std::cerr << "kvbench-storage: " << e.message << "\n";
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) {
    std::cerr << "kvbench-storage: cannot create " << o.dir << ": " << ec.message() << "\n";
    return 1;
  }
  auto engine = storage::open_sqlite_engine(o.dir + "/actorkv.db", o.sync, o.cache_mib);
  if (!engine)
    fail("opening " + o.dir + "/actorkv.db", engine.error());
  uint64_t held = 0;
  for (uint32_t p = 0; p < o.partitions; ++p) {
    auto n = (*engine)->count(p);
    if (!n)
      fail("counting the store's records", n.error());
    held += *n;
  }
  auto reader = (*engine)->open_reader();
  if (!reader)
    fail("opening a reader", reader.error());
  if (!*reader) {
    std::cerr << "kvbench-storage: the engine has no reader\n";
    return 1;
  }
  bench_run run{o, **engine, **reader};
  if (held == 0)
    run.load();
  else
    std::printf("store: %s holds %llu records already (not loaded again)\n", o.dir.c_str(),
                static_cast<unsigned long long>(held));
  run.run(o.warmup);
  sample from;
  auto ops = run.run(o.duration);
  const char* name = o.kind == workload::a ? "a" : o.kind == workload::c ? "c" : "w";
  report(std::string{"workload "} + name + " (" + std::to_string(o.batch) + " per batch)",
         "operation", ops, from, sample{});
  reader->reset(); // the reader closes before the engine: the last connection checkpoints
  return 0;
}
