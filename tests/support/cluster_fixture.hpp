// A throw-away local cluster of real kvnode processes for tests/cluster.
//
// Contract:
// - The constructor needs env ACTORKV_BIN (ctest sets it to build/bin) holding executable kvnode
//   and kvsh, and throws std::runtime_error saying what is missing otherwise. It creates a fresh
//   directory /tmp/actorkv-test-XXXXXX and writes manifest.toml there (docs/design.md section
//   12); no node is started until start()/start_all().
// - With options::tls (the default) it first makes a CA and certificates with tools/certs (env
//   ACTORKV_SOURCE, set by ctest, names the source tree) in <dir>/certs: one per node (n<i+1>,
//   OU=node, its address in the subjectAltName) and the clients admin, writer and reader; the
//   manifest's [tls] names them, and the fixture sets ACTORKV_CA, ACTORKV_CERT and ACTORKV_KEY to
//   the admin's, so that kvsh, kvbench and client_system (which read them) connect over TLS.
// - Node i (0-based) is named "n<i+1>", listens on 127.0.X.(10+i), port 7100+i, and keeps its data
//   in <dir>/n<i+1> and its log (stdout+stderr, appended across restarts) in <dir>/n<i+1>.log.
//   X (1..254) starts from the test's PID and is reserved for the fixture's lifetime through an
//   abstract-namespace Unix socket, so concurrently running test binaries (and several fixtures in
//   one binary) never share addresses; a taken or busy X is skipped. Only 127.0.0.0/8 is used.
// - Node indexes out of range throw std::out_of_range; starting a running node or signalling one
//   that was never started throws std::logic_error.
// - Only processes this fixture started are ever signalled. The destructor resumes (SIGCONT) and
//   kills (SIGKILL) each of them, reaps them, and removes the directory unless env
//   ACTORKV_KEEP_TEST_DIRS is set (then it prints the path). If the fixture is destroyed while an
//   exception unwinds the test, the last log lines of every node go to stderr first.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace actorkv::test {

class local_cluster {
public:
  struct options {
    size_t nodes = 3;
    uint32_t partitions = 64;
    uint32_t replicas = 3;
    uint32_t read_quorum = 2;
    uint32_t write_quorum = 2;
    std::string quorum = "strict";
    std::string conflicts = "siblings";
    std::vector<uint32_t> capacities; ///< empty: 1 for every node; else one per node
    std::string extra_toml;           ///< appended verbatim after the [[node]] entries
    bool tls = true;                  ///< false: [tls] enabled = false, plaintext everywhere
    bool https = false;               ///< node i serves the HTTPS API on https_port(i)
  };

  local_cluster() : local_cluster(options{}) {}
  explicit local_cluster(options opts);
  local_cluster(const local_cluster&) = delete;
  local_cluster& operator=(const local_cluster&) = delete;
  ~local_cluster();

  size_t size() const { return opts_.nodes; }
  const options& settings() const { return opts_; }

  std::string manifest_path() const;
  /// `<dir>/certs/<name>.crt` (and .key): "ca", a node's name, "admin", "writer" or "reader".
  std::string cert_path(const std::string& name) const;
  std::string key_path(const std::string& name) const;
  const std::string& dir() const { return dir_; }
  std::string node_name(size_t i) const;
  std::string host(size_t i) const;
  uint16_t port(size_t i) const;
  std::string endpoint(size_t i) const; ///< "host:port", as kvsh --connect takes it
  uint16_t https_port(size_t i) const;  ///< 8100 + i, with options::https
  std::string https_url(size_t i) const; ///< "https://host:https_port" (http:// without TLS)
  std::string data_dir(size_t i) const;
  std::string log_path(size_t i) const;
  std::string log(size_t i) const; ///< the log file's contents ("" before the first start)
  /// The last `lines` lines of the log, for failure messages.
  std::string log_tail(size_t i, size_t lines = 20) const;

  /// Polls the log every 50 ms until it contains `needle`; for events such as "joined" that an
  /// open port does not prove.
  bool wait_for_log(size_t i, const std::string& needle, std::chrono::milliseconds timeout) const;

  /// Starts `kvnode --manifest <manifest> --node n<i+1> [extra_args...]` and waits up to 20 s for
  /// its port (and, with options::https and no extra_args, its HTTPS port) to accept connections.
  /// Throws std::runtime_error with the last 20 log lines if the process exits first or the port
  /// never opens (the process is killed then).
  void start(size_t i);
  void start(size_t i, const std::vector<std::string>& extra_args);
  void start_all();

  void kill(size_t i); ///< SIGKILL and reap; nothing if it is not running
  /// SIGTERM (and SIGCONT, in case it is paused), up to `grace`, then SIGKILL. Returns the exit
  /// status (code or -signal).
  int stop(size_t i, std::chrono::milliseconds grace = std::chrono::seconds(30));
  void pause(size_t i);  ///< SIGSTOP; throws std::logic_error if not running
  void resume(size_t i); ///< SIGCONT; throws std::logic_error if not running
  bool running(size_t i);
  pid_t pid(size_t i) const; ///< -1 if never started

  /// `kvsh --connect <endpoint(i)>` with `script` on stdin.
  run_result kvsh(size_t i, const std::string& script,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
  /// `kvsh <args...>` with `stdin_text` on stdin.
  run_result kvsh_args(const std::vector<std::string>& args, const std::string& stdin_text = "",
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));
  /// The path of a program in ACTORKV_BIN (kvnode, kvsh, kvbench...), checked to be executable.
  std::string binary(const std::string& name) const;

  /// Replaces the manifest with edit(current text), atomically; nodes read it when (re)started.
  void rewrite_manifest(const std::function<std::string(std::string)>& edit);
  std::string manifest_text() const;

private:
  void check_index(size_t i) const;
  void make_certificates();

  options opts_;
  std::string bin_dir_;
  std::string dir_;
  unsigned octet_ = 0;    ///< X in 127.0.X.(10+i)
  int address_lock_ = -1; ///< the socket that reserves X
  int uncaught_at_start_ = 0;
  std::vector<child_process> nodes_;
};

} // namespace actorkv::test
