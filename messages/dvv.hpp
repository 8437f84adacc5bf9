// Causality and reconciliation of records: pure functions, no actors, no I/O.
//
// Model (see record.hpp): a record holds siblings, each tagged with the dot of the write that
// created it, and a context (version vector) of every write it has seen.
//  - A client write coordinated by replica R with client context C:
//      drop every sibling whose dot C covers (the client saw it and supersedes it),
//      new context = merge(record.context, C), new dot = (R, new context[R] + 1), added to the
//      context, and add the new sibling. A write without context therefore adds a sibling.
//      (Counting from the merged context rather than the record's alone keeps the dot fresh if R's
//      record was rolled back while clients still hold newer contexts.)
//  - Merging two replicas' records A and B keeps a sibling of A if B holds it too or B's context
//    does not cover its dot (B has not seen it), and likewise for B; contexts are merged. Equal
//    dots on both sides are the same write and are kept once. In siblings mode merge is
//    commutative, associative and idempotent, so replicas converge in any order.
//  - Under conflict_mode::lww a record keeps exactly one sibling. A write replaces everything its
//    client context covers regardless of clocks; against concurrent siblings the largest
//    timestamp wins, ties broken by larger dot id, then larger counter. Merge applies the rule
//    above, then keeps the winner; should that leave nothing (each side saw and discarded the
//    other's winner), it keeps the winner of both sides' siblings. lww merge is commutative and
//    idempotent and replicas converge, but it is not associative: a single sibling cannot
//    remember the concurrent writes it beat, so which one wins can depend on merge order.
// Tombstones are siblings too; they are hidden from readers (see visible()). So is a value whose
// expiry (a put with a TTL: sibling::expires_us, part of the write like its value) has passed:
// every replica stores the same expiry, so they agree on it, and only the reading moment decides
// whether it is dead (is_dead()); an expired value is collected like a tombstone.
//
// update() and merge() accept records that break record.hpp's invariants (unsorted or duplicate
// siblings, zero counters, a context not covering its siblings) and repair them first, so their
// results always satisfy them. Client contexts must come from reads: a context naming writes
// that never happened makes later writes look superseded. So a client's context reaches
// update() only through decode_context() (bound to its key and instance) and admit_context()
// (bounded by what the coordinating replica has seen).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "messages/record.hpp"

namespace actorkv::dvv {

/// The counter `vv` holds for `id`, 0 when absent.
uint64_t counter_of(const version_vector& vv, replica_id id);

/// Whether `vv` has seen the write `d`.
bool covers(const version_vector& vv, const dot& d);

/// Entry-wise maximum. Both inputs sorted by id (as every version_vector is); so is the result.
version_vector merge(const version_vector& a, const version_vector& b);

/// Whether `a` has seen everything `b` has (a >= b entry-wise).
bool descends(const version_vector& a, const version_vector& b);

/// Applies a client put (`value` set) or delete (`value` empty) coordinated by replica `self`
/// at wall-clock time `now_us`, with the context the client read (empty when it read nothing).
/// The result holds the new sibling (under lww: unless a concurrent sibling's timestamp beats
/// it) and its dot in the context. `expires_us` is the new value's expiry (a put with a TTL;
/// 0: never, and always 0 for a delete): a put without one writes a value that never expires.
record update(const record& current, const version_vector& client_context,
              std::optional<bytes> value, replica_id self, int64_t now_us, conflict_mode mode,
              int64_t expires_us = 0);

/// Reconciles two replicas' versions of one key (see the header comment).
record merge(const record& a, const record& b, conflict_mode mode);

/// Whether a reader at wall-clock time `now_us` sees `s` as gone: a tombstone, or a value whose
/// expiry is at or before `now_us`.
bool is_dead(const sibling& s, int64_t now_us);

/// The siblings a reader at `now_us` sees: every sibling not dead (is_dead), in stored order.
std::vector<const sibling*> visible(const record& r, int64_t now_us);

/// Whether a reader at `now_us` sees the key as absent (no siblings, or only dead ones).
bool is_deleted(const record& r, int64_t now_us);

/// When every sibling of `r` is dead for good: the newest death (a tombstone's timestamp, a
/// value's expiry); nullopt when `r` has no siblings or one of them never dies (a value without
/// an expiry). It depends on the record alone, so storage keeps it beside the record and a
/// collector's sweep reads only the records that have one (storage/FORMAT.md, `dies_us`).
std::optional<int64_t> dead_from(const record& r);

/// Whether `r` is a tombstone a replica may collect once every home replica agrees: it has
/// siblings, every one dead at `now_us`, and the newest death (a tombstone's timestamp, an
/// expired value's expiry) is more than `grace_us` before `now_us` (the manifest's [storage]
/// tombstone_grace_s; docs/design.md section 6).
bool tombstone_due(const record& r, int64_t now_us, int64_t grace_us);

// Pruning the entries of retired replica ids (membership_view::retired: the incarnations of
// removed members and of data directories replaced by new ones; they never write again). An entry
// is prunable when its id is retired and no sibling of the record carries a dot of that id (the
// context must keep covering every sibling). Dropping one loses knowledge: a stale copy of a
// superseded sibling of that id, merged in later, would no longer be covered and would come back.
// So a replica prunes only on the evidence tombstone collection waits for (docs/design.md section
// 6): the record's newest write is older than the grace, and every other home replica holds the
// same record up to prunable entries.

/// The entries of `r`'s context that are prunable under `retired` (sorted ids), in id order.
std::vector<dot> prunable_entries(const record& r, const std::vector<replica_id>& retired);

/// `r` without the entries prunable under `retired` (`r` itself when it has none).
record prune(const record& r, const std::vector<replica_id>& retired);

/// Whether `a` and `b` hold the same record up to prunable entries: the same siblings, the same
/// entries of every id not retired, and for each retired id either the same counter or, on one
/// side, no entry at all (that side has pruned it: the other may follow). Two counters of a
/// retired id that differ are not the same: a replica that has not seen every write of the
/// retired id is not evidence that none of them can come back.
bool same_up_to_retired(const record& a, const record& b, const std::vector<replica_id>& retired);

/// Whether a replica at `now_us` may prune `r` once every other home replica agrees
/// (same_up_to_retired): it has prunable entries, and its newest sibling was written more than
/// `grace_us` before `now_us`, so every write that superseded a sibling of a retired id is older
/// than the grace, as a collected tombstone's delete is.
bool prune_due(const record& r, const std::vector<replica_id>& retired, int64_t now_us,
               int64_t grace_us);

/// What a client context is bound to: digests of the key it was read from and of the instance
/// (the manifest's store.name) whose node returned it. Digests tell mistakes apart (another key's
/// context, a context from another cluster); they are not a secret, so they do not stop a client
/// that crafts bytes on purpose: admit_context() bounds what such a context can do.
struct context_scope {
  uint64_t key = 0;      ///< 64-bit digest of the key
  uint32_t instance = 0; ///< 32-bit digest of store.name
  friend bool operator==(const context_scope& a, const context_scope& b) {
    return a.key == b.key && a.instance == b.instance;
  }
  friend bool operator!=(const context_scope& a, const context_scope& b) { return !(a == b); }
};

/// The scope of contexts for `key` in the instance named `instance`. Fixed functions of the bytes
/// (FNV-1a 64 with a final mix), the same on every node and every platform.
context_scope scope_of(const std::string& instance, const bytes& key);

/// Opaque client context: a compact, versioned byte encoding of a version vector and its scope.
/// Layout (format 2): format byte 2, the key digest (8 bytes, little-endian), the instance digest
/// (4 bytes, little-endian), then the entry count and each entry's id and counter as unsigned
/// LEB128 varints, entries in id order. Each (vector, scope) has exactly one encoding; a vector
/// breaking the invariants is encoded in its repaired form. Format 1 (no scope) is refused.
bytes encode_context(const version_vector& vv, const context_scope& scope);

/// Decodes encode_context()'s output for `scope`. Refuses with ec::bad_context and a text saying
/// which: a context of format 1 (written before contexts were bound to keys), anything malformed
/// (an unknown format byte, truncation, trailing bytes, overlong or overflowing varints, zero
/// counters, ids out of order or repeated), a context of another instance, of another key. Never
/// throws; allocates only what the input's size can justify.
caf::expected<version_vector> decode_context(const bytes& data, const context_scope& scope);

/// The part of a client's context the replica coordinating a write may act on, given `current`,
/// its record of the key, and `self`, the id the write's dot will carry.
///  - An entry for `self` above what `current` has seen of `self` is refused with
///    ec::bad_context: `self` stores every dot it makes for the key in its record before anyone
///    can read it, so no read returns more.
///  - Other entries are cut to what `current` has seen: the replica may just be stale (a write
///    it missed, a hint not yet delivered) or the counter forged, and it cannot tell which.
///    Cutting changes nothing of what the write supersedes here (`current`'s context covers each
///    of its siblings); the unverifiable excess is only not recorded, so it can neither discard
///    writes on other replicas nor raise any replica's counter. Its cost falls on the stale case
///    alone: siblings the client read that this replica has not seen survive the write as
///    siblings (the next read shows them) instead of being superseded.
/// A replica with no history of the key (a fallback holding a hint, one whose copy is corrupt:
/// `current` empty, `self` a one-off id) keeps nothing of the context.
caf::expected<version_vector> admit_context(const version_vector& client, const record& current,
                                            replica_id self);

} // namespace actorkv::dvv
