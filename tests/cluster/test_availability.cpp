// Availability through any node: a client given every endpoint keeps reading and writing while
// its first node is killed and restarted, paused (SIGSTOP) or cut off from its peers (actorkv's
// own fault injection), because it asks another node what one could not serve
// (actors/client/retry_policy.hpp); and a node that has just started gives clients no session
// until it is connected to its peers, or says why not and serves after a bounded wait
// (cluster-config/readiness.hpp).
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/client/client.hpp"
#include "messages/error.hpp"
#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {


std::string code_of(const caf::error& e) {
  return e.category() == caf::atom("actorkv") ? to_string(static_cast<ec>(e.code()))
                                              : caf::to_string(e);
}

/// Cuts node `i` off from every other node, in both directions (the client still reaches it).
void isolate(local_cluster& c, size_t i) {
  std::string others;
  for (size_t j = 0; j < c.size(); ++j)
    if (j != i) {
      others += (others.empty() ? "" : ",") + c.node_name(j);
      BOOST_REQUIRE(c.kvsh(j, "fault drop " + c.node_name(i) + "\n").exit_code == 0);
    }
  BOOST_REQUIRE(c.kvsh(i, "fault drop " + others + "\n").exit_code == 0);
}

void heal(local_cluster& c) {
  for (size_t i = 0; i < c.size(); ++i)
    if (c.running(i))
      BOOST_REQUIRE(c.kvsh(i, "fault heal\n").exit_code == 0);
}

/// What the clients saw during one phase of the test.
struct phase_tally {
  size_t reads = 0, reads_failed = 0, writes_ok = 0, writes_failed = 0, writes_uncertain = 0;
  std::map<std::string, size_t> read_errors; ///< by code, with an example text
  std::string example;
};

} // namespace

BOOST_AUTO_TEST_SUITE(availability)

BOOST_AUTO_TEST_CASE(a_client_with_every_endpoint_serves_through_its_first_nodes_faults) {
  // Strict quorum, N = 3, R = W = 2: with one node out, two home replicas of every key remain,
  // so no read may fail and every write can be acknowledged. Most phases start fresh clients
  // whose first endpoint is n1, the node in trouble.
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = 32;
  o.quorum = "strict";
  o.extra_toml = "[timeouts]\nrequest_ms = 1000\n[failure_detector]\ninterval_ms = 250\n"
                 "[faults]\ninjection = true\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  client_system cs;
  std::vector<std::string> endpoints{c.endpoint(0), c.endpoint(1), c.endpoint(2)};

  std::mutex mtx;
  std::vector<std::string> phases;          // in order
  std::map<std::string, phase_tally> tally; // by phase
  std::map<std::string, std::string> acked; // element -> key, for every acknowledged add
  std::atomic<size_t> phase_number{0};
  std::atomic<bool> stop{false};
  auto phase_name = [&] {
    std::lock_guard<std::mutex> guard{mtx};
    return phases.empty() ? std::string{"start"} : phases.back();
  };
  // fresh: the workers start new clients, whose first node is n1 again.
  auto begin_phase = [&](const std::string& name, bool fresh = true) {
    BOOST_TEST_MESSAGE("phase: " << name);
    std::lock_guard<std::mutex> guard{mtx};
    phases.push_back(name);
    if (fresh)
      ++phase_number;
  };
  std::vector<std::thread> workers;
  for (size_t w = 0; w < 2; ++w)
    workers.emplace_back([&, w] {
      caf::scoped_actor self{cs.sys};
      client_actor client;
      size_t client_phase = SIZE_MAX;
      for (size_t seq = 0; !stop; ++seq) {
        if (client_phase != phase_number) {
          // A fresh client: it starts at n1, whatever the last one learnt.
          if (client)
            caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
          // 8 s: well past the 2 s after which a silent node's gets move, so that a loaded
          // machine does not turn slow answers into failures.
          client = spawn_client(cs.sys, client_options{endpoints, 8s});
          client_phase = phase_number;
        }
        auto phase = phase_name();
        auto key = "av-" + std::to_string(seq % 8);
        get_reply current;
        caf::error read_error;
        bool read_ok = false;
        self->request(client, 15s, caf::get_atom::value, bytes(key.begin(), key.end()))
            .receive(
                [&](get_reply& r) {
                  current = std::move(r);
                  read_ok = true;
                },
                [&](caf::error& e) { read_error = e; });
        {
          std::lock_guard<std::mutex> guard{mtx};
          auto& t = tally[phase];
          ++t.reads;
          if (!read_ok) {
            ++t.reads_failed;
            ++t.read_errors[code_of(read_error)];
            t.example = describe(read_error);
          }
        }
        if (!read_ok)
          continue;
        auto element = "w" + std::to_string(w) + "-" + std::to_string(seq);
        auto merged = elements_of(current.values);
        merged.insert(element);
        caf::error write_error;
        bool write_ok = false;
        self->request(
                client, 15s, caf::put_atom::value,
                put_request{bytes(key.begin(), key.end()), encode_set(merged), current.context})
            .receive([&](write_reply&) { write_ok = true; },
                     [&](caf::error& e) { write_error = e; });
        std::lock_guard<std::mutex> guard{mtx};
        auto& t = tally[phase];
        if (write_ok) {
          ++t.writes_ok;
          acked[element] = key;
        } else if (write_error == ec::unavailable) {
          ++t.writes_failed; // stored nowhere
        } else {
          ++t.writes_uncertain;
        }
      }
      if (client)
        caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
    });

  begin_phase("healthy");
  std::this_thread::sleep_for(2s);
  begin_phase("n1 killed");
  c.kill(0);
  std::this_thread::sleep_for(3s);
  c.start(0);
  begin_phase("n1 restarted");
  std::this_thread::sleep_for(3s);
  wait_until_all_up(c);
  begin_phase("n1 serving again");
  std::this_thread::sleep_for(1s);
  // The clients of the last phase are at n1: they see it stop.
  begin_phase("n1 paused", false);
  c.pause(0);
  // Longer than the clients' 8 s timeout: a write sent to n1 just before it stopped stays there
  // until it times out (it may have been stored), and only then does its worker start the next
  // read, which n1's silence sends elsewhere.
  std::this_thread::sleep_for(12s);
  c.resume(0);
  begin_phase("n1 resumed");
  std::this_thread::sleep_for(2s);
  begin_phase("n1 cut off from its peers");
  isolate(c, 0);
  std::this_thread::sleep_for(5s);
  heal(c);
  begin_phase("healed");
  std::this_thread::sleep_for(2s);
  stop = true;
  for (auto& t : workers)
    t.join();

  size_t reads = 0, reads_failed = 0, writes_ok = 0;
  for (auto& name : phases) {
    auto& t = tally[name];
    std::string errors;
    for (auto& [code, n] : t.read_errors)
      errors += " " + code + " " + std::to_string(n);
    BOOST_TEST_MESSAGE(name << ": reads " << t.reads << ", failed " << t.reads_failed << errors
                            << (t.example.empty() ? "" : " (" + t.example + ")")
                            << "; writes acknowledged " << t.writes_ok << ", failed "
                            << t.writes_failed << ", indeterminate " << t.writes_uncertain);
    // Kept reading and writing through every phase.
    BOOST_TEST(t.reads - t.reads_failed > 0u, name);
    BOOST_TEST(t.writes_ok > 0u, name);
    // Two home replicas of every key are always reachable from n2 and n3.
    BOOST_TEST(t.reads_failed == 0u, name << ": " << t.example);
    reads += t.reads;
    reads_failed += t.reads_failed;
    writes_ok += t.writes_ok;
  }
  BOOST_TEST_MESSAGE("all phases: reads " << reads << ", failed " << reads_failed
                                          << "; writes acknowledged " << writes_ok);

  // No acknowledged add is lost: every node reads every one.
  wait_until_all_up(c);
  for (size_t i = 0; i < c.size(); ++i) {
    auto client = spawn_client(cs.sys, client_options{{c.endpoint(i)}, 10s});
    caf::scoped_actor self{cs.sys};
    std::map<std::string, std::set<std::string>> seen;
    for (size_t k = 0; k < 8; ++k) {
      auto key = "av-" + std::to_string(k);
      self->request(client, 15s, caf::get_atom::value, bytes(key.begin(), key.end()))
          .receive(
              [&](get_reply& r) { seen[key] = elements_of(r.values); },
              [&](caf::error& e) { BOOST_ERROR("final read of " << key << ": " << describe(e)); });
    }
    size_t lost = 0;
    for (auto& [element, key] : acked)
      if (!seen[key].count(element))
        ++lost;
    BOOST_TEST(lost == 0u, lost << " acknowledged adds missing through " << c.node_name(i));
    caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  }
}

BOOST_AUTO_TEST_CASE(a_restarted_node_serves_once_connected_or_after_its_wait_with_the_reason) {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = 32;
  o.quorum = "strict";
  o.extra_toml = "[timeouts]\nrequest_ms = 1000\n[failure_detector]\ninterval_ms = 250\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  BOOST_REQUIRE(c.kvsh(0, "put k v\n").exit_code == 0);

  // Its peers up: n2 restarts and serves as soon as it is connected to them, well before the
  // bounded wait; a client that starts with n2 is served all along.
  auto servings = [&](size_t i) { // the log is kept across restarts
    auto log = c.log(i);
    size_t n = 0;
    for (auto at = log.find("serving clients after"); at != std::string::npos;
         at = log.find("serving clients after", at + 1))
      ++n;
    return n;
  };
  auto before = servings(1);
  c.kill(1);
  auto restarted = std::chrono::steady_clock::now();
  c.start(1);
  auto r = c.kvsh_args({"--connect", c.endpoint(1) + "," + c.endpoint(0), "-c", "get k"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "v\n");
  BOOST_REQUIRE(eventually(10s, [&] { return servings(1) > before; }));
  auto log = c.log(1);
  auto line = log.substr(log.rfind("serving clients after"));
  line = line.substr(0, line.find('\n'));
  BOOST_TEST_MESSAGE("n2: " << line);
  // Connected, not merely out of time ("no word from ..." otherwise).
  BOOST_TEST(line.find("connected to 2 of 2 peers") != std::string::npos, line);
  BOOST_TEST((std::chrono::steady_clock::now() - restarted < 20s));

  // Its peers down: n3 cannot know that n1 and n2 (which dial it) are gone, so it waits for them,
  // and says so, for the bounded start-up wait; then it serves, and its answers give the real
  // reason. A client with n3 alone waits for it within its timeout instead of failing at once.
  c.kill(0);
  c.kill(1);
  c.kill(2);
  c.start(2);
  auto started = std::chrono::steady_clock::now();
  auto status = c.kvsh(2, "status\n", 10s);
  BOOST_TEST(status.exit_code == 4, status.err); // kvsh's "a member is down"
  BOOST_TEST(status.out.find("starting, no client sessions yet: connected to 0 of 2 peers, "
                             "waiting for n1, n2") != std::string::npos,
             status.out);
  auto get = c.kvsh(2, "get k\n", 20s);
  auto took = std::chrono::steady_clock::now() - started;
  BOOST_TEST(get.exit_code == 1);
  BOOST_TEST(get.err.find("unavailable: 1 of 3 replicas") != std::string::npos, get.err);
  BOOST_TEST_MESSAGE("n3 alone answered after "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                     << " ms: " << get.err);
  BOOST_TEST((took >= 3s), "n3 served before its peers could answer");
  BOOST_TEST((took < 9s), "n3 kept a client waiting past its start-up wait");
  BOOST_TEST(c.log(2).find("no word from n1, n2 within 5.0 s") != std::string::npos, c.log_tail(2));
  status = c.kvsh(2, "status\n", 10s);
  BOOST_TEST(status.out.find("starting") == std::string::npos, status.out);
}

BOOST_AUTO_TEST_SUITE_END()
