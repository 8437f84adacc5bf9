#include "cluster-config/ring.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <stdexcept>
#include <tuple>

#include <openssl/evp.h>

namespace actorkv {

namespace {

/// Marks a partition without an owner while rebalance() redistributes it.
constexpr uint32_t no_owner = UINT32_MAX;

/// How many partitions on each side of p should belong to nodes other than p's owner: N - 1 for
/// the default N = 3, so a preference list finds its home replicas among p, p+1 and p+2. The ring
/// does not know N; a larger N only means walking a little further, never a wrong list.
constexpr uint32_t spread = 2;

/// Weights of a same-owner pair at distance 1 and 2 and of a same-zone pair at distance 1 and 2.
/// Each outweighs any number of the lighter kinds a swap could save (at most 8 over the two
/// partitions a swap changes), so the cost orders layouts by: same-node neighbours, same-zone
/// neighbours, same-zone at distance 2, same-node at distance 2.
constexpr uint32_t nearby_weight = 1;
constexpr uint32_t zone_nearby_weight = 9;
constexpr uint32_t zone_adjacent_weight = 81;
constexpr uint32_t adjacent_weight = 729;

/// How far smooth() looks for a partner to swap owners with. The layouts it repairs are already
/// nearly even, so conflicts are fixed locally; the bound keeps Q = 65536 fast.
constexpr uint32_t swap_radius = 32;

partition_id step(partition_id p, int64_t d, uint32_t q) {
  auto m = (static_cast<int64_t>(p) + d) % static_cast<int64_t>(q);
  return static_cast<partition_id>(m < 0 ? m + q : m);
}

void check_partitions(uint32_t q) {
  if (q == 0 || (q & (q - 1)) != 0)
    throw std::invalid_argument("ring: partitions = " + std::to_string(q) +
                                " is not a power of two");
}

/// Members sorted by name, checked: the order is what makes every node derive the same ring.
std::vector<ring_member> normalized(std::vector<ring_member> members) {
  if (members.empty())
    throw std::invalid_argument("ring: no members");
  std::sort(members.begin(), members.end(),
            [](const ring_member& a, const ring_member& b) { return a.name < b.name; });
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i].capacity < 1)
      throw std::invalid_argument("ring: member '" + members[i].name + "' has capacity 0");
    if (i > 0 && members[i].name == members[i - 1].name)
      throw std::invalid_argument("ring: member '" + members[i].name + "' is listed twice");
  }
  return members;
}

/// How many partitions each member should own: q * capacity / total, rounded by the largest
/// remainder method (Hamilton), remainders tied broken by name (= index order).
std::vector<uint32_t> shares(uint32_t q, const std::vector<ring_member>& members) {
  uint64_t total = 0;
  for (auto& m : members)
    total += m.capacity;
  std::vector<uint32_t> out(members.size());
  std::vector<uint64_t> remainder(members.size());
  uint64_t given = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    auto exact = uint64_t{q} * members[i].capacity;
    out[i] = static_cast<uint32_t>(exact / total);
    remainder[i] = exact % total;
    given += out[i];
  }
  std::vector<size_t> order(members.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainder[a] > remainder[b]; });
  for (size_t k = 0; given < q; ++k, ++given)
    ++out[order[k]];
  return out;
}

/// Zone number of each member (zones numbered in name order).
std::vector<uint32_t> zone_numbers(const std::vector<ring_member>& members,
                                   uint32_t* count = nullptr) {
  std::vector<std::string> names;
  for (auto& m : members)
    names.push_back(m.zone);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<uint32_t> out;
  out.reserve(members.size());
  for (auto& m : members)
    out.push_back(static_cast<uint32_t>(std::lower_bound(names.begin(), names.end(), m.zone) -
                                        names.begin()));
  if (count)
    *count = static_cast<uint32_t>(names.size());
  return out;
}

/// What interleaving and smoothing see of zones: each member's zone number, or nothing with a
/// single zone (then zones cost nothing and the layout is the one without zones).
std::vector<uint32_t> zones_for_layout(const std::vector<ring_member>& members) {
  uint32_t count = 0;
  auto zones = zone_numbers(members, &count);
  if (count <= 1)
    zones.clear();
  return zones;
}

/// The same-owner and same-zone pairs around p, weighted: what interleaving tries to drive to
/// zero. `zones` is empty or gives each member's zone.
uint32_t local_cost(const std::vector<uint32_t>& owners, const std::vector<uint32_t>& zones,
                    partition_id p) {
  auto q = static_cast<uint32_t>(owners.size());
  uint32_t cost = 0;
  for (int64_t d : {-2, -1, 1, 2}) {
    auto r = step(p, d, q);
    if (r == p)
      continue;
    bool adjacent = d == 1 || d == -1;
    if (owners[r] == owners[p])
      cost += adjacent ? adjacent_weight : nearby_weight;
    if (!zones.empty() && zones[owners[r]] == zones[owners[p]])
      cost += adjacent ? zone_adjacent_weight : zone_nearby_weight;
  }
  return cost;
}

/// Hill-climbs by swapping the owners of two movable partitions whenever that lowers the cost
/// around them. A swap keeps every node's count, and over movable partitions only it moves nothing
/// that was not moving anyway. Each accepted swap lowers the ring's total cost, so it terminates.
void smooth(std::vector<uint32_t>& owners, const std::vector<uint32_t>& zones,
            const std::vector<bool>& movable) {
  auto q = static_cast<uint32_t>(owners.size());
  if (q < 4)
    return;
  auto radius = std::min(swap_radius, q / 2);
  for (bool improved = true; improved;) {
    improved = false;
    for (partition_id p = 0; p < q; ++p) {
      if (!movable[p] || local_cost(owners, zones, p) == 0)
        continue;
      bool swapped = false;
      for (uint32_t d = 1; d <= radius && !swapped; ++d) {
        for (int64_t dir : {1, -1}) {
          auto r = step(p, dir * d, q);
          if (!movable[r] || owners[r] == owners[p])
            continue;
          auto before = local_cost(owners, zones, p) + local_cost(owners, zones, r);
          std::swap(owners[p], owners[r]);
          if (local_cost(owners, zones, p) + local_cost(owners, zones, r) < before) {
            swapped = improved = true;
            break;
          }
          std::swap(owners[p], owners[r]);
        }
      }
    }
  }
}

/// A deterministic pseudo-random number for member i at partition p (splitmix64's finaliser).
uint64_t salt(uint64_t i, uint64_t p) {
  uint64_t x = (i << 32) ^ p ^ 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Lays out `targets[i]` partitions for each member i around a ring of q partitions, evenly
/// interleaved: smooth weighted round robin (nginx's), where a member is skipped while it owns one
/// of the `spread` partitions before (or, when wrapping around, after) the current one. A member
/// too large to keep that distance (more than 1/3 of the ring) only keeps its neighbours apart,
/// and one that fell a whole turn behind its share may come back closer, so no member is pushed
/// to the end of the ring where it would pile up.
/// With several zones (`zones` gives each member's), the same round robin first picks the zone,
/// weighted by its members' targets and kept away from the zones of the partitions just before,
/// then the member within it: with zones of equal capacity consecutive partitions cycle through
/// the zones, so a partition's next owners are its home replicas and every node holds as many
/// replicas as it owns partitions times N. Members tied in the round robin are then taken in a
/// pseudo-random order rather than by index, so a node's neighbours differ around the ring and
/// the replicas a departed node leaves behind spread over many nodes, not the same two.
std::vector<uint32_t> interleave(uint32_t q, const std::vector<uint32_t>& targets,
                                 const std::vector<uint32_t>& zones) {
  auto n = targets.size();
  std::vector<uint32_t> owners(q, no_owner);
  std::vector<int64_t> current(n, 0);
  std::vector<uint32_t> left = targets;
  std::vector<uint32_t> window(n, 0);
  for (size_t i = 0; i < n; ++i)
    if (targets[i] > 0)
      window[i] = std::min(spread, q / targets[i] - 1);
  uint32_t zone_count = zones.empty() ? 0 : *std::max_element(zones.begin(), zones.end()) + 1;
  std::vector<uint32_t> zone_left(zone_count, 0);
  std::vector<int64_t> zone_current(zone_count, 0);
  for (size_t i = 0; i < n && zone_count > 0; ++i)
    zone_left[zones[i]] += targets[i];
  auto zone_target = zone_left;
  std::vector<uint32_t> zone_window(zone_count, 0);
  for (uint32_t z = 0; z < zone_count; ++z)
    if (zone_target[z] > 0)
      zone_window[z] = std::min(spread, q / zone_target[z] - 1);
  constexpr uint32_t any_zone = UINT32_MAX;
  for (partition_id p = 0; p < q; ++p) {
    for (size_t i = 0; i < n; ++i)
      current[i] += targets[i];
    auto zone = any_zone;
    if (zone_count > 1) {
      for (uint32_t z = 0; z < zone_count; ++z)
        zone_current[z] += zone_target[z];
      auto zone_near = [&](uint32_t z, uint32_t w) {
        for (uint32_t d = 1; d <= w; ++d)
          for (auto r : {step(p, -int64_t{d}, q), step(p, d, q)})
            if (owners[r] != no_owner && zones[owners[r]] == z)
              return true;
        return false;
      };
      for (uint32_t w = spread + 1; zone == any_zone && w-- > 0;)
        for (uint32_t z = 0; z < zone_count; ++z)
          if (zone_left[z] > 0 && !zone_near(z, std::min(w, zone_window[z])) &&
              (zone == any_zone || zone_current[z] > zone_current[zone]))
            zone = z;
      zone_current[zone] -= q;
      --zone_left[zone];
    }
    auto owns_near = [&](size_t i, uint32_t w) {
      for (uint32_t d = 1; d <= w; ++d)
        if (owners[step(p, -int64_t{d}, q)] == i || owners[step(p, d, q)] == i)
          return true;
      return false;
    };
    auto pick = [&](const std::function<uint32_t(size_t)>& window_of) {
      size_t best = n;
      for (size_t i = 0; i < n; ++i)
        if (left[i] > 0 && (zone == any_zone || zones[i] == zone) && !owns_near(i, window_of(i)) &&
            (best == n || current[i] > current[best] ||
             (zone != any_zone && current[i] == current[best] && salt(i, p) > salt(best, p))))
          best = i;
      return best;
    };
    auto chosen = pick([&](size_t i) {
      return current[i] < int64_t{q} ? window[i] : std::min<uint32_t>(1, window[i]);
    });
    for (uint32_t w = spread; chosen == n && w-- > 0;)
      chosen = pick([&](size_t i) { return std::min(w, window[i]); });
    current[chosen] -= q;
    owners[p] = static_cast<uint32_t>(chosen);
    --left[chosen];
  }
  smooth(owners, zones, std::vector<bool>(q, true));
  return owners;
}

} // namespace

std::array<uint8_t, 16> ring_position(const bytes& key) {
  // OpenSSL 3 looks the implementation of EVP_md5() up, under a lock, and allocates a context on
  // every EVP_Digest: several times the hashing of a short key. Fetched once, with one context
  // per thread, a key costs the hashing alone.
  static EVP_MD* const md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx{EVP_MD_CTX_new(),
                                                                            &EVP_MD_CTX_free};
  std::array<uint8_t, 16> out{};
  unsigned int len = 0;
  if (md5 == nullptr || ctx == nullptr || EVP_DigestInit_ex2(ctx.get(), md5, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), key.data(), key.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size())
    // Only possible when OpenSSL runs without its default provider (a FIPS-only setup): no key
    // could ever be placed, so this is a broken installation rather than a request error.
    throw std::runtime_error("ring_position: OpenSSL cannot compute MD5");
  return out;
}

partition_id partition_of(const bytes& key, uint32_t partitions) {
  uint32_t bits = 0;
  while (bits < 32 && (uint64_t{1} << bits) < partitions)
    ++bits;
  if (bits == 0)
    return 0;
  auto pos = ring_position(key);
  auto top = (uint32_t{pos[0]} << 24) | (uint32_t{pos[1]} << 16) | (uint32_t{pos[2]} << 8) |
             uint32_t{pos[3]};
  return top >> (32 - bits);
}

ring ring::build(uint32_t partitions, std::vector<ring_member> members) {
  check_partitions(partitions);
  ring out;
  out.members_ = normalized(std::move(members));
  out.owners_ =
      interleave(partitions, shares(partitions, out.members_), zones_for_layout(out.members_));
  out.index();
  return out;
}

ring ring::rebalance(std::vector<ring_member> members) const {
  auto q = partitions();
  check_partitions(q);
  ring out;
  out.members_ = normalized(std::move(members));
  auto n = out.members_.size();
  auto targets = shares(q, out.members_);
  auto zones = zones_for_layout(out.members_);
  std::map<std::string, uint32_t> index;
  for (uint32_t i = 0; i < n; ++i)
    index.emplace(out.members_[i].name, i);
  // Keep every partition whose owner stays; those of departed nodes are free.
  auto& owners = out.owners_;
  owners.assign(q, no_owner);
  std::vector<uint32_t> count(n, 0);
  std::set<partition_id> freed;
  for (partition_id p = 0; p < q; ++p) {
    auto i = index.find(members_[owners_[p]].name);
    if (i == index.end()) {
      freed.insert(p);
    } else {
      owners[p] = i->second;
      ++count[i->second];
    }
  }
  // Trim nodes above their new share. Which of their partitions to give up, best first:
  //   1. not next to a partition already freed (two freed neighbours may end at one new owner),
  //   2. one whose owner also owns p-2..p+2 (freeing it removes a repeat in preference lists),
  //   3. not within two of a freed partition, then as far from every freed one as possible
  //      (freed partitions spread around the ring, like the new owner's share should be),
  //   4. the lowest partition number.
  // Every criterion only gets worse as partitions are freed, so a lazily updated heap is exact.
  auto distance_to_freed = [&](partition_id p) -> uint32_t {
    if (freed.empty())
      return q;
    auto next = freed.lower_bound(p);
    auto after = next == freed.end() ? *freed.begin() : *next;
    auto before = next == freed.begin() ? *freed.rbegin() : *std::prev(next);
    auto fwd = (after + q - p) % q;
    auto back = (p + q - before) % q;
    return std::min(fwd, back);
  };
  auto repeats_owner = [&](partition_id p) {
    for (int64_t d : {-2, -1, 1, 2}) {
      auto r = step(p, d, q);
      if (r != p && owners[r] == owners[p])
        return true;
    }
    return false;
  };
  using rank = std::tuple<int, int, int, int64_t, partition_id>;
  auto rank_of = [&](partition_id p) {
    auto d = distance_to_freed(p);
    return rank{d >= 2 ? 0 : 1, repeats_owner(p) ? 0 : 1, d >= 3 ? 0 : 1, -int64_t{d}, p};
  };
  std::priority_queue<rank, std::vector<rank>, std::greater<rank>> candidates;
  for (partition_id p = 0; p < q; ++p)
    if (owners[p] != no_owner && count[owners[p]] > targets[owners[p]])
      candidates.push(rank_of(p));
  while (!candidates.empty()) {
    auto top = candidates.top();
    candidates.pop();
    auto p = std::get<partition_id>(top);
    if (count[owners[p]] <= targets[owners[p]])
      continue;
    auto now = rank_of(p);
    if (now != top) {
      candidates.push(now);
      continue;
    }
    --count[owners[p]];
    owners[p] = no_owner;
    freed.insert(p);
  }
  // Hand the freed partitions to the nodes below their share, in ring order: for each the node
  // that owns neither neighbour, then whose zone owns neither neighbour, then neither of p-2 and
  // p+2 (zone, then node), where possible; then the one furthest below its share.
  for (auto p : freed) {
    auto best = n;
    std::tuple<uint32_t, uint32_t, uint32_t, uint32_t, int64_t> best_score;
    for (uint32_t i = 0; i < n; ++i) {
      if (count[i] >= targets[i])
        continue;
      uint32_t adjacent = 0;
      uint32_t nearby = 0;
      uint32_t zone_adjacent = 0;
      uint32_t zone_nearby = 0;
      for (int64_t d : {-2, -1, 1, 2}) {
        auto r = step(p, d, q);
        if (r == p || owners[r] == no_owner)
          continue;
        bool near = d == 1 || d == -1;
        if (owners[r] == i)
          ++(near ? adjacent : nearby);
        if (!zones.empty() && zones[owners[r]] == zones[i])
          ++(near ? zone_adjacent : zone_nearby);
      }
      auto score =
          std::tuple{adjacent, zone_adjacent, zone_nearby, nearby, -int64_t{targets[i] - count[i]}};
      if (best == n || score < best_score) {
        best = i;
        best_score = score;
      }
    }
    owners[p] = static_cast<uint32_t>(best);
    ++count[best];
  }
  std::vector<bool> movable(q, false);
  for (auto p : freed)
    movable[p] = true;
  smooth(owners, zones, movable);
  out.index();
  return out;
}

ring ring::from_owners(std::vector<ring_member> members, const std::vector<std::string>& owners) {
  check_partitions(static_cast<uint32_t>(owners.size()));
  ring out;
  out.members_ = normalized(std::move(members));
  std::map<std::string, uint32_t> index;
  for (uint32_t i = 0; i < out.members_.size(); ++i)
    index.emplace(out.members_[i].name, i);
  out.owners_.reserve(owners.size());
  for (auto& name : owners) {
    auto i = index.find(name);
    if (i == index.end())
      throw std::invalid_argument("ring: owner '" + name + "' is not a member");
    out.owners_.push_back(i->second);
  }
  out.index();
  return out;
}

std::vector<std::string> ring::owner_names() const {
  std::vector<std::string> out;
  out.reserve(owners_.size());
  for (auto i : owners_)
    out.push_back(members_[i].name);
  return out;
}

void ring::index() {
  zone_of_ = zone_numbers(members_, &zone_count_);
  std::vector<bool> owns(members_.size(), false);
  for (auto i : owners_)
    owns[i] = true;
  std::vector<bool> zone_owns(zone_count_, false);
  owning_ = 0;
  owning_zones_ = 0;
  for (size_t i = 0; i < members_.size(); ++i) {
    if (!owns[i])
      continue;
    ++owning_;
    if (!zone_owns[zone_of_[i]]) {
      zone_owns[zone_of_[i]] = true;
      ++owning_zones_;
    }
  }
}

std::vector<uint32_t> ring::homes(partition_id p, uint32_t n) const {
  auto q = partitions();
  owners_.at(p); // throws std::out_of_range rather than wrapping silently
  n = std::min<uint32_t>(n, static_cast<uint32_t>(members_.size()));
  std::vector<uint32_t> out;
  out.reserve(n);
  auto listed = [&](uint32_t i) { return std::find(out.begin(), out.end(), i) != out.end(); };
  // Zones met so far: few (n of them at most), so a short list beats a per-ring bitmap.
  std::vector<uint32_t> zones_listed;
  auto owners_wanted = std::min(n, owning_);
  for (uint32_t k = 0; k < q && out.size() < owners_wanted; ++k) {
    auto i = owners_[step(p, k, q)];
    if (listed(i))
      continue;
    auto z = zone_of_[i];
    if (std::find(zones_listed.begin(), zones_listed.end(), z) != zones_listed.end()) {
      // Every place left is needed for a zone not met yet: skip this one.
      auto zones_left = owning_zones_ - static_cast<uint32_t>(zones_listed.size());
      if (owners_wanted - out.size() <= zones_left)
        continue;
    } else {
      zones_listed.push_back(z);
    }
    out.push_back(i);
  }
  // Members too small to own a partition (more members than partitions) are listed last.
  for (uint32_t i = 0; i < members_.size() && out.size() < n; ++i)
    if (!listed(i))
      out.push_back(i);
  return out;
}

std::vector<std::string> ring::home_replicas(partition_id p, uint32_t n) const {
  std::vector<std::string> out;
  for (auto i : homes(p, n))
    out.push_back(members_[i].name);
  return out;
}

void ring::for_each_fallback(partition_id p, uint32_t n,
                             const std::function<bool(const std::string&)>& visit) const {
  auto q = partitions();
  auto home = homes(p, n);
  std::vector<bool> listed(members_.size(), false);
  for (auto i : home)
    listed[i] = true;
  auto seen = static_cast<uint32_t>(home.size());
  // Once every owner was met, the rest of the walk has nothing new.
  for (uint32_t k = 0; k < q && seen < owning_; ++k) {
    auto i = owners_[step(p, k, q)];
    if (listed[i])
      continue;
    listed[i] = true;
    ++seen;
    if (!visit(members_[i].name))
      return;
  }
  for (size_t i = 0; i < members_.size(); ++i)
    if (!listed[i] && !visit(members_[i].name))
      return;
}

std::vector<std::string> ring::preference_list(partition_id p, uint32_t n, size_t fallbacks) const {
  auto out = home_replicas(p, n);
  if (fallbacks == 0)
    return out;
  size_t added = 0;
  for_each_fallback(p, n, [&](const std::string& name) {
    out.push_back(name);
    return ++added < fallbacks;
  });
  return out;
}

std::vector<partition_transfer> transfers_between(const ring& from, const ring& to, uint32_t n) {
  std::vector<partition_transfer> out;
  if (from.partitions() != to.partitions())
    throw std::invalid_argument("ring: transfers between rings of different sizes");
  for (partition_id p = 0; p < to.partitions(); ++p) {
    auto before = from.home_replicas(p, n);
    for (auto& name : to.home_replicas(p, n))
      if (std::find(before.begin(), before.end(), name) == before.end())
        out.push_back(partition_transfer{p, name});
  }
  return out;
}

const std::string& ring::owner(partition_id p) const {
  return members_[owners_.at(p)].name;
}

std::vector<uint32_t> ring::partitions_owned() const {
  std::vector<uint32_t> out(members_.size(), 0);
  for (auto i : owners_)
    ++out[i];
  return out;
}

uint32_t ring::moves_to(const ring& other) const {
  // Rings of different sizes share no partition boundaries: everything moves.
  if (other.partitions() != partitions())
    return std::max(partitions(), other.partitions());
  uint32_t moves = 0;
  for (partition_id p = 0; p < partitions(); ++p)
    if (owner(p) != other.owner(p))
      ++moves;
  return moves;
}

} // namespace actorkv
