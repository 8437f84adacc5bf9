// Bounds on what a client write may leave its key holding ([limits] max_siblings,
// sibling_warning and max_record_bytes): pure checks, no actors, clocks or I/O.
//
// Where they apply: at the replica that coordinates a client's put or delete (storage's `coord`
// call), between dvv::update and storing its result. That replica is the first to store the
// write, and every other replica gets it only as a merge of the record the coordinating replica
// returns, so a write refused there is stored nowhere; and it is refused as the client sent it,
// so the coordinator does not ask another replica to coordinate it instead (write_tally).
//
// Merges (replication, read repair, hinted handoff, partition handoff, anti-entropy) are never
// checked: refusing one would strand or lose a write already acknowledged. So a key can still
// pass the limits through merges: writes coordinated at the same time by different replicas are
// each checked against that replica's copy only, and a fallback (no home replica reachable)
// holds no copy of the key at all. The next client write that does not resolve the siblings is
// then refused; one with the context of a read resolves them and is accepted.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include <caf/error.hpp>

#include "messages/record.hpp"
#include "messages/replication.hpp"

namespace actorkv {

/// What max_record_bytes counts: the bytes of the record's sibling values (tombstones hold none).
/// Dots, timestamps and the context are left out: they are small, bounded by the sibling count,
/// and covered by the frame overhead (manifest.hpp).
uint64_t record_value_bytes(const record& r);

/// The refusal of a client write that would turn the key's record `before` into `after`, or
/// none: ec::too_many_siblings when `after` holds more than limits.max_siblings siblings,
/// ec::record_too_large when its values take more than limits.max_record_bytes. A limit of 0 is
/// not checked. Only `after` decides (a write that resolves some siblings but still leaves too
/// many is refused: the client's context was stale); `before` is there for the texts, which say
/// how many siblings (or bytes) the key holds and would hold, and how to resolve them (read,
/// then write with the context of that read).
caf::error check_client_write(const record& before, const record& after,
                              const write_limits& limits);

/// The warning a write's reply carries when it left `siblings` siblings, more than
/// `sibling_warning` (refused beyond `max_siblings`); "" otherwise. A limit of 0 is none.
std::string sibling_warning_text(size_t siblings, uint32_t sibling_warning, uint32_t max_siblings);

/// Decides which warnings reach the log: at most one per key per `interval`, so that a client
/// writing one key in a loop does not flood it. Remembers at most `max_keys` keys (the oldest
/// warnings are forgotten first), so its memory is bounded however many keys warn.
class warning_throttle {
public:
  using time_point = std::chrono::steady_clock::time_point;

  explicit warning_throttle(std::chrono::milliseconds interval = std::chrono::minutes{1},
                            size_t max_keys = 1024);

  /// Whether a warning about `key` at `now` should be logged; if so, it counts as logged.
  bool due(const bytes& key, time_point now);

private:
  std::chrono::milliseconds interval_;
  size_t max_keys_;
  std::map<bytes, time_point> last_; ///< when each key's last warning was logged
};

} // namespace actorkv
