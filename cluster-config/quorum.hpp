// The coordinator's tallies of one get and one put or delete: when to reply, with what, and (for
// a get) which replicas read repair must bring up to date.
//
// Pure state machines fed the replicas' answers one at a time, in the order they arrive; no
// actors, clocks or I/O. Each reply is decided at the answer that makes it due (so a get's reply
// merges exactly the answers in by then) and handed out once by take_reply(); answers after it
// change no reply. Preconditions, as the coordinator guarantees by refusing with
// too_few_replicas() first: at least R replicas asked for a get, at least W targets for a write,
// and each replica's outcome reported once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/client.hpp"
#include "messages/dvv.hpp"
#include "messages/record.hpp"
#include "messages/replication.hpp"

namespace actorkv {

/// A get against R: which of the asked home replicas answered what; when to reply, with what, and
/// which replicas to repair.
class read_tally {
public:
  /// `asked` home replicas (>= `read_quorum`) were asked; `replicas_total` is N, for the texts;
  /// the reply's context is bound to `scope` (the key's, in this instance); values that expired
  /// by `now_us` (the coordinator's wall clock when the read started) read as deleted.
  read_tally(uint32_t asked, uint32_t read_quorum, uint32_t replicas_total, conflict_mode conflicts,
             dvv::context_scope scope, int64_t now_us);

  /// Replica `index` (0..asked-1), named `node`, answered. A repeated or out-of-range index is
  /// ignored.
  void answered(size_t index, const std::string& node, replica_read answer);

  /// Replica `index` failed (an error, a timeout): it neither counts towards R nor gets repaired.
  /// `err` is why; when R is out of reach and a replica failed as ec::overloaded (its memory
  /// budget, or this node's, had no room for the answer), the get is `overloaded` too: nothing
  /// was lost, retry shortly.
  void failed(size_t index, const caf::error& err = caf::error{});

  /// The reply once due, exactly once (nullopt before, and after it was taken). At R answers: the
  /// merged record as get_reply (found == false when no replica holds the key;
  /// ec::corrupt_record naming the replicas when only damaged copies answered). Once R is out of
  /// reach: ec::unavailable "A of N replicas answered, R needed", or ec::overloaded with the same
  /// figures and the first refusal's text when a replica failed as overloaded.
  std::optional<caf::expected<get_reply>> take_reply();

  /// Whether every asked replica answered or failed: read repair is due.
  bool complete() const;

  /// Replicas that answered with a stale, missing or corrupt copy, in the order they answered:
  /// read repair sends them merged(). Empty when no replica holds the key (nothing to repair
  /// with). Replicas that failed are not listed.
  std::vector<size_t> stale() const;

  /// Every intact copy that answered, merged.
  const record& merged() const { return merged_; }

private:
  void decide();

  uint32_t asked_;
  uint32_t read_quorum_;
  uint32_t replicas_total_;
  conflict_mode conflicts_;
  dvv::context_scope scope_;
  int64_t now_us_;
  uint32_t answered_ = 0;
  uint32_t failed_ = 0;
  caf::error overloaded_;     ///< the first failure as ec::overloaded
  std::vector<bool> settled_; ///< by index: its outcome is in
  bool decided_ = false;
  std::optional<caf::expected<get_reply>> reply_; ///< decided, not yet taken
  record merged_;
  bool any_found_ = false;
  std::vector<std::string> corrupt_at_;                  ///< replicas holding a damaged copy
  std::vector<std::pair<size_t, replica_read>> answers_; ///< (index, answer), in arrival order
};

/// A put or delete against W over the plan's replicas 0..targets-1: first one coordinating
/// replica stores the write (and stamps it), the next one if it fails; then the replicas after
/// it get the record (merged at home replicas, held as hints at fallbacks), each ack counting.
class write_tally {
public:
  /// `targets` (>= `write_quorum`) replicas to write to; `replicas_total` is N, for the texts.
  write_tally(uint32_t targets, uint32_t write_quorum, uint32_t replicas_total);

  /// Replica `index` is asked to coordinate: it and every replica after it may still acknowledge.
  /// Nothing is decided until it answers.
  void coordinating(size_t index);

  /// The replica coordinating (or last asked to).
  size_t coordinator() const { return coordinator_; }

  /// The coordinating replica stored it (an ack); the replicas after it (coordinator() + 1 ..
  /// targets - 1) are asked next, each to answer with acked() or failed().
  void coordinated();

  /// The coordinating replica failed with `err`: returns the next replica to ask to coordinate
  /// (already counted as coordinating), or nullopt when none is left (then the write has failed).
  /// A refusal (is_refusal) ends the write: the next replica would refuse it too, or accept it
  /// only because its copy of the key is behind.
  std::optional<size_t> coordinator_failed(caf::error err);

  /// A replica after the coordinating one acknowledged.
  void acked();

  /// A replica after the coordinating one failed with `err`.
  void failed(caf::error err);

  /// The reply once due, exactly once (nullopt before, and after it was taken): write_reply{acks}
  /// at W acks; once W is out of reach ec::maybe_applied when a replica stored it or may have
  /// (see may_have_applied), else the refusal itself when the coordinating replica refused it,
  /// else ec::overloaded when every failure was ec::overloaded (replicas out of memory budget),
  /// else ec::unavailable, with the text "A of N replicas stored it, W needed (last failure:
  /// ...)".
  std::optional<caf::expected<write_reply>> take_reply();

private:
  void decide();
  void settle_one(); ///< one of the replicas after the coordinating one answered
  void note_failure(const caf::error& err);

  uint32_t targets_;
  uint32_t write_quorum_;
  uint32_t replicas_total_;
  size_t coordinator_ = 0;
  bool coordinating_ = false; ///< a coordinating replica's answer is awaited
  uint32_t acks_ = 0;
  uint32_t outstanding_ = 0; ///< replicas that may still acknowledge
  bool uncertain_ = false;   ///< a replica may have stored it without acknowledging
  uint32_t failures_ = 0;    ///< replicas that failed it
  uint32_t overloaded_ = 0;  ///< of which with ec::overloaded
  caf::error last_error_;
  caf::error refusal_; ///< the coordinating replica refused the write as sent
  bool decided_ = false;
  std::optional<caf::expected<write_reply>> reply_; ///< decided, not yet taken
};

/// Whether a failed replica request leaves open that the replica applied the write: it timed
/// out (caf::sec::request_timeout) or its receiver went away (caf::sec::request_receiver_down).
bool may_have_applied(const caf::error& err);

/// Whether a coordinating replica refused a write as sent: a context naming writes it never made
/// (ec::bad_context), or what the write would do to its key (ec::too_many_siblings,
/// ec::record_too_large). Nothing was stored, and another replica must not be asked to
/// coordinate it: not knowing this one's counters or holding an older copy, it would take it.
bool is_refusal(const caf::error& err);

/// ec::unavailable "A of N replicas reachable, X needed": too few replicas to start a get
/// (X = R) or a write (X = W).
caf::error too_few_replicas(size_t reachable, uint32_t replicas_total, uint32_t needed);

/// What a client sees of a record at `now_us`: its visible values (identical bytes shown once;
/// dvv::visible: no tombstones, no expired values), found when there is one, and its context
/// bound to `scope` (so a deleted or expired key still carries the context that supersedes it).
get_reply to_reply(const record& rec, const dvv::context_scope& scope, int64_t now_us);

} // namespace actorkv
