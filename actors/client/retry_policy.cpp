#include "actors/client/retry_policy.hpp"

#include <algorithm>

#include "messages/error.hpp"

namespace actorkv {

bool nothing_stored_elsewhere_may_serve(const caf::error& err) {
  // overloaded: the node's memory budget refused the write before any replica got it, or a get's
  // answers (nothing changed).
  return err == ec::unavailable || err == ec::overloaded;
}

bool may_retry_elsewhere(client_call_kind kind, attempt_end how, const caf::error& err) {
  switch (how) {
  case attempt_end::answered:
    return nothing_stored_elsewhere_may_serve(err);
  case attempt_end::node_gone:
  case attempt_end::silent:
    return kind == client_call_kind::get;
  }
  return false;
}

void endpoint_attempts::tried(size_t index) {
  if (!was_tried(index))
    tried_.push_back(index);
}

bool endpoint_attempts::was_tried(size_t index) const {
  return std::find(tried_.begin(), tried_.end(), index) != tried_.end();
}

bool gone_silent(std::chrono::nanoseconds since_heard, std::chrono::nanoseconds since_oldest_sent,
                 std::chrono::milliseconds silence_timeout) {
  return std::min(since_heard, since_oldest_sent) >= silence_timeout;
}

} // namespace actorkv
