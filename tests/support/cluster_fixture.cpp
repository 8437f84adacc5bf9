#include "tests/support/cluster_fixture.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace actorkv::test {

namespace {

namespace fs = std::filesystem;

constexpr uint16_t base_port = 7100;
constexpr unsigned first_host_octet = 10;
/// 127.0.X.(10+i) must stay a valid host address.
constexpr size_t max_nodes = 245;
constexpr auto start_timeout = std::chrono::seconds(20);

std::string describe_status(int status) {
  if (status >= 0)
    return "exit code " + std::to_string(status);
  return "signal " + std::to_string(-status);
}

/// A TOML basic string: paths and names are ours, but a quote or backslash must not break the file.
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
        out += buf;
      } else {
        out += c;
      }
    }
  }
  return out + "\"";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

std::string address(unsigned octet, size_t i) {
  return "127.0." + std::to_string(octet) + "." + std::to_string(first_host_octet + i);
}

/// Reserves X for 127.0.X.* by binding an abstract-namespace Unix socket named after it: the name
/// is free again the moment the holder closes it or dies, so no lock files are left behind, and it
/// is shared by everything on this network namespace, exactly the scope loopback addresses have.
int try_reserve(unsigned octet) {
  int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    throw std::runtime_error("socket(AF_UNIX): " +
                             std::error_code(errno, std::generic_category()).message());
  const std::string name = "actorkv-test-127.0." + std::to_string(octet);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path + 1, name.data(), name.size()); // sun_path[0] == 0: abstract
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(sock, reinterpret_cast<const sockaddr*>(&sa), len) != 0) {
    ::close(sock);
    return -1;
  }
  return sock;
}

/// Picks X from the PID (so concurrent test binaries start apart) plus a per-process sequence (so
/// consecutive fixtures in one binary do not reuse ports that may still hold TIME_WAIT
/// connections), skipping any X reserved by another fixture or with a port already bound.
int reserve_addresses(size_t nodes, unsigned& octet) {
  static std::atomic<unsigned> sequence{0};
  const unsigned base = static_cast<unsigned>(::getpid());
  for (unsigned attempt = 0; attempt < 254; ++attempt) {
    const unsigned x = 1 + (base + sequence.fetch_add(1)) % 254;
    int lock = try_reserve(x);
    if (lock < 0)
      continue;
    bool free = true;
    for (size_t i = 0; i < nodes && free; ++i)
      free = port_is_free(address(x, i), static_cast<uint16_t>(base_port + i));
    if (free) {
      octet = x;
      return lock;
    }
    ::close(lock);
  }
  throw std::runtime_error("local_cluster: no free 127.0.X.* address block for " +
                           std::to_string(nodes) + " nodes");
}

} // namespace

local_cluster::local_cluster(options opts)
    : opts_(std::move(opts)), uncaught_at_start_(std::uncaught_exceptions()) {
  if (opts_.nodes < 1 || opts_.nodes > max_nodes)
    throw std::invalid_argument("local_cluster: nodes must be 1.." + std::to_string(max_nodes));
  if (opts_.capacities.empty())
    opts_.capacities.assign(opts_.nodes, 1);
  if (opts_.capacities.size() != opts_.nodes)
    throw std::invalid_argument("local_cluster: " + std::to_string(opts_.capacities.size()) +
                                " capacities for " + std::to_string(opts_.nodes) + " nodes");
  const char* bin = std::getenv("ACTORKV_BIN");
  if (bin == nullptr || *bin == '\0')
    throw std::runtime_error("local_cluster: ACTORKV_BIN is not set; run the cluster tests "
                             "through ctest, which points it at build/bin, or set it yourself");
  bin_dir_ = fs::absolute(bin).lexically_normal().string();
  binary("kvnode");
  binary("kvsh");

  address_lock_ = reserve_addresses(opts_.nodes, octet_);
  char tmpl[] = "/tmp/actorkv-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    int e = errno;
    ::close(address_lock_);
    throw std::runtime_error("local_cluster: mkdtemp: " +
                             std::error_code(e, std::generic_category()).message());
  }
  dir_ = tmpl;
  try {
    if (opts_.tls)
      make_certificates();
    std::ostringstream m;
    m << "[store]\n"
      << "name = \"test\"\n"
      << "partitions = " << opts_.partitions << "\n"
      << "replicas = " << opts_.replicas << "\n"
      << "read_quorum = " << opts_.read_quorum << "\n"
      << "write_quorum = " << opts_.write_quorum << "\n"
      << "quorum = " << toml_string(opts_.quorum) << "\n"
      << "conflicts = " << toml_string(opts_.conflicts) << "\n"
      << "\n[storage]\n"
      << "sync = \"normal\"\n";
    if (opts_.tls)
      m << "\n[tls]\n"
        << "ca = " << toml_string(cert_path("ca")) << "\n"
        << "cert = " << toml_string(cert_path("{node}")) << "\n"
        << "key = " << toml_string(key_path("{node}")) << "\n";
    else
      m << "\n[tls]\nenabled = false\n";
    for (size_t i = 0; i < opts_.nodes; ++i)
      m << "\n[[node]]\n"
        << "name = " << toml_string(node_name(i)) << "\n"
        << "host = " << toml_string(host(i)) << "\n"
        << "port = " << port(i) << "\n"
        << "capacity = " << opts_.capacities[i] << "\n"
        << "data_dir = " << toml_string(data_dir(i)) << "\n"
        << (opts_.https ? "https_port = " + std::to_string(https_port(i)) + "\n" : "");
    if (!opts_.extra_toml.empty())
      m << "\n" << opts_.extra_toml << (opts_.extra_toml.back() == '\n' ? "" : "\n");
    write_file(manifest_path(), m.str());
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    ::close(address_lock_);
    throw;
  }
  nodes_.resize(opts_.nodes);
}

local_cluster::~local_cluster() {
  if (std::uncaught_exceptions() > uncaught_at_start_) {
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].pid() > 0)
        std::cerr << "--- " << node_name(i) << " log (last lines) ---\n" << log_tail(i) << "\n";
  }
  for (auto& node : nodes_) {
    // A SIGKILLed stopped process dies too, but resuming first keeps the order the contract names.
    if (node.running())
      node.signal(SIGCONT);
    node.kill_now();
  }
  if (address_lock_ >= 0)
    ::close(address_lock_);
  if (const char* keep = std::getenv("ACTORKV_KEEP_TEST_DIRS"); keep != nullptr && *keep != '\0') {
    std::cerr << "actorkv-test: keeping test directory " << dir_ << "\n";
  } else {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
}

void local_cluster::check_index(size_t i) const {
  if (i >= opts_.nodes)
    throw std::out_of_range("local_cluster: node index " + std::to_string(i) + " out of range (" +
                            std::to_string(opts_.nodes) + " nodes)");
}

uint16_t local_cluster::https_port(size_t i) const {
  check_index(i);
  return static_cast<uint16_t>(8100 + i);
}

std::string local_cluster::https_url(size_t i) const {
  return (opts_.tls ? "https://" : "http://") + host(i) + ":" + std::to_string(https_port(i));
}

std::string local_cluster::cert_path(const std::string& name) const {
  return dir_ + "/certs/" + name + ".crt";
}

std::string local_cluster::key_path(const std::string& name) const {
  return dir_ + "/certs/" + name + ".key";
}

void local_cluster::make_certificates() {
  const char* source = std::getenv("ACTORKV_SOURCE");
  if (source == nullptr || *source == '\0')
    throw std::runtime_error("local_cluster: env ACTORKV_SOURCE (the source tree, for "
                             "tools/certs) is not set; run through ctest");
  std::vector<std::string> argv{"/bin/bash", std::string{source} + "/tools/certs", dir_ + "/certs"};
  for (size_t i = 0; i < opts_.nodes; ++i)
    argv.push_back(node_name(i) + "@" + host(i));
  auto made = run_program(argv, "", std::chrono::seconds(60));
  if (made.exit_code != 0)
    throw std::runtime_error("local_cluster: tools/certs failed: " + made.err);
  ::setenv("ACTORKV_CA", cert_path("ca").c_str(), 1);
  ::setenv("ACTORKV_CERT", cert_path("admin").c_str(), 1);
  ::setenv("ACTORKV_KEY", key_path("admin").c_str(), 1);
}

std::string local_cluster::manifest_path() const {
  return dir_ + "/manifest.toml";
}

std::string local_cluster::node_name(size_t i) const {
  check_index(i);
  return "n" + std::to_string(i + 1);
}

std::string local_cluster::host(size_t i) const {
  check_index(i);
  return address(octet_, i);
}

uint16_t local_cluster::port(size_t i) const {
  check_index(i);
  return static_cast<uint16_t>(base_port + i);
}

std::string local_cluster::endpoint(size_t i) const {
  return host(i) + ":" + std::to_string(port(i));
}

std::string local_cluster::data_dir(size_t i) const {
  return dir_ + "/" + node_name(i);
}

std::string local_cluster::log_path(size_t i) const {
  return dir_ + "/" + node_name(i) + ".log";
}

std::string local_cluster::log(size_t i) const {
  return read_file(log_path(i));
}

std::string local_cluster::log_tail(size_t i, size_t lines) const {
  const std::string text = log(i);
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n')
    --end;
  size_t begin = end;
  for (size_t seen = 0; begin > 0; --begin)
    if (text[begin - 1] == '\n' && ++seen == lines)
      break;
  return text.substr(begin, end - begin);
}

bool local_cluster::wait_for_log(size_t i, const std::string& needle,
                                 std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (log(i).find(needle) != std::string::npos)
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string local_cluster::binary(const std::string& name) const {
  const std::string path = bin_dir_ + "/" + name;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec) || ::access(path.c_str(), X_OK) != 0)
    throw std::runtime_error("local_cluster: " + path +
                             " is missing or not executable (ACTORKV_BIN=" + bin_dir_ +
                             "); build it first");
  return path;
}

void local_cluster::start(size_t i) {
  start(i, {});
}

void local_cluster::start(size_t i, const std::vector<std::string>& extra_args) {
  check_index(i);
  auto& node = nodes_[i];
  if (node.running())
    throw std::logic_error("local_cluster: " + node_name(i) + " is already running (pid " +
                           std::to_string(node.pid()) + ")");
  std::vector<std::string> argv{binary("kvnode"), "--manifest", manifest_path(), "--node",
                                node_name(i)};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  node = child_process::start(argv, log_path(i));
  const auto deadline = std::chrono::steady_clock::now() + start_timeout;
  for (;;) {
    if (!node.running())
      throw std::runtime_error(
          "local_cluster: " + node_name(i) + " (pid " + std::to_string(node.pid()) +
          ") ended with " + describe_status(node.exit_status().value_or(-1)) + " before " +
          endpoint(i) + " accepted connections; last log lines:\n" + log_tail(i));
    // A manifest node with an HTTPS API opens that port just after its CAF port.
    bool https = opts_.https && extra_args.empty();
    if (try_connect(host(i), port(i), std::chrono::milliseconds(250)) &&
        (!https || try_connect(host(i), https_port(i), std::chrono::milliseconds(250))))
      return;
    if (std::chrono::steady_clock::now() >= deadline) {
      node.kill_now();
      throw std::runtime_error("local_cluster: " + node_name(i) +
                               " did not accept connections on " + endpoint(i) +
                               " within 20 s (killed it); last log lines:\n" + log_tail(i));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void local_cluster::start_all() {
  for (size_t i = 0; i < opts_.nodes; ++i)
    start(i);
}

void local_cluster::kill(size_t i) {
  check_index(i);
  nodes_[i].kill_now();
}

int local_cluster::stop(size_t i, std::chrono::milliseconds grace) {
  check_index(i);
  if (nodes_[i].pid() <= 0)
    throw std::logic_error("local_cluster: " + node_name(i) + " was never started");
  return nodes_[i].stop(grace);
}

void local_cluster::pause(size_t i) {
  check_index(i);
  if (!nodes_[i].running())
    throw std::logic_error("local_cluster: cannot pause " + node_name(i) + ": not running");
  nodes_[i].signal(SIGSTOP);
}

void local_cluster::resume(size_t i) {
  check_index(i);
  if (!nodes_[i].running())
    throw std::logic_error("local_cluster: cannot resume " + node_name(i) + ": not running");
  nodes_[i].signal(SIGCONT);
}

bool local_cluster::running(size_t i) {
  check_index(i);
  return nodes_[i].running();
}

pid_t local_cluster::pid(size_t i) const {
  check_index(i);
  return nodes_[i].pid();
}

run_result local_cluster::kvsh(size_t i, const std::string& script,
                               std::chrono::milliseconds timeout) {
  return kvsh_args({"--connect", endpoint(i)}, script, timeout);
}

run_result local_cluster::kvsh_args(const std::vector<std::string>& args,
                                    const std::string& stdin_text,
                                    std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{binary("kvsh")};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, stdin_text, timeout);
}

std::string local_cluster::manifest_text() const {
  return read_file(manifest_path());
}

void local_cluster::rewrite_manifest(const std::function<std::string(std::string)>& edit) {
  const std::string text = edit(manifest_text());
  // A node starting concurrently must read either the old or the new file, never half of one.
  const std::string tmp = manifest_path() + ".tmp";
  write_file(tmp, text);
  fs::rename(tmp, manifest_path());
}

} // namespace actorkv::test
