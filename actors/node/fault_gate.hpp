// Fault injection at the receiving end of a node's links, for tests: requests from peers an admin
// named (kvsh: fault drop|delay PEERS) are held back before they are served. Drop: never
// answered, as across a cut link, so the peer's request times out. Delay: served that much later.
// Telling both sides of a cut gives a network partition, without any kernel support.
//
// One mechanism, configured by messages: the node keeps the rules (refused unless the manifest
// sets [faults] injection = true), resolves them to the processes its peers run as, and sends
// them as (fault_atom, fault_rules) to every actor that serves peers: its replica gateway, its
// vnodes, and itself (peer handshakes, failure-detector pings, gossip). Each keeps a fault_gate
// in its state and answers peers through gated_answer() or gated_delegate().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include <caf/actor_control_block.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/result.hpp>
#include <caf/typed_response_promise.hpp>

#include "messages/atoms.hpp"
#include "messages/faults.hpp"

namespace actorkv {

class fault_gate {
public:
  /// Replaces the rules in force.
  void set(fault_rules rules) { rules_ = std::move(rules); }

  /// The rule for a request from `sender` (none for local senders and unnamed processes).
  fault_rule check(const caf::strong_actor_ptr& sender) const {
    if (!sender || rules_.by_process.empty())
      return {};
    auto it = rules_.by_process.find(sender->node());
    return it == rules_.by_process.end() ? fault_rule{} : it->second;
  }

  /// Runs `work` after `delay`: the owner sends itself (held_atom, id), whose handler calls
  /// release(id).
  template <class Self>
  void hold(Self* self, std::chrono::milliseconds delay, std::function<void()> work) {
    auto id = ++last_id_;
    held_.emplace(id, std::move(work));
    self->delayed_send(self, delay, held_atom::value, id);
  }

  /// Runs the work held under `id`.
  void release(uint64_t id) {
    auto it = held_.find(id);
    if (it == held_.end())
      return;
    auto work = std::move(it->second);
    held_.erase(it);
    work();
  }

private:
  fault_rules rules_;
  uint64_t last_id_ = 0;
  std::map<uint64_t, std::function<void()>> held_;
};

/// The two private handlers of every gated actor: new rules, and held work coming due.
using fault_gate_handlers =
    caf::typed_actor<caf::reacts_to<fault_atom, fault_rules>, caf::reacts_to<held_atom, uint64_t>>;

/// Answers the current request with `answer()` (a T or an error) at once, later or never, as the
/// rule for its sender says. `self->state.gate` is the actor's fault_gate.
template <class T, class Self, class F>
caf::result<T> gated_answer(Self* self, F answer) {
  auto rule = self->state.gate.check(self->current_sender());
  if (!rule.drop && rule.delay_ms == 0) {
    caf::expected<T> x = answer();
    if (!x)
      return std::move(x.error());
    return std::move(*x);
  }
  auto rp = self->template make_response_promise<T>();
  if (rule.drop)
    return rp; // never delivered: the peer's request times out
  self->state.gate.hold(self, std::chrono::milliseconds{rule.delay_ms}, [rp, answer]() mutable {
    caf::expected<T> x = answer();
    if (x)
      rp.deliver(std::move(*x));
    else
      rp.deliver(std::move(x.error()));
  });
  return rp;
}

/// Has `to` answer the current request (xs...) directly, unless the rule for its sender drops it
/// (never answered) or delays it (asked later, its answer relayed).
template <class T, class Self, class Handle, class... Ts>
caf::result<T> gated_delegate(Self* self, const Handle& to, Ts... xs) {
  auto rule = self->state.gate.check(self->current_sender());
  if (!rule.drop && rule.delay_ms == 0)
    return self->delegate(to, std::move(xs)...);
  auto rp = self->template make_response_promise<T>();
  if (rule.drop)
    return rp;
  self->state.gate.hold(self, std::chrono::milliseconds{rule.delay_ms}, [=]() mutable {
    self->request(to, caf::infinite, xs...)
        .then([=](T& x) mutable { rp.deliver(std::move(x)); },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  });
  return rp;
}

} // namespace actorkv
