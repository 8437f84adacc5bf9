// The SWIM detector as a node wires it: peers watched through their node actors (here fake nodes
// answering swim probes), verdicts reported to the listener as (alive, name, up).
#include <boost/test/unit_test.hpp>

#include <map>

#include "actors/node/swim_detector.hpp"
#include "tests/actors/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

struct swim_fixture : deterministic_fixture {
  std::map<std::string, node_actor> peers;
  swim_detector_actor detector;

  swim_fixture() {
    failure_detector_options fo{"n1", 500ms, 8.0, caf::actor_cast<liveness_listener_actor>(self)};
    fo.clock = std::make_shared<node_clock>([] { return int64_t{0}; });
    swim_detector_options so;
    so.seed = 1;
    detector = keep(spawn_swim_detector(sys, fo, so));
    for (auto name : {"n2", "n3", "n4"}) {
      peers[name] = spawn_fake_node(sys, fake_node_parts{});
      keep(peers[name]);
      self->send(detector, watch_atom::value, std::string{name}, peers[name]);
    }
  }

  /// The verdicts reported so far, in order.
  std::vector<std::pair<std::string, bool>> verdicts() {
    std::vector<std::pair<std::string, bool>> out;
    for (bool more = true; more;)
      self->receive([&](alive_atom, std::string& name, bool up) { out.emplace_back(name, up); },
                    caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    return out;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(swim_detector_actor_tests)

BOOST_FIXTURE_TEST_CASE(peers_that_answer_stay_up_and_a_dead_one_is_reported_down_once,
                        swim_fixture) {
  advance(10s);
  BOOST_TEST(verdicts().empty());
  // n3's process dies: its probes fail, the other fake nodes refuse relays, so it is suspected
  // and, unrefuted, declared down after the suspicion timeout (2 s at this size).
  caf::anon_send_exit(peers["n3"], caf::exit_reason::kill);
  advance(6s);
  auto v = verdicts();
  BOOST_REQUIRE_EQUAL(v.size(), 1u);
  BOOST_TEST(v[0].first == "n3");
  BOOST_TEST(!v[0].second);
  advance(5s);
  BOOST_TEST(verdicts().empty());
}

BOOST_FIXTURE_TEST_CASE(a_restarted_peer_refutes_and_stays_up, deterministic_fixture) {
  // Two SWIM detectors addressing each other directly, as the simulation wires them.
  auto listener = caf::actor_cast<liveness_listener_actor>(self);
  auto spawn = [&](const std::string& name, uint64_t seed) {
    failure_detector_options fo{name, 500ms, 8.0, listener};
    fo.clock = std::make_shared<node_clock>([] { return int64_t{0}; });
    swim_detector_options so;
    so.seed = seed;
    return keep(spawn_swim_detector(sys, fo, so));
  };
  auto about_n2 = [&] {
    std::vector<bool> out;
    for (bool more = true; more;)
      self->receive(
          [&](alive_atom, std::string& name, bool up) {
            if (name == "n2")
              out.push_back(up);
          },
          caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    return out;
  };
  auto a = spawn("n1", 1);
  auto b = spawn("n2", 2);
  self->send(a, watch_atom::value, std::string{"n2"}, swim_peer_actor{b});
  self->send(b, watch_atom::value, std::string{"n1"}, swim_peer_actor{a});
  advance(5s);
  BOOST_TEST(about_n2().empty());
  caf::anon_send_exit(b, caf::exit_reason::kill);
  advance(6s);
  BOOST_TEST((about_n2() == std::vector<bool>{false}));
  // n2 restarts (incarnation 0 again) and handshakes: n1 watches the new one. n1 still holds
  // n2 dead at incarnation 0; probing it as a suspect tells it so, and it refutes.
  auto b2 = spawn("n2", 3);
  self->send(b2, watch_atom::value, std::string{"n1"}, swim_peer_actor{a});
  self->send(a, watch_atom::value, std::string{"n2"}, swim_peer_actor{b2});
  advance(10s);                   // several suspicion timeouts
  BOOST_TEST(about_n2().empty()); // up from the handshake on, never down again
  // Its next crash is detected like the first.
  caf::anon_send_exit(b2, caf::exit_reason::kill);
  advance(6s);
  BOOST_TEST((about_n2() == std::vector<bool>{false}));
}

BOOST_AUTO_TEST_SUITE_END()
