// The command-line checks kvbench and kvbench-storage share: each throws usage_error with the
// one line the program prints before it exits with 2.
#pragma once

#include <cstdint>
#include <string>

#include "tools/kvbench/workload.hpp"

namespace actorkv::bench {

/// A one-line complaint about the command line; exit code 2.
struct usage_error {
  std::string message;
};

/// A whole number from `min` to `max` given to `flag`.
uint64_t parse_count(const std::string& flag, const std::string& text, uint64_t min, uint64_t max);

/// Seconds given to `flag`, at least `min`, at most a day.
double parse_seconds(const std::string& flag, const std::string& text, double min);

/// --distribution's value: uniform or zipfian.
distribution_kind parse_distribution(const std::string& text);

} // namespace actorkv::bench
