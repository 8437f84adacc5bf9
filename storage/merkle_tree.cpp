#include "storage/merkle_tree.hpp"

#include <algorithm>
#include <cstring>

#include "messages/mix.hpp"
#include "storage/record_codec.hpp"

namespace actorkv::storage {

namespace {

constexpr auto mix = splitmix64_mix;

/// Folds `data` into the running hash `h`, 8 bytes at a time (little-endian), plus its length.
uint64_t absorb(uint64_t h, const uint8_t* data, size_t size) {
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word = 0;
    for (size_t k = 0; k < 8; ++k)
      word |= uint64_t{data[i + k]} << (8 * k);
    h = mix(h ^ word);
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < size; ++k)
    tail |= uint64_t{data[i + k]} << (8 * k);
  return mix(h ^ tail ^ (uint64_t{size} << 56) ^ 0x9e3779b97f4a7c15ull);
}

uint64_t absorb(uint64_t h, uint64_t value) {
  return mix(h ^ mix(value + 0x632be59bd9b4e019ull));
}

} // namespace

uint64_t record_digest(const bytes& key, const record& rec) {
  uint64_t h = absorb(0x243f6a8885a308d3ull, key.data(), key.size());
  // The counts separate the context's words from the siblings': without them, a context entry
  // could be read as part of a sibling and two different records could absorb the same words.
  h = absorb(h, rec.context.entries.size());
  for (auto& d : rec.context.entries)
    h = absorb(absorb(h, d.id), d.counter);
  h = absorb(h, rec.siblings.size());
  for (auto& s : rec.siblings) {
    h = absorb(absorb(h, s.origin.id), s.origin.counter);
    h = absorb(h, static_cast<uint64_t>(s.timestamp_us));
    // Bit 1 says an expiry follows; a sibling without one digests as it did before TTLs, so
    // digests stored by earlier builds stay valid.
    h = absorb(h, (s.tombstone ? 1u : 0u) | (s.expires_us != 0 ? 2u : 0u));
    if (s.expires_us != 0)
      h = absorb(h, static_cast<uint64_t>(s.expires_us));
    h = absorb(h, (uint64_t{crc32c(s.value.data(), s.value.size())} << 32) | s.value.size());
  }
  return h == 0 ? 1 : h;
}

merkle_tree::merkle_tree(unsigned leaf_bits)
    : leaf_bits_(leaf_bits), nodes_(size_t{2} << leaf_bits, 0) {}

merkle_tree merkle_tree::from_leaves(const std::vector<uint64_t>& leaves) {
  unsigned bits = 0;
  while ((size_t{1} << bits) < leaves.size())
    ++bits;
  merkle_tree out{bits};
  auto first = size_t{1} << bits;
  std::copy(leaves.begin(), leaves.end(), out.nodes_.begin() + static_cast<std::ptrdiff_t>(first));
  for (auto i = first - 1; i >= 1; --i)
    out.nodes_[i] = out.nodes_[2 * i] ^ out.nodes_[2 * i + 1];
  return out;
}

size_t merkle_tree::leaf_of(const bytes& key, unsigned leaf_bits) {
  if (leaf_bits == 0)
    return 0;
  // Keys of one partition share their top MD5 bits, so the leaf comes from an independent hash.
  return static_cast<size_t>(absorb(0x13198a2e03707344ull, key.data(), key.size()) >>
                             (64 - leaf_bits));
}

void merkle_tree::toggle(const bytes& key, uint64_t digest) {
  auto i = (size_t{1} << leaf_bits_) + leaf_of(key, leaf_bits_);
  for (; i >= 1; i /= 2)
    nodes_[i] ^= digest;
}

std::vector<uint64_t> merkle_tree::level(unsigned depth) const {
  if (depth > leaf_bits_)
    return {};
  auto first = size_t{1} << depth;
  return std::vector<uint64_t>(nodes_.begin() + static_cast<std::ptrdiff_t>(first),
                               nodes_.begin() + static_cast<std::ptrdiff_t>(2 * first));
}

std::vector<size_t> merkle_tree::differing(const std::vector<uint64_t>& mine,
                                           const std::vector<uint64_t>& theirs) {
  std::vector<size_t> out;
  for (size_t i = 0; i < mine.size() && i < theirs.size(); ++i)
    if (mine[i] != theirs[i])
      out.push_back(i);
  return out;
}

std::pair<size_t, size_t> merkle_tree::leaf_range(unsigned depth, size_t index) const {
  auto width = size_t{1} << (leaf_bits_ - depth);
  return {index * width, (index + 1) * width};
}

} // namespace actorkv::storage
