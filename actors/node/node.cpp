#include "actors/node/node.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/node/anti_entropy.hpp"
#include "actors/node/coordinator.hpp"
#include "actors/node/event_log.hpp"
#include "actors/node/failure_detector.hpp"
#include "actors/node/handoff.hpp"
#include "actors/node/hint_keeper.hpp"
#include "actors/node/fault_gate.hpp"
#include "actors/node/membership.hpp"
#include "actors/node/peer_link.hpp"
#include "actors/node/vnode.hpp"
#include "cluster-config/membership_view.hpp"
#include "cluster-config/ring.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

using namespace std::chrono_literals;

/// Reconnect attempts, liveness, view and handoff reports and the departure check are private: the
/// public interface stays node_actor.
using node_impl =
    node_actor::extend<caf::reacts_to<connect_to_atom, uint32_t>, caf::reacts_to<caf::tick_atom>,
                       caf::reacts_to<held_atom, uint64_t>>::extend_with<liveness_listener_actor>::
        extend_with<view_listener_actor>::extend_with<handoff_listener_actor>;

constexpr auto reconnect_interval = 1s;
constexpr auto connect_timeout = 5s;

struct peer_info {
  std::string name;
  std::string host;
  uint16_t port = 0;
  bool removed = false;            ///< removed from the cluster: no longer connected to
  node_actor handle;               ///< valid while connected
  std::vector<vnode_actor> vnodes; ///< the peer's vnodes, by partition
  peer_link_actor link;            ///< batches this node's replica requests to it, while up
  replica_id id = 0;
  bool up = false;   ///< connected and handshaken
  bool alive = true; ///< the failure detector's verdict while connected
  bool connecting = false;
  bool mismatch_logged = false;
};

struct node_state {
  static inline const char* name = "node";
  node_options options;
  std::string settings;
  membership_view view;     ///< as the membership actor last told it
  ring placement;           ///< the ring in force
  std::optional<ring> next; ///< the ring a membership change leads to, while it runs
  /// Partitions this node replicated before the last ring change and no longer does, with the
  /// nodes that took them over: streamed to them once more, then deleted here.
  std::map<partition_id, std::vector<std::string>> releases;
  bool departed = false;
  bool departure_check_scheduled = false;
  std::vector<local_vnode_actor> vnodes; ///< this node's vnode of every partition
  local_gateway_actor gateway;           ///< serves the peers' batched replica requests
  coordinator_actor coordinator;   ///< serves the clients' requests
  std::vector<peer_info> peers;    ///< every other member ever seen, in the order first seen
  failure_detector_actor detector;
  handoff_actor handoff;
  hint_keeper_actor hint_keeper;
  anti_entropy_actor anti_entropy;
  membership_actor membership;
  /// Injected faults: the rules an admin set, by peer name, and the process each peer runs as.
  std::map<std::string, fault_rule> faults;
  std::map<std::string, caf::node_id> processes;
  fault_gate gate; ///< this node's own handlers that serve peers

  peer_info* find_peer(const std::string& name) {
    for (auto& p : peers)
      if (p.name == name)
        return &p;
    return nullptr;
  }

  uint32_t replicas() const { return options.cluster.store.replicas; }
};

using self_ptr = node_impl::stateful_pointer<node_state>;

std::string endpoint_of(const member_info& m) {
  return m.host + ":" + std::to_string(m.port);
}

peer_hello own_hello(self_ptr self, bool with_vnodes) {
  auto& st = self->state;
  peer_hello h;
  h.name = st.options.self_name;
  h.id = st.options.self_id;
  h.settings = st.settings;
  if (with_vnodes) {
    h.vnodes.assign(st.vnodes.begin(), st.vnodes.end());
    h.gateway = st.gateway;
  }
  return h;
}

/// Hands the fault rules, resolved to the processes the peers run as, to every actor that serves
/// peers: this node's own gate, its gateway and its vnodes.
void push_faults(self_ptr self) {
  auto& st = self->state;
  fault_rules rules;
  for (auto& [name, rule] : st.faults)
    if (auto it = st.processes.find(name); it != st.processes.end())
      rules.by_process[it->second] = rule;
  st.gate.set(rules);
  self->send(st.gateway, fault_atom::value, rules);
  for (auto& v : st.vnodes)
    self->send(v, fault_atom::value, rules);
}

/// Records which process the peer named `name` runs as (learnt at each handshake, either way).
void bind_process(self_ptr self, const std::string& name, const caf::node_id& process) {
  auto& st = self->state;
  auto& known = st.processes[name];
  if (known == process)
    return;
  known = process;
  if (!st.faults.empty())
    push_faults(self);
}

/// Applies a fault-injection command; returns the rules now in force, or why not.
caf::result<std::string> apply_fault(self_ptr self, const std::string& action,
                                     const std::vector<std::string>& peers, uint32_t delay_ms) {
  auto& st = self->state;
  if (!st.options.cluster.faults.injection)
    return caf::make_error(ec::bad_request, "fault injection is disabled; set [faults] "
                                            "injection = true in the manifest to allow it");
  if (action == "heal") {
    st.faults.clear();
  } else if (action == "drop" || action == "delay") {
    if (peers.empty())
      return caf::make_error(ec::bad_request, "name the peers whose traffic to " + action);
    for (auto& name : peers)
      if (!st.find_peer(name))
        return caf::make_error(ec::bad_request, "no peer named '" + name + "'");
    for (auto& name : peers)
      st.faults[name] = fault_rule{action == "drop", action == "delay" ? delay_ms : 0};
  } else {
    return caf::make_error(ec::bad_request,
                           "unknown fault '" + action + "' (drop PEERS, delay PEERS MS, or heal)");
  }
  push_faults(self);
  std::string text;
  for (auto& [name, rule] : st.faults)
    text += (text.empty() ? "" : ", ") + name + ": " +
            (rule.drop ? "drop" : "delay " + std::to_string(rule.delay_ms) + " ms");
  if (text.empty())
    text = "no faults";
  log_event(st.options.self_name, "fault injection: " + text);
  return text;
}

bool usable(const peer_info& peer) {
  return peer.up && peer.alive;
}

void refresh_handoff(self_ptr self);
void publish_routes(self_ptr self);

/// Tells the background workers which peers they can reach now.
void publish_peers(self_ptr self) {
  auto& st = self->state;
  std::vector<peer_view> views;
  for (auto& p : st.peers)
    views.push_back(peer_view{p.name, usable(p), p.vnodes, p.handle});
  if (st.membership)
    self->send(st.membership, peer_atom::value, views);
  if (st.hint_keeper)
    self->send(st.hint_keeper, peer_atom::value, views);
  if (st.handoff) {
    self->send(st.handoff, peer_atom::value, views);
    refresh_handoff(self); // who sends a partition depends on who is up
  }
  if (st.anti_entropy)
    self->send(st.anti_entropy, peer_atom::value, std::move(views));
  publish_routes(self);
}

/// Ends the peer's link: what is in flight on it fails at once (receiver down).
void close_link(self_ptr self, peer_info& peer) {
  if (peer.link)
    self->send_exit(peer.link, caf::exit_reason::user_shutdown);
  peer.link = nullptr;
}

void mark_down(self_ptr self, peer_info& peer, const std::string& why) {
  if (usable(peer))
    log_event(self->state.options.self_name, "peer " + peer.name + " down (" + why + ")");
  peer.up = false;
  peer.handle = nullptr;
  peer.vnodes.clear();
  close_link(self, peer);
  publish_peers(self);
}

void schedule_reconnect(self_ptr self, uint32_t index) {
  self->delayed_send(self, reconnect_interval, connect_to_atom::value, index);
}

void handshake(self_ptr self, uint32_t index, node_actor handle) {
  auto& st = self->state;
  auto timeout = std::chrono::milliseconds{st.options.cluster.timeouts.request_ms};
  self->request(handle, timeout, peer_atom::value, own_hello(self, false))
      .then(
          [=](peer_hello& theirs) {
            auto& peer = self->state.peers[index];
            peer.connecting = false;
            if (theirs.settings != self->state.settings || theirs.name != peer.name ||
                theirs.vnodes.size() != self->state.placement.partitions()) {
              if (!peer.mismatch_logged)
                log_event(self->state.options.self_name,
                          "peer " + peer.name + " refused: it runs as '" + theirs.name +
                              "' with settings [" + theirs.settings + "], ours are [" +
                              self->state.settings + "]");
              peer.mismatch_logged = true;
              schedule_reconnect(self, index);
              return;
            }
            peer.handle = handle;
            bind_process(self, peer.name, handle.node());
            peer.vnodes = std::move(theirs.vnodes);
            close_link(self, peer);
            if (theirs.gateway)
              peer.link = spawn_peer_link(
                  self->system(), theirs.gateway,
                  std::chrono::milliseconds{self->state.options.cluster.timeouts.request_ms});
            peer.id = theirs.id;
            peer.up = true;
            peer.alive = true;
            peer.mismatch_logged = false;
            self->monitor(handle);
            self->send(self->state.detector, watch_atom::value, peer.name, handle);
            log_event(self->state.options.self_name, "peer " + peer.name + " up");
            publish_peers(self);
          },
          [=](caf::error& err) {
            auto& peer = self->state.peers[index];
            peer.connecting = false;
            if (!peer.mismatch_logged && err.category() == caf::atom("actorkv"))
              log_event(self->state.options.self_name,
                        "peer " + peer.name + " refused us: " + describe(err));
            peer.mismatch_logged = err.category() == caf::atom("actorkv");
            schedule_reconnect(self, index);
          });
}

void connect_peer(self_ptr self, uint32_t index) {
  auto& peer = self->state.peers[index];
  if (peer.up || peer.connecting || peer.removed)
    return;
  peer.connecting = true;
  // Never the blocking middleman().remote_actor() here: it would stall a scheduler thread.
  auto mm = self->system().middleman().actor_handle();
  self->request(mm, connect_timeout, caf::connect_atom::value, peer.host, peer.port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>& ifs) {
            if (!ptr || !self->system().assignable<node_actor>(ifs)) {
              self->state.peers[index].connecting = false;
              log_event(self->state.options.self_name,
                        "peer " + self->state.peers[index].name +
                            " is not an actorkv node (wrong interface)");
              schedule_reconnect(self, index);
              return;
            }
            handshake(self, index, caf::actor_cast<node_actor>(std::move(ptr)));
          },
          [=](caf::error&) {
            self->state.peers[index].connecting = false;
            schedule_reconnect(self, index);
          });
}

/// The reachable home replicas of `p` in preference order, then under sloppy quorum one
/// reachable fallback for each unreachable home replica.
coordination_plan plan_for(self_ptr self, partition_id p) {
  auto& st = self->state;
  auto& store = st.options.cluster.store;
  coordination_plan plan;
  plan.replicas_total = store.replicas;
  plan.read_quorum = store.read_quorum;
  plan.write_quorum = store.write_quorum;
  plan.conflicts = store.conflicts;
  auto prefs = st.placement.preference_list(p);
  auto home_count = std::min<size_t>(prefs.size(), store.replicas);
  // A peer's replica is asked through its link (batched), this node's at its storage.
  auto reachable = [&](const std::string& name) -> std::optional<replica_target> {
    if (name == st.options.self_name)
      return replica_target{name, {}, st.options.storage, p};
    if (auto* peer = st.find_peer(name); peer && usable(*peer) && peer->link)
      return replica_target{name, {}, peer->link, p};
    return std::nullopt;
  };
  // This node coordinates the write itself when it is a home replica: one hop fewer.
  for (size_t i = 0; i < home_count; ++i)
    if (prefs[i] == st.options.self_name)
      plan.replicas.push_back(*reachable(prefs[i]));
  std::vector<std::string> unreachable;
  for (size_t i = 0; i < home_count; ++i) {
    if (prefs[i] == st.options.self_name)
      continue;
    if (auto t = reachable(prefs[i]))
      plan.replicas.push_back(std::move(*t));
    else
      unreachable.push_back(prefs[i]);
  }
  if (store.quorum == quorum_mode::sloppy && st.options.cluster.handoff.enabled) {
    size_t next = home_count;
    for (auto& owner : unreachable) {
      while (next < prefs.size() && !reachable(prefs[next]))
        ++next;
      if (next == prefs.size())
        break;
      auto fallback = *reachable(prefs[next]);
      fallback.hint_for = owner;
      plan.replicas.push_back(std::move(fallback));
      ++next;
    }
  }
  if (st.next) {
    auto now = st.placement.home_replicas(p, store.replicas);
    for (auto& name : st.next->home_replicas(p, store.replicas))
      if (std::find(now.begin(), now.end(), name) == now.end())
        if (auto t = reachable(name))
          plan.joining.push_back(std::move(*t));
  }
  return plan;
}

/// Every partition's plan, as the coordinator needs it.
routes make_routes(self_ptr self) {
  auto& st = self->state;
  routes out;
  for (partition_id p = 0; p < st.placement.partitions(); ++p)
    out.plans.push_back(plan_for(self, p));
  out.max_key_bytes = st.options.cluster.limits.max_key_bytes;
  out.max_value_bytes = st.options.cluster.limits.max_value_bytes;
  return out;
}

/// Tells the coordinator where replicas are now: after peers or the ring changed.
void publish_routes(self_ptr self) {
  if (self->state.coordinator)
    self->send(self->state.coordinator, routes_atom::value, make_routes(self));
}

cluster_status make_status(self_ptr self) {
  auto& st = self->state;
  cluster_status out;
  out.node = st.options.self_name;
  out.settings = st.settings;
  auto count = [](const ring& r, const std::string& name) {
    uint32_t n = 0;
    for (partition_id p = 0; p < r.partitions(); ++p)
      n += r.owner(p) == name;
    return n;
  };
  for (auto& e : st.view.members) {
    member_status m;
    m.name = e.name;
    m.endpoint = endpoint_of(e);
    m.capacity = e.capacity;
    m.state = state_name(e.state);
    if (e.name == st.options.self_name)
      m.up = true;
    else if (auto* peer = st.find_peer(e.name))
      m.up = usable(*peer);
    m.partitions = count(st.placement, e.name);
    m.next_partitions = st.next ? count(*st.next, e.name) : m.partitions;
    out.members.push_back(std::move(m));
  }
  out.owners = st.placement.owner_names();
  out.ring_epoch = st.view.layout.epoch;
  if (st.next) {
    out.handoff_running = true;
    out.transfers_total = static_cast<uint32_t>(transfers_needed(st.view, st.replicas()).size());
    out.transfers_done = static_cast<uint32_t>(st.view.layout.done.size());
  }
  return out;
}

/// Status with the storage's hint backlog and anti-entropy progress filled in.
caf::result<cluster_status> full_status(self_ptr self) {
  auto rp = self->make_response_promise<cluster_status>();
  auto timeout = std::chrono::milliseconds{self->state.options.cluster.timeouts.request_ms};
  self->request(self->state.options.storage, timeout, backlog_atom::value)
      .then(
          [=](const std::vector<hint_backlog>& backlog) mutable {
            auto out = make_status(self);
            for (auto& b : backlog)
              out.pending_hints += b.count;
            self->request(self->state.anti_entropy, timeout, status_atom::value)
                .then(
                    [=](const anti_entropy_stats& ae) mutable {
                      auto full = out;
                      full.ae_rounds = ae.rounds;
                      full.ae_repairs_last_round = ae.repairs_last_round;
                      full.ae_repairs_total = ae.repairs_total;
                      self->request(self->state.membership, timeout, view_atom::value)
                          .then(
                              [=](const membership_view& view) mutable {
                                full.view_fingerprint = fingerprint(view);
                                self->request(self->state.handoff, timeout, status_atom::value)
                                    .then(
                                        [=](const handoff_stats& h) mutable {
                                          full.handoff_keys_sent = h.keys_sent;
                                          full.handoff_keys_total = h.keys_total;
                                          full.handoff_queued = h.tasks_queued;
                                          rp.deliver(full);
                                        },
                                        [=](caf::error&) mutable { rp.deliver(full); });
                              },
                              [=](caf::error&) mutable { rp.deliver(full); });
                    },
                    [=](caf::error&) mutable { rp.deliver(out); });
          },
          [=](caf::error& err) mutable { rp.deliver(err); });
  return rp;
}

/// For each partition this node is a home replica of: the partition and its other home replicas.
std::vector<std::pair<partition_id, std::vector<std::string>>> home_partitions(self_ptr self) {
  auto& st = self->state;
  std::vector<std::pair<partition_id, std::vector<std::string>>> out;
  for (partition_id p = 0; p < st.placement.partitions(); ++p) {
    auto prefs = st.placement.preference_list(p);
    prefs.resize(std::min<size_t>(prefs.size(), st.options.cluster.store.replicas));
    auto self_at = std::find(prefs.begin(), prefs.end(), st.options.self_name);
    if (self_at == prefs.end())
      continue;
    prefs.erase(self_at);
    out.emplace_back(p, std::move(prefs));
  }
  return out;
}

/// Adds a peer for every member not known yet and connects to it; removed members are no longer
/// reconnected to.
void follow_members(self_ptr self) {
  auto& st = self->state;
  for (auto& m : st.view.members) {
    if (m.name == st.options.self_name)
      continue;
    if (auto* peer = st.find_peer(m.name)) {
      peer->removed = m.state == member_state::removed;
      continue;
    }
    if (m.state == member_state::removed)
      continue;
    auto& added = st.peers.emplace_back();
    added.name = m.name;
    added.host = m.host;
    added.port = m.port;
    self->send(self, connect_to_atom::value, static_cast<uint32_t>(st.peers.size() - 1));
  }
}

/// Gives the handoff worker this node's share of the change under way: for each partition
/// transfer not yet done, the first old home replica that is up and not removed sends it (so a
/// dead sender's transfers pass to the next), plus the pending releases.
void refresh_handoff(self_ptr self) {
  auto& st = self->state;
  if (!st.handoff)
    return;
  std::vector<handoff_task> tasks;
  if (st.next) {
    auto& done = st.view.layout.done;
    for (auto& t : transfers_needed(st.view, st.replicas())) {
      if (std::binary_search(done.begin(), done.end(), t))
        continue;
      std::string sender;
      for (auto& name : st.placement.home_replicas(t.partition, st.replicas())) {
        auto* m = find_member(st.view, name);
        if (m && m->state == member_state::removed)
          continue;
        auto* peer = st.find_peer(name);
        if (name == st.options.self_name || (peer && usable(*peer))) {
          sender = name;
          break;
        }
      }
      if (sender != st.options.self_name)
        continue;
      if (tasks.empty() || tasks.back().partition != t.partition)
        tasks.push_back(handoff_task{t.partition, {}, false});
      tasks.back().targets.push_back(t.target);
    }
  }
  for (auto& [p, targets] : st.releases)
    tasks.push_back(handoff_task{p, targets, true});
  self->send(st.handoff, handoff_atom::value, st.view.layout.epoch, std::move(tasks));
}

void depart(self_ptr self, const std::string& why) {
  auto& st = self->state;
  st.departed = true;
  log_event(st.options.self_name, why);
  if (st.options.on_departure)
    st.options.on_departure(why);
}

/// A leaving node stops once it owns nothing, no handoff runs, its old partitions are handed off
/// and deleted, and the hints it holds for others are delivered; a removed node stops at once.
void check_departure(self_ptr self) {
  auto& st = self->state;
  if (st.departed)
    return;
  auto* me = find_member(st.view, st.options.self_name);
  if (!me)
    return;
  if (me->state == member_state::removed) {
    depart(self, "this node was removed from the cluster; stopping (its data directory is no "
                 "longer part of the cluster)");
    return;
  }
  if (me->state != member_state::leaving || st.next || !st.releases.empty())
    return;
  for (auto& owner : st.placement.owner_names())
    if (owner == st.options.self_name)
      return;
  auto again = [=] {
    if (self->state.departure_check_scheduled)
      return;
    self->state.departure_check_scheduled = true;
    self->delayed_send(self, std::chrono::seconds{1}, caf::tick_atom::value);
  };
  auto timeout = std::chrono::milliseconds{st.options.cluster.timeouts.request_ms};
  self->request(st.options.storage, timeout, backlog_atom::value)
      .then(
          [=](const std::vector<hint_backlog>& backlog) {
            // Hints for removed nodes can never be delivered: they do not hold a departure up.
            uint64_t held = 0;
            for (auto& b : backlog) {
              auto* target = find_member(self->state.view, b.target);
              if (!target || target->state != member_state::removed)
                held += b.count;
            }
            if (held > 0 || self->state.departed) {
              again();
              return;
            }
            depart(self, "left the cluster: every partition is handed off and every hint "
                         "delivered; the data directory is no longer needed");
          },
          [=](caf::error&) { again(); });
}

/// Follows a new view: new members, the ring in force, the change under way.
void apply_view(self_ptr self, membership_view view) {
  auto& st = self->state;
  auto before = st.placement;
  st.view = std::move(view);
  follow_members(self);
  auto now = current_ring(st.view);
  if (now.owner_names() != before.owner_names()) {
    auto n = st.replicas();
    auto& me = st.options.self_name;
    for (partition_id p = 0; p < now.partitions(); ++p) {
      auto had = before.home_replicas(p, n);
      auto has = now.home_replicas(p, n);
      if (std::find(has.begin(), has.end(), me) != has.end()) {
        st.releases.erase(p); // replicated here again
        continue;
      }
      if (std::find(had.begin(), had.end(), me) == had.end())
        continue;
      std::vector<std::string> takers;
      for (auto& name : has)
        if (std::find(had.begin(), had.end(), name) == had.end())
          takers.push_back(name);
      if (!takers.empty())
        st.releases[p] = std::move(takers);
    }
    st.placement = std::move(now);
    if (st.options.cluster.anti_entropy.enabled)
      self->send(st.anti_entropy, replicas_atom::value, home_partitions(self));
    log_event(me, "ring epoch " + std::to_string(st.view.layout.epoch) +
                      " in force: " + std::to_string(home_partitions(self).size()) +
                      " partitions replicated here, " + std::to_string(st.releases.size()) +
                      " to hand off");
  }
  st.next = next_ring(st.view);
  publish_routes(self);
  refresh_handoff(self);
  check_departure(self);
}

node_impl::behavior_type node_behavior(self_ptr self, node_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  st.settings = settings_text(st.options.cluster.store);
  // The membership actor tells the view soon; until then the same starting point it uses.
  st.view =
      st.options.initial_view ? *st.options.initial_view : view_from_manifest(st.options.cluster);
  st.placement = current_ring(st.view);
  st.next = next_ring(st.view);
  for (partition_id p = 0; p < st.placement.partitions(); ++p) {
    st.vnodes.push_back(spawn_vnode(self->system(), p, st.options.storage));
    self->link_to(st.vnodes.back()); // vnodes live and die with their node
  }
  st.gateway = spawn_replica_gateway(self->system(), st.options.storage);
  self->link_to(st.gateway);
  st.coordinator = spawn_coordinator(self->system(), coordinator_options{make_routes(self)});
  self->link_to(st.coordinator);
  auto& cluster = st.options.cluster;
  auto request_timeout = std::chrono::milliseconds{cluster.timeouts.request_ms};
  st.detector = spawn_failure_detector(
      self->system(),
      failure_detector_options{st.options.self_name,
                               std::chrono::milliseconds{cluster.failure_detector.interval_ms},
                               static_cast<double>(cluster.failure_detector.phi_threshold),
                               caf::actor_cast<liveness_listener_actor>(self)});
  st.hint_keeper = spawn_hint_keeper(
      self->system(),
      hint_keeper_options{st.options.self_name, st.options.storage, cluster.handoff.batch,
                          std::chrono::milliseconds{cluster.handoff.interval_ms}, request_timeout});
  anti_entropy_options ae;
  ae.node = st.options.self_name;
  ae.storage = st.options.storage;
  ae.conflicts = cluster.store.conflicts;
  if (cluster.anti_entropy.enabled)
    ae.partitions = home_partitions(self);
  ae.interval = std::chrono::milliseconds{cluster.anti_entropy.interval_ms};
  ae.pace = std::chrono::milliseconds{cluster.anti_entropy.pace_ms};
  ae.timeout = request_timeout;
  st.anti_entropy = spawn_anti_entropy(self->system(), std::move(ae));
  handoff_options ho;
  ho.node = st.options.self_name;
  ho.storage = st.options.storage;
  ho.listener = caf::actor_cast<handoff_listener_actor>(self);
  ho.batch = cluster.handoff.batch;
  ho.retry = std::chrono::milliseconds{cluster.handoff.interval_ms};
  // Coordinators still on the old ring finish within a request timeout once gossip (a few
  // intervals) has told every node of the new one.
  ho.release_grace = request_timeout + 3 * std::chrono::milliseconds{cluster.gossip.interval_ms};
  ho.timeout = request_timeout;
  st.handoff = spawn_handoff(self->system(), std::move(ho));
  membership_options mo;
  mo.self = member_info{st.options.self_name,
                        st.options.host,
                        st.options.port,
                        st.options.capacity,
                        member_state::valid,
                        0,
                        0};
  mo.incarnation = st.options.self_id;
  mo.cluster = cluster;
  mo.initial = st.options.initial_view;
  mo.storage = st.options.storage;
  mo.listener = caf::actor_cast<view_listener_actor>(self);
  mo.interval = std::chrono::milliseconds{cluster.gossip.interval_ms};
  mo.timeout = request_timeout;
  st.membership = spawn_membership(self->system(), std::move(mo));
  // Background workers live and die with their node.
  self->link_to(st.detector);
  self->link_to(st.hint_keeper);
  self->link_to(st.anti_entropy);
  self->link_to(st.handoff);
  self->link_to(st.membership);
  self->set_down_handler([=](caf::down_msg& dm) {
    for (auto& peer : self->state.peers)
      if (peer.handle && peer.handle.address() == dm.source) {
        mark_down(self, peer, describe(dm.reason));
        schedule_reconnect(self, static_cast<uint32_t>(&peer - self->state.peers.data()));
      }
  });
  follow_members(self);
  return {
      // Clients send their calls to the coordinator itself: no hop through this actor.
      [=](session_atom) { return client_requests_actor{self->state.coordinator}; },
      [=](status_atom) { return full_status(self); },
      [=](caf::ping_atom) {
        return gated_answer<caf::pong_atom>(self, [] { return caf::pong_atom::value; });
      },
      [=](gossip_atom, membership_view& view) {
        return gated_delegate<membership_view>(self, self->state.membership, gossip_atom::value,
                                               std::move(view));
      },
      [=](fault_atom, const std::string& action, const std::vector<std::string>& peers,
          uint32_t delay_ms) { return apply_fault(self, action, peers, delay_ms); },
      [=](alive_atom, const std::string& name, bool alive) {
        auto* peer = self->state.find_peer(name);
        if (!peer || peer->alive == alive)
          return;
        peer->alive = alive;
        if (peer->up)
          log_event(self->state.options.self_name, "peer " + name +
                                                       (alive ? " up (answering again)"
                                                              : " down (failure detector: "
                                                                "no answers)"));
        publish_peers(self);
      },
      [=](peer_atom, const peer_hello& theirs) {
        if (auto& sender = self->current_sender(); sender && self->state.find_peer(theirs.name))
          bind_process(self, theirs.name, sender->node());
        auto settings = theirs.settings;
        return gated_answer<peer_hello>(self, [=]() -> caf::expected<peer_hello> {
          if (settings != self->state.settings)
            return caf::make_error(ec::peer_mismatch, "node " + self->state.options.self_name +
                                                          " runs with settings [" +
                                                          self->state.settings + "]");
          return own_hello(self, true);
        });
      },
      [=](held_atom, uint64_t id) { self->state.gate.release(id); },
      [=](connect_to_atom, uint32_t index) { connect_peer(self, index); },
      [=](admin_atom, const std::string& action, const std::string& subject,
          bool apply) -> caf::result<std::string> {
        return self->delegate(self->state.membership, admin_atom::value, action, subject, apply);
      },
      [=](view_atom, membership_view& view) { apply_view(self, std::move(view)); },
      [=](transfer_atom, uint64_t epoch, const partition_transfer& t) {
        self->send(self->state.membership, transfer_atom::value, epoch, t);
      },
      [=](release_atom, partition_id p) {
        self->state.releases.erase(p);
        check_departure(self);
      },
      [=](caf::tick_atom) {
        self->state.departure_check_scheduled = false;
        check_departure(self);
      },
  };
}

} // namespace

std::string settings_text(const store_settings& s) {
  std::string out;
  for (auto& [k, v] : describe(s)) {
    if (!out.empty())
      out += ' ';
    out += k + "=" + v;
  }
  return out;
}

node_actor spawn_node(caf::actor_system& sys, node_options options) {
  return sys.spawn(node_behavior, std::move(options));
}

} // namespace actorkv
