// What kvbench asks of the cluster: the YCSB-style operation mix and key choice, free of actors.
//
// Keys are "user" followed by a 10-digit number below the key count, so a run that loads the key
// space (--load) and a run that reads it agree on the names. The zipfian chooser is YCSB's
// ScrambledZipfianGenerator: a zipfian rank over 10^10 items (constant 0.99) hashed with 64-bit
// FNV-1a onto the key space, so popular keys are scattered instead of clustered at the low end.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace actorkv::bench {

/// a, b, c, w: YCSB's mixes of reads and blind updates. rmw: read-modify-write cycles, the
/// shopping cart's: a get, then a put with the context that get returned.
enum class workload_kind { a, b, c, w, rmw };
enum class distribution_kind { uniform, zipfian };
/// rmw: one whole cycle (its read and its write, timed together). remove: a blind delete.
enum class op_kind { read, update, insert, rmw, remove };
constexpr int op_kind_count = 5;

/// What a phase of a run does: the workload's mix, or every key once (inserted or deleted).
enum class phase_kind { mix, insert_all, delete_all };

/// "read", "update", "insert", "rmw" or "delete".
const char* op_name(op_kind op);

/// The fraction of reads of a workload: a 0.5, b 0.95, c 1.0, w 0.0 (the rest are updates); rmw
/// 0 (its reads are part of its cycles).
double read_fraction(workload_kind w);

/// "a", "b", "c", "w" or "rmw".
const char* workload_name(workload_kind w);

const char* distribution_name(distribution_kind d);

/// The key named by `index` (below the key count): "user0000000042".
std::string key_name(uint64_t index);

/// YCSB's 64-bit FNV hash of the 8 bytes of `value` (little end first), made non-negative.
uint64_t fnv_hash64(uint64_t value);

/// Picks key indexes in [0, count) with the configured distribution. One per worker: it keeps
/// no shared state and its random engine belongs to the caller.
class key_chooser {
public:
  key_chooser(distribution_kind dist, uint64_t count);

  uint64_t next(std::mt19937_64& rng);

private:
  /// A zipfian rank over YCSB's 10^10 items, most popular first (Gray et al., as YCSB has it).
  uint64_t zipfian_rank(std::mt19937_64& rng);

  distribution_kind dist_;
  uint64_t count_;
  std::uniform_int_distribution<uint64_t> uniform_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
  double alpha_ = 0, eta_ = 0, zetan_ = 0, half_pow_theta_ = 0;
};

} // namespace actorkv::bench
