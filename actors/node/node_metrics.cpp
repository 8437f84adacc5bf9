#include "actors/node/node_metrics.hpp"

#include <caf/sec.hpp>

#include "messages/error.hpp"

namespace actorkv {

namespace {

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

} // namespace

std::string outcome_of(const caf::error& err) {
  if (!err)
    return "ok";
  if (err.category() == caf::atom("actorkv"))
    return to_string(static_cast<ec>(err.code()));
  if (err.category() == caf::atom("system")) {
    auto code = static_cast<caf::sec>(err.code());
    if (code == caf::sec::request_timeout)
      return "timeout";
    if (code == caf::sec::request_receiver_down)
      return "receiver_down";
  }
  return "other";
}

request_metrics::request_metrics(std::shared_ptr<metrics_registry> registry)
    : registry_(std::move(registry)) {
  if (!registry_)
    return;
  siblings_ = &registry_->histogram("actorkv_read_siblings",
                                    "Siblings returned per read that found its key.",
                                    size_buckets());
  repairs_ = &registry_->counter("actorkv_read_repairs_total",
                                 "Stale replicas a get's round sent its reconciled record to.");
  in_flight_ = &registry_->gauge("actorkv_coordinator_requests_in_flight",
                                 "Client requests this node's coordinator has taken and not yet "
                                 "answered.");
}

void request_metrics::started() {
  if (in_flight_)
    in_flight_->add(1);
}

void request_metrics::repaired(size_t replicas) {
  if (repairs_ && replicas != 0)
    repairs_->add(replicas);
}

void request_metrics::count(const char* op, const client_answer& a, std::chrono::nanoseconds took) {
  if (!registry_)
    return;
  in_flight_->add(-1);
  auto outcome = outcome_of(a.err);
  if (!a.err && op == std::string{"get"}) {
    if (a.get.found)
      siblings_->observe(static_cast<double>(a.get.values.size()));
    else
      outcome = "not_found";
  }
  auto& requests = requests_[std::string{op} + "/" + outcome];
  if (!requests)
    requests = &registry_->counter("actorkv_requests_total",
                                   "Client requests this node coordinated, by operation and "
                                   "outcome (ok, not_found or the error code).",
                                   {{"op", op}, {"outcome", outcome}});
  requests->add();
  auto& duration = durations_[op];
  if (!duration)
    duration = &registry_->histogram("actorkv_request_duration_seconds",
                                     "Time from a client request's arrival at the coordinator "
                                     "to its answer, by operation.",
                                     latency_buckets(), {{"op", op}});
  duration->observe(seconds(took));
  if (a.err) {
    auto& errors = errors_[outcome];
    if (!errors)
      errors =
          &registry_->counter("actorkv_errors_total", "Client requests that failed, by error code.",
                              {{"code", outcome}});
    errors->add();
  }
}

storage_metrics::storage_metrics(std::shared_ptr<metrics_registry> registry)
    : registry_(std::move(registry)) {
  if (!registry_)
    return;
  writes_ = &registry_->histogram("actorkv_storage_batch_writes",
                                  "Writes per committed storage transaction (group commit).",
                                  size_buckets());
  duration_ = &registry_->histogram("actorkv_storage_commit_duration_seconds",
                                    "Time a storage transaction's COMMIT took.", latency_buckets());
  failures_ = &registry_->counter("actorkv_storage_commit_failures_total",
                                  "Storage transactions whose COMMIT failed (rolled back).");
  pending_ = &registry_->gauge("actorkv_storage_pending_answers",
                               "Requests the storage actor answers once its open batch commits.");
}

void storage_metrics::pending(size_t n) {
  if (pending_)
    pending_->set(static_cast<int64_t>(n));
}

void storage_metrics::commit(size_t writes, std::chrono::nanoseconds took, bool failed) {
  if (!registry_)
    return;
  if (failed)
    failures_->add();
  if (writes == 0)
    return; // a batch that only held reads back
  writes_->observe(static_cast<double>(writes));
  duration_->observe(seconds(took));
}

} // namespace actorkv
