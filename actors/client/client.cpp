#include "actors/client/client.hpp"
#include "actors/client/retry_policy.hpp"
#include "actors/client/tls.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/batching/batch_outbox.hpp"
#include "actors/batching/pending_calls.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

/// flush: the batches built while working through the mailbox go out; tick: overdue calls, silent
/// nodes, probes; connect_to: another search for a node after one found only starting nodes.
using client_impl =
    client_actor::extend<caf::reacts_to<caf::flush_atom>, caf::reacts_to<caf::tick_atom>,
                         caf::reacts_to<connect_to_atom>,
                         caf::reacts_to<local_calls>>::extend_with<client_answers_actor>;

/// How often overdue calls and silent nodes are looked for.
constexpr auto sweep_interval = std::chrono::milliseconds{100};

/// While calls wait at a node, the longest the client stays silent towards it: well under the time
/// after which a node closes a connection on which nothing arrived (kvnode's `[timeouts]
/// connection_ms`, at least 2 s). The coordinator answers these probes, which tells a slow node
/// from one that stopped (retry_policy.hpp, gone_silent).
constexpr auto keep_alive_interval = std::chrono::seconds{1};

/// When every endpoint failed but some node said it is starting, the next search after this
/// pause (a starting node serves within its bounded start-up wait).
constexpr auto starting_retry_interval = std::chrono::milliseconds{250};

using time_point = caf::actor_clock::time_point;

/// One node the client talks to or tries to, by endpoint (the index in options.endpoints).
struct link {
  node_actor node;                   ///< set once reached (and kept while it says it is starting)
  client_requests_actor coordinator; ///< set once the node gave a session: where calls go
  bool connecting = false;
  caf::error refused;           ///< why the node gave no session (it is starting), if so
  std::vector<uint64_t> unsent; ///< calls sent on here from another node, waiting for the session
  time_point last_sent{};       ///< the last batch to its coordinator (calls or a probe)
  time_point last_heard{};      ///< the last batch from its coordinator (answers or a probe's)
  bool silent = false;          ///< went silent with calls in flight; not heard from since
};

/// What a client remembers of a get, put or delete, besides its answer's use. Every call is
/// registered (and its deadline runs) from the moment it is asked, connected or not.
struct call_in_flight {
  caf::actor_addr coordinator; ///< where it waits for an answer; unset while it waits for a node
  client_call call;            ///< kept while it may still go to another node
  bool kept = true; ///< `call` still holds it (a client with one endpoint sends its writes off
                    ///< without keeping a copy of each value)
  bool resent_here = false;   ///< a get sent again to the endpoint whose connection broke
  endpoint_attempts attempts; ///< the endpoints it went to
  size_t at = 0;              ///< the one it went to last (once attempts.count() > 0)
  time_point sent{};          ///< when it went there
  caf::error last;            ///< the last answer that sent it on (ec::unavailable)
  bool write = false;
  bool maybe_stored = false; ///< a write went to a node that has not said it stored nothing
  bool from_current = false; ///< the client's current node answered it ec::unavailable
};

using node_calls = pending_calls<client_answer, call_in_flight>;

/// A status, admin or fault request waiting for a node: runs on it, or fails with an error.
struct waiting_request {
  std::function<void(node_actor)> run;
  std::function<void(caf::error)> fail;
};

struct client_state {
  static inline const char* name = "client";
  client_options options;
  std::vector<link> links;       ///< by endpoint index; grows with options.endpoints
  std::optional<size_t> current; ///< the link new calls go to (it has a coordinator)
  // The search for a current node: endpoints in turn, from where the last one left off.
  size_t next_endpoint = 0;
  std::optional<size_t> searching;  ///< the endpoint being tried, while a search runs
  size_t attempts_this_round = 0;   ///< endpoints tried since the last node was found
  bool starting_this_round = false; ///< a node of this round said it is starting
  bool search_again_scheduled = false;
  caf::error last_refusal;             ///< the last "starting" answer, for calls that wait on it
  unavailable_streak streak;           ///< the current node's run of unavailable answers
  std::deque<waiting_request> waiting; ///< node requests waiting for any node
  node_calls calls{sweep_interval};
  std::vector<uint64_t> unsent; ///< calls waiting for a current node, by id
  batch_outbox<client_requests_actor, client_call> outbox;
};

using self_ptr = client_impl::stateful_pointer<client_state>;

/// Link `i` (links and endpoints grow together: learn_endpoints).
link& link_at(self_ptr self, size_t i) {
  return self->state.links[i];
}

/// The link whose coordinator is at `addr`.
std::optional<size_t> link_of_coordinator(self_ptr self, const caf::actor_addr& addr) {
  auto& links = self->state.links;
  for (size_t i = 0; i < links.size(); ++i)
    if (links[i].coordinator && links[i].coordinator.address() == addr)
      return i;
  return std::nullopt;
}

std::string endpoint_list(self_ptr self) {
  std::string out;
  for (auto& ep : self->state.options.endpoints)
    out += (out.empty() ? "" : ", ") + ep;
  return out;
}

/// `err` with `note` added to its text (same category and code).
caf::error with_note(const caf::error& err, const std::string& note) {
  if (err.category() != caf::atom("actorkv"))
    return err;
  std::string text;
  if (err.context().match_elements<std::string>())
    text = err.context().get_as<std::string>(0);
  return caf::make_error(static_cast<ec>(err.code()), text + " (" + note + ")");
}

caf::error timed_out(self_ptr self) {
  return caf::make_error(ec::timeout, "no answer within " +
                                          std::to_string(self->state.options.timeout.count()) +
                                          " ms; a write may or may not have been applied");
}

void find_current(self_ptr self);
void open_link(self_ptr self, size_t i);
void send_on(self_ptr self, uint64_t id, bool again_here = false);

/// Puts call `id` in the next batch to the coordinator of link `i`, unless it already ended.
void send_call(self_ptr self, size_t i, uint64_t id) {
  auto& st = self->state;
  auto* c = st.calls.extra_of(id);
  if (!c)
    return;
  auto& l = link_at(self, i);
  c->coordinator = l.coordinator.address();
  c->attempts.tried(i);
  c->at = i;
  c->sent = self->clock().now();
  c->maybe_stored = c->write;
  l.last_sent = c->sent;
  client_call call;
  if (c->kept && (!c->write || st.options.endpoints.size() > 1)) {
    call = c->call;
  } else {
    call = std::move(c->call);
    c->kept = false;
  }
  call.id = id;
  if (st.outbox.add(self, l.coordinator, std::move(call)))
    self->send(self, caf::flush_atom::value);
}

void fail_call(self_ptr self, uint64_t id, caf::error err) {
  if (auto e = self->state.calls.take(id))
    node_calls::fail(e->settle, std::move(err));
}

void run_waiting(self_ptr self, const node_actor& node) {
  auto waiting = std::move(self->state.waiting);
  self->state.waiting.clear();
  for (auto& w : waiting)
    w.run(node);
}

/// Link `i` is the client's node now: new calls and what waited for a node go to it.
void set_current(self_ptr self, size_t i) {
  auto& st = self->state;
  st.current = i;
  st.next_endpoint = (i + 1) % st.options.endpoints.size();
  st.streak.reset();
  st.attempts_this_round = 0;
  st.starting_this_round = false;
  st.last_refusal = caf::error{};
  run_waiting(self, st.links[i].node);
  auto unsent = std::move(st.unsent);
  st.unsent.clear();
  for (auto id : unsent)
    send_call(self, i, id);
}

/// No node can be reached: what waits for one fails with `err`.
void give_up_waiting(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  for (auto& w : waiting)
    w.fail(err);
  auto unsent = std::move(st.unsent);
  st.unsent.clear();
  for (auto id : unsent)
    fail_call(self, id, err);
}

void learn_endpoints(self_ptr self, const cluster_status& st) {
  auto& eps = self->state.options.endpoints;
  for (auto& m : st.members)
    if (std::find(eps.begin(), eps.end(), m.endpoint) == eps.end())
      eps.push_back(m.endpoint);
  self->state.links.resize(eps.size());
}

/// The search tried endpoint `i` and it gave no session.
void search_failed(self_ptr self, size_t i) {
  auto& st = self->state;
  if (st.searching != i)
    return;
  st.searching.reset();
  if (st.links[i].refused) {
    st.starting_this_round = true;
    st.last_refusal = st.links[i].refused;
  }
  if (++st.attempts_this_round < st.options.endpoints.size()) {
    find_current(self);
    return;
  }
  // A whole round failed.
  st.attempts_this_round = 0;
  for (size_t j = 0; j < st.links.size(); ++j)
    if (st.links[j].silent && st.links[j].coordinator) {
      // Better a node that stopped answering for a while than none: it may answer again.
      set_current(self, j);
      return;
    }
  if (st.starting_this_round) {
    // A starting node serves once it is connected to its peers (or after its bounded wait):
    // calls wait for it until their deadline, which fails them with its answer.
    st.starting_this_round = false;
    if (!st.search_again_scheduled && (!st.unsent.empty() || !st.waiting.empty())) {
      st.search_again_scheduled = true;
      self->delayed_send(self, starting_retry_interval, connect_to_atom::value);
    }
    return;
  }
  give_up_waiting(self, caf::make_error(ec::unavailable,
                                        "no node reachable (tried " + endpoint_list(self) + ")"));
}

/// Link `i` has a session.
void link_opened(self_ptr self, size_t i) {
  auto& st = self->state;
  auto& l = st.links[i];
  if (st.options.learn_endpoints)
    // Learn the other members so that failover and retries reach nodes the user did not list.
    self->request(l.node, st.options.timeout, status_atom::value)
        .then([=](const cluster_status& cs) { learn_endpoints(self, cs); }, [](caf::error&) {});
  auto unsent = std::move(l.unsent);
  l.unsent.clear();
  for (auto id : unsent)
    send_call(self, i, id);
  if (st.searching == i) {
    st.searching.reset();
    set_current(self, i);
  }
}

/// Link `i` could not be opened: the calls sent on to it go on to the next node.
void link_failed(self_ptr self, size_t i) {
  auto& l = self->state.links[i];
  auto unsent = std::move(l.unsent);
  l.unsent.clear();
  for (auto id : unsent)
    send_on(self, id);
  search_failed(self, i);
}

void ask_session(self_ptr self, size_t i, node_actor node) {
  self->request(node, self->state.options.connect_timeout, session_atom::value)
      .then(
          [=](client_requests_actor& coordinator) {
            auto& l = self->state.links[i];
            l.connecting = false;
            if (!coordinator) {
              l.node = nullptr;
              link_failed(self, i);
              return;
            }
            l.coordinator = std::move(coordinator);
            l.refused = caf::error{};
            l.silent = false;
            l.last_heard = self->clock().now();
            self->monitor(l.coordinator);
            link_opened(self, i);
          },
          [=](caf::error& err) {
            auto& l = self->state.links[i];
            l.connecting = false;
            if (err == ec::unavailable) {
              // Starting: the node says why it serves no calls yet. It still answers status (and
              // the requests that wait for any node run there).
              l.refused = std::move(err);
              run_waiting(self, l.node);
            } else {
              l.node = nullptr;
            }
            link_failed(self, i);
          });
}

/// Connects link `i` (if need be) and asks its node for a session; link_opened or link_failed
/// follows.
void open_link(self_ptr self, size_t i) {
  auto& st = self->state;
  auto& l = link_at(self, i);
  if (l.coordinator || l.connecting)
    return;
  l.connecting = true;
  if (l.node) {
    ask_session(self, i, l.node);
    return;
  }
  auto ep = st.options.endpoints[i];
  auto colon = ep.rfind(':');
  auto host = ep.substr(0, colon);
  auto port = static_cast<uint16_t>(std::stoul(ep.substr(colon + 1)));
  auto connector = st.options.connector;
  if (!connector)
    connector = default_connector(self->system());
  self->request(connector, st.options.connect_timeout, caf::connect_atom::value, host, port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>& ifs) {
            if (!ptr || !self->system().assignable<node_actor>(ifs)) {
              self->state.links[i].connecting = false;
              link_failed(self, i);
              return;
            }
            auto node = caf::actor_cast<node_actor>(std::move(ptr));
            self->state.links[i].node = node;
            self->monitor(node);
            ask_session(self, i, node);
          },
          [=](caf::error&) {
            self->state.links[i].connecting = false;
            link_failed(self, i);
          });
}

/// Looks for a node for new calls, trying the endpoints in turn.
void find_current(self_ptr self) {
  auto& st = self->state;
  if (st.current || st.searching)
    return;
  if (st.options.endpoints.empty()) {
    give_up_waiting(self, caf::make_error(ec::unavailable, "no node endpoints to connect to"));
    return;
  }
  auto i = st.next_endpoint % st.options.endpoints.size();
  st.next_endpoint = (i + 1) % st.options.endpoints.size();
  st.searching = i;
  auto& l = link_at(self, i);
  if (l.coordinator && !l.silent) {
    st.searching.reset();
    set_current(self, i);
  } else if (l.silent) {
    search_failed(self, i);
  } else {
    open_link(self, i); // link_opened or link_failed ends this attempt
  }
}

/// Call `id` may go to another node (retry_policy.hpp decided): to the next endpoint it has not
/// tried, connecting if need be. With none left it fails with the last answer that sent it on.
/// `again_here`: a get whose connection broke may go once more to the same endpoint when there
/// is no other (a node closes idle connections; a restarted node is there again).
void send_on(self_ptr self, uint64_t id, bool again_here) {
  auto& st = self->state;
  auto* c = st.calls.extra_of(id);
  if (!c)
    return;
  c->coordinator = {};
  auto next = c->kept ? c->attempts.next(st.options.endpoints.size(), c->at,
                                         [&](size_t i) { return !link_at(self, i).silent; })
                      : std::nullopt;
  if (!next && again_here && c->kept && !c->resent_here) {
    c->resent_here = true;
    next = c->at;
  }
  if (!next) {
    auto tried = c->attempts.count();
    auto err = c->last ? c->last
                       : caf::make_error(ec::unavailable, "no other node reachable (tried " +
                                                              endpoint_list(self) + ")");
    if (tried > 1)
      err = with_note(err, "asked " + std::to_string(tried) + " nodes");
    fail_call(self, id, std::move(err));
    return;
  }
  c->attempts.tried(*next);
  c->at = *next;
  auto& l = link_at(self, *next);
  if (l.coordinator) {
    send_call(self, *next, id);
    return;
  }
  l.unsent.push_back(id);
  open_link(self, *next);
}

/// A get, put or delete: registered with its deadline (the request timeout from now unless
/// given), sent to the current node in the next batch (once there is one), and handed to
/// `settle` once answered, by the deadline.
void call_node(self_ptr self, client_call call, std::function<void(client_answer&)> settle,
               std::optional<node_calls::time_point> deadline = std::nullopt) {
  auto& st = self->state;
  auto due = deadline ? *deadline : self->clock().now() + st.options.timeout;
  call_in_flight extra;
  extra.write = call.kind != client_call_kind::get;
  extra.call = std::move(call);
  auto id = st.calls.add_until(self, due, std::move(settle), std::move(extra));
  if (st.current) {
    send_call(self, *st.current, id);
    return;
  }
  st.unsent.push_back(id);
  find_current(self);
}

/// A batch of answers (or the reply to a probe, empty) from a coordinator.
void take_answers(self_ptr self, std::vector<client_answer>& answers) {
  auto& st = self->state;
  auto from = caf::actor_cast<caf::actor_addr>(self->current_sender());
  auto li = link_of_coordinator(self, from);
  if (li) {
    st.links[*li].last_heard = self->clock().now();
    st.links[*li].silent = false;
  }
  bool from_current = li && st.current == li;
  for (auto& a : answers) {
    auto* c = st.calls.extra_of(a.id);
    if (!c)
      continue; // already answered, failed, or never asked
    bool here = c->coordinator == from;
    if (a.err && nothing_stored_elsewhere_may_serve(a.err)) {
      if (!here)
        continue; // from a node the call moved away from
      if (from_current) {
        st.streak.answered(true);
        c->from_current = true;
      }
      c->maybe_stored = false; // the node says so
      c->last = a.err;
      if (may_retry_elsewhere(c->call.kind, attempt_end::answered, a.err)) {
        send_on(self, a.id);
        continue;
      }
    } else if (from_current) {
      st.streak.answered(false);
    } else if (!a.err && here && li && c->from_current && st.current &&
               st.streak.move_to_the_other()) {
      // The current node keeps answering unavailable what this one serves.
      set_current(self, *li);
      from_current = true;
    }
    if (auto e = st.calls.take(a.id))
      e->settle(a);
  }
}

/// The coordinator at `coordinator` went away with its node: its gets go to other nodes, or fail.
/// Its writes fail with ec::maybe_applied: the node may have stored them before it went away (a
/// node also drops a connection that stays silent past its timeout while the write is being
/// replicated), so neither "unavailable" nor sending them again would be true to the caller (a
/// second attempt could add a duplicate sibling, or be refused for a sibling the first attempt
/// added).
void node_gone(self_ptr self, const caf::actor_addr& coordinator) {
  auto& st = self->state;
  std::vector<uint64_t> lost;
  st.calls.for_each([&](uint64_t id, node_calls::entry& e) {
    if (e.extra.coordinator == coordinator)
      lost.push_back(id);
  });
  for (auto id : lost) {
    auto* c = st.calls.extra_of(id);
    if (!c)
      continue; // ended meanwhile (a multi-get's other key failed, say)
    if (may_retry_elsewhere(c->call.kind, attempt_end::node_gone) && c->kept)
      send_on(self, id, true);
    else if (c->write)
      fail_call(self, id,
                caf::make_error(ec::maybe_applied,
                                "the connection to the node was lost after the write was "
                                "sent; it may or may not have been applied"));
    else
      fail_call(self, id, caf::sec::request_receiver_down);
  }
}

/// Forgets link `i`'s node: the next request connects again, elsewhere if need be.
void link_down(self_ptr self, size_t i) {
  auto& st = self->state;
  auto& l = st.links[i];
  auto coordinator = l.coordinator.address();
  l.node = nullptr;
  l.coordinator = nullptr;
  l.refused = caf::error{};
  l.silent = false;
  if (st.current == i) {
    st.current.reset();
    // A node closes a connection idle for its idle_connection_ms: with nothing waiting there, the
    // next search starts at the same node, so a client (an open shell) stays with one node. One
    // that went away with calls in flight is left for the next endpoint.
    bool idle = true;
    st.calls.for_each([&](uint64_t, node_calls::entry& e) {
      if (coordinator && e.extra.coordinator == coordinator)
        idle = false;
    });
    if (idle)
      st.next_endpoint = i;
  }
  if (coordinator)
    node_gone(self, coordinator);
}

/// Sends probes where calls wait, and moves the gets away from nodes that went silent.
void watch_links(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  std::vector<std::optional<time_point>> oldest(st.links.size());
  st.calls.for_each([&](uint64_t, node_calls::entry& e) {
    if (!e.extra.coordinator)
      return;
    if (auto li = link_of_coordinator(self, e.extra.coordinator)) {
      auto& o = oldest[*li];
      if (!o || e.extra.sent < *o)
        o = e.extra.sent;
    }
  });
  for (size_t i = 0; i < st.links.size(); ++i) {
    auto& l = st.links[i];
    if (!oldest[i] || !l.coordinator)
      continue;
    // Keeps the connection alive while calls wait for their answers: CAF sends nothing on a quiet
    // connection by itself, and a node closes one on which nothing arrived for 4 s. An empty
    // batch is the least the coordinator takes; it answers with an empty one.
    if (now - l.last_sent >= keep_alive_interval) {
      l.last_sent = now;
      self->send(l.coordinator, batch_atom::value, std::vector<client_call>{});
    }
    if (l.silent || !gone_silent(now - l.last_heard, now - *oldest[i], st.options.silence_timeout))
      continue;
    // Stopped (SIGSTOP, a hung process, a cut link): new calls go elsewhere, and so do its gets;
    // its writes stay (they may be stored there) and end with its answer or their deadline.
    l.silent = true;
    if (st.current == i)
      st.current.reset();
    std::vector<uint64_t> moved;
    auto addr = l.coordinator.address();
    st.calls.for_each([&](uint64_t id, node_calls::entry& e) {
      if (e.extra.coordinator == addr &&
          may_retry_elsewhere(e.extra.call.kind, attempt_end::silent) && e.extra.kept &&
          e.extra.attempts.next(st.options.endpoints.size(), i,
                                [&](size_t j) { return !link_at(self, j).silent; }))
        moved.push_back(id);
    });
    for (auto id : moved)
      send_on(self, id);
  }
}

/// The error a call overdue at its deadline fails with. One that waits at no node (for a
/// connection, or to go on after an unavailable answer) reached no node that may have stored it:
/// ec::unavailable, with the last reason known; one that waits at a node: ec::timeout.
caf::error overdue(self_ptr self, const node_calls::entry& e) {
  auto& c = e.extra;
  if (c.coordinator || c.maybe_stored)
    return timed_out(self);
  auto within =
      "no node served it within " + std::to_string(self->state.options.timeout.count()) + " ms";
  if (c.last)
    return with_note(c.last, within);
  if (auto& refusal = self->state.last_refusal)
    return with_note(refusal, within);
  return timed_out(self);
}

bool node_went_away(const caf::error& err) {
  return err == caf::sec::request_receiver_down;
}

/// A node with a session, else one that said it is starting (status still works there).
node_actor any_node(self_ptr self) {
  auto& st = self->state;
  if (st.current)
    return st.links[*st.current].node;
  for (auto& l : st.links)
    if (l.node && l.refused)
      return l.node;
  return {};
}

/// Sends the message to a node (the current one, or a starting one; connecting first if needed)
/// and hands the reply or error to the callbacks. `retry` allows one more attempt on another
/// node when the first node went away before answering.
template <class Reply, class OnReply, class OnError, class... Ts>
void forward_to(self_ptr self, bool retry, OnReply on_reply, OnError on_error, Ts... xs) {
  auto send_now = [=](node_actor node) mutable {
    self->request(node, self->state.options.timeout, xs...)
        .then([=](Reply& reply) mutable { on_reply(reply); },
              [=](caf::error& err) mutable {
                if (node_went_away(err)) {
                  auto& links = self->state.links;
                  for (size_t i = 0; i < links.size(); ++i)
                    if (links[i].node && links[i].node.address() == node.address())
                      link_down(self, i);
                  if (retry) {
                    forward_to<Reply>(self, false, on_reply, on_error, xs...);
                    return;
                  }
                }
                if (err == caf::sec::request_timeout)
                  err = timed_out(self);
                on_error(err);
              });
  };
  if (auto node = any_node(self)) {
    send_now(node);
    return;
  }
  self->state.waiting.push_back(
      waiting_request{send_now, [=](caf::error err) mutable { on_error(err); }});
  find_current(self);
}

/// A delete without a context: reads the key, then deletes exactly what that read returned (its
/// context), both within one timeout. A key that is absent or already deleted is not written:
/// the answer says 0 values removed, 0 acks.
void delete_what_is_read(self_ptr self, client_call del,
                         std::function<void(client_answer&)> settle) {
  auto deadline = self->clock().now() + self->state.options.timeout;
  client_call get;
  get.kind = client_call_kind::get;
  get.key = del.key;
  auto read = [=](client_answer& a) mutable {
    if (a.err || !a.get.found) {
      client_answer out;
      out.err = std::move(a.err);
      settle(out);
      return;
    }
    auto removed = static_cast<uint32_t>(a.get.values.size());
    del.context = std::move(a.get.context);
    call_node(
        self, std::move(del),
        [=](client_answer& b) mutable {
          if (!b.err)
            b.write.removed = removed;
          settle(b);
        },
        deadline);
  };
  call_node(self, std::move(get), std::move(read), deadline);
}

/// forward_to() answering a response promise.
template <class Reply, class... Ts>
void forward(self_ptr self, caf::typed_response_promise<Reply> rp, bool retry, Ts... xs) {
  forward_to<Reply>(
      self, retry, [=](Reply& r) mutable { rp.deliver(std::move(r)); },
      [=](caf::error& e) mutable { rp.deliver(std::move(e)); }, xs...);
}

client_impl::behavior_type client_behavior(self_ptr self, client_options options) {
  self->state.options = std::move(options);
  self->state.links.resize(self->state.options.endpoints.size());
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& links = self->state.links;
    for (size_t i = 0; i < links.size(); ++i)
      if ((links[i].node && links[i].node.address() == dm.source) ||
          (links[i].coordinator && links[i].coordinator.address() == dm.source))
        link_down(self, i); // the next request connects elsewhere
    node_gone(self, dm.source);
  });
  return {
      [=](caf::get_atom, bytes& key) {
        auto rp = self->make_response_promise<get_reply>();
        client_call c;
        c.kind = client_call_kind::get;
        c.key = std::move(key);
        call_node(self, std::move(c),
                  deliver_to<client_answer>(rp, [](client_answer& a) { return std::move(a.get); }));
        return rp;
      },
      [=](caf::put_atom, put_request& req) -> caf::result<write_reply> {
        if (req.ttl_s != 0)
          if (auto err = check_ttl(req.ttl_s))
            return err;
        auto rp = self->make_response_promise<write_reply>();
        client_call c;
        c.kind = client_call_kind::put;
        c.key = std::move(req.key);
        c.value = std::move(req.value);
        c.context = std::move(req.context);
        c.ttl_s = req.ttl_s;
        call_node(self, std::move(c),
                  deliver_to<client_answer>(rp, [](client_answer& a) { return a.write; }));
        return rp;
      },
      [=](caf::delete_atom, delete_request& req) {
        auto rp = self->make_response_promise<write_reply>();
        client_call c;
        c.kind = client_call_kind::del;
        c.key = std::move(req.key);
        c.context = std::move(req.context);
        auto settle = deliver_to<client_answer>(rp, [](client_answer& a) { return a.write; });
        if (c.context.empty() && !req.blind)
          delete_what_is_read(self, std::move(c), std::move(settle));
        else
          call_node(self, std::move(c), std::move(settle));
        return rp;
      },
      [=](local_calls& batch) {
        // As the get, put and delete handlers above, with the callback as the answer's taker.
        for (auto& lc : batch.calls) {
          if (lc.call.kind == client_call_kind::del && lc.call.context.empty())
            delete_what_is_read(self, std::move(lc.call), std::move(lc.done));
          else
            call_node(self, std::move(lc.call), std::move(lc.done));
        }
      },
      [=](batch_atom, std::vector<client_answer>& answers) { take_answers(self, answers); },
      [=](caf::flush_atom) { self->state.outbox.flush(self); },
      [=](caf::tick_atom) {
        self->state.calls.sweep_with(self,
                                     [=](const node_calls::entry& e) { return overdue(self, e); });
        watch_links(self);
      },
      [=](connect_to_atom) {
        auto& st = self->state;
        st.search_again_scheduled = false;
        if (!st.current && (!st.unsent.empty() || !st.waiting.empty()))
          find_current(self);
      },
      [=](fault_atom, const std::string& action, const std::vector<std::string>& peers,
          uint32_t delay_ms) {
        auto rp = self->make_response_promise<std::string>();
        forward<std::string>(self, rp, true, fault_atom::value, action, peers, delay_ms);
        return rp;
      },
      [=](admin_atom, const std::string& action, const std::string& subject, bool apply) {
        auto rp = self->make_response_promise<std::string>();
        // A change is not retried elsewhere: it may have been made before the node went away.
        forward<std::string>(self, rp, !apply, admin_atom::value, action, subject, apply);
        return rp;
      },
      [=](status_atom) {
        auto rp = self->make_response_promise<cluster_status>();
        forward<cluster_status>(self, rp, true, status_atom::value);
        return rp;
      },
      [=](status_atom, cluster_atom) {
        auto rp = self->make_response_promise<cluster_answers>();
        forward<cluster_answers>(self, rp, true, status_atom::value, cluster_atom::value);
        return rp;
      },
      [=](caf::get_atom, const std::vector<bytes>& keys) {
        // Every key is its own get; they run concurrently.
        using replies = std::vector<get_reply>;
        auto rp = self->make_response_promise<replies>();
        if (keys.empty()) {
          rp.deliver(replies{});
          return rp;
        }
        struct gather {
          replies out;
          size_t left;
          bool failed = false;
        };
        auto g = std::make_shared<gather>(gather{replies(keys.size()), keys.size()});
        for (size_t i = 0; i < keys.size(); ++i) {
          client_call c;
          c.kind = client_call_kind::get;
          c.key = keys[i];
          call_node(self, std::move(c), [=](client_answer& a) mutable {
            if (g->failed)
              return;
            if (a.err) {
              g->failed = true;
              rp.deliver(std::move(a.err));
              return;
            }
            g->out[i] = std::move(a.get);
            if (--g->left == 0)
              rp.deliver(std::move(g->out));
          });
        }
        return rp;
      },
  };
}

} // namespace

client_actor spawn_client(caf::actor_system& sys, client_options options) {
  return sys.spawn(client_behavior, std::move(options));
}

std::vector<std::string> parse_endpoints(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in{text};
  std::string part;
  while (std::getline(in, part, ',')) {
    auto colon = part.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == part.size())
      return {};
    auto port = part.substr(colon + 1);
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
        std::stoul(port) == 0 || std::stoul(port) > 65535)
      return {};
    out.push_back(part);
  }
  return out;
}

void ask_local(const client_actor& client, std::vector<local_call> calls) {
  caf::anon_send(caf::actor_cast<caf::actor>(client), local_calls{std::move(calls)});
}

connector_actor local_connector(caf::actor_system& sys, node_actor node) {
  return sys.spawn([node](connector_actor::pointer self) -> connector_actor::behavior_type {
    return {
        [=](caf::connect_atom, const std::string&,
            uint16_t) -> caf::result<caf::node_id, caf::strong_actor_ptr, std::set<std::string>> {
          return {self->node(), caf::actor_cast<caf::strong_actor_ptr>(node),
                  self->system().message_types<node_actor>()};
        },
    };
  });
}

} // namespace actorkv
