// Time across nodes, as pure logic: wall-clock readings come in as arguments, nothing here reads
// a clock or talks to an actor.
//
// hybrid_clock stamps last-writer-wins writes. A node's wall clock alone cannot: a node whose
// clock runs ahead stamps writes that beat every later write made through correct nodes until
// real time catches up, and those later writes are acknowledged, then silently lost. A hybrid
// logical clock (Kulkarni et al., "Logical Physical Clocks", 2014) keeps the physical meaning of
// a timestamp while following causality: every timestamp a node sees (records it reads or
// stores, the clocks its peers show in probe answers) advances its clock, and every timestamp it
// hands out is above all of them. So a write through a node orders after every version that node
// has seen, whatever the wall clocks say.
//
// The timestamp stays one int64 of microseconds since the Unix epoch (record.hpp's
// sibling::timestamp_us, write_op::timestamp_us), so the record format, the wire and stored data
// are unchanged. The logical counter is folded into the microseconds: now() is
// max(wall, last + 1), so a logical tick borrows one microsecond. That costs nothing in practice:
// a node would have to stamp more than one write per microsecond, sustained, for its clock to
// drift ahead of its wall clock by itself.
//
// peer offsets: how far each peer's wall clock is from this node's, estimated from the probes
// the failure detector sends anyway (Cristian's algorithm: the peer reads its clock somewhere
// within the round trip, so the estimate is off by at most half of it), and whether this node's
// clock is skewed beyond the manifest's [timeouts] max_clock_skew_ms.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace actorkv {

/// A hybrid logical clock over int64 microseconds. Thread-safe and lock-free: the coordinator,
/// the storage actor (its own thread) and the failure detector of one node share one, and each
/// call is one compare-and-swap loop on an atomic.
class hybrid_clock {
public:
  /// How far ahead of this node's wall clock an observed timestamp may carry the clock: one hour.
  ///
  /// Why bounded at all: a timestamp from a broken clock (a wrong date, years ahead) or a damaged
  /// one near the end of int64 would otherwise carry every node's clock along for good: each new
  /// write would then advance by a microsecond rather than by real time, and at the end of int64
  /// writes could no longer be ordered after it at all. Why not bounded by max_clock_skew_ms
  /// (a second by default): that only decides when to warn; a clock minutes off is exactly the
  /// case the hybrid clock is for, and bounding by it would lose the writes it should save. An
  /// hour covers every skew that comes from drift, a missed NTP sync or a clock stepped by
  /// hand, while a clock hours or days off is broken rather than skewed: the clock then goes only
  /// as far as the bound, that node's writes win over others' until real time catches up (as
  /// with plain wall-clock timestamps), and the skew warning tells the operator.
  static constexpr int64_t default_max_lead_us = int64_t{3600} * 1000 * 1000;

  explicit hybrid_clock(int64_t max_lead_us = default_max_lead_us);
  hybrid_clock(const hybrid_clock&) = delete;
  hybrid_clock& operator=(const hybrid_clock&) = delete;

  /// A timestamp for a new write: at least `wall_us` and above every timestamp this clock handed
  /// out or observed before (max(wall, last + 1)); monotonic even when the wall clock goes back.
  int64_t now(int64_t wall_us);

  /// What now() would at least return, without advancing the clock (max(wall, last)): the value a
  /// node shows its peers.
  int64_t peek(int64_t wall_us) const;

  /// Advances the clock to `ts`, a timestamp seen elsewhere, but never beyond `wall_us` plus the
  /// bound: returns false when `ts` was beyond it (the clock went only as far as the bound).
  bool observe(int64_t ts, int64_t wall_us);

  int64_t max_lead_us() const { return max_lead_us_; }

private:
  std::atomic<int64_t> last_;
  int64_t max_lead_us_;
};

/// One probe of a peer, by this node's wall clock: sent at `sent_us`, answered at `received_us`;
/// the peer read `peer_wall_us` from its own wall clock in between.
struct clock_probe {
  int64_t sent_us = 0;
  int64_t peer_wall_us = 0;
  int64_t received_us = 0;
};

/// A peer's wall clock relative to this node's: `offset_us` = peer minus this node (positive: the
/// peer is ahead), off by at most `error_us`.
struct clock_offset {
  int64_t offset_us = 0;
  int64_t error_us = 0;
};

/// Cristian's estimate from one probe: the peer's reading against the middle of the round trip,
/// off by at most half the round trip.
clock_offset offset_of(const clock_probe& probe);

/// A peer's offset from its recent probes: of the last `window`, the one with the shortest round
/// trip, whose error bound is the smallest (NTP's clock filter). One probe held up by a busy
/// machine or an injected delay then does not move the estimate. A probe answered "before" it was
/// sent (this node's wall clock stepped back meanwhile) is ignored.
class offset_filter {
public:
  offset_filter() = default;
  explicit offset_filter(size_t window);
  void add(const clock_probe& probe);
  /// Nothing before the first probe.
  std::optional<clock_offset> estimate() const;

private:
  size_t window_ = 8;
  /// The last `window_` estimates, oldest at head_ once full: a vector of at most window_
  /// entries (a deque took about 600 bytes even for one, and a node keeps a filter per peer).
  std::vector<clock_offset> recent_;
  size_t head_ = 0;
};

/// Whether a peer's offset exceeds `limit_us` even at the most favourable end of its error bound.
bool beyond(const clock_offset& offset, int64_t limit_us);

/// How far this node's wall clock is from its peers'.
struct skew_verdict {
  int64_t skew_us = 0;  ///< this node minus its peers (positive: ahead); 0 without estimates
  int64_t error_us = 0; ///< the error bound of the estimate it comes from
  bool skewed = false;  ///< this node's clock is the one that is off (see own_skew)
};

/// This node's skew from the peers' offsets (each peer minus this node): the median of what they
/// say of this node, so that one skewed peer does not make a correct node look skewed; of an even
/// number, the middle value nearer to 0. Skewed when that is beyond `limit_us` even at the
/// favourable end of its error bound, and at least two peers were measured: of two clocks that
/// disagree, neither can tell which is wrong (a node that has just started and reached one peer,
/// a cluster of two), so then only the peer is reported (beyond()).
skew_verdict own_skew(const std::vector<clock_offset>& peers, int64_t limit_us);

} // namespace actorkv
