#include "cluster-config/swim.hpp"

#include <algorithm>
#include <cmath>

namespace actorkv {

const char* to_string(swim_health h) {
  switch (h) {
  case swim_health::alive:
    return "alive";
  case swim_health::suspect:
    return "suspect";
  case swim_health::dead:
    return "dead";
  }
  return "?";
}

swim::swim(std::string self, swim_options options, uint64_t seed)
    : self_(std::move(self)), options_(options), random_(seed) {}

void swim::add(const std::string& name) {
  if (name == self_ || members_.count(name))
    return;
  members_.emplace(name, member{});
  // A newcomer takes a random place among the members not yet probed this round (SWIM 4.3), so
  // that it is probed within this round or the next, and rounds stay permutations. It swaps with
  // the member there, which goes last: constant time, so that adding n members costs O(n).
  order_.push_back(name);
  std::uniform_int_distribution<size_t> at(next_, order_.size() - 1);
  std::swap(order_[at(random_)], order_.back());
}

void swim::revive(const std::string& name, clock::time_point now) {
  auto it = members_.find(name);
  if (it != members_.end() && it->second.health == swim_health::dead)
    believe(name, it->second, swim_health::suspect, it->second.incarnation, now);
}

std::optional<swim_rumor> swim::about(const std::string& name) const {
  auto it = members_.find(name);
  if (it == members_.end() || it->second.health == swim_health::alive)
    return std::nullopt;
  return swim_rumor{name, it->second.health, it->second.incarnation};
}

void swim::remove(const std::string& name) {
  members_.erase(name);
  suspects_.erase(name);
  rumors_.erase(name);
  auto it = std::find(order_.begin(), order_.end(), name);
  if (it != order_.end()) {
    if (static_cast<size_t>(it - order_.begin()) < next_)
      --next_;
    order_.erase(it);
  }
}

std::optional<std::string> swim::next_target() {
  for (size_t tried = 0; tried <= order_.size(); ++tried) {
    if (next_ >= order_.size()) {
      std::shuffle(order_.begin(), order_.end(), random_);
      next_ = 0;
    }
    if (order_.empty())
      return std::nullopt;
    // The dead are probed too: after a partition both sides have declared each other dead, and
    // if neither probed the other no refutation would ever travel (the connections stay open,
    // so no reconnect revives them). A dead member that answers refutes the verdict its probe
    // carries; one that does not costs this period's probe and no more (no indirect probes).
    return order_[next_++];
  }
  return std::nullopt;
}

std::vector<std::string> swim::indirect_helpers(const std::string& target) {
  // Drawn at random from the probe order (every member), a bounded number of tries: constant
  // work per failed probe however many members there are.
  std::vector<std::string> out;
  if (order_.empty())
    return out;
  std::uniform_int_distribution<size_t> pick(0, order_.size() - 1);
  for (size_t tries = 0;
       tries < 8 * options_.indirect_probes + 8 && out.size() < options_.indirect_probes; ++tries) {
    auto& name = order_[pick(random_)];
    if (name == target || members_.at(name).health != swim_health::alive ||
        std::find(out.begin(), out.end(), name) != out.end())
      continue;
    out.push_back(name);
  }
  return out;
}

void swim::unreachable(const std::string& target, clock::time_point now) {
  auto it = members_.find(target);
  if (it == members_.end() || it->second.health != swim_health::alive)
    return;
  believe(target, it->second, swim_health::suspect, it->second.incarnation, now);
}

std::vector<std::string> swim::expire(clock::time_point now) {
  std::vector<std::string> dead;
  auto timeout = suspicion_timeout();
  for (auto& name : std::vector<std::string>(suspects_.begin(), suspects_.end())) {
    auto& m = members_.at(name);
    if (now - m.suspected_since >= timeout) {
      believe(name, m, swim_health::dead, m.incarnation, now);
      dead.push_back(name);
    }
  }
  return dead;
}

std::vector<swim_rumor> swim::rumors_to_send() {
  std::vector<pending_rumor*> queue;
  for (auto& [name, r] : rumors_)
    queue.push_back(&r);
  // Fewest transmissions first, so that news overtakes what most members have heard already.
  std::stable_sort(queue.begin(), queue.end(), [](auto* a, auto* b) { return a->sent < b->sent; });
  if (queue.size() > options_.rumors_per_message)
    queue.resize(options_.rumors_per_message);
  std::vector<swim_rumor> out;
  std::vector<std::string> spent;
  for (auto* r : queue) {
    out.push_back(r->rumor);
    if (++r->sent >= transmit_limit())
      spent.push_back(r->rumor.member);
  }
  for (auto& name : spent)
    rumors_.erase(name);
  return out;
}

bool swim::hear(const swim_rumor& rumor, clock::time_point now) {
  if (rumor.member == self_) {
    if (rumor.health == swim_health::alive)
      return false;
    // Refute: only this member may raise its incarnation, and it outranks the suspicion.
    bool raise = rumor.incarnation >= incarnation_;
    if (raise)
      incarnation_ = rumor.incarnation + 1;
    // An older suspicion or verdict still heard means its holders missed the refutation (a node
    // resuming from a pause spends it on the answers to the probes queued meanwhile, which
    // nobody waits for any more): announce it again.
    if (raise || !rumors_.count(self_))
      spread({self_, swim_health::alive, incarnation_});
    return raise;
  }
  auto it = members_.find(rumor.member);
  if (it == members_.end())
    return false; // not a member here (yet): membership decides who is watched
  auto& m = it->second;
  bool newer = rumor.incarnation > m.incarnation;
  bool same = rumor.incarnation == m.incarnation;
  bool accept = false;
  switch (rumor.health) {
  case swim_health::alive:
    accept = newer;
    break;
  case swim_health::suspect:
    accept = m.health != swim_health::dead && (newer || (same && m.health == swim_health::alive));
    break;
  case swim_health::dead:
    accept = m.health != swim_health::dead && (newer || same);
    break;
  }
  if (!accept)
    return false;
  believe(rumor.member, m, rumor.health, rumor.incarnation, now);
  return true;
}

std::optional<swim_health> swim::health(const std::string& name) const {
  auto it = members_.find(name);
  if (it == members_.end())
    return std::nullopt;
  return it->second.health;
}

std::optional<uint64_t> swim::incarnation_of(const std::string& name) const {
  auto it = members_.find(name);
  if (it == members_.end())
    return std::nullopt;
  return it->second.incarnation;
}

swim::clock::duration swim::suspicion_timeout() const {
  auto n = std::max<double>(static_cast<double>(members_.size() + 1), 10.0);
  auto scaled = std::chrono::duration<double, std::milli>(options_.suspicion_periods *
                                                          std::log10(n) * options_.period.count());
  return std::max<clock::duration>(options_.suspicion_min,
                                   std::chrono::duration_cast<clock::duration>(scaled));
}

void swim::believe(const std::string& name, member& m, swim_health h, uint64_t incarnation,
                   clock::time_point now) {
  if (h == swim_health::suspect && m.health != swim_health::suspect)
    m.suspected_since = now;
  if (h == swim_health::suspect)
    suspects_.insert(name);
  else
    suspects_.erase(name);
  m.health = h;
  m.incarnation = incarnation;
  spread({name, h, incarnation});
}

void swim::spread(swim_rumor rumor) {
  auto name = rumor.member;
  rumors_[name] = pending_rumor{std::move(rumor), 0};
}

size_t swim::transmit_limit() const {
  auto n = static_cast<double>(members_.size() + 1);
  return options_.retransmit_mult * static_cast<size_t>(std::ceil(std::log10(n + 1)));
}

} // namespace actorkv
