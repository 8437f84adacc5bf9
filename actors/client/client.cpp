#include "actors/client/client.hpp"
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

using client_impl =
    client_actor::extend<caf::reacts_to<caf::flush_atom>,
                         caf::reacts_to<caf::tick_atom>>::extend_with<client_answers_actor>;

/// How often overdue calls are looked for.
constexpr auto sweep_interval = std::chrono::milliseconds{100};

/// While calls wait, the longest the client stays silent towards its node: well under the 4 s
/// after which a node closes a connection on which nothing arrived (kvnode's middleman
/// connection timeout).
constexpr auto keep_alive_interval = std::chrono::seconds{1};

/// What a client remembers of a get, put or delete, besides its answer's use. Every call is
/// registered (and its deadline runs) from the moment it is asked, connected or not.
struct call_in_flight {
  caf::actor_addr coordinator; ///< where it went; unset while it waits for a connection
  client_call call;            ///< kept until sent, and after for the one retry elsewhere
  bool retry = false;
  bool write = false; ///< a put or delete: never sent twice (see node_gone)
};

using node_calls = pending_calls<client_answer, call_in_flight>;

struct client_state {
  static inline const char* name = "client";
  client_options options;
  node_actor node;                   ///< valid while connected
  client_requests_actor coordinator; ///< the node's coordinator, where calls go; valid with node
  size_t next_endpoint = 0;          ///< the endpoint to try next
  size_t attempts_this_round = 0;
  bool connecting = false;
  /// Work waiting for a connection; each entry fails itself with the given error on give-up.
  std::deque<std::pair<std::function<void()>, std::function<void(caf::error)>>> waiting;
  node_calls calls{sweep_interval};
  std::vector<uint64_t> unsent; ///< calls waiting for a connection, by id
  batch_outbox<client_requests_actor, client_call> outbox;
  caf::actor_clock::time_point last_sent{}; ///< the last batch to the coordinator
};

using self_ptr = client_impl::stateful_pointer<client_state>;

void try_connect(self_ptr self);

/// Puts call `id` in the next batch to the coordinator, unless it already ended (timed out).
void send_call(self_ptr self, uint64_t id) {
  auto& st = self->state;
  auto* in_flight = st.calls.extra_of(id);
  if (!in_flight)
    return;
  in_flight->coordinator = st.coordinator.address();
  auto call = in_flight->retry ? in_flight->call : std::move(in_flight->call);
  call.id = id;
  if (st.outbox.add(self, st.coordinator, std::move(call)))
    self->send(self, caf::flush_atom::value);
}

void run_waiting(self_ptr self) {
  auto& st = self->state;
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  for (auto& w : waiting)
    w.first();
  auto unsent = std::move(st.unsent);
  st.unsent.clear();
  for (auto id : unsent)
    send_call(self, id);
}

/// No node can be reached: what waits for a connection fails with `err`.
void give_up_waiting(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  for (auto& w : waiting)
    w.second(err);
  st.unsent.clear();
  for (auto& e : st.calls.take_if([](const node_calls::entry& e) { return !e.extra.coordinator; }))
    node_calls::fail(e.settle, err);
}

void learn_endpoints(self_ptr self, const cluster_status& st) {
  auto& eps = self->state.options.endpoints;
  for (auto& m : st.members)
    if (std::find(eps.begin(), eps.end(), m.endpoint) == eps.end())
      eps.push_back(m.endpoint);
}

void connected(self_ptr self, node_actor node, client_requests_actor coordinator) {
  auto& st = self->state;
  st.node = node;
  st.coordinator = coordinator;
  st.connecting = false;
  st.attempts_this_round = 0;
  self->monitor(node);
  self->monitor(coordinator);
  // Learn the other members so that failover reaches nodes the user did not list.
  self->request(node, st.options.timeout, status_atom::value)
      .then([=](const cluster_status& cs) { learn_endpoints(self, cs); }, [](caf::error&) {});
  run_waiting(self);
}

void connect_failed(self_ptr self) {
  auto& st = self->state;
  st.connecting = false;
  if (++st.attempts_this_round >= st.options.endpoints.size()) {
    // A whole round failed: fail what waits, then keep trying in the background for new work.
    std::string tried;
    for (auto& ep : st.options.endpoints)
      tried += (tried.empty() ? "" : ", ") + ep;
    st.attempts_this_round = 0;
    give_up_waiting(self,
                    caf::make_error(ec::unavailable, "no node reachable (tried " + tried + ")"));
    return;
  }
  try_connect(self);
}

void try_connect(self_ptr self) {
  auto& st = self->state;
  if (st.node || st.connecting)
    return;
  if (st.options.endpoints.empty()) {
    give_up_waiting(self, caf::make_error(ec::unavailable, "no node endpoints to connect to"));
    return;
  }
  st.connecting = true;
  auto ep = st.options.endpoints[st.next_endpoint % st.options.endpoints.size()];
  st.next_endpoint = (st.next_endpoint + 1) % st.options.endpoints.size();
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
              connect_failed(self);
              return;
            }
            auto node = caf::actor_cast<node_actor>(std::move(ptr));
            self->request(node, self->state.options.connect_timeout, session_atom::value)
                .then(
                    [=](client_requests_actor& coordinator) {
                      if (!coordinator) {
                        connect_failed(self);
                        return;
                      }
                      connected(self, node, std::move(coordinator));
                    },
                    [=](caf::error&) { connect_failed(self); });
          },
          [=](caf::error&) { connect_failed(self); });
}

bool node_went_away(const caf::error& err) {
  return err == caf::sec::request_receiver_down;
}

/// Forgets the node: the next request connects again, elsewhere if need be.
void disconnected(self_ptr self) {
  self->state.node = nullptr;
  self->state.coordinator = nullptr;
}

/// Sends the message to the current node (connecting first if needed) and hands the reply or
/// error to the callbacks. `retry` allows one more attempt on another node when the first node
/// went away before answering.
template <class Reply, class OnReply, class OnError, class... Ts>
void forward_to(self_ptr self, bool retry, OnReply on_reply, OnError on_error, Ts... xs) {
  auto send_now = [=]() mutable {
    self->request(self->state.node, self->state.options.timeout, xs...)
        .then([=](Reply& reply) mutable { on_reply(reply); },
              [=](caf::error& err) mutable {
                if (node_went_away(err)) {
                  disconnected(self);
                  if (retry) {
                    forward_to<Reply>(self, false, on_reply, on_error, xs...);
                    return;
                  }
                }
                if (err == caf::sec::request_timeout)
                  err = caf::make_error(ec::timeout,
                                        "no answer within " +
                                            std::to_string(self->state.options.timeout.count()) +
                                            " ms; a write may or may not have been applied");
                on_error(err);
              });
  };
  if (self->state.node) {
    send_now();
    return;
  }
  self->state.waiting.emplace_back(send_now, [=](caf::error err) mutable { on_error(err); });
  try_connect(self);
}

caf::error timed_out(self_ptr self) {
  return caf::make_error(ec::timeout, "no answer within " +
                                          std::to_string(self->state.options.timeout.count()) +
                                          " ms; a write may or may not have been applied");
}

/// Sends a get, put or delete to the current node's coordinator (connecting first if needed) in
/// the next batch and hands its answer to `settle`, by `deadline` (the request timeout from now
/// unless given). `retry` allows one more attempt on another node when the first node went away
/// before answering.
void call_node(self_ptr self, client_call call, bool retry,
               std::function<void(client_answer&)> settle,
               std::optional<node_calls::time_point> deadline = std::nullopt) {
  auto& st = self->state;
  auto due = deadline ? *deadline : self->clock().now() + st.options.timeout;
  auto write = call.kind != client_call_kind::get;
  auto id = st.calls.add_until(self, due, std::move(settle),
                               call_in_flight{{}, std::move(call), retry && !write, write});
  if (st.node) {
    send_call(self, id);
    return;
  }
  st.unsent.push_back(id);
  try_connect(self);
}

/// The coordinator at `coordinator` went away with its node: its gets go to another node once,
/// or fail. Its writes fail with ec::maybe_applied: the node may have stored them before it went
/// away (a node also drops a connection that stays silent past its timeout while the write is
/// being replicated), so neither "unavailable" nor sending them again would be true to the
/// caller (a second attempt could add a duplicate sibling, or be refused for a sibling the
/// first attempt added).
void node_gone(self_ptr self, const caf::actor_addr& coordinator) {
  auto lost = self->state.calls.take_if(
      [&](const node_calls::entry& e) { return e.extra.coordinator == coordinator; });
  for (auto& c : lost) {
    if (c.extra.retry)
      call_node(self, std::move(c.extra.call), false, std::move(c.settle), c.deadline);
    else if (c.extra.write)
      node_calls::fail(c.settle,
                       caf::make_error(ec::maybe_applied,
                                       "the connection to the node was lost after the write was "
                                       "sent; it may or may not have been applied"));
    else
      node_calls::fail(c.settle, caf::sec::request_receiver_down);
  }
}

/// A delete without a context: reads the key, then deletes exactly what that read returned (its
/// context), both within one timeout. A key that is absent or already deleted is not written:
/// the reply says 0 values removed, 0 acks.
void delete_what_is_read(self_ptr self, client_call del,
                         caf::typed_response_promise<write_reply> rp) {
  auto deadline = self->clock().now() + self->state.options.timeout;
  client_call get;
  get.kind = client_call_kind::get;
  get.key = del.key;
  auto read = [=](client_answer& a) mutable {
    if (a.err) {
      rp.deliver(std::move(a.err));
      return;
    }
    if (!a.get.found) {
      rp.deliver(write_reply{});
      return;
    }
    auto removed = static_cast<uint32_t>(a.get.values.size());
    del.context = std::move(a.get.context);
    call_node(
        self, std::move(del), true,
        [=](client_answer& b) mutable {
          if (b.err) {
            rp.deliver(std::move(b.err));
            return;
          }
          b.write.removed = removed;
          rp.deliver(b.write);
        },
        deadline);
  };
  call_node(self, std::move(get), true, std::move(read), deadline);
}

/// Keeps the connection to the node alive while calls wait for their answers. CAF sends nothing
/// on a quiet connection by itself, and a node closes one on which nothing arrived for 4 s: a
/// write whose replication took longer (a large value, a slow replica) lost its connection and
/// with it the answer. An empty batch is the least the coordinator takes (and it does nothing
/// with it); an idle client, waiting for nothing, stays silent and may be disconnected.
void keep_alive(self_ptr self) {
  auto& st = self->state;
  if (!st.coordinator || st.calls.empty())
    return;
  auto now = self->clock().now();
  if (now - st.last_sent < keep_alive_interval)
    return;
  st.last_sent = now;
  self->send(st.coordinator, batch_atom::value, std::vector<client_call>{});
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
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if ((st.node && st.node.address() == dm.source) ||
        (st.coordinator && st.coordinator.address() == dm.source))
      disconnected(self); // the next request connects elsewhere
    node_gone(self, dm.source);
  });
  return {
      [=](caf::get_atom, bytes& key) {
        auto rp = self->make_response_promise<get_reply>();
        client_call c;
        c.kind = client_call_kind::get;
        c.key = std::move(key);
        call_node(self, std::move(c), true,
                  deliver_to<client_answer>(rp, [](client_answer& a) { return std::move(a.get); }));
        return rp;
      },
      [=](caf::put_atom, put_request& req) {
        auto rp = self->make_response_promise<write_reply>();
        client_call c;
        c.kind = client_call_kind::put;
        c.key = std::move(req.key);
        c.value = std::move(req.value);
        c.context = std::move(req.context);
        call_node(self, std::move(c), true,
                  deliver_to<client_answer>(rp, [](client_answer& a) { return a.write; }));
        return rp;
      },
      [=](caf::delete_atom, delete_request& req) {
        auto rp = self->make_response_promise<write_reply>();
        client_call c;
        c.kind = client_call_kind::del;
        c.key = std::move(req.key);
        c.context = std::move(req.context);
        if (c.context.empty() && !req.blind) {
          delete_what_is_read(self, std::move(c), rp);
          return rp;
        }
        call_node(self, std::move(c), true,
                  deliver_to<client_answer>(rp, [](client_answer& a) { return a.write; }));
        return rp;
      },
      [=](batch_atom, std::vector<client_answer>& answers) { self->state.calls.settle(answers); },
      [=](caf::flush_atom) {
        self->state.outbox.flush(self);
        self->state.last_sent = self->clock().now();
      },
      [=](caf::tick_atom) {
        self->state.calls.sweep(self, timed_out(self));
        keep_alive(self);
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
      [=](caf::get_atom, const std::vector<bytes>& keys) {
        // Every key is its own get on the connected node; they run concurrently.
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
          call_node(self, std::move(c), true, [=](client_answer& a) mutable {
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

connector_actor local_connector(caf::actor_system& sys, node_actor node) {
  return sys.spawn([node](connector_actor::pointer self) -> connector_actor::behavior_type {
    return {
        [=](caf::connect_atom, const std::string&, uint16_t)
            -> caf::result<caf::node_id, caf::strong_actor_ptr, std::set<std::string>> {
          return {self->node(), caf::actor_cast<caf::strong_actor_ptr>(node),
                  self->system().message_types<node_actor>()};
        },
    };
  });
}

} // namespace actorkv
