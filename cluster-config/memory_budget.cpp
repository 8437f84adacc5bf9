#include "cluster-config/memory_budget.hpp"

#include <cstdio>
#include <utility>

#include "messages/error.hpp"

namespace actorkv {

memory_budget::charge::charge(std::shared_ptr<memory_budget> budget, uint64_t bytes)
    : budget_(std::move(budget)), bytes_(bytes) {}

memory_budget::charge::charge(charge&& other) noexcept
    : budget_(std::move(other.budget_)), bytes_(std::exchange(other.bytes_, 0)) {}

memory_budget::charge& memory_budget::charge::operator=(charge&& other) noexcept {
  if (this != &other) {
    release();
    budget_ = std::move(other.budget_);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

memory_budget::charge::~charge() {
  release();
}

void memory_budget::charge::release() {
  if (budget_)
    budget_->give_back(bytes_);
  budget_.reset();
  bytes_ = 0;
}

bool memory_budget::charge::grow(uint64_t more, budget_class who, bool alone_passes) {
  if (!budget_)
    return false;
  // used_ is never UINT64_MAX: "alone" then never matches.
  if (!budget_->add(more, budget_->ceiling(who), alone_passes ? bytes_ : UINT64_MAX))
    return false;
  bytes_ += more;
  return true;
}

memory_budget::memory_budget(uint64_t limit) : limit_(limit < 1 ? 1 : limit) {}

uint64_t memory_budget::ceiling(budget_class who) const {
  return who == budget_class::client ? client_share(limit_) : limit_;
}

memory_budget::charge memory_budget::take(uint64_t bytes, budget_class who) {
  if (!add(bytes, ceiling(who), 0))
    return {};
  return charge{shared_from_this(), bytes};
}

bool memory_budget::add(uint64_t bytes, uint64_t ceil, uint64_t alone) {
  auto now = used_.load(std::memory_order_relaxed);
  for (;;) {
    // Within the ceiling, or alone: a charge above the ceiling waits for a budget holding
    // nothing else rather than never passing.
    bool fits = now == alone || (bytes <= ceil && now <= ceil - bytes);
    if (!fits) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (used_.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed))
      break;
  }
  auto total = now + bytes;
  auto peak = peak_.load(std::memory_order_relaxed);
  while (total > peak && !peak_.compare_exchange_weak(peak, total, std::memory_order_relaxed)) {
  }
  return true;
}

void memory_budget::give_back(uint64_t bytes) {
  used_.fetch_sub(bytes, std::memory_order_relaxed);
}

caf::error memory_budget::refusal(const std::string& what, uint64_t bytes, budget_class who,
                                  const std::string& outcome) const {
  auto share = who == budget_class::client
                   ? ", of which clients may fill " + bytes_for_people(ceiling(who))
                   : std::string{};
  return caf::make_error(
      ec::overloaded, what + " needs " + bytes_for_people(bytes) +
                          " of the node's memory budget, which holds " + bytes_for_people(used()) +
                          " of requests in flight (memory_budget_bytes = " +
                          bytes_for_people(limit_) + share + "); " + outcome + ": retry shortly");
}

std::string bytes_for_people(uint64_t bytes) {
  char text[32];
  if (bytes >= (uint64_t{1} << 30))
    std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  else if (bytes >= (uint64_t{1} << 20))
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  else if (bytes >= (uint64_t{1} << 10))
    std::snprintf(text, sizeof text, "%.1f KiB", static_cast<double>(bytes) / (1 << 10));
  else
    std::snprintf(text, sizeof text, "%llu bytes", static_cast<unsigned long long>(bytes));
  return text;
}

} // namespace actorkv
