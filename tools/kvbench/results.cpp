#include "tools/kvbench/results.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace actorkv::bench {

namespace {

constexpr size_t exact_below = 256; ///< values below are their own bucket
constexpr size_t sub_buckets = 128; ///< buckets per power of two above that
constexpr int exact_bits = 8;       ///< log2(exact_below)
constexpr int top_bit = 40;         ///< 2^40 µs is 12 days: larger values share the last bucket
constexpr size_t bucket_count = exact_below + (top_bit - exact_bits + 1) * sub_buckets;

std::string fixed(double v, int decimals) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(decimals) << v;
  return s.str();
}

std::string millis(uint64_t micros) {
  return fixed(static_cast<double>(micros) / 1000.0, 3);
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

/// Every operation of the phase merged, for the "total" row.
op_stats total_of(const phase_result& r) {
  op_stats t;
  for (auto& o : r.ops)
    t.merge(o);
  return t;
}

double rate(uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

void print_row(std::ostream& out, const std::string& name, const op_stats& s, double seconds) {
  auto& h = s.latency;
  out << std::left << std::setw(10) << name << std::right << std::setw(10) << s.ok << std::setw(11)
      << fixed(rate(s.ok, seconds), 0) << std::setw(9) << millis(h.quantile(0.5)) << std::setw(9)
      << millis(h.quantile(0.95)) << std::setw(9) << millis(h.quantile(0.99)) << std::setw(10)
      << millis(h.quantile(0.999)) << std::setw(10) << millis(h.max()) << std::setw(11)
      << s.not_found << std::setw(8) << s.error_count() << "\n";
}

/// Values per read that found its key: 1 without siblings.
double values_per_read(const op_stats& s) {
  auto found = s.ok >= s.not_found ? s.ok - s.not_found : 0;
  return found == 0 ? 0.0 : static_cast<double>(s.values) / static_cast<double>(found);
}

void json_op(std::ostream& out, const op_stats& s, double seconds) {
  auto& h = s.latency;
  out << "{\"count\": " << s.ok << ", \"ops_per_s\": " << fixed(rate(s.ok, seconds), 1)
      << ", \"not_found\": " << s.not_found << ", \"siblings\": " << s.siblings
      << ", \"values_per_read\": " << fixed(values_per_read(s), 3)
      << ", \"latency_ms\": {\"p50\": " << millis(h.quantile(0.5))
      << ", \"p95\": " << millis(h.quantile(0.95)) << ", \"p99\": " << millis(h.quantile(0.99))
      << ", \"p99_9\": " << millis(h.quantile(0.999)) << ", \"max\": " << millis(h.max())
      << "}, \"errors\": {";
  bool first = true;
  for (auto& [kind, n] : s.errors) {
    out << (first ? "" : ", ") << json_string(kind) << ": " << n;
    first = false;
  }
  out << "}}";
}

} // namespace

latency_histogram::latency_histogram() : buckets_(bucket_count, 0) {}

size_t latency_histogram::index_of(uint64_t micros) {
  if (micros < exact_below)
    return static_cast<size_t>(micros);
  int msb = 63 - __builtin_clzll(micros);
  if (msb > top_bit)
    return bucket_count - 1;
  int shift = msb - (exact_bits - 1);
  auto sub = static_cast<size_t>(micros >> shift) - sub_buckets;
  return exact_below + static_cast<size_t>(msb - exact_bits) * sub_buckets + sub;
}

uint64_t latency_histogram::upper_bound_of(size_t index) {
  if (index < exact_below)
    return index;
  auto k = (index - exact_below) / sub_buckets;
  auto sub = (index - exact_below) % sub_buckets;
  int shift = static_cast<int>(k) + 1;
  return ((sub_buckets + sub) << shift) + (uint64_t{1} << shift) - 1;
}

void latency_histogram::record(uint64_t micros) {
  ++buckets_[index_of(micros)];
  ++count_;
  max_ = std::max(max_, micros);
}

void latency_histogram::merge(const latency_histogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i)
    buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

uint64_t latency_histogram::quantile(double q) const {
  if (count_ == 0)
    return 0;
  auto target = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  target = std::clamp<uint64_t>(target, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= target)
      return std::min(upper_bound_of(i), max_);
  }
  return max_;
}

void op_stats::merge(const op_stats& other) {
  ok += other.ok;
  not_found += other.not_found;
  siblings += other.siblings;
  values += other.values;
  latency.merge(other.latency);
  for (auto& [kind, n] : other.errors)
    errors[kind] += n;
  for (auto& [kind, text] : other.error_example)
    error_example.emplace(kind, text);
}

uint64_t op_stats::error_count() const {
  uint64_t n = 0;
  for (auto& e : errors)
    n += e.second;
  return n;
}

void phase_result::merge(const phase_result& other) {
  for (size_t i = 0; i < ops.size(); ++i)
    ops[i].merge(other.ops[i]);
}

void print_header(std::ostream& out, const run_description& d) {
  out << "kvbench: workload " << workload_name(d.workload) << " ("
      << (d.workload == workload_kind::rmw ? std::string{"read-modify-write cycles"}
                                           : fixed(read_fraction(d.workload) * 100, 0) + "% read")
      << "), " << d.keys << " keys " << distribution_name(d.distribution) << ", " << d.value_size
      << "-byte values, " << d.clients << " requests in flight over " << d.client_actors
      << " client actor" << (d.client_actors == 1 ? "" : "s") << ", ";
  if (d.ops > 0)
    out << d.ops << " ops";
  else
    out << fixed(d.duration, 0) << " s";
  out << " after " << fixed(d.warmup, 0) << " s warm-up, seed " << d.seed << ", " << d.threads
      << " " << d.scheduler << " scheduler threads\n";
  out << "cluster: " << d.cluster << ", " << d.members << " members, via " << d.endpoints << "\n";
}

void print_table(std::ostream& out, const std::string& title, const phase_result& r) {
  auto total = total_of(r);
  out << "\n"
      << title << ": " << total.ok << " ops in " << fixed(r.seconds, 1)
      << " s = " << fixed(rate(total.ok, r.seconds), 0) << " ops/s";
  if (auto errs = total.error_count(); errs > 0)
    out << ", " << errs << " errors";
  out << " (kvbench itself used " << fixed(r.client_cores, 2) << " cores)\n";
  out << std::left << std::setw(10) << "operation" << std::right << std::setw(10) << "count"
      << std::setw(11) << "ops/s" << std::setw(9) << "p50 ms" << std::setw(9) << "p95 ms"
      << std::setw(9) << "p99 ms" << std::setw(10) << "p99.9 ms" << std::setw(10) << "max ms"
      << std::setw(11) << "not found" << std::setw(8) << "errors"
      << "\n";
  for (int i = 0; i < op_kind_count; ++i) {
    auto& s = r.ops[static_cast<size_t>(i)];
    if (s.ok + s.error_count() > 0)
      print_row(out, op_name(static_cast<op_kind>(i)), s, r.seconds);
  }
  print_row(out, "total", total, r.seconds);
  if (total.siblings > 0)
    out << "reads that returned siblings: " << total.siblings << " (values per read "
        << fixed(values_per_read(total), 2) << ")\n";
  for (int i = 0; i < op_kind_count; ++i) {
    auto& s = r.ops[static_cast<size_t>(i)];
    for (auto& [kind, n] : s.errors)
      out << "error: " << op_name(static_cast<op_kind>(i)) << " " << kind << " x" << n << " (e.g. "
          << s.error_example.at(kind) << ")\n";
  }
}

void write_json(std::ostream& out, const run_description& d,
                const std::vector<std::pair<std::string, phase_result>>& phases) {
  out << "{\n  \"workload\": " << json_string(workload_name(d.workload))
      << ",\n  \"read_fraction\": " << read_fraction(d.workload) << ",\n  \"keys\": " << d.keys
      << ",\n  \"distribution\": " << json_string(distribution_name(d.distribution))
      << ",\n  \"value_size\": " << d.value_size << ",\n  \"clients\": " << d.clients
      << ",\n  \"client_actors\": " << d.client_actors << ",\n  \"ops\": " << d.ops
      << ",\n  \"duration_s\": " << d.duration << ",\n  \"warmup_s\": " << d.warmup
      << ",\n  \"seed\": " << d.seed << ",\n  \"threads\": " << d.threads
      << ",\n  \"scheduler\": " << json_string(d.scheduler)
      << ",\n  \"endpoints\": " << json_string(d.endpoints)
      << ",\n  \"cluster\": " << json_string(d.cluster) << ",\n  \"members\": " << d.members
      << ",\n  \"phases\": {";
  bool first_phase = true;
  for (auto& [name, r] : phases) {
    auto total = total_of(r);
    out << (first_phase ? "" : ",") << "\n    " << json_string(name)
        << ": {\n      \"seconds\": " << fixed(r.seconds, 3)
        << ",\n      \"ops_per_s\": " << fixed(rate(total.ok, r.seconds), 1)
        << ",\n      \"client_cores\": " << fixed(r.client_cores, 3) << ",\n      \"total\": ";
    json_op(out, total, r.seconds);
    for (int i = 0; i < op_kind_count; ++i) {
      auto& s = r.ops[static_cast<size_t>(i)];
      if (s.ok + s.error_count() == 0)
        continue;
      out << ",\n      " << json_string(op_name(static_cast<op_kind>(i))) << ": ";
      json_op(out, s, r.seconds);
    }
    out << "\n    }";
    first_phase = false;
  }
  out << "\n  }\n}\n";
}

} // namespace actorkv::bench
