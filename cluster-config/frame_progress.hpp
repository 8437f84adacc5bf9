// When a large message from each peer node last made progress on this process's connections to
// it, for the failure detector (actors/node/swim_detector.hpp). One node's probe acks travel on
// the same connection as its replication: behind a 64 MiB frame they arrive seconds late on a
// loaded machine, and the probe looks unanswered although the peer is alive and its bytes keep
// coming. So the code that reads the connections (the frame guard for those the peer dialed,
// the dialed TLS sessions' SSL_read for those this node dialed) notes every read that advanced a
// frame still incomplete, and SWIM counts a suspicion of that peer from its last such read.
//
// Only frames in progress count, not every byte: CAF's heartbeats and small messages keep
// flowing from a process whose actors do not answer (or whose requests an injected fault drops),
// and they must not hide it. Peers are named by their certificate's CN (tools/certs gives a node
// the CN of its name); plaintext connections carry no name and note nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace actorkv::frame_progress {

using clock = std::chrono::steady_clock;

/// Frames of at most this many payload bytes never count: they cross a connection in one piece.
constexpr uint64_t large_frame_bytes = 64 * 1024;

namespace detail {

// Header-only, so that the frame guard, the client library's TLS hooks and the node share one
// table without another library between them: an inline function's static is one per program.
struct table {
  std::mutex mutex;
  std::map<std::string, std::atomic<int64_t>*, std::less<>> slots;
  std::deque<std::atomic<int64_t>> storage; ///< never moves its elements
};

inline table& the_table() {
  static auto* t = new table; // never destroyed: readers may run while the process exits
  return *t;
}

} // namespace detail

/// The slot of peer `name`, for the reader of its connections to keep: the same one for the
/// process's life (one per member, never freed). Thread-safe.
inline std::atomic<int64_t>& slot(const std::string& name) {
  auto& t = detail::the_table();
  std::lock_guard<std::mutex> lock{t.mutex};
  auto it = t.slots.find(name);
  if (it != t.slots.end())
    return *it->second;
  auto& s = t.storage.emplace_back(0);
  t.slots.emplace(name, &s);
  return s;
}

/// A frame from the slot's peer advanced just now.
inline void note(std::atomic<int64_t>& slot) {
  slot.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

/// When a frame from `name` last advanced; nullopt if never. Thread-safe.
inline std::optional<clock::time_point> last(const std::string& name) {
  auto& t = detail::the_table();
  std::lock_guard<std::mutex> lock{t.mutex};
  auto it = t.slots.find(name);
  if (it == t.slots.end())
    return std::nullopt;
  auto ticks = it->second->load(std::memory_order_relaxed);
  if (ticks == 0)
    return std::nullopt;
  return clock::time_point{clock::duration{ticks}};
}

} // namespace actorkv::frame_progress
