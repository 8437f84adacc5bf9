// Tests for storage/merkle_tree.hpp: the anti-entropy digest of a record and the XOR hash tree
// over a partition. Randomised cases print their seed and take ACTORKV_SEED to replay one.
#include "storage/merkle_tree.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"
#include "messages/dvv.hpp"

using namespace actorkv;
using namespace actorkv::storage;
using namespace actorkv::storage::test;

namespace {

/// The seed for a randomised test: ACTORKV_SEED when set, else a fresh one, printed either way.
uint64_t test_seed() {
  uint64_t seed = 0;
  if (const char* env = std::getenv("ACTORKV_SEED"))
    seed = std::stoull(env);
  else
    seed = std::random_device{}();
  BOOST_TEST_MESSAGE("seed " << seed << " (set ACTORKV_SEED=" << seed << " to replay)");
  return seed;
}

/// A partition's contents: key → record.
using key_set = std::map<bytes, record>;

/// `n` distinct keys, each with a record that depends on the key.
key_set make_keys(size_t n, const std::string& prefix = "key") {
  key_set out;
  for (size_t i = 0; i < n; ++i) {
    auto key = to_bytes(prefix + std::to_string(i));
    out[key] = value_record(key, i + 1);
  }
  return out;
}

merkle_tree tree_of(const key_set& keys, unsigned leaf_bits = 8) {
  merkle_tree t{leaf_bits};
  for (const auto& [key, rec] : keys)
    t.toggle(key, record_digest(key, rec));
  return t;
}

/// Whether every level of `a` equals the same level of `b`.
bool same_tree(const merkle_tree& a, const merkle_tree& b) {
  if (a.leaf_bits() != b.leaf_bits())
    return false;
  for (unsigned d = 0; d <= a.leaf_bits(); ++d)
    if (a.level(d) != b.level(d))
      return false;
  return true;
}

/// What anti-entropy does: from the root down, at each depth compare only the children of nodes
/// that differed one level up. Returns the differing leaves, and counts the node values compared.
std::vector<size_t> descend(const merkle_tree& mine, const merkle_tree& theirs,
                            size_t* compared = nullptr) {
  std::vector<size_t> candidates = merkle_tree::differing(mine.level(0), theirs.level(0));
  size_t count = 1;
  for (unsigned depth = 1; depth <= mine.leaf_bits() && !candidates.empty(); ++depth) {
    auto a = mine.level(depth);
    auto b = theirs.level(depth);
    std::vector<uint64_t> sub_a;
    std::vector<uint64_t> sub_b;
    std::vector<size_t> index;
    for (auto parent : candidates)
      for (auto child : {2 * parent, 2 * parent + 1}) {
        sub_a.push_back(a[child]);
        sub_b.push_back(b[child]);
        index.push_back(child);
      }
    count += index.size();
    std::vector<size_t> next;
    for (auto i : merkle_tree::differing(sub_a, sub_b))
      next.push_back(index[i]);
    candidates = std::move(next);
  }
  if (compared != nullptr)
    *compared = count;
  return candidates;
}

std::vector<size_t> sorted(std::set<size_t> s) {
  return {s.begin(), s.end()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(merkle)

BOOST_AUTO_TEST_CASE(levels_have_the_tree_shape) {
  for (unsigned bits : {0u, 1u, 4u, 8u, 12u}) {
    BOOST_TEST_CONTEXT("leaf_bits " << bits) {
      merkle_tree t{bits};
      BOOST_CHECK_EQUAL(t.leaf_bits(), bits);
      BOOST_CHECK_EQUAL(t.root(), 0u);
      for (unsigned d = 0; d <= bits; ++d)
        BOOST_CHECK_EQUAL(t.level(d).size(), size_t{1} << d);
      BOOST_CHECK(t.level(bits + 1).empty());
      t.toggle(to_bytes("k"), 0x1234);
      BOOST_CHECK_EQUAL(t.level(0).size(), 1u);
      BOOST_CHECK_EQUAL(t.level(0)[0], t.root());
      BOOST_CHECK_EQUAL(t.root(), 0x1234u);
      // Leaf ranges: the root spans every leaf, a leaf itself, and each level tiles the leaves.
      BOOST_CHECK((t.leaf_range(0, 0) == std::pair<size_t, size_t>{0, size_t{1} << bits}));
      BOOST_CHECK((t.leaf_range(bits, 3) == std::pair<size_t, size_t>{3, 4}));
      for (unsigned d = 0; d <= bits; ++d) {
        size_t next = 0;
        for (size_t i = 0; i < (size_t{1} << d); ++i) {
          auto [first, last] = t.leaf_range(d, i);
          BOOST_CHECK_EQUAL(first, next);
          BOOST_CHECK_LT(first, last);
          next = last;
        }
        BOOST_CHECK_EQUAL(next, size_t{1} << bits);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(inner_nodes_are_the_xor_of_their_children) {
  auto t = tree_of(make_keys(300), 6);
  BOOST_CHECK_NE(t.root(), 0u);
  for (unsigned d = 0; d < 6; ++d) {
    auto up = t.level(d);
    auto down = t.level(d + 1);
    for (size_t i = 0; i < up.size(); ++i)
      BOOST_CHECK_EQUAL(up[i], down[2 * i] ^ down[2 * i + 1]);
  }
  // A leaf holds the XOR of exactly the digests of its keys.
  std::vector<uint64_t> leaves(64, 0);
  for (const auto& [key, rec] : make_keys(300))
    leaves[merkle_tree::leaf_of(key, 6)] ^= record_digest(key, rec);
  BOOST_CHECK(t.level(6) == leaves);
}

BOOST_AUTO_TEST_CASE(keys_spread_over_the_leaves) {
  // Keys of one partition share the top bits of their ring position (MD5); the leaf must not.
  std::vector<size_t> per_leaf(256, 0);
  for (const auto& entry : make_keys(4096, "user:"))
    ++per_leaf[merkle_tree::leaf_of(entry.first, 8)];
  auto [least, most] = std::minmax_element(per_leaf.begin(), per_leaf.end());
  BOOST_TEST_MESSAGE("4096 keys over 256 leaves: " << *least << " to " << *most << " per leaf");
  BOOST_CHECK_GE(*least, 2u);
  BOOST_CHECK_LE(*most, 40u);
  for (unsigned bits : {0u, 1u, 8u, 16u})
    for (const auto& entry : make_keys(100))
      BOOST_CHECK_LT(merkle_tree::leaf_of(entry.first, bits), size_t{1} << bits);
}

BOOST_AUTO_TEST_CASE(equal_key_sets_in_any_insertion_order_give_equal_trees) {
  auto seed = test_seed();
  BOOST_TEST_CONTEXT("seed " << seed) {
    std::mt19937_64 rng{seed};
    auto keys = make_keys(1000);
    std::vector<std::pair<bytes, record>> order(keys.begin(), keys.end());
    auto reference = tree_of(keys);
    for (int round = 0; round < 5; ++round) {
      std::shuffle(order.begin(), order.end(), rng);
      merkle_tree t;
      for (const auto& [key, rec] : order)
        t.toggle(key, record_digest(key, rec));
      BOOST_CHECK(same_tree(t, reference));
    }
    // A different set does not.
    auto fewer = keys;
    fewer.erase(fewer.begin());
    BOOST_CHECK_NE(tree_of(fewer).root(), reference.root());
  }
}

BOOST_AUTO_TEST_CASE(toggling_twice_removes) {
  merkle_tree empty;
  merkle_tree t;
  auto key = to_bytes("k");
  auto digest = record_digest(key, sample_record());
  t.toggle(key, digest);
  BOOST_CHECK_EQUAL(t.root(), digest);
  t.toggle(key, digest);
  BOOST_CHECK(same_tree(t, empty));
  // Among other keys, adding and removing one key leaves the rest as it was.
  auto keys = make_keys(200);
  auto base = tree_of(keys);
  auto u = base;
  u.toggle(key, digest);
  BOOST_CHECK(!same_tree(u, base));
  u.toggle(key, digest);
  BOOST_CHECK(same_tree(u, base));
  // Removing every key, in any order, empties the tree.
  for (auto i = keys.rbegin(); i != keys.rend(); ++i)
    u.toggle(i->first, record_digest(i->first, i->second));
  BOOST_CHECK(same_tree(u, empty));
}

BOOST_AUTO_TEST_CASE(one_changed_record_changes_one_leaf_and_its_path_to_the_root) {
  const unsigned bits = 8;
  auto keys = make_keys(2000);
  auto before = tree_of(keys, bits);
  for (const auto& name : {"key0", "key777", "key1999"}) {
    BOOST_TEST_CONTEXT(name) {
      auto key = to_bytes(name);
      const auto& old_rec = keys.at(key);
      auto new_rec = dvv::update(old_rec, old_rec.context, to_bytes("changed"), 42, 5000,
                                 conflict_mode::siblings);
      // What a replica does on a write.
      auto after = before;
      after.toggle(key, record_digest(key, old_rec));
      after.toggle(key, record_digest(key, new_rec));
      auto leaf = merkle_tree::leaf_of(key, bits);
      for (unsigned d = 0; d <= bits; ++d) {
        auto diff = merkle_tree::differing(before.level(d), after.level(d));
        BOOST_CHECK((diff == std::vector<size_t>{leaf >> (bits - d)}));
      }
      BOOST_CHECK((descend(before, after) == std::vector<size_t>{leaf}));
      auto [first, last] = after.leaf_range(4, leaf >> (bits - 4));
      BOOST_CHECK(first <= leaf && leaf < last);
    }
  }
}

BOOST_AUTO_TEST_CASE(descending_from_the_root_finds_exactly_the_differing_leaves) {
  auto seed = test_seed();
  BOOST_TEST_CONTEXT("seed " << seed) {
    std::mt19937_64 rng{seed};
    for (int round = 0; round < 40; ++round) {
      const unsigned bits = std::uniform_int_distribution<unsigned>{0, 10}(rng);
      const size_t n = std::uniform_int_distribution<size_t>{0, 3000}(rng);
      // How many keys diverge: none, a handful, or a large share.
      const size_t diverging = std::vector<size_t>{0, 1, 3, 20, n / 2}[rng() % 5];
      BOOST_TEST_CONTEXT("round " << round << ": leaf_bits " << bits << ", " << n << " keys, "
                                  << diverging << " diverging") {
        auto mine = make_keys(n);
        auto theirs = mine;
        std::vector<bytes> keys;
        for (const auto& entry : mine)
          keys.push_back(entry.first);
        std::shuffle(keys.begin(), keys.end(), rng);
        std::set<size_t> expected;
        for (size_t i = 0; i < std::min(diverging, keys.size()); ++i) {
          const auto& key = keys[i];
          expected.insert(merkle_tree::leaf_of(key, bits));
          switch (rng() % 3) {
          case 0: // missing on their side
            theirs.erase(key);
            break;
          case 1: // a newer version on their side
            theirs[key] = dvv::update(theirs[key], theirs[key].context, to_bytes("newer"), 7,
                                      static_cast<int64_t>(i), conflict_mode::siblings);
            break;
          default: // a concurrent write on their side: siblings
            theirs[key] = dvv::update(theirs[key], {}, to_bytes("concurrent"), 9,
                                      static_cast<int64_t>(i), conflict_mode::siblings);
            break;
          }
        }
        // Keys only they hold.
        for (size_t i = 0; i < diverging % 7; ++i) {
          auto key = to_bytes("theirs-only" + std::to_string(i));
          theirs[key] = value_record(key);
          expected.insert(merkle_tree::leaf_of(key, bits));
        }
        auto a = tree_of(mine, bits);
        auto b = tree_of(theirs, bits);
        size_t compared = 0;
        auto found = descend(a, b, &compared);
        BOOST_CHECK((found == sorted(expected)));
        BOOST_CHECK((merkle_tree::differing(a.level(bits), b.level(bits)) == sorted(expected)));
        BOOST_CHECK_EQUAL(a.root() == b.root(), expected.empty());
        // Descending compares at most two children per differing node per level.
        BOOST_CHECK_LE(compared, 1 + 2 * size_t{bits} * std::max<size_t>(expected.size(), 1));
        // Bringing their keys over (old digest out, new digest in) makes the trees equal.
        for (auto leaf : found) {
          for (const auto& [key, rec] : mine)
            if (merkle_tree::leaf_of(key, bits) == leaf && theirs.count(key) == 0)
              b.toggle(key, record_digest(key, rec));
          for (const auto& [key, rec] : theirs) {
            if (merkle_tree::leaf_of(key, bits) != leaf)
              continue;
            auto i = mine.find(key);
            if (i == mine.end()) {
              b.toggle(key, record_digest(key, rec));
            } else if (i->second != rec) {
              b.toggle(key, record_digest(key, rec));
              b.toggle(key, record_digest(key, i->second));
            }
          }
        }
        BOOST_CHECK(same_tree(a, b));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_digest_covers_every_part_of_a_record) {
  const auto key = to_bytes("k");
  const auto base = sample_record();
  const auto digest = record_digest(key, base);
  BOOST_CHECK_EQUAL(record_digest(key, sample_record()), digest);
  BOOST_CHECK_NE(digest, 0u);
  std::vector<std::pair<std::string, record>> variants;
  auto vary = [&](const std::string& what, auto&& change) {
    auto r = base;
    change(r);
    variants.emplace_back(what, std::move(r));
  };
  vary("a flipped value byte", [](record& r) { r.siblings[0].value[2] ^= 0x01; });
  vary("a flipped last value byte", [](record& r) { r.siblings[1].value.back() ^= 0x80; });
  vary("a value one byte longer", [](record& r) { r.siblings[0].value.push_back(0); });
  vary("the tombstone flag", [](record& r) { r.siblings[0].tombstone = true; });
  vary("a sibling's dot id", [](record& r) { r.siblings[0].origin.id ^= 1; });
  vary("a sibling's dot counter", [](record& r) { r.siblings[0].origin.counter += 1; });
  vary("a timestamp", [](record& r) { r.siblings[2].timestamp_us += 1; });
  vary("an expiry", [](record& r) { r.siblings[0].expires_us = 1; });
  vary("another expiry", [](record& r) { r.siblings[0].expires_us = 2; });
  vary("a context counter", [](record& r) { r.context.entries[0].counter += 1; });
  vary("a context entry more", [](record& r) { r.context.entries.push_back(dot{0x9999, 1}); });
  vary("a sibling less", [](record& r) { r.siblings.pop_back(); });
  vary("no siblings", [](record& r) { r.siblings.clear(); });
  vary("no context", [](record& r) { r.context.entries.clear(); });
  vary("siblings swapped", [](record& r) { std::swap(r.siblings[0], r.siblings[1]); });
  std::set<uint64_t> seen{digest};
  for (const auto& [what, rec] : variants) {
    auto d = record_digest(key, rec);
    BOOST_CHECK_MESSAGE(d != digest, what << " leaves the digest unchanged");
    BOOST_CHECK_MESSAGE(d != 0, what << " digests to 0");
    seen.insert(d);
  }
  BOOST_CHECK_EQUAL(seen.size(), variants.size() + 1);
  // The key is covered too: the same record under another key differs.
  BOOST_CHECK_NE(record_digest(to_bytes("K"), base), digest);
  BOOST_CHECK_NE(record_digest(bytes{}, base), digest);
  // Context entries cannot pass for siblings: two siblings (id, counter, timestamp, tombstone,
  // empty value's checksum and length) are ten words, as are five context entries made of them.
  record as_siblings;
  as_siblings.siblings = {make_sibling(1, 2, 3, {}), make_sibling(4, 5, 6, {})};
  record as_context;
  as_context.context.entries = {dot{1, 2}, dot{3, 0}, dot{0, 4}, dot{5, 6}, dot{0, 0}};
  BOOST_CHECK_NE(record_digest(key, as_context), record_digest(key, as_siblings));
}

BOOST_AUTO_TEST_CASE(a_repaired_corrupt_value_changes_the_digest) {
  // A replica whose stored value had a byte flipped (and was read back, say, from a backup that
  // kept the damage) must not look in sync with one holding the good value.
  auto key = to_bytes("cart:7");
  auto good = value_record(pseudo_random_bytes(1000));
  for (size_t pos : {size_t{0}, size_t{499}, size_t{999}}) {
    auto bad = good;
    bad.siblings[0].value[pos] ^= 0x04;
    BOOST_CHECK_NE(record_digest(key, bad), record_digest(key, good));
  }
}

BOOST_AUTO_TEST_CASE(the_digest_is_the_same_on_every_machine_and_build) {
  // Fixed answers: replicas built by different compilers or on other hosts compare digests, so a
  // change here is a protocol change (every tree would differ from its peers' until upgraded).
  BOOST_CHECK_EQUAL(record_digest(to_bytes("k"), sample_record()), 0xb700a67adc802d6bull);
  BOOST_CHECK_EQUAL(record_digest(bytes{}, record{}), 0x485fe5713d188393ull);
  BOOST_CHECK_EQUAL(merkle_tree::leaf_of(to_bytes("user:1"), 8), 207u);
  BOOST_CHECK_EQUAL(merkle_tree::leaf_of(all_byte_values(), 16), 19418u);
}

BOOST_AUTO_TEST_CASE(same_versions_merged_in_any_order_have_equal_digests) {
  auto seed = test_seed();
  BOOST_TEST_CONTEXT("seed " << seed) {
    std::mt19937_64 rng{seed};
    const auto key = to_bytes("k");
    for (int round = 0; round < 50; ++round) {
      BOOST_TEST_CONTEXT("round " << round) {
        // Three replicas take writes (some reading first, some blind, some deletes) and
        // occasionally exchange their versions.
        std::vector<record> replicas(3);
        for (int step = 0; step < 12; ++step) {
          auto r = rng() % 3;
          auto& rec = replicas[r];
          switch (rng() % 4) {
          case 0:
            rec = dvv::update(rec, {}, to_bytes("blind" + std::to_string(step)), r + 1, step,
                              conflict_mode::siblings);
            break;
          case 1:
            rec = dvv::update(rec, rec.context, to_bytes("read" + std::to_string(step)), r + 1,
                              step, conflict_mode::siblings);
            break;
          case 2:
            rec = dvv::update(rec, rec.context, std::nullopt, r + 1, step, conflict_mode::siblings);
            break;
          default:
            rec = dvv::merge(rec, replicas[rng() % 3], conflict_mode::siblings);
            break;
          }
        }
        // Every replica then merges all three versions, each in its own order.
        std::vector<record> converged;
        std::vector<size_t> order{0, 1, 2};
        for (int replica = 0; replica < 3; ++replica) {
          std::shuffle(order.begin(), order.end(), rng);
          record acc;
          for (auto i : order)
            acc = rng() % 2 == 0 ? dvv::merge(acc, replicas[i], conflict_mode::siblings)
                                 : dvv::merge(replicas[i], acc, conflict_mode::siblings);
          converged.push_back(std::move(acc));
        }
        for (const auto& rec : converged) {
          BOOST_CHECK(rec == converged[0]);
          BOOST_CHECK_EQUAL(record_digest(key, rec), record_digest(key, converged[0]));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
