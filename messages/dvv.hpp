// Causality and reconciliation of records: pure functions, no actors, no I/O.
//
// Model (see record.hpp): a record holds siblings, each tagged with the dot of the write that
// created it, and a context (version vector) of every write it has seen.
//  - A client write coordinated by replica R with client context C:
//      drop every sibling whose dot C covers (the client saw it and supersedes it),
//      new dot = (R, record.context[R] + 1), new context = merge(record.context, C) + new dot,
//      add the new sibling. A write without context therefore adds a sibling.
//  - Merging two replicas' records A and B keeps a sibling of A if B holds it too or B's context
//    does not cover its dot (B has not seen it), and likewise for B; contexts are merged.
//    Merge is commutative, associative and idempotent, so replicas converge in any order.
//  - Under conflict_mode::lww only the winning sibling is kept: largest timestamp, ties broken by
//    larger dot id, then larger counter.
// Tombstones are siblings too; they are hidden from readers (see visible()).
#pragma once

#include <optional>
#include <vector>

#include "messages/record.hpp"

namespace actorkv::dvv {

/// The counter `vv` holds for `id`, 0 when absent.
uint64_t counter_of(const version_vector& vv, replica_id id);

/// Whether `vv` has seen the write `d`.
bool covers(const version_vector& vv, const dot& d);

/// Entry-wise maximum.
version_vector merge(const version_vector& a, const version_vector& b);

/// Whether `a` has seen everything `b` has (a >= b entry-wise).
bool descends(const version_vector& a, const version_vector& b);

/// Applies a client put (`value` set) or delete (`value` empty) coordinated by replica `self`
/// at wall-clock time `now_us`, with the context the client read (empty when it read nothing).
record update(const record& current, const version_vector& client_context,
              std::optional<bytes> value, replica_id self, int64_t now_us, conflict_mode mode);

/// Reconciles two replicas' versions of one key (see the header comment).
record merge(const record& a, const record& b, conflict_mode mode);

/// The siblings a reader sees: every non-tombstone sibling, in stored order.
std::vector<const sibling*> visible(const record& r);

/// Whether a reader sees the key as absent (no siblings, or only tombstones).
bool is_deleted(const record& r);

/// Opaque client context: a compact, versioned byte encoding of a version vector.
bytes encode_context(const version_vector& vv);

/// Decodes encode_context()'s output; nullopt for anything malformed (never throws).
std::optional<version_vector> decode_context(const bytes& data);

} // namespace actorkv::dvv
