// The two halves of every batched conversation (client -> node, peer link -> replica gateway):
//
// batch_outbox: calls or answers batched per destination actor. add() queues an item for its
// destination; the owning actor sends itself a flush_atom the first time something is queued
// (add() says when), and flush() sends each destination what accumulated, as (batch_atom,
// std::vector<Item>). The flush message arrives after every message already in the owner's
// mailbox, so items produced meanwhile share one network message. A destination's batch is sent
// early once it holds max_batch_bytes (by the caller's estimate).
//
// pending_calls: the sender's calls awaiting their answers, by id, each with a deadline and what
// to do with its answer. One tick_atom the owner sends itself every sweep interval, while calls
// wait, fails the overdue ones: no CAF clock timer per call. An Answer has `uint64_t id` and
// `caf::error err`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/error.hpp>
#include <caf/typed_response_promise.hpp>

#include "messages/atoms.hpp"

namespace actorkv {

/// Keys and values a batch carries before it is sent; an item that alone is larger travels
/// alone. Well under any node's max_frame_bytes (at least 1 MiB more than a max-size put).
constexpr size_t max_batch_bytes = 256 * 1024;

/// Room a destination's batch starts with: batches under load hold tens of items, and growing a
/// vector from one item moves every item several times (3% of a coordinator's profile).
constexpr size_t initial_batch_items = 32;

template <class Handle, class Item>
class batch_outbox {
public:
  /// Queues `item` (about `size` bytes) for `to`. True when the owner must send itself a
  /// flush_atom (the first item since the last flush).
  template <class Self>
  bool add(Self* self, const Handle& to, Item item, size_t size) {
    auto& box = boxes_[to.address()];
    if (!box.to)
      box.to = to;
    if (!box.items.empty() && box.bytes + size > max_batch_bytes)
      send(self, box);
    if (box.items.capacity() == 0) // a new box, or one whose batch just went out
      box.items.reserve(initial_batch_items);
    box.bytes += size;
    box.items.push_back(std::move(item));
    if (flush_scheduled_)
      return false;
    flush_scheduled_ = true;
    return true;
  }

  /// Sends every destination its batch.
  template <class Self>
  void flush(Self* self) {
    flush_scheduled_ = false;
    for (auto& entry : boxes_)
      send(self, entry.second);
    boxes_.clear(); // holds no destination's handle longer than needed
  }

private:
  struct box {
    Handle to;
    std::vector<Item> items;
    size_t bytes = 0;
  };

  template <class Self>
  void send(Self* self, box& b) {
    if (b.items.empty())
      return;
    std::vector<Item> batch;
    batch.swap(b.items);
    b.bytes = 0;
    self->send(b.to, batch_atom::value, std::move(batch));
  }

  std::map<caf::actor_addr, box> boxes_;
  bool flush_scheduled_ = false;
};

template <class Answer, class Extra = bool>
class pending_calls {
public:
  using clock = std::chrono::steady_clock;
  using settle_fn = std::function<void(Answer&)>;

  struct entry {
    clock::time_point deadline;
    settle_fn settle;
    Extra extra{}; ///< whatever else the sender needs to know of the call
  };

  explicit pending_calls(std::chrono::milliseconds sweep_interval)
      : sweep_interval_(sweep_interval) {}

  /// Registers a call answered within `timeout` and makes sure a sweep is due; returns its id.
  template <class Self>
  uint64_t add(Self* self, std::chrono::milliseconds timeout, settle_fn settle, Extra extra = {}) {
    auto id = ++last_id_;
    calls_.emplace(id, entry{clock::now() + timeout, std::move(settle), std::move(extra)});
    schedule_sweep(self);
    return id;
  }

  /// The owner's tick_atom handler: fails the overdue calls with `err`, and schedules the next
  /// sweep while calls still wait.
  template <class Self>
  void sweep(Self* self, const caf::error& err) {
    sweep_scheduled_ = false;
    expire(err);
    if (!calls_.empty())
      schedule_sweep(self);
  }

  /// Hands each answer to its call; answers of calls already failed are ignored.
  void settle(std::vector<Answer>& answers) {
    for (auto& a : answers) {
      auto it = calls_.find(a.id);
      if (it == calls_.end())
        continue;
      auto settle = std::move(it->second.settle);
      calls_.erase(it);
      settle(a);
    }
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
  /// Fails the calls whose deadline passed with `err`.
  void expire(const caf::error& err) {
    auto now = clock::now();
    for (auto& e : take_if([&](const entry& x) { return x.deadline <= now; }))
      fail(e.settle, err);
  }

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
