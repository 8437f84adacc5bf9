// Connections between nodes on demand (issue 17; actors/node/peers.cpp, "Idle connections"), with
// real kvnode processes: a starting node dials only the peers it shares partitions with, nodes
// that share no partition close their idle connection, a request whose replicas sit on such a
// peer dials it again and succeeds, and a node killed while its connections were closed is still
// found down by every other node.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <dirent.h>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

/// The socket inodes process `pid` holds.
std::set<unsigned long> socket_inodes(pid_t pid) {
  std::set<unsigned long> out;
  auto dir = "/proc/" + std::to_string(pid) + "/fd";
  if (auto* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d)) {
      char target[64] = {};
      auto path = dir + "/" + e->d_name;
      auto n = ::readlink(path.c_str(), target, sizeof(target) - 1);
      unsigned long inode = 0;
      if (n > 0 && std::sscanf(target, "socket:[%lu]", &inode) == 1)
        out.insert(inode);
    }
    ::closedir(d);
  }
  return out;
}

/// "a.b.c.d:port" of a /proc/net/tcp address ("0100007F:1F90").
std::string endpoint_of(const std::string& hex) {
  auto colon = hex.find(':');
  in_addr a{};
  a.s_addr = static_cast<uint32_t>(std::stoul(hex.substr(0, colon), nullptr, 16));
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a, text, sizeof(text));
  return std::string{text} + ":" + std::to_string(std::stoul(hex.substr(colon + 1), nullptr, 16));
}

/// The established connections of node `i` to and from the other nodes' ports: its dialed ones
/// (to another node's port) and those it accepted on its own port from another node's process.
size_t peer_connections(local_cluster& c, size_t i) {
  std::set<std::string> ports;
  for (size_t j = 0; j < c.size(); ++j)
    ports.insert(c.endpoint(j));
  // Which process holds each established socket on a node's port, by inode.
  std::map<unsigned long, size_t> owner;
  for (size_t j = 0; j < c.size(); ++j)
    if (c.running(j))
      for (auto inode : socket_inodes(c.pid(j)))
        owner[inode] = j;
  // A connection between two nodes: one socket dialed to a node's port (the dialer's), one
  // accepted on it (the guard's). Each is counted for both nodes, by the dialer's socket.
  std::ifstream tcp{"/proc/net/tcp"};
  std::string line;
  std::getline(tcp, line); // the header
  size_t count = 0;
  for (; std::getline(tcp, line);) {
    std::istringstream in{line};
    std::string sl, local, remote, state, skip;
    unsigned long inode = 0;
    in >> sl >> local >> remote >> state;
    for (int k = 0; k < 5; ++k)
      in >> skip;
    in >> inode;
    if (state != "01" || ports.count(endpoint_of(remote)) == 0)
      continue;
    auto dialer = owner.find(inode);
    if (dialer == owner.end())
      continue; // not a node's (kvsh, the test)
    auto to = endpoint_of(remote);
    bool to_i = to == c.endpoint(i);
    if (dialer->second == i || to_i)
      ++count;
  }
  return count;
}

std::string connection_counts(local_cluster& c) {
  std::string out;
  for (size_t i = 0; i < c.size(); ++i)
    out += (i ? " " : "") + c.node_name(i) + "=" + std::to_string(peer_connections(c, i));
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(idle_peers)

BOOST_AUTO_TEST_CASE(nodes_sharing_no_partition_close_idle_connections_and_dial_again_on_demand) {
  local_cluster::options o;
  o.nodes = 12;
  o.partitions = 16; // each node shares partitions with about 4 of its 11 peers
  o.quorum = "strict";
  // Connections idle for a second close; a probe every 2 s per node reaches each of 11 peers
  // every 22 s, so most connections idle between probes.
  o.extra_toml = "[limits]\npeer_idle_ms = 1000\n[failure_detector]\ninterval_ms = 2000\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  const size_t all_pairs = c.size() * (c.size() - 1); // counted from both ends
  auto total = [&] {
    size_t sum = 0;
    for (size_t i = 0; i < c.size(); ++i)
      sum += peer_connections(c, i);
    return sum;
  };
  // A node dials only the peers it shares partitions with when it starts: well under every pair.
  BOOST_TEST(total() * 10 <= all_pairs * 7, "after the start: " << connection_counts(c));
  BOOST_TEST_MESSAGE("connections after the start: " << connection_counts(c));
  // And those it dials for a probe or a request close again once idle.
  BOOST_TEST(eventually(30s, [&] { return total() * 10 <= all_pairs * 6; }),
             "connections stay open: " << connection_counts(c));
  BOOST_TEST_MESSAGE("connections once idle ones closed: " << connection_counts(c));

  // status --all asks every member itself, connecting again to those it had let go.
  BOOST_TEST(eventually(30s, [&] { return peer_connections(c, 0) <= c.size() - 4; }),
             connection_counts(c));
  auto all = c.kvsh_args({"--connect", c.endpoint(0), "-c", "status --all"}, "", 60s);
  BOOST_TEST(all.exit_code == 0, all.out << all.err);
  BOOST_TEST(all.out.find("no answer") == std::string::npos, all.out);

  // Requests go wherever their keys' replicas are: closed connections are dialed again.
  std::string puts, oks, gets, expected;
  for (int k = 0; k < 48; ++k) {
    puts += "put idle-" + std::to_string(k) + " v" + std::to_string(k) + "\n";
    oks += "ok\n";
    gets += "get idle-" + std::to_string(k) + "\n";
    expected += "v" + std::to_string(k) + "\n";
  }
  auto wrote = c.kvsh(0, puts);
  BOOST_TEST(wrote.out == oks, wrote.out << wrote.err);
  auto read = c.kvsh(6, gets);
  BOOST_TEST(read.out == expected, read.out << read.err);

  // Nobody was taken for down while its connection was closed.
  for (size_t i = 0; i < c.size(); ++i)
    for (size_t j = 0; j < c.size(); ++j)
      if (i != j)
        BOOST_TEST(sees(c, i, c.node_name(j), "up"), c.node_name(i)
                                                         << " sees " << c.node_name(j) << " down");

  // A node killed while most of its connections were closed is found down by all the others.
  auto victim = c.size() - 1;
  c.kill(victim);
  auto killed_at = std::chrono::steady_clock::now();
  for (size_t i = 0; i + 1 < c.size(); ++i)
    BOOST_TEST(eventually(30s, [&] { return sees(c, i, c.node_name(victim), "down"); }),
               c.node_name(i) << " never saw the killed " << c.node_name(victim) << " down");
  BOOST_TEST_MESSAGE(c.node_name(victim) << " down everywhere after "
                                         << std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::steady_clock::now() - killed_at)
                                                .count()
                                         << " ms");
  // And the keys it held are still there (N = 3, R = 2).
  auto again = c.kvsh(3, gets);
  BOOST_TEST(again.out == expected, again.out << again.err);
}

BOOST_AUTO_TEST_SUITE_END()
