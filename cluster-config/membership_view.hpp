// Pure operations on the gossiped cluster view (messages/membership.hpp).
//
// merge() is deterministic, commutative, associative and idempotent: per member name the entry
// with the higher version wins; on equal versions the later state (removed > leaving > valid),
// then the larger incarnation, then the larger capacity, then host and port decide, so every node
// that has seen the same entries holds the same view whatever order gossip brought them in.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "cluster-config/manifest.hpp"
#include "cluster-config/ring.hpp"
#include "messages/membership.hpp"

namespace actorkv {

/// The view a node starts from: every node of the manifest, valid, version 0, with the ring the
/// manifest describes at epoch 0.
membership_view view_from_manifest(const manifest& m);

/// The reconciliation of two views (see the header comment). Ring layouts: the higher epoch wins;
/// on equal epochs, equal layouts unite their finished transfers, and of two different changes
/// (made concurrently on two nodes) the one ordering later wins, on every node alike.
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

/// The ring the view's owners describe (capacities from the members' entries).
ring current_ring(const membership_view& view);

/// The ring a change under way leads to, or nullopt when none runs.
std::optional<ring> next_ring(const membership_view& view);

/// Whether `name` has left the cluster: it was asked to leave (state leaving), no change is under
/// way, and the ring in force gives it no partition. It may still be delivering its hints; once
/// they are out it stops, and a restart from its data directory refuses to serve.
bool has_left(const membership_view& view, const std::string& name);

/// The members no write is meant for any more, in name order: those removed, and those that have
/// left (has_left: their handoff finished). Hints held for them can never be delivered.
std::vector<std::string> departed_members(const membership_view& view);

/// Every transfer the change under way needs with N = `replicas` (done or not); empty when none.
std::vector<partition_transfer> transfers_needed(const membership_view& view, uint32_t replicas);

/// When every transfer of the change under way is done: the next owners become the owners, the
/// epoch advances, and true is returned. Deterministic, so every node promotes alike.
bool promote_if_complete(membership_view& view, uint32_t replicas);

/// An admin's membership change: `action` is "join" (subject HOST:PORT of a node started with
/// kvnode --join), "leave" (subject a live member's name: it hands its partitions off, then stops)
/// or "remove" (subject a member's name, usually dead: the others re-replicate its partitions).
/// Returns the view with the member's new state (its version raised to at least `now_version`;
/// for a removal to the largest version, so that the name is retired for good)
/// and the rebalanced ring as next owners, or ec::bad_request saying why the change cannot be
/// made (unknown member, a handoff still running, fewer nodes than replicas would remain).
caf::expected<membership_view> apply_change(const membership_view& view, const std::string& action,
                                            const std::string& subject, uint32_t replicas,
                                            uint64_t now_version);

/// What going from `before` to `after` (a view from apply_change) moves, as a table for people:
/// partitions per node before and after, each node's share of partitions against its share of
/// capacity, and how many partitions change owner and how many copies stream.
std::string describe_change(const membership_view& before, const membership_view& after,
                            uint32_t replicas);

/// A text encoding of the view, for keeping it in a node's data directory, and its inverse
/// (nullopt for text that is not an encoded view).
std::string encode_view(const membership_view& view);
std::optional<membership_view> decode_view(const std::string& text);

/// Empty when `theirs` (received from a peer) is in this build's membership_format; else why it
/// is refused, for the log. A view in another format is never merged.
std::string format_refusal(const membership_view& theirs);

/// A short fingerprint of the view (e.g. for status: equal on every node once gossip converged).
uint64_t fingerprint(const membership_view& view);

} // namespace actorkv
