// Names numbered 0, 1, 2, ... in the order they were first added, so that per-name state can sit
// in plain vectors indexed by the number instead of in a map node per name. The characters of
// every name share one buffer and the lookup is an open-addressing hash of numbers: a name costs
// its length plus about 12 bytes, where a std::map<std::string, T> node costs 64 bytes and more
// before T. Numbers are never reused; nothing is ever taken out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace actorkv {

class name_table {
public:
  static constexpr uint32_t npos = UINT32_MAX;

  /// The number of `name`, which is added if new (O(1) amortised).
  uint32_t intern(std::string_view name);
  /// The number of `name`, or npos if it was never added (O(1)).
  uint32_t find(std::string_view name) const;
  /// The name numbered `number` (< size()); valid until the next intern().
  std::string_view name(uint32_t number) const;
  /// Makes room for `names` names in all (their characters aside) without reallocating.
  void reserve(size_t names);
  /// How many names there are: numbers run from 0 to size() - 1.
  size_t size() const { return ends_.size(); }

private:
  /// The slot where `name` is or would go.
  size_t slot_of(std::string_view name) const;
  void grow();

  std::string chars_;          ///< every name, one after the other
  std::vector<uint32_t> ends_; ///< where name i ends in chars_ (it starts where name i-1 ends)
  /// number + 1 of the name hashed there (linear probing), 0 for none; a power of two in size,
  /// at most 3/4 full.
  std::vector<uint32_t> slots_;
};

} // namespace actorkv
