#include "cluster-config/name_table.hpp"

#include <functional>

namespace actorkv {

uint32_t name_table::intern(std::string_view name) {
  if (auto found = find(name); found != npos)
    return found;
  if ((size() + 1) * 4 > slots_.size() * 3)
    grow();
  auto number = static_cast<uint32_t>(size());
  chars_.append(name);
  ends_.push_back(static_cast<uint32_t>(chars_.size()));
  slots_[slot_of(name)] = number + 1;
  return number;
}

uint32_t name_table::find(std::string_view name) const {
  if (slots_.empty())
    return npos;
  auto at = slots_[slot_of(name)];
  return at == 0 ? npos : at - 1;
}

std::string_view name_table::name(uint32_t number) const {
  auto begin = number == 0 ? 0 : ends_[number - 1];
  return std::string_view{chars_}.substr(begin, ends_[number] - begin);
}

void name_table::reserve(size_t names) {
  ends_.reserve(names);
  while (names * 4 > slots_.size() * 3)
    grow();
}

size_t name_table::slot_of(std::string_view name) const {
  auto mask = slots_.size() - 1;
  for (auto at = std::hash<std::string_view>{}(name)&mask;; at = (at + 1) & mask)
    if (slots_[at] == 0 || this->name(slots_[at] - 1) == name)
      return at;
}

void name_table::grow() {
  slots_.assign(slots_.empty() ? 16 : slots_.size() * 2, 0);
  for (uint32_t i = 0; i < size(); ++i)
    slots_[slot_of(name(i))] = i + 1;
}

} // namespace actorkv
