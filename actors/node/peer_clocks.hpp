// What a failure detector learns of clocks from its probes' answers, whichever way it probes
// (phi accrual, SWIM): each peer's wall-clock offset from this node's (cluster-config/clock.hpp
// offset_filter), whether this node's clock or a peer's is off by more than max_clock_skew (for
// status, and logged at most once a minute while it lasts), and this node's hybrid clock, which
// follows every answer's. Plain state owned by the detector actor; time as a parameter.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "actors/node/wall_clock.hpp"
#include "messages/interfaces.hpp"

namespace actorkv {

class peer_clocks {
public:
  using time_point = std::chrono::steady_clock::time_point;

  peer_clocks(std::string node, std::shared_ptr<node_clock> clock,
              std::chrono::milliseconds max_clock_skew);

  /// This node's clocks, to answer a probe with.
  clock_reading reading() const;
  /// This node's wall clock now, to stamp a probe with when it is sent.
  int64_t wall() const { return clock_->wall(); }
  /// A probe of `peer` sent at `sent_us` (wall()) was answered with `reading`.
  void answered(const std::string& peer, int64_t sent_us, const clock_reading& reading);
  /// Forgets what the probes said of `peer` (a new connection: maybe a new process).
  void reset(const std::string& peer);
  /// Whether the detector counts `peer` as up: only up peers' clocks count.
  void set_up(const std::string& peer, bool up);

  /// What the probes say of the clocks of this node and of the up peers.
  clock_report status() const;
  /// Logs what is off with the clocks: this node's, or else the peers' that are. Once when it
  /// starts, again when other nodes are off or after a minute, once when it is over.
  void check(time_point now);

private:
  struct peer {
    offset_filter filter{};
    bool up = true;
  };

  std::string node_;
  std::shared_ptr<node_clock> clock_;
  std::chrono::milliseconds max_clock_skew_;
  std::map<std::string, peer> peers_;
  std::string off_; ///< whose clock the last warning named; empty: nobody's is off
  time_point warned_at_{};
};

} // namespace actorkv
