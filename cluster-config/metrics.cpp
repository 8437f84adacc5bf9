#include "cluster-config/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace actorkv {

namespace {

bool valid_name(const std::string& s, bool colon) {
  if (s.empty())
    return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok)
      return false;
  }
  return true;
}

std::string escape_help(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + escape_help(help) + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

/// Labels rendered with one more label appended (a histogram's le).
std::string with_label(const std::string& rendered, const std::string& name,
                       const std::string& value) {
  auto extra = name + "=\"" + value + "\"";
  if (rendered.empty())
    return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

} // namespace

metric_histogram::metric_histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i)
    buckets_[i].store(0, std::memory_order_relaxed);
}

void metric_histogram::observe(double v) {
  auto i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                               bounds_.begin()); // first bound >= v: buckets are le
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  auto old = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(old, old + v, std::memory_order_relaxed))
    ;
}

std::vector<uint64_t> metric_histogram::bucket_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::vector<double> size_buckets() {
  std::vector<double> out;
  for (double b = 1; b <= 4096; b *= 2)
    out.push_back(b);
  return out;
}

std::string render_number(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    return std::to_string(static_cast<int64_t>(v));
  char buf[32]; // the shortest of these that reads back as v
  std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v)
    std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string render_labels(const metric_labels& labels) {
  if (labels.empty())
    return {};
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!valid_name(labels[i].first, false))
      throw std::logic_error("invalid metric label name: " + labels[i].first);
    if (i > 0)
      out += ',';
    out += labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '\\')
        out += "\\\\";
      else if (c == '"')
        out += "\\\"";
      else if (c == '\n')
        out += "\\n";
      else
        out += c;
    }
    out += '"';
  }
  return out + "}";
}

metrics_registry::family& metrics_registry::family_of(const std::string& name,
                                                      const std::string& help, kind type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    if (!valid_name(name, true))
      throw std::logic_error("invalid metric name: " + name);
    it = families_.emplace(name, family{type, help, {}, {}, {}, {}}).first;
  } else if (it->second.type != type) {
    throw std::logic_error("metric " + name + " used as two types");
  }
  return it->second;
}

metric_counter& metrics_registry::counter(const std::string& name, const std::string& help,
                                          const metric_labels& labels) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& slot = family_of(name, help, kind::counter).counters[render_labels(labels)];
  if (!slot)
    slot = std::make_unique<metric_counter>();
  return *slot;
}

metric_gauge& metrics_registry::gauge(const std::string& name, const std::string& help,
                                      const metric_labels& labels) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& slot = family_of(name, help, kind::gauge).gauges[render_labels(labels)];
  if (!slot)
    slot = std::make_unique<metric_gauge>();
  return *slot;
}

metric_histogram& metrics_registry::histogram(const std::string& name, const std::string& help,
                                              const std::vector<double>& bounds,
                                              const metric_labels& labels) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& fam = family_of(name, help, kind::histogram);
  if (fam.histograms.empty() && fam.bounds.empty())
    fam.bounds = bounds;
  auto& slot = fam.histograms[render_labels(labels)];
  if (!slot)
    slot = std::make_unique<metric_histogram>(fam.bounds);
  return *slot;
}

std::string metrics_registry::render() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::string out;
  for (auto& [name, fam] : families_) {
    switch (fam.type) {
    case kind::counter:
      header(out, name, fam.help, "counter");
      for (auto& [labels, c] : fam.counters)
        out += name + labels + " " + std::to_string(c->value()) + "\n";
      break;
    case kind::gauge:
      header(out, name, fam.help, "gauge");
      for (auto& [labels, g] : fam.gauges)
        out += name + labels + " " + std::to_string(g->value()) + "\n";
      break;
    case kind::histogram:
      header(out, name, fam.help, "histogram");
      for (auto& [labels, h] : fam.histograms) {
        auto counts = h->bucket_counts();
        uint64_t total = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
          total += counts[i];
          auto le = i < h->bounds().size() ? render_number(h->bounds()[i]) : std::string{"+Inf"};
          out +=
              name + "_bucket" + with_label(labels, "le", le) + " " + std::to_string(total) + "\n";
        }
        out += name + "_sum" + labels + " " + render_number(h->sum()) + "\n";
        out += name + "_count" + labels + " " + std::to_string(total) + "\n";
      }
      break;
    }
  }
  return out;
}

void render_family(std::string& out, const std::string& name, const std::string& help,
                   const std::string& type,
                   const std::vector<std::pair<metric_labels, double>>& series) {
  header(out, name, help, type.c_str());
  for (auto& [labels, v] : series)
    out += name + render_labels(labels) + " " + render_number(v) + "\n";
}

} // namespace actorkv
