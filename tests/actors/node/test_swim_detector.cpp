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

/// A detector named `name` telling `fx`'s test actor its verdicts, with a wall clock that stands
/// still; `waker` connects again to peers whose handles were taken back.
swim_detector_actor spawn_detector(deterministic_fixture& fx, const std::string& name,
                                   uint64_t seed, peer_waker_actor waker = {}) {
  failure_detector_options fo{name, 500ms, 8.0, caf::actor_cast<liveness_listener_actor>(fx.self)};
  fo.clock = std::make_shared<node_clock>([] { return int64_t{0}; });
  swim_detector_options so;
  so.seed = seed;
  so.waker = std::move(waker);
  return fx.keep(spawn_swim_detector(fx.sys, fo, so));
}

/// The verdicts reported to `self` so far, in order.
std::vector<std::pair<std::string, bool>> verdicts_told(caf::scoped_actor& self) {
  std::vector<std::pair<std::string, bool>> out;
  for (bool more = true; more;)
    self->receive([&](alive_atom, std::string& name, bool up) { out.emplace_back(name, up); },
                  caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
  return out;
}

struct swim_fixture : deterministic_fixture {
  std::map<std::string, node_actor> peers;
  swim_detector_actor detector = spawn_detector(*this, "n1", 1);

  swim_fixture() {
    for (auto name : {"n2", "n3", "n4"}) {
      peers[name] = spawn_fake_node(sys, fake_node_parts{});
      keep(peers[name]);
      self->send(detector, watch_atom::value, std::string{name}, peers[name]);
    }
  }

  std::vector<std::pair<std::string, bool>> verdicts() { return verdicts_told(self); }
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

BOOST_FIXTURE_TEST_CASE(a_lost_connection_starts_the_suspicion_at_once, swim_fixture) {
  advance(10s);
  BOOST_TEST(verdicts().empty());
  // n3's process dies and its connection drops: the node tells the detector, which suspects n3
  // now rather than when n3's turn to be probed comes, and declares it down a suspicion timeout
  // (2 s) later, unrefuted.
  caf::anon_send_exit(peers["n3"], caf::exit_reason::kill);
  self->send(detector, lost_atom::value, std::string{"n3"});
  advance(2600ms);
  auto v = verdicts();
  BOOST_REQUIRE_EQUAL(v.size(), 1u);
  BOOST_TEST(v[0].first == "n3");
  BOOST_TEST(!v[0].second);
}

BOOST_FIXTURE_TEST_CASE(a_lost_connection_to_a_live_peer_is_refuted, deterministic_fixture) {
  // Two SWIM detectors addressing each other directly, as the simulation wires them: n2 lives,
  // and refutes the suspicion the probe carries to it; nobody is reported down.
  auto a = spawn_detector(*this, "n1", 1);
  auto b = spawn_detector(*this, "n2", 2);
  self->send(a, watch_atom::value, std::string{"n2"}, swim_peer_actor{b});
  self->send(b, watch_atom::value, std::string{"n1"}, swim_peer_actor{a});
  advance(2s);
  self->send(a, lost_atom::value, std::string{"n2"});
  advance(10s);
  BOOST_TEST(verdicts_told(self).empty());
}

BOOST_FIXTURE_TEST_CASE(a_restarted_peer_refutes_and_stays_up, deterministic_fixture) {
  // Two SWIM detectors addressing each other directly, as the simulation wires them.
  auto spawn = [&](const std::string& name, uint64_t seed) {
    return spawn_detector(*this, name, seed);
  };
  auto about_n2 = [&] {
    std::vector<bool> out;
    for (auto& [name, up] : verdicts_told(self))
      if (name == "n2")
        out.push_back(up);
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

namespace {

/// A peer behind a busy connection: while `held`, its answers to probes queue behind a large
/// message of its own (never delivered in time); otherwise it answers at once and refutes what
/// the probe claims about it. Asked to probe others, it refuses (none here).
struct busy_peer {
  std::shared_ptr<bool> held = std::make_shared<bool>(true);
  std::shared_ptr<std::vector<caf::typed_response_promise<swim_ack>>> queued =
      std::make_shared<std::vector<caf::typed_response_promise<swim_ack>>>();
};

swim_peer_actor spawn_busy_peer(caf::actor_system& sys, const std::string& name, busy_peer peer) {
  return sys.spawn([=](swim_peer_actor::pointer self) -> swim_peer_actor::behavior_type {
    return {
        [=](swim_atom, const swim_ping& ping) -> caf::result<swim_ack> {
          if (*peer.held) {
            auto rp = self->make_response_promise<swim_ack>();
            peer.queued->push_back(rp);
            return rp;
          }
          std::vector<swim_rumor> refutation;
          for (auto& r : ping.rumors)
            if (r.member == name && r.health != swim_health::alive)
              refutation.push_back(swim_rumor{name, swim_health::alive, r.incarnation + 1});
          return swim_ack{clock_reading{}, refutation, true};
        },
        [=](swim_atom, const swim_relay&) -> caf::result<swim_ack> {
          return caf::make_error(ec::bad_request, "not in this fake node");
        },
    };
  });
}

/// n1's detector watching n2 (a busy_peer) and n3, n4 (fake nodes that answer); `progress` says
/// when n2's large message last advanced, in virtual time.
struct busy_fixture : deterministic_fixture {
  busy_peer n2;
  std::optional<caf::timespan> traffic_until; ///< n2's message arrives until then (from start)
  caf::actor_clock::time_point start;
  swim_detector_actor detector;

  busy_fixture() {
    start = sched.clock().now();
    failure_detector_options fo{"n1", 500ms, 8.0, caf::actor_cast<liveness_listener_actor>(self)};
    fo.clock = std::make_shared<node_clock>([] { return int64_t{0}; });
    swim_detector_options so;
    so.seed = 1;
    so.progress =
        [this](const std::string& name) -> std::optional<std::chrono::steady_clock::time_point> {
      if (name != "n2" || !traffic_until)
        return std::nullopt;
      return std::min(sched.clock().now(), start + *traffic_until);
    };
    detector = keep(spawn_swim_detector(sys, fo, so));
    self->send(detector, watch_atom::value, std::string{"n2"},
               keep(spawn_busy_peer(sys, "n2", n2)));
    for (auto name : {"n3", "n4"})
      self->send(detector, watch_atom::value, std::string{name},
                 node_actor{keep(spawn_fake_node(sys, fake_node_parts{}))});
  }

  ~busy_fixture() { n2.queued->clear(); }

  std::vector<std::pair<std::string, bool>> verdicts() {
    std::vector<std::pair<std::string, bool>> out;
    for (bool more = true; more;)
      self->receive([&](alive_atom, std::string& name, bool up) { out.emplace_back(name, up); },
                    caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    return out;
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(a_peer_whose_large_message_keeps_arriving_is_not_declared_down,
                        busy_fixture) {
  // n2's probe acks queue behind a message of its own that takes 10 s to arrive (64 MiB on a
  // loaded machine), its bytes arriving all along; then its acks come through and it refutes.
  // It was declared down 2 s into its suspicion while its data was still coming.
  traffic_until = 10s;
  advance(10s);
  BOOST_TEST(verdicts().empty());
  // The message is through: what n2 sent after it arrives, its own probe of n1 among it, with
  // the refutation of the suspicion n1's probes told it of.
  *n2.held = false;
  caf::anon_send(detector, swim_atom::value,
                 swim_ping{"n2", {swim_rumor{"n2", swim_health::alive, 1}}});
  advance(10s);
  BOOST_TEST(verdicts().empty());
}

BOOST_FIXTURE_TEST_CASE(a_peer_that_stops_mid_message_is_declared_down_in_the_usual_time,
                        busy_fixture) {
  // n2 stops (SIGSTOP, a crash) 4 s into a large message: its bytes stop with it. Declared
  // down within the suspicion timeout (2 s) and a period or two of its last byte, never before.
  traffic_until = 4s;
  advance(4s);
  BOOST_TEST(verdicts().empty());
  advance(1900ms);
  BOOST_TEST(verdicts().empty());
  advance(1600ms);
  auto v = verdicts();
  BOOST_REQUIRE_EQUAL(v.size(), 1u);
  BOOST_TEST(v[0].first == "n2");
  BOOST_TEST(!v[0].second);
}

BOOST_FIXTURE_TEST_CASE(a_node_that_stalled_declares_nobody_down_when_it_hears_again,
                        deterministic_fixture) {
  // n1's own I/O stalls for 4 s (its one I/O thread serialises a 64 MiB message on a loaded
  // machine): nothing reaches it, not even its peers' acks. It suspected them all, and declared
  // them down 2 s later although the silence was its own.
  std::map<std::string, busy_peer> peers;
  failure_detector_options fo{"n1", 500ms, 8.0, caf::actor_cast<liveness_listener_actor>(self)};
  fo.clock = std::make_shared<node_clock>([] { return int64_t{0}; });
  swim_detector_options so;
  so.seed = 1;
  auto detector = keep(spawn_swim_detector(sys, fo, so));
  for (auto name : {"n2", "n3", "n4"}) {
    *peers[name].held = false;
    self->send(detector, watch_atom::value, std::string{name},
               keep(spawn_busy_peer(sys, name, peers[name])));
  }
  auto verdicts = [&] {
    std::vector<std::pair<std::string, bool>> out;
    for (bool more = true; more;)
      self->receive([&](alive_atom, std::string& name, bool up) { out.emplace_back(name, up); },
                    caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    return out;
  };
  // The peers probe n1 as it probes them, each about every other period.
  auto peers_probe = [&](caf::timespan d) {
    for (caf::timespan done{0}; done < d; done += 500ms) {
      for (auto& [name, p] : peers)
        caf::anon_send(detector, swim_atom::value, swim_ping{name, {}});
      advance(500ms);
    }
  };
  peers_probe(5s);
  BOOST_TEST(verdicts().empty());
  for (auto& [name, p] : peers)
    *p.held = true;
  advance(4s);
  for (auto& [name, p] : peers)
    *p.held = false;
  peers_probe(10s);
  BOOST_TEST(verdicts().empty());
  // Its peers all stop for good: deaf, it still declares them down, each within twice the
  // timeout of its suspicion (and each is suspected within a round of probes).
  for (auto& [name, p] : peers)
    *p.held = true;
  advance(7s);
  auto v = verdicts();
  BOOST_TEST(v.size() == 3u);
  for (auto& [name, p] : peers)
    p.queued->clear();
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// The node's side of a wake (actors/node/peers.cpp): connects again to the peer asked for (sends
/// the detector its handle, then answers), or fails when the peer is gone.
struct waker_double {
  std::shared_ptr<std::vector<std::string>> asked = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::map<std::string, node_actor>> reachable =
      std::make_shared<std::map<std::string, node_actor>>();
};

peer_waker_actor spawn_waker(caf::actor_system& sys, waker_double w,
                             std::shared_ptr<swim_detector_actor> detector) {
  return sys.spawn([=](peer_waker_actor::pointer self) -> peer_waker_actor::behavior_type {
    return {
        [=](wake_atom, const std::string& name) -> caf::result<caf::ok_atom> {
          w.asked->push_back(name);
          auto it = w.reachable->find(name);
          if (it == w.reachable->end())
            return caf::make_error(ec::unavailable, "peer " + name + " unreachable");
          self->send(*detector, watch_atom::value, name, it->second);
          return caf::ok_atom::value;
        },
    };
  });
}

/// n1's detector watching n2, n3 and n4, whose idle connections can be closed: a null handle
/// (watch_atom) takes one back, and the detector asks the waker for it when a probe is due.
struct dormant_fixture : deterministic_fixture {
  std::map<std::string, node_actor> peers;
  std::shared_ptr<swim_detector_actor> detector = std::make_shared<swim_detector_actor>();
  waker_double waker;

  dormant_fixture() {
    *detector = spawn_detector(*this, "n1", 1, keep(spawn_waker(sys, waker, detector)));
    for (auto name : {"n2", "n3", "n4"}) {
      peers[name] = keep(spawn_fake_node(sys, fake_node_parts{}));
      (*waker.reachable)[name] = peers[name];
      self->send(*detector, watch_atom::value, std::string{name}, peers[name]);
    }
  }

  std::vector<std::pair<std::string, bool>> verdicts() { return verdicts_told(self); }

  size_t wakes_of(const std::string& name) const {
    return static_cast<size_t>(std::count(waker.asked->begin(), waker.asked->end(), name));
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(swim_detector_actor_tests)

BOOST_FIXTURE_TEST_CASE(a_peer_whose_idle_connection_closed_is_woken_for_its_probes_and_stays_up,
                        dormant_fixture) {
  advance(2s);
  // Both of n3's connections closed: the node takes its handle back. Each probe of n3 now needs
  // a wake first, and n3 answers as before.
  self->send(*detector, watch_atom::value, std::string{"n3"}, node_actor{});
  self->send(*detector, watch_atom::value, std::string{"n4"}, node_actor{});
  advance(10s);
  BOOST_TEST(verdicts().empty());
  BOOST_TEST(wakes_of("n3") >= 1u);
  BOOST_TEST(wakes_of("n4") >= 1u);
  BOOST_TEST(wakes_of("n2") == 0u); // its connection stayed: probed directly
}

BOOST_FIXTURE_TEST_CASE(a_peer_that_cannot_be_woken_is_declared_down, dormant_fixture) {
  advance(2s);
  self->send(*detector, watch_atom::value, std::string{"n3"}, node_actor{});
  // n3 crashed while its connection was closed: the node cannot dial it, and no helper reaches
  // it (the fake nodes refuse relays).
  caf::anon_send_exit(peers["n3"], caf::exit_reason::kill);
  waker.reachable->erase("n3");
  advance(8s);
  auto v = verdicts();
  BOOST_REQUIRE_EQUAL(v.size(), 1u);
  BOOST_TEST(v[0].first == "n3");
  BOOST_TEST(!v[0].second);
}

BOOST_AUTO_TEST_SUITE_END()
