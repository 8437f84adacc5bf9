// Calls or answers batched per destination actor: the sending half of every batched conversation
// (client -> coordinator, coordinator -> client, coordinator -> replicas).
//
// add() queues an item for its destination; the owning actor sends itself a flush_atom the first
// time something is queued (add() says when), and flush() sends each destination what
// accumulated, as (batch_atom, std::vector<Item>). The flush message arrives after every message
// already in the owner's mailbox, so items produced meanwhile share one network message. A
// destination's batch is sent early once it holds max_batch_bytes (by estimated_wire_bytes,
// messages/wire.hpp).
#pragma once

#include <cstddef>
#include <map>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>

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
  /// Queues `item` for `to`. True when the owner must send itself a flush_atom (the first item
  /// since the last flush).
  template <class Self>
  bool add(Self* self, const Handle& to, Item item) {
    auto size = estimated_wire_bytes(item);
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

} // namespace actorkv
