// actorkv's one error vocabulary, registered with CAF as the category "actorkv".
//
// Every failure a client or peer can see is one of these codes plus a human-readable context
// string: `caf::make_error(ec::value_too_large, "value is 1048577 bytes, the limit is 1048576")`.
// Storage returns `caf::expected<T>`, handlers return `caf::result<T>`; nothing throws across an
// actor boundary. Codes are part of the wire protocol: append, never renumber.
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace actorkv {

enum class ec : uint8_t {
  none = 0,
  unavailable,       ///< too few replicas reachable for the requested quorum
  maybe_applied,     ///< quorum not reached, but some replicas stored the write
  timeout,           ///< no answer within the request's deadline
  empty_key,         ///< keys must hold at least one byte
  key_too_large,     ///< key exceeds the manifest's limits.max_key_bytes
  value_too_large,   ///< value exceeds the manifest's limits.max_value_bytes
  bad_context,       ///< a context that does not decode, or of another key or instance
  corrupt_record,    ///< a stored record failed its checksum or did not decode
  storage_failure,   ///< the storage engine failed (I/O error, disk full, ...)
  manifest_invalid,  ///< the cluster manifest is malformed
  settings_mismatch, ///< the manifest's [store] differs from what the instance was created with
  peer_mismatch,     ///< a peer runs with different instance settings
  // 13 is retired (it was shutting_down, which nothing ever produced).
  bad_request = 14,       ///< a request that cannot be served as sent
  forbidden,              ///< the caller's certificate (or token) carries no role that allows it
  too_many_siblings = 16, ///< a write would leave its key more siblings than limits.max_siblings
  record_too_large = 17,  ///< a write would leave its key's values above limits.max_record_bytes
  overloaded = 18,        ///< the node's memory budget for requests in flight is spent; nothing
                          ///< was stored: retry shortly
};

/// The code's name, e.g. "unavailable".
std::string to_string(ec code);

/// Renders an actorkv error for people: "unavailable: 1 of 3 replicas reachable, 2 needed".
/// Returns CAF's rendering for errors of other categories.
std::string describe(const caf::error& err);

} // namespace actorkv

CAF_ERROR_CODE_ENUM(actorkv::ec, "actorkv")
