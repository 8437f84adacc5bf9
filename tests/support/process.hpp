// Child processes for cluster tests: run a program to completion, or keep one running in the
// background (a kvnode), and probe TCP ports on loopback.
//
// Contract:
// - Programs are started with fork + execv: no shell, no PATH lookup, argv[0] is the path.
// - A child gets only stdin/stdout/stderr: every other descriptor of the test process (pipes,
//   sockets, other children's pipes) is closed in the child before exec, so a kvnode never keeps
//   a pipe of run_program (or of another test) open. Signal dispositions and the signal mask are
//   reset to the defaults, whatever the test process (Boost.Test, CAF) changed.
// - Only the PID a function started is ever signalled, and only while it has not been reaped by
//   this code (until then the PID cannot be reused by the kernel). Nothing here calls
//   waitpid(-1) or kill() with a group or a negative PID.
// - Failing to start a program (fork, pipe or exec failure, e.g. a missing binary) throws
//   std::runtime_error naming the program and the reason; what a program does once it runs is
//   reported through exit codes.
// - Exit statuses are encoded as one int: the exit code (0..255) if the process exited, or
//   -signal if a signal ended it (e.g. -9 after SIGKILL).
// - The port helpers refuse (std::invalid_argument) any host that is not a numeric IPv4 address in
//   127.0.0.0/8 or "localhost": tests never send anything off the machine.
// - Plain POSIX + C++17; no CAF, so the helpers cannot disturb an actor system in the same process.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace actorkv::test {

/// What a program run to completion produced.
struct run_result {
  int exit_code = -1; ///< exit code, or -signal; -SIGKILL when the time-out killed it
  std::string out;    ///< everything written to stdout
  std::string err;    ///< everything written to stderr
  bool timed_out = false;
};

/// Runs argv[0] (a path) with the arguments, writes stdin_text to its stdin and then closes it,
/// and collects stdout and stderr until it exits. All three pipes are served by one poll loop, so
/// inputs and outputs of any size cannot deadlock. When `timeout` expires the process is killed
/// (SIGKILL to its PID, then reaped) and the result has timed_out set and whatever output came
/// before. Throws std::runtime_error if the program cannot be started.
run_result run_program(const std::vector<std::string>& argv, const std::string& stdin_text,
                       std::chrono::milliseconds timeout);

/// A background process (a kvnode) whose stdout and stderr are appended to a log file and whose
/// stdin is /dev/null. Owns its PID: movable, not copyable, and the destructor kills and reaps a
/// process that is still there, so a failing test cannot leave nodes behind.
class child_process {
public:
  /// Starts argv[0] (a path). Throws std::runtime_error if the log file cannot be opened or the
  /// program cannot be executed.
  static child_process start(const std::vector<std::string>& argv, const std::string& log_path);

  child_process() = default;
  child_process(child_process&& other) noexcept;
  /// Kills (and reaps) the process this object held before taking over `other`'s.
  child_process& operator=(child_process&& other) noexcept;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  /// The PID, or -1 for an empty object. Stays valid after the process was reaped, for messages.
  pid_t pid() const { return pid_; }

  /// True while the process has not exited. Reaps it (waitpid WNOHANG) if it has; a stopped
  /// (SIGSTOP) process counts as running.
  bool running();

  /// The exit status (code or -signal) once the process has been reaped, else nothing.
  std::optional<int> exit_status() const { return status_; }

  /// Sends `sig` to the process; does nothing once it has been reaped, so a stale PID is never
  /// signalled.
  void signal(int sig);

  /// SIGTERM (followed by SIGCONT, so a paused process can act on it), then waits up to `grace`
  /// for it to exit, then SIGKILL. Returns the exit status; if it had already exited, that status.
  /// Returns -1 for an empty object.
  int stop(std::chrono::milliseconds grace);

  /// SIGKILL and reap; nothing if it has already exited.
  void kill_now();

private:
  explicit child_process(pid_t pid) : pid_(pid) {}

  /// Blocks until the process is reaped and records its status.
  void reap();

  pid_t pid_ = -1;
  std::optional<int> status_; ///< set once reaped; from then on pid_ is never signalled
};

/// One TCP connection attempt to host:port, bounded by `timeout`; true if it was accepted. The
/// connection is closed at once.
bool try_connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout);

/// Tries to connect every 50 ms until one attempt succeeds (true) or `timeout` expires (false).
bool wait_for_port(const std::string& host, uint16_t port, std::chrono::milliseconds timeout);

/// True if a listening TCP socket could be bound to host:port right now. Without SO_REUSEADDR, so
/// a port still holding TIME_WAIT connections counts as taken: conservative on purpose.
bool port_is_free(const std::string& host, uint16_t port);

} // namespace actorkv::test
