// What the node's actors count into the process's metrics registry (cluster-config/metrics.hpp),
// with the names and labels they share. Each counting actor keeps one of these helpers: it
// caches the series it found, so a request costs atomic increments, not a registry lookup.
// A null registry counts nothing (tests, simulations).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "cluster-config/metrics.hpp"
#include "messages/client.hpp"

namespace actorkv {

/// "ok", "not_found", an actorkv code's name ("unavailable"), "timeout" or "receiver_down" for
/// CAF's request errors, "other" for anything else: a bounded label.
std::string outcome_of(const caf::error& err);

/// The coordinator's client requests: actorkv_coordinator_requests_in_flight (its queue),
/// actorkv_requests_total{op,outcome},
/// actorkv_request_duration_seconds{op}, actorkv_errors_total{code},
/// actorkv_read_siblings (siblings per found read), actorkv_read_repairs_total.
class request_metrics {
public:
  explicit request_metrics(std::shared_ptr<metrics_registry> registry = nullptr);

  /// A request arrived: actorkv_coordinator_requests_in_flight goes up until it is counted.
  void started();
  /// One request of `op` ("get", "put", "delete") answered with `a` after `took`.
  void count(const char* op, const client_answer& a, std::chrono::nanoseconds took);
  /// A get's round sent its reconciled record to `replicas` stale replicas.
  void repaired(size_t replicas);

private:
  std::shared_ptr<metrics_registry> registry_;
  std::map<std::string, metric_counter*> requests_; ///< by op and outcome
  std::map<std::string, metric_counter*> errors_;   ///< by code
  std::map<std::string, metric_histogram*> durations_;
  metric_histogram* siblings_ = nullptr;
  metric_counter* repairs_ = nullptr;
  metric_gauge* in_flight_ = nullptr;
};

/// The storage actor's group commits: actorkv_storage_batch_writes (writes per committed
/// batch), actorkv_storage_commit_duration_seconds, actorkv_storage_commit_failures_total.
class storage_metrics {
public:
  explicit storage_metrics(std::shared_ptr<metrics_registry> registry = nullptr);
  void commit(size_t writes, std::chrono::nanoseconds took, bool failed);
  /// Requests waiting for the open batch's commit to be answered (its queue):
  /// actorkv_storage_pending_answers.
  void pending(size_t n);

private:
  std::shared_ptr<metrics_registry> registry_;
  metric_histogram* writes_ = nullptr;
  metric_histogram* duration_ = nullptr;
  metric_counter* failures_ = nullptr;
  metric_gauge* pending_ = nullptr;
};

} // namespace actorkv
