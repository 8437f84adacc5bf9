// Pure operations on the gossiped cluster view (messages/membership.hpp).
//
// merge() is deterministic, commutative, associative and idempotent: per member name the entry
// with the higher version wins; on equal versions the later state (removed > leaving > valid),
// then the larger incarnation, then the larger capacity, then host and port decide, so every node
// that has seen the same entries holds the same view whatever order gossip brought them in.
//
// Retired replica ids (membership_view::retired) form a grow-only set: merge unites both sides'
// sets, and every operation that puts an entry in place of another of a different incarnation
// (merge, upsert, apply_delta, apply_change) retires the replaced incarnation, as it retires the
// incarnation of an entry that says removed. Ids never come back out, so any two nodes that have
// gossiped hold the same set. An entry of a retired incarnation that does not say removed is over
// (a copy kept by a node that was away while its member was removed, purged and its tombstone
// dropped): merge and apply_delta drop it, so such a node cannot bring the member back. A member
// that never announced itself has no incarnation to retire: see placeholders_unknown_to.
#pragma once

#include <map>
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

/// The reconciliation of two views (see the header comment; a tombstone outranks every entry
/// of its member up to its version, and is dropped for an entry of a higher one). Ring layouts:
/// the higher epoch wins;
/// on equal epochs, equal layouts unite their finished transfers, and of two different changes
/// (made concurrently on two nodes) the one ordering later wins, on every node alike.
membership_view merge(const membership_view& a, const membership_view& b);

/// Inserts or replaces the entry of `info.name`, keeping the view sorted; retires the replaced
/// entry's incarnation if `info` has another, and `info`'s if it says removed.
void upsert(membership_view& view, const member_info& info);

/// Adds `id` to the sorted set `ids` (0, the id of no write, is never added); whether it was new.
bool retire(std::vector<uint64_t>& ids, uint64_t id);

/// The union of two sorted sets of retired ids.
std::vector<uint64_t> unite_retired(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

/// The replica ids whose version-vector entries may be pruned: the view's retired ids, less the
/// incarnation of any member not removed (by design never one of them; should a copied data
/// directory ever bring an old id back, its entries stay). Sorted.
std::vector<uint64_t> prunable_ids(const membership_view& view);

/// The size and stamp of a set of retired ids, as view_digest carries them.
retired_digest retired_digest_of(const std::vector<uint64_t>& ids);

/// The entry named `name`, or nullptr (a binary search: members are sorted by name).
const member_info* find_member(const membership_view& view, const std::string& name);

/// The tombstone of the purged member `name`, or nullptr.
const member_tombstone* find_tombstone(const membership_view& view, const std::string& name);

/// Placeholders are a manifest's entries of members that never announced themselves (version
/// and incarnation 0). Every view started from the manifest or fetched from a member names every
/// member, or its tombstone, so a peer's view that lacks a placeholder's name lost it with the
/// tombstone: the member was removed and purged. These are the names of `view`'s placeholders
/// that the peer's digest `theirs` lacks.
std::vector<std::string> placeholders_unknown_to(const membership_view& view,
                                                 const view_digest& theirs);

/// Drops the placeholders among `names` (names a peer lacks: from its digest, or the names its
/// answer wants) from `view`; returns the names dropped. apply_delta does not take a placeholder
/// in for a name the view holds nothing of.
std::vector<std::string> drop_placeholders(membership_view& view,
                                           const std::vector<std::string>& names);

/// Whether `name` was removed from the cluster: its entry says removed, or only its tombstone
/// is left.
bool was_removed(const membership_view& view, const std::string& name);

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

/// The members no write is meant for any more, in name order: those removed (tombstones
/// included), and those that have left (has_left: their handoff finished). Hints held for them
/// can never be delivered.
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

/// The format an encoded view says it is in (its first line), or nullopt when it says none: a
/// view kept by a later release is told apart from damaged text.
std::optional<uint32_t> kept_view_format(const std::string& text);

/// Empty when `theirs` (received from a peer) is in this build's membership_format; else why it
/// is refused, for the log. A view in another format is never merged.
std::string format_refusal(const membership_view& theirs);
std::string format_refusal(uint32_t format);

// Gossip of digests. A round between A (who starts it) and B:
//   A -> B  digest_of(A)                      O(members) bytes, no ring
//   B -> A  answer_digest(B, A's digest)      the entries A lacks or holds older, the names B
//                                             wants, a ring part when the rings differ
//   A       apply_delta(A, answer)            O(entries received), + O(Q) when a ring came
//   A -> B  fulfil(A, answer)                 what B asked for (not sent when empty)
//   B       apply_delta(B, that)
// Afterwards both hold what merge(A, B) holds: the entries compared are those merge compares
// (a version, and a stamp of the rest, so equal versions with different content both travel),
// and merge's rules decide. When nothing differs the answer is empty and nobody merges.

/// The ring's identity and progress (O(Q): a node keeps it with its view, see view_digest).
ring_digest ring_digest_of(const ring_layout& layout);

/// The view in brief: per member (and tombstone) its name, version and stamp; the ring's digest.
view_digest digest_of(const membership_view& view);

/// B's answer to A's digest (`mine` is B's view, `my_digest` digest_of it). Merges nothing.
view_delta answer_digest(const membership_view& mine, const view_digest& my_digest,
                         const view_digest& theirs);

/// What apply_delta changed: the names whose entry (or tombstone) is new or replaced.
struct delta_outcome {
  bool changed = false;
  std::vector<std::string> names;
};

/// Merges the entries and ring part a delta carries into `view` (whose ring digest is `my_ring`):
/// each by merge's rules, so applying a delta twice or late changes nothing more.
delta_outcome apply_delta(membership_view& view, const ring_digest& my_ring,
                          const view_delta& delta);

/// What A sends back for B's answer `request` (after applying it): the entries B named in
/// `wanted`, and the ring part B asked for (only the transfers B's answer lacked when the change
/// is the same, the whole layout when A's ring is another).
view_delta fulfil(const membership_view& mine, const ring_digest& my_ring,
                  const view_delta& request);

/// Whether a delta carries nothing and asks for nothing.
bool carries_nothing(const view_delta& delta);

/// When this node first saw each removed member (its own clock, ms).
struct purge_clock {
  std::map<std::string, int64_t> removed_since;
};

/// What purge_departed did: members turned into tombstones, tombstones dropped.
struct purge_outcome {
  std::vector<std::string> purged;
  std::vector<std::string> forgotten;
};

/// A member removed (as this node saw by its clock, `now_ms`) at least `removed_grace_ms` ago
/// that owns no partition, in the ring in force or the next, becomes a tombstone stamped with the
/// wall clock `wall_us`; a tombstone purged (by its stamp) at least `tombstone_grace_ms` before
/// `wall_us` is dropped. `clock` records first sightings.
/// Whether every node drops `t` at wall-clock time `wall_us` (and takes it from nobody: a
/// tombstone taken back after its drop would go round between the nodes for ever).
bool tombstone_expired(const member_tombstone& t, int64_t wall_us, int64_t tombstone_grace_ms);

purge_outcome purge_departed(membership_view& view, purge_clock& clock, int64_t now_ms,
                             int64_t wall_us, int64_t removed_grace_ms, int64_t tombstone_grace_ms);

/// A short fingerprint of the view (e.g. for status: equal on every node once gossip converged).
uint64_t fingerprint(const membership_view& view);

} // namespace actorkv
