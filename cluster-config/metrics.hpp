// A node's metrics as Prometheus text exposition (format 0.0.4): counters, gauges and histograms
// with fixed buckets, each series named by its family and a label set. Pure logic, no actors or
// I/O: kvnode makes one registry per process and hands it to the actors that count, and the
// HTTPS API renders it at GET /metrics.
//
// Thread safety: actors on different CAF threads, the detached storage actor and the HTTPS I/O
// threads update series at once. Finding or creating a series takes the registry's mutex; an
// update of a series found is lock-free (atomics), so a hot path can keep the reference it got
// (series are never removed, and references stay valid for the registry's life). render() takes
// the mutex and reads each atomic once: a scrape sees every series at some moment during it
// (a histogram's count equals its +Inf bucket, both read from the same bucket values).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace actorkv {

/// Label names and values, in the order given (the order is part of the series' identity).
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// Only goes up (or is reset when the process restarts).
class metric_counter {
public:
  void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> value_{0};
};

/// A value that goes up and down.
class metric_gauge {
public:
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<int64_t> value_{0};
};

/// Observations counted into fixed buckets (upper bounds, ascending), with their sum.
class metric_histogram {
public:
  explicit metric_histogram(std::vector<double> bounds);

  void observe(double v);

  const std::vector<double>& bounds() const { return bounds_; }
  /// Observations <= bounds()[i], not cumulative; the last entry counts those above every bound.
  std::vector<uint64_t> bucket_counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_; ///< bounds_.size() + 1
  std::atomic<double> sum_{0};
};

/// Bucket bounds for durations in seconds: 100 µs to 10 s.
std::vector<double> latency_buckets();
/// Bucket bounds for sizes and counts: 1, 2, 4, ... 4096.
std::vector<double> size_buckets();

class metrics_registry {
public:
  /// The series of family `name` with `labels`, created at zero on first use. `help` is taken
  /// from the family's first use. Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names
  /// [a-zA-Z_][a-zA-Z0-9_]*; asking for one name as two types throws std::logic_error (a
  /// programming error, never caused by input).
  metric_counter& counter(const std::string& name, const std::string& help,
                          const metric_labels& labels = {});
  metric_gauge& gauge(const std::string& name, const std::string& help,
                      const metric_labels& labels = {});
  /// `bounds` apply to the family's first series; later series of the family share them.
  metric_histogram& histogram(const std::string& name, const std::string& help,
                              const std::vector<double>& bounds, const metric_labels& labels = {});

  /// Every family, sorted by name, as text exposition: # HELP, # TYPE, then its series.
  std::string render() const;

private:
  enum class kind { counter, gauge, histogram };
  struct family {
    kind type;
    std::string help;
    std::vector<double> bounds;
    std::map<std::string, std::unique_ptr<metric_counter>> counters; ///< by rendered labels
    std::map<std::string, std::unique_ptr<metric_gauge>> gauges;
    std::map<std::string, std::unique_ptr<metric_histogram>> histograms;
  };
  family& family_of(const std::string& name, const std::string& help, kind type);

  mutable std::mutex mutex_;
  std::map<std::string, family> families_;
};

/// `{a="x",b="y"}` with values escaped as the format asks (backslash, quote, newline); empty
/// for no labels.
std::string render_labels(const metric_labels& labels);

/// A number as the format writes it: integers without a fraction, +Inf, -Inf, NaN.
std::string render_number(double v);

/// Appends one family rendered from values computed elsewhere (a scrape's snapshot of status):
/// # HELP, # TYPE (counter or gauge) and one line per series.
void render_family(std::string& out, const std::string& name, const std::string& help,
                   const std::string& type,
                   const std::vector<std::pair<metric_labels, double>>& series);

} // namespace actorkv
