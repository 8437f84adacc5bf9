// Answers batched per destination actor: the one mechanism behind every batched reply (a replica
// gateway's answers to peer links, a node's answers to clients).
//
// add() queues an answer for its destination; the owning actor sends itself a flush_atom the
// first time something is queued (add() says when), and flush() sends each destination what
// accumulated, as (batch_atom, std::vector<Item>). The flush message arrives after every message
// already in the owner's mailbox, so answers produced meanwhile share one network message.
// A destination's batch is sent early once it holds max_bytes (by the caller's estimate).
#pragma once

#include <cstddef>
#include <map>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>

#include "messages/atoms.hpp"

namespace actorkv {

template <class Handle, class Item>
class batch_outbox {
public:
  explicit batch_outbox(size_t max_bytes) : max_bytes_(max_bytes) {}

  /// Queues `item` (about `size` bytes) for `to`. True when the owner must send itself a
  /// flush_atom (the first item since the last flush).
  template <class Self>
  bool add(Self* self, const Handle& to, Item item, size_t size) {
    auto& box = boxes_[to.address()];
    if (!box.to)
      box.to = to;
    if (!box.items.empty() && box.bytes + size > max_bytes_)
      send(self, box);
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

  size_t max_bytes_;
  std::map<caf::actor_addr, box> boxes_;
  bool flush_scheduled_ = false;
};

} // namespace actorkv
