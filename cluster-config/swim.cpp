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
  if (name == self_ || member(name) != name_table::npos)
    return;
  auto m = names_.intern(name);
  if (m == present_.size()) {
    present_.push_back(presence::present);
    health_.push_back(swim_health::alive);
    incarnations_.push_back(0);
  } else { // removed earlier, added again: as new
    present_[m] = presence::present;
    health_[m] = swim_health::alive;
    incarnations_[m] = 0;
  }
  ++size_;
  // A newcomer takes a random place among the members not yet probed this round (SWIM 4.3), so
  // that it is probed within this round or the next, and rounds stay permutations. It swaps with
  // the member there, which goes last: constant time, so that adding n members costs O(n).
  order_.push_back(m);
  std::uniform_int_distribution<size_t> at(next_, order_.size() - 1);
  std::swap(order_[at(random_)], order_.back());
}

void swim::reserve(size_t members) {
  names_.reserve(members);
  present_.reserve(members);
  health_.reserve(members);
  incarnations_.reserve(members);
  order_.reserve(members);
}

void swim::revive(const std::string& name, clock::time_point now) {
  auto m = member(name);
  if (m != name_table::npos && health_[m] == swim_health::dead)
    believe(m, swim_health::suspect, incarnations_[m], now);
}

std::optional<swim_rumor> swim::about(const std::string& name) const {
  auto m = member(name);
  if (m == name_table::npos || health_[m] == swim_health::alive)
    return std::nullopt;
  return swim_rumor{name, health_[m], incarnations_[m]};
}

void swim::remove(const std::string& name) {
  auto m = member(name);
  if (m == name_table::npos)
    return;
  present_[m] = presence::absent;
  --size_;
  suspects_.erase(name);
  rumors_.erase(name);
  auto it = std::find(order_.begin(), order_.end(), m);
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
    return std::string{names_.name(order_[next_++])};
  }
  return std::nullopt;
}

std::vector<std::string> swim::indirect_helpers(const std::string& target) {
  // Drawn at random from the probe order (every member), a bounded number of tries: constant
  // work per failed probe however many members there are.
  std::vector<std::string> out;
  if (order_.empty())
    return out;
  auto excluded = names_.find(target);
  std::vector<uint32_t> chosen;
  std::uniform_int_distribution<size_t> pick(0, order_.size() - 1);
  for (size_t tries = 0;
       tries < 8 * options_.indirect_probes + 8 && chosen.size() < options_.indirect_probes;
       ++tries) {
    auto m = order_[pick(random_)];
    if (m == excluded || health_[m] != swim_health::alive ||
        std::find(chosen.begin(), chosen.end(), m) != chosen.end())
      continue;
    chosen.push_back(m);
    out.emplace_back(names_.name(m));
  }
  return out;
}

void swim::unreachable(const std::string& target, clock::time_point now) {
  auto m = member(target);
  if (m == name_table::npos || health_[m] != swim_health::alive)
    return;
  believe(m, swim_health::suspect, incarnations_[m], now);
}

std::vector<std::string> swim::expire(clock::time_point now) {
  std::vector<std::string> dead;
  auto timeout = suspicion_timeout();
  // Deaf, this member waits for news (or the limit) rather than trust its own silence.
  auto wait = deaf(now) ? std::chrono::duration_cast<clock::duration>(timeout * options_.deaf_limit)
                        : timeout;
  for (auto it = suspects_.begin(); it != suspects_.end();) {
    auto [name, since] = *it++; // believe() erases it
    if (now - since >= wait) {
      auto m = member(name);
      believe(m, swim_health::dead, incarnations_[m], now);
      dead.push_back(name);
    }
  }
  return dead;
}

void swim::heard(clock::time_point when) {
  if (last_heard_ && when <= *last_heard_)
    return;
  // Back from a silence: what it suspected meanwhile, it could not have heard refuted.
  if (deaf(when))
    for (auto& [name, since] : suspects_)
      since = std::max(since, when);
  last_heard_ = when;
}

bool swim::deaf(clock::time_point now) const {
  return last_heard_ && now - *last_heard_ > options_.period * options_.deaf_periods;
}

std::vector<std::string> swim::suspects() const {
  std::vector<std::string> out;
  out.reserve(suspects_.size());
  for (auto& [name, since] : suspects_)
    out.push_back(name);
  return out;
}

void swim::heard_from(const std::string& name, clock::time_point when) {
  auto it = suspects_.find(name);
  if (it != suspects_.end() && when > it->second)
    it->second = when;
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
  auto m = member(rumor.member);
  if (m == name_table::npos)
    return false; // not a member here (yet): membership decides who is watched
  bool newer = rumor.incarnation > incarnations_[m];
  bool same = rumor.incarnation == incarnations_[m];
  auto health = health_[m];
  bool accept = false;
  switch (rumor.health) {
  case swim_health::alive:
    accept = newer;
    break;
  case swim_health::suspect:
    accept = health != swim_health::dead && (newer || (same && health == swim_health::alive));
    break;
  case swim_health::dead:
    accept = health != swim_health::dead && (newer || same);
    break;
  }
  if (!accept)
    return false;
  believe(m, rumor.health, rumor.incarnation, now);
  return true;
}

std::optional<swim_health> swim::health(const std::string& name) const {
  auto m = member(name);
  if (m == name_table::npos)
    return std::nullopt;
  return health_[m];
}

std::optional<uint64_t> swim::incarnation_of(const std::string& name) const {
  auto m = member(name);
  if (m == name_table::npos)
    return std::nullopt;
  return incarnations_[m];
}

std::optional<uint32_t> swim::number_of(const std::string& name) const {
  auto m = names_.find(name);
  if (m == name_table::npos)
    return std::nullopt;
  return m;
}

uint32_t swim::member(const std::string& name) const {
  auto m = names_.find(name);
  return m != name_table::npos && present_[m] == presence::present ? m : name_table::npos;
}

swim::clock::duration swim::suspicion_timeout() const {
  auto n = std::max<double>(static_cast<double>(size_ + 1), 10.0);
  auto scaled = std::chrono::duration<double, std::milli>(options_.suspicion_periods *
                                                          std::log10(n) * options_.period.count());
  return std::max<clock::duration>(options_.suspicion_min,
                                   std::chrono::duration_cast<clock::duration>(scaled));
}

void swim::believe(uint32_t m, swim_health h, uint64_t incarnation, clock::time_point now) {
  std::string name{names_.name(m)};
  if (h == swim_health::suspect && health_[m] != swim_health::suspect)
    suspects_[name] = now;
  else if (h != swim_health::suspect)
    suspects_.erase(name);
  health_[m] = h;
  incarnations_[m] = incarnation;
  spread({name, h, incarnation});
}

void swim::spread(swim_rumor rumor) {
  auto name = rumor.member;
  rumors_[name] = pending_rumor{std::move(rumor), 0};
}

size_t swim::transmit_limit() const {
  auto n = static_cast<double>(size_ + 1);
  return options_.retransmit_mult * static_cast<size_t>(std::ceil(std::log10(n + 1)));
}

} // namespace actorkv
