// TLS and roles on the CAF port, with real kvnode processes: every process proves itself with a
// certificate of the cluster CA, and its OU limits what it may do (docs/security.md).
#include <dirent.h>

#include <fstream>
#include <set>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

/// kvsh as the fixture's client `who` (admin, writer, reader) or any certificate in `dir`.
run_result kvsh_as(local_cluster& c, const std::string& who, const std::string& commands,
                   const std::string& dir = "") {
  auto in = [&](const std::string& ext) {
    return dir.empty() ? (ext == "key" ? c.key_path(who) : c.cert_path(who))
                       : dir + "/" + who + "." + ext;
  };
  return c.kvsh_args({"--connect", c.endpoint(0), "--timeout", "3000", "--ca", c.cert_path("ca"),
                      "--cert", in("crt"), "--key", in("key"), "-c", commands});
}

/// kvsh without any certificate (the fixture's identity taken out of the environment).
run_result kvsh_plaintext(local_cluster& c, const std::string& commands) {
  return run_program({"/usr/bin/env", "-u", "ACTORKV_CA", "-u", "ACTORKV_CERT", "-u",
                      "ACTORKV_KEY", c.binary("kvsh"), "--connect", c.endpoint(0), "--timeout",
                      "3000", "-c", commands},
                     "", 30s);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// "ADDRESS:PORT" of every TCP socket `pid` listens on, from /proc.
std::set<std::string> listening_sockets(pid_t pid) {
  std::set<std::string> inodes;
  auto fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  if (auto* d = ::opendir(fd_dir.c_str())) {
    while (auto* e = ::readdir(d)) {
      char target[256] = {0};
      auto path = fd_dir + "/" + e->d_name;
      auto n = ::readlink(path.c_str(), target, sizeof(target) - 1);
      std::string link{target, n > 0 ? static_cast<size_t>(n) : 0};
      if (link.rfind("socket:[", 0) == 0)
        inodes.insert(link.substr(8, link.size() - 9));
    }
    ::closedir(d);
  }
  std::set<std::string> out;
  std::ifstream tcp{"/proc/" + std::to_string(pid) + "/net/tcp"};
  std::string line;
  std::getline(tcp, line); // header
  while (std::getline(tcp, line)) {
    std::istringstream fields{line};
    std::string slot, local, remote, state, queues, timer, retrans, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retrans >> uid >> timeout >>
        inode;
    if (state != "0A" || inodes.count(inode) == 0) // 0A: LISTEN
      continue;
    // "0100007F:1BA5": the address as a little-endian hex word, the port in hex.
    auto addr = std::stoul(local.substr(0, 8), nullptr, 16);
    auto port = std::stoul(local.substr(9), nullptr, 16);
    out.insert(std::to_string(addr & 0xff) + "." + std::to_string((addr >> 8) & 0xff) + "." +
               std::to_string((addr >> 16) & 0xff) + "." + std::to_string(addr >> 24) + ":" +
               std::to_string(port));
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(security)

BOOST_AUTO_TEST_CASE(a_certificates_role_limits_what_its_holder_may_do) {
  local_cluster c{local_cluster::options{}};
  c.start_all();
  wait_until_all_up(c);
  // read: gets and status, nothing else; the refused put stores nothing.
  auto r = kvsh_as(c, "reader", "put k1 from-reader");
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "forbidden"), r.err);
  BOOST_TEST(contains(r.err, "needs the write role"), r.err);
  r = kvsh_as(c, "reader", "get k1");
  BOOST_TEST(r.exit_code == 3, r.err); // read, and not found
  BOOST_TEST(r.out == "(not found)\n");
  BOOST_TEST(kvsh_as(c, "reader", "status").exit_code == 0);
  // write: and puts and deletes, but no membership changes and no fault injection.
  r = kvsh_as(c, "writer", "put k1 from-writer");
  BOOST_TEST(r.exit_code == 0, r.err);
  r = kvsh_as(c, "reader", "get k1");
  BOOST_TEST(r.out == "from-writer\n", r.err);
  for (auto command : {"remove n3", "leave n2", "plan join 127.0.0.1:1", "fault drop n2"}) {
    r = kvsh_as(c, "writer", command);
    BOOST_TEST(r.exit_code != 0, command);
    BOOST_TEST((contains(r.err, "forbidden") && contains(r.err, "admin role")),
               command << ": " << r.err);
  }
  // Nothing changed: every node still a valid member, up.
  auto status = c.kvsh(0, "status\n").out;
  BOOST_TEST(!contains(status, "removed"), status);
  BOOST_TEST(!contains(status, "leaving"), status);
  BOOST_TEST(sees(c, 0, "n3", "up"));
}

BOOST_AUTO_TEST_CASE(processes_without_a_certificate_of_the_cluster_ca_are_refused) {
  local_cluster c{one_node()};
  c.start_all();
  // Another CA's admin, and an expired certificate of the cluster's own CA.
  auto other = c.dir() + "/other-ca";
  auto made = run_program({"/bin/bash", std::string{std::getenv("ACTORKV_SOURCE")} + "/tools/certs",
                           other, "--client", "admin:admin"},
                          "", 60s);
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  made = run_program({"/bin/bash", std::string{std::getenv("ACTORKV_SOURCE")} + "/tools/certs",
                      c.dir() + "/certs", "--expired", "old:admin"},
                     "", 60s);
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.err);

  auto r = kvsh_plaintext(c, "put stolen 1");
  BOOST_TEST(r.exit_code != 0, r.out);
  r = kvsh_as(c, "admin", "put stolen 2", other);
  BOOST_TEST(r.exit_code != 0, r.out);
  r = kvsh_as(c, "old", "put stolen 3");
  BOOST_TEST(r.exit_code != 0, r.out);
  // None of them stored anything; the cluster's own admin still gets in.
  r = c.kvsh(0, "get stolen\n");
  BOOST_TEST(r.exit_code == 3, r.err); // not found
  BOOST_TEST(r.out == "(not found)\n");
  // Each refusal is in the node's log, named by the remote address.
  auto log = c.log(0);
  BOOST_TEST(contains(log, "TLS"), c.log_tail(0));
}

BOOST_AUTO_TEST_CASE(cafs_own_port_listens_on_loopback_only) {
  auto o = one_node();
  local_cluster c{o};
  c.start_all();
  BOOST_REQUIRE(c.kvsh(0, "put k v\n").exit_code == 0);
  auto sockets = listening_sockets(c.pid(0));
  BOOST_TEST_MESSAGE("kvnode listens on " << sockets.size() << " sockets");
  BOOST_TEST(sockets.count(c.endpoint(0)) == 1);
  for (auto& s : sockets) {
    // The node's public port (the frame guard, TLS) on its address; CAF's plaintext port only
    // on 127.0.0.1, never on the node's address (127.0.X.10 here).
    bool public_port = s == c.endpoint(0);
    bool loopback_only = s.rfind("127.0.0.1:", 0) == 0;
    BOOST_TEST((public_port || loopback_only), s);
  }
}

BOOST_AUTO_TEST_SUITE_END()
