// The sender's calls awaiting their answers, by id, each with a deadline and what to do with its
// answer: the receiving half of a batched conversation whose answers come back as messages of
// their own (the client's calls to its node).
//
// One tick_atom the owner sends itself every sweep interval, while calls wait, fails the overdue
// ones: no CAF clock timer per call. Deadlines are taken from the owner's actor clock, so a test
// coordinator's virtual time drives them. An Answer has `uint64_t id` and `caf::error err`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/error.hpp>
#include <caf/typed_response_promise.hpp>

#include "messages/atoms.hpp"

namespace actorkv {

template <class Answer, class Extra = bool>
class pending_calls {
public:
  using time_point = caf::actor_clock::time_point;
  using settle_fn = std::function<void(Answer&)>;

  struct entry {
    time_point deadline;
    settle_fn settle;
    Extra extra{}; ///< whatever else the sender needs to know of the call
  };

  explicit pending_calls(std::chrono::milliseconds sweep_interval)
      : sweep_interval_(sweep_interval) {}

  /// Registers a call answered within `timeout` and makes sure a sweep is due; returns its id.
  template <class Self>
  uint64_t add(Self* self, std::chrono::milliseconds timeout, settle_fn settle, Extra extra = {}) {
    return add_until(self, self->clock().now() + timeout, std::move(settle), std::move(extra));
  }

  /// Registers a call answered by `deadline` (a call sent again keeps its first deadline).
  template <class Self>
  uint64_t add_until(Self* self, time_point deadline, settle_fn settle, Extra extra = {}) {
    auto id = ++last_id_;
    calls_.emplace(id, entry{deadline, std::move(settle), std::move(extra)});
    schedule_sweep(self);
    return id;
  }

  /// Whether no call waits.
  bool empty() const { return calls_.empty(); }

  /// What the sender keeps of call `id`; nullptr once it was answered or failed.
  Extra* extra_of(uint64_t id) {
    auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : &it->second.extra;
  }

  /// The owner's tick_atom handler: fails the overdue calls with `err`, and schedules the next
  /// sweep while calls still wait.
  template <class Self>
  void sweep(Self* self, const caf::error& err) {
    sweep_with(self, [&](const entry&) { return err; });
  }

  /// As above, failing each overdue call with `error_for(entry)`.
  template <class Self, class ErrorFor>
  void sweep_with(Self* self, ErrorFor error_for) {
    sweep_scheduled_ = false;
    auto now = self->clock().now();
    for (auto& e : take_if([&](const entry& x) { return x.deadline <= now; }))
      fail(e.settle, error_for(e));
    if (!calls_.empty())
      schedule_sweep(self);
  }

  /// Calls `f(id, entry)` for every waiting call (entries stay; `f` must not add or remove any).
  template <class F>
  void for_each(F f) {
    for (auto& [id, e] : calls_)
      f(id, e);
  }

  /// Removes call `id` and returns it (to settle or fail); nullopt when it is not waiting.
  std::optional<entry> take(uint64_t id) {
    auto it = calls_.find(id);
    if (it == calls_.end())
      return std::nullopt;
    auto out = std::move(it->second);
    calls_.erase(it);
    return out;
  }

  /// Hands each answer to its call; answers of calls already failed are ignored, and so are those
  /// whose call `accept(entry)` refuses (an answer from where the call did not go, say).
  template <class Accept>
  void settle(std::vector<Answer>& answers, Accept accept) {
    for (auto& a : answers) {
      auto it = calls_.find(a.id);
      if (it == calls_.end() || !accept(it->second))
        continue;
      auto settle = std::move(it->second.settle);
      calls_.erase(it);
      settle(a);
    }
  }

  void settle(std::vector<Answer>& answers) {
    settle(answers, [](const entry&) { return true; });
  }

  /// Removes the calls `pred(entry)` selects and returns them (to fail or resend).
  template <class Pred>
  std::vector<entry> take_if(Pred pred) {
    std::vector<entry> out;
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (pred(it->second)) {
        out.push_back(std::move(it->second));
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  /// Fails every call with `err`.
  void fail_all(const caf::error& err) {
    for (auto& e : take_if([](const entry&) { return true; }))
      fail(e.settle, err);
  }

  static void fail(const settle_fn& settle, caf::error err) {
    Answer a;
    a.err = std::move(err);
    settle(a);
  }

private:
  template <class Self>
  void schedule_sweep(Self* self) {
    if (sweep_scheduled_)
      return;
    sweep_scheduled_ = true;
    self->delayed_send(self, sweep_interval_, caf::tick_atom::value);
  }

  std::chrono::milliseconds sweep_interval_;
  bool sweep_scheduled_ = false;
  uint64_t last_id_ = 0;
  std::unordered_map<uint64_t, entry> calls_;
};

/// What to do with an answer when it is for a response promise: deliver its error, or the part
/// of it `pick` selects.
template <class Answer, class T, class Pick>
std::function<void(Answer&)> deliver_to(caf::typed_response_promise<T> rp, Pick pick) {
  return [rp, pick](Answer& a) mutable {
    if (a.err)
      rp.deliver(std::move(a.err));
    else
      rp.deliver(pick(a));
  };
}

} // namespace actorkv
