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
// Tombstones are siblings too; they are hidden from readers (see visible()).
//
// update() and merge() accept records that break record.hpp's invariants (unsorted or duplicate
// siblings, zero counters, a context not covering its siblings) and repair them first, so their
// results always satisfy them. Client contexts must come from reads: a context naming writes
// that never happened makes later writes look superseded.
#pragma once

#include <optional>
#include <vector>

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
/// it) and its dot in the context.
record update(const record& current, const version_vector& client_context,
              std::optional<bytes> value, replica_id self, int64_t now_us, conflict_mode mode);

/// Reconciles two replicas' versions of one key (see the header comment).
record merge(const record& a, const record& b, conflict_mode mode);

/// The siblings a reader sees: every non-tombstone sibling, in stored order.
std::vector<const sibling*> visible(const record& r);

/// Whether a reader sees the key as absent (no siblings, or only tombstones).
bool is_deleted(const record& r);

/// Opaque client context: a compact, versioned byte encoding of a version vector.
/// Layout: format byte 1, then the entry count and each entry's id and counter as unsigned
/// LEB128 varints, entries in id order. Each vector has exactly one encoding; a vector breaking
/// the invariants is encoded in its repaired form.
bytes encode_context(const version_vector& vv);

/// Decodes encode_context()'s output; nullopt for anything malformed: an unknown format byte,
/// truncation, trailing bytes, overlong or overflowing varints, zero counters, ids out of order
/// or repeated. Never throws; allocates only what the input's size can justify.
std::optional<version_vector> decode_context(const bytes& data);

} // namespace actorkv::dvv
