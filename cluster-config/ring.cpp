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

/// Weights of a same-owner pair at distance 1 and 2. A neighbour owned by the same node always
/// costs more than any number of distance-2 repeats it could save (at most 4 per partition).
constexpr uint32_t adjacent_weight = 16;
constexpr uint32_t nearby_weight = 1;

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

/// The same-owner pairs around p, weighted: what interleaving tries to drive to zero.
uint32_t local_cost(const std::vector<uint32_t>& owners, partition_id p) {
  auto q = static_cast<uint32_t>(owners.size());
  uint32_t cost = 0;
  for (int64_t d : {-2, -1, 1, 2}) {
    auto r = step(p, d, q);
    if (r != p && owners[r] == owners[p])
      cost += (d == 1 || d == -1) ? adjacent_weight : nearby_weight;
  }
  return cost;
}

/// Hill-climbs by swapping the owners of two movable partitions whenever that lowers the cost
/// around them. A swap keeps every node's count, and over movable partitions only it moves nothing
/// that was not moving anyway. Each accepted swap lowers the ring's total cost, so it terminates.
void smooth(std::vector<uint32_t>& owners, const std::vector<bool>& movable) {
  auto q = static_cast<uint32_t>(owners.size());
  if (q < 4)
    return;
  auto radius = std::min(swap_radius, q / 2);
  for (bool improved = true; improved;) {
    improved = false;
    for (partition_id p = 0; p < q; ++p) {
      if (!movable[p] || local_cost(owners, p) == 0)
        continue;
      bool swapped = false;
      for (uint32_t d = 1; d <= radius && !swapped; ++d) {
        for (int64_t dir : {1, -1}) {
          auto r = step(p, dir * d, q);
          if (!movable[r] || owners[r] == owners[p])
            continue;
          auto before = local_cost(owners, p) + local_cost(owners, r);
          std::swap(owners[p], owners[r]);
          if (local_cost(owners, p) + local_cost(owners, r) < before) {
            swapped = improved = true;
            break;
          }
          std::swap(owners[p], owners[r]);
        }
      }
    }
  }
}

/// Lays out `targets[i]` partitions for each member i around a ring of q partitions, evenly
/// interleaved: smooth weighted round robin (nginx's), where a member is skipped while it owns one
/// of the `spread` partitions before (or, when wrapping around, after) the current one. A member
/// too large to keep that distance (more than 1/3 of the ring) only keeps its neighbours apart,
/// and one that fell a whole turn behind its share may come back closer, so no member is pushed
/// to the end of the ring where it would pile up.
std::vector<uint32_t> interleave(uint32_t q, const std::vector<uint32_t>& targets) {
  auto n = targets.size();
  std::vector<uint32_t> owners(q, no_owner);
  std::vector<int64_t> current(n, 0);
  std::vector<uint32_t> left = targets;
  std::vector<uint32_t> window(n, 0);
  for (size_t i = 0; i < n; ++i)
    if (targets[i] > 0)
      window[i] = std::min(spread, q / targets[i] - 1);
  for (partition_id p = 0; p < q; ++p) {
    for (size_t i = 0; i < n; ++i)
      current[i] += targets[i];
    auto owns_near = [&](size_t i, uint32_t w) {
      for (uint32_t d = 1; d <= w; ++d)
        if (owners[step(p, -int64_t{d}, q)] == i || owners[step(p, d, q)] == i)
          return true;
      return false;
    };
    auto pick = [&](const std::function<uint32_t(size_t)>& window_of) {
      size_t best = n;
      for (size_t i = 0; i < n; ++i)
        if (left[i] > 0 && !owns_near(i, window_of(i)) && (best == n || current[i] > current[best]))
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
  smooth(owners, std::vector<bool>(q, true));
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
  out.owners_ = interleave(partitions, shares(partitions, out.members_));
  return out;
}

ring ring::rebalance(std::vector<ring_member> members) const {
  auto q = partitions();
  check_partitions(q);
  ring out;
  out.members_ = normalized(std::move(members));
  auto n = out.members_.size();
  auto targets = shares(q, out.members_);
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
  // that owns none of p-2..p+2 where possible, then the one furthest below its share.
  for (auto p : freed) {
    auto best = n;
    std::tuple<uint32_t, uint32_t, int64_t> best_score;
    for (uint32_t i = 0; i < n; ++i) {
      if (count[i] >= targets[i])
        continue;
      uint32_t adjacent = 0;
      uint32_t nearby = 0;
      for (int64_t d : {-2, -1, 1, 2}) {
        auto r = step(p, d, q);
        if (r != p && owners[r] == i)
          ++(d == 1 || d == -1 ? adjacent : nearby);
      }
      auto score = std::tuple{adjacent, nearby, -int64_t{targets[i] - count[i]}};
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
  smooth(owners, movable);
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
  return out;
}

std::vector<std::string> ring::owner_names() const {
  std::vector<std::string> out;
  out.reserve(owners_.size());
  for (auto i : owners_)
    out.push_back(members_[i].name);
  return out;
}

std::vector<std::string> ring::home_replicas(partition_id p, uint32_t n) const {
  auto q = partitions();
  owners_.at(p);
  std::vector<std::string> out;
  std::vector<bool> listed(members_.size(), false);
  for (uint32_t k = 0; k < q && out.size() < n; ++k) {
    auto i = owners_[step(p, k, q)];
    if (!listed[i]) {
      listed[i] = true;
      out.push_back(members_[i].name);
    }
  }
  for (size_t i = 0; i < members_.size() && out.size() < n; ++i)
    if (!listed[i])
      out.push_back(members_[i].name);
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

std::vector<std::string> ring::preference_list(partition_id p) const {
  auto q = partitions();
  owners_.at(p); // throws std::out_of_range rather than wrapping silently
  std::vector<std::string> out;
  std::vector<bool> listed(members_.size(), false);
  for (uint32_t k = 0; k < q && out.size() < members_.size(); ++k) {
    auto i = owners_.at(step(p, k, q));
    if (!listed[i]) {
      listed[i] = true;
      out.push_back(members_[i].name);
    }
  }
  // Members too small to own a partition (more members than partitions) are fallbacks only.
  for (size_t i = 0; i < members_.size(); ++i)
    if (!listed[i])
      out.push_back(members_[i].name);
  return out;
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
