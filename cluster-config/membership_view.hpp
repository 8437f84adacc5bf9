// Pure operations on the gossiped cluster view (messages/membership.hpp).
//
// merge() is deterministic, commutative, associative and idempotent: per member name the entry
// with the higher version wins; on equal versions the later state (removed > leaving > valid),
// then the larger incarnation, then the larger capacity, then host and port decide, so every node
// that has seen the same entries holds the same view whatever order gossip brought them in.
#pragma once

#include <string>

#include "cluster-config/manifest.hpp"
#include "messages/membership.hpp"

namespace actorkv {

/// The view a node starts from: every node of the manifest, valid, version 0.
membership_view view_from_manifest(const manifest& m);

/// The reconciliation of two views (see the header comment).
membership_view merge(const membership_view& a, const membership_view& b);

/// Inserts or replaces the entry of `info.name`, keeping the view sorted.
void upsert(membership_view& view, const member_info& info);

/// The entry named `name`, or nullptr.
const member_info* find_member(const membership_view& view, const std::string& name);

/// Whether the views hold the same entries.
bool operator==(const membership_view& a, const membership_view& b);
inline bool operator!=(const membership_view& a, const membership_view& b) {
  return !(a == b);
}

/// A short fingerprint of the view (e.g. for status: equal on every node once gossip converged).
uint64_t fingerprint(const membership_view& view);

} // namespace actorkv
