#include "tests/support/process.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace actorkv::test {

namespace {

using clock_type = std::chrono::steady_clock;

/// strerror() is not thread-safe; the generic category's message is.
std::string error_text(int e) {
  return std::error_code(e, std::generic_category()).message();
}

[[noreturn]] void fail(const std::string& what, int e) {
  throw std::runtime_error(what + ": " + error_text(e));
}

/// Owns one file descriptor.
class fd_guard {
public:
  fd_guard() = default;
  explicit fd_guard(int fd) : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() { reset(); }

  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_ = -1;
};

/// Moves a descriptor to 3 or above (keeping close-on-exec). If the test process runs with stdin,
/// stdout or stderr closed, a new pipe can land on 0..2, and the child's dup2 onto 0..2 would then
/// overwrite one pipe end with another.
void lift(fd_guard& fd) {
  if (fd.get() >= 3)
    return;
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0)
    fail("fcntl(F_DUPFD_CLOEXEC)", errno);
  fd.reset(moved);
}

/// A pipe whose ends are close-on-exec from the start: a child started by another thread at the
/// same moment must not inherit them (it would hold our pipe open and hide the EOF).
void make_pipe(fd_guard& read_end, fd_guard& write_end) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    fail("pipe2", errno);
  read_end.reset(p[0]);
  write_end.reset(p[1]);
  lift(read_end);
  lift(write_end);
}

void set_nonblocking(const fd_guard& fd) {
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0)
    fail("fcntl(O_NONBLOCK)", errno);
}

int decode_status(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return -WTERMSIG(status);
  return -1;
}

/// Blocking waitpid for exactly `pid`; the exit status, or -1 if it was reaped elsewhere.
int reap_pid(pid_t pid) {
  int status = 0;
  pid_t r;
  do
    r = ::waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  return r == pid ? decode_status(status) : -1;
}

/// Runs in the child between fork and exec, so only async-signal-safe calls: the parent may have
/// other threads (CAF, Boost.Test) whose locks are frozen in this copy of the process.
[[noreturn]] void exec_child(char* const* args, int in, int out, int err, int report, int max_fd) {
  // Ignored signals stay ignored across exec and a blocked mask is inherited; a kvnode must see
  // SIGTERM, SIGINT and SIGPIPE as a freshly started program would.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig)
    sigaction(sig, &dfl, nullptr); // fails harmlessly for SIGKILL, SIGSTOP and glibc's own
  bool ok = ::dup2(in, 0) >= 0 && ::dup2(out, 1) >= 0 && ::dup2(err, 2) >= 0;
  if (ok) {
    // Nothing but 0..2 (and the exec report pipe, close-on-exec) survives into the program, even
    // descriptors some other code opened without O_CLOEXEC.
    const auto r = static_cast<unsigned>(report);
    bool closed = (r == 3 || ::close_range(3, r - 1, 0) == 0) && ::close_range(r + 1, ~0U, 0) == 0;
    if (!closed)
      for (int fd = 3; fd <= max_fd; ++fd)
        if (fd != report)
          ::close(fd);
    ::execv(args[0], args);
  }
  int e = errno;
  ssize_t ignored = ::write(report, &e, sizeof e);
  (void)ignored;
  ::_exit(127);
}

/// Forks and execs argv with the given descriptors (all >= 3) as its stdin, stdout and stderr.
/// Exec failures are reported back through a close-on-exec pipe: EOF on it means exec succeeded.
pid_t spawn(const std::vector<std::string>& argv, int in, int out, int err) {
  if (argv.empty() || argv[0].empty())
    throw std::invalid_argument("cannot start a program: empty argv");
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // Computed before fork: the fallback for kernels without close_range.
  rlimit lim{};
  int max_fd = 4096;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    max_fd = static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536));
  fd_guard report_r, report_w;
  make_pipe(report_r, report_w);
  pid_t pid = ::fork();
  if (pid < 0)
    fail("cannot start " + argv[0] + ": fork", errno);
  if (pid == 0)
    exec_child(args.data(), in, out, err, report_w.get(), max_fd);
  report_w.reset();
  int child_errno = 0;
  ssize_t n;
  do
    n = ::read(report_r.get(), &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    reap_pid(pid);
    fail("cannot execute " + argv[0], child_errno);
  }
  return pid;
}

/// Writing to a pipe whose reader has exited raises SIGPIPE, which would end the test process.
/// Blocking it in this thread turns that into EPIPE; a SIGPIPE raised meanwhile is consumed before
/// the old mask returns, unless one was already pending (then it belongs to someone else).
class sigpipe_blocker {
public:
  sigpipe_blocker() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    was_pending_ = ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  sigpipe_blocker(const sigpipe_blocker&) = delete;
  sigpipe_blocker& operator=(const sigpipe_blocker&) = delete;
  ~sigpipe_blocker() {
    if (!was_pending_) {
      timespec zero{0, 0};
      while (::sigtimedwait(&set_, nullptr, &zero) == SIGPIPE) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

private:
  sigset_t set_;
  sigset_t old_;
  bool was_pending_ = false;
};

/// Milliseconds until `deadline`, rounded up (so a poll never returns just before it) and capped.
int ms_until(clock_type::time_point deadline, int cap) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock_type::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, cap));
}

/// Reads everything available now; closes the descriptor at EOF or on an error.
void drain(fd_guard& fd, std::string& into) {
  char buf[65536];
  while (fd.open()) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0)
      into.append(buf, static_cast<size_t>(n));
    else if (n < 0 && errno == EINTR)
      continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    else
      fd.reset();
  }
}

in_addr loopback_address(const std::string& host) {
  in_addr addr{};
  const std::string numeric = host == "localhost" ? "127.0.0.1" : host;
  if (::inet_pton(AF_INET, numeric.c_str(), &addr) != 1)
    throw std::invalid_argument("'" + host + "' is not a numeric IPv4 address");
  if ((ntohl(addr.s_addr) >> 24) != 127)
    throw std::invalid_argument("'" + host + "' is not a loopback address (127.0.0.0/8)");
  return addr;
}

sockaddr_in socket_address(const std::string& host, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr = loopback_address(host);
  return sa;
}

} // namespace

run_result run_program(const std::vector<std::string>& argv, const std::string& stdin_text,
                       std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  fd_guard in_r, in_w, out_r, out_w, err_r, err_w;
  make_pipe(in_r, in_w);
  make_pipe(out_r, out_w);
  make_pipe(err_r, err_w);
  sigpipe_blocker no_sigpipe;
  const pid_t pid = spawn(argv, in_r.get(), out_w.get(), err_w.get());
  // Only the child may hold these ends, or the EOFs we wait for never come.
  in_r.reset();
  out_w.reset();
  err_w.reset();
  run_result result;
  bool exited = false;
  int code = -1;
  try {
    set_nonblocking(in_w);
    set_nonblocking(out_r);
    set_nonblocking(err_r);
    size_t written = 0;
    if (stdin_text.empty())
      in_w.reset();
    for (;;) {
      if (!exited) {
        int status = 0;
        pid_t w;
        do
          w = ::waitpid(pid, &status, WNOHANG);
        while (w < 0 && errno == EINTR);
        if (w == pid || w < 0) {
          exited = true;
          code = w == pid ? decode_status(status) : -1;
        }
      }
      if (exited) {
        // Everything it wrote is in the pipes by now; a grandchild that inherited them must not
        // keep us waiting for an EOF.
        drain(out_r, result.out);
        drain(err_r, result.err);
        break;
      }
      if (clock_type::now() >= deadline) {
        ::kill(pid, SIGKILL);
        code = reap_pid(pid);
        exited = true;
        result.timed_out = true;
        drain(out_r, result.out);
        drain(err_r, result.err);
        break;
      }
      pollfd fds[3];
      nfds_t count = 0;
      if (in_w.open())
        fds[count++] = pollfd{in_w.get(), POLLOUT, 0};
      if (out_r.open())
        fds[count++] = pollfd{out_r.get(), POLLIN, 0};
      if (err_r.open())
        fds[count++] = pollfd{err_r.get(), POLLIN, 0};
      // With pipes open, their EOF wakes us when the child exits and 50 ms bounds the case where
      // a grandchild keeps them open; with all pipes closed only the exit is left to notice.
      const int wait_ms = ms_until(deadline, count > 0 ? 50 : 2);
      int ready = ::poll(fds, count, wait_ms);
      if (ready < 0) {
        if (errno == EINTR)
          continue;
        fail("poll", errno);
      }
      for (nfds_t k = 0; k < count; ++k) {
        if (fds[k].revents == 0)
          continue;
        if (fds[k].fd == in_w.get()) {
          if (fds[k].revents & POLLOUT) {
            const size_t chunk = std::min<size_t>(stdin_text.size() - written, 65536);
            ssize_t n = ::write(in_w.get(), stdin_text.data() + written, chunk);
            if (n > 0) {
              written += static_cast<size_t>(n);
              if (written == stdin_text.size())
                in_w.reset(); // EOF on the child's stdin ends a script
            } else if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
              in_w.reset(); // EPIPE: it stopped reading; the rest of the input is moot
            }
          } else {
            in_w.reset(); // POLLERR / POLLHUP: the reader is gone
          }
        } else if (fds[k].fd == out_r.get()) {
          drain(out_r, result.out);
        } else if (fds[k].fd == err_r.get()) {
          drain(err_r, result.err);
        }
      }
    }
  } catch (...) {
    if (!exited) {
      ::kill(pid, SIGKILL);
      reap_pid(pid);
    }
    throw;
  }
  result.exit_code = code;
  return result;
}

child_process child_process::start(const std::vector<std::string>& argv,
                                   const std::string& log_path) {
  fd_guard log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log.open())
    fail("cannot open log file " + log_path, errno);
  lift(log);
  fd_guard null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null.open())
    fail("cannot open /dev/null", errno);
  lift(null);
  return child_process(spawn(argv, null.get(), log.get(), log.get()));
}

child_process::child_process(child_process&& other) noexcept
    : pid_(other.pid_), status_(other.status_) {
  other.pid_ = -1;
  other.status_.reset();
}

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    kill_now();
    pid_ = other.pid_;
    status_ = other.status_;
    other.pid_ = -1;
    other.status_.reset();
  }
  return *this;
}

child_process::~child_process() {
  kill_now();
}

bool child_process::running() {
  if (pid_ <= 0 || status_)
    return false;
  int status = 0;
  pid_t r;
  do
    r = ::waitpid(pid_, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0)
    return true;
  // r < 0 (ECHILD) means someone else reaped it: the PID is no longer ours to signal either.
  status_ = r == pid_ ? decode_status(status) : -1;
  return false;
}

void child_process::signal(int sig) {
  if (pid_ > 0 && !status_)
    ::kill(pid_, sig);
}

int child_process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0)
    return -1;
  if (!running())
    return *status_;
  signal(SIGTERM);
  signal(SIGCONT);
  const auto deadline = clock_type::now() + grace;
  auto step = std::chrono::milliseconds(1);
  while (clock_type::now() < deadline) {
    if (!running())
      return *status_;
    std::this_thread::sleep_for(std::min<clock_type::duration>(step, deadline - clock_type::now()));
    step = std::min(step * 2, std::chrono::milliseconds(20));
  }
  kill_now();
  return status_ ? *status_ : -1;
}

void child_process::kill_now() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    reap();
  }
}

void child_process::reap() {
  if (pid_ > 0 && !status_)
    status_ = reap_pid(pid_);
}

bool try_connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  const sockaddr_in sa = socket_address(host, port);
  fd_guard sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock.open())
    fail("socket", errno);
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0)
    return true;
  if (errno != EINPROGRESS && errno != EINTR)
    return false;
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    pollfd p{sock.get(), POLLOUT, 0};
    int ready = ::poll(&p, 1, ms_until(deadline, 1 << 30));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0)
      return false;
    int error = 0;
    socklen_t len = sizeof error;
    return ::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
  }
}

bool wait_for_port(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    const auto attempt = std::chrono::milliseconds(std::max(ms_until(deadline, 1000), 1));
    if (try_connect(host, port, attempt))
      return true;
    if (clock_type::now() >= deadline)
      return false;
    // The last attempt lands on the deadline rather than up to 50 ms before it.
    std::this_thread::sleep_for(std::min<clock_type::duration>(std::chrono::milliseconds(50),
                                                               deadline - clock_type::now()));
  }
}

bool port_is_free(const std::string& host, uint16_t port) {
  const sockaddr_in sa = socket_address(host, port);
  fd_guard sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.open())
    fail("socket", errno);
  return ::bind(sock.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
}

} // namespace actorkv::test
