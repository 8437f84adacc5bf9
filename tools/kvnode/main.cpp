// kvnode: runs one actorkv node from a cluster manifest.
//
//   kvnode --manifest FILE --node NAME [--threads N]
//   kvnode --manifest FILE --node NAME --join SEED --listen HOST:PORT --data-dir DIR [--capacity C]
//
// Reads the manifest, opens (or creates) the node's data directory, refuses to start when the
// manifest's [store] settings differ from the instance's, publishes the node actor and serves on
// its host:port until SIGINT or SIGTERM, then shuts down cleanly. The host:port is the frame
// guard's (actors/guard/frame_guard.hpp), which forwards to CAF's own port on the same address.
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/remote_actor.hpp>

#include "tools/version.hpp"
#include "actors/client/client.hpp"
#include "actors/client/tls.hpp"
#include "actors/guard/frame_guard.hpp"
#include "actors/guard/link_activity.hpp"
#include "actors/http/console_files.hpp"
#include "actors/http/http_server.hpp"
#include "actors/node/event_log.hpp"
#include "actors/node/instance.hpp"
#include "actors/node/node.hpp"
#include "actors/node/permission.hpp"
#include "actors/node/storage_actor.hpp"
#include "actors/node/wall_clock.hpp"
#include "cluster-config/manifest.hpp"
#include "cluster-config/membership_view.hpp"
#include "cluster-config/metrics.hpp"
#include "messages/error.hpp"
#include "messages/register_types.hpp"
#include "storage/engine.hpp"

namespace {

constexpr const char* usage =
    R"(usage: kvnode --manifest FILE --node NAME [--threads N] [--scheduler P]
       kvnode --manifest FILE --node NAME --join SEED --listen HOST:PORT --data-dir DIR
              [--capacity C] [--zone Z] [--https-port P] [--threads N] [--scheduler P]
       kvnode ... [--log-level L] [--log-format F]
       kvnode --manifest FILE --node NAME --restore BACKUP   (the node stopped)
       kvnode --manifest FILE --list-nodes | --list-tls

Runs one actorkv node: reads the cluster manifest FILE, serves as its [[node]] entry NAME on that
entry's host:port, and stores data in the entry's data_dir. Stops cleanly on SIGINT or SIGTERM,
and by itself once it has left the cluster (kvsh: leave NAME).

A node that is not in the manifest joins a running cluster with --join: it takes the instance
settings from FILE, asks the running node SEED (HOST:PORT) for the cluster's membership, and
waits as "joining" until an admin admits it (kvsh: plan join HOST:PORT, then join HOST:PORT).
Restart it with the same command line. Every node keeps the membership in its data directory,
so after changes the manifest only seeds a new cluster.

options:
  --manifest FILE   the cluster manifest (TOML), e.g. cluster-config/local-3.toml
  --node NAME       which [[node]] of the manifest this process is, or a new node's name
  --join SEED       HOST:PORT of any running member (for a node not in the manifest)
  --listen H:P      where the joining node serves (its own 127.0.0.x address in tests)
  --data-dir DIR    the joining node's data directory
  --capacity C      the joining node's capacity, 1..1000 (default 1): its share of partitions
                    is proportional to it
  --zone Z          the joining node's zone (default "default"): letters, digits, '.', '_'
                    and '-'; a partition's home replicas sit in distinct zones where they can
  --https-port P    the joining node's HTTPS API port (default: none)
  --threads N       CAF scheduler threads (default 2). Besides them a node runs CAF's
                    multiplexer and clock threads, one thread for its storage (SQLite), one
                    that checkpoints SQLite's log and one for the frame guard on its port
  --scheduler P     sharing | stealing: CAF's scheduler policy (default sharing: idle threads
                    sleep instead of polling for work, which leaves the cores to the other
                    processes of the machine)
  --restore BACKUP  puts BACKUP (a file made by kvsh backup, or a copy of a stopped node's
                    actorkv.db) in place as the node's store and exits; the previous store is
                    moved aside. The next start gives it a new replica id, checks it and lets
                    the other replicas refill what it missed (docs/operations.md)
  --log-level L     error | warning | info | debug: the least severe log line written
                    (default: the manifest's [log] level and levels, else info); a plain
                    level replaces them; SUBSYSTEM=LEVEL pairs (handoff=debug,gossip=warn)
                    set one subsystem's over them (subsystems: docs/operations.md)
  --log-format F    text ("TIME NODE LEVEL message") | json (one object per line with time,
                    node, level, subsystem, message); default: the manifest's [log] format,
                    else text
  --list-nodes      validate the manifest, print "NAME HOST:PORT" per node, exit
  --list-tls        validate the manifest, print "NAME CA CERT KEY" per node ([tls] files with
                    {node} filled in; nothing when TLS is off), exit

Exit codes: 0 stopped cleanly, 1 could not start (data directory, port, peers), 2 bad command
line or manifest, 3 no longer a member: this node left the cluster or was removed (at start, or
later once it has handed everything off or learnt of its removal from its peers).

TLS: the manifest's [tls] names the cluster CA and each node's certificate and key; a node
refuses to start without the table (plaintext needs [tls] enabled = false). tools/certs makes a
development CA and certificates (docs/security.md).
  --help            this text
  --version         the release of actorkv this program belongs to
)";

/// Splits "HOST:PORT"; false when it is not one.
bool split_endpoint(const std::string& text, std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  char* end = nullptr;
  auto n = std::strtoul(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || n == 0 || n > 65535 || end == text.c_str() + colon + 1)
    return false;
  host = text.substr(0, colon);
  port = static_cast<uint16_t>(n);
  return true;
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  return true;
}

/// The exit code of a node whose data directory says it left the cluster or was removed: not an
/// error to retry, so tools/cluster reports it and goes on with the other nodes.
constexpr int no_longer_a_member = 3;

/// Set when the node stops because it left the cluster or learnt that it was removed.
std::atomic<bool> departed{false};

int fail(const std::string& msg, int code = 2) {
  std::cerr << "kvnode: " << msg << "\n";
  return code;
}

/// Whether something accepts connections at host:port (a node still running there).
bool listening(const std::string& host, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    return false;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return up;
}

/// kvnode --restore: puts `backup` in place as the store at `db_path` (the node stopped), the
/// previous store moved aside. The copy is marked as restored, so that the next start draws a new
/// replica id for it (actors/node/instance.hpp); it owes an integrity check (a backup is a copy of
/// a store that was open). Returns the exit code.
int restore_backup(const std::string& node, const std::string& backup, const std::string& db_path,
                   const std::string& host, uint16_t port) {
  namespace fs = std::filesystem;
  std::error_code fs_err;
  if (!fs::is_regular_file(backup, fs_err) || ::access(backup.c_str(), R_OK) != 0)
    return fail("--restore: " + backup + " is not a readable file", 1);
  if (listening(host, port))
    return fail("--restore: " + node + " seems to be running (something accepts connections on " +
                    host + ":" + std::to_string(port) + "): stop it first",
                1);
  auto restoring = db_path + ".restoring";
  auto drop = [&](const std::string& path) {
    for (auto suffix : {"", "-wal", "-shm"})
      fs::remove(path + suffix, fs_err);
  };
  drop(restoring);
  fs::copy_file(backup, restoring, fs_err);
  if (fs_err) {
    drop(restoring);
    return fail("--restore: cannot copy " + backup + " to " + restoring + ": " + fs_err.message(),
                1);
  }
  {
    // Opening it checks that it is a store this build can use (upgrading an older schema).
    auto engine = actorkv::storage::open_sqlite_engine(restoring, actorkv::storage::sync_mode::full);
    if (!engine) {
      drop(restoring);
      return fail("--restore: " + backup + " is not a usable actorkv store: " +
                      actorkv::describe(engine.error()),
                  1);
    }
    auto marker = (*engine)->get_meta("backup");
    auto replica = (*engine)->get_meta("replica_id");
    if (!marker || !replica || !*replica) {
      drop(restoring);
      return fail("--restore: " + backup + " holds no actorkv instance identity", 1);
    }
    // A plain copy of a data directory carries no marker: it gets one, for the same reason.
    if (!*marker || (*marker)->empty())
      if (auto err = (*engine)->set_meta("backup", "a copy restored from " + backup)) {
        drop(restoring);
        return fail("--restore: " + actorkv::describe(err), 1);
      }
  }
  std::string aside;
  if (fs::exists(db_path, fs_err)) {
    aside = db_path + ".before-restore-" + std::to_string(std::time(nullptr));
    for (auto suffix : {"", "-wal", "-shm"})
      if (fs::exists(db_path + suffix, fs_err)) {
        fs::rename(db_path + suffix, aside + suffix, fs_err);
        if (fs_err)
          return fail("--restore: cannot move " + db_path + suffix + " aside: " + fs_err.message(),
                      1);
      }
  }
  for (auto suffix : {"-wal", "-shm"})
    fs::remove(restoring + suffix, fs_err);
  fs::rename(restoring, db_path, fs_err);
  if (fs_err)
    return fail("--restore: cannot put " + restoring + " in place: " + fs_err.message(), 1);
  actorkv::log_event(node, "restored " + backup + " as " + db_path +
                               (aside.empty() ? std::string{} : " (the previous store is " + aside + ")") +
                               "; at its next start the node takes a new replica id, checks the "
                               "file and catches up from its replicas");
  return 0;
}

/// Asks the running member at host:port, after the peer handshake that checks the instance
/// settings, for the cluster's membership, telling it about `self` (state joining).
/// nullopt with `failure` set when it cannot.
std::optional<actorkv::membership_view>
fetch_view(caf::actor_system& sys, const actorkv::manifest& cluster, const std::string& host,
           uint16_t port, const actorkv::member_info& self, actorkv::access_table* access,
           std::string& failure) {
  auto seed = sys.has_openssl_manager()
                  ? caf::openssl::remote_actor<actorkv::node_actor>(sys, host, port)
                  : sys.middleman().remote_actor<actorkv::node_actor>(host, port);
  if (!seed) {
    failure = sys.render(seed.error());
    return std::nullopt;
  }
  // CAF keeps this connection as the seed's route, so the seed's messages to this node (its
  // hello, probes, gossip) come back on it, past this node's guard: trust it as a member.
  if (access)
    access->trust_member(actorkv::identity_of(seed->node()));
  caf::scoped_actor scoped{sys};
  auto timeout = std::chrono::milliseconds{cluster.timeouts.request_ms};
  actorkv::peer_hello hello; // protocol_version: the seed refuses another, naming both
  hello.name = self.name;
  hello.id = self.incarnation;
  hello.settings = actorkv::settings_text(cluster.store);
  hello.detector = actorkv::detector_mode_name(cluster.failure_detector.mode);
  scoped->request(*seed, timeout, actorkv::peer_atom::value, hello)
      .receive([](actorkv::peer_hello&) {},
               [&](caf::error& err) { failure = actorkv::describe(err); });
  if (!failure.empty())
    return std::nullopt;
  actorkv::membership_view mine;
  mine.members.push_back(self);
  mine.members.back().version = static_cast<uint64_t>(actorkv::system_wall_clock_us());
  actorkv::membership_view theirs;
  scoped->request(*seed, timeout, actorkv::gossip_atom::value, mine)
      .receive([&](actorkv::membership_view& v) { theirs = std::move(v); },
               [&](caf::error& err) { failure = actorkv::describe(err); });
  if (!failure.empty())
    return std::nullopt;
  if (failure = actorkv::format_refusal(theirs); !failure.empty())
    return std::nullopt;
  if (theirs.layout.owners.empty()) {
    failure = "the seed sent no ring";
    return std::nullopt;
  }
  return theirs;
}

/// The node's coordinator, as its session answer names it.
caf::actor_addr coordinator_of(caf::actor_system& sys, const actorkv::node_actor& node) {
  caf::scoped_actor self{sys};
  caf::actor_addr out;
  self->request(node, caf::infinite, actorkv::session_atom::value)
      .receive([&](const actorkv::client_requests_actor& c) { out = c.address(); },
               [](caf::error&) {});
  return out;
}

/// Set when an integrity check found the database damaged: once stopped, the process starts over
/// (restart_self) and sets the file aside.
std::atomic<bool> restart_requested{false};
char** self_argv = nullptr;

/// Replaces this process with a fresh start of kvnode with the same arguments: same PID, same
/// log. Returns only if that fails.
void restart_self(const std::string& node) {
  actorkv::log_event(node, "restarting");
  execv("/proc/self/exe", self_argv);
  actorkv::log_event(actorkv::log_level::error, node, std::string{"cannot restart: "} + std::strerror(errno));
}

/// Ends the process if the actor system's shutdown stalls (see its use in main).
class shutdown_watchdog {
public:
  void arm(const std::string& node) {
    thread_ = std::thread([this, node] {
      std::unique_lock<std::mutex> lock{mutex_};
      if (!done_.wait_for(lock, std::chrono::seconds(10), [this] { return disarmed_; })) {
        actorkv::log_event(node, "stopped (the actor system's shutdown stalled; database closed)");
        if (restart_requested)
          restart_self(node);
        std::_Exit(0);
      }
    });
  }
  void disarm() {
    {
      std::lock_guard<std::mutex> lock{mutex_};
      disarmed_ = true;
    }
    done_.notify_all();
    if (thread_.joinable())
      thread_.join();
  }

private:
  std::mutex mutex_;
  std::condition_variable done_;
  bool disarmed_ = false;
  std::thread thread_;
};

/// The connections the frame guard may hold: `wanted` (the manifest's max_connections), or as
/// many as RLIMIT_NOFILE leaves room for, with a log line; 0 when not even `other` descriptors
/// fit. Raises the soft limit to the hard one first (the soft default, often 1024, is meant for
/// programs that use select()).
uint32_t connections_for_descriptors(const std::string& node, uint32_t wanted, uint64_t other) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return wanted;
  if (rl.rlim_cur != rl.rlim_max) {
    auto raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
      rl = raised;
  }
  uint64_t limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
  auto fit = actorkv::connections_within(limit, other, wanted);
  if (fit < wanted)
    actorkv::log_event(node, "max_connections lowered from " + std::to_string(wanted) + " to " +
                                 std::to_string(fit) + ": RLIMIT_NOFILE allows " +
                                 std::to_string(limit) + " descriptors, each connection holds " +
                                 std::to_string(actorkv::descriptors_per_connection) + " and " +
                                 std::to_string(other) +
                                 " are kept for the rest of the node (raise the limit, e.g. "
                                 "ulimit -n or systemd's LimitNOFILE=)");
  return fit;
}

/// Test hook: ACTORKV_TEST_CLOCK_OFFSET_MS=N runs this node's wall clock N ms ahead (negative:
/// behind) of the machine's, for every timestamp it stamps (last-writer-wins writes, membership
/// versions, what its probe answers show peers); log lines keep the machine's time. Cluster tests
/// skew one node this way (libfaketime does not work with kvnode's jemalloc). Unset or empty: 0.
/// False (with `error` set) for anything but an integer within a day.
bool test_clock_offset(int64_t& offset_us, std::string& error) {
  offset_us = 0;
  const char* text = std::getenv("ACTORKV_TEST_CLOCK_OFFSET_MS");
  if (!text || !*text)
    return true;
  char* end = nullptr;
  errno = 0;
  long long ms = std::strtoll(text, &end, 10);
  constexpr long long day_ms = 24LL * 3600 * 1000;
  if (errno != 0 || *end != '\0' || ms < -day_ms || ms > day_ms) {
    error = std::string{"ACTORKV_TEST_CLOCK_OFFSET_MS="} + text +
            ": a test hook taking milliseconds from -86400000 to 86400000";
    return false;
  }
  offset_us = static_cast<int64_t>(ms) * 1000;
  return true;
}

/// Test hook: ACTORKV_TEST_PROTOCOL_VERSION=N makes the node speak protocol version N in its
/// handshake, as a node of another release would. Unset or empty: protocol_version.
bool test_protocol_version(uint32_t& version, std::string& error) {
  version = actorkv::protocol_version;
  const char* text = std::getenv("ACTORKV_TEST_PROTOCOL_VERSION");
  if (!text || !*text)
    return true;
  char* end = nullptr;
  errno = 0;
  unsigned long n = std::strtoul(text, &end, 10);
  if (errno != 0 || *end != '\0' || n == 0 || n > 1000000) {
    error = std::string{"ACTORKV_TEST_PROTOCOL_VERSION="} + text + ": a test hook taking a version";
    return false;
  }
  version = static_cast<uint32_t>(n);
  return true;
}

/// Test hook: ACTORKV_TEST_CHECK_DELAY_MS=N makes every integrity check wait N ms before it reads,
/// so that a cluster test sees the node serve while one runs. Unset or empty: 0. False (with
/// `error` set) for anything but 0 to 600000.
bool test_check_delay(std::chrono::milliseconds& delay, std::string& error) {
  delay = std::chrono::milliseconds{0};
  const char* text = std::getenv("ACTORKV_TEST_CHECK_DELAY_MS");
  if (!text || !*text)
    return true;
  char* end = nullptr;
  errno = 0;
  long long ms = std::strtoll(text, &end, 10);
  if (errno != 0 || *end != '\0' || ms < 0 || ms > 600000) {
    error = std::string{"ACTORKV_TEST_CHECK_DELAY_MS="} + text +
            ": a test hook taking milliseconds from 0 to 600000";
    return false;
  }
  delay = std::chrono::milliseconds{ms};
  return true;
}

actorkv::storage::sync_mode sync_of(const std::string& s) {
  if (s == "full")
    return actorkv::storage::sync_mode::full;
  if (s == "off")
    return actorkv::storage::sync_mode::off;
  return actorkv::storage::sync_mode::normal;
}

} // namespace

int main(int argc, char** argv) {
  if (actorkv::print_version_if_asked(argc, argv, "kvnode"))
    return 0;
  self_argv = argv;
  // Signals are taken by the main thread alone (sigwait below): block them before any thread
  // starts (SQLite's checkpointer opens with the database, CAF's threads later) so that every
  // thread inherits the mask. A thread that did not would take a SIGTERM sent while the node
  // starts (by tools/cluster stop, systemd, or the node's own departure) and die uncleanly.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::string manifest_path, node_name, join_seed, listen, join_data_dir, restore_file;
  std::string log_level_arg, log_format_arg;
  uint32_t capacity = 1;
  std::string zone = actorkv::node_entry{}.zone;
  uint16_t https_port = 0;
  int threads = 2;
  bool sharing = true;
  bool list_nodes = false;
  bool list_tls = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc)
        return nullptr;
      (void)name;
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else if (arg == "--manifest") {
      auto v = value("--manifest");
      if (!v)
        return fail("--manifest needs a file (see --help)");
      manifest_path = v;
    } else if (arg == "--node") {
      auto v = value("--node");
      if (!v)
        return fail("--node needs a name (see --help)");
      node_name = v;
    } else if (arg == "--join" || arg == "--listen" || arg == "--data-dir") {
      auto v = value(arg.c_str());
      if (!v || !*v)
        return fail(arg + " needs a value (see --help)");
      (arg == "--join" ? join_seed : arg == "--listen" ? listen : join_data_dir) = v;
    } else if (arg == "--log-level") {
      auto v = value("--log-level");
      actorkv::log_levels scratch;
      std::string problem;
      if (!actorkv::parse_log_levels(v ? v : "", scratch, problem))
        return fail(problem);
      log_level_arg = v;
    } else if (arg == "--log-format") {
      auto v = value("--log-format");
      if (!v || (std::string{v} != "text" && std::string{v} != "json"))
        return fail("--log-format needs text or json");
      log_format_arg = v;
    } else if (arg == "--restore") {
      auto v = value("--restore");
      if (!v || !*v)
        return fail("--restore needs a backup file (see --help)");
      restore_file = v;
    } else if (arg == "--capacity") {
      auto v = value("--capacity");
      char* end = nullptr;
      long n = v ? std::strtol(v, &end, 10) : 0;
      if (!v || *end != '\0' || n < 1 || n > 1000)
        return fail("--capacity needs a number from 1 to 1000");
      capacity = static_cast<uint32_t>(n);
    } else if (arg == "--zone") {
      auto v = value("--zone");
      if (!v || !actorkv::valid_zone(v))
        return fail("--zone needs 1 to 64 letters, digits, '.', '_' or '-'");
      zone = v;
    } else if (arg == "--https-port") {
      auto v = value("--https-port");
      char* end = nullptr;
      long n = v ? std::strtol(v, &end, 10) : 0;
      if (!v || *end != '\0' || n < 1 || n > 65535)
        return fail("--https-port needs a port from 1 to 65535");
      https_port = static_cast<uint16_t>(n);
    } else if (arg == "--list-nodes") {
      list_nodes = true;
    } else if (arg == "--list-tls") {
      list_tls = true;
    } else if (arg == "--threads") {
      auto v = value("--threads");
      char* end = nullptr;
      long n = v ? std::strtol(v, &end, 10) : 0;
      if (!v || *end != '\0' || n < 1 || n > 64)
        return fail("--threads needs a number from 1 to 64");
      threads = static_cast<int>(n);
    } else if (arg == "--scheduler") {
      auto v = value("--scheduler");
      std::string policy = v ? v : "";
      if (policy != "sharing" && policy != "stealing")
        return fail("--scheduler needs sharing or stealing");
      sharing = policy == "sharing";
    } else {
      return fail("unknown argument '" + arg + "' (see --help)");
    }
  }
  if (manifest_path.empty() || (node_name.empty() && !list_nodes && !list_tls))
    return fail("--manifest and --node are required (see --help)");
  int64_t clock_offset_us = 0;
  if (std::string problem; !test_clock_offset(clock_offset_us, problem))
    return fail(problem);
  uint32_t protocol = actorkv::protocol_version;
  if (std::string problem; !test_protocol_version(protocol, problem))
    return fail(problem);
  std::chrono::milliseconds check_delay{0};
  if (std::string problem; !test_check_delay(check_delay, problem))
    return fail(problem);

  auto cluster = actorkv::load_manifest(manifest_path);
  if (!cluster)
    return fail(actorkv::describe(cluster.error()));
  {
    // The command line overrides the manifest's [log]; both were validated.
    actorkv::log_config logs;
    logs.levels.level = *actorkv::parse_log_level(cluster->log.level);
    logs.levels.overrides = cluster->log.levels;
    std::string unused;
    if (!log_level_arg.empty())
      actorkv::parse_log_levels(log_level_arg, logs.levels, unused);
    logs.json = (log_format_arg.empty() ? cluster->log.format : log_format_arg) == "json";
    actorkv::configure_log(logs);
  }
  if (list_nodes) {
    for (auto& n : cluster->nodes)
      std::cout << n.name << " " << n.host << ":" << n.port << "\n";
    return 0;
  }
  auto& tls = cluster->tls;
  auto tls_of = [&](const std::string& name) {
    return actorkv::tls_files{tls.ca, actorkv::node_file(tls.cert, name),
                              actorkv::node_file(tls.key, name)};
  };
  if (list_tls) {
    if (tls.enabled)
      for (auto& n : cluster->nodes) {
        auto files = tls_of(n.name);
        std::cout << n.name << " " << files.ca << " " << files.cert << " " << files.key << "\n";
      }
    return 0;
  }
  if (!tls.configured)
    return fail(manifest_path + ": no [tls] table: every connection is TLS unless the manifest "
                                "says [tls] enabled = false; set ca, cert and key (tools/certs "
                                "makes a development CA and certificates; docs/security.md)");
  actorkv::node_entry joiner;
  const actorkv::node_entry* self_entry = cluster->find_node(node_name);
  bool joining = !join_seed.empty();
  std::string seed_host;
  uint16_t seed_port = 0;
  if (joining) {
    if (self_entry)
      return fail(node_name + " is a node of " + manifest_path + ": start it without --join");
    if (!valid_name(node_name))
      return fail("--node: a name is 1 to 64 letters, digits, '-', '_' or '.'");
    if (!split_endpoint(join_seed, seed_host, seed_port))
      return fail("--join needs HOST:PORT of a running member, got '" + join_seed + "'");
    if (listen.empty() || join_data_dir.empty())
      return fail("--join also needs --listen HOST:PORT and --data-dir DIR (see --help)");
    joiner.name = node_name;
    if (!split_endpoint(listen, joiner.host, joiner.port))
      return fail("--listen needs HOST:PORT, got '" + listen + "'");
    joiner.capacity = capacity;
    joiner.zone = zone;
    joiner.data_dir = join_data_dir;
    joiner.https_port = https_port;
    self_entry = &joiner;
  } else if (zone != actorkv::node_entry{}.zone) {
    return fail("--zone goes with --join (a manifest node's zone is its [[node]] zone)");
  } else if (!listen.empty() || !join_data_dir.empty() || https_port != 0) {
    return fail("--listen, --data-dir and --https-port go with --join (a manifest node's are in "
                "the manifest)");
  }
  if (!self_entry) {
    std::string names;
    for (auto& n : cluster->nodes)
      names += (names.empty() ? "" : ", ") + n.name;
    return fail("no node named '" + node_name + "' in " + manifest_path + " (it lists " + names +
                "); a node that is not in the manifest joins with --join SEED (see --help)");
  }

  actorkv::tls_files own_tls;
  if (tls.enabled) {
    own_tls = tls_of(node_name);
    if (auto problem = actorkv::check_tls_files(own_tls); !problem.empty())
      return fail(manifest_path + " [tls]: " + problem +
                  " (tools/certs DIR NAME makes a development certificate)");
  }

  std::error_code fs_err;
  std::filesystem::create_directories(self_entry->data_dir, fs_err);
  if (fs_err)
    return fail("cannot create data directory " + self_entry->data_dir + ": " + fs_err.message(),
                1);
  auto db_path = (std::filesystem::path{self_entry->data_dir} / "actorkv.db").string();
  if (!restore_file.empty())
    return restore_backup(node_name, restore_file, db_path, self_entry->host, self_entry->port);
  // Written when an integrity check (in the background, while the node served) found the file
  // damaged; the node then restarted itself to set it aside here.
  auto damage_marker = db_path + ".damaged";
  auto last_note = std::chrono::steady_clock::now();
  auto upgrading = [&](uint64_t records) {
    // Only an upgrade of an older schema reads every record at start (once).
    if (std::chrono::steady_clock::now() - last_note < std::chrono::seconds(5))
      return;
    last_note = std::chrono::steady_clock::now();
    actorkv::log_event(node_name, "upgrading " + db_path + " to the current schema: " +
                                      std::to_string(records) + " records rewritten so far");
  };
  auto open_db = [&] {
    return actorkv::storage::open_sqlite_engine(db_path, sync_of(cluster->storage.sync),
                                                cluster->storage.cache_mib, upgrading);
  };
  // No integrity check here: start-up reads no record. The storage actor checks the whole file in
  // the background when it was not closed cleanly (or on request, or when a call meets damage).
  auto engine = open_db();
  std::string damage;
  if (std::filesystem::exists(damage_marker)) {
    std::ifstream in{damage_marker};
    std::getline(in, damage);
    damage = "an integrity check found the file damaged (" + damage + ")";
  } else if (!engine && engine.error() == actorkv::ec::corrupt_record) {
    damage = actorkv::describe(engine.error());
  }
  if (!damage.empty()) {
    // Pages are damaged, not just records: keep the file for inspection, start this replica
    // empty under a new identity, and let anti-entropy and read repair refill it from the others
    // (rather than crash-looping or serving from a broken file).
    engine = caf::make_error(actorkv::ec::corrupt_record); // closes the damaged database
    auto aside = db_path + ".damaged-" + std::to_string(std::time(nullptr));
    for (auto suffix : {"", "-wal", "-shm"})
      if (std::filesystem::exists(db_path + suffix))
        std::filesystem::rename(db_path + suffix, aside + suffix, fs_err);
    std::filesystem::remove(damage_marker, fs_err);
    actorkv::log_event(actorkv::log_level::error, node_name, damage + "; moved to " + aside +
                                      ", starting empty: replicas will refill it");
    engine = open_db();
  }
  if (!engine)
    return fail(actorkv::describe(engine.error()), 1);
  auto identity = actorkv::open_instance(**engine, *cluster, self_entry->data_dir);
  if (!identity)
    return fail(actorkv::describe(identity.error()));
  if (!identity->restored.empty())
    actorkv::log_event(node_name, "this store is a restored " + identity->restored +
                                      ": its data is as old as the backup; read repair and "
                                      "anti-entropy bring it up to date");
  if (identity->renewed_after_unclean_stop)
    actorkv::log_event(node_name, "the store was not closed cleanly: this node's writes carry a "
                                  "new replica id (" +
                                      std::to_string(identity->replica) +
                                      "), so that none reuses a counter of writes a crash may "
                                      "have taken from this disk but not from other replicas");
  // The membership this node last knew, kept by its membership actor.
  std::optional<actorkv::membership_view> kept_view;
  if (auto text = (*engine)->get_meta("membership_view"); text && *text) {
    kept_view = actorkv::decode_view(**text);
    // A view kept by a later release is not read, nor replaced by the manifest's (which may
    // describe a cluster that has changed since): the node refuses to start.
    if (auto format = actorkv::kept_view_format(**text);
        !kept_view && format && *format > actorkv::membership_format)
      return fail("the membership kept in " + self_entry->data_dir + " is in format " +
                      std::to_string(*format) + ", written by a later release; this build reads "
                      "formats 1 to " + std::to_string(actorkv::membership_format) +
                      ": start it with the release that wrote it",
                  1);
    if (!kept_view)
      actorkv::log_event(actorkv::log_level::warning, node_name, "the membership kept in " + self_entry->data_dir +
                                        " does not decode; starting from the manifest or seed");
  }
  if (kept_view) {
    if (actorkv::was_removed(*kept_view, node_name))
      return fail(node_name + " was removed from the cluster; its data directory " +
                      self_entry->data_dir +
                      " is no longer part of it (to add this machine again, start it with a new "
                      "data directory and --join)",
                  no_longer_a_member);
    if (actorkv::has_left(*kept_view, node_name))
      return fail(node_name + " has left the cluster: it handed off everything it held, and its "
                      "data directory " + self_entry->data_dir +
                      " is no longer needed (to add this machine again, start it with a new data "
                      "directory and --join)",
                  no_longer_a_member);
  }

  // Besides the frame guard's connections: CAF's and SQLite's descriptors, the process's own, one
  // connection to each member, and the HTTPS API's connections.
  uint64_t other_descriptors = 256 + 2 * cluster->nodes.size() +
                               (self_entry->https_port != 0 ? cluster->http.max_connections : 0);
  auto max_connections =
      connections_for_descriptors(node_name, cluster->limits.max_connections, other_descriptors);
  if (max_connections < 8)
    return fail(node_name + ": RLIMIT_NOFILE leaves room for " + std::to_string(max_connections) +
                    " connections on the node's port (at least 8 needed; each holds " +
                    std::to_string(actorkv::descriptors_per_connection) + " descriptors, and " +
                    std::to_string(other_descriptors) + " are kept for the rest of the node)",
                1);
  // Connections this node dials (to its peers) get the same header check as those it accepts.
  // Clients accept by default what any node may send (a get of the largest record allowed).
  static_assert(actorkv::default_dialed_frame_limit == actorkv::max_frame_bytes_bound);
  actorkv::set_dialed_frame_limit(
      cluster->limits.max_frame_bytes, [node_name](const std::string& what) {
        actorkv::log_event(actorkv::log_subsystem::connections, node_name, what);
      });

  shutdown_watchdog stop_watchdog;
  caf::actor_system_config cfg;
  actorkv::register_types(cfg);
  cfg.load<caf::io::middleman>();
  if (tls.enabled)
    actorkv::load_tls(cfg, own_tls); // peers are dialed over TLS; the guard terminates inbound
  cfg.set("scheduler.max-threads", threads);
  if (sharing)
    cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  // Heartbeats let a peer notice a frozen (SIGSTOPped) node by the connection timeout; they are
  // off by default in CAF. Four per timeout keep a live connection open; more only cost segments
  // on every connection (at 500 ms they were most of an idle node's traffic, growing with n; the
  // failure detector, not the timeout, tells that a peer is down).
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::milliseconds{actorkv::heartbeat_ms(*cluster)}});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::milliseconds{cluster->timeouts.connection_ms}});
  {
    caf::actor_system sys{cfg};
    // One clock for the node's actors that stamp or see timestamps (actors/node/wall_clock.hpp).
    actorkv::wall_clock wall = actorkv::system_wall_clock_us;
    if (clock_offset_us != 0) {
      actorkv::log_event(node_name, "test hook: this node's wall clock runs " +
                                        std::to_string(clock_offset_us / 1000) +
                                        " ms off the machine's (ACTORKV_TEST_CLOCK_OFFSET_MS)");
      wall = [clock_offset_us] { return actorkv::system_wall_clock_us() + clock_offset_us; };
    }
    auto clock = std::make_shared<actorkv::node_clock>(wall);
    // One registry for the process: the actors count into it, GET /metrics renders it.
    auto metrics = std::make_shared<actorkv::metrics_registry>();
    actorkv::storage_options so;
    so.node = node_name;
    so.self = identity->replica;
    so.conflicts = cluster->store.conflicts;
    so.partitions = cluster->store.partitions;
    so.max_batch = 512;
    so.max_hints = cluster->handoff.max_hints;
    so.clock = clock;
    so.metrics = metrics;
    so.check_delay = check_delay;
    so.on_damage = [damage_marker, node_name](const std::string& what) {
      {
        std::ofstream out{damage_marker};
        out << what << "\n";
      }
      actorkv::log_event(actorkv::log_level::error, node_name, "the database file is damaged: restarting to set it aside "
                                    "and start empty (replicas will refill it)");
      restart_requested = true;
      kill(getpid(), SIGTERM);
    };
    actorkv::storage_actor reads; // the storage's reader, for background work
    auto storage = actorkv::spawn_storage(
        sys, std::shared_ptr<actorkv::storage::engine>{std::move(*engine)}, so, reads);
    actorkv::node_options opts;
    opts.cluster = *cluster;
    opts.self_name = node_name;
    opts.self_id = identity->replica;
    opts.protocol = protocol;
    opts.storage = storage;
    opts.reads = reads;
    opts.host = self_entry->host;
    opts.port = self_entry->port;
    opts.capacity = self_entry->capacity;
    opts.zone = self_entry->zone;
    opts.initial_view = kept_view;
    opts.clock = clock;
    // One budget for the bytes of requests in flight, charged by the coordinator, the replica
    // gateway, the hint keeper and the HTTPS API (cluster-config/memory_budget.hpp).
    auto budget = std::make_shared<actorkv::memory_budget>(cluster->limits.memory_budget_bytes);
    opts.budget = budget;
    opts.metrics = metrics;
    // Filled by the frame guard from the certificates of connecting processes; TLS off: nobody
    // is checked.
    std::shared_ptr<actorkv::access_table> access;
    if (tls.enabled)
      access = std::make_shared<actorkv::access_table>();
    opts.access = access;
    // The guard tells the node which peers' connections carry no messages; the node has it close
    // those of peers it shares no partition with.
    auto links = std::make_shared<actorkv::link_activity>();
    opts.links = links;
    if (joining) {
      std::string failure;
      auto fetched =
          fetch_view(sys, *cluster, seed_host, seed_port,
                     actorkv::member_info{node_name, self_entry->host, self_entry->port,
                                          self_entry->capacity, actorkv::member_state::joining,
                                          identity->replica, 0, self_entry->zone},
                     access.get(), failure);
      if (!fetched && !kept_view) {
        caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
        return fail("cannot join through " + join_seed + ": " + failure, 1);
      }
      if (fetched)
        if (actorkv::was_removed(*fetched, node_name)) {
          caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
          return fail("the name " + node_name +
                          " belonged to a node that was removed from the cluster; a joining node "
                          "needs a name not used before",
                      1);
        }
      if (fetched)
        opts.initial_view = kept_view ? actorkv::merge(*kept_view, *fetched) : *fetched;
      else
        actorkv::log_event(node_name, "seed " + join_seed + " not reachable (" + failure +
                                          "); going on with the membership kept on disk");
    }
    // Leaving the cluster ends the process the same way a signal does.
    opts.on_departure = [](const std::string&) {
      departed = true;
      kill(getpid(), SIGTERM);
    };
    auto node = actorkv::spawn_node(sys, opts);
    // CAF 0.17 allocates whatever a BASP header announces and speaks plaintext, so its port is
    // never exposed: it listens on an ephemeral port of 127.0.0.1, behind the frame guard on
    // host:port, which terminates TLS and checks every header first.
    auto endpoint = self_entry->host + ":" + std::to_string(self_entry->port);
    std::string listen_error;
    auto guard = actorkv::frame_guard::listen(self_entry->host, self_entry->port, listen_error);
    std::optional<uint16_t> port;
    if (guard) {
      if (auto published = sys.middleman().publish(node, 0, "127.0.0.1"))
        port = *published;
      else
        listen_error = "CAF's port: " + sys.render(published.error());
    }
    if (port) {
      actorkv::guard_options go;
      go.upstream_port = *port;
      go.max_frame_bytes = cluster->limits.max_frame_bytes;
      go.max_connections = max_connections;
      go.idle_timeout = std::chrono::milliseconds{cluster->limits.idle_connection_ms};
      go.frame_timeout = std::chrono::milliseconds{cluster->limits.frame_ms};
      go.frame_budget_bytes = cluster->limits.frame_budget_bytes;
      go.log = [node_name](const std::string& what) {
        actorkv::log_event(actorkv::log_subsystem::connections, node_name, what);
      };
      if (tls.enabled)
        go.tls = actorkv::guard_tls{own_tls.ca, own_tls.cert, own_tls.key};
      go.access = access;
      go.metrics = metrics;
      go.activity = links;
      // Clients reach the node actor and its coordinator, nothing else.
      go.client_destinations = {node->id(), coordinator_of(sys, node).id()};
      if (!guard->start(std::move(go), listen_error))
        port.reset();
    }
    if (!port) {
      caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
      return fail("cannot listen on " + endpoint + ": " + listen_error, 1);
    }
    // The HTTPS API asks a client actor of this process, which reaches the node directly.
    std::unique_ptr<actorkv::http_server> https;
    actorkv::client_actor https_store;
    if (self_entry->https_port != 0) {
      actorkv::client_options co;
      co.endpoints = {endpoint};
      co.timeout = std::chrono::milliseconds{cluster->timeouts.client_ms};
      co.connector = actorkv::local_connector(sys, node);
      co.learn_endpoints = false; // it answers for this node; other nodes serve their own
      https_store = actorkv::spawn_client(sys, co);
      actorkv::http_options ho;
      ho.host = self_entry->host;
      ho.port = self_entry->https_port;
      ho.tls = tls.enabled;
      ho.ca = own_tls.ca;
      ho.cert = own_tls.cert;
      ho.key = own_tls.key;
      ho.tokens = cluster->tokens;
      ho.max_key_bytes = cluster->limits.max_key_bytes;
      ho.max_value_bytes = cluster->limits.max_value_bytes;
      ho.budget = budget;
      auto& http = cluster->http;
      ho.max_connections = http.max_connections;
      ho.max_header_bytes = http.max_header_bytes;
      ho.request_timeout = std::chrono::milliseconds{http.request_ms};
      ho.idle_timeout = std::chrono::milliseconds{http.idle_ms};
      ho.store_timeout = co.timeout + std::chrono::seconds(5);
      ho.threads = http.threads;
      ho.metrics = metrics;
      ho.console_files = actorkv::console_files();
      ho.log = [node_name](const std::string& what) {
        actorkv::log_event(actorkv::log_subsystem::connections, node_name, what);
      };
      std::string http_error;
      https = actorkv::http_server::start(sys, https_store, std::move(ho), http_error);
      if (!https) {
        guard->stop();
        caf::anon_send_exit(https_store, caf::exit_reason::user_shutdown);
        caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
        caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
        return fail("cannot serve HTTPS on " + self_entry->host + ":" +
                        std::to_string(self_entry->https_port) + ": " + http_error,
                    1);
      }
    }
    auto& store = cluster->store;
    actorkv::log_event(
        node_name,
        std::string{"listening on "} + endpoint +
            (https ? ", HTTPS API on " + self_entry->host + ":" + std::to_string(https->port())
                   : std::string{}) +
            (tls.enabled ? ", TLS" : ", plaintext ([tls] enabled = false)") + " (" +
            actorkv::settings_text(store) +
            (identity->created ? ", new data directory " : ", data directory ") +
            self_entry->data_dir + ")");
    int sig = 0;
    sigwait(&stop_signals, &sig);
    actorkv::log_event(node_name, std::string{"stopping on "} + strsignal(sig));
    // No new connections; those open keep forwarding while the node winds down.
    if (https) {
      https->stop();
      caf::anon_send_exit(https_store, caf::exit_reason::user_shutdown);
    }
    guard->stop_listening();
    sys.middleman().unpublish(node, *port);
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    {
      // The storage actor closes the database when it exits: wait for that (every acknowledged
      // write was committed before its answer, so nothing is lost even if this wait ran out).
      // stop_atom, not an exit message: what is queued (e.g. the membership view of a node that
      // was just removed) is stored first.
      caf::scoped_actor waiter{sys};
      waiter->monitor(storage);
      caf::anon_send(storage, actorkv::stop_atom::value);
      waiter->receive(
          [](caf::down_msg&) {},
          caf::after(std::chrono::seconds(30)) >>
              [&] { actorkv::log_event(actorkv::log_level::warning, node_name, "storage did not stop within 30 s"); });
    }
    storage = nullptr;
    guard->stop();
    // CAF 0.17's actor system sometimes never returns from waiting for its detached threads when
    // a node stops while peers still send to it (seen after `leave`): with the database closed,
    // nothing is left to lose, so a stalled shutdown ends the process instead of hanging.
    stop_watchdog.arm(node_name);
  }
  stop_watchdog.disarm();
  actorkv::log_event(node_name, "stopped");
  if (restart_requested) {
    restart_self(node_name);
    return 1;
  }
  return departed ? no_longer_a_member : 0;
}
