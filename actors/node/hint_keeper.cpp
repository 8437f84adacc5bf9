#include "actors/node/hint_keeper.hpp"

#include <map>
#include <memory>
#include <set>

#include <caf/all.hpp>

#include "actors/node/event_log.hpp"
#include "actors/node/peer_directory.hpp"
#include "cluster-config/write_limits.hpp"
#include "cluster-config/metrics.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

using keeper_impl = hint_keeper_actor::extend<caf::reacts_to<caf::tick_atom>>;

struct keeper_state {
  static inline const char* name = "hint_keeper";
  hint_keeper_options options;
  peer_directory peers;
  std::set<std::string> delivering; ///< targets with a batch in flight
  std::set<std::string> announced;  ///< targets whose handoff start was logged
  std::set<std::string> departed;   ///< members gone for good: their hints are dropped
  std::set<std::string> forgetting; ///< departed targets whose hints are being dropped
  /// Hints delivered, in options.metrics (null without one).
  metric_counter* delivered = nullptr;
  /// Hints dropped because their target left the cluster (null without metrics).
  metric_counter* dropped = nullptr;
};

using self_ptr = keeper_impl::stateful_pointer<keeper_state>;

void deliver_batch(self_ptr self, const std::string& target, uint64_t backlog) {
  auto& st = self->state;
  st.delivering.insert(target);
  if (st.announced.insert(target).second)
    log_event(log_subsystem::hints, st.options.node,
              "handoff to " + target + " started (" + std::to_string(backlog) + " hints)");
  self->request(st.options.storage, st.options.timeout, hints_atom::value, target, st.options.batch)
      .then(
          [=](std::vector<stored_hint>& hints) {
            auto& st = self->state;
            if (hints.empty() || !st.peers.up(target)) {
              st.delivering.erase(target);
              return;
            }
            // Held while delivered: the hints, and each merge as it is sent.
            auto held = std::make_shared<memory_budget::charge>();
            if (st.options.budget) {
              uint64_t bytes = 0;
              for (auto& h : hints)
                bytes += held_charge(h.key.size() + record_value_bytes(h.rec), 3);
              *held = st.options.budget->take(bytes, budget_class::replication);
              if (!*held) {
                // Stored still: a later round delivers them.
                st.delivering.erase(target);
                return;
              }
            }
            auto left = std::make_shared<size_t>(hints.size());
            auto done_one = [=, batch = hints.size()] {
              if (--*left == 0) {
                held->release();
                self->state.delivering.erase(target);
                log_event(log_subsystem::hints, log_level::debug, self->state.options.node,
                          "a batch of " + std::to_string(batch) + " hints for " + target + " sent");
              }
            };
            for (auto& h : hints) {
              auto* vnode = st.peers.vnodes(target);
              if (!vnode) {
                done_one();
                continue;
              }
              self->request(*vnode, st.options.timeout, merge_atom::value, h.partition, h.key,
                            h.rec)
                  .then(
                      [=](const record&) {
                        // Acknowledged by the target: only now may the hint go.
                        self->request(self->state.options.storage, self->state.options.timeout,
                                      unhint_atom::value, h.target, h.id)
                            .then(
                                [=](caf::ok_atom) {
                                  if (self->state.delivered)
                                    self->state.delivered->add();
                                  done_one();
                                },
                                [=](caf::error&) { done_one(); });
                      },
                      [=](caf::error&) { done_one(); });
            }
          },
          [=](caf::error&) { self->state.delivering.erase(target); });
}

/// Drops the hints held for `target`, a member gone for good, one bounded storage batch after
/// another (each its own message, so foreground requests queued meanwhile go first).
void forget(self_ptr self, const std::string& target, uint64_t so_far) {
  auto& st = self->state;
  st.forgetting.insert(target);
  auto limit = st.options.drop_batch;
  self->request(st.options.storage, st.options.timeout, forget_atom::value, target, limit)
      .then(
          [=](uint64_t n) {
            auto& st = self->state;
            if (st.dropped)
              st.dropped->add(n);
            if (n == limit && st.departed.count(target) > 0) {
              forget(self, target, so_far + n);
              return;
            }
            st.forgetting.erase(target);
            log_event(log_subsystem::hints, st.options.node,
                      std::to_string(so_far + n) + " hints for " + target +
                          " dropped: it left the cluster, they can never be "
                          "delivered");
          },
          [=](caf::error& err) {
            self->state.forgetting.erase(target); // the next round tries again
            log_event(log_subsystem::hints, self->state.options.node,
                      "dropping the hints for " + target + " failed: " + describe(err));
          });
}

void round(self_ptr self) {
  auto& st = self->state;
  self->request(st.options.storage, st.options.timeout, backlog_atom::value)
      .then(
          [=](std::vector<hint_backlog>& backlog) {
            auto& st = self->state;
            std::set<std::string> pending;
            for (auto& b : backlog) {
              pending.insert(b.target);
              if (st.departed.count(b.target) > 0) {
                if (st.forgetting.count(b.target) == 0)
                  forget(self, b.target, 0);
                continue;
              }
              if (!st.peers.up(b.target)) {
                st.peers.wake(self, b.target); // dormant: delivered once connected again
                continue;
              }
              if (st.delivering.count(b.target) == 0)
                deliver_batch(self, b.target, b.count);
            }
            for (auto it = st.announced.begin(); it != st.announced.end();) {
              if (pending.count(*it) == 0) {
                log_event(log_subsystem::hints, st.options.node, "handoff to " + *it + " finished");
                it = st.announced.erase(it);
              } else {
                ++it;
              }
            }
          },
          [](caf::error&) {});
}

keeper_impl::behavior_type keeper_behavior(self_ptr self, hint_keeper_options options) {
  self->state.options = std::move(options);
  if (auto& m = self->state.options.metrics)
    self->state.delivered = &m->counter("actorkv_hints_delivered_total",
                                        "Hints this node delivered to their target (and dropped).");
  if (auto& m = self->state.options.metrics)
    self->state.dropped =
        &m->counter("actorkv_hints_dropped_total",
                    "Hints this node dropped undelivered because their target left the cluster.");
  self->send(self, caf::tick_atom::value);
  return {
      [=](peer_atom, std::vector<peer_view>& peers) {
        self->state.peers.update(std::move(peers),
                                 caf::actor_cast<peer_waker_actor>(self->current_sender()));
      },
      [=](departed_atom, std::vector<std::string>& names) {
        self->state.departed = std::set<std::string>(names.begin(), names.end());
      },
      [=](caf::tick_atom) {
        round(self);
        self->delayed_send(self, self->state.options.interval, caf::tick_atom::value);
      },
  };
}

} // namespace

hint_keeper_actor spawn_hint_keeper(caf::actor_system& sys, hint_keeper_options options) {
  return sys.spawn(keeper_behavior, std::move(options));
}

} // namespace actorkv
