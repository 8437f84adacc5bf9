#include "cluster-config/placement.hpp"

#include <algorithm>

#include "cluster-config/membership_view.hpp"

namespace actorkv {

namespace {

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

bool up(const std::string& self, const reachable_fn& reachable, const std::string& name) {
  return name == self || (reachable && reachable(name));
}

/// The home replicas of `p` under `next` (none without one) that are not in `homes`, in order:
/// the joining replicas a plan names (those reachable).
std::vector<std::string> joining_of(const std::vector<std::string>& homes, const ring* next,
                                    partition_id p, uint32_t replicas) {
  std::vector<std::string> out;
  if (next)
    for (auto& name : next->home_replicas(p, replicas))
      if (!contains(homes, name))
        out.push_back(name);
  return out;
}

} // namespace

bool operator==(const replica_slot& a, const replica_slot& b) {
  return a.node == b.node && a.hint_for == b.hint_for;
}

bool operator==(const partition_plan& a, const partition_plan& b) {
  return a.replicas == b.replicas && a.joining == b.joining;
}

partition_plan plan_partition(const ring& in_force, const ring* next, partition_id p,
                              const placement_inputs& in) {
  partition_plan plan;
  auto homes = in_force.home_replicas(p, in.replicas);
  auto reachable = [&](const std::string& name) { return up(in.self, in.reachable, name); };
  if (contains(homes, in.self))
    plan.replicas.push_back(replica_slot{in.self, {}});
  std::vector<std::string> unreachable;
  for (auto& name : homes) {
    if (name == in.self)
      continue;
    if (reachable(name))
      plan.replicas.push_back(replica_slot{name, {}});
    else
      unreachable.push_back(name);
  }
  if (in.fallbacks && !unreachable.empty()) {
    // Walks the preference list only as far as it takes to find a stand-in for each.
    size_t given = 0;
    in_force.for_each_fallback(p, in.replicas, [&](const std::string& name) {
      if (reachable(name))
        plan.replicas.push_back(replica_slot{name, unreachable[given++]});
      return given < unreachable.size();
    });
  }
  for (auto& name : joining_of(homes, next, p, in.replicas))
    if (reachable(name))
      plan.joining.push_back(name);
  return plan;
}

std::vector<partition_plan> plan_partitions(const ring& in_force, const ring* next,
                                            const placement_inputs& in) {
  std::vector<partition_plan> out;
  out.reserve(in_force.partitions());
  for (partition_id p = 0; p < in_force.partitions(); ++p)
    out.push_back(plan_partition(in_force, next, p, in));
  return out;
}

partition_plan plan_book::plan(const ring& in_force, const ring* next, const placement_inputs& in,
                               partition_id p) {
  auto out = plan_partition(in_force, next, p, in);
  size_t homes_planned = 0; // home replicas in force among the plan's replicas
  for (auto& slot : out.replicas)
    homes_planned += slot.hint_for.empty();
  if (homes_planned < in_force.home_replicas(p, in.replicas).size())
    degraded_.insert(p);
  else
    degraded_.erase(p);
  return out;
}

void plan_book::index(partition_id p, const std::vector<std::string>& homes,
                      const std::vector<std::string>& joining) {
  for (auto* names : {&homes, &joining})
    for (auto& name : *names)
      homes_[name].push_back(p); // in partition order
}

std::vector<std::pair<partition_id, partition_plan>>
plan_book::replan(const ring& in_force, const ring* next, const placement_inputs& in,
                  const std::set<partition_id>& affected) {
  std::vector<std::pair<partition_id, partition_plan>> out;
  out.reserve(affected.size());
  for (auto p : affected)
    out.emplace_back(p, plan(in_force, next, in, p));
  last_replanned_ = affected.size();
  return out;
}

std::vector<partition_plan> plan_book::rebuild(const ring& in_force, const ring* next,
                                               const placement_inputs& in) {
  homes_.clear();
  degraded_.clear();
  std::vector<partition_plan> out;
  out.reserve(in_force.partitions());
  for (partition_id p = 0; p < in_force.partitions(); ++p) {
    auto homes = in_force.home_replicas(p, in.replicas);
    index(p, homes, joining_of(homes, next, p, in.replicas));
    out.push_back(plan(in_force, next, in, p));
  }
  return out;
}

std::vector<std::pair<partition_id, partition_plan>>
plan_book::change_rings(const ring& old_in_force, const ring* old_next, const ring& in_force,
                        const ring* next, const placement_inputs& in) {
  // The partitions planned with an unreachable home replica walk fallbacks along the whole
  // preference list, which a new ring can change without changing the home replicas.
  std::set<partition_id> affected(degraded_.begin(), degraded_.end());
  homes_.clear();
  // A plan reads the home replicas in force, in order, and the joining ones: a next ring that
  // only repeats the home replicas changes nothing.
  auto n = in.replicas;
  for (partition_id p = 0; p < in_force.partitions(); ++p) {
    auto homes = in_force.home_replicas(p, n);
    auto joining = joining_of(homes, next, p, n);
    index(p, homes, joining);
    auto old_homes = old_in_force.home_replicas(p, n);
    if (homes != old_homes || joining != joining_of(old_homes, old_next, p, n))
      affected.insert(p);
  }
  return replan(in_force, next, in, affected);
}

std::vector<std::pair<partition_id, partition_plan>> plan_book::refresh(const ring& in_force,
                                                                        const ring* next,
                                                                        const placement_inputs& in,
                                                                        const std::string& peer) {
  std::set<partition_id> affected(degraded_.begin(), degraded_.end());
  if (auto it = homes_.find(peer); it != homes_.end())
    affected.insert(it->second.begin(), it->second.end());
  return replan(in_force, next, in, affected);
}

std::vector<std::pair<partition_id, std::vector<std::string>>>
home_partitions(const ring& r, const std::string& self, uint32_t replicas) {
  std::vector<std::pair<partition_id, std::vector<std::string>>> out;
  for (partition_id p = 0; p < r.partitions(); ++p) {
    auto homes = r.home_replicas(p, replicas);
    auto self_at = std::find(homes.begin(), homes.end(), self);
    if (self_at == homes.end())
      continue;
    homes.erase(self_at);
    out.emplace_back(p, std::move(homes));
  }
  return out;
}

void update_releases(std::map<partition_id, std::vector<std::string>>& releases, const ring& before,
                     const ring& now, const std::string& self, uint32_t replicas) {
  if (now.owner_names() == before.owner_names())
    return;
  for (partition_id p = 0; p < now.partitions(); ++p) {
    auto had = before.home_replicas(p, replicas);
    auto has = now.home_replicas(p, replicas);
    if (contains(has, self)) {
      releases.erase(p); // replicated here again
      continue;
    }
    if (!contains(had, self))
      continue;
    std::vector<std::string> takers;
    for (auto& name : has)
      if (!contains(had, name))
        takers.push_back(name);
    if (!takers.empty())
      releases[p] = std::move(takers);
  }
}

std::vector<handoff_task>
handoff_tasks(const membership_view& view, const ring& in_force,
              const std::map<partition_id, std::vector<std::string>>& releases,
              const std::string& self, uint32_t replicas, const reachable_fn& reachable) {
  std::vector<handoff_task> tasks;
  auto& done = view.layout.done;
  // Sorted by partition, so one partition's transfers are adjacent.
  for (auto& t : transfers_needed(view, replicas)) {
    if (std::binary_search(done.begin(), done.end(), t))
      continue;
    std::string sender;
    for (auto& name : in_force.home_replicas(t.partition, replicas)) {
      auto* m = find_member(view, name);
      if (m && m->state == member_state::removed)
        continue;
      if (up(self, reachable, name)) {
        sender = name;
        break;
      }
    }
    if (sender != self)
      continue;
    if (tasks.empty() || tasks.back().partition != t.partition)
      tasks.push_back(handoff_task{t.partition, {}, false});
    tasks.back().targets.push_back(t.target);
  }
  for (auto& [p, targets] : releases)
    tasks.push_back(handoff_task{p, targets, true});
  return tasks;
}

} // namespace actorkv
