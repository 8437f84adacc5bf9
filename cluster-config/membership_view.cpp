#include "cluster-config/membership_view.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "messages/error.hpp"

namespace actorkv {

namespace {

/// Retires what putting `now` in place of `was` (nullptr: no entry) ends: `was`'s incarnation
/// when `now` has another, `now`'s when it says removed.
void retire_replaced(std::vector<uint64_t>& retired, const member_info* was,
                     const member_info& now) {
  if (was && was->incarnation != now.incarnation)
    retire(retired, was->incarnation);
  if (now.state == member_state::removed)
    retire(retired, now.incarnation);
}

/// Strict order deciding which of two entries of the same member wins.
bool loses_to(const member_info& a, const member_info& b) {
  return std::tie(a.version, a.state, a.incarnation, a.capacity, a.host, a.port, a.zone) <
         std::tie(b.version, b.state, b.incarnation, b.capacity, b.host, b.port, b.zone);
}

bool same_entry(const member_info& a, const member_info& b) {
  return !loses_to(a, b) && !loses_to(b, a) && a.name == b.name;
}

bool same_change(const ring_layout& a, const ring_layout& b) {
  return a.epoch == b.epoch && a.owners == b.owners && a.next_owners == b.next_owners;
}

ring_layout merge_layouts(const ring_layout& a, const ring_layout& b) {
  if (a.epoch != b.epoch)
    return a.epoch > b.epoch ? a : b;
  if (!same_change(a, b))
    return std::tie(a.owners, a.next_owners) > std::tie(b.owners, b.next_owners) ? a : b;
  ring_layout out = a;
  out.done.clear();
  std::set_union(a.done.begin(), a.done.end(), b.done.begin(), b.done.end(),
                 std::back_inserter(out.done));
  return out;
}

/// The ring whose partitions belong to `owners`, capacities from the view.
ring ring_of(const membership_view& view, const std::vector<std::string>& owners) {
  std::set<std::string> names(owners.begin(), owners.end());
  std::vector<ring_member> members;
  for (auto& name : names) {
    auto* m = find_member(view, name);
    members.push_back(
        {name, m ? std::max<uint32_t>(m->capacity, 1) : 1, m ? m->zone : member_info{}.zone});
  }
  return ring::from_owners(std::move(members), owners);
}

/// FNV-1a, byte by byte, so that stamps agree across machines and builds.
struct fnv {
  uint64_t h = 1469598103934665603ull;
  void byte(uint8_t b) {
    h ^= b;
    h *= 1099511628211ull;
  }
  void u64(uint64_t x) {
    for (int k = 0; k < 8; ++k)
      byte(static_cast<uint8_t>(x >> (8 * k)));
  }
  void str(const std::string& s) {
    for (char c : s)
      byte(static_cast<uint8_t>(c));
    byte(0);
  }
};

/// Everything of an entry but its name and version (odd: a tombstone's stamp is even).
uint64_t stamp_of(const member_info& m) {
  fnv f;
  f.u64(static_cast<uint64_t>(m.state));
  f.u64(m.incarnation);
  f.u64(m.capacity);
  f.str(m.host);
  f.u64(m.port);
  f.str(m.zone);
  return f.h | 1;
}

/// A tombstone's stamp: even, where an entry's is odd.
uint64_t stamp_of(const member_tombstone& t) {
  fnv f;
  f.u64(static_cast<uint64_t>(t.purged_us));
  return f.h & ~uint64_t{1};
}

/// Strict order deciding which of two tombstones of the same member wins.
bool loses_to(const member_tombstone& a, const member_tombstone& b) {
  return std::tie(a.version, a.purged_us) < std::tie(b.version, b.purged_us);
}

template <class T>
auto by_name(std::vector<T>& xs, const std::string& name) {
  return std::lower_bound(xs.begin(), xs.end(), name,
                          [](const T& x, const std::string& n) { return x.name < n; });
}

template <class T>
const T* sorted_find(const std::vector<T>& xs, const std::string& name) {
  auto it = std::lower_bound(xs.begin(), xs.end(), name,
                             [](const T& x, const std::string& n) { return x.name < n; });
  return it != xs.end() && it->name == name ? &*it : nullptr;
}

/// Whether `m` is a copy of an incarnation that is over (removed, or replaced by another) that
/// does not say so: kept by a node that was away while the member was removed and purged, after
/// every tombstone that could outrank it was dropped. No view takes it in or keeps it. A
/// member that never announced itself (incarnation 0, a manifest's entry) cannot be told apart.
bool outlived(const member_info& m, const std::vector<uint64_t>& retired) {
  return m.state != member_state::removed && m.incarnation != 0 &&
         std::binary_search(retired.begin(), retired.end(), m.incarnation);
}

/// Whether `m` is a manifest's entry of a member that never announced itself.
bool placeholder(const member_info& m) {
  return m.version == 0 && m.incarnation == 0 && m.state != member_state::removed;
}

/// Drops the outlived entries of `view`; appends their names to `dropped`.
void drop_outlived(membership_view& view, std::vector<std::string>& dropped) {
  auto over = [&](const member_info& m) {
    if (!outlived(m, view.retired))
      return false;
    dropped.push_back(m.name);
    return true;
  };
  view.members.erase(std::remove_if(view.members.begin(), view.members.end(), over),
                     view.members.end());
}

/// Merges one received entry into `view` by merge's rules; whether it changed the entry (a losing
/// entry may still retire its incarnation, as merge does).
bool merge_entry(membership_view& view, const member_info& m) {
  if (outlived(m, view.retired))
    return false;
  auto t = by_name(view.tombstones, m.name);
  bool tombstoned = t != view.tombstones.end() && t->name == m.name;
  if (tombstoned && m.version <= t->version) {
    retire(view.retired, m.incarnation); // the member was removed: this incarnation is over
    return false;
  }
  auto it = by_name(view.members, m.name);
  bool held = it != view.members.end() && it->name == m.name;
  // A name this view holds nothing of was purged (placeholders_unknown_to): its placeholder from
  // a manifest is not taken in.
  if (!held && !tombstoned && placeholder(m))
    return false;
  if (held) {
    if (!loses_to(*it, m)) {
      retire_replaced(view.retired, &m, *it); // the entry kept replaces the one received
      return false;
    }
    retire_replaced(view.retired, &*it, m);
    *it = m;
  } else {
    retire_replaced(view.retired, nullptr, m);
    view.members.insert(it, m);
  }
  if (tombstoned)
    view.tombstones.erase(t);
  return true;
}

/// Merges one received tombstone into `view` by merge's rules; whether it changed the view.
bool merge_tombstone(membership_view& view, const member_tombstone& x) {
  auto it = by_name(view.members, x.name);
  if (it != view.members.end() && it->name == x.name) {
    if (it->version > x.version)
      return false;
    // The member was removed: its incarnation is over, even if this node missed the removal.
    retire(view.retired, it->incarnation);
    view.members.erase(it);
  }
  auto t = by_name(view.tombstones, x.name);
  if (t != view.tombstones.end() && t->name == x.name) {
    if (!loses_to(*t, x))
      return false;
    *t = x;
  } else {
    view.tombstones.insert(t, x);
  }
  return true;
}

/// Appends the entry (or tombstone) `name` of `view` to `out`.
void send_entry(const membership_view& view, const std::string& name, view_delta& out) {
  if (auto* m = sorted_find(view.members, name))
    out.members.push_back(*m);
  else if (auto* t = sorted_find(view.tombstones, name))
    out.tombstones.push_back(*t);
}

std::string endpoint_of(const member_info& m) {
  return m.host + ":" + std::to_string(m.port);
}

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * x);
  return buf;
}

} // namespace

membership_view view_from_manifest(const manifest& m) {
  membership_view view;
  std::vector<ring_member> members;
  for (auto& n : m.nodes) {
    upsert(view,
           member_info{n.name, n.host, n.port, n.capacity, member_state::valid, 0, 0, n.zone});
    members.push_back({n.name, n.capacity, n.zone});
  }
  view.layout.owners = ring::build(m.store.partitions, std::move(members)).owner_names();
  return view;
}

membership_view merge(const membership_view& a, const membership_view& b) {
  membership_view out;
  // An entry either side's retired ids say is over takes no part.
  auto retired = unite_retired(a.retired, b.retired);
  auto i = a.members.begin();
  auto j = b.members.begin();
  auto skip_outlived = [&] {
    while (i != a.members.end() && outlived(*i, retired))
      ++i;
    while (j != b.members.end() && outlived(*j, retired))
      ++j;
  };
  for (skip_outlived(); i != a.members.end() || j != b.members.end(); skip_outlived()) {
    if (j == b.members.end() || (i != a.members.end() && i->name < j->name)) {
      out.members.push_back(*i++);
    } else if (i == a.members.end() || j->name < i->name) {
      out.members.push_back(*j++);
    } else {
      auto& winner = loses_to(*i, *j) ? *j : *i;
      auto& loser = &winner == &*i ? *j : *i;
      out.members.push_back(winner);
      retire_replaced(out.retired, &loser, winner);
      ++i;
      ++j;
    }
  }
  for (auto& x : out.members)
    retire_replaced(out.retired, nullptr, x);
  out.retired = unite_retired(out.retired, retired);
  std::vector<member_tombstone> tombstones;
  auto s = a.tombstones.begin();
  auto t = b.tombstones.begin();
  while (s != a.tombstones.end() || t != b.tombstones.end()) {
    if (t == b.tombstones.end() || (s != a.tombstones.end() && s->name < t->name)) {
      tombstones.push_back(*s++);
    } else if (s == a.tombstones.end() || t->name < s->name) {
      tombstones.push_back(*t++);
    } else {
      tombstones.push_back(loses_to(*s, *t) ? *t : *s);
      ++s;
      ++t;
    }
  }
  // A tombstone outranks its member's entries up to its version; an entry above it outlives it.
  std::vector<member_info> members;
  auto m = out.members.begin();
  for (auto& x : tombstones) {
    for (; m != out.members.end() && m->name < x.name; ++m)
      members.push_back(std::move(*m));
    if (m != out.members.end() && m->name == x.name) {
      if (m->version > x.version) {
        members.push_back(std::move(*m));
      } else {
        retire(out.retired, m->incarnation);
        out.tombstones.push_back(x);
      }
      ++m;
    } else {
      out.tombstones.push_back(x);
    }
  }
  for (; m != out.members.end(); ++m)
    members.push_back(std::move(*m));
  out.members = std::move(members);
  out.layout = merge_layouts(a.layout, b.layout);
  return out;
}

void upsert(membership_view& view, const member_info& info) {
  auto it = std::lower_bound(view.members.begin(), view.members.end(), info.name,
                             [](const member_info& m, const std::string& n) { return m.name < n; });
  if (it != view.members.end() && it->name == info.name) {
    retire_replaced(view.retired, &*it, info);
    *it = info;
  } else {
    retire_replaced(view.retired, nullptr, info);
    view.members.insert(it, info);
  }
}

bool retire(std::vector<uint64_t>& ids, uint64_t id) {
  if (id == 0)
    return false;
  auto at = std::lower_bound(ids.begin(), ids.end(), id);
  if (at != ids.end() && *at == id)
    return false;
  ids.insert(at, id);
  return true;
}

std::vector<uint64_t> unite_retired(const std::vector<uint64_t>& a,
                                    const std::vector<uint64_t>& b) {
  // Either side may come from a peer: sorted, unique and without 0 whatever it sent.
  std::vector<uint64_t> out;
  out.reserve(a.size() + b.size());
  out.insert(out.end(), a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (!out.empty() && out.front() == 0)
    out.erase(out.begin());
  return out;
}

std::vector<uint64_t> prunable_ids(const membership_view& view) {
  std::vector<uint64_t> live;
  for (auto& m : view.members)
    if (m.state != member_state::removed)
      live.push_back(m.incarnation);
  std::sort(live.begin(), live.end());
  std::vector<uint64_t> out;
  std::set_difference(view.retired.begin(), view.retired.end(), live.begin(), live.end(),
                      std::back_inserter(out));
  return out;
}

retired_digest retired_digest_of(const std::vector<uint64_t>& ids) {
  fnv f;
  for (auto id : ids)
    f.u64(id);
  return retired_digest{static_cast<uint32_t>(ids.size()), f.h};
}

const member_info* find_member(const membership_view& view, const std::string& name) {
  return sorted_find(view.members, name);
}

const member_tombstone* find_tombstone(const membership_view& view, const std::string& name) {
  return sorted_find(view.tombstones, name);
}

std::vector<std::string> placeholders_unknown_to(const membership_view& view,
                                                 const view_digest& theirs) {
  std::vector<std::string> out;
  for (auto& m : view.members)
    if (placeholder(m) && std::none_of(theirs.members.begin(), theirs.members.end(),
                                       [&](const member_digest& d) { return d.name == m.name; }))
      out.push_back(m.name);
  return out;
}

std::vector<std::string> drop_placeholders(membership_view& view,
                                           const std::vector<std::string>& names) {
  std::vector<std::string> dropped;
  for (auto& name : names) {
    auto it = by_name(view.members, name);
    if (it != view.members.end() && it->name == name && placeholder(*it)) {
      view.members.erase(it);
      dropped.push_back(name);
    }
  }
  return dropped;
}

bool was_removed(const membership_view& view, const std::string& name) {
  if (auto* m = find_member(view, name))
    return m->state == member_state::removed;
  return find_tombstone(view, name) != nullptr;
}

bool operator==(const membership_view& a, const membership_view& b) {
  auto same_tombstone = [](const member_tombstone& x, const member_tombstone& y) {
    return x.name == y.name && x.version == y.version && x.purged_us == y.purged_us;
  };
  return a.members.size() == b.members.size() && a.tombstones.size() == b.tombstones.size() &&
         std::equal(a.tombstones.begin(), a.tombstones.end(), b.tombstones.begin(),
                    same_tombstone) &&
         std::equal(a.members.begin(), a.members.end(), b.members.begin(), same_entry) &&
         same_change(a.layout, b.layout) && a.layout.done == b.layout.done &&
         a.retired == b.retired;
}

ring current_ring(const membership_view& view) {
  return ring_of(view, view.layout.owners);
}

std::optional<ring> next_ring(const membership_view& view) {
  if (view.layout.next_owners.empty())
    return std::nullopt;
  return ring_of(view, view.layout.next_owners);
}

bool has_left(const membership_view& view, const std::string& name) {
  auto* m = find_member(view, name);
  if (!m || m->state != member_state::leaving || !view.layout.next_owners.empty())
    return false;
  auto& owners = view.layout.owners;
  return std::find(owners.begin(), owners.end(), name) == owners.end();
}

std::vector<std::string> departed_members(const membership_view& view) {
  std::vector<std::string> out;
  for (auto& m : view.members)
    if (m.state == member_state::removed || has_left(view, m.name))
      out.push_back(m.name);
  for (auto& t : view.tombstones)
    out.push_back(t.name);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<partition_transfer> transfers_needed(const membership_view& view, uint32_t replicas) {
  auto next = next_ring(view);
  if (!next)
    return {};
  return transfers_between(current_ring(view), *next, replicas);
}

bool promote_if_complete(membership_view& view, uint32_t replicas) {
  auto& layout = view.layout;
  if (layout.next_owners.empty())
    return false;
  for (auto& t : transfers_needed(view, replicas))
    if (!std::binary_search(layout.done.begin(), layout.done.end(), t))
      return false;
  layout.owners = std::move(layout.next_owners);
  layout.next_owners.clear();
  layout.done.clear();
  ++layout.epoch;
  return true;
}

caf::expected<membership_view> apply_change(const membership_view& view, const std::string& action,
                                            const std::string& subject, uint32_t replicas,
                                            uint64_t now_version) {
  auto refuse = [](const std::string& why) { return caf::make_error(ec::bad_request, why); };
  // A dead node may have to be removed while a handoff waits for it; other changes wait their turn.
  auto running = !view.layout.next_owners.empty();
  if (running && action != "remove") {
    auto needed = transfers_needed(view, replicas);
    return refuse("a handoff is still running (" + std::to_string(view.layout.done.size()) +
                  " of " + std::to_string(needed.size()) +
                  " partition transfers done); wait until status shows it finished");
  }
  const member_info* target = nullptr;
  member_state new_state;
  if (action == "join") {
    for (auto& m : view.members)
      if (endpoint_of(m) == subject && m.state != member_state::removed)
        target = &m;
    if (!target)
      return refuse("no node at " + subject +
                    " has asked to join: start it with kvnode --join SEED first");
    if (target->state != member_state::joining)
      return refuse(target->name + " (" + subject + ") is already a member, " +
                    state_name(target->state));
    new_state = member_state::valid;
  } else if (action == "leave" || action == "remove") {
    target = find_member(view, subject);
    if (!target && find_tombstone(view, subject))
      return refuse(subject + " was already removed");
    if (!target)
      return refuse("no member named '" + subject + "'");
    if (target->state == member_state::removed)
      return refuse(subject + " was already removed");
    if (action == "leave" && target->state != member_state::valid)
      return refuse(subject + " is " + state_name(target->state) + ", not a valid member");
    new_state = action == "leave" ? member_state::leaving : member_state::removed;
  } else {
    return refuse("unknown change '" + action + "' (join HOST:PORT, leave NAME or remove NAME)");
  }
  auto out = view;
  auto changed = *target;
  changed.state = new_state;
  changed.version = std::max(changed.version + 1, now_version);
  // A removal is final: no later restart of the node (which raises its version) may undo it, so
  // the name is retired.
  if (new_state == member_state::removed)
    changed.version = UINT64_MAX;
  upsert(out, changed);
  std::vector<ring_member> members;
  for (auto& m : out.members)
    if (m.state == member_state::valid)
      members.push_back({m.name, std::max<uint32_t>(m.capacity, 1), m.zone});
  if (members.size() < replicas)
    return refuse("only " + std::to_string(members.size()) + " nodes would hold data, " +
                  std::to_string(replicas) + " replicas are configured");
  auto base = running ? *next_ring(view) : current_ring(view);
  auto next = base.rebalance(std::move(members)).owner_names();
  ++out.layout.epoch;
  auto done = std::move(out.layout.done);
  out.layout.done.clear();
  out.layout.next_owners.clear();
  if (next != out.layout.owners) {
    out.layout.next_owners = std::move(next);
    // Transfers already made that the new target still needs need not be made again.
    auto needed = transfers_needed(out, replicas);
    for (auto& t : done)
      if (std::binary_search(needed.begin(), needed.end(), t))
        out.layout.done.push_back(t);
  }
  return out;
}

std::string describe_change(const membership_view& before, const membership_view& after,
                            uint32_t replicas) {
  auto old_ring = current_ring(before);
  auto new_ring = next_ring(after) ? *next_ring(after) : current_ring(after);
  auto q = old_ring.partitions();
  std::map<std::string, uint32_t> old_count, new_count;
  for (auto& o : old_ring.owner_names())
    ++old_count[o];
  for (auto& o : new_ring.owner_names())
    ++new_count[o];
  uint64_t total_capacity = 0;
  for (auto& m : after.members)
    if (m.state == member_state::valid)
      total_capacity += m.capacity;
  std::ostringstream out;
  out << old_ring.moves_to(new_ring) << " of " << q << " partitions change owner, "
      << transfers_between(old_ring, new_ring, replicas).size()
      << " partition copies stream to new replicas\n";
  char line[160];
  std::snprintf(line, sizeof line, "%-12s %-10s %-8s %8s %14s %14s %14s\n", "node", "zone", "state",
                "capacity", "capacity share", "before", "after");
  out << line;
  for (auto& m : after.members) {
    if (m.state == member_state::removed && old_count[m.name] == 0)
      continue;
    auto share = m.state == member_state::valid && total_capacity > 0
                     ? percent(double(m.capacity) / double(total_capacity))
                     : std::string{"-"};
    auto cell = [&](uint32_t n) { return std::to_string(n) + " " + percent(double(n) / q); };
    std::snprintf(line, sizeof line, "%-12s %-10s %-8s %8u %14s %14s %14s\n", m.name.c_str(),
                  m.zone.c_str(), state_name(m.state), m.capacity, share.c_str(),
                  cell(old_count[m.name]).c_str(), cell(new_count[m.name]).c_str());
    out << line;
  }
  return out.str();
}

std::string encode_view(const membership_view& view) {
  // One fact per line; names, hosts and owners never contain spaces (the manifest checks names).
  std::ostringstream out;
  out << "actorkv-view " << membership_format << '\n';
  for (auto& m : view.members)
    out << "member " << m.name << ' ' << m.host << ' ' << m.port << ' ' << m.capacity << ' '
        << int(m.state) << ' ' << m.incarnation << ' ' << m.version << ' ' << m.zone << '\n';
  out << "epoch " << view.layout.epoch << '\n';
  auto list = [&](const char* tag, const std::vector<std::string>& names) {
    out << tag;
    for (auto& n : names)
      out << ' ' << n;
    out << '\n';
  };
  list("owners", view.layout.owners);
  list("next", view.layout.next_owners);
  out << "done";
  for (auto& t : view.layout.done)
    out << ' ' << t.partition << ':' << t.target;
  out << '\n';
  for (auto& t : view.tombstones)
    out << "tombstone " << t.name << ' ' << t.version << ' ' << t.purged_us << '\n';
  if (!view.retired.empty()) {
    out << "retired";
    for (auto id : view.retired)
      out << ' ' << id;
    out << '\n';
  }
  return out.str();
}

std::optional<membership_view> decode_view(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  // Formats 1 (before zones: every member was in the default zone), 2 (before tombstones) and
  // 3 (before retired ids) are read too; any other is not.
  if (!std::getline(in, line) ||
      (line != "actorkv-view 1" && line != "actorkv-view 2" && line != "actorkv-view 3" &&
       line != "actorkv-view " + std::to_string(membership_format)))
    return std::nullopt;
  bool zoned = line != "actorkv-view 1";
  membership_view view;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string tag;
    fields >> tag;
    if (tag == "member") {
      member_info m;
      int state = 0;
      if (!(fields >> m.name >> m.host >> m.port >> m.capacity >> state >> m.incarnation >>
            m.version) ||
          (zoned && !(fields >> m.zone)) || state < 0 || state > int(member_state::removed))
        return std::nullopt;
      m.state = static_cast<member_state>(state);
      upsert(view, m);
    } else if (tag == "epoch") {
      if (!(fields >> view.layout.epoch))
        return std::nullopt;
    } else if (tag == "owners" || tag == "next") {
      auto& names = tag == "owners" ? view.layout.owners : view.layout.next_owners;
      for (std::string n; fields >> n;)
        names.push_back(n);
    } else if (tag == "done") {
      for (std::string t; fields >> t;) {
        auto colon = t.find(':');
        if (colon == std::string::npos || colon == 0)
          return std::nullopt;
        partition_transfer x;
        try {
          x.partition = static_cast<uint32_t>(std::stoul(t.substr(0, colon)));
        } catch (...) {
          return std::nullopt;
        }
        x.target = t.substr(colon + 1);
        view.layout.done.push_back(std::move(x));
      }
      std::sort(view.layout.done.begin(), view.layout.done.end());
    } else if (tag == "tombstone") {
      member_tombstone t;
      if (!(fields >> t.name >> t.version >> t.purged_us) || find_member(view, t.name) ||
          find_tombstone(view, t.name))
        return std::nullopt;
      view.tombstones.insert(by_name(view.tombstones, t.name), t);
    } else if (tag == "retired") {
      std::string id;
      while (fields >> id) {
        // Digits only: istream would read "-1" as a huge id.
        if (id.find_first_not_of("0123456789") != std::string::npos)
          return std::nullopt;
        try {
          retire(view.retired, std::stoull(id));
        } catch (...) {
          return std::nullopt;
        }
      }
    } else if (!tag.empty()) {
      return std::nullopt;
    }
  }
  if (view.layout.owners.empty())
    return std::nullopt;
  return view;
}

std::optional<uint32_t> kept_view_format(const std::string& text) {
  std::istringstream in(text);
  std::string tag;
  uint64_t format = 0;
  if (!(in >> tag >> format) || tag != "actorkv-view" || format > UINT32_MAX)
    return std::nullopt;
  return static_cast<uint32_t>(format);
}

std::string format_refusal(const membership_view& theirs) {
  return format_refusal(theirs.format);
}

std::string format_refusal(uint32_t format) {
  if (format == membership_format)
    return {};
  return "refusing a membership view in format " + std::to_string(format) +
         " (this node speaks format " + std::to_string(membership_format) +
         "): nodes of different releases cannot share a cluster; upgrade every node together";
}

uint64_t fingerprint(const membership_view& view) {
  // FNV-1a over the entries: stable across machines and builds.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* data, size_t n) {
    auto* p = static_cast<const uint8_t*>(data);
    for (size_t k = 0; k < n; ++k) {
      h ^= p[k];
      h *= 1099511628211ull;
    }
  };
  for (auto& m : view.members) {
    mix(m.name.data(), m.name.size());
    mix(m.host.data(), m.host.size());
    mix(m.zone.data(), m.zone.size() + 1);
    uint64_t fields[] = {m.port, m.capacity, static_cast<uint64_t>(m.state), m.incarnation,
                         m.version};
    mix(fields, sizeof(fields));
  }
  mix(&view.layout.epoch, sizeof(view.layout.epoch));
  for (auto* names : {&view.layout.owners, &view.layout.next_owners})
    for (auto& n : *names)
      mix(n.data(), n.size() + 1);
  for (auto& t : view.layout.done) {
    mix(&t.partition, sizeof(t.partition));
    mix(t.target.data(), t.target.size() + 1);
  }
  for (auto& t : view.tombstones) {
    mix(t.name.data(), t.name.size() + 1);
    mix(&t.version, sizeof(t.version));
    mix(&t.purged_us, sizeof(t.purged_us));
  }
  for (auto id : view.retired)
    mix(&id, sizeof(id));
  return h;
}

ring_digest ring_digest_of(const ring_layout& layout) {
  ring_digest out;
  out.epoch = layout.epoch;
  fnv change;
  change.u64(layout.owners.size());
  for (auto& n : layout.owners)
    change.str(n);
  change.u64(layout.next_owners.size());
  for (auto& n : layout.next_owners)
    change.str(n);
  out.change = change.h;
  out.done = static_cast<uint32_t>(layout.done.size());
  fnv done;
  for (auto& t : layout.done) {
    done.u64(t.partition);
    done.str(t.target);
  }
  out.done_stamp = done.h;
  return out;
}

view_digest digest_of(const membership_view& view) {
  view_digest out;
  out.members.reserve(view.members.size() + view.tombstones.size());
  auto t = view.tombstones.begin();
  for (auto& m : view.members) {
    for (; t != view.tombstones.end() && t->name < m.name; ++t)
      out.members.push_back(member_digest{t->name, t->version, stamp_of(*t)});
    out.members.push_back(member_digest{m.name, m.version, stamp_of(m)});
  }
  for (; t != view.tombstones.end(); ++t)
    out.members.push_back(member_digest{t->name, t->version, stamp_of(*t)});
  out.ring = ring_digest_of(view.layout);
  out.retired = retired_digest_of(view.retired);
  return out;
}

view_delta answer_digest(const membership_view& mine, const view_digest& my_digest,
                         const view_digest& theirs) {
  view_delta out;
  out.ring_of = my_digest.ring;
  auto i = my_digest.members.begin();
  auto j = theirs.members.begin();
  while (i != my_digest.members.end() || j != theirs.members.end()) {
    if (j == theirs.members.end() || (i != my_digest.members.end() && i->name < j->name)) {
      send_entry(mine, (i++)->name, out);
    } else if (i == my_digest.members.end() || j->name < i->name) {
      out.wanted.push_back((j++)->name);
    } else {
      // Equal versions with different content: each side needs the other's to decide.
      if (i->version > j->version || (i->version == j->version && i->stamp != j->stamp))
        send_entry(mine, i->name, out);
      if (i->version < j->version || (i->version == j->version && i->stamp != j->stamp))
        out.wanted.push_back(j->name);
      ++i;
      ++j;
    }
  }
  if (my_digest.retired != theirs.retired) {
    // Each side sends its whole set: the union is what merge keeps.
    out.retired = mine.retired;
    out.retired_wanted = true;
  }
  auto& a = my_digest.ring;
  auto& b = theirs.ring;
  if (a == b)
    return out;
  if (a.epoch != b.epoch || a.change != b.change) {
    if (a.epoch >= b.epoch) {
      out.ring_sent = ring_part::full;
      out.ring = mine.layout;
    }
    if (a.epoch <= b.epoch)
      out.ring_wanted = ring_part::full;
  } else {
    // The same change, different progress: the finished transfers alone (the other side sends
    // back only those this list lacks).
    out.ring_sent = ring_part::done;
    out.ring.epoch = mine.layout.epoch;
    out.ring.done = mine.layout.done;
    out.ring_wanted = ring_part::done;
  }
  return out;
}

delta_outcome apply_delta(membership_view& view, const ring_digest& my_ring,
                          const view_delta& delta) {
  delta_outcome out;
  auto retired_before = view.retired.size();
  // The retired ids first: an entry they say is over is neither taken in nor kept.
  if (!delta.retired.empty()) {
    auto united = unite_retired(view.retired, delta.retired);
    if (united.size() != view.retired.size()) {
      view.retired = std::move(united);
      drop_outlived(view, out.names);
    }
  }
  for (auto& m : delta.members)
    if (merge_entry(view, m))
      out.names.push_back(m.name);
  for (auto& t : delta.tombstones)
    if (merge_tombstone(view, t))
      out.names.push_back(t.name);
  out.changed = !out.names.empty() || view.retired.size() != retired_before;
  auto& layout = view.layout;
  if (delta.ring_sent == ring_part::full) {
    auto merged = merge_layouts(layout, delta.ring);
    if (!same_change(merged, layout) || merged.done != layout.done) {
      layout = std::move(merged);
      out.changed = true;
    }
  } else if (delta.ring_sent == ring_part::done && my_ring.epoch == delta.ring_of.epoch &&
             my_ring.change == delta.ring_of.change && !layout.next_owners.empty()) {
    // The same change on both sides: merge_layouts would unite the finished transfers.
    std::vector<partition_transfer> united;
    std::set_union(layout.done.begin(), layout.done.end(), delta.ring.done.begin(),
                   delta.ring.done.end(), std::back_inserter(united));
    if (united.size() != layout.done.size()) {
      layout.done = std::move(united);
      out.changed = true;
    }
  }
  return out;
}

view_delta fulfil(const membership_view& mine, const ring_digest& my_ring,
                  const view_delta& request) {
  view_delta out;
  out.ring_of = my_ring;
  for (auto& name : request.wanted)
    send_entry(mine, name, out);
  if (request.retired_wanted && mine.retired != request.retired)
    out.retired = mine.retired;
  if (request.ring_wanted == ring_part::none || my_ring == request.ring_of)
    return out;
  auto& theirs = request.ring_of;
  if (my_ring.epoch == theirs.epoch && my_ring.change == theirs.change) {
    // Their answer listed their finished transfers: send only those it lacks.
    std::set_difference(mine.layout.done.begin(), mine.layout.done.end(), request.ring.done.begin(),
                        request.ring.done.end(), std::back_inserter(out.ring.done));
    if (!out.ring.done.empty()) {
      out.ring_sent = ring_part::done;
      out.ring.epoch = mine.layout.epoch;
    }
  } else if (my_ring.epoch >= theirs.epoch) {
    // Another change (or this side promoted the ring meanwhile): the whole layout. A lower epoch
    // would lose to theirs anyway.
    out.ring_sent = ring_part::full;
    out.ring = mine.layout;
  }
  return out;
}

bool carries_nothing(const view_delta& delta) {
  return delta.members.empty() && delta.tombstones.empty() && delta.wanted.empty() &&
         delta.ring_sent == ring_part::none && delta.ring_wanted == ring_part::none &&
         delta.retired.empty() && !delta.retired_wanted;
}

bool tombstone_expired(const member_tombstone& t, int64_t wall_us, int64_t tombstone_grace_ms) {
  return wall_us - t.purged_us >= tombstone_grace_ms * 1000;
}

purge_outcome purge_departed(membership_view& view, purge_clock& clock, int64_t now_ms,
                             int64_t wall_us, int64_t removed_grace_ms,
                             int64_t tombstone_grace_ms) {
  purge_outcome out;
  // First sightings of the members still removed; the others are forgotten.
  std::map<std::string, int64_t> since;
  for (auto& m : view.members)
    if (m.state == member_state::removed) {
      auto it = clock.removed_since.find(m.name);
      since.emplace(m.name, it != clock.removed_since.end() ? it->second : now_ms);
    }
  clock.removed_since.swap(since);
  std::vector<std::string> due;
  for (auto& [name, seen] : clock.removed_since)
    if (now_ms - seen >= removed_grace_ms)
      due.push_back(name);
  if (!due.empty()) {
    // O(Q), only while a removed member is due: one that still owns a partition (in the ring in
    // force or the next) waits until the change that moves its partitions is over.
    std::set<std::string> owning(view.layout.owners.begin(), view.layout.owners.end());
    owning.insert(view.layout.next_owners.begin(), view.layout.next_owners.end());
    for (auto& name : due) {
      if (owning.count(name) > 0)
        continue;
      auto it = by_name(view.members, name);
      if (it == view.members.end() || it->name != name)
        continue;
      member_tombstone t{name, it->version, wall_us};
      view.members.erase(it);
      view.tombstones.insert(by_name(view.tombstones, name), t);
      clock.removed_since.erase(name);
      out.purged.push_back(name);
    }
  }
  auto expired = [&](const member_tombstone& t) {
    return tombstone_expired(t, wall_us, tombstone_grace_ms);
  };
  for (auto& t : view.tombstones)
    if (expired(t))
      out.forgotten.push_back(t.name);
  view.tombstones.erase(std::remove_if(view.tombstones.begin(), view.tombstones.end(), expired),
                        view.tombstones.end());
  return out;
}

} // namespace actorkv
