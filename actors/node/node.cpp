// The node actor: spawns and wires the node's actors and dispatches its messages; each job lives
// in a file of its own (node_state.hpp lists them).
#include "actors/node/node.hpp"

#include <caf/all.hpp>

#include "actors/node/anti_entropy.hpp"
#include "actors/node/collector.hpp"
#include "actors/node/coordinator.hpp"
#include "actors/node/failure_detector.hpp"
#include "actors/node/handoff.hpp"
#include "actors/node/hint_keeper.hpp"
#include "actors/node/membership.hpp"
#include "actors/node/node_state.hpp"
#include "actors/node/permission.hpp"
#include "actors/node/swim_detector.hpp"
#include "cluster-config/frame_progress.hpp"
#include "cluster-config/membership_view.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace node_internals {

namespace {

/// Spawns the node's actors, each linked to the node: they live and die with it.
void spawn_children(self_ptr self) {
  auto& st = self->state;
  auto& sys = self->system();
  auto& cluster = st.options.cluster;
  auto& name = st.options.self_name;
  auto timeout = st.request_timeout();
  auto ms = [](uint32_t x) { return std::chrono::milliseconds{x}; };
  // Background work reads through the storage's reader, off the write path.
  auto reads = st.options.reads ? st.options.reads : st.options.storage;
  background_pace_options pace;
  pace.target_p99 = ms(cluster.background.target_p99_ms);
  pace.max_slowdown = cluster.background.max_slowdown_percent / 100.0;
  // Read once, to calibrate the pace at the same moments as the other nodes (their wall clocks
  // agree within max_clock_skew_ms); the pace itself runs on the actor clock.
  auto now = self->clock().now();
  auto wall_offset = std::chrono::system_clock::now().time_since_epoch() - now.time_since_epoch();
  st.background = std::make_shared<background_gate>(pace, now, wall_offset);
  st.vnodes = spawn_vnode(sys, st.options.storage, st.background);
  st.gateway = spawn_replica_gateway(sys, st.options.storage, st.options.budget, st.background);
  coordinator_options co;
  co.initial = make_routes(self);
  co.request_timeout = timeout;
  co.access = st.options.access;
  co.node = name;
  co.instance = cluster.store.name;
  co.clock = st.options.clock;
  co.budget = st.options.budget;
  co.metrics = st.options.metrics;
  co.background = st.background;
  co.waker = caf::actor_cast<peer_waker_actor>(self);
  st.coordinator = spawn_coordinator(sys, std::move(co));
  failure_detector_options fo{name, ms(cluster.failure_detector.interval_ms),
                              static_cast<double>(cluster.failure_detector.phi_threshold),
                              caf::actor_cast<liveness_listener_actor>(self)};
  fo.clock = st.options.clock;
  fo.max_clock_skew = ms(cluster.timeouts.max_clock_skew_ms);
  auto& fd = cluster.failure_detector;
  if (fd.mode == detector_mode::swim) {
    swim_detector_options so;
    so.swim.period = ms(fd.interval_ms);
    so.swim.indirect_probes = fd.indirect_probes;
    so.swim.suspicion_min = ms(fd.suspicion_ms);
    so.expected_peers = st.view.members.size();
    so.progress = [](const std::string& peer) { return frame_progress::last(peer); };
    so.waker = caf::actor_cast<peer_waker_actor>(self);
    st.detector = spawn_swim_detector(sys, std::move(fo), so);
  } else {
    st.detector = spawn_failure_detector(sys, std::move(fo));
  }
  st.hint_keeper = spawn_hint_keeper(
      sys, hint_keeper_options{name, reads, cluster.handoff.batch, ms(cluster.handoff.interval_ms),
                               timeout, st.options.budget, st.options.metrics});
  anti_entropy_options ae;
  ae.node = name;
  ae.storage = reads;
  ae.conflicts = cluster.store.conflicts;
  if (cluster.anti_entropy.enabled)
    ae.partitions = home_partitions(self);
  ae.interval = ms(cluster.anti_entropy.interval_ms);
  ae.pace = ms(cluster.anti_entropy.pace_ms);
  ae.background = st.background;
  ae.repairs = cluster.anti_entropy.repairs;
  ae.timeout = timeout;
  ae.tombstone_grace = std::chrono::seconds{cluster.storage.tombstone_grace_s};
  ae.clock = st.options.clock;
  st.anti_entropy = spawn_anti_entropy(sys, std::move(ae));
  collector_options co_opts;
  co_opts.node = name;
  co_opts.storage = reads;
  co_opts.partitions = collectable_partitions(self);
  co_opts.grace = std::chrono::seconds{cluster.storage.tombstone_grace_s};
  co_opts.pace = ms(cluster.anti_entropy.pace_ms);
  co_opts.timeout = timeout;
  co_opts.clock = st.options.clock;
  st.collector = spawn_collector(sys, std::move(co_opts));
  handoff_options ho;
  ho.node = name;
  ho.storage = reads;
  ho.listener = caf::actor_cast<handoff_listener_actor>(self);
  ho.batch = cluster.handoff.batch;
  ho.retry = ms(cluster.handoff.interval_ms);
  // Coordinators still on the old ring finish within a request timeout once gossip (a few
  // intervals) has told every node of the new one.
  ho.release_grace = timeout + 3 * ms(cluster.gossip.interval_ms);
  ho.timeout = timeout;
  auto clock = st.options.clock;
  ho.wall = [clock] { return clock->wall(); };
  ho.clock_margin = timeout + ms(cluster.timeouts.max_clock_skew_ms);
  ho.background = st.background;
  st.handoff = spawn_handoff(sys, std::move(ho));
  membership_options mo;
  mo.self.name = name;
  mo.self.host = st.options.host;
  mo.self.port = st.options.port;
  mo.self.capacity = st.options.capacity;
  mo.self.zone = st.options.zone;
  mo.incarnation = st.options.self_id;
  mo.cluster = cluster;
  mo.initial = st.options.initial_view;
  mo.storage = st.options.storage;
  mo.listener = caf::actor_cast<view_listener_actor>(self);
  mo.interval = ms(cluster.gossip.interval_ms);
  mo.timeout = timeout;
  mo.now_us = [clock = st.options.clock] { return clock->wall(); };
  st.membership = spawn_membership(sys, std::move(mo));
  self->link_to(st.vnodes);
  self->link_to(st.gateway);
  self->link_to(st.coordinator);
  self->link_to(st.detector);
  self->link_to(st.hint_keeper);
  self->link_to(st.anti_entropy);
  self->link_to(st.collector);
  self->link_to(st.handoff);
  self->link_to(st.membership);
}

node_impl::behavior_type node_behavior(self_ptr self, node_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  st.settings = settings_text(st.options.cluster.store);
  st.detector_name = detector_mode_name(st.options.cluster.failure_detector.mode);
  // The membership actor tells the view soon; until then the same starting point it uses.
  st.view =
      st.options.initial_view ? *st.options.initial_view : view_from_manifest(st.options.cluster);
  st.placement = current_ring(st.view);
  st.next = next_ring(st.view);
  keep_replica_peers(self);
  spawn_children(self);
  self->set_down_handler([=](caf::down_msg& dm) { peer_down(self, dm); });
  st.started = self->clock().now();
  follow_members(self);
  // Until it is connected to its peers a node would fail what clients ask of it: it gives them
  // sessions once it is (or knows the rest unreachable), at the latest after the start-up wait.
  check_startup(self);
  self->delayed_send(self, node_startup_wait, ready_atom::value);
  close_idle(self); // and every quarter of peer_idle_ms from now on
  // Who may send what (docs/security.md): clients (read, write, admin) reach this actor and the
  // coordinator only, which the frame guard enforces; what only members and this node's own
  // actors send needs role::node.
  auto allowed = [self](role need) {
    return permitted(self, self->state.options.access.get(), need);
  };
  auto refused = [self](const char* what, role need) {
    return forbidden(
        what, need,
        sender_role(self->state.options.access.get(), self->current_sender(), self->node()));
  };
  return {
      // Clients send their calls to the coordinator itself: no hop through this actor.
      [=](session_atom) -> caf::result<client_requests_actor> {
        if (!allowed(role::read))
          return refused("a session", role::read);
        // Starting: a remote client goes to another node, or waits for this one. Senders in
        // this process (kvnode itself, its HTTPS API) get the session: the HTTPS API answers for
        // this node alone, with what the coordinator can do (503 while replicas are unreachable).
        auto& sender = self->current_sender();
        bool remote = sender && sender->node() != self->node();
        if (auto now = check_startup(self); remote && !now.serving)
          return caf::make_error(ec::unavailable, "node " + self->state.options.self_name +
                                                      " is starting: " + now.reason);
        return client_requests_actor{self->state.coordinator};
      },
      [=](status_atom) -> caf::result<cluster_status> {
        if (!allowed(role::read))
          return refused("status", role::read);
        return full_status(self);
      },
      [=](status_atom, cluster_atom) -> caf::result<cluster_answers> {
        if (!allowed(role::read))
          return refused("status", role::read);
        return cluster_view(self);
      },
      [=](caf::ping_atom) -> caf::result<clock_reading> {
        if (!allowed(role::node))
          return refused("ping", role::node);
        // Read when answered (a delayed answer reads later): the prober's estimate stays within
        // half its round trip.
        return gated_answer<clock_reading>(self, [self] {
          auto& clock = *self->state.options.clock;
          return clock_reading{clock.wall(), clock.peek()};
        });
      },
      [=](swim_atom, swim_ping& ping) -> caf::result<swim_ack> {
        if (!allowed(role::node))
          return refused("a SWIM probe", role::node);
        return gated_delegate<swim_ack>(self, self->state.detector, swim_atom::value,
                                        std::move(ping));
      },
      [=](swim_atom, swim_relay& relay) -> caf::result<swim_ack> {
        if (!allowed(role::node))
          return refused("a SWIM probe", role::node);
        return gated_delegate<swim_ack>(self, self->state.detector, swim_atom::value,
                                        std::move(relay));
      },
      [=](gossip_atom, membership_view& view) -> caf::result<membership_view> {
        if (!allowed(role::node))
          return refused("gossip", role::node);
        return gated_delegate<membership_view>(self, self->state.membership, gossip_atom::value,
                                               std::move(view));
      },
      [=](gossip_atom, view_digest& digest) -> caf::result<view_delta> {
        if (!allowed(role::node))
          return refused("gossip", role::node);
        return gated_delegate<view_delta>(self, self->state.membership, gossip_atom::value,
                                          std::move(digest));
      },
      [=](gossip_atom, view_delta& delta) -> caf::result<caf::ok_atom> {
        if (!allowed(role::node))
          return refused("gossip", role::node);
        return gated_delegate<caf::ok_atom>(self, self->state.membership, gossip_atom::value,
                                            std::move(delta));
      },
      [=](peer_atom, const peer_hello& theirs) -> caf::result<peer_hello> {
        if (!allowed(role::node))
          return refused("a peer handshake", role::node);
        return answer_hello(self, theirs);
      },
      [=](fault_atom, const std::string& action, const std::vector<std::string>& peers,
          uint32_t delay_ms) -> caf::result<std::string> {
        if (!allowed(role::admin))
          return refused("fault injection", role::admin);
        return apply_fault(self, action, peers, delay_ms);
      },
      [=](admin_atom, const std::string& action, const std::string& subject,
          bool apply) -> caf::result<std::string> {
        if (action == "check") {
          // Not a membership change: a full integrity check of this node's store.
          if (!allowed(role::admin))
            return refused("an integrity check", role::admin);
          return self->delegate(self->state.options.storage, check_atom::value);
        }
        if (action == "backup" || action == "backup-status") {
          // Not a membership change either: an online copy of this node's store, on its machine.
          if (!allowed(role::admin))
            return refused("a backup", role::admin);
          if (action == "backup")
            return self->delegate(self->state.options.storage, backup_atom::value, subject);
          return self->delegate(self->state.options.storage, backup_atom::value);
        }
        if (!allowed(role::admin))
          return refused(apply ? "a membership change" : "a plan", role::admin);
        return self->delegate(self->state.membership, admin_atom::value, action, subject, apply);
      },
      [=](alive_atom, const std::string& name, bool alive) {
        if (allowed(role::node))
          peer_alive(self, name, alive);
      },
      [=](connect_to_atom, uint32_t index) {
        if (allowed(role::node))
          connect_peer(self, index);
      },
      [=](view_atom, membership_view& view) {
        if (allowed(role::node))
          apply_view(self, std::move(view));
      },
      [=](transfer_atom, uint64_t epoch, const partition_transfer& t) {
        if (allowed(role::node))
          self->send(self->state.membership, transfer_atom::value, epoch, t);
      },
      [=](release_atom, partition_id p) {
        if (!allowed(role::node))
          return;
        self->state.releases.erase(p);
        check_departure(self);
      },
      [=](caf::tick_atom) {
        if (!allowed(role::node))
          return;
        self->state.departure_check_scheduled = false;
        check_departure(self);
      },
      [=](held_atom, uint64_t id) {
        if (allowed(role::node))
          self->state.gate.release(id);
      },
      [=](ready_atom) {
        if (allowed(role::node))
          check_startup(self); // the start-up wait is over: serving from now on
      },
      [=](idle_atom) {
        if (allowed(role::node))
          close_idle(self);
      },
      [=](idle_atom, const std::string& peer) -> caf::result<caf::ok_atom> {
        if (!allowed(role::node))
          return refused("closing a connection", role::node);
        return agree_idle(self, peer);
      },
      [=](wake_atom, const std::string& peer) -> caf::result<caf::ok_atom> {
        if (!allowed(role::node))
          return refused("a wake", role::node);
        return wake(self, peer);
      },
  };
}

} // namespace

} // namespace node_internals

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
  return sys.spawn(node_internals::node_behavior, std::move(options));
}

} // namespace actorkv
