// What the frame guard knows of the processes connected to its node, for the node: when each
// last sent a message (a frame other than CAF's heartbeat), and which processes' connections the
// node wants closed. Shared between the guard's thread and the node actor: thread-safe.
//
// The node closes the connections of peers it no longer exchanges data with (actors/node/
// peers.cpp, "Idle connections"). It cannot do so itself: CAF 0.17 has no call to close one
// connection, and CAF's heartbeats keep every connection busy at the byte level. The guard sees
// each frame's header on the answering side, so it tells messages from heartbeats.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "cluster-config/access.hpp"

namespace actorkv {

class link_activity {
public:
  using clock = std::chrono::steady_clock;

  struct process_use {
    process_identity process;
    clock::time_point last_message; ///< the latest across the process's connections
  };

  /// The guard: the processes connected now (replaces what it published before).
  void publish(std::vector<process_use> connected) {
    std::lock_guard<std::mutex> lock{mutex_};
    connected_ = std::move(connected);
  }

  /// The node: the connected processes that sent no message for at least `quiet`, as the guard
  /// last published (at most a sweep period old: a second).
  std::vector<process_identity> quiet_for(clock::duration quiet) const {
    auto before = clock::now() - quiet;
    std::lock_guard<std::mutex> lock{mutex_};
    std::vector<process_identity> out;
    for (auto& p : connected_)
      if (p.last_message <= before)
        out.push_back(p.process);
    return out;
  }

  /// A request to close the connections `process` opened before `opened_before`.
  struct closing {
    process_identity process;
    clock::time_point opened_before;
  };

  /// The node: close the connections of `who` open now (the guard does at once). One the process
  /// opens after this call stays: a peer dialing again as soon as it let go is not cut off.
  void close(const process_identity& who) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto now = clock::now();
    auto c = std::find_if(closing_.begin(), closing_.end(),
                          [&](const closing& x) { return x.process == who; });
    if (c != closing_.end())
      c->opened_before = now;
    else
      closing_.push_back({who, now});
    if (wake_)
      wake_(); // under the lock: on_close({}) waits for it before the guard closes its descriptor
  }

  /// The guard: how to make it take the requests at once (a non-blocking write).
  void on_close(std::function<void()> wake) {
    std::lock_guard<std::mutex> lock{mutex_};
    wake_ = std::move(wake);
  }

  /// The guard: the connections to close now.
  std::vector<closing> take_closes() {
    std::lock_guard<std::mutex> lock{mutex_};
    return std::exchange(closing_, {});
  }

private:
  mutable std::mutex mutex_;
  std::vector<process_use> connected_;
  std::vector<closing> closing_;
  std::function<void()> wake_;
};

} // namespace actorkv
