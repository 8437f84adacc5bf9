// kvbench: a YCSB-style load generator for actorkv, built on the client actor.
//
//   kvbench [--connect HOST:PORT[,...]] [--workload a|b|c|w|rmw] [--keys N] [--load] ...
//
// Keeps --clients requests in flight (closed loop: each slot sends its next operation when the
// previous one was answered) through --client-actors client actors, shows a progress line on
// stderr and ends with a table per phase on stdout (and --json FILE). Bad arguments: one line on
// stderr, exit 2; an unreachable cluster: exit 1.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/client/client.hpp"
#include "actors/client/tls.hpp"
#include "messages/register_types.hpp"
#include "tools/kvbench/arguments.hpp"
#include "tools/kvbench/driver.hpp"
#include "tools/version.hpp"

namespace {

using namespace actorkv::bench;

constexpr const char* usage = R"(usage: kvbench [--connect HOST:PORT[,HOST:PORT...]] [options]

A YCSB-style load generator for an actorkv cluster. Keeps --clients requests in flight (each
slot sends its next operation as soon as the previous one is answered), prints a progress line
on stderr and a table of throughput and latency percentiles per operation on stdout.

options:
  --connect LIST         nodes, comma-separated (default 127.0.0.1:7101); client actor i
                         connects first to node i mod the list's length, and asks the
                         others what that node cannot serve
  --ca FILE --cert FILE --key FILE
                         TLS: the cluster CA, a write (or admin) client certificate and its
                         key (defaults: $ACTORKV_CA, $ACTORKV_CERT, $ACTORKV_KEY; without them
                         plaintext, for clusters with [tls] enabled = false). Over TLS, a
                         reply announcing more than $ACTORKV_MAX_FRAME_BYTES (default 256 MiB)
                         drops the connection before it is read
  --workload a|b|c|w|rmw a: 50% read 50% update, b: 95/5, c: read only, w: update only;
                         rmw: read-modify-write cycles (a get, then a put with its context),
                         reported as rmw ops (cycles) with the values per read (siblings)
                         (default a)
  --keys N               key space: user0000000000 .. user<N-1> (default 100000)
  --distribution D       uniform | zipfian (YCSB's scrambled zipfian, 0.99; default zipfian)
  --value-size BYTES     bytes per written value (default 100)
  --clients N            requests in flight (default 32)
  --client-actors N      client actors sharing them, 1..clients (default 1)
  --ops N                measure N operations after the warm-up
  --duration SECONDS     or measure this long after the warm-up (default 30)
  --warmup SECONDS       run the mix this long before measuring (default 5)
  --load                 first insert every key once (its own table), then run the workload
  --delete-all           after the workload, delete every key once (its own table); each
                         delete reads the key and deletes what it read
  --timeout MS           bound on each request (default 10000)
  --threads N            CAF scheduler threads of this process (default 1)
  --scheduler P          sharing | stealing: CAF's scheduler policy here (default sharing:
                         idle stealing workers poll, which takes CPU from the nodes)
  --seed N               random seed (default: drawn, and printed in the report)
  --json FILE            also write the report as JSON to FILE
  --help                 this text
  --version              the release of actorkv this program belongs to

Updates are puts without context: run them against a cluster whose conflicts = "lww", or each
update adds a sibling (see BENCHMARKS.md). Reads of keys never written count as "not found".
)";

/// Default number of client actors. One client actor (so one coordinating node) measured the
/// same throughput as 3, 4, 8 or 32 of them with about half the p99 latency, and the least CPU in
/// kvbench itself (BENCHMARKS.md, "Choosing kvbench's defaults").
constexpr size_t default_client_actors = 1;

struct options {
  std::string connect = "127.0.0.1:7101";
  actorkv::tls_files tls = actorkv::tls_files_from_environment();
  workload_kind workload = workload_kind::a;
  distribution_kind distribution = distribution_kind::zipfian;
  uint64_t keys = 100000;
  uint64_t value_size = 100;
  uint64_t clients = 32;
  uint64_t client_actors = 0; ///< 0: the default, capped at clients
  uint64_t ops = 0;
  double duration = 30;
  double warmup = 5;
  bool duration_given = false;
  bool load = false;
  bool delete_all = false;
  uint64_t timeout_ms = 10000;
  uint64_t threads = 1;
  bool sharing = true; ///< CAF's work-sharing scheduler instead of work stealing
  uint64_t seed = 0;
  bool seed_given = false;
  std::string json;
};

options parse_args(int argc, char** argv, bool& help) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        throw usage_error{arg + " needs a value (see --help)"};
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      help = true;
      return o;
    } else if (arg == "--connect") {
      o.connect = value();
    } else if (arg == "--ca") {
      o.tls.ca = value();
    } else if (arg == "--cert") {
      o.tls.cert = value();
    } else if (arg == "--key") {
      o.tls.key = value();
    } else if (arg == "--workload") {
      auto v = value();
      if (v == "a")
        o.workload = workload_kind::a;
      else if (v == "b")
        o.workload = workload_kind::b;
      else if (v == "c")
        o.workload = workload_kind::c;
      else if (v == "w")
        o.workload = workload_kind::w;
      else if (v == "rmw")
        o.workload = workload_kind::rmw;
      else
        throw usage_error{"--workload needs a, b, c, w or rmw, got '" + v + "'"};
    } else if (arg == "--distribution") {
      o.distribution = parse_distribution(value());
    } else if (arg == "--keys") {
      o.keys = parse_count(arg, value(), 1, 10000000000ULL);
    } else if (arg == "--value-size") {
      o.value_size = parse_count(arg, value(), 1, 64 << 20);
    } else if (arg == "--clients") {
      o.clients = parse_count(arg, value(), 1, 100000);
    } else if (arg == "--client-actors") {
      o.client_actors = parse_count(arg, value(), 1, 100000);
    } else if (arg == "--ops") {
      o.ops = parse_count(arg, value(), 1, UINT64_MAX / 2);
    } else if (arg == "--duration") {
      o.duration = parse_seconds(arg, value(), 1);
      o.duration_given = true;
    } else if (arg == "--warmup") {
      o.warmup = parse_seconds(arg, value(), 0);
    } else if (arg == "--load") {
      o.load = true;
    } else if (arg == "--delete-all") {
      o.delete_all = true;
    } else if (arg == "--timeout") {
      o.timeout_ms = parse_count(arg, value(), 1, 3600000);
    } else if (arg == "--threads") {
      o.threads = parse_count(arg, value(), 1, 64);
    } else if (arg == "--scheduler") {
      auto v = value();
      if (v != "sharing" && v != "stealing")
        throw usage_error{"--scheduler needs sharing or stealing, got '" + v + "'"};
      o.sharing = v == "sharing";
    } else if (arg == "--seed") {
      o.seed = parse_count(arg, value(), 0, UINT64_MAX);
      o.seed_given = true;
    } else if (arg == "--json") {
      o.json = value();
    } else {
      throw usage_error{"unknown argument '" + arg + "' (see --help)"};
    }
  }
  if (o.ops > 0 && o.duration_given)
    throw usage_error{"--ops and --duration exclude each other"};
  if (o.client_actors == 0)
    o.client_actors = std::min<uint64_t>(default_client_actors, o.clients);
  if (o.client_actors > o.clients)
    throw usage_error{"--client-actors (" + std::to_string(o.client_actors) +
                      ") cannot exceed --clients (" + std::to_string(o.clients) + ")"};
  return o;
}

/// The progress line on stderr: redrawn in place each second on a terminal, otherwise one
/// line every five seconds so that logs stay readable.
class progress {
public:
  progress() : tty_(isatty(STDERR_FILENO) != 0) {}

  void begin(const char* phase) {
    phase_ = phase;
    start_ = last_ = clock_type::now();
    last_answered_ = 0;
  }

  /// Called often; prints when the interval has passed.
  void tick(const control& ctl) {
    auto now = clock_type::now();
    auto since = std::chrono::duration<double>(now - last_).count();
    if (since < (tty_ ? 1.0 : 5.0))
      return;
    auto answered = ctl.answered.load();
    auto rate = static_cast<double>(answered - last_answered_) / since;
    auto elapsed = std::chrono::duration<double>(now - start_).count();
    char line[200];
    std::snprintf(line, sizeof(line),
                  "kvbench: %s %3.0f s: %8.0f ops/s, %llu answered, %llu errors", phase_, elapsed,
                  rate, static_cast<unsigned long long>(answered),
                  static_cast<unsigned long long>(ctl.failed.load()));
    if (tty_)
      std::cerr << "\r\033[K" << line << std::flush;
    else
      std::cerr << line << std::endl;
    last_ = now;
    last_answered_ = answered;
  }

  /// Clears the redrawn line, so that what follows starts on a clean line.
  void end() {
    if (tty_)
      std::cerr << "\r\033[K" << std::flush;
  }

  void set_phase(const char* phase) { phase_ = phase; }

private:
  bool tty_;
  const char* phase_ = "";
  clock_type::time_point start_, last_;
  uint64_t last_answered_ = 0;
};

/// CPU time this process used so far (user and system), in seconds.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

/// Runs one phase to its end and merges what the workers measured.
phase_result run_phase(worker_pool& pool, control& ctl, const options& o, phase_kind phase,
                       progress& prog) {
  using seconds = std::chrono::duration<double>;
  // Every key once: no warm-up, no duration; the phase ends with the last key.
  bool load = phase != phase_kind::mix;
  ctl.reset(load ? 0 : o.ops);
  auto begin = clock_type::now();
  auto cpu_begin = cpu_seconds();
  clock_type::time_point window_start, window_end;
  bool warm = load || o.warmup <= 0;
  if (warm) {
    window_start = begin;
    ctl.measuring = true;
  }
  prog.begin(phase == phase_kind::insert_all   ? "load"
             : phase == phase_kind::delete_all ? "delete"
             : warm                            ? "run"
                                               : "warm-up");
  pool.start(phase);
  // The main thread is no actor: polling these atomics is how it follows the phase.
  while (ctl.finished.load(std::memory_order_acquire) < pool.size()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto now = clock_type::now();
    if (!warm && seconds(now - begin).count() >= o.warmup) {
      window_start = now;
      ctl.measuring = true;
      warm = true;
      prog.set_phase("run");
    }
    if (warm && !load && o.ops == 0 && !ctl.stopping &&
        seconds(now - window_start).count() >= o.duration) {
      ctl.measuring = false;
      window_end = now;
      ctl.stopping = true;
    }
    prog.tick(ctl);
  }
  prog.end();
  phase_result total;
  for (size_t i = 0; i < pool.size(); ++i) {
    total.merge(pool.output(i).result);
    if (load)
      window_end = std::max(window_end, pool.output(i).finished_at);
  }
  if (!load && o.ops > 0)
    window_end = clock_type::time_point{clock_type::duration{ctl.limit_reached_ns.load()}};
  total.seconds = seconds(window_end - window_start).count();
  total.client_cores = (cpu_seconds() - cpu_begin) / seconds(clock_type::now() - begin).count();
  return total;
}

uint64_t drawn_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

} // namespace

int main(int argc, char** argv) {
  if (actorkv::print_version_if_asked(argc, argv, "kvbench"))
    return 0;
  options o;
  bool help = false;
  try {
    o = parse_args(argc, argv, help);
  } catch (const usage_error& e) {
    std::cerr << "kvbench: " << e.message << "\n";
    return 2;
  }
  if (help) {
    std::cout << usage;
    return 0;
  }
  auto endpoints = actorkv::parse_endpoints(o.connect);
  if (endpoints.empty()) {
    std::cerr << "kvbench: --connect needs HOST:PORT[,HOST:PORT...], got '" << o.connect << "'\n";
    return 2;
  }
  std::ofstream json;
  if (!o.json.empty()) {
    json.open(o.json);
    if (!json) {
      std::cerr << "kvbench: cannot write " << o.json << "\n";
      return 2;
    }
  }
  if (!o.seed_given)
    o.seed = drawn_seed();

  if (o.tls.any())
    if (auto problem = actorkv::check_tls_files(o.tls); !problem.empty()) {
      std::cerr << "kvbench: " << problem << "\n";
      return 2;
    }

  caf::actor_system_config cfg;
  actorkv::register_types(cfg);
  cfg.load<caf::io::middleman>();
  if (o.tls.any())
    actorkv::load_tls(cfg, o.tls);
  cfg.set("scheduler.max-threads", static_cast<size_t>(o.threads));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  if (o.sharing)
    cfg.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system sys{cfg};

  worker_config wc;
  wc.workload = o.workload;
  wc.distribution = o.distribution;
  wc.keys = o.keys;
  wc.value_size = o.value_size;
  wc.timeout = std::chrono::milliseconds{o.timeout_ms};
  control ctl;
  worker_pool pool{sys, endpoints, o.client_actors, o.clients, wc, ctl, o.seed};

  run_description d;
  d.endpoints = o.connect;
  d.workload = o.workload;
  d.distribution = o.distribution;
  d.keys = o.keys;
  d.value_size = o.value_size;
  d.clients = o.clients;
  d.client_actors = o.client_actors;
  d.ops = o.ops;
  d.duration = o.ops > 0 ? 0 : o.duration;
  d.warmup = o.warmup;
  d.seed = o.seed;
  d.threads = o.threads;
  d.scheduler = o.sharing ? "sharing" : "stealing";
  std::string error;
  if (!pool.probe(d.cluster, d.members, error)) {
    std::cerr << "kvbench: cannot reach the cluster at " << o.connect << ": " << error << "\n";
    return 1;
  }
  if (read_fraction(o.workload) < 1.0 && o.workload != workload_kind::rmw &&
      d.cluster.find("siblings") != std::string::npos)
    std::cerr << "kvbench: note: this cluster keeps siblings, and updates are puts without "
                 "context: each adds a sibling to its key (use conflicts = \"lww\" to measure "
                 "plain overwrites)\n";

  print_header(std::cout, d);
  std::vector<std::pair<std::string, phase_result>> phases;
  progress prog;
  if (o.load) {
    phases.emplace_back("load", run_phase(pool, ctl, o, phase_kind::insert_all, prog));
    print_table(std::cout, "load", phases.back().second);
    std::cout << std::flush;
  }
  phases.emplace_back("run", run_phase(pool, ctl, o, phase_kind::mix, prog));
  print_table(std::cout, std::string{"workload "} + workload_name(o.workload),
              phases.back().second);
  if (o.delete_all) {
    std::cout << std::flush;
    phases.emplace_back("delete", run_phase(pool, ctl, o, phase_kind::delete_all, prog));
    print_table(std::cout, "delete", phases.back().second);
  }
  if (!o.json.empty()) {
    write_json(json, d, phases);
    if (!json.flush()) {
      std::cerr << "kvbench: cannot write " << o.json << "\n";
      return 1;
    }
  }
  uint64_t succeeded = 0;
  for (auto& op : phases.back().second.ops)
    succeeded += op.ok;
  if (succeeded == 0) {
    std::cerr << "kvbench: no operation succeeded\n";
    return 1;
  }
  return 0;
}
