// The client's retry decisions (actors/client/retry_policy.hpp): which failed calls may go to
// another node, where to, and when a node counts as silent. Pure functions: no actors.
#include <boost/test/unit_test.hpp>

#include <caf/sec.hpp>

#include "actors/client/retry_policy.hpp"
#include "messages/error.hpp"

using namespace actorkv;
using namespace std::chrono_literals;

namespace {

const auto get = client_call_kind::get;
const auto put = client_call_kind::put;
const auto del = client_call_kind::del;

} // namespace

BOOST_AUTO_TEST_SUITE(retry_policy)

BOOST_AUTO_TEST_CASE(an_unavailable_answer_sends_any_call_elsewhere) {
  auto unavailable = caf::make_error(ec::unavailable, "1 of 3 replicas reachable, 2 needed");
  for (auto kind : {get, put, del})
    BOOST_TEST(may_retry_elsewhere(kind, attempt_end::answered, unavailable));
}

BOOST_AUTO_TEST_CASE(an_overloaded_answer_sends_any_call_elsewhere) {
  // The memory budget refuses before any replica is sent the write: nothing was stored.
  auto overloaded = caf::make_error(ec::overloaded, "no room in the memory budget");
  for (auto kind : {get, put, del})
    BOOST_TEST(may_retry_elsewhere(kind, attempt_end::answered, overloaded));
}

BOOST_AUTO_TEST_CASE(answers_that_may_have_stored_or_that_another_node_would_repeat_are_final) {
  for (auto code : {ec::maybe_applied, ec::timeout, ec::bad_context, ec::too_many_siblings,
                    ec::record_too_large, ec::value_too_large, ec::key_too_large, ec::empty_key,
                    ec::corrupt_record, ec::forbidden, ec::bad_request, ec::storage_failure})
    for (auto kind : {get, put, del})
      BOOST_TEST(!may_retry_elsewhere(kind, attempt_end::answered, caf::make_error(code, "x")),
                 to_string(code));
  BOOST_TEST(!nothing_stored_elsewhere_may_serve(caf::make_error(caf::sec::request_timeout)));
  BOOST_TEST(!nothing_stored_elsewhere_may_serve(caf::error{}));
}

BOOST_AUTO_TEST_CASE(a_call_lost_with_its_node_goes_elsewhere_only_when_it_is_a_get) {
  for (auto how : {attempt_end::node_gone, attempt_end::silent}) {
    BOOST_TEST(may_retry_elsewhere(get, how));
    BOOST_TEST(!may_retry_elsewhere(put, how)); // may be stored there: never sent twice
    BOOST_TEST(!may_retry_elsewhere(del, how));
  }
}

BOOST_AUTO_TEST_CASE(each_endpoint_is_tried_once_in_list_order_after_the_last) {
  endpoint_attempts a;
  auto any = [](size_t) { return true; };
  a.tried(1);
  BOOST_TEST(a.next(4, 1, any).value_or(99) == 2u);
  a.tried(2);
  BOOST_TEST(a.next(4, 2, any).value_or(99) == 3u);
  a.tried(3);
  BOOST_TEST(a.next(4, 3, any).value_or(99) == 0u); // wraps around
  a.tried(0);
  BOOST_TEST(!a.next(4, 0, any));
  BOOST_TEST(a.count() == 4u);
  a.tried(2); // counted once
  BOOST_TEST(a.count() == 4u);
  // The list grew (endpoints learnt from the cluster): the new one is next.
  BOOST_TEST(a.next(5, 0, any).value_or(99) == 4u);
  // Endpoints the client knows unusable (silent nodes) are skipped.
  endpoint_attempts b;
  b.tried(0);
  BOOST_TEST(b.next(3, 0, [](size_t i) { return i != 1; }).value_or(99) == 2u);
  BOOST_TEST(!b.next(1, 0, any)); // one endpoint: nowhere else to go
}

BOOST_AUTO_TEST_CASE(a_node_is_silent_when_nothing_came_since_the_oldest_call_or_since_heard) {
  // Heard from 3 s ago, but the oldest call went out 1 s ago: not yet.
  BOOST_TEST(!gone_silent(3s, 1s, 2000ms));
  // Calls out for 3 s, the last word 1 s ago (a probe's reply): alive.
  BOOST_TEST(!gone_silent(1s, 3s, 2000ms));
  BOOST_TEST(gone_silent(2s, 2s, 2000ms));
  BOOST_TEST(gone_silent(10s, 2500ms, 2000ms));
}

BOOST_AUTO_TEST_CASE(a_run_of_unavailable_answers_moves_the_client) {
  unavailable_streak s;
  for (uint32_t i = 1; i < move_after_unavailable; ++i) {
    s.answered(true);
    BOOST_TEST(!s.move_to_the_other());
  }
  s.answered(false); // a served call breaks the run
  for (uint32_t i = 1; i < move_after_unavailable; ++i)
    s.answered(true);
  BOOST_TEST(!s.move_to_the_other());
  s.answered(true);
  BOOST_TEST(s.move_to_the_other());
  s.reset();
  BOOST_TEST(!s.move_to_the_other());
}

BOOST_AUTO_TEST_SUITE_END()
