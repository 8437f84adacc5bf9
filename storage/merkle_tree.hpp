// Anti-entropy hash trees: pure logic, no actors, no I/O.
//
// A merkle_tree covers one partition. Its 2^leaf_bits leaves each hold the XOR of the digests of
// the keys that hash into them; every inner node is the XOR of its two children. XOR makes adding
// and removing a digest the same O(leaf_bits) operation (toggle), so the tree follows writes as
// they happen instead of being rebuilt: on a write, toggle the old record's digest out (if there
// was one) and the new one in. Two replicas holding the same versions of the same keys have equal
// trees whatever order the writes arrived in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "messages/record.hpp"

namespace actorkv::storage {

/// Digest of one key's record: covers the key, the record's context and every sibling's dot,
/// timestamp, tombstone flag, expiry and value checksum (CRC32C), so replicas holding the same
/// versions agree and any divergence, a repaired corrupt value included, shows. Never 0 (0 marks
/// "absent or unreadable" in anti-entropy listings). Stable across machines and builds.
uint64_t record_digest(const bytes& key, const record& rec);

/// log2 of the leaves of every partition's tree. The leaf of each key is stored with its record
/// (storage/FORMAT.md), so changing this is a change of the on-disk format.
constexpr unsigned tree_leaf_bits = 8;

class merkle_tree {
public:
  explicit merkle_tree(unsigned leaf_bits = tree_leaf_bits);

  /// The tree whose leaves are `leaves` (left to right; their number a power of two, at least 1).
  static merkle_tree from_leaves(const std::vector<uint64_t>& leaves);

  /// The leaf `key` belongs to.
  static size_t leaf_of(const bytes& key, unsigned leaf_bits);

  /// Adds `digest` under `key`'s leaf, or removes it when it was added before.
  void toggle(const bytes& key, uint64_t digest);

  uint64_t root() const { return nodes_[1]; }
  unsigned leaf_bits() const { return leaf_bits_; }

  /// Every node value at `depth` (0 = the root, leaf_bits = the leaves), left to right.
  std::vector<uint64_t> level(unsigned depth) const;

  /// Indexes whose values differ between two levels of the same depth.
  static std::vector<size_t> differing(const std::vector<uint64_t>& mine,
                                       const std::vector<uint64_t>& theirs);

  /// The leaves [first, last) under node `index` at `depth`.
  std::pair<size_t, size_t> leaf_range(unsigned depth, size_t index) const;

private:
  unsigned leaf_bits_;
  /// Heap layout: node 1 is the root, node i has children 2i and 2i+1; leaves start at
  /// 2^leaf_bits.
  std::vector<uint64_t> nodes_;
};

} // namespace actorkv::storage
