// What the in-process actor suites (tests/actors/node, tests/actors/client) share: a system on
// real threads, a deterministic one on CAF's test coordinator (virtual time, every message run by
// the test), and test doubles that implement actorkv's interfaces.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/error.hpp"
#include "messages/interfaces.hpp"
#include "messages/register_types.hpp"

namespace actorkv::test {

/// The bytes of a string.
inline bytes b(const std::string& s) {
  return bytes(s.begin(), s.end());
}

/// A client's calls, as a client actor sends them to a coordinator (`id` echoed in the answer).
inline client_call put_call(bytes key, bytes value, bytes context = {}, uint64_t id = 0) {
  return client_call{id, client_call_kind::put, std::move(key), std::move(value),
                     std::move(context)};
}

inline client_call get_call(bytes key, uint64_t id = 0) {
  return client_call{id, client_call_kind::get, std::move(key), {}, {}};
}

inline client_call delete_call(bytes key, bytes context) {
  return client_call{0, client_call_kind::del, std::move(key), {}, std::move(context)};
}

/// An actor system on CAF's test coordinator: nothing runs until the test says so, and time is
/// virtual (actors' clocks, request timeouts and delayed messages all follow it).
struct deterministic_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  caf::scheduler::test_coordinator& sched;

  static caf::actor_system_config& init(caf::actor_system_config& c) {
    register_types(c);
    c.set("scheduler.policy", caf::atom("testing"));
    c.set("logger.verbosity", caf::atom("quiet"));
    return c;
  }

  deterministic_fixture()
      : sys(init(cfg)), self(sys, true),
        sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {}

  /// Stops every actor the test kept: the system waits for all actors before it goes.
  ~deterministic_fixture() {
    for (auto& a : kept_)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    run();
  }

  /// Returns `handle`, stopped when the test ends.
  template <class Handle>
  Handle keep(Handle handle) {
    kept_.push_back(caf::actor_cast<caf::actor>(handle));
    return handle;
  }

  /// Runs every message that is ready (without moving time).
  void run() { sched.run(); }

  /// Moves virtual time forward by `d` in steps of `step`, running what is ready after each
  /// step, so that timers and the messages they cause interleave as they would in real time.
  void advance(caf::timespan d, caf::timespan step = std::chrono::milliseconds(10)) {
    run();
    for (caf::timespan done{0}; done < d; done += step) {
      sched.advance_time(std::min(step, d - done));
      run();
    }
  }

  /// Whether the test's own mailbox holds a message.
  bool has_mail() { return !self->mailbox().empty(); }

  /// The answers to client calls waiting in the test's mailbox, by call id (each must come once).
  std::map<uint64_t, client_answer> client_answers() {
    std::map<uint64_t, client_answer> out;
    for (bool more = true; more;)
      self->receive(
          [&](batch_atom, std::vector<client_answer>& batch) {
            for (auto& a : batch)
              BOOST_TEST(out.emplace(a.id, std::move(a)).second, "answer " << a.id << " twice");
          },
          caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    return out;
  }

  /// The one answer waiting in the test's mailbox; an answer with ec::timeout unless exactly one.
  client_answer one_client_answer() {
    auto all = client_answers();
    if (all.size() == 1)
      return all.begin()->second;
    client_answer none;
    none.err = caf::make_error(ec::timeout, std::to_string(all.size()) + " answers");
    return none;
  }

private:
  std::vector<caf::actor> kept_;
};

/// What a fake node does: the parts of node_actor a test needs; every other request is refused
/// with ec::bad_request.
struct fake_node_parts {
  client_requests_actor coordinator; ///< answered to session requests
  membership_actor membership;       ///< gossip is handed to it
  std::function<clock_reading()> clocks{}; ///< answers pings; unset: all zero
  /// Told of every gossip message through this node, and of the answers to digests: its kind
  /// ("view", "digest", "answer", "delta"), the member entries (and tombstones) and the ring
  /// owner names it carries.
  std::function<void(const std::string& kind, size_t entries, size_t owners)> on_gossip{};
};

/// A node_actor double.
inline node_actor spawn_fake_node(caf::actor_system& sys, fake_node_parts parts) {
  auto refuse = [] { return caf::make_error(ec::bad_request, "not in this fake node"); };
  return sys.spawn([=](node_actor::pointer self) -> node_actor::behavior_type {
    return {
        [=](session_atom) -> caf::result<client_requests_actor> {
          if (!parts.coordinator)
            return refuse();
          return parts.coordinator;
        },
        [=](status_atom) -> caf::result<cluster_status> { return refuse(); },
        [=](status_atom, cluster_atom) -> caf::result<cluster_answers> { return refuse(); },
        [=](peer_atom, const peer_hello&) -> caf::result<peer_hello> { return refuse(); },
        [=](caf::ping_atom) -> caf::result<clock_reading> {
          return parts.clocks ? parts.clocks() : clock_reading{};
        },
        [=](swim_atom, const swim_ping&) -> caf::result<swim_ack> {
          return swim_ack{parts.clocks ? parts.clocks() : clock_reading{}, {}, true};
        },
        [=](swim_atom, const swim_relay&) -> caf::result<swim_ack> { return refuse(); },
        [=](gossip_atom, membership_view& view) -> caf::result<membership_view> {
          if (!parts.membership)
            return refuse();
          if (parts.on_gossip)
            parts.on_gossip("view", view.members.size() + view.tombstones.size(),
                            view.layout.owners.size() + view.layout.next_owners.size());
          return self->delegate(parts.membership, gossip_atom::value, std::move(view));
        },
        [=](gossip_atom, view_digest& digest) -> caf::result<view_delta> {
          if (!parts.membership)
            return refuse();
          if (!parts.on_gossip)
            return self->delegate(parts.membership, gossip_atom::value, std::move(digest));
          parts.on_gossip("digest", digest.members.size(), 0);
          auto answer = self->make_response_promise<view_delta>();
          self->request(parts.membership, caf::infinite, gossip_atom::value, std::move(digest))
              .then(
                  [=](view_delta& d) mutable {
                    parts.on_gossip("answer", d.members.size() + d.tombstones.size(),
                                    d.ring.owners.size() + d.ring.next_owners.size());
                    answer.deliver(std::move(d));
                  },
                  [=](caf::error& e) mutable { answer.deliver(std::move(e)); });
          return answer;
        },
        [=](gossip_atom, view_delta& delta) -> caf::result<caf::ok_atom> {
          if (!parts.membership)
            return refuse();
          if (parts.on_gossip)
            parts.on_gossip("delta", delta.members.size() + delta.tombstones.size(),
                            delta.ring.owners.size() + delta.ring.next_owners.size());
          return self->delegate(parts.membership, gossip_atom::value, std::move(delta));
        },
        [=](fault_atom, const std::string&, const std::vector<std::string>&,
            uint32_t) -> caf::result<std::string> { return refuse(); },
        [=](admin_atom, const std::string&, const std::string&, bool) -> caf::result<std::string> {
          return refuse();
        },
        [=](idle_atom, const std::string&) -> caf::result<caf::ok_atom> { return refuse(); },
    };
  });
}

/// A connector_actor double standing in for the network: the endpoints ("host:port") it knows
/// answer with their node; any other fails as an unreachable address does.
inline connector_actor spawn_fake_connector(caf::actor_system& sys,
                                            std::map<std::string, node_actor> nodes) {
  return sys.spawn([=](connector_actor::pointer self) -> connector_actor::behavior_type {
    return {
        [=](caf::connect_atom, const std::string& host, uint16_t port)
            -> caf::result<caf::node_id, caf::strong_actor_ptr, std::set<std::string>> {
          auto it = nodes.find(host + ":" + std::to_string(port));
          if (it == nodes.end())
            return caf::make_error(caf::sec::cannot_connect_to_node, "no such endpoint");
          auto& node = it->second;
          return caf::result<caf::node_id, caf::strong_actor_ptr, std::set<std::string>>(
              node.node(), caf::actor_cast<caf::strong_actor_ptr>(node),
              self->system().message_types(node));
        },
    };
  });
}

} // namespace actorkv::test
