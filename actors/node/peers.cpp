// The node's connection to each peer (see node_state.hpp):
//
//   new member ──> connecting ──handshake answered, same settings──> up ──DOWN / detector──> down
//                     ^   └──refused / failed──> retry in 1 s                                 |
//                     └───────────────────────────────────────────────────────────────────────┘
//
// Up means connected and handshaken: the peer's vnodes and its replica gateway are known. The
// failure detector's verdict (alive) is kept apart: a peer whose connection is open but that does
// not answer probes is not used, and is used again as soon as it answers.
//
// Of two nodes, the one whose name sorts first dials; the other adopts the connection when the
// dialer's hello arrives. When both dialed at once, CAF 0.17 could close both new connections
// (each side keeps the first direct connection it saw and drops the other), leaving the two
// nodes talking through a third one and cut off from each other when it went away; TLS
// handshakes made that window wide. The second node dials only after passive_grace without a
// hello: for a node nobody dials any more (one that was removed while it was down and restarts
// must learn so from a peer). A grace of 3 s brought the race back whenever a start took longer:
// 32 nodes started at once on two cores left pairs apart for minutes
// (tests/membership/test_start_race.cpp). 15 s outlasts two rounds of a dialer's hello timeout
// and retry.
//
// Idle connections. A node keeps its connections to the peers it shares a partition with (in the
// ring in force or the next one) or owes a release to: replication, handoff, anti-entropy and the
// collector use them all the time. A connection to any other peer that carried no message (CAF's
// heartbeats aside) for [limits] peer_idle_ms is closed, so that the connections a node holds are
// bounded by its partitions' replicas plus the peers it probed or coordinated for lately, not by
// the cluster's size. CAF 0.17 cannot close a connection from the side that dialed it, and only
// the answering side's frame guard tells messages from heartbeats (actors/guard/
// link_activity.hpp), so that side proposes (idle_atom); the other agrees unless it needs the
// peer; both forget the peer's handles (no monitor fires, nothing fails over) and the guard
// closes the connection. The peer is then dormant: alive as the failure detector says, in the
// coordinator's plans as before, without handles. Whoever needs it (the coordinator for a
// request, SWIM for a probe, a hint, a release) asks the node (wake_atom), which dials it at
// once, whatever their names' order: a wake that fails leaves the peer down, as any failed dial.
// A member this node shares no partition with is dormant from the start (never dialed until
// needed), and one that comes to share a partition (a ring change) is dialed at once.
#include <set>
#include <unordered_set>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/client/tls.hpp"
#include "actors/guard/link_activity.hpp"
#include "actors/node/event_log.hpp"
#include "actors/node/node_state.hpp"
#include "actors/node/permission.hpp"
#include "cluster-config/membership_view.hpp"
#include "messages/error.hpp"

namespace actorkv::node_internals {

namespace {

using namespace std::chrono_literals;

constexpr auto reconnect_interval = 1s;
/// How long the node whose name sorts second waits for the other's hello before dialing itself.
constexpr auto passive_grace = 15s;
constexpr auto connect_timeout = 5s;
/// How often repeated failures to reach a peer for the same reason are summarised in the log.
constexpr auto failure_log_interval = 60s;

void mark_down(self_ptr self, peer_info& peer, const std::string& why) {
  if (usable(peer))
    log_event(log_subsystem::peers, log_level::warning, self->state.options.self_name,
              "peer " + peer.name + " down (" + why + ")");
  peer.up = false;
  peer.handle = nullptr;
  peer.vnodes = nullptr;
  peer.gateway = nullptr;
  publish_peers(self, peer.name); // the coordinator fails what is in flight to it
}

/// Logs a failed attempt to reach `peer` (see failed_attempts).
void report_failure(self_ptr self, peer_info& peer, const std::string& reason) {
  auto now = self->clock().now();
  auto& f = peer.failures;
  auto& me = self->state.options.self_name;
  if (!peer.unreachable) {
    peer.unreachable = true;
    check_startup(self); // a starting node need not wait for it
  }
  for (auto& rp : std::exchange(peer.wakers, {}))
    rp.deliver(caf::make_error(ec::unavailable, "peer " + peer.name + " " + reason));
  if (peer.dormant) { // woken, and not there: down like any peer this node cannot reach
    peer.dormant = false;
    publish_peers(self, peer.name);
    if (peer.alive) {
      log_event(log_subsystem::peers, log_level::warning, me,
                "peer " + peer.name + " down (" + reason + ")");
      f = failed_attempts{reason, 0, now};
      return;
    }
  }
  if (reason != f.reason) {
    log_event(log_subsystem::peers, log_level::warning, me, "peer " + peer.name + " " + reason);
    f = failed_attempts{reason, 0, now};
    return;
  }
  ++f.repeats;
  if (now - f.logged >= failure_log_interval) {
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - f.logged).count();
    log_event(log_subsystem::peers, log_level::warning, me,
              "peer " + peer.name + " " + reason + " (" + std::to_string(f.repeats) +
                  " more attempts in " + std::to_string(seconds) + " s)");
    f.repeats = 0;
    f.logged = now;
  }
}

/// Whether this node connects to the peers it shares no partition with only when it needs them
/// (see the top of the file): the phi accrual detector pings every peer, through handles.
bool on_demand(self_ptr self) {
  auto& st = self->state;
  return st.options.links && st.options.cluster.limits.peer_idle_ms > 0 &&
         st.options.cluster.failure_detector.mode == detector_mode::swim;
}

/// Whether this node connects to the peer named `name` only when it needs it: it shares no
/// partition with it, and connections are on demand.
bool only_on_demand(self_ptr self, const std::string& name) {
  return on_demand(self) && self->state.kept.count(name) == 0;
}

/// Whether this node dials `peer` first (see the top of the file).
bool dials_first(self_ptr self, const peer_info& peer) {
  return self->state.options.self_name < peer.name;
}

void schedule_reconnect(self_ptr self, uint32_t index) {
  auto& st = self->state;
  auto& peer = st.peers[index];
  // A peer that shares no partition with this node does not dial it either (it is dormant
  // there): retry it as its dialer, or it stays down until something there needs this node.
  bool ours = dials_first(self, peer) || only_on_demand(self, peer.name);
  self->delayed_send(self, ours ? reconnect_interval : passive_grace, connect_to_atom::value, index);
}

/// Why a peer running failure detector mode `theirs` is refused by one running `ours`.
std::string detector_mismatch(const std::string& theirs, const std::string& ours) {
  return "it runs [failure_detector] mode \"" + theirs + "\", this node runs mode \"" + ours +
         "\" (every node of a cluster must run the same mode: docs/operations.md)";
}

/// The peer at `index` answered our hello: up, unless it is not the node we dialed or runs with
/// other settings.
void handshaken(self_ptr self, uint32_t index, const node_actor& handle, peer_hello& theirs) {
  auto& st = self->state;
  auto& peer = st.peers[index];
  peer.connecting = false;
  if (theirs.protocol != st.options.protocol) {
    report_failure(self, peer,
                   "refused: it speaks protocol version " + std::to_string(theirs.protocol) +
                       ", this node speaks version " + std::to_string(st.options.protocol) +
                       " (upgrade every node to the same release: docs/operations.md)");
    schedule_reconnect(self, index);
    return;
  }
  if (theirs.detector != st.detector_name) {
    report_failure(self, peer, "refused: " + detector_mismatch(theirs.detector, st.detector_name));
    schedule_reconnect(self, index);
    return;
  }
  if (theirs.settings != st.settings || theirs.name != peer.name || !theirs.vnodes ||
      !theirs.gateway) {
    report_failure(self, peer,
                   "refused: it runs as '" + theirs.name + "' with settings [" + theirs.settings +
                       "], ours are [" + st.settings + "]");
    schedule_reconnect(self, index);
    return;
  }
  peer.handle = handle;
  bind_process(self, peer.name, handle.node());
  peer.vnodes = std::move(theirs.vnodes);
  peer.gateway = std::move(theirs.gateway);
  peer.id = theirs.id;
  peer.up = true;
  peer.alive = true;
  peer.failures = {};
  self->monitor(handle);
  self->send(st.detector, watch_atom::value, peer.name, handle);
  if (peer.dormant) // connected again on demand: routine
    log_event(log_subsystem::peers, log_level::debug, st.options.self_name,
              "peer " + peer.name + " connected again");
  else
    log_event(log_subsystem::peers, st.options.self_name, "peer " + peer.name + " up");
  peer.dormant = false;
  publish_peers(self, peer.name);
  check_startup(self);
  // After publish_peers: the coordinator's new routes arrive before the answer.
  for (auto& rp : std::exchange(peer.wakers, {}))
    rp.deliver(caf::ok_atom::value);
}

void handshake(self_ptr self, uint32_t index, node_actor handle) {
  self->request(handle, self->state.request_timeout(), peer_atom::value, own_hello(self, false))
      .then([=](peer_hello& theirs) { handshaken(self, index, handle, theirs); },
            [=](caf::error& err) {
              auto& peer = self->state.peers[index];
              peer.connecting = false;
              report_failure(self, peer, "did not answer our hello: " + describe(err));
              schedule_reconnect(self, index);
            });
}

} // namespace

peer_hello own_hello(self_ptr self, bool with_vnodes) {
  auto& st = self->state;
  peer_hello h;
  h.protocol = st.options.protocol;
  h.name = st.options.self_name;
  h.id = st.options.self_id;
  h.settings = st.settings;
  h.detector = st.detector_name;
  if (with_vnodes) {
    h.vnodes = st.vnodes;
    h.gateway = st.gateway;
  }
  return h;
}

void follow_members(self_ptr self) {
  auto& st = self->state;
  // Removed is final. A member purged before this node saw it removed (this node was away, or
  // started from an older view) is named by its tombstone alone, and the tombstone itself is
  // dropped in the end: once removed, a peer stays removed, is no longer dialed, and no longer
  // counts for readiness. So a peer whose entry is gone is removed, whether a tombstone names it
  // or nothing does any more (the tombstone was dropped, or the entry was of a retired
  // incarnation: membership_view.hpp).
  bool newly_removed = false;
  for (auto& p : st.peers) {
    if (p.removed)
      continue;
    auto* m = find_member(st.view, p.name);
    if (!m || m->state == member_state::removed) {
      p.removed = true;
      newly_removed = true;
    }
  }
  for (auto& m : st.view.members) {
    if (m.name == st.options.self_name || m.state == member_state::removed || st.find_peer(m.name))
      continue;
    auto index = st.add_peer(m.name);
    auto& added = st.peers[index];
    added.host = m.host;
    added.port = m.port;
    if (auto i = st.callers.find(m.name); i != st.callers.end()) {
      // It dialed before this node knew it as a member.
      added.connecting = true;
      handshake(self, index, i->second);
    } else if (only_on_demand(self, m.name)) {
      // It shares no partition with this node: dormant from the start, dialed when needed.
      added.dormant = true;
      self->send(st.detector, watch_atom::value, m.name, node_actor{});
      publish_peers(self, m.name);
    } else if (dials_first(self, added)) {
      self->send(self, connect_to_atom::value, index);
    } else {
      schedule_reconnect(self, index);
    }
  }
  if (newly_removed)
    check_startup(self); // a starting node no longer waits for it
}

/// Messages from a peer this node dialed come back on that connection, past the frame guard:
/// its process counts as a member while connected (CAF's TLS client verified its certificate).
void trust(self_ptr self, peer_info& peer, const caf::node_id& process) {
  auto* access = self->state.options.access.get();
  if (!access || peer.trusted == process)
    return;
  if (peer.trusted)
    access->forget_member(identity_of(peer.trusted));
  peer.trusted = process;
  if (process)
    access->trust_member(identity_of(process));
}

namespace {

/// Dials the peer at `index` and shakes hands (connect_peer, wake).
void dial(self_ptr self, uint32_t index) {
  auto& peer = self->state.peers[index];
  peer.connecting = true;
  log_event(log_subsystem::peers, log_level::debug, self->state.options.self_name,
            "dialing " + peer.name + " at " + peer.host + ":" + std::to_string(peer.port));
  // Never the blocking middleman().remote_actor() here: it would stall a scheduler thread.
  self->request(default_connector(self->system()), connect_timeout, caf::connect_atom::value,
                peer.host, peer.port)
      .then(
          [=](const caf::node_id& nid, caf::strong_actor_ptr& ptr,
              const std::set<std::string>& ifs) {
            if (!ptr || !self->system().assignable<node_actor>(ifs)) {
              self->state.peers[index].connecting = false;
              report_failure(self, self->state.peers[index],
                             "is not an actorkv node (wrong interface)");
              schedule_reconnect(self, index);
              return;
            }
            trust(self, self->state.peers[index], nid);
            handshake(self, index, caf::actor_cast<node_actor>(std::move(ptr)));
          },
          [=](caf::error& err) {
            auto& peer = self->state.peers[index];
            peer.connecting = false;
            report_failure(self, peer,
                           "unreachable at " + peer.host + ":" + std::to_string(peer.port) + ": " +
                               describe(err));
            schedule_reconnect(self, index);
          });
}

} // namespace

void connect_peer(self_ptr self, uint32_t index) {
  auto& peer = self->state.peers[index];
  // A dormant peer is dialed when some actor needs it (wake), not on a timer.
  if (peer.up || peer.connecting || peer.removed || peer.dormant)
    return;
  dial(self, index);
}

void peer_down(self_ptr self, const caf::down_msg& dm) {
  auto& peers = self->state.peers;
  for (uint32_t i = 0; i < peers.size(); ++i)
    if (peers[i].handle && peers[i].handle.address() == dm.source) {
      trust(self, peers[i], caf::node_id{});
      mark_down(self, peers[i], describe(dm.reason));
      self->send(self->state.detector, lost_atom::value, peers[i].name);
      schedule_reconnect(self, i);
    }
}

void peer_alive(self_ptr self, const std::string& name, bool alive) {
  auto* peer = self->state.find_peer(name);
  if (!peer || peer->alive == alive)
    return;
  peer->alive = alive;
  if (peer->up || peer->dormant)
    log_event(log_subsystem::peers, self->state.options.self_name,
              "peer " + name +
                  (alive ? " up (answering again)" : " down (failure detector: no answers)"));
  publish_peers(self, name);
}

startup_state check_startup(self_ptr self) {
  auto& st = self->state;
  if (st.serving)
    return {true, {}};
  std::vector<peer_progress> progress;
  for (auto& p : st.peers)
    if (!p.removed)
      progress.push_back(peer_progress{p.name, usable(p), p.unreachable});
  auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(self->clock().now() - st.started);
  auto state = startup_readiness(progress, elapsed);
  if (state.serving) {
    st.serving = true;
    log_event(log_subsystem::node, st.options.self_name,
              "serving clients after " + std::to_string(elapsed.count()) + " ms: " + state.reason);
  }
  return state;
}

caf::result<peer_hello> answer_hello(self_ptr self, const peer_hello& theirs) {
  auto& sender = self->current_sender();
  if (theirs.protocol != self->state.options.protocol) {
    // Nothing else of its hello is trusted: its messages could not be read as this node's.
    auto text = "node " + self->state.options.self_name + " speaks protocol version " +
                std::to_string(self->state.options.protocol) + ", " + theirs.name +
                " speaks version " + std::to_string(theirs.protocol);
    if (self->state.protocol_refused.insert(theirs.name).second)
      log_event(log_subsystem::peers, log_level::error, self->state.options.self_name,
                "refused the handshake of " + theirs.name + ": it speaks protocol version " +
                    std::to_string(theirs.protocol) + ", this node speaks version " +
                    std::to_string(self->state.options.protocol));
    return caf::make_error(ec::peer_mismatch, text);
  }
  if (theirs.detector != self->state.detector_name) {
    // A phi accrual node refuses SWIM's indirect probes, so a mixed cluster would judge its
    // members by two rules: refused like other settings, with both modes named.
    auto why = detector_mismatch(theirs.detector, self->state.detector_name);
    if (self->state.detector_refused.insert(theirs.name).second)
      log_event(log_subsystem::peers, log_level::error, self->state.options.self_name,
                "refused the handshake of " + theirs.name + ": " + why);
    return caf::make_error(ec::peer_mismatch,
                           "node " + self->state.options.self_name +
                               " runs [failure_detector] mode \"" + self->state.detector_name +
                               "\" and refuses one in mode \"" + theirs.detector +
                               "\" (every node of a cluster must run the same mode)");
  }
  if (sender && theirs.settings == self->state.settings) {
    auto caller = caf::actor_cast<node_actor>(sender);
    self->state.callers[theirs.name] = caller;
    auto& peers = self->state.peers;
    for (uint32_t i = 0; i < peers.size(); ++i)
      if (peers[i].name == theirs.name && !peers[i].removed && !peers[i].up &&
          !peers[i].connecting) {
        // Adopt the connection the peer dialed rather than dial one of our own.
        peers[i].connecting = true;
        handshake(self, i, caller);
      }
  }
  if (sender && self->state.find_peer(theirs.name))
    bind_process(self, theirs.name, sender->node());
  auto settings = theirs.settings;
  return gated_answer<peer_hello>(self, [=]() -> caf::expected<peer_hello> {
    if (settings != self->state.settings)
      return caf::make_error(ec::peer_mismatch, "node " + self->state.options.self_name +
                                                    " runs with settings [" + self->state.settings +
                                                    "]");
    return own_hello(self, true);
  });
}

namespace {

/// Lets go of `peer`'s connection: its handles are forgotten (no monitor fires), it stays a
/// member believed alive, and the plans keep it (routes.cpp resolves it without handles).
void go_dormant(self_ptr self, peer_info& peer, const std::string& why) {
  auto& st = self->state;
  self->demonitor(peer.handle.address());
  trust(self, peer, caf::node_id{});
  peer.up = false;
  peer.dormant = true;
  peer.proposed_idle = false;
  peer.handle = nullptr;
  peer.vnodes = nullptr;
  peer.gateway = nullptr;
  st.callers.erase(peer.name);
  self->send(st.detector, watch_atom::value, peer.name, node_actor{}); // probed after a wake
  log_event(log_subsystem::peers, log_level::debug, st.options.self_name,
            "connection to " + peer.name + " closed: " + why);
  publish_peers(self, peer.name);
}

std::chrono::milliseconds peer_idle(self_ptr self) {
  return std::chrono::milliseconds{self->state.options.cluster.limits.peer_idle_ms};
}

} // namespace

void keep_replica_peers(self_ptr self) {
  auto& st = self->state;
  auto& me = st.options.self_name;
  st.kept.clear();
  auto add = [&](const ring& r) {
    for (auto& [p, names] : home_partitions(r, me, st.replicas())) {
      (void)p;
      st.kept.insert(names.begin(), names.end());
    }
  };
  add(st.placement);
  if (st.next)
    add(*st.next);
  for (auto& [p, takers] : st.releases) {
    (void)p;
    st.kept.insert(takers.begin(), takers.end());
  }
  st.kept.erase(me);
  // A peer that now shares a partition with this node (a join, a leave) is connected at once.
  for (uint32_t i = 0; i < st.peers.size(); ++i) {
    auto& peer = st.peers[i];
    if (peer.dormant && !peer.connecting && !peer.removed && st.kept.count(peer.name) > 0)
      dial(self, i);
  }
}

void close_idle(self_ptr self) {
  auto& st = self->state;
  auto quiet = peer_idle(self);
  if (!on_demand(self))
    return;
  self->delayed_send(self, std::max(quiet / 4, std::chrono::milliseconds{250}), idle_atom::value);
  auto quiet_list = st.options.links->quiet_for(quiet);
  if (quiet_list.empty())
    return;
  // A set: both the quiet connections and the up peers can number in the hundreds.
  std::unordered_set<process_identity, process_identity_hash> processes(quiet_list.begin(),
                                                                        quiet_list.end());
  for (auto& peer : st.peers) {
    if (!peer.up || peer.proposed_idle || peer.removed || !peer.handle ||
        st.kept.count(peer.name) > 0)
      continue;
    auto who = identity_of(peer.handle.node());
    if (processes.count(who) == 0)
      continue;
    // Only the side whose guard answered the connection sees it idle: it proposes.
    peer.proposed_idle = true;
    auto name = peer.name;
    auto handle = peer.handle;
    self->request(handle, st.request_timeout(), idle_atom::value, st.options.self_name)
        .then(
            [=](caf::ok_atom) {
              auto* p = self->state.find_peer(name);
              if (!p || p->handle != handle)
                return; // reconnected meanwhile: a new connection, not idle
              go_dormant(self, *p,
                         "idle for " + std::to_string(quiet.count()) +
                             " ms, both sides agreed (dialed again when needed)");
              self->state.options.links->close(who);
            },
            [=](caf::error&) {
              // It still needs this node, or did not answer: asked again once idle again.
              if (auto* p = self->state.find_peer(name))
                p->proposed_idle = false;
            });
  }
}

caf::result<caf::ok_atom> agree_idle(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto* peer = st.find_peer(name);
  auto& sender = self->current_sender();
  if (!peer || !peer->up || !peer->handle || !sender || sender->node() != peer->handle.node())
    return caf::make_error(ec::bad_request, "not connected to " + name);
  if (st.kept.count(name) > 0)
    return caf::make_error(ec::bad_request, st.options.self_name + " shares partitions with " +
                                                name + ": the connection stays");
  go_dormant(self, *peer, "idle, as " + name + " proposed (dialed again when needed)");
  return caf::ok_atom::value;
}

caf::result<caf::ok_atom> wake(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto it = st.peer_index.find(name);
  if (it == st.peer_index.end() || st.peers[it->second].removed)
    return caf::make_error(ec::unavailable, name + " is not a member");
  auto& peer = st.peers[it->second];
  if (peer.up)
    return caf::ok_atom::value;
  if (!peer.dormant && !peer.connecting)
    return caf::make_error(ec::unavailable, "peer " + name + " is down");
  auto rp = self->make_response_promise<caf::ok_atom>();
  peer.wakers.push_back(rp);
  if (!peer.connecting) {
    log_event(log_subsystem::peers, log_level::debug, st.options.self_name,
              "dialing " + name + " again: needed");
    dial(self, it->second);
  }
  return rp;
}

} // namespace actorkv::node_internals
