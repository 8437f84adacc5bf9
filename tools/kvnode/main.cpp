// kvnode: runs one actorkv node from a cluster manifest.
//
//   kvnode --manifest FILE --node NAME [--threads N]
//
// Reads the manifest, opens (or creates) the node's data directory, refuses to start when the
// manifest's [store] settings differ from the instance's, publishes the node actor on its
// host:port and serves until SIGINT or SIGTERM, then shuts down cleanly.
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/event_log.hpp"
#include "actors/instance.hpp"
#include "actors/node.hpp"
#include "actors/storage_actor.hpp"
#include "cluster-config/manifest.hpp"
#include "messages/error.hpp"
#include "messages/register_types.hpp"
#include "storage/engine.hpp"

namespace {

constexpr const char* usage = R"(usage: kvnode --manifest FILE --node NAME [--threads N]
       kvnode --manifest FILE --list-nodes

Runs one actorkv node: reads the cluster manifest FILE, serves as its [[node]] entry NAME on that
entry's host:port, and stores data in the entry's data_dir. Stops cleanly on SIGINT or SIGTERM.

options:
  --manifest FILE   the cluster manifest (TOML), e.g. cluster-config/local-3.toml
  --node NAME       which [[node]] of the manifest this process is
  --threads N       CAF scheduler threads (default 2)
  --list-nodes      validate the manifest, print "NAME HOST:PORT" per node, exit
  --help            this text
)";

int fail(const std::string& msg, int code = 2) {
  std::cerr << "kvnode: " << msg << "\n";
  return code;
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
  std::string manifest_path, node_name;
  int threads = 2;
  bool list_nodes = false;
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
    } else if (arg == "--list-nodes") {
      list_nodes = true;
    } else if (arg == "--threads") {
      auto v = value("--threads");
      char* end = nullptr;
      long n = v ? std::strtol(v, &end, 10) : 0;
      if (!v || *end != '\0' || n < 1 || n > 64)
        return fail("--threads needs a number from 1 to 64");
      threads = static_cast<int>(n);
    } else {
      return fail("unknown argument '" + arg + "' (see --help)");
    }
  }
  if (manifest_path.empty() || (node_name.empty() && !list_nodes))
    return fail("--manifest and --node are required (see --help)");

  auto cluster = actorkv::load_manifest(manifest_path);
  if (!cluster)
    return fail(actorkv::describe(cluster.error()));
  if (list_nodes) {
    for (auto& n : cluster->nodes)
      std::cout << n.name << " " << n.host << ":" << n.port << "\n";
    return 0;
  }
  auto* self_entry = cluster->find_node(node_name);
  if (!self_entry) {
    std::string names;
    for (auto& n : cluster->nodes)
      names += (names.empty() ? "" : ", ") + n.name;
    return fail("no node named '" + node_name + "' in " + manifest_path + " (it lists " + names +
                ")");
  }

  std::error_code fs_err;
  std::filesystem::create_directories(self_entry->data_dir, fs_err);
  if (fs_err)
    return fail("cannot create data directory " + self_entry->data_dir + ": " + fs_err.message(),
                1);
  auto db_path = (std::filesystem::path{self_entry->data_dir} / "actorkv.db").string();
  auto engine = actorkv::storage::open_sqlite_engine(db_path, sync_of(cluster->storage.sync));
  auto damage = engine ? (*engine)->verify() : engine.error();
  if (damage == actorkv::ec::corrupt_record) {
    // Pages are damaged, not just records: keep the file for inspection, start this replica
    // empty under a new identity, and let anti-entropy and read repair refill it from the others
    // (rather than crash-looping or serving from a broken file).
    engine = caf::make_error(actorkv::ec::corrupt_record); // closes the damaged database
    auto aside = db_path + ".damaged-" + std::to_string(std::time(nullptr));
    for (auto suffix : {"", "-wal", "-shm"})
      if (std::filesystem::exists(db_path + suffix))
        std::filesystem::rename(db_path + suffix, aside + suffix, fs_err);
    actorkv::log_event(node_name, actorkv::describe(damage) + "; moved to " + aside +
                                      ", starting empty: replicas will refill it");
    engine = actorkv::storage::open_sqlite_engine(db_path, sync_of(cluster->storage.sync));
  }
  if (!engine)
    return fail(actorkv::describe(engine.error()), 1);
  auto identity = actorkv::open_instance(**engine, *cluster, self_entry->data_dir);
  if (!identity)
    return fail(actorkv::describe(identity.error()));

  // Signals are taken by this thread alone (sigwait below): block them before CAF's threads start
  // so that every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  caf::actor_system_config cfg;
  actorkv::register_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", threads);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  // Heartbeats let a peer notice a frozen (SIGSTOPped) node; they are off by default in CAF.
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds{500}});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::seconds{4}});
  {
    caf::actor_system sys{cfg};
    auto storage = actorkv::spawn_storage(
        sys, std::shared_ptr<actorkv::storage::engine>{std::move(*engine)},
        actorkv::storage_options{node_name, identity->replica, cluster->store.conflicts,
                                 cluster->store.partitions, 512, cluster->handoff.max_hints});
    actorkv::node_options opts{*cluster, node_name, identity->replica, storage};
    auto node = actorkv::spawn_node(sys, opts);
    auto port = sys.middleman().publish(node, self_entry->port, self_entry->host.c_str(), true);
    if (!port) {
      caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
      return fail("cannot listen on " + self_entry->host + ":" + std::to_string(self_entry->port) +
                      ": " + sys.render(port.error()),
                  1);
    }
    auto& store = cluster->store;
    actorkv::log_event(node_name,
                       std::string{"listening on "} + self_entry->host + ":" +
                           std::to_string(*port) + " (" + actorkv::settings_text(store) +
                           (identity->created ? ", new data directory " : ", data directory ") +
                           self_entry->data_dir + ")");
    int sig = 0;
    sigwait(&stop_signals, &sig);
    actorkv::log_event(node_name, std::string{"stopping on "} + strsignal(sig));
    sys.middleman().unpublish(node, *port);
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  }
  actorkv::log_event(node_name, "stopped");
  return 0;
}
