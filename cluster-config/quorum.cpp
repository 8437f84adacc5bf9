#include "cluster-config/quorum.hpp"

#include <algorithm>

#include <caf/sec.hpp>

#include "messages/dvv.hpp"
#include "messages/error.hpp"

namespace actorkv {

// --- get ---------------------------------------------------------------------------------------

read_tally::read_tally(uint32_t asked, uint32_t read_quorum, uint32_t replicas_total,
                       conflict_mode conflicts, dvv::context_scope scope, int64_t now_us)
    : asked_(asked), read_quorum_(read_quorum), replicas_total_(replicas_total),
      conflicts_(conflicts), scope_(scope), now_us_(now_us), settled_(asked, false) {}

void read_tally::answered(size_t index, const std::string& node, replica_read answer) {
  if (index >= settled_.size() || settled_[index])
    return;
  settled_[index] = true;
  ++answered_;
  if (answer.corrupt)
    corrupt_at_.push_back(node);
  if (answer.found) {
    merged_ = any_found_ ? dvv::merge(merged_, answer.rec, conflicts_) : answer.rec;
    any_found_ = true;
  }
  answers_.emplace_back(index, std::move(answer));
  decide();
}

void read_tally::failed(size_t index, const caf::error& err) {
  if (index >= settled_.size() || settled_[index])
    return;
  settled_[index] = true;
  ++failed_;
  if (err == ec::overloaded && !overloaded_)
    overloaded_ = err;
  decide();
}

void read_tally::decide() {
  if (decided_)
    return;
  if (answered_ >= read_quorum_) {
    decided_ = true;
    if (any_found_) {
      reply_ = to_reply(merged_, scope_, now_us_);
    } else if (!corrupt_at_.empty()) {
      // Not "not found": the key exists but no intact copy answered. Never return the bytes.
      std::string where;
      for (auto& n : corrupt_at_)
        where += (where.empty() ? "" : ", ") + n;
      reply_ = caf::make_error(ec::corrupt_record, "the stored record failed its checksum on " +
                                                       where + " and no intact replica answered");
    } else {
      reply_ = get_reply{};
    }
    return;
  }
  // R out of reach: fewer replicas left than still needed (failed > asked - R).
  if (failed_ + read_quorum_ > asked_) {
    decided_ = true;
    auto figures = std::to_string(answered_) + " of " + std::to_string(replicas_total_) +
                   " replicas answered, " + std::to_string(read_quorum_) + " needed";
    // Load, not a failure: the client retries shortly, or elsewhere (retry_policy.hpp).
    if (overloaded_)
      reply_ = caf::make_error(ec::overloaded, figures + " (" + describe(overloaded_) + ")");
    else
      reply_ = caf::make_error(ec::unavailable, figures);
  }
}

std::optional<caf::expected<get_reply>> read_tally::take_reply() {
  return std::exchange(reply_, std::nullopt);
}

bool read_tally::complete() const {
  return answered_ + failed_ == asked_;
}

std::vector<size_t> read_tally::stale() const {
  std::vector<size_t> out;
  if (!any_found_)
    return out;
  for (auto& [index, answer] : answers_)
    if (!answer.found || answer.rec != merged_)
      out.push_back(index);
  return out;
}

// --- put / delete ------------------------------------------------------------------------------

write_tally::write_tally(uint32_t targets, uint32_t write_quorum, uint32_t replicas_total)
    : targets_(targets), write_quorum_(write_quorum), replicas_total_(replicas_total) {}

void write_tally::coordinating(size_t index) {
  coordinator_ = index;
  coordinating_ = true;
  outstanding_ = index < targets_ ? static_cast<uint32_t>(targets_ - index) : 0;
}

void write_tally::coordinated() {
  coordinating_ = false;
  ++acks_;
  // The replicas after the coordinating one are asked at once.
  auto next = coordinator_ + 1;
  outstanding_ = next < targets_ ? static_cast<uint32_t>(targets_ - next) : 0;
  decide();
}

void write_tally::note_failure(const caf::error& err) {
  uncertain_ = uncertain_ || may_have_applied(err);
  ++failures_;
  if (err == ec::overloaded)
    ++overloaded_;
}

std::optional<size_t> write_tally::coordinator_failed(caf::error err) {
  note_failure(err);
  if (is_refusal(err))
    refusal_ = err;
  last_error_ = std::move(err);
  if (!refusal_ && coordinator_ + 1 < targets_) {
    // The next one may coordinate (each dot is new, so a retry of a write that did land here at
    // most shows the value twice, never loses one). The outcome waits for its answer: deciding
    // now could call "unavailable" a write the next coordinator then stores.
    coordinating(coordinator_ + 1);
    return coordinator_;
  }
  coordinating_ = false;
  outstanding_ = 0;
  decide();
  return std::nullopt;
}

void write_tally::acked() {
  settle_one();
  ++acks_;
  decide();
}

void write_tally::failed(caf::error err) {
  settle_one();
  note_failure(err);
  last_error_ = std::move(err);
  decide();
}

void write_tally::settle_one() {
  if (outstanding_ > 0)
    --outstanding_;
}

void write_tally::decide() {
  // While a coordinating replica's answer is awaited nothing is known yet (no ack can be in).
  if (decided_ || coordinating_)
    return;
  if (acks_ >= write_quorum_) {
    decided_ = true;
    reply_ = write_reply{acks_};
    return;
  }
  if (acks_ + outstanding_ < write_quorum_) {
    decided_ = true;
    auto detail = std::to_string(acks_) + " of " + std::to_string(replicas_total_) +
                  " replicas stored it, " + std::to_string(write_quorum_) + " needed";
    if (last_error_)
      detail += " (last failure: " + describe(last_error_) + ")";
    // Only a write that no replica can have stored is a definite failure; a refusal says why.
    if (acks_ > 0 || uncertain_)
      reply_ = caf::make_error(ec::maybe_applied, std::move(detail));
    else if (refusal_)
      reply_ = refusal_;
    else if (failures_ > 0 && overloaded_ == failures_)
      // Every replica that failed it was out of memory budget, and none stored it.
      reply_ = caf::make_error(ec::overloaded, std::move(detail));
    else
      reply_ = caf::make_error(ec::unavailable, std::move(detail));
  }
}

std::optional<caf::expected<write_reply>> write_tally::take_reply() {
  return std::exchange(reply_, std::nullopt);
}

// --- shared ------------------------------------------------------------------------------------

bool may_have_applied(const caf::error& err) {
  return err == caf::sec::request_timeout || err == caf::sec::request_receiver_down;
}

bool is_refusal(const caf::error& err) {
  return err == ec::bad_context || err == ec::too_many_siblings || err == ec::record_too_large;
}

caf::error too_few_replicas(size_t reachable, uint32_t replicas_total, uint32_t needed) {
  return caf::make_error(ec::unavailable,
                         std::to_string(reachable) + " of " + std::to_string(replicas_total) +
                             " replicas reachable, " + std::to_string(needed) + " needed");
}

get_reply to_reply(const record& rec, const dvv::context_scope& scope, int64_t now_us) {
  get_reply out;
  for (auto* s : dvv::visible(rec, now_us))
    if (std::find(out.values.begin(), out.values.end(), s->value) == out.values.end())
      out.values.push_back(s->value);
  out.found = !out.values.empty();
  out.context = dvv::encode_context(rec.context, scope);
  return out;
}

} // namespace actorkv
