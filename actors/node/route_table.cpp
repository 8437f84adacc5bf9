#include "actors/node/route_table.hpp"

#include <algorithm>

namespace actorkv {

namespace {

size_t widest(const coordination_plan& plan) {
  return std::max(plan.replicas.size(), plan.joining.size());
}

} // namespace

void route_table::assign(std::vector<coordination_plan>& plans) {
  slots_.clear();
  sizes_.clear();
  entries_.clear();
  free_.clear();
  index_.clear();
  routed_.clear();
  stride_ = 0;
  for (auto& plan : plans)
    stride_ = std::max(stride_, widest(plan));
  sizes_.resize(plans.size());
  slots_.resize(plans.size() * 2 * stride_);
  for (partition_id p = 0; p < plans.size(); ++p)
    store(p, plans[p]);
  slots_.shrink_to_fit();
  sizes_.shrink_to_fit();
}

bool route_table::replace(partition_id p, const coordination_plan& plan) {
  if (p >= sizes_.size())
    return false;
  if (widest(plan) > stride_)
    restride(widest(plan));
  // Interned before the old plan lets go, so a target both name keeps its entry.
  auto old_sizes = sizes_[p];
  std::vector<uint32_t> old(slots_.begin() + 2 * p * stride_,
                            slots_.begin() + 2 * (p + 1) * stride_);
  store(p, plan);
  for (uint16_t i = 0; i < old_sizes.replicas; ++i)
    release(old[i]);
  for (uint16_t i = 0; i < old_sizes.joining; ++i)
    release(old[stride_ + i]);
  return true;
}

plan_targets route_table::plan_of(partition_id p) const {
  plan_targets out;
  auto* first = slots_.data() + 2 * p * stride_;
  auto n = sizes_[p];
  out.replicas.reserve(n.replicas);
  for (uint16_t i = 0; i < n.replicas; ++i)
    out.replicas.push_back(entries_[first[i]].target);
  if (n.joining != 0) {
    out.joining.reserve(n.joining);
    for (uint16_t i = 0; i < n.joining; ++i)
      out.joining.push_back(entries_[first[stride_ + i]].target);
  }
  return out;
}

uint32_t route_table::intern(const replica_target& t) {
  auto addr = t.address();
  target_key key{t.node, t.hint_for, addr};
  if (auto it = index_.find(key); it != index_.end()) {
    ++entries_[it->second].uses;
    return it->second;
  }
  uint32_t number;
  if (!free_.empty()) {
    number = free_.back();
    free_.pop_back();
  } else {
    number = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  entries_[number] = entry{std::make_shared<const replica_target>(t), 1};
  index_.emplace(std::move(key), number);
  ++routed_[addr];
  return number;
}

void route_table::release(uint32_t number) {
  auto& e = entries_[number];
  if (--e.uses != 0)
    return;
  auto addr = e.target->address();
  if (auto it = routed_.find(addr); it != routed_.end() && --it->second == 0)
    routed_.erase(it);
  index_.erase(target_key{e.target->node, e.target->hint_for, addr});
  e.target.reset();
  free_.push_back(number);
}

void route_table::store(partition_id p, const coordination_plan& plan) {
  auto* first = slots_.data() + 2 * p * stride_;
  for (size_t i = 0; i < plan.replicas.size(); ++i)
    first[i] = intern(plan.replicas[i]);
  for (size_t i = 0; i < plan.joining.size(); ++i)
    first[stride_ + i] = intern(plan.joining[i]);
  sizes_[p] = sizes{static_cast<uint16_t>(plan.replicas.size()),
                    static_cast<uint16_t>(plan.joining.size())};
}

void route_table::restride(size_t stride) {
  std::vector<uint32_t> wider(sizes_.size() * 2 * stride);
  for (size_t p = 0; p < sizes_.size(); ++p) {
    auto* from = slots_.data() + 2 * p * stride_;
    auto* to = wider.data() + 2 * p * stride;
    std::copy(from, from + sizes_[p].replicas, to);
    std::copy(from + stride_, from + stride_ + sizes_[p].joining, to + stride);
  }
  slots_ = std::move(wider);
  stride_ = stride;
}

target_ptr route_table::remote_of(const std::string& name) const {
  for (auto& e : entries_)
    if (e.uses > 0 && e.target->node == name && e.target->remote)
      return e.target;
  return nullptr;
}

} // namespace actorkv
