#include "tools/kvbench/workload.hpp"

#include <cmath>
#include <cstdio>

namespace actorkv::bench {

namespace {

/// YCSB's ScrambledZipfianGenerator constants: ranks are drawn over 10^10 + 1 items, whose zeta
/// for theta 0.99 YCSB precomputes (summing 10^10 terms at start-up would take minutes).
constexpr double zipfian_theta = 0.99;
constexpr double zipfian_items = 10000000001.0;
constexpr double zipfian_zetan = 26.46902820178302;

} // namespace

const char* op_name(op_kind op) {
  switch (op) {
  case op_kind::read:
    return "read";
  case op_kind::update:
    return "update";
  case op_kind::insert:
    return "insert";
  case op_kind::rmw:
    return "rmw";
  case op_kind::remove:
    return "delete";
  }
  return "?";
}

double read_fraction(workload_kind w) {
  switch (w) {
  case workload_kind::a:
    return 0.5;
  case workload_kind::b:
    return 0.95;
  case workload_kind::c:
    return 1.0;
  case workload_kind::w:
  case workload_kind::rmw:
    return 0.0;
  }
  return 0.0;
}

const char* workload_name(workload_kind w) {
  switch (w) {
  case workload_kind::a:
    return "a";
  case workload_kind::b:
    return "b";
  case workload_kind::c:
    return "c";
  case workload_kind::w:
    return "w";
  case workload_kind::rmw:
    return "rmw";
  }
  return "?";
}

const char* distribution_name(distribution_kind d) {
  return d == distribution_kind::uniform ? "uniform" : "zipfian";
}

std::string key_name(uint64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "user%010llu", static_cast<unsigned long long>(index));
  return buf;
}

uint64_t fnv_hash64(uint64_t value) {
  // Java's signed arithmetic wraps exactly like unsigned arithmetic here; only the final
  // Math.abs needs the signed view.
  uint64_t hash = 0xCBF29CE484222325ULL;
  for (int i = 0; i < 8; ++i) {
    hash ^= value & 0xff;
    value >>= 8;
    hash *= 1099511628211ULL;
  }
  auto s = static_cast<int64_t>(hash);
  return s < 0 ? static_cast<uint64_t>(-(s + 1)) + 1 : static_cast<uint64_t>(s);
}

key_chooser::key_chooser(distribution_kind dist, uint64_t count)
    : dist_(dist), count_(count), uniform_(0, count - 1) {
  double zeta2 = 1.0 + std::pow(0.5, zipfian_theta);
  alpha_ = 1.0 / (1.0 - zipfian_theta);
  zetan_ = zipfian_zetan;
  half_pow_theta_ = std::pow(0.5, zipfian_theta);
  eta_ = (1.0 - std::pow(2.0 / zipfian_items, 1.0 - zipfian_theta)) / (1.0 - zeta2 / zetan_);
}

uint64_t key_chooser::zipfian_rank(std::mt19937_64& rng) {
  double u = unit_(rng);
  double uz = u * zetan_;
  if (uz < 1.0)
    return 0;
  if (uz < 1.0 + half_pow_theta_)
    return 1;
  return static_cast<uint64_t>(zipfian_items * std::pow(eta_ * u - eta_ + 1.0, alpha_));
}

uint64_t key_chooser::next(std::mt19937_64& rng) {
  if (dist_ == distribution_kind::uniform)
    return uniform_(rng);
  return fnv_hash64(zipfian_rank(rng)) % count_;
}

} // namespace actorkv::bench
