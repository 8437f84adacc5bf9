// The client actor on CAF's test coordinator: every message is run by the test and time is
// virtual, so timeouts are exact and nothing sleeps. Nodes, their coordinators and the network
// (the connector) are test doubles; endpoints are only names the fake connector knows.
//
// Each request is made by a small "asker" actor that stores the reply (or error) in a slot the
// test reads: no blocking receive, so a request that is never answered shows as an empty slot
// instead of hanging the test.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/client/client.hpp"
#include "actors/client/retry_policy.hpp"
#include "tests/actors/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

std::string str(const bytes& x) {
  return std::string(x.begin(), x.end());
}

std::vector<std::string> strs(const std::vector<bytes>& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(str(x));
  return out;
}

/// What a fake coordinator got: every batch, in order.
struct coordinator_log {
  std::vector<std::vector<client_call>> batches;

  size_t calls() const {
    size_t n = 0;
    for (auto& b : batches)
      n += b.size();
    return n;
  }

  std::vector<client_call> all() const {
    std::vector<client_call> out;
    for (auto& b : batches)
      out.insert(out.end(), b.begin(), b.end());
    return out;
  }
};

/// How a fake coordinator answers a batch; an empty result sends nothing.
using answering = std::function<std::vector<client_answer>(const std::vector<client_call>&)>;

/// One call answered as a healthy coordinator named `name` would: a get of a key starting with
/// "missing" is not found, any other get finds "<key>@<name>" with context "ctx:<key>@<name>"; a
/// put is stored by 3 replicas, a delete by 2. A call on key "bad" fails with ec::unavailable.
client_answer served(const std::string& name, const client_call& c) {
  client_answer a;
  a.id = c.id;
  auto key = str(c.key);
  if (key == "bad") {
    a.err = caf::make_error(ec::unavailable, "1 of 3 replicas answered, 2 needed");
    return a;
  }
  switch (c.kind) {
    case client_call_kind::get:
      if (key.rfind("missing", 0) == 0)
        break;
      a.get.found = true;
      a.get.values = {b(key + "@" + name)};
      a.get.context = b("ctx:" + key + "@" + name);
      break;
    case client_call_kind::put:
      a.write.acks = 3;
      break;
    case client_call_kind::del:
      a.write.acks = 2;
      break;
  }
  return a;
}

/// Every call of every batch answered, in one batch, by served().
answering serving(const std::string& name) {
  return [name](const std::vector<client_call>& calls) {
    std::vector<client_answer> out;
    for (auto& c : calls)
      out.push_back(served(name, c));
    return out;
  };
}

/// A coordinator double: logs each batch and answers the sender as `answer` says (never, when
/// `answer` is empty). With `probes`, it answers an empty batch with an empty batch, as a real
/// coordinator does.
client_requests_actor spawn_coordinator(caf::actor_system& sys,
                                        std::shared_ptr<coordinator_log> log, answering answer = {},
                                        bool probes = false) {
  return sys.spawn(
      [=](client_requests_actor::pointer self) -> client_requests_actor::behavior_type {
        return {[=](batch_atom, std::vector<client_call>& calls) {
          log->batches.push_back(calls);
          if (calls.empty() && probes) {
            self->send(caf::actor_cast<client_answers_actor>(self->current_sender()),
                       batch_atom::value, std::vector<client_answer>{});
            return;
          }
          if (!answer)
            return;
          auto answers = answer(calls);
          if (!answers.empty())
            self->send(caf::actor_cast<client_answers_actor>(self->current_sender()),
                       batch_atom::value, std::move(answers));
        }};
      });
}

/// What a status-answering node double was asked.
struct node_log {
  size_t sessions = 0;
  size_t status = 0;
  std::vector<std::string> admin; ///< "action subject apply"
};

/// A node_actor double that answers session with `coordinator`, status with a cluster whose
/// members are at `members` (endpoints), and admin requests with "<name>: <action> <subject>".
/// While `*starting` holds a text it refuses sessions as a starting kvnode does (ec::unavailable)
/// and its status says so.
node_actor spawn_status_node(caf::actor_system& sys, std::string name,
                             client_requests_actor coordinator, std::vector<std::string> members,
                             std::shared_ptr<node_log> log,
                             std::shared_ptr<std::string> starting = nullptr) {
  auto refuse = [] { return caf::make_error(ec::bad_request, "not in this fake node"); };
  return sys.spawn([=](node_actor::pointer) -> node_actor::behavior_type {
    return {
        [=](session_atom) -> caf::result<client_requests_actor> {
          ++log->sessions;
          if (starting && !starting->empty())
            return caf::make_error(ec::unavailable, "node " + name + " is starting: " + *starting);
          return coordinator;
        },
        [=](status_atom) -> caf::result<cluster_status> {
          ++log->status;
          cluster_status st;
          st.node = name;
          if (starting)
            st.starting = *starting;
          for (auto& ep : members) {
            member_status m;
            m.name = ep;
            m.endpoint = ep;
            m.up = true;
            st.members.push_back(m);
          }
          return st;
        },
        [=](status_atom, cluster_atom) -> caf::result<cluster_answers> { return refuse(); },
        [=](peer_atom, const peer_hello&) -> caf::result<peer_hello> { return refuse(); },
        [=](caf::ping_atom) -> caf::result<clock_reading> { return clock_reading{}; },
        [=](swim_atom, const swim_ping&) -> caf::result<swim_ack> { return refuse(); },
        [=](swim_atom, const swim_relay&) -> caf::result<swim_ack> { return refuse(); },
        [=](gossip_atom, membership_view&) -> caf::result<membership_view> { return refuse(); },
        [=](gossip_atom, view_digest&) -> caf::result<view_delta> { return refuse(); },
        [=](gossip_atom, view_delta&) -> caf::result<caf::ok_atom> { return refuse(); },
        [=](fault_atom, const std::string&, const std::vector<std::string>&,
            uint32_t) -> caf::result<std::string> { return refuse(); },
        [=](admin_atom, const std::string& action, const std::string& subject,
            bool apply) -> caf::result<std::string> {
          log->admin.push_back(action + " " + subject + " " + (apply ? "apply" : "dry-run"));
          return name + ": " + action + " " + subject;
        },
        [=](idle_atom, const std::string&) -> caf::result<caf::ok_atom> { return refuse(); },
    };
  });
}

/// The network as a connector double sees it; the test may change it between requests.
struct network {
  struct host {
    caf::strong_actor_ptr actor;
    std::set<std::string> interface;
  };
  std::map<std::string, host> hosts; ///< reachable endpoints; others fail to connect at once
  std::set<std::string> silent;      ///< endpoints whose connect never completes (dropped SYNs)
  std::vector<std::string> tried;    ///< every endpoint asked for, in order

  /// Puts `actor` (any handle) at `endpoint`.
  template <class Handle>
  void place(caf::actor_system& sys, const std::string& endpoint, const Handle& actor) {
    hosts[endpoint] = host{caf::actor_cast<caf::strong_actor_ptr>(actor), sys.message_types(actor)};
  }
};

using connect_result = caf::result<caf::node_id, caf::strong_actor_ptr, std::set<std::string>>;

connector_actor spawn_network_connector(caf::actor_system& sys, std::shared_ptr<network> net) {
  return sys.spawn([=](connector_actor::pointer self) -> connector_actor::behavior_type {
    return {
        [=](caf::connect_atom, const std::string& host, uint16_t port) -> connect_result {
          auto ep = host + ":" + std::to_string(port);
          net->tried.push_back(ep);
          if (net->silent.count(ep) > 0)
            return self->make_response_promise<caf::node_id, caf::strong_actor_ptr,
                                               std::set<std::string>>();
          auto it = net->hosts.find(ep);
          if (it == net->hosts.end())
            return caf::make_error(caf::sec::cannot_connect_to_node, "no such endpoint");
          return connect_result(it->second.actor->node(), it->second.actor,
                                it->second.interface);
        },
    };
  });
}

/// Where a request's outcome lands.
template <class T>
struct reply {
  bool done = false;
  T value{};
  caf::error err;
  size_t count = 0; ///< how many outcomes arrived (a response is delivered once)
};

struct client_fixture : deterministic_fixture {
  static constexpr auto ep1 = "10.0.0.1:1";
  static constexpr auto ep2 = "10.0.0.2:2";
  static constexpr auto ep3 = "10.0.0.3:3";

  /// A coordinator double and its log.
  std::pair<client_requests_actor, std::shared_ptr<coordinator_log>>
  coordinator(answering answer = {}, bool probes = false) {
    auto log = std::make_shared<coordinator_log>();
    return {keep(spawn_coordinator(sys, log, std::move(answer), probes)), log};
  }

  node_actor node(const client_requests_actor& coordinator) {
    return keep(spawn_fake_node(sys, fake_node_parts{coordinator, {}}));
  }

  /// A node whose first session is `first` and every later one `then` (a node that closed the
  /// first connection); `sessions` counts them.
  node_actor node_with_sessions(client_requests_actor first, client_requests_actor then,
                                std::shared_ptr<int> sessions) {
    return keep(sys.spawn([=](node_actor::pointer) -> node_actor::behavior_type {
      auto refuse = [] { return caf::make_error(ec::bad_request, "not in this fake node"); };
      return {
          [=](session_atom) -> caf::result<client_requests_actor> {
            return ++*sessions == 1 ? first : then;
          },
          [=](status_atom) -> caf::result<cluster_status> { return refuse(); },
          [=](status_atom, cluster_atom) -> caf::result<cluster_answers> { return refuse(); },
          [=](peer_atom, const peer_hello&) -> caf::result<peer_hello> { return refuse(); },
          [=](caf::ping_atom) -> caf::result<clock_reading> { return clock_reading{}; },
          [=](swim_atom, const swim_ping&) -> caf::result<swim_ack> { return refuse(); },
          [=](swim_atom, const swim_relay&) -> caf::result<swim_ack> { return refuse(); },
          [=](gossip_atom, membership_view&) -> caf::result<membership_view> { return refuse(); },
          [=](gossip_atom, view_digest&) -> caf::result<view_delta> { return refuse(); },
          [=](gossip_atom, view_delta&) -> caf::result<caf::ok_atom> { return refuse(); },
          [=](fault_atom, const std::string&, const std::vector<std::string>&,
              uint32_t) -> caf::result<std::string> { return refuse(); },
          [=](admin_atom, const std::string&, const std::string&,
              bool) -> caf::result<std::string> { return refuse(); },
          [=](idle_atom, const std::string&) -> caf::result<caf::ok_atom> { return refuse(); },
      };
    }));
  }

  connector_actor connector(std::map<std::string, node_actor> nodes) {
    return keep(spawn_fake_connector(sys, std::move(nodes)));
  }

  client_actor client(std::vector<std::string> endpoints, connector_actor conn,
                      std::chrono::milliseconds timeout = 1s,
                      std::chrono::milliseconds connect_timeout = 2s) {
    return keep(spawn_client(
        sys, client_options{std::move(endpoints), timeout, connect_timeout, std::move(conn)}));
  }

  /// Sends the request from an actor of its own (when the test next runs messages); the outcome
  /// lands in the returned slot.
  template <class T, class... Ts>
  std::shared_ptr<reply<T>> ask(const client_actor& to, Ts... xs) {
    auto out = std::make_shared<reply<T>>();
    keep(sys.spawn([=](caf::event_based_actor* asker) {
      asker->request(to, caf::infinite, xs...)
          .then(
              [=](T& x) {
                out->done = true;
                ++out->count;
                out->value = std::move(x);
              },
              [=](caf::error& e) {
                out->done = true;
                ++out->count;
                out->err = std::move(e);
              });
    }));
    return out;
  }

  std::shared_ptr<reply<get_reply>> get(const client_actor& to, const std::string& key) {
    return ask<get_reply>(to, caf::get_atom::value, b(key));
  }
};

/// A get reply's values as strings, or the error, for messages.
std::string show(const reply<get_reply>& r) {
  if (!r.done)
    return "no answer";
  if (r.err)
    return describe(r.err);
  std::string out = r.value.found ? "found" : "not found";
  for (auto& v : r.value.values)
    out += " " + str(v);
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(client)

BOOST_FIXTURE_TEST_CASE(a_get_is_answered_with_the_coordinators_reply_and_its_context_comes_back,
                        client_fixture) {
  auto [coord, log] = coordinator(serving("n1"));
  auto c = client({ep1}, connector({{ep1, node(coord)}}));
  auto found = get(c, "k");
  auto missing = get(c, "missing-k");
  run(); // no time passes: connect, session, one batch, its answers
  BOOST_REQUIRE(found->done);
  BOOST_TEST(!found->err, describe(found->err));
  BOOST_TEST(found->value.found);
  BOOST_TEST(strs(found->value.values) == std::vector<std::string>{"k@n1"},
             boost::test_tools::per_element());
  BOOST_TEST(str(found->value.context) == "ctx:k@n1");
  BOOST_REQUIRE(missing->done);
  BOOST_TEST(!missing->err, describe(missing->err));
  BOOST_TEST(!missing->value.found);
  // The context the get returned reaches the coordinator unchanged with the put and the delete
  // that resolve it; their acks come back.
  auto put = ask<write_reply>(c, caf::put_atom::value,
                              put_request{b("k"), b("v2"), found->value.context});
  auto del = ask<write_reply>(c, caf::delete_atom::value,
                              delete_request{b("k2"), b("ctx:k2@n1")});
  run();
  BOOST_REQUIRE(put->done);
  BOOST_TEST(!put->err, describe(put->err));
  BOOST_TEST(put->value.acks == 3u);
  BOOST_REQUIRE(del->done);
  BOOST_TEST(!del->err, describe(del->err));
  BOOST_TEST(del->value.acks == 2u);
  auto calls = log->all();
  BOOST_REQUIRE_EQUAL(calls.size(), 4u);
  BOOST_TEST((calls[2].kind == client_call_kind::put));
  BOOST_TEST(str(calls[2].key) == "k");
  BOOST_TEST(str(calls[2].value) == "v2");
  BOOST_TEST(str(calls[2].context) == "ctx:k@n1");
  BOOST_TEST((calls[3].kind == client_call_kind::del));
  BOOST_TEST(str(calls[3].key) == "k2");
  BOOST_TEST(str(calls[3].context) == "ctx:k2@n1");
  // Each call has its own id: answers are matched by it.
  std::set<uint64_t> ids;
  for (auto& call : calls)
    ids.insert(call.id);
  BOOST_TEST(ids.size() == calls.size());
}

BOOST_FIXTURE_TEST_CASE(a_delete_without_context_reads_and_deletes_exactly_what_it_read,
                        client_fixture) {
  auto [coord, log] = coordinator(serving("n1"));
  auto c = client({ep1}, connector({{ep1, node(coord)}}));
  auto del = ask<write_reply>(c, caf::delete_atom::value, delete_request{b("k"), {}});
  auto absent = ask<write_reply>(c, caf::delete_atom::value, delete_request{b("missing-k"), {}});
  auto failing = ask<write_reply>(c, caf::delete_atom::value, delete_request{b("bad"), {}});
  auto blind = ask<write_reply>(c, caf::delete_atom::value, delete_request{b("k3"), {}, true});
  run();
  // k: read, then deleted with the read's context; one value removed.
  BOOST_REQUIRE(del->done);
  BOOST_TEST(!del->err, describe(del->err));
  BOOST_TEST(del->value.acks == 2u);
  BOOST_TEST(del->value.removed == 1u);
  // Absent: read, nothing written, nothing removed.
  BOOST_REQUIRE(absent->done);
  BOOST_TEST(!absent->err, describe(absent->err));
  BOOST_TEST(absent->value.acks == 0u);
  BOOST_TEST(absent->value.removed == 0u);
  // The read failing fails the delete, which is then not sent.
  BOOST_REQUIRE(failing->done);
  BOOST_TEST((failing->err == ec::unavailable), describe(failing->err));
  BOOST_REQUIRE(blind->done);
  BOOST_TEST(!blind->err, describe(blind->err));
  BOOST_TEST(blind->value.acks == 2u);
  std::vector<std::string> sent;
  for (auto& call : log->all())
    sent.push_back(std::string{call.kind == client_call_kind::get ? "get " : "del "} +
                   str(call.key) + (call.context.empty() ? "" : " " + str(call.context)));
  std::sort(sent.begin(), sent.end());
  BOOST_TEST(sent == (std::vector<std::string>{"del k ctx:k@n1", "del k3", "get bad", "get k",
                                               "get missing-k"}),
             boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(local_calls_are_answered_as_messages_are_and_leave_in_one_batch,
                        client_fixture) {
  // kvnode's HTTPS API asks this way: callbacks instead of replies, the same calls to the node.
  auto [coord, log] = coordinator(serving("n1"));
  auto c = client({ep1}, connector({{ep1, node(coord)}}));
  get(c, "first"); // connects; the local calls below then arrive at a client with a node
  run();
  auto batches_before = log->batches.size();
  std::vector<client_answer> answers(6);
  std::vector<int> called(6, 0);
  auto call = [&](size_t i, client_call_kind kind, std::string key, std::string value = {},
                  std::string context = {}) {
    local_call lc;
    lc.call.kind = kind;
    lc.call.key = b(key);
    lc.call.value = b(value);
    lc.call.context = b(context);
    lc.done = [&, i](client_answer& a) {
      answers[i] = a;
      ++called[i];
    };
    return lc;
  };
  std::vector<local_call> calls;
  calls.push_back(call(0, client_call_kind::get, "k"));
  calls.push_back(call(1, client_call_kind::get, "missing-k"));
  calls.push_back(call(2, client_call_kind::get, "bad"));
  calls.push_back(call(3, client_call_kind::put, "p", "v", "ctx:p@n1"));
  calls.push_back(call(4, client_call_kind::del, "d", "", "ctx:d@n1"));
  calls.push_back(call(5, client_call_kind::del, "r")); // no context: read, then delete that
  ask_local(c, std::move(calls));
  run();
  BOOST_TEST(called == std::vector<int>(6, 1), boost::test_tools::per_element());
  BOOST_TEST(!answers[0].err, describe(answers[0].err));
  BOOST_TEST(strs(answers[0].get.values) == std::vector<std::string>{"k@n1"},
             boost::test_tools::per_element());
  BOOST_TEST(str(answers[0].get.context) == "ctx:k@n1");
  BOOST_TEST(!answers[1].err, describe(answers[1].err));
  BOOST_TEST(!answers[1].get.found);
  BOOST_TEST((answers[2].err == ec::unavailable), describe(answers[2].err));
  BOOST_TEST(!answers[3].err, describe(answers[3].err));
  BOOST_TEST(answers[3].write.acks == 3u);
  BOOST_TEST(!answers[4].err, describe(answers[4].err));
  BOOST_TEST(answers[4].write.acks == 2u);
  BOOST_TEST(!answers[5].err, describe(answers[5].err));
  BOOST_TEST(answers[5].write.removed == 1u);
  std::vector<std::string> sent;
  for (auto& x : log->all())
    sent.push_back(std::string{x.kind == client_call_kind::get   ? "get "
                               : x.kind == client_call_kind::put ? "put "
                                                                 : "del "} +
                   str(x.key) + (x.context.empty() ? "" : " " + str(x.context)));
  std::sort(sent.begin(), sent.end());
  BOOST_TEST(sent == (std::vector<std::string>{"del d ctx:d@n1", "del r ctx:r@n1", "get bad",
                                               "get first", "get k", "get missing-k", "get r",
                                               "put p ctx:p@n1"}),
             boost::test_tools::per_element());
  // The five sent at once left together; the delete of r followed its read.
  BOOST_TEST(log->batches.size() - batches_before == 2u);
}

BOOST_FIXTURE_TEST_CASE(a_local_call_never_answered_fails_with_timeout_at_the_request_timeout,
                        client_fixture) {
  auto [coord, log] = coordinator(); // takes batches, never answers
  auto c = client({ep1}, connector({{ep1, node(coord)}}));
  client_answer answer;
  int called = 0;
  local_call lc;
  lc.call.kind = client_call_kind::put;
  lc.call.key = b("k");
  lc.call.value = b("v");
  lc.done = [&](client_answer& a) {
    answer = a;
    ++called;
  };
  std::vector<local_call> calls;
  calls.push_back(std::move(lc));
  ask_local(c, std::move(calls));
  run();
  BOOST_TEST(log->calls() == 1u);
  advance(990ms);
  BOOST_TEST(called == 0);
  advance(110ms);
  BOOST_REQUIRE(called == 1);
  BOOST_TEST((answer.err == ec::timeout), describe(answer.err));
  advance(2s);
  BOOST_TEST(called == 1);
}

BOOST_FIXTURE_TEST_CASE(requests_made_before_the_connection_wait_for_it_and_share_a_batch,
                        client_fixture) {
  auto [coord, log] = coordinator(serving("n1"));
  auto c = client({ep1}, connector({{ep1, node(coord)}}));
  constexpr size_t n = 200;
  std::vector<std::shared_ptr<reply<get_reply>>> gets;
  std::vector<std::shared_ptr<reply<write_reply>>> puts;
  for (size_t i = 0; i < n; ++i) {
    gets.push_back(get(c, "k" + std::to_string(i)));
    puts.push_back(ask<write_reply>(c, caf::put_atom::value,
                                    put_request{b("p" + std::to_string(i)), b("v"), {}}));
  }
  run(); // all 400 reach the client before it has a node
  for (size_t i = 0; i < n; ++i) {
    BOOST_REQUIRE_MESSAGE(gets[i]->done, "get " << i << ": no answer");
    BOOST_TEST(!gets[i]->err, "get " << i << ": " << describe(gets[i]->err));
    BOOST_TEST((strs(gets[i]->value.values) ==
                std::vector<std::string>{"k" + std::to_string(i) + "@n1"}),
               "get " << i << ": " << show(*gets[i]));
    BOOST_REQUIRE_MESSAGE(puts[i]->done, "put " << i << ": no answer");
    BOOST_TEST((!puts[i]->err && puts[i]->value.acks == 3u),
               "put " << i << ": " << describe(puts[i]->err));
  }
  BOOST_TEST(log->calls() == 2 * n);
  // They waited together and went out together (the outbox cuts batches only at 256 KiB).
  BOOST_TEST(log->batches.size() <= 2u);
}

BOOST_FIXTURE_TEST_CASE(a_put_carries_its_ttl_and_one_out_of_range_is_refused_unsent,
                        client_fixture) {
  auto [coord, log] = coordinator(); // takes batches, never answers
  auto c = client({ep1}, connector({{ep1, node(coord)}}));
  auto bad = ask<write_reply>(c, caf::put_atom::value,
                              put_request{b("k"), b("v"), {}, uint32_t(max_ttl_s + 1)});
  auto good = ask<write_reply>(c, caf::put_atom::value, put_request{b("k"), b("v"), {}, 60});
  run();
  BOOST_REQUIRE(bad->done);
  BOOST_TEST((bad->err == ec::bad_request), describe(bad->err));
  BOOST_REQUIRE(log->calls() == 1u); // only the good one went
  BOOST_TEST(log->batches[0][0].ttl_s == 60u);
  BOOST_TEST(!good->done);
}

BOOST_FIXTURE_TEST_CASE(a_call_never_answered_fails_with_timeout_after_the_request_timeout,
                        client_fixture) {
  // Bound: the call's deadline is the request timeout (1 s) after it was sent, and overdue calls
  // are found by a sweep every 100 ms, so the answer must come in [1 s, 1.1 s]: none at 990 ms
  // (10 ms before the deadline), an ec::timeout by 1.1 s (deadline plus one sweep interval).
  auto [coord, log] = coordinator(); // takes batches, never answers
  auto c = client({ep1}, connector({{ep1, node(coord)}}));
  auto g = get(c, "k");
  auto p = ask<write_reply>(c, caf::put_atom::value, put_request{b("k"), b("v"), {}});
  run();
  BOOST_TEST(log->calls() == 2u); // sent at virtual time 0
  advance(990ms);
  BOOST_TEST(!g->done, show(*g));
  BOOST_TEST(!p->done);
  advance(110ms);
  BOOST_REQUIRE(g->done);
  BOOST_TEST((g->err == ec::timeout), describe(g->err));
  BOOST_REQUIRE(p->done);
  BOOST_TEST((p->err == ec::timeout), describe(p->err));
  // A write that timed out is said to be indeterminate.
  BOOST_TEST(describe(p->err).find("no answer within 1000 ms") != std::string::npos,
             describe(p->err));
  BOOST_TEST(describe(p->err).find("may or may not have been applied") != std::string::npos,
             describe(p->err));
  // Neither was resent anywhere, and each was answered once.
  BOOST_TEST(log->calls() == 2u);
  advance(2s);
  BOOST_TEST(g->count == 1u);
  BOOST_TEST(p->count == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_get_in_flight_when_the_coordinator_goes_down_is_retried_on_the_next_node,
                        client_fixture) {
  auto [coord1, log1] = coordinator(); // never answers
  auto [coord2, log2] = coordinator(serving("n2"));
  auto c = client({ep1, ep2}, connector({{ep1, node(coord1)}, {ep2, node(coord2)}}));
  auto g = get(c, "k");
  run();
  BOOST_REQUIRE_EQUAL(log1->calls(), 1u); // in flight at n1
  BOOST_TEST(log2->calls() == 0u);
  BOOST_TEST(!g->done);
  caf::anon_send_exit(coord1, caf::exit_reason::user_shutdown);
  run(); // no time passes: the retry does not wait for the request timeout
  BOOST_REQUIRE(g->done);
  BOOST_TEST(!g->err, describe(g->err));
  BOOST_TEST(strs(g->value.values) == std::vector<std::string>{"k@n2"},
             boost::test_tools::per_element());
  BOOST_TEST(log2->calls() == 1u);
  // The client now talks to n2.
  auto next = get(c, "k2");
  run();
  BOOST_REQUIRE(next->done);
  BOOST_TEST(strs(next->value.values) == std::vector<std::string>{"k2@n2"},
             boost::test_tools::per_element());
  BOOST_TEST(log1->calls() == 1u);
  BOOST_TEST(log2->calls() == 2u);
}

BOOST_FIXTURE_TEST_CASE(a_write_in_flight_when_the_node_goes_away_may_be_applied_and_is_not_resent,
                        client_fixture) {
  // A node drops a client's connection whose request outlives its connection timeout (a large
  // value being replicated): the write may well be stored. Reported as "unavailable" (nothing
  // stored) or sent again to the next node, the answer would be untrue or the write doubled.
  auto [coord1, log1] = coordinator(); // never answers
  auto [coord2, log2] = coordinator(serving("n2"));
  auto c = client({ep1, ep2}, connector({{ep1, node(coord1)}, {ep2, node(coord2)}}));
  auto p = ask<write_reply>(c, caf::put_atom::value, put_request{b("k"), b("v"), {}});
  auto d = ask<write_reply>(c, caf::delete_atom::value, delete_request{b("k"), b("ctx"), false});
  run();
  BOOST_REQUIRE_EQUAL(log1->calls(), 2u);
  caf::anon_send_exit(coord1, caf::exit_reason::user_shutdown);
  run();
  for (auto& w : {p, d}) {
    BOOST_REQUIRE(w->done);
    BOOST_TEST((w->err == ec::maybe_applied), describe(w->err));
    BOOST_TEST(describe(w->err).find("may or may not have been applied") != std::string::npos,
               describe(w->err));
  }
  BOOST_TEST(log2->calls() == 0u);
  // The next write goes to n2.
  auto next = ask<write_reply>(c, caf::put_atom::value, put_request{b("k"), b("v"), {}});
  run();
  BOOST_REQUIRE(next->done);
  BOOST_TEST(!next->err, describe(next->err));
  BOOST_TEST(log2->calls() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_client_waiting_for_answers_is_never_silent_for_a_second, client_fixture) {
  // A node closes a connection on which nothing arrived for its connection_ms (at least 2 s), and
  // an answer can take longer (a large value being replicated). While calls wait, the client
  // sends the coordinator an empty batch each second; waiting for nothing, it sends nothing.
  auto [coord, log] = coordinator(); // never answers
  auto c = client({ep1}, connector({{ep1, node(coord)}}), 10s);
  auto p = ask<write_reply>(c, caf::put_atom::value, put_request{b("k"), b("v"), {}});
  run();
  BOOST_REQUIRE_EQUAL(log->batches.size(), 1u);
  advance(3500ms);
  BOOST_TEST(!p->done);
  BOOST_REQUIRE_EQUAL(log->batches.size(), 4u); // at 1, 2 and 3 s
  for (size_t i = 1; i < log->batches.size(); ++i)
    BOOST_TEST(log->batches[i].empty());
  BOOST_TEST(log->calls() == 1u); // the put was not sent again
  advance(7s);
  BOOST_REQUIRE(p->done);
  BOOST_TEST((p->err == ec::timeout), describe(p->err));
  auto before = log->batches.size();
  advance(5s);
  BOOST_TEST(log->batches.size() == before); // nothing waits: silent
}

BOOST_FIXTURE_TEST_CASE(a_get_whose_nodes_go_away_goes_to_each_other_node_once, client_fixture) {
  auto [coord1, log1] = coordinator(); // never answers
  auto [coord2, log2] = coordinator(); // never answers
  auto [coord3, log3] = coordinator(serving("n3"));
  auto c = client({ep1, ep2, ep3},
                  connector({{ep1, node(coord1)}, {ep2, node(coord2)}, {ep3, node(coord3)}}));
  auto g = get(c, "k");
  run();
  caf::anon_send_exit(coord1, caf::exit_reason::user_shutdown);
  run();
  BOOST_REQUIRE_EQUAL(log2->calls(), 1u);
  BOOST_TEST(!g->done);
  caf::anon_send_exit(coord2, caf::exit_reason::user_shutdown);
  run();
  BOOST_REQUIRE(g->done);
  BOOST_TEST(show(*g) == "found k@n3");
  BOOST_TEST(log1->calls() == 1u);
  BOOST_TEST(log2->calls() == 1u);
  BOOST_TEST(log3->calls() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_get_whose_only_node_goes_away_is_sent_there_once_more, client_fixture) {
  // A node closes a connection that was idle for its idle_connection_ms just as a get is sent;
  // the next connection to the same endpoint serves it. Once, not in a loop.
  auto [dead, dead_log] = coordinator(); // never answers
  auto [fresh, fresh_log] = coordinator(serving("n1"));
  auto sessions = std::make_shared<int>(0);
  auto n1 = node_with_sessions(dead, fresh, sessions);
  auto c = client({ep1}, connector({{ep1, n1}}));
  auto g = get(c, "k");
  run();
  BOOST_REQUIRE_EQUAL(dead_log->calls(), 1u);
  caf::anon_send_exit(dead, caf::exit_reason::user_shutdown);
  run();
  BOOST_REQUIRE(g->done);
  BOOST_TEST(show(*g) == "found k@n1");
  BOOST_TEST(*sessions == 2);
}

BOOST_FIXTURE_TEST_CASE(a_client_whose_idle_connection_was_closed_stays_with_its_node,
                        client_fixture) {
  // A node closes a connection idle for its idle_connection_ms; the client's next request goes
  // to the same node again (a new session), so a shell left open keeps talking to one node and
  // its status figures do not jump from node to node.
  auto [first, first_log] = coordinator(serving("n1"));
  auto [second, second_log] = coordinator(serving("n1 again"));
  auto [other, other_log] = coordinator(serving("n2"));
  auto sessions = std::make_shared<int>(0);
  auto n1 = node_with_sessions(first, second, sessions);
  auto c = client({ep1, ep2}, connector({{ep1, n1}, {ep2, node(other)}}));
  auto g = get(c, "k");
  run();
  BOOST_TEST(show(*g) == "found k@n1");
  caf::anon_send_exit(first, caf::exit_reason::user_shutdown); // closed while idle
  run();
  auto later = get(c, "later");
  run();
  BOOST_TEST(show(*later) == "found later@n1 again");
  BOOST_TEST(other_log->calls() == 0u);
  BOOST_TEST(*sessions == 2);
}

BOOST_FIXTURE_TEST_CASE(no_reachable_node_fails_waiting_requests_with_unavailable_at_once,
                        client_fixture) {
  auto c = client({ep1, ep2}, connector({}), 10s); // knows none of them
  auto g1 = get(c, "k1");
  auto g2 = get(c, "k2");
  auto p = ask<write_reply>(c, caf::put_atom::value, put_request{b("k"), b("v"), {}});
  run(); // no time passes: the request timeout (10 s) is not waited for
  for (auto* r : {&g1->err, &g2->err, &p->err}) {
    BOOST_TEST((*r == ec::unavailable), describe(*r));
    BOOST_TEST(describe(*r) == "unavailable: no node reachable (tried 10.0.0.1:1, 10.0.0.2:2)");
  }
  BOOST_TEST((g1->done && g2->done && p->done));
}

BOOST_FIXTURE_TEST_CASE(a_round_skips_every_kind_of_unusable_endpoint_and_the_client_tries_again,
                        client_fixture) {
  auto net = std::make_shared<network>();
  auto [coord, log] = coordinator(serving("n3"));
  // ep1 answers with an actor that is no node_actor, although it answers session as a node would;
  // ep2 is a node without a session to give; ep3 is unknown (unreachable).
  net->place(sys, ep1, keep(sys.spawn([=]() -> caf::behavior {
               return {[=](session_atom) { return coord; }};
             })));
  net->place(sys, ep2, keep(spawn_fake_node(sys, fake_node_parts{})));
  auto c = client({ep1, ep2, ep3}, keep(spawn_network_connector(sys, net)));
  auto g = get(c, "k");
  run();
  BOOST_REQUIRE(g->done);
  BOOST_TEST((g->err == ec::unavailable), describe(g->err));
  BOOST_TEST(describe(g->err).find("tried 10.0.0.1:1, 10.0.0.2:2, 10.0.0.3:3") !=
                 std::string::npos,
             describe(g->err));
  BOOST_TEST(log->calls() == 0u); // nothing went to what only looked like a node
  // ep3 comes up: the next request connects (the failed round left nothing stuck).
  net->place(sys, ep3, node(coord));
  net->tried.clear();
  auto again = get(c, "k");
  run();
  BOOST_REQUIRE(again->done);
  BOOST_TEST(show(*again) == "found k@n3");
  BOOST_TEST(net->tried == (std::vector<std::string>{ep1, ep2, ep3}),
             boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(short_duplicate_and_foreign_answers_leave_every_call_ending_once,
                        client_fixture) {
  // Answers only the first call of each batch, then the same call again with another value, then
  // a call id the client never used.
  auto [coord, log] = coordinator([](const std::vector<client_call>& calls) {
    std::vector<client_answer> out;
    out.push_back(served("n1", calls.front()));
    auto dup = served("n1", calls.front());
    dup.get.values = {b("duplicate")};
    out.push_back(dup);
    auto foreign = served("n1", calls.front());
    foreign.id = calls.back().id + 1000;
    out.push_back(foreign);
    return out;
  });
  auto c = client({ep1}, connector({{ep1, node(coord)}}));
  std::vector<std::shared_ptr<reply<get_reply>>> gets;
  for (int i = 0; i < 4; ++i)
    gets.push_back(get(c, "k" + std::to_string(i)));
  run();
  BOOST_REQUIRE_EQUAL(log->batches.size(), 1u);
  BOOST_REQUIRE_EQUAL(log->calls(), 4u);
  BOOST_TEST(str(log->batches[0][0].key) == "k0");
  BOOST_REQUIRE(gets[0]->done);
  BOOST_TEST(show(*gets[0]) == "found k0@n1"); // the first answer, not the duplicate
  for (int i = 1; i < 4; ++i)
    BOOST_TEST(!gets[i]->done, "get " << i << ": " << show(*gets[i]));
  advance(990ms);
  for (int i = 1; i < 4; ++i)
    BOOST_TEST(!gets[i]->done, "get " << i << ": " << show(*gets[i]));
  advance(110ms);
  for (int i = 1; i < 4; ++i) {
    BOOST_REQUIRE_MESSAGE(gets[i]->done, "get " << i << ": no answer by 1.1 s");
    BOOST_TEST((gets[i]->err == ec::timeout), "get " << i << ": " << show(*gets[i]));
  }
  // The client still serves: a later get (alone in its batch, so answered) comes back.
  auto later = get(c, "k9");
  run();
  BOOST_REQUIRE(later->done);
  BOOST_TEST(show(*later) == "found k9@n1");
  for (auto& r : gets)
    BOOST_TEST(r->count == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_multi_get_answers_in_key_order_and_fails_on_the_first_error,
                        client_fixture) {
  using replies = std::vector<get_reply>;
  auto [coord, log] = coordinator(serving("n1"));
  auto c = client({ep1}, connector({{ep1, node(coord)}}));
  auto many = ask<replies>(c, caf::get_atom::value, std::vector<bytes>{b("c"), b("missing"), b("a")});
  auto failing = ask<replies>(c, caf::get_atom::value, std::vector<bytes>{b("a"), b("bad")});
  auto none = ask<replies>(c, caf::get_atom::value, std::vector<bytes>{});
  auto single = get(c, "bad");
  run();
  BOOST_REQUIRE(many->done);
  BOOST_TEST(!many->err, describe(many->err));
  BOOST_REQUIRE_EQUAL(many->value.size(), 3u);
  BOOST_TEST(strs(many->value[0].values) == std::vector<std::string>{"c@n1"},
             boost::test_tools::per_element());
  BOOST_TEST(!many->value[1].found);
  BOOST_TEST(strs(many->value[2].values) == std::vector<std::string>{"a@n1"},
             boost::test_tools::per_element());
  BOOST_TEST(str(many->value[2].context) == "ctx:a@n1");
  // The coordinator's error reaches the caller as it was: code and text.
  BOOST_REQUIRE(failing->done);
  BOOST_TEST((failing->err == ec::unavailable), describe(failing->err));
  BOOST_TEST(describe(failing->err) == "unavailable: 1 of 3 replicas answered, 2 needed");
  BOOST_REQUIRE(single->done);
  BOOST_TEST(describe(single->err) == "unavailable: 1 of 3 replicas answered, 2 needed");
  BOOST_REQUIRE(none->done);
  BOOST_TEST(!none->err);
  BOOST_TEST(none->value.empty());
}

BOOST_FIXTURE_TEST_CASE(status_and_admin_go_to_the_node_and_only_safe_ones_are_retried_elsewhere,
                        client_fixture) {
  auto [coord1, log1] = coordinator(serving("n1"));
  auto [coord2, log2] = coordinator(serving("n2"));
  auto nlog1 = std::make_shared<node_log>();
  auto nlog2 = std::make_shared<node_log>();
  auto n1 = keep(spawn_status_node(sys, "n1", coord1, {}, nlog1));
  auto n2 = keep(spawn_status_node(sys, "n2", coord2, {}, nlog2));
  auto c = client({ep1, ep2}, connector({{ep1, n1}, {ep2, n2}}));
  auto st = ask<cluster_status>(c, status_atom::value);
  run();
  BOOST_REQUIRE(st->done);
  BOOST_TEST(st->value.node == "n1");
  BOOST_TEST(log1->calls() == 0u); // not through the coordinator
  // n1 goes away just as three requests reach the client: they go to the dead node first (the
  // client has not yet seen it go), so each fails there with request_receiver_down.
  auto status = ask<cluster_status>(c, status_atom::value);
  auto dry_run = ask<std::string>(c, admin_atom::value, std::string{"join"},
                                  std::string{"10.0.0.9:9"}, false);
  auto change = ask<std::string>(c, admin_atom::value, std::string{"join"},
                                 std::string{"10.0.0.9:9"}, true);
  caf::anon_send_exit(n1, caf::exit_reason::user_shutdown);
  run();
  BOOST_TEST(nlog1->admin.empty());
  // A status and a dry run are safe to repeat: answered by n2.
  BOOST_REQUIRE(status->done);
  BOOST_TEST(!status->err, describe(status->err));
  BOOST_TEST(status->value.node == "n2");
  BOOST_REQUIRE(dry_run->done);
  BOOST_TEST(dry_run->value == "n2: join 10.0.0.9:9", describe(dry_run->err));
  // A change may have been made before the node went away: not repeated elsewhere.
  BOOST_REQUIRE(change->done);
  BOOST_TEST(static_cast<bool>(change->err), change->value);
  BOOST_TEST(nlog2->admin == std::vector<std::string>{"join 10.0.0.9:9 dry-run"},
             boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(endpoints_learnt_from_status_are_used_for_failover, client_fixture) {
  auto [coord1, log1] = coordinator(); // never answers
  auto [coord2, log2] = coordinator(serving("n2"));
  auto nlog1 = std::make_shared<node_log>();
  auto nlog2 = std::make_shared<node_log>();
  // The user lists n1 only; n1 tells of n2.
  auto n1 = keep(spawn_status_node(sys, "n1", coord1, {ep1, ep2}, nlog1));
  auto n2 = keep(spawn_status_node(sys, "n2", coord2, {ep1, ep2}, nlog2));
  auto c = client({ep1}, connector({{ep1, n1}, {ep2, n2}}));
  auto g = get(c, "k");
  run();
  BOOST_TEST(nlog1->status == 1u); // asked on connecting
  BOOST_REQUIRE_EQUAL(log1->calls(), 1u);
  // n1's process goes away: its node and coordinator.
  caf::anon_send_exit(n1, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(coord1, caf::exit_reason::user_shutdown);
  run();
  BOOST_REQUIRE(g->done);
  BOOST_TEST(show(*g) == "found k@n2");
}

// The promise of client.hpp that every request is bounded by the request timeout: from the moment
// it is asked, whether it waits for a connection or is retried on another node.

BOOST_FIXTURE_TEST_CASE(a_request_waiting_for_a_connection_is_bounded_by_the_request_timeout,
                        client_fixture) {
  // The only endpoint drops connection attempts: the connector never answers.
  auto net = std::make_shared<network>();
  net->silent.insert(ep1);
  auto c = client({ep1}, keep(spawn_network_connector(sys, net)), 1s, 2s);
  auto g = get(c, "k");
  advance(1100ms);
  BOOST_TEST(g->done); // not held up by the 2 s connect timeout
  BOOST_TEST((g->err == ec::timeout), show(*g));
}

BOOST_FIXTURE_TEST_CASE(a_retried_get_is_still_bounded_by_the_request_timeout, client_fixture) {
  auto [coord1, log1] = coordinator(); // never answers
  auto [coord2, log2] = coordinator(); // never answers
  auto c = client({ep1, ep2}, connector({{ep1, node(coord1)}, {ep2, node(coord2)}}), 1s);
  auto g = get(c, "k");
  advance(900ms);
  caf::anon_send_exit(coord1, caf::exit_reason::user_shutdown);
  run();
  BOOST_REQUIRE_EQUAL(log2->calls(), 1u);
  advance(200ms);
  BOOST_TEST(g->done); // the retry keeps the first deadline
  BOOST_TEST((g->err == ec::timeout), show(*g));
}

BOOST_FIXTURE_TEST_CASE(a_client_without_endpoints_fails_its_requests, client_fixture) {
  auto c = client({}, connector({}), 1s);
  auto g = get(c, "k");
  advance(2s);
  BOOST_TEST(g->done);
  BOOST_TEST((g->err == ec::unavailable), show(*g));
}

// ---- Asking another node (actors/client/retry_policy.hpp) -----------------------------------

/// Every call answered with `err`.
answering failing_with(caf::error err) {
  return [err](const std::vector<client_call>& calls) {
    std::vector<client_answer> out;
    for (auto& c : calls) {
      client_answer a;
      a.id = c.id;
      a.err = err;
      out.push_back(a);
    }
    return out;
  };
}

const auto cut_off = caf::make_error(ec::unavailable, "1 of 3 replicas reachable, 2 needed");

BOOST_FIXTURE_TEST_CASE(an_unavailable_get_is_asked_of_the_other_nodes_until_one_serves_it,
                        client_fixture) {
  auto [coord1, log1] = coordinator(failing_with(cut_off));
  auto [coord2, log2] = coordinator(failing_with(cut_off));
  auto [coord3, log3] = coordinator(serving("n3"));
  auto c = client({ep1, ep2, ep3},
                  connector({{ep1, node(coord1)}, {ep2, node(coord2)}, {ep3, node(coord3)}}));
  auto g = get(c, "k");
  run(); // no time passes: each node answers at once
  BOOST_REQUIRE(g->done);
  BOOST_TEST(show(*g) == "found k@n3");
  BOOST_TEST(log1->calls() == 1u);
  BOOST_TEST(log2->calls() == 1u);
  BOOST_TEST(log3->calls() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_write_goes_elsewhere_only_when_the_answer_says_nothing_was_stored,
                        client_fixture) {
  // n1 answers "unavailable" for key "cut" (nothing stored: the write goes to n2) and
  // maybe_applied or timeout for the others (it may be stored: never sent again).
  auto [coord1, log1] = coordinator([](const std::vector<client_call>& calls) {
    std::vector<client_answer> out;
    for (auto& call : calls) {
      auto a = served("n1", call);
      auto key = str(call.key);
      if (key == "cut")
        a.err = cut_off;
      else if (key == "maybe")
        a.err = caf::make_error(ec::maybe_applied, "1 of 3 replicas stored it, 2 needed");
      else if (key == "slow")
        a.err = caf::make_error(ec::timeout, "no answer in time");
      out.push_back(a);
    }
    return out;
  });
  auto [coord2, log2] = coordinator(serving("n2"));
  auto c = client({ep1, ep2}, connector({{ep1, node(coord1)}, {ep2, node(coord2)}}));
  auto put = ask<write_reply>(c, caf::put_atom::value, put_request{b("cut"), b("v"), b("ctx")});
  auto del = ask<write_reply>(c, caf::delete_atom::value, delete_request{b("cut"), b("ctx")});
  auto maybe = ask<write_reply>(c, caf::put_atom::value, put_request{b("maybe"), b("v"), {}});
  auto slow = ask<write_reply>(c, caf::put_atom::value, put_request{b("slow"), b("v"), {}});
  run();
  BOOST_REQUIRE(put->done && del->done && maybe->done && slow->done);
  BOOST_TEST(!put->err, describe(put->err));
  BOOST_TEST(put->value.acks == 3u);
  BOOST_TEST(!del->err, describe(del->err));
  BOOST_TEST(del->value.acks == 2u);
  BOOST_TEST((maybe->err == ec::maybe_applied), describe(maybe->err));
  BOOST_TEST((slow->err == ec::timeout), describe(slow->err));
  // n2 got the two that n1 said it did not store, unchanged (value, context).
  auto sent = log2->all();
  BOOST_REQUIRE_EQUAL(sent.size(), 2u);
  for (auto& call : sent) {
    BOOST_TEST(str(call.key) == "cut");
    BOOST_TEST(str(call.context) == "ctx");
  }
  BOOST_TEST(log1->calls() == 4u);
}

BOOST_FIXTURE_TEST_CASE(when_every_node_answers_unavailable_that_is_the_answer, client_fixture) {
  auto [coord1, log1] = coordinator(failing_with(cut_off));
  auto [coord2, log2] = coordinator(failing_with(cut_off));
  auto c = client({ep1, ep2, ep3}, connector({{ep1, node(coord1)}, {ep2, node(coord2)}}));
  auto g = get(c, "k");
  auto p = ask<write_reply>(c, caf::put_atom::value, put_request{b("k"), b("v"), {}});
  run(); // ep3 is unreachable: no time passes either
  for (auto* err : {&g->err, &p->err}) {
    BOOST_TEST((*err == ec::unavailable), describe(*err));
    BOOST_TEST(describe(*err) == "unavailable: 1 of 3 replicas reachable, 2 needed (asked 3 nodes)",
               describe(*err));
  }
  BOOST_TEST(log1->calls() == 2u);
  BOOST_TEST(log2->calls() == 2u);
  // A client with one endpoint gets the node's answer as it was.
  auto alone = client({ep1}, connector({{ep1, node(coord1)}}));
  auto one = get(alone, "k");
  run();
  BOOST_TEST(describe(one->err) == "unavailable: 1 of 3 replicas reachable, 2 needed");
}

BOOST_FIXTURE_TEST_CASE(a_client_leaves_a_node_that_keeps_answering_unavailable, client_fixture) {
  // n1 is cut off from its peers: everything it is asked fails, and n2 serves it.
  auto [coord1, log1] = coordinator(failing_with(cut_off));
  auto [coord2, log2] = coordinator(serving("n2"));
  auto c = client({ep1, ep2}, connector({{ep1, node(coord1)}, {ep2, node(coord2)}}));
  for (uint32_t i = 0; i < move_after_unavailable; ++i) {
    auto g = get(c, "k" + std::to_string(i));
    run();
    BOOST_TEST(show(*g) == "found k" + std::to_string(i) + "@n2");
  }
  BOOST_TEST(log1->calls() == move_after_unavailable);
  // From now on n2 is asked first.
  auto g = get(c, "later");
  auto p = ask<write_reply>(c, caf::put_atom::value, put_request{b("later"), b("v"), {}});
  run();
  BOOST_TEST(show(*g) == "found later@n2");
  BOOST_TEST(!p->err, describe(p->err));
  BOOST_TEST(log1->calls() == move_after_unavailable);
  BOOST_TEST(log2->calls() == move_after_unavailable + 2);
}

BOOST_FIXTURE_TEST_CASE(a_node_that_answers_unavailable_for_some_keys_keeps_its_clients,
                        client_fixture) {
  // A partition leaves some keys on each side: n1 serves all but "bad" ones.
  auto [coord1, log1] = coordinator(serving("n1"));
  auto [coord2, log2] = coordinator(serving("n2"));
  auto c = client({ep1, ep2}, connector({{ep1, node(coord1)}, {ep2, node(coord2)}}));
  for (int i = 0; i < 10; ++i) {
    auto bad = ask<write_reply>(c, caf::put_atom::value, put_request{b("bad"), b("v"), {}});
    auto good = get(c, "k");
    run();
    BOOST_TEST(show(*good) == "found k@n1");
    BOOST_TEST((bad->err == ec::unavailable), describe(bad->err)); // n2 has it "bad" too
  }
  BOOST_TEST(log1->calls() == 20u);
  BOOST_TEST(log2->calls() == 10u);
}

BOOST_FIXTURE_TEST_CASE(a_silent_nodes_gets_go_elsewhere_and_its_writes_wait_for_it,
                        client_fixture) {
  // n1 takes calls and then stops (SIGSTOP): no answers, no replies to probes.
  auto [coord1, log1] = coordinator();
  auto [coord2, log2] = coordinator(serving("n2"), true);
  auto c = client({ep1, ep2}, connector({{ep1, node(coord1)}, {ep2, node(coord2)}}), 10s);
  auto g = get(c, "k");
  auto p = ask<write_reply>(c, caf::put_atom::value, put_request{b("k"), b("v"), {}});
  run();
  BOOST_REQUIRE_EQUAL(log1->calls(), 2u);
  advance(1900ms);
  BOOST_TEST(!g->done); // not yet silent for 2 s
  advance(200ms);
  BOOST_REQUIRE(g->done);
  BOOST_TEST(show(*g) == "found k@n2");
  BOOST_TEST(!p->done); // the write may be stored at n1: it waits there
  // New calls go to n2.
  auto next = ask<write_reply>(c, caf::put_atom::value, put_request{b("k2"), b("v"), {}});
  run();
  BOOST_REQUIRE(next->done);
  BOOST_TEST(!next->err, describe(next->err));
  BOOST_TEST(log2->all().size() == 2u);
  advance(8s);
  BOOST_REQUIRE(p->done);
  BOOST_TEST((p->err == ec::timeout), describe(p->err));
  BOOST_TEST(log2->all().size() == 2u); // the first put never went to n2
}

BOOST_FIXTURE_TEST_CASE(a_slow_node_that_answers_probes_keeps_its_calls, client_fixture) {
  // n1 answers the client's probes but not (yet) its get: alive, only slow.
  auto [coord1, log1] = coordinator(answering{}, true);
  auto [coord2, log2] = coordinator(serving("n2"), true);
  auto c = client({ep1, ep2}, connector({{ep1, node(coord1)}, {ep2, node(coord2)}}), 10s);
  auto g = get(c, "k");
  advance(5s);
  BOOST_TEST(!g->done);
  BOOST_TEST(log2->calls() == 0u);
  BOOST_TEST(log1->batches.size() >= 5u); // the get, then a probe a second
}

BOOST_FIXTURE_TEST_CASE(a_starting_node_is_passed_over_and_waited_for_when_it_is_the_only_one,
                        client_fixture) {
  auto [coord1, log1] = coordinator(serving("n1"));
  auto [coord2, log2] = coordinator(serving("n2"));
  auto starting = std::make_shared<std::string>("connected to 0 of 2 peers, waiting for n2, n3");
  auto nlog1 = std::make_shared<node_log>();
  auto nlog2 = std::make_shared<node_log>();
  auto n1 = keep(spawn_status_node(sys, "n1", coord1, {}, nlog1, starting));
  auto n2 = keep(spawn_status_node(sys, "n2", coord2, {}, nlog2));
  // With another node: that one serves at once.
  auto both = client({ep1, ep2}, connector({{ep1, n1}, {ep2, n2}}));
  auto g = get(both, "k");
  run();
  BOOST_TEST(show(*g) == "found k@n2");
  // Alone: requests wait for it, its status says why, and it serves once it has started.
  auto alone = client({ep1}, connector({{ep1, n1}}), 10s);
  auto waiting = get(alone, "k");
  auto st = ask<cluster_status>(alone, status_atom::value);
  advance(1s);
  BOOST_TEST(!waiting->done, show(*waiting));
  BOOST_REQUIRE(st->done);
  BOOST_TEST(st->value.starting == *starting);
  starting->clear();
  advance(300ms);
  BOOST_REQUIRE(waiting->done);
  BOOST_TEST(show(*waiting) == "found k@n1");
  BOOST_TEST(log1->calls() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_call_no_node_took_fails_with_unavailable_and_the_reason_at_its_deadline,
                        client_fixture) {
  auto [coord1, log1] = coordinator(serving("n1"));
  auto starting = std::make_shared<std::string>("connected to 0 of 2 peers, waiting for n2, n3");
  auto nlog1 = std::make_shared<node_log>();
  auto n1 = keep(spawn_status_node(sys, "n1", coord1, {}, nlog1, starting));
  auto c = client({ep1}, connector({{ep1, n1}}), 1s);
  auto p = ask<write_reply>(c, caf::put_atom::value, put_request{b("k"), b("v"), {}});
  advance(1100ms);
  BOOST_REQUIRE(p->done);
  // Never sent anywhere: not "may or may not have been applied".
  BOOST_TEST((p->err == ec::unavailable), describe(p->err));
  BOOST_TEST(describe(p->err) ==
                 "unavailable: node n1 is starting: connected to 0 of 2 peers, waiting for n2, "
                 "n3 (no node served it within 1000 ms)",
             describe(p->err));
  BOOST_TEST(log1->calls() == 0u);
  BOOST_TEST(nlog1->sessions >= 3u); // asked again while it waited
}

BOOST_FIXTURE_TEST_CASE(a_write_answered_unavailable_and_then_unanswered_is_a_timeout,
                        client_fixture) {
  // Sent on to n2, which may have stored it when its answer does not come: timeout.
  auto [coord1, log1] = coordinator(failing_with(cut_off));
  auto [coord2, log2] = coordinator();
  auto c = client({ep1, ep2}, connector({{ep1, node(coord1)}, {ep2, node(coord2)}}), 1s);
  auto p = ask<write_reply>(c, caf::put_atom::value, put_request{b("k"), b("v"), {}});
  advance(1100ms);
  BOOST_REQUIRE(p->done);
  BOOST_TEST((p->err == ec::timeout), describe(p->err));
  BOOST_TEST(log2->calls() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
