#include "messages/dvv.hpp"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

#include "messages/error.hpp"
#include "messages/mix.hpp"

namespace actorkv::dvv {

namespace {

/// The first byte of every encoded context; a new layout takes a new value so old clients'
/// contexts are recognised instead of misread. Format 1 had no scope.
constexpr uint8_t context_format = 2;
constexpr uint8_t unscoped_context_format = 1;

/// The scope's bytes after the format byte: the key digest, then the instance digest.
constexpr size_t scope_bytes = 8 + 4;

/// The smallest encoding of one (id, counter) pair: two one-byte varints. Bounds the entry count
/// a payload of a given size can hold before anything is reserved.
constexpr size_t min_pair_bytes = 2;

constexpr uint64_t max_counter = std::numeric_limits<uint64_t>::max();

bool dot_less(const dot& a, const dot& b) {
  return std::tie(a.id, a.counter) < std::tie(b.id, b.counter);
}

bool origin_less(const sibling& a, const sibling& b) {
  return dot_less(a.origin, b.origin);
}

/// The lww order: timestamp, then dot id, then counter. Total over distinct dots, so every
/// replica picks the same winner from the same candidates.
bool lww_less(const sibling& a, const sibling& b) {
  return std::tie(a.timestamp_us, a.origin.id, a.origin.counter) <
         std::tie(b.timestamp_us, b.origin.id, b.origin.counter);
}

/// Chooses between two copies of one dot. Honest replicas never disagree on a write's content, so
/// this only matters for damaged records; any fixed total order keeps merge commutative.
const sibling& pick_copy(const sibling& a, const sibling& b) {
  return std::tie(a.timestamp_us, a.tombstone, a.value, a.expires_us) <
                 std::tie(b.timestamp_us, b.tombstone, b.value, b.expires_us)
             ? b
             : a;
}

bool is_canonical(const version_vector& vv) {
  for (size_t i = 0; i < vv.entries.size(); ++i) {
    if (vv.entries[i].counter == 0)
      return false;
    if (i > 0 && vv.entries[i - 1].id >= vv.entries[i].id)
      return false;
  }
  return true;
}

/// Sorted by id, one entry per id holding the largest counter, no zero counters.
version_vector canonical(const version_vector& vv) {
  version_vector out = vv;
  auto& es = out.entries;
  std::sort(es.begin(), es.end(), dot_less);
  // After sorting, the last entry of each run of equal ids holds the largest counter.
  std::vector<dot> kept;
  kept.reserve(es.size());
  for (size_t i = 0; i < es.size(); ++i)
    if (es[i].counter != 0 && (i + 1 == es.size() || es[i + 1].id != es[i].id))
      kept.push_back(es[i]);
  es = std::move(kept);
  return out;
}

/// Raises `vv`'s entry for `d.id` to at least `d.counter`, keeping `vv` canonical.
void observe(version_vector& vv, const dot& d) {
  if (d.counter == 0)
    return;
  auto& es = vv.entries;
  auto i = std::lower_bound(es.begin(), es.end(), d.id,
                            [](const dot& e, replica_id id) { return e.id < id; });
  if (i != es.end() && i->id == d.id)
    i->counter = std::max(i->counter, d.counter);
  else
    es.insert(i, d);
}

/// Whether `r` already satisfies record.hpp's invariants: a canonical context covering every
/// sibling, siblings strictly sorted by origin, no zero counters.
bool is_canonical(const record& r) {
  if (!is_canonical(r.context))
    return false;
  for (size_t i = 0; i < r.siblings.size(); ++i) {
    const auto& d = r.siblings[i].origin;
    if (d.counter == 0 || !covers(r.context, d))
      return false;
    if (i > 0 && !dot_less(r.siblings[i - 1].origin, d))
      return false;
  }
  return true;
}

/// Repairs a record that breaks the invariants (a damaged or foreign record) so that update and
/// merge keep their guarantees: siblings sorted, one per dot, none with a zero counter (such a
/// dot names no write and every context would cover it), and a context covering them all.
record canonical(const record& r) {
  record out;
  out.context = canonical(r.context);
  auto sorted = r.siblings;
  std::stable_sort(sorted.begin(), sorted.end(), origin_less);
  for (auto& s : sorted) {
    if (s.origin.counter == 0)
      continue;
    observe(out.context, s.origin);
    if (!out.siblings.empty() && out.siblings.back().origin == s.origin)
      out.siblings.back() = sibling{pick_copy(out.siblings.back(), s)};
    else
      out.siblings.push_back(std::move(s));
  }
  return out;
}

/// `r` itself when canonical (the common case: no copy of the values), else a repaired copy held
/// in `storage`.
const record& canonical_ref(const record& r, record& storage) {
  if (is_canonical(r))
    return r;
  storage = canonical(r);
  return storage;
}

const version_vector& canonical_ref(const version_vector& vv, version_vector& storage) {
  if (is_canonical(vv))
    return vv;
  storage = canonical(vv);
  return storage;
}

/// Reduces `siblings` to its lww winner; leaves an empty list empty.
void keep_lww_winner(std::vector<sibling>& siblings) {
  if (siblings.size() <= 1)
    return;
  auto best = std::max_element(siblings.begin(), siblings.end(), lww_less);
  sibling winner = std::move(*best);
  siblings.clear();
  siblings.push_back(std::move(winner));
}

/// FNV-1a 64 over `data`, from `h`.
uint64_t fnv1a(uint64_t h, const uint8_t* data, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// A digest of `data` in its own domain (a tag byte first), so that a key and an instance name of
/// the same bytes digest differently.
uint64_t digest(uint8_t domain, const uint8_t* data, size_t size) {
  auto h = fnv1a(0xcbf29ce484222325ULL, &domain, 1);
  // Mixed: FNV's low bits alone reach too few output bits.
  return splitmix64_mix(fnv1a(h, data, size));
}

void put_fixed(bytes& out, uint64_t x, size_t width) {
  for (size_t i = 0; i < width; ++i)
    out.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

uint64_t get_fixed(const uint8_t* pos, size_t width) {
  uint64_t x = 0;
  for (size_t i = 0; i < width; ++i)
    x |= static_cast<uint64_t>(pos[i]) << (8 * i);
  return x;
}

caf::error refused(std::string why) {
  return caf::make_error(ec::bad_context, std::move(why));
}

void put_varint(bytes& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<uint8_t>(x) | 0x80);
    x >>= 7;
  }
  out.push_back(static_cast<uint8_t>(x));
}

/// Reads one LEB128 varint from [pos, end), advancing `pos`. Accepts only the shortest encoding
/// of a value that fits 64 bits, so every context has exactly one valid encoding.
bool get_varint(const uint8_t*& pos, const uint8_t* end, uint64_t& x) {
  uint64_t result = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (pos == end)
      return false;
    uint8_t byte = *pos++;
    // The tenth byte carries bit 63 only; anything more would overflow.
    if (shift == 63 && byte > 1)
      return false;
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      // A final zero group after the first byte adds nothing: an overlong encoding.
      if (byte == 0 && shift > 0)
        return false;
      x = result;
      return true;
    }
  }
  return false;
}

} // namespace

uint64_t counter_of(const version_vector& vv, replica_id id) {
  const auto& es = vv.entries;
  auto i = std::lower_bound(es.begin(), es.end(), id,
                            [](const dot& e, replica_id x) { return e.id < x; });
  return i != es.end() && i->id == id ? i->counter : 0;
}

bool covers(const version_vector& vv, const dot& d) {
  return counter_of(vv, d.id) >= d.counter;
}

version_vector merge(const version_vector& a, const version_vector& b) {
  version_vector out;
  out.entries.reserve(a.entries.size() + b.entries.size());
  auto i = a.entries.begin();
  auto j = b.entries.begin();
  while (i != a.entries.end() || j != b.entries.end()) {
    if (j == b.entries.end() || (i != a.entries.end() && i->id < j->id)) {
      out.entries.push_back(*i++);
    } else if (i == a.entries.end() || j->id < i->id) {
      out.entries.push_back(*j++);
    } else {
      out.entries.push_back(dot{i->id, std::max(i->counter, j->counter)});
      ++i;
      ++j;
    }
  }
  return out;
}

bool descends(const version_vector& a, const version_vector& b) {
  auto i = a.entries.begin();
  for (const auto& e : b.entries) {
    while (i != a.entries.end() && i->id < e.id)
      ++i;
    if (i == a.entries.end() || i->id != e.id || i->counter < e.counter)
      return false;
  }
  return true;
}

record update(const record& current, const version_vector& client_context,
              std::optional<bytes> value, replica_id self, int64_t now_us, conflict_mode mode,
              int64_t expires_us) {
  record current_storage;
  const auto& cur = canonical_ref(current, current_storage);
  version_vector seen_storage;
  const auto& seen = canonical_ref(client_context, seen_storage);
  record out;
  out.context = merge(cur.context, seen);
  // Counting past what the client saw as well as what this replica holds keeps the new dot fresh
  // even if this replica's record was rolled back (e.g. restored from a backup). Saturating
  // instead of wrapping keeps counters non-zero; only a forged context can get that far.
  auto last = counter_of(out.context, self);
  sibling fresh;
  fresh.origin = dot{self, last == max_counter ? last : last + 1};
  fresh.timestamp_us = now_us;
  fresh.tombstone = !value.has_value();
  if (value) {
    fresh.value = std::move(*value);
    fresh.expires_us = expires_us;
  }
  observe(out.context, fresh.origin);
  for (const auto& s : cur.siblings)
    if (!covers(seen, s.origin) && s.origin != fresh.origin)
      out.siblings.push_back(s);
  if (mode == conflict_mode::lww) {
    // What the client saw it supersedes outright, whatever the clocks say; against concurrent
    // writes only the clocks can decide.
    out.siblings.push_back(std::move(fresh));
    keep_lww_winner(out.siblings);
    return out;
  }
  auto pos = std::upper_bound(out.siblings.begin(), out.siblings.end(), fresh, origin_less);
  out.siblings.insert(pos, std::move(fresh));
  return out;
}

record merge(const record& a, const record& b, conflict_mode mode) {
  record a_storage;
  record b_storage;
  const auto& x = canonical_ref(a, a_storage);
  const auto& y = canonical_ref(b, b_storage);
  record out;
  out.context = merge(x.context, y.context);
  auto i = x.siblings.begin();
  auto j = y.siblings.begin();
  while (i != x.siblings.end() || j != y.siblings.end()) {
    if (j == y.siblings.end() || (i != x.siblings.end() && origin_less(*i, *j))) {
      // Only in x: y dropped it if y's context covers it, i.e. y saw it superseded.
      if (!covers(y.context, i->origin))
        out.siblings.push_back(*i);
      ++i;
    } else if (i == x.siblings.end() || origin_less(*j, *i)) {
      if (!covers(x.context, j->origin))
        out.siblings.push_back(*j);
      ++j;
    } else {
      out.siblings.push_back(pick_copy(*i, *j));
      ++i;
      ++j;
    }
  }
  if (mode == conflict_mode::lww) {
    if (out.siblings.empty()) {
      // Each side has seen and discarded the other's winner (possible when merges ran in
      // different orders). Neither discard outranks the other; taking the lww winner of the two
      // keeps the key from vanishing and lets replicas converge.
      out.siblings = x.siblings;
      out.siblings.insert(out.siblings.end(), y.siblings.begin(), y.siblings.end());
    }
    keep_lww_winner(out.siblings);
  }
  return out;
}

bool is_dead(const sibling& s, int64_t now_us) {
  return s.tombstone || (s.expires_us != 0 && s.expires_us <= now_us);
}

std::vector<const sibling*> visible(const record& r, int64_t now_us) {
  std::vector<const sibling*> out;
  for (const auto& s : r.siblings)
    if (!is_dead(s, now_us))
      out.push_back(&s);
  return out;
}

bool is_deleted(const record& r, int64_t now_us) {
  return std::all_of(r.siblings.begin(), r.siblings.end(),
                     [now_us](const sibling& s) { return is_dead(s, now_us); });
}

std::optional<int64_t> dead_from(const record& r) {
  if (r.siblings.empty())
    return std::nullopt;
  int64_t newest = std::numeric_limits<int64_t>::min();
  for (auto& s : r.siblings) {
    // When each sibling dies: a tombstone when written, a value at its expiry, if it has one.
    if (!s.tombstone && s.expires_us == 0)
      return std::nullopt;
    newest = std::max(newest, s.tombstone ? s.timestamp_us : s.expires_us);
  }
  return newest;
}

bool tombstone_due(const record& r, int64_t now_us, int64_t grace_us) {
  auto died = dead_from(r);
  // Dead at now_us (an expiry at or before it) and for longer than the grace.
  return died && *died <= now_us && *died < now_us - grace_us;
}

namespace {

bool is_retired(const std::vector<replica_id>& retired, replica_id id) {
  return std::binary_search(retired.begin(), retired.end(), id);
}

bool has_sibling_of(const record& r, replica_id id) {
  return std::any_of(r.siblings.begin(), r.siblings.end(),
                     [&](const sibling& s) { return s.origin.id == id; });
}

bool prunable(const record& r, const dot& entry, const std::vector<replica_id>& retired) {
  return is_retired(retired, entry.id) && !has_sibling_of(r, entry.id);
}

} // namespace

std::vector<dot> prunable_entries(const record& r, const std::vector<replica_id>& retired) {
  std::vector<dot> out;
  for (auto& e : r.context.entries)
    if (prunable(r, e, retired))
      out.push_back(e);
  return out;
}

record prune(const record& r, const std::vector<replica_id>& retired) {
  record out = r;
  auto& es = out.context.entries;
  es.erase(
      std::remove_if(es.begin(), es.end(), [&](const dot& e) { return prunable(r, e, retired); }),
      es.end());
  return out;
}

bool same_up_to_retired(const record& a, const record& b, const std::vector<replica_id>& retired) {
  if (a.siblings != b.siblings)
    return false;
  auto& x = a.context.entries;
  auto& y = b.context.entries;
  size_t i = 0, j = 0;
  while (i < x.size() || j < y.size()) {
    if (j == y.size() || (i < x.size() && x[i].id < y[j].id)) {
      if (!prunable(a, x[i++], retired))
        return false;
    } else if (i == x.size() || y[j].id < x[i].id) {
      if (!prunable(b, y[j++], retired))
        return false;
    } else if (x[i++].counter != y[j++].counter) {
      return false;
    }
  }
  return true;
}

bool prune_due(const record& r, const std::vector<replica_id>& retired, int64_t now_us,
               int64_t grace_us) {
  if (r.siblings.empty())
    return false;
  int64_t newest = std::numeric_limits<int64_t>::min();
  for (auto& s : r.siblings)
    newest = std::max(newest, s.timestamp_us);
  if (!(newest < now_us - grace_us))
    return false;
  return std::any_of(r.context.entries.begin(), r.context.entries.end(),
                     [&](const dot& e) { return prunable(r, e, retired); });
}

context_scope scope_of(const std::string& instance, const bytes& key) {
  context_scope out;
  out.key = digest('k', key.data(), key.size());
  auto name = reinterpret_cast<const uint8_t*>(instance.data());
  out.instance = static_cast<uint32_t>(digest('i', name, instance.size()));
  return out;
}

bytes encode_context(const version_vector& vv, const context_scope& scope) {
  version_vector storage;
  const auto& c = canonical_ref(vv, storage);
  bytes out;
  out.reserve(1 + scope_bytes + 10 + c.entries.size() * 2 * 10);
  out.push_back(context_format);
  put_fixed(out, scope.key, 8);
  put_fixed(out, scope.instance, 4);
  put_varint(out, c.entries.size());
  for (const auto& e : c.entries) {
    put_varint(out, e.id);
    put_varint(out, e.counter);
  }
  return out;
}

caf::expected<version_vector> decode_context(const bytes& data, const context_scope& scope) {
  if (!data.empty() && data[0] == unscoped_context_format)
    return refused("the context is in the format of an older actorkv, which did not bind it to "
                   "its key; read the key again and pass the context that read returns");
  auto malformed = [] {
    return refused("the context does not decode; pass it exactly as a get returned it");
  };
  if (data.empty() || data[0] != context_format || data.size() < 1 + scope_bytes)
    return malformed();
  const uint8_t* pos = data.data() + 1;
  const uint8_t* end = data.data() + data.size();
  context_scope theirs;
  theirs.key = get_fixed(pos, 8);
  theirs.instance = static_cast<uint32_t>(get_fixed(pos + 8, 4));
  pos += scope_bytes;
  uint64_t count = 0;
  if (!get_varint(pos, end, count))
    return malformed();
  // Checked before reserving: a short payload cannot make us allocate for a huge count.
  if (count > static_cast<uint64_t>(end - pos) / min_pair_bytes)
    return malformed();
  version_vector vv;
  vv.entries.reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    dot d;
    if (!get_varint(pos, end, d.id) || !get_varint(pos, end, d.counter))
      return malformed();
    if (d.counter == 0)
      return malformed();
    if (!vv.entries.empty() && vv.entries.back().id >= d.id)
      return malformed();
    vv.entries.push_back(d);
  }
  if (pos != end)
    return malformed();
  if (theirs.instance != scope.instance)
    return refused("the context comes from another instance (another store.name); pass a "
                   "context that a get from this cluster returned");
  if (theirs.key != scope.key)
    return refused("the context belongs to another key; pass the context a get of this key "
                   "returned");
  return vv;
}

caf::expected<version_vector> admit_context(const version_vector& client, const record& current,
                                            replica_id self) {
  version_vector client_storage;
  const auto& c = canonical_ref(client, client_storage);
  record current_storage;
  const auto& known = canonical_ref(current, current_storage).context;
  auto made = counter_of(known, self);
  auto claimed = counter_of(c, self);
  if (claimed > made)
    return refused("the context names write " + std::to_string(claimed) +
                   " of the replica coordinating this write, which has made " +
                   std::to_string(made) + " for this key; pass the context a get returned");
  version_vector out;
  out.entries.reserve(c.entries.size());
  for (const auto& e : c.entries)
    if (auto bound = std::min(e.counter, counter_of(known, e.id)); bound > 0)
      out.entries.push_back(dot{e.id, bound});
  return out;
}

} // namespace actorkv::dvv
