// The peers as a node's background workers see them (actors/node/peer_directory.hpp): views
// arrive one changed peer at a time, and a dormant peer is woken through the node, as the worker
// itself, at most once until its next view.
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/peer_directory.hpp"
#include "tests/actors/common.hpp"

using namespace actorkv;
using namespace actorkv::test;

namespace {

/// What the node's wake handler saw: each peer asked for, and whether the request named a sender
/// (with TLS the node refuses a wake without one: actors/node/permission.hpp).
struct wake_log {
  std::vector<std::string> asked;
  size_t anonymous = 0;
};

/// The node, as far as a worker's directory sees it: it sends the worker peer views, and answers
/// wakes (recording them).
caf::actor spawn_node_double(caf::actor_system& sys, std::shared_ptr<wake_log> log) {
  return sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    return {
        [=](wake_atom, const std::string& name) {
          log->asked.push_back(name);
          if (!self->current_sender())
            ++log->anonymous;
          return caf::ok_atom::value;
        },
        [=](peer_atom, const caf::actor& worker, std::vector<peer_view>& views) {
          self->send(worker, peer_atom::value, std::move(views));
        },
    };
  });
}

using worker_actor =
    caf::typed_actor<caf::reacts_to<peer_atom, std::vector<peer_view>>,
                     caf::replies_to<wake_atom, std::string>::with<bool>>;

struct worker_state {
  peer_directory peers;
};

/// A background worker: keeps the node's views, and wakes a peer when asked to reach it.
worker_actor spawn_worker(caf::actor_system& sys) {
  return sys.spawn(
      [](worker_actor::stateful_pointer<worker_state> self) -> worker_actor::behavior_type {
        return {
            [=](peer_atom, std::vector<peer_view>& views) {
              self->state.peers.update(std::move(views),
                                       caf::actor_cast<peer_waker_actor>(self->current_sender()));
            },
            [=](wake_atom, const std::string& name) { return self->state.peers.wake(self, name); },
        };
      });
}

} // namespace

BOOST_AUTO_TEST_SUITE(peer_directory_tests)

BOOST_FIXTURE_TEST_CASE(a_dormant_peer_is_woken_through_the_node_once_per_view,
                        deterministic_fixture) {
  auto log = std::make_shared<wake_log>();
  auto node = keep(spawn_node_double(sys, log));
  auto worker = keep(spawn_worker(sys));
  auto views_from_node = [&](std::vector<peer_view> views) {
    self->send(node, peer_atom::value, caf::actor_cast<caf::actor>(worker), std::move(views));
    run();
  };
  auto wake = [&](const std::string& name) {
    auto answer = self->request(worker, caf::infinite, wake_atom::value, name);
    run();
    bool out = false;
    answer.receive([&](bool b) { out = b; }, [&](caf::error& e) { BOOST_FAIL(describe(e)); });
    run();
    return out;
  };
  views_from_node({peer_view{"n2", true, {}, {}}, peer_view{"n3", false, {}, {}, true}});
  BOOST_TEST(!wake("n2")); // up: nothing to wake
  BOOST_TEST(wake("n3"));
  BOOST_TEST(wake("n3")); // asked already: once until its next view
  BOOST_TEST((log->asked == std::vector<std::string>{"n3"}));
  // Asked as the worker: with TLS the node refuses a wake that names no sender.
  BOOST_TEST(log->anonymous == 0u);
  // Only n3's view changes; n2's stays as it was.
  views_from_node({peer_view{"n3", false, {}, {}, true}});
  BOOST_TEST(wake("n3"));
  BOOST_TEST(!wake("n2"));
  BOOST_TEST((log->asked == std::vector<std::string>{"n3", "n3"}));
}

BOOST_AUTO_TEST_SUITE_END()
