// SplitMix64's finaliser, the one 64-bit mixing step of the code base (context digests in
// messages/dvv.cpp, Merkle leaf digests in storage/merkle_tree.cpp). A fixed permutation in
// which every input bit reaches every output bit: stored and wire digests depend on it, so it
// never changes.
#pragma once

#include <cstdint>

namespace actorkv {

constexpr uint64_t splitmix64_mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

} // namespace actorkv
