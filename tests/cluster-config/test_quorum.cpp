// The coordinator's quorum tallies: what a client gets back from a get at R answers or a put at W
// acknowledgements, the errors when a quorum is out of reach (with the texts people read), and
// which replicas read repair brings up to date.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <caf/sec.hpp>

#include "cluster-config/quorum.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"

using namespace actorkv;

namespace {

bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

/// A record as storage holds it after one client put of `value` coordinated by replica `id`.
record written(const std::string& value, replica_id id, int64_t now_us,
               conflict_mode mode = conflict_mode::siblings) {
  return dvv::update(record{}, {}, to_bytes(value), id, now_us, mode);
}

replica_read holding(record rec) {
  return replica_read{true, false, std::move(rec)};
}

replica_read missing() {
  return replica_read{};
}

replica_read damaged() {
  return replica_read{false, true, record{}};
}

/// The values a client sees, sorted.
std::vector<std::string> values(const get_reply& r) {
  std::vector<std::string> out;
  for (auto& v : r.values)
    out.emplace_back(v.begin(), v.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : " ") + x;
  return out;
}

std::string indices(const std::vector<size_t>& xs) {
  std::string out;
  for (auto x : xs)
    out += (out.empty() ? "" : " ") + std::to_string(x);
  return out;
}

/// The error a due reply holds, rendered as a client prints it ("" when it is no error).
template <class T>
std::string error_text(const std::optional<caf::expected<T>>& reply) {
  return reply && !*reply ? describe(reply->error()) : "";
}

/// The scope every reply's context is bound to here.
const auto scope = dvv::scope_of("test", bytes{'k'});

const auto disk_full = caf::make_error(ec::storage_failure, "disk full");
const auto timed_out = caf::make_error(caf::sec::request_timeout);

} // namespace

BOOST_AUTO_TEST_SUITE(quorum)

// --- get ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_get_replies_at_r_answers_with_every_concurrent_value_once) {
  auto a = written("a", 1, 10);
  auto b = written("b", 2, 20);
  auto both = dvv::merge(a, b, conflict_mode::siblings);
  read_tally t{3, 2, 3, conflict_mode::siblings, scope, 0};
  t.answered(0, "n1", holding(both));
  BOOST_TEST(!t.take_reply()); // one answer of R = 2
  t.answered(1, "n2", holding(a));
  auto reply = t.take_reply();
  BOOST_REQUIRE(reply);
  BOOST_REQUIRE(*reply);
  BOOST_TEST((*reply)->found);
  BOOST_TEST(join(values(**reply)) == "a b");
  auto context = dvv::decode_context((*reply)->context, scope);
  BOOST_REQUIRE(context);
  BOOST_TEST((*context == both.context)); // a put with it supersedes both values
  BOOST_TEST(!t.take_reply());            // exactly once
  BOOST_TEST(!t.complete());
  t.answered(2, "n3", missing());
  BOOST_TEST(!t.take_reply());
  BOOST_TEST(t.complete());
  BOOST_TEST((t.merged() == both));
  BOOST_TEST(indices(t.stale()) == "1 2"); // n2 lacks b, n3 lacks the key
}

BOOST_AUTO_TEST_CASE(the_reply_merges_only_the_answers_in_at_r) {
  auto a = written("a", 1, 10);
  auto b = written("b", 2, 20);
  read_tally t{3, 2, 3, conflict_mode::siblings, scope, 0};
  t.answered(2, "n3", holding(a));
  t.answered(0, "n1", holding(a));
  t.answered(1, "n2", holding(b)); // after the reply was due, before it was taken
  auto reply = t.take_reply();
  BOOST_REQUIRE((reply && *reply));
  BOOST_TEST(join(values(**reply)) == "a");
  BOOST_TEST(indices(t.stale()) == "2 0 1"); // in answer order; repair brings all three to a+b
}

BOOST_AUTO_TEST_CASE(a_key_no_replica_holds_is_not_found_and_needs_no_repair) {
  read_tally t{3, 2, 3, conflict_mode::siblings, scope, 0};
  t.answered(0, "n1", missing());
  t.answered(1, "n2", missing());
  auto reply = t.take_reply();
  BOOST_REQUIRE((reply && *reply));
  BOOST_TEST(!(*reply)->found);
  BOOST_TEST((*reply)->values.empty());
  t.answered(2, "n3", missing());
  BOOST_TEST(t.complete());
  BOOST_TEST(t.stale().empty());
}

BOOST_AUTO_TEST_CASE(a_deleted_key_reads_as_not_found_but_carries_the_delete) {
  auto a = written("a", 1, 10);
  auto deleted = dvv::update(a, a.context, std::nullopt, 1, 20, conflict_mode::siblings);
  read_tally t{3, 2, 3, conflict_mode::siblings, scope, 0};
  t.answered(0, "n1", holding(deleted));
  t.answered(1, "n2", holding(a));
  auto reply = t.take_reply();
  BOOST_REQUIRE((reply && *reply));
  BOOST_TEST(!(*reply)->found);
  auto context = dvv::decode_context((*reply)->context, scope);
  BOOST_REQUIRE(context);
  BOOST_TEST((*context == deleted.context));
  BOOST_TEST(indices(t.stale()) == "1"); // n2 still shows the value: it gets the tombstone
}

BOOST_AUTO_TEST_CASE(under_lww_the_newest_write_is_the_only_value) {
  auto older = written("old", 1, 10, conflict_mode::lww);
  auto newer = written("new", 2, 20, conflict_mode::lww);
  read_tally t{3, 2, 3, conflict_mode::lww, scope, 0};
  t.answered(0, "n1", holding(newer));
  t.answered(1, "n2", holding(older));
  auto reply = t.take_reply();
  BOOST_REQUIRE((reply && *reply));
  BOOST_TEST(join(values(**reply)) == "new");
}

BOOST_AUTO_TEST_CASE(too_many_failures_for_r_are_unavailable_once) {
  read_tally t{3, 2, 3, conflict_mode::siblings, scope, 0};
  t.answered(0, "n1", holding(written("a", 1, 10)));
  t.failed(1);
  BOOST_TEST(!t.take_reply()); // replica 2 may still answer
  t.failed(2);
  auto reply = t.take_reply();
  BOOST_REQUIRE(reply);
  BOOST_TEST(error_text(reply) == "unavailable: 1 of 3 replicas answered, 2 needed");
  BOOST_TEST(((*reply).error() == ec::unavailable));
  BOOST_TEST(!t.take_reply());
  BOOST_TEST(t.complete());
  BOOST_TEST(t.stale().empty()); // failed replicas are not repaired
  // Two of N = 3 asked (one home replica down): the first failure already decides.
  read_tally two{2, 2, 3, conflict_mode::siblings, scope, 0};
  two.failed(0);
  BOOST_TEST(error_text(two.take_reply()) == "unavailable: 0 of 3 replicas answered, 2 needed");
}

BOOST_AUTO_TEST_CASE(a_get_that_replicas_refused_as_overloaded_is_overloaded) {
  read_tally t{3, 2, 3, conflict_mode::siblings, scope, 0};
  t.failed(0, caf::make_error(ec::timeout, "slow"));
  BOOST_TEST(!t.take_reply());
  t.failed(2, caf::make_error(ec::overloaded, "no room"));
  auto reply = t.take_reply();
  BOOST_REQUIRE(reply);
  BOOST_TEST(((*reply).error() == ec::overloaded));
  BOOST_TEST(error_text(reply) ==
             "overloaded: 0 of 3 replicas answered, 2 needed (overloaded: no room)");
  // An overloaded replica does not matter while R is reached without it.
  read_tally fine{3, 2, 3, conflict_mode::siblings, scope, 0};
  fine.failed(1, caf::make_error(ec::overloaded, "no room"));
  fine.answered(0, "n1", holding(written("a", 1, 10)));
  fine.answered(2, "n3", holding(written("a", 1, 10)));
  auto ok = fine.take_reply();
  BOOST_REQUIRE((ok && *ok));
  BOOST_TEST(join(values(**ok)) == "a");
}

BOOST_AUTO_TEST_CASE(a_failure_that_leaves_r_in_reach_waits_for_the_others) {
  read_tally t{3, 2, 3, conflict_mode::siblings, scope, 0};
  t.failed(0);
  t.answered(1, "n2", holding(written("a", 1, 10)));
  BOOST_TEST(!t.take_reply());
  t.answered(1, "n2", holding(written("a", 1, 10))); // the same replica twice counts once
  BOOST_TEST(!t.take_reply());
  t.answered(2, "n3", missing());
  auto reply = t.take_reply();
  BOOST_REQUIRE((reply && *reply));
  BOOST_TEST(join(values(**reply)) == "a");
}

BOOST_AUTO_TEST_CASE(only_damaged_copies_answering_is_an_error_naming_them) {
  read_tally t{3, 2, 3, conflict_mode::siblings, scope, 0};
  t.answered(0, "n1", damaged());
  t.answered(2, "n3", damaged());
  BOOST_TEST(error_text(t.take_reply()) ==
             "corrupt_record: the stored record failed its checksum on n1, n3 and no intact "
             "replica answered");
  // A damaged copy and a replica without the key: the key exists, so not "not found" either.
  read_tally mixed{3, 2, 3, conflict_mode::siblings, scope, 0};
  mixed.answered(0, "n2", missing());
  mixed.answered(1, "n1", damaged());
  BOOST_TEST(error_text(mixed.take_reply()) ==
             "corrupt_record: the stored record failed its checksum on n1 and no intact "
             "replica answered");
  mixed.failed(2);
  BOOST_TEST(mixed.stale().empty()); // no intact copy to repair with
}

BOOST_AUTO_TEST_CASE(an_intact_copy_is_returned_and_the_damaged_one_repaired) {
  auto a = written("a", 1, 10);
  read_tally t{3, 2, 3, conflict_mode::siblings, scope, 0};
  t.answered(0, "n1", damaged());
  t.answered(1, "n2", holding(a));
  auto reply = t.take_reply();
  BOOST_REQUIRE((reply && *reply));
  BOOST_TEST(join(values(**reply)) == "a");
  t.failed(2);
  BOOST_TEST(t.complete());
  BOOST_TEST(indices(t.stale()) == "0");
  BOOST_TEST((t.merged() == a));
}

// --- put / delete ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_write_replies_at_w_acks_once) {
  write_tally t{3, 2, 3};
  t.coordinating(0);
  BOOST_TEST(!t.take_reply());
  t.coordinated();
  BOOST_TEST(!t.take_reply()); // one ack of W = 2
  t.acked();
  auto reply = t.take_reply();
  BOOST_REQUIRE((reply && *reply));
  BOOST_TEST((*reply)->acks == 2u);
  t.acked(); // the third replica, after the reply
  BOOST_TEST(!t.take_reply());
  // W = 1: the coordinating replica's own copy is enough.
  write_tally one{3, 1, 3};
  one.coordinating(0);
  one.coordinated();
  auto first = one.take_reply();
  BOOST_REQUIRE((first && *first));
  BOOST_TEST((*first)->acks == 1u);
}

BOOST_AUTO_TEST_CASE(a_failing_coordinator_hands_the_write_to_the_next_replica) {
  write_tally t{3, 2, 3};
  t.coordinating(0);
  auto next = t.coordinator_failed(disk_full);
  BOOST_REQUIRE(next);
  BOOST_TEST(*next == 1u);
  BOOST_TEST(t.coordinator() == 1u);
  BOOST_TEST(!t.take_reply());
  t.coordinated(); // replica 2 is the only one left to ack
  BOOST_TEST(!t.take_reply());
  t.acked();
  auto reply = t.take_reply();
  BOOST_REQUIRE((reply && *reply));
  BOOST_TEST((*reply)->acks == 2u);
}

BOOST_AUTO_TEST_CASE(the_last_coordinator_is_still_asked_when_w_is_out_of_reach) {
  write_tally t{3, 2, 3};
  t.coordinating(0);
  BOOST_TEST(t.coordinator_failed(caf::make_error(ec::bad_request, "x")).value_or(9) == 1u);
  BOOST_TEST(t.coordinator_failed(disk_full).value_or(9) == 2u);
  BOOST_TEST(!t.take_reply()); // replica 2 may still store it
  t.coordinated();
  BOOST_TEST(error_text(t.take_reply()) ==
             "maybe_applied: 1 of 3 replicas stored it, 2 needed (last failure: storage_failure: "
             "disk full)");
}

BOOST_AUTO_TEST_CASE(every_coordinator_failing_is_unavailable) {
  write_tally t{3, 2, 3};
  t.coordinating(0);
  t.coordinator_failed(caf::make_error(ec::bad_request, "x"));
  t.coordinator_failed(caf::make_error(ec::storage_failure, "disk full"));
  BOOST_TEST(!t.take_reply());
  BOOST_TEST(!t.coordinator_failed(disk_full)); // nobody left
  BOOST_TEST(error_text(t.take_reply()) ==
             "unavailable: 0 of 3 replicas stored it, 2 needed (last failure: storage_failure: "
             "disk full)");
  BOOST_TEST(!t.take_reply());
}

BOOST_AUTO_TEST_CASE(a_coordinator_refusing_the_context_is_the_reply_and_asks_no_other) {
  write_tally t{3, 2, 3};
  t.coordinating(0);
  BOOST_TEST(!t.coordinator_failed(caf::make_error(ec::bad_context, "the context names write 9")));
  BOOST_TEST(error_text(t.take_reply()) == "bad_context: the context names write 9");
  BOOST_TEST(t.coordinator() == 0u); // nobody else coordinates it
  t.acked();                         // nothing asked can answer; nothing changes if it did
  BOOST_TEST(!t.take_reply());
}

BOOST_AUTO_TEST_CASE(a_write_a_replica_may_have_stored_is_maybe_applied) {
  // Stored by the coordinator, then the others time out or go away: W = 3 is out of reach.
  write_tally t{3, 3, 3};
  t.coordinating(0);
  t.coordinated();
  t.failed(timed_out);
  BOOST_TEST(error_text(t.take_reply()) ==
             "maybe_applied: 1 of 3 replicas stored it, 3 needed (last failure: timeout: no "
             "answer in time)");
  t.acked(); // a late ack changes nothing
  BOOST_TEST(!t.take_reply());
  // No ack at all, but a coordinator that timed out may have stored it.
  write_tally unsure{2, 2, 3};
  unsure.coordinating(0);
  unsure.coordinator_failed(timed_out);
  unsure.coordinator_failed(disk_full);
  auto reply = unsure.take_reply();
  BOOST_REQUIRE(reply);
  BOOST_TEST(((*reply).error() == ec::maybe_applied));
  BOOST_TEST(may_have_applied(caf::make_error(caf::sec::request_receiver_down)));
  BOOST_TEST(!may_have_applied(disk_full));
}

BOOST_AUTO_TEST_CASE(a_refused_write_ends_at_its_coordinator_with_the_refusal) {
  // The next replica is not asked: it would refuse too, or accept only because its copy is behind.
  auto refused = caf::make_error(ec::too_many_siblings, "the key has 5 siblings");
  write_tally t{3, 2, 3};
  t.coordinating(0);
  BOOST_TEST(!t.coordinator_failed(refused));
  BOOST_TEST(error_text(t.take_reply()) == "too_many_siblings: the key has 5 siblings");
  BOOST_TEST(!t.take_reply());
  write_tally big{3, 2, 3};
  big.coordinating(0);
  BOOST_TEST(!big.coordinator_failed(caf::make_error(ec::record_too_large, "9 bytes")));
  BOOST_TEST(error_text(big.take_reply()) == "record_too_large: 9 bytes");
  // A coordinator before it timed out: that one may have stored the write, so the refusal of
  // the next one must not claim that nothing was stored.
  write_tally unsure{3, 2, 3};
  unsure.coordinating(0);
  BOOST_TEST(unsure.coordinator_failed(timed_out).value_or(9) == 1u);
  BOOST_TEST(!unsure.coordinator_failed(refused));
  BOOST_TEST(error_text(unsure.take_reply()) ==
             "maybe_applied: 0 of 3 replicas stored it, 2 needed (last failure: "
             "too_many_siblings: the key has 5 siblings)");
  BOOST_TEST(is_refusal(refused));
  BOOST_TEST(is_refusal(caf::make_error(ec::bad_context, "x")));
  BOOST_TEST(!is_refusal(disk_full));
  BOOST_TEST(!is_refusal(timed_out));
}

BOOST_AUTO_TEST_CASE(a_failure_that_leaves_w_in_reach_waits_for_the_others) {
  write_tally t{3, 2, 3};
  t.coordinating(0);
  t.coordinated();
  t.failed(disk_full);
  BOOST_TEST(!t.take_reply()); // replica 2 can still make it 2 of W = 2
  t.acked();
  auto reply = t.take_reply();
  BOOST_REQUIRE((reply && *reply));
  BOOST_TEST((*reply)->acks == 2u);
}

// --- shared ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(too_few_replicas_says_how_many_and_how_many_are_needed) {
  auto err = too_few_replicas(1, 3, 2);
  BOOST_TEST((err == ec::unavailable));
  BOOST_TEST(describe(err) == "unavailable: 1 of 3 replicas reachable, 2 needed");
}

BOOST_AUTO_TEST_CASE(a_client_sees_identical_values_once) {
  auto both = dvv::merge(written("same", 1, 10), written("same", 2, 20), conflict_mode::siblings);
  BOOST_REQUIRE(both.siblings.size() == 2u);
  auto reply = to_reply(both, scope, 0);
  BOOST_TEST(reply.found);
  BOOST_TEST(join(values(reply)) == "same");
  BOOST_TEST(!to_reply(record{}, scope, 0).found);
}

BOOST_AUTO_TEST_CASE(an_expired_value_reads_as_not_found_from_its_expiry_on) {
  // A put with a TTL at 10 expiring at 1000, concurrent with a plain put: the plain value stays.
  auto ttl = dvv::update(record{}, {}, to_bytes("short"), 1, 10, conflict_mode::siblings, 1000);
  auto plain = written("long", 2, 20);
  auto both = dvv::merge(ttl, plain, conflict_mode::siblings);
  BOOST_TEST(join(values(to_reply(ttl, scope, 999))) == "short");
  BOOST_TEST(!to_reply(ttl, scope, 1000).found);
  BOOST_TEST(join(values(to_reply(both, scope, 999))) == "long short");
  BOOST_TEST(join(values(to_reply(both, scope, 1000))) == "long");
  // The context still comes back: a put with it supersedes the expired write.
  auto context = dvv::decode_context(to_reply(ttl, scope, 5000).context, scope);
  BOOST_REQUIRE(context);
  BOOST_TEST((*context == ttl.context));
  // The tally judges at the moment it was given, whatever replicas answer.
  read_tally before{3, 2, 3, conflict_mode::siblings, scope, 999};
  read_tally after{3, 2, 3, conflict_mode::siblings, scope, 1000};
  for (auto* t : {&before, &after}) {
    t->answered(0, "n1", holding(ttl));
    t->answered(1, "n2", holding(ttl));
  }
  auto found = before.take_reply();
  auto gone = after.take_reply();
  BOOST_REQUIRE((found && *found && gone && *gone));
  BOOST_TEST((*found)->found);
  BOOST_TEST(!(*gone)->found);
}

BOOST_AUTO_TEST_CASE(replicas_out_of_memory_budget_make_overloaded_or_maybe_applied) {
  auto overloaded = caf::make_error(ec::overloaded, "no room");
  // Every replica asked to coordinate refused for want of memory: nothing stored anywhere, and
  // each next replica was asked in turn (overloaded is no refusal of the write as such).
  write_tally none{3, 2, 3};
  none.coordinating(0);
  BOOST_TEST(!is_refusal(overloaded));
  BOOST_TEST(none.coordinator_failed(overloaded).value_or(9) == 1u);
  BOOST_TEST(none.coordinator_failed(overloaded).value_or(9) == 2u);
  BOOST_TEST(!none.coordinator_failed(overloaded));
  BOOST_TEST(error_text(none.take_reply()) ==
             "overloaded: 0 of 3 replicas stored it, 2 needed (last failure: overloaded: no "
             "room)");
  // Stored by the coordinating replica, refused by the others: some replica holds it.
  write_tally some{3, 2, 3};
  some.coordinating(0);
  some.coordinated();
  some.failed(overloaded);
  BOOST_TEST(!some.take_reply()); // the third may still make W
  some.failed(overloaded);
  BOOST_TEST(error_text(some.take_reply()) ==
             "maybe_applied: 1 of 3 replicas stored it, 2 needed (last failure: overloaded: no "
             "room)");
  // Overloaded and another definite failure: unavailable, naming the last.
  write_tally mixed{2, 2, 3};
  mixed.coordinating(0);
  mixed.coordinator_failed(overloaded);
  mixed.coordinator_failed(disk_full);
  BOOST_TEST(error_text(mixed.take_reply()) ==
             "unavailable: 0 of 3 replicas stored it, 2 needed (last failure: storage_failure: "
             "disk full)");
  // One that may have stored it before the overloaded ones: maybe_applied, never overloaded.
  write_tally unsure{2, 2, 3};
  unsure.coordinating(0);
  unsure.coordinator_failed(timed_out);
  unsure.coordinator_failed(overloaded);
  auto reply = unsure.take_reply();
  BOOST_REQUIRE(reply);
  BOOST_TEST(((*reply).error() == ec::maybe_applied));
}

BOOST_AUTO_TEST_CASE(a_write_is_unavailable_only_when_no_replica_can_have_stored_it) {
  // Clients send an unavailable write to another node (actors/client/retry_policy.hpp), so the
  // code must guarantee that nothing was stored. Every way a write can go, for N = 3 and each W:
  // the replicas asked to coordinate in turn each store it, say they did not (disk full, hint
  // backlog full) or leave it open (timeout, gone); after one stored it the rest ack, fail or
  // time out.
  const std::vector<caf::error> not_stored{disk_full,
                                           caf::make_error(ec::unavailable, "hint backlog full")};
  const std::vector<caf::error> unknown{timed_out,
                                        caf::make_error(caf::sec::request_receiver_down)};
  size_t cases = 0, unavailable = 0;
  for (uint32_t w = 1; w <= 3; ++w) {
    // Each coordinating attempt: 0 stored, 1..2 not stored, 3..4 unknown. Each replica after the
    // coordinator: 0 ack, 1 disk full, 2 timeout.
    for (int attempts = 0; attempts < 5 * 5 * 5; ++attempts) {
      for (int rest = 0; rest < 3 * 3; ++rest) {
        write_tally t{3, w, 3};
        t.coordinating(0);
        bool may_be_stored = false;
        int a = attempts;
        for (size_t i = 0; i < 3; ++i, a /= 5) {
          int outcome = a % 5;
          if (outcome == 0) {
            may_be_stored = true;
            t.coordinated();
            int r = rest;
            for (size_t j = i + 1; j < 3; ++j, r /= 3) {
              if (r % 3 == 0)
                t.acked();
              else
                t.failed(r % 3 == 1 ? disk_full : timed_out);
            }
            break;
          }
          if (outcome >= 3)
            may_be_stored = true;
          auto err = outcome <= 2 ? not_stored[outcome - 1] : unknown[outcome - 3];
          if (!t.coordinator_failed(err))
            break;
        }
        auto reply = t.take_reply();
        BOOST_REQUIRE(reply);
        ++cases;
        if (!*reply && (*reply).error() == ec::unavailable) {
          ++unavailable;
          BOOST_TEST(!may_be_stored, "W=" << w << " attempts=" << attempts << " rest=" << rest
                                          << ": " << error_text(reply));
        }
        if (*reply)
          BOOST_TEST((*reply)->acks >= w);
      }
    }
  }
  BOOST_TEST(unavailable > 0u); // the check above saw such writes
  BOOST_TEST_MESSAGE(cases << " outcomes, " << unavailable << " unavailable");
}

BOOST_AUTO_TEST_SUITE_END()
