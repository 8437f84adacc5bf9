// When the client actor asks another node: its retry decisions as pure functions, free of actors
// and clocks (times are parameters), unit-tested directly (tests/actors/client/test_retry_policy).
//
// A get, put or delete goes to the client's current node first. How its attempt there ends
// decides whether it may be asked of another node, within the request's one deadline, each known
// endpoint at most once:
// - the node answered with a code that says it did nothing with the call and another node may
//   do better (nothing_stored_elsewhere_may_serve): any call, a write included;
// - the node went away, or went silent (no answer, not even to probes, for silence_timeout), with
//   the call in flight: a get only. A write may have been stored there: it fails with
//   ec::maybe_applied (gone) or ec::timeout (silent) and is never sent twice.
// Everything else (a refusal such as bad_context, maybe_applied, timeout, a success) is the answer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <caf/error.hpp>

#include "messages/client.hpp"

namespace actorkv {

/// How one attempt of a call at one node ended, when it did not end with a usable answer.
enum class attempt_end {
  answered,  ///< the node answered with an error (its code decides)
  node_gone, ///< the connection to the node broke while the call was in flight
  silent,    ///< the node answered nothing, probes included, for silence_timeout
};

/// Whether an answer with `err` guarantees that the node stored nothing and that another node may
/// serve the call: ec::unavailable (too few replicas reachable from that node, nothing sent to any
/// replica or every replica asked said it stored nothing; or the node is starting) and
/// ec::overloaded (its memory budget refused the call before any replica got it, or, for a get, had
/// no room for the replicas' answers: a read changes nothing).
bool nothing_stored_elsewhere_may_serve(const caf::error& err);

/// Whether a call of `kind` whose attempt ended as `how` (with `err` when answered) may be sent
/// to another node. A read changes nothing, so a lost one may go elsewhere; a write only on an
/// answer that guarantees nothing was stored.
bool may_retry_elsewhere(client_call_kind kind, attempt_end how, const caf::error& err = {});

/// The endpoints one call has been sent to (or could not be taken to), and where it goes next.
class endpoint_attempts {
public:
  /// Endpoint `index` (of the client's list) was tried.
  void tried(size_t index);

  bool was_tried(size_t index) const;

  /// How many distinct endpoints were tried.
  size_t count() const { return tried_.size(); }

  /// The next endpoint to try out of `endpoints` (the list may have grown since the call
  /// started): the first after `after` in list order, wrapping around, that was not tried and that
  /// `usable(index)` accepts; nullopt when none is left.
  template <class Usable>
  std::optional<size_t> next(size_t endpoints, size_t after, Usable usable) const {
    for (size_t step = 1; step <= endpoints; ++step) {
      auto i = (after + step) % endpoints;
      if (!was_tried(i) && usable(i))
        return i;
    }
    return std::nullopt;
  }

private:
  std::vector<size_t> tried_;
};

/// Whether a node with calls in flight has gone silent: nothing (answers, or replies to the probes
/// the client sends every second while calls wait) came from it for `silence_timeout` since it
/// was last heard from or since its oldest call in flight was sent, whichever is later.
bool gone_silent(std::chrono::nanoseconds since_heard, std::chrono::nanoseconds since_oldest_sent,
                 std::chrono::milliseconds silence_timeout);

/// After how many consecutive unavailable answers of its current node the client makes the node
/// that then served the call its current one: a node cut off from its peers (or one that reaches
/// too few replicas) would otherwise cost every call a second hop, while a node that cannot serve
/// a few keys (a partition leaves some keys on each side) keeps its clients.
constexpr uint32_t move_after_unavailable = 3;

/// The current node's run of unavailable answers (see move_after_unavailable).
class unavailable_streak {
public:
  /// The current node answered a call: unavailable (nothing_stored_elsewhere_may_serve) or not.
  void answered(bool unavailable) { run_ = unavailable ? run_ + 1 : 0; }

  /// A call it answered unavailable was then served by another node: whether that node should
  /// become the current one.
  bool move_to_the_other() const { return run_ >= move_after_unavailable; }

  /// A new current node starts afresh.
  void reset() { run_ = 0; }

private:
  uint32_t run_ = 0;
};

} // namespace actorkv
