// What kvbench measures: latency histograms and per-operation counts of one phase, and how they
// are reported (table on stdout, JSON file).
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "tools/kvbench/workload.hpp"

namespace actorkv::bench {

/// Latencies in microseconds, HDR-style: exact below 256 µs, then 128 buckets per power of two,
/// so any reported percentile is within 0.8% of the true value, in a fixed 30 KiB whatever the
/// run's length. Cheap to record (a bit scan and an increment) and to merge.
class latency_histogram {
public:
  latency_histogram();

  void record(uint64_t micros);
  void merge(const latency_histogram& other);

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }

  /// The smallest bucket bound below which at least `q` (0..1] of the values lie, capped at the
  /// largest value recorded; 0 when empty.
  uint64_t quantile(double q) const;

private:
  static size_t index_of(uint64_t micros);
  /// The largest value that falls into bucket `index`.
  static uint64_t upper_bound_of(size_t index);

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

/// One operation kind within a phase.
struct op_stats {
  uint64_t ok = 0;        ///< answered successfully (latency recorded)
  uint64_t not_found = 0; ///< reads of absent keys: successes, counted apart
  uint64_t siblings = 0;  ///< reads that returned more than one value
  uint64_t values = 0;    ///< values returned by the reads that found their key (siblings count)
  latency_histogram latency;
  std::map<std::string, uint64_t> errors;           ///< by kind: actorkv code or CAF error name
  std::map<std::string, std::string> error_example; ///< one full message per kind

  void merge(const op_stats& other);
  uint64_t error_count() const;
};

/// What one phase (load or run) measured.
struct phase_result {
  std::array<op_stats, op_kind_count> ops;
  double seconds = 0; ///< the measurement window
  /// CPU this kvbench process used per second of the whole phase (warm-up and drain
  /// included), in cores: on a shared machine the load generator's share matters.
  double client_cores = 0;

  void merge(const phase_result& other);
};

/// How the run was configured, for the report's header.
struct run_description {
  std::string endpoints;
  std::string cluster; ///< the settings text from the cluster's status
  size_t members = 0;
  workload_kind workload = workload_kind::a;
  distribution_kind distribution = distribution_kind::uniform;
  uint64_t keys = 0;
  size_t value_size = 0;
  size_t clients = 0;
  size_t client_actors = 0;
  uint64_t ops = 0;    ///< 0 when bounded by duration
  double duration = 0; ///< seconds; 0 when bounded by ops
  double warmup = 0;
  uint64_t seed = 0;
  size_t threads = 0;    ///< this process's CAF scheduler threads
  std::string scheduler; ///< and their policy
};

/// The human-readable table of one phase.
void print_table(std::ostream& out, const std::string& title, const phase_result& r);

/// The header lines describing the run.
void print_header(std::ostream& out, const run_description& d);

/// The whole report as JSON: the description, then each named phase.
void write_json(std::ostream& out, const run_description& d,
                const std::vector<std::pair<std::string, phase_result>>& phases);

} // namespace actorkv::bench
