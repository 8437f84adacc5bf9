// The HTTP server without TLS: requests, answers, errors and every bound on a connection.
#include "tests/actors/http/http_fixture.hpp"

using namespace actorkv;
using namespace actorkv::http_test;
namespace utf = boost::unit_test;

BOOST_FIXTURE_TEST_SUITE(http_server_plain, server_fixture)

BOOST_AUTO_TEST_CASE(put_then_get_round_trips_with_a_context, *utf::timeout(20)) {
  start();
  connection c{port()};
  auto put = c.send(http::verb::put, "/v1/kv/user%3A1", bearer(writer_token), "alice");
  BOOST_CHECK_EQUAL(put.status, 200u);
  BOOST_CHECK_EQUAL(put.body, "{\"replicas\":2,\"sibling_count\":1}\n");
  BOOST_CHECK_EQUAL(put.header("content-type"), "application/json");
  BOOST_CHECK(put.keep_alive);
  auto get = c.send(http::verb::get, "/v1/kv/user:1", bearer(reader_token));
  BOOST_CHECK_EQUAL(get.status, 200u);
  BOOST_CHECK_EQUAL(get.body, "alice");
  BOOST_CHECK_EQUAL(get.header("content-type"), "application/octet-stream");
  BOOST_CHECK_EQUAL(get.header("x-context"), to_hex(context_of(1)));
  // An empty value is a value.
  BOOST_CHECK_EQUAL(c.send(http::verb::put, "/v1/kv/empty", bearer(writer_token)).status, 200u);
  auto empty = c.send(http::verb::get, "/v1/kv/empty", bearer(writer_token));
  BOOST_CHECK_EQUAL(empty.status, 200u);
  BOOST_CHECK(empty.body.empty());
}

BOOST_AUTO_TEST_CASE(siblings_come_as_multipart_and_a_context_resolves_them, *utf::timeout(20)) {
  start();
  connection c{port()};
  BOOST_CHECK_EQUAL(c.send(http::verb::put, "/v1/kv/cart", bearer(writer_token), "apple").status,
                    200u);
  // No context: concurrent with what is stored, so a sibling.
  BOOST_CHECK_EQUAL(c.send(http::verb::put, "/v1/kv/cart", bearer(writer_token), "pear").status,
                    200u);
  auto get = c.send(http::verb::get, "/v1/kv/cart", bearer(reader_token));
  BOOST_CHECK_EQUAL(get.status, 300u);
  BOOST_CHECK(get.header("content-type").rfind("multipart/mixed; boundary=", 0) == 0);
  BOOST_CHECK(multipart_parts(get.header("content-type"), get.body) ==
              (std::vector<std::string>{"apple", "pear"}));
  auto context = get.header("x-context");
  BOOST_CHECK(!context.empty());
  auto json = c.send(http::verb::get, "/v1/kv/cart?format=json", bearer(reader_token));
  BOOST_CHECK_EQUAL(json.status, 200u);
  BOOST_CHECK_EQUAL(json.body,
                    "{\"context\":\"" + context + "\",\"siblings\":[\"YXBwbGU=\",\"cGVhcg==\"]}\n");
  // The context of the get replaces exactly what it returned.
  auto put = c.send(http::verb::put, "/v1/kv/cart", bearer(writer_token, {{"X-Context", context}}),
                    "apple,pear");
  BOOST_CHECK_EQUAL(put.status, 200u);
  get = c.send(http::verb::get, "/v1/kv/cart", bearer(reader_token));
  BOOST_CHECK_EQUAL(get.status, 200u);
  BOOST_CHECK_EQUAL(get.body, "apple,pear");
}

BOOST_AUTO_TEST_CASE(deleted_and_absent_keys_are_404_with_any_context, *utf::timeout(20)) {
  start();
  connection c{port()};
  c.send(http::verb::put, "/v1/kv/gone", bearer(writer_token), "x");
  auto context = c.send(http::verb::get, "/v1/kv/gone", bearer(writer_token)).header("x-context");
  auto del =
      c.send(http::verb::delete_, "/v1/kv/gone", bearer(writer_token, {{"X-Context", context}}));
  BOOST_CHECK_EQUAL(del.status, 200u);
  BOOST_CHECK_EQUAL(del.body, "{\"replicas\":2,\"sibling_count\":0}\n");
  auto get = c.send(http::verb::get, "/v1/kv/gone", bearer(reader_token));
  BOOST_CHECK_EQUAL(get.status, 404u);
  BOOST_CHECK_EQUAL(get.header("content-type"), "application/json");
  BOOST_CHECK(get.body.find("\"error\":\"not_found\"") != std::string::npos);
  BOOST_CHECK(!get.header("x-context").empty()); // the tombstone's
  auto absent = c.send(http::verb::get, "/v1/kv/never-written?format=json", bearer(reader_token));
  BOOST_CHECK_EQUAL(absent.status, 404u);
  BOOST_CHECK(absent.header("x-context").empty());
}

BOOST_AUTO_TEST_CASE(binary_keys_travel_percent_encoded, *utf::timeout(20)) {
  start();
  connection c{port()};
  bytes key{0x00, 0xff, '/', '%', ' ', '?', '+', 0x7f};
  auto path = "/v1/kv/" + percent_encode(key);
  BOOST_CHECK_EQUAL(c.send(http::verb::put, path, bearer(writer_token), "bin").status, 200u);
  BOOST_CHECK_EQUAL(c.send(http::verb::get, path, bearer(reader_token)).body, "bin");
  // Through the batch get, by base64, the same key.
  auto batch = c.send(http::verb::post, "/v1/batch/get", bearer(reader_token),
                      "{\"keys\": [\"" + base64_encode(key) + "\"]}");
  BOOST_CHECK_EQUAL(batch.status, 200u);
  BOOST_CHECK(batch.body.find("\"siblings\":[\"Ymlu\"]") != std::string::npos);
  auto calls = store_calls();
  auto bad = c.send(http::verb::get, "/v1/kv/a%zzb", bearer(reader_token));
  BOOST_CHECK_EQUAL(bad.status, 400u);
  BOOST_CHECK(bad.body.find("percent-encoding") != std::string::npos);
  BOOST_CHECK(bad.keep_alive); // a request without a body leaves the connection usable
  BOOST_CHECK_EQUAL(store_calls(), calls);
}

BOOST_AUTO_TEST_CASE(sizes_are_refused_before_the_store_or_the_body, *utf::timeout(20)) {
  start();
  {
    connection c{port()};
    auto key = c.send(http::verb::get, "/v1/kv/" + std::string(65, 'k'), bearer(reader_token));
    BOOST_CHECK_EQUAL(key.status, 413u);
    BOOST_CHECK(key.body.find("\"error\":\"key_too_large\"") != std::string::npos);
    BOOST_CHECK(key.keep_alive);
    auto empty = c.send(http::verb::get, "/v1/kv/", bearer(reader_token));
    BOOST_CHECK_EQUAL(empty.status, 400u);
    BOOST_CHECK(empty.body.find("empty_key") != std::string::npos);
    auto fits = c.send(http::verb::put, "/v1/kv/big", bearer(writer_token), std::string(4096, 'v'));
    BOOST_CHECK_EQUAL(fits.status, 200u);
    auto big = c.send(http::verb::put, "/v1/kv/big", bearer(writer_token), std::string(4097, 'v'));
    BOOST_CHECK_EQUAL(big.status, 413u);
    BOOST_CHECK(big.body.find("\"error\":\"value_too_large\"") != std::string::npos);
  }
  {
    // A huge announced body is refused from its header alone; the connection then closes.
    connection c{port()};
    c.write_raw("PUT /v1/kv/huge HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + writer_token +
                "\r\nContent-Length: 1000000000\r\n\r\n");
    auto r = c.read();
    BOOST_CHECK_EQUAL(r.status, 413u);
    BOOST_CHECK(!r.keep_alive);
    BOOST_CHECK(c.closed_within(3s));
  }
  {
    // Chunked bodies have no announced size: the parser's limit stops them.
    connection c{port()};
    std::string chunk(3000, 'c');
    c.write_raw("PUT /v1/kv/chunked HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + writer_token +
                "\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\n" + chunk + "\r\nbb8\r\n" + chunk +
                "\r\n0\r\n\r\n");
    auto r = c.read();
    BOOST_CHECK_MESSAGE(r.status == 413u, r.status << " " << r.body);
    BOOST_CHECK(!r.keep_alive);
  }
  BOOST_CHECK_EQUAL(store_calls(), 1u); // only the put that fitted
}

BOOST_AUTO_TEST_CASE(bodies_beyond_the_memory_budget_get_503_before_they_are_read,
                     *utf::timeout(20)) {
  // Clients may fill 3/4 of the budget: 7500 bytes here; a body is charged its size + 512.
  auto o = test_options();
  o.budget = std::make_shared<memory_budget>(10000);
  auto budget = o.budget;
  start(std::move(o));
  auto held = budget->take(5000, budget_class::client); // another request in flight
  {
    connection c{port()};
    auto fits = c.send(http::verb::put, "/v1/kv/a", bearer(writer_token), std::string(1900, 'v'));
    BOOST_CHECK_EQUAL(fits.status, 200u);
    auto over = c.send(http::verb::put, "/v1/kv/b", bearer(writer_token), std::string(2000, 'v'));
    BOOST_CHECK_EQUAL(over.status, 503u);
    BOOST_CHECK_EQUAL(over.header("retry-after"), "1");
    BOOST_CHECK_MESSAGE(over.body.find("{\"error\":\"overloaded\",\"message\":\"a request body "
                                       "of 2000 bytes needs 2.5 KiB of the node's memory budget, "
                                       "which holds 4.9 KiB of requests in flight "
                                       "(memory_budget_bytes = 9.8 KiB, of which clients may "
                                       "fill 7.3 KiB); nothing was stored: retry shortly\"}") !=
                            std::string::npos,
                        over.body);
    BOOST_CHECK(!over.keep_alive); // the body was never read
    BOOST_CHECK(c.closed_within(3s));
  }
  BOOST_CHECK_EQUAL(budget->used(), 5000u); // the answered body's charge came back
  held.release();
  {
    connection c{port()};
    auto now = c.send(http::verb::put, "/v1/kv/b", bearer(writer_token), std::string(2000, 'v'));
    BOOST_CHECK_EQUAL(now.status, 200u);
  }
  BOOST_CHECK_EQUAL(store_calls(), 2u); // the refused body never reached the store
  BOOST_CHECK_EQUAL(budget->used(), 0u);
  BOOST_CHECK_EQUAL(budget->refused(), 1u);
}

BOOST_AUTO_TEST_CASE(requests_need_credentials_and_a_role_high_enough, *utf::timeout(20)) {
  start();
  // Without credentials the answer closes the connection: such a client holds no slot.
  connection anonymous{port()};
  auto none = anonymous.send(http::verb::get, "/v1/status");
  BOOST_CHECK_EQUAL(none.status, 401u);
  BOOST_CHECK_EQUAL(none.header("www-authenticate"), "Bearer realm=\"actorkv\"");
  BOOST_CHECK(none.body.find("\"error\":\"unauthorized\"") != std::string::npos);
  BOOST_CHECK(!none.keep_alive);
  BOOST_CHECK(anonymous.closed_within(3s));
  connection guessing{port()};
  auto wrong = guessing.send(http::verb::get, "/v1/status", bearer("guess"));
  BOOST_CHECK_EQUAL(wrong.status, 401u);
  BOOST_CHECK(wrong.header("www-authenticate").find("invalid_token") != std::string::npos);
  BOOST_CHECK(!wrong.keep_alive);
  connection basic_auth{port()};
  auto basic = basic_auth.send(http::verb::get, "/v1/status", {{"Authorization", "Basic YTpi"}});
  BOOST_CHECK_EQUAL(basic.status, 401u);
  connection c{port()};
  BOOST_CHECK_EQUAL(c.send(http::verb::delete_, "/v1/kv/k", bearer(reader_token)).status, 403u);
  auto plan = R"({"action": "join", "subject": "127.0.0.1:7104"})";
  BOOST_CHECK_EQUAL(store_calls(), 0u);
  BOOST_CHECK_EQUAL(c.send(http::verb::get, "/v1/status", bearer(reader_token)).status, 200u);
  BOOST_CHECK_EQUAL(c.send(http::verb::put, "/v1/kv/k", bearer(writer_token), "v").status, 200u);
  BOOST_CHECK_EQUAL(c.send(http::verb::post, "/v1/admin/plan", bearer(admin_token), plan).status,
                    200u);
  // Refused with a body unread: the answer closes the connection rather than read the body.
  auto forbidden = c.send(http::verb::post, "/v1/admin/plan", bearer(writer_token), plan);
  BOOST_CHECK_EQUAL(forbidden.status, 403u);
  BOOST_CHECK(forbidden.body.find("\"error\":\"forbidden\"") != std::string::npos);
  BOOST_CHECK(!forbidden.keep_alive);
  connection d{port()};
  auto early = d.send(http::verb::put, "/v1/kv/k", bearer(reader_token), "some body");
  BOOST_CHECK_EQUAL(early.status, 403u);
  BOOST_CHECK(!early.keep_alive);
  BOOST_CHECK_EQUAL(store_calls(), 3u);
  // A role proved on a connection holds for that token only: another token, a wrong one or none
  // on the same connection is judged afresh.
  connection e{port()};
  BOOST_CHECK_EQUAL(e.send(http::verb::put, "/v1/kv/k", bearer(writer_token), "v").status, 200u);
  BOOST_CHECK_EQUAL(e.send(http::verb::delete_, "/v1/kv/k", bearer(reader_token)).status, 403u);
  BOOST_CHECK_EQUAL(e.send(http::verb::put, "/v1/kv/k", bearer(writer_token), "v").status, 200u);
  BOOST_CHECK_EQUAL(e.send(http::verb::get, "/v1/kv/k", bearer("guess")).status, 401u);
  connection f{port()};
  BOOST_CHECK_EQUAL(f.send(http::verb::get, "/v1/status", bearer(reader_token)).status, 200u);
  BOOST_CHECK_EQUAL(f.send(http::verb::get, "/v1/status").status, 401u);
  BOOST_CHECK_EQUAL(store_calls(), 6u);
}

BOOST_AUTO_TEST_CASE(the_cluster_status_needs_the_read_role_and_names_members_down,
                     *utf::timeout(20)) {
  start();
  connection anonymous{port()};
  BOOST_CHECK_EQUAL(anonymous.send(http::verb::get, "/v1/status?scope=cluster").status, 401u);
  connection c{port()};
  auto r = c.send(http::verb::get, "/v1/status?scope=cluster", bearer(reader_token));
  BOOST_CHECK_EQUAL(r.status, 200u);
  for (auto part : {"\"scope\":\"cluster\"", "\"complete\":false", "\"unreachable\":[\"n2\"]",
                    "\"pending_hints\":12", "\"message\":\"n2 is not connected to n1\""})
    BOOST_CHECK_MESSAGE(r.body.find(part) != std::string::npos, part << " in " << r.body);
  // Without the parameter, the node's own status as before.
  auto own = c.send(http::verb::get, "/v1/status", bearer(reader_token));
  BOOST_CHECK(own.body.find("\"scope\"") == std::string::npos);
  BOOST_CHECK_EQUAL(store_calls(), 2u);
}

BOOST_AUTO_TEST_CASE(wrong_methods_paths_contexts_and_bodies_are_client_errors, *utf::timeout(20)) {
  start();
  connection c{port()};
  auto post = c.send(http::verb::post, "/v1/kv/k", bearer(admin_token), "v");
  BOOST_CHECK_EQUAL(post.status, 405u);
  BOOST_CHECK_EQUAL(post.header("allow"), "GET, PUT, DELETE");
  BOOST_CHECK(post.body.find("\"error\":\"method_not_allowed\"") != std::string::npos);
  connection d{port()};
  BOOST_CHECK_EQUAL(d.send(http::verb::get, "/v1/nothing", bearer(admin_token)).status, 404u);
  BOOST_CHECK_EQUAL(d.send(http::verb::get, "/v1/kv/k?fromat=json", bearer(admin_token)).status,
                    400u);
  auto ctx = d.send(http::verb::put, "/v1/kv/k", bearer(writer_token, {{"X-Context", "zz"}}), "v");
  BOOST_CHECK_EQUAL(ctx.status, 400u);
  BOOST_CHECK(ctx.body.find("\"error\":\"bad_context\"") != std::string::npos);
  // Hex that the store cannot decode: the store's own bad_context.
  auto stale =
      d.send(http::verb::put, "/v1/kv/k", bearer(writer_token, {{"X-Context", "00"}}), "v");
  BOOST_CHECK_EQUAL(stale.status, 400u);
  BOOST_CHECK(stale.body.find("the context does not decode") != std::string::npos);
  BOOST_CHECK_EQUAL(d.send(http::verb::post, "/v1/batch/get", bearer(reader_token), "{").status,
                    400u);
  BOOST_CHECK_EQUAL(
      d.send(http::verb::post, "/v1/admin/join", bearer(admin_token), "{\"subject\": 1}").status,
      400u);
  connection garbage{port()};
  garbage.write_raw("NOT HTTP AT ALL\r\n\r\n");
  BOOST_CHECK_EQUAL(garbage.read().status, 400u);
  BOOST_CHECK(garbage.closed_within(3s));
}

BOOST_AUTO_TEST_CASE(store_errors_become_their_statuses, *utf::timeout(20)) {
  start();
  connection c{port()};
  auto unavailable = c.send(http::verb::get, "/v1/kv/fail-unavailable", bearer(reader_token));
  BOOST_CHECK_EQUAL(unavailable.status, 503u);
  BOOST_CHECK_EQUAL(unavailable.header("retry-after"), "1");
  BOOST_CHECK_EQUAL(unavailable.body, "{\"error\":\"unavailable\",\"message\":\"1 of 3 replicas "
                                      "reachable, 2 needed\"}\n");
  auto maybe = c.send(http::verb::put, "/v1/kv/fail-maybe", bearer(writer_token), "v");
  BOOST_CHECK_EQUAL(maybe.status, 504u);
  BOOST_CHECK(maybe.body.find("\"error\":\"maybe_applied\"") != std::string::npos);
  auto timeout = c.send(http::verb::delete_, "/v1/kv/fail-timeout", bearer(writer_token));
  BOOST_CHECK_EQUAL(timeout.status, 504u);
  BOOST_CHECK(timeout.body.find("may or may not have been applied") != std::string::npos);
  BOOST_CHECK_EQUAL(c.send(http::verb::get, "/v1/kv/fail-corrupt", bearer(reader_token)).status,
                    503u);
  BOOST_CHECK_EQUAL(c.send(http::verb::get, "/v1/kv/fail-storage", bearer(reader_token)).status,
                    500u);
  auto batch = c.send(http::verb::post, "/v1/batch/get", bearer(reader_token),
                      "{\"keys\": [\"YQ==\", \"" + base64_encode(b("fail-unavailable")) + "\"]}");
  BOOST_CHECK_EQUAL(batch.status, 503u);
  auto busy =
      c.send(http::verb::post, "/v1/admin/leave", bearer(admin_token), R"({"subject":"busy"})");
  BOOST_CHECK_EQUAL(busy.status, 400u);
  BOOST_CHECK(busy.body.find("a handoff is running") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_store_that_never_answers_gives_504_and_keeps_the_connection,
                     *utf::timeout(20)) {
  auto o = test_options();
  o.store_timeout = 300ms;
  start(o);
  connection c{port()};
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.send(http::verb::put, "/v1/kv/never", bearer(writer_token), "v");
  BOOST_CHECK_EQUAL(r.status, 504u);
  BOOST_CHECK(r.body.find("may or may not have been applied") != std::string::npos);
  BOOST_CHECK_LT(since(t0).count(), 1500);
  BOOST_CHECK(r.keep_alive);
  BOOST_CHECK_EQUAL(c.send(http::verb::get, "/v1/status", bearer(reader_token)).status, 200u);
}

BOOST_AUTO_TEST_CASE(a_store_that_stops_with_calls_in_flight_gives_503_at_once,
                     *utf::timeout(20)) {
  start(); // the store timer is 15 s
  std::thread stopper{[this] {
    std::this_thread::sleep_for(300ms);
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
  }};
  connection c{port()};
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.send(http::verb::put, "/v1/kv/never", bearer(writer_token), "v");
  stopper.join();
  BOOST_CHECK_EQUAL(r.status, 503u);
  BOOST_CHECK_MESSAGE(r.body.find("the store went away") != std::string::npos, r.body);
  BOOST_CHECK_LT(since(t0).count(), 3000);
}

BOOST_AUTO_TEST_CASE(status_batch_admin_and_fault_answer_json, *utf::timeout(20)) {
  start();
  connection c{port()};
  auto status = c.send(http::verb::get, "/v1/status", bearer(reader_token));
  BOOST_CHECK_EQUAL(status.status, 200u);
  std::string error;
  auto doc = parse_json(status.body, error);
  BOOST_REQUIRE_MESSAGE(doc, error);
  BOOST_CHECK_EQUAL(doc->find("node")->text, "n1");
  BOOST_CHECK_EQUAL(doc->find("members")->items.size(), 2u);
  BOOST_CHECK_EQUAL(doc->find("members")->items[1].find("share")->text, "50.0");
  BOOST_CHECK_EQUAL(doc->find("view_fingerprint")->text, "abc");
  c.send(http::verb::put, "/v1/kv/a", bearer(writer_token), "1");
  auto batch = c.send(http::verb::post, "/v1/batch/get", bearer(reader_token),
                      R"({"keys": ["YQ==", "Yg=="]})");
  BOOST_CHECK_EQUAL(batch.status, 200u);
  doc = parse_json(batch.body, error);
  BOOST_REQUIRE_MESSAGE(doc && doc->items.size() == 2, batch.body);
  BOOST_CHECK(doc->items[0].find("found")->boolean);
  BOOST_CHECK_EQUAL(doc->items[0].find("siblings")->items[0].text, "MQ==");
  BOOST_CHECK(!doc->items[1].find("found")->boolean);
  auto none = c.send(http::verb::post, "/v1/batch/get", bearer(reader_token), R"({"keys": []})");
  BOOST_CHECK_EQUAL(none.body, "[]\n");
  auto join = c.send(http::verb::post, "/v1/admin/join", bearer(admin_token),
                     R"({"subject": "127.0.0.1:7104"})");
  BOOST_CHECK_EQUAL(join.status, 200u);
  BOOST_CHECK_EQUAL(join.body, "{\"action\":\"join\",\"subject\":\"127.0.0.1:7104\",\"applied\":"
                               "true,\"description\":\"applied join 127.0.0.1:7104\\n\"}\n");
  auto plan = c.send(http::verb::post, "/v1/admin/plan", bearer(admin_token),
                     R"({"action": "remove", "subject": "n3"})");
  BOOST_CHECK(plan.body.find("\"description\":\"plan remove n3\\n\"") != std::string::npos);
  auto fault = c.send(http::verb::post, "/v1/admin/fault", bearer(admin_token),
                      R"({"action": "delay", "peers": ["n2", "n3"], "delay_ms": 40})");
  BOOST_CHECK_EQUAL(fault.status, 200u);
  BOOST_CHECK_EQUAL(fault.body, "{\"rules\":\"delay 2 40\"}\n");
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order, *utf::timeout(20)) {
  start();
  connection c{port()};
  auto auth = "Authorization: Bearer " + writer_token + "\r\n";
  c.write_raw("PUT /v1/kv/p HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 3\r\n\r\none" +
              "GET /v1/kv/p HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n" +
              "GET /v1/kv/q HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n");
  BOOST_CHECK_EQUAL(c.read().status, 200u);
  BOOST_CHECK_EQUAL(c.read().body, "one");
  BOOST_CHECK_EQUAL(c.read().status, 404u);
}

BOOST_AUTO_TEST_CASE(oversized_headers_get_431, *utf::timeout(20)) {
  start();
  connection c{port()};
  auto r = c.send(http::verb::get, "/v1/status",
                  bearer(reader_token, {{"X-Padding", std::string(5000, 'p')}}));
  BOOST_CHECK_EQUAL(r.status, 431u);
  BOOST_CHECK(r.body.find("headers_too_large") != std::string::npos);
  BOOST_CHECK(c.closed_within(3s));
}

BOOST_AUTO_TEST_CASE(a_client_sending_a_byte_at_a_time_is_dropped, *utf::timeout(20)) {
  auto o = test_options();
  o.request_timeout = 800ms;
  start(o);
  // In time, even in pieces: served.
  {
    connection c{port()};
    auto request =
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + reader_token + "\r\n\r\n";
    for (size_t i = 0; i < request.size(); i += 8) {
      c.write_raw(request.substr(i, 8));
      std::this_thread::sleep_for(5ms);
    }
    BOOST_CHECK_EQUAL(c.read().status, 200u);
  }
  // Slowloris: one byte every 100 ms never completes the request in time.
  connection c{port()};
  auto t0 = std::chrono::steady_clock::now();
  std::string line = "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  line += std::string(40, 's');
  bool closed = false;
  for (size_t i = 0; i < line.size() && !closed; ++i) {
    c.write_raw(line.substr(i, 1));
    closed = c.closed_within(100ms);
  }
  BOOST_CHECK(closed);
  BOOST_CHECK_GE(since(t0).count(), 700);
  BOOST_CHECK_LT(since(t0).count(), 2000);
  // Nothing at all: dropped as well.
  connection silent{port()};
  BOOST_CHECK(silent.closed_within(2s));
}

BOOST_AUTO_TEST_CASE(idle_keep_alive_connections_are_closed, *utf::timeout(20)) {
  auto o = test_options();
  o.idle_timeout = 500ms;
  o.request_timeout = 5s;
  start(o);
  connection c{port()};
  BOOST_CHECK_EQUAL(c.send(http::verb::get, "/v1/status", bearer(reader_token)).status, 200u);
  auto t0 = std::chrono::steady_clock::now();
  BOOST_CHECK(!c.closed_within(300ms));
  BOOST_CHECK(c.closed_within(2s));
  BOOST_CHECK_GE(since(t0).count(), 400);
}

BOOST_AUTO_TEST_CASE(connections_beyond_the_limit_get_503, *utf::timeout(20)) {
  auto o = test_options();
  o.max_connections = 2;
  start(o);
  auto first = std::make_unique<connection>(port());
  connection second{port()};
  BOOST_CHECK_EQUAL(first->send(http::verb::get, "/v1/status", bearer(reader_token)).status, 200u);
  BOOST_CHECK_EQUAL(second.send(http::verb::get, "/v1/status", bearer(reader_token)).status, 200u);
  connection third{port()};
  auto refused = third.read(); // answered without a request
  BOOST_CHECK_EQUAL(refused.status, 503u);
  BOOST_CHECK_EQUAL(refused.header("retry-after"), "1");
  BOOST_CHECK(refused.body.find("\"error\":\"overloaded\"") != std::string::npos);
  BOOST_CHECK(third.closed_within(3s));
  first.reset();
  // The slot frees once the server sees the close.
  reply again;
  for (int i = 0; i < 50 && again.status != 200; ++i) {
    std::this_thread::sleep_for(20ms);
    connection fourth{port()};
    again = fourth.send(http::verb::get, "/v1/status", bearer(reader_token));
  }
  BOOST_CHECK_EQUAL(again.status, 200u);
  std::lock_guard<std::mutex> guard{log_mutex};
  BOOST_CHECK(std::any_of(log.begin(), log.end(), [](auto& line) {
    return line.find("refusing new ones") != std::string::npos;
  }));
}

BOOST_AUTO_TEST_CASE(many_clients_at_once_on_two_threads, *utf::timeout(20)) {
  start();
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&, t] {
      connection c{port()};
      for (int i = 0; i < 40; ++i) {
        auto key = "/v1/kv/k" + std::to_string(t) + "-" + std::to_string(i);
        if (c.send(http::verb::put, key, bearer(writer_token), "v").status == 200 &&
            c.send(http::verb::get, key, bearer(reader_token)).body == "v")
          ++ok;
      }
    });
  for (auto& t : clients)
    t.join();
  BOOST_CHECK_EQUAL(ok.load(), 8 * 40);
}

BOOST_AUTO_TEST_CASE(curl_uploads_with_expect_100_continue, *utf::timeout(20)) {
  start();
  temp_dir dir;
  std::ofstream{dir.path / "value"} << std::string(3000, 'x');
  std::ofstream{dir.path / "huge"} << std::string(5000, 'x');
  auto curl = "curl -sS --max-time 5 -o " + (dir.path / "out").string() +
              " -w '%{http_code}' -H 'Authorization: Bearer " + writer_token + "' ";
  auto t0 = std::chrono::steady_clock::now();
  // Without an interim 100 Continue, curl would wait a second before sending the body.
  BOOST_CHECK_EQUAL(run(curl + "-H 'Expect: 100-continue' -T " + (dir.path / "value").string() +
                        " " + url("/v1/kv/curl")),
                    "200");
  BOOST_CHECK_LT(since(t0).count(), 900);
  BOOST_CHECK_EQUAL(run(curl + url("/v1/kv/curl")), "200");
  BOOST_CHECK_EQUAL(read_file(dir.path / "out"), std::string(3000, 'x'));
  BOOST_CHECK_EQUAL(run(curl + "-H 'Expect: 100-continue' -T " + (dir.path / "huge").string() +
                        " " + url("/v1/kv/curl")),
                    "413");
  BOOST_CHECK(read_file(dir.path / "out").find("value_too_large") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stop_cuts_off_requests_waiting_on_the_store, *utf::timeout(20)) {
  start();
  connection c{port()};
  c.write_raw("GET /v1/kv/never HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + reader_token +
              "\r\n\r\n");
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  auto listened = port();
  server->stop();
  BOOST_CHECK_LT(since(t0).count(), 1000);
  BOOST_CHECK(c.closed_within(1s));
  server->stop(); // idempotent
  BOOST_CHECK_THROW(connection{listened}, boost::system::system_error);
}

BOOST_AUTO_TEST_CASE(start_fails_on_a_port_in_use, *utf::timeout(20)) {
  start();
  auto o = test_options();
  o.port = port();
  std::string error;
  auto second = http_server::start(sys, caf::actor_cast<client_actor>(store), o, error);
  BOOST_CHECK(!second);
  BOOST_CHECK(error.find("cannot listen") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_console_is_public_and_closes_metrics_need_a_reader, *utf::timeout(20)) {
  auto o = test_options();
  o.console_files = {{"index.html", "<!doctype html><p>console"}, {"console.js", "run()"}};
  o.metrics = std::make_shared<metrics_registry>();
  o.metrics->counter("actorkv_test_total", "A test counter.").add(3);
  start(o);
  {
    connection c{port()};
    auto page = c.send(http::verb::get, "/");
    BOOST_CHECK_EQUAL(page.status, 200u);
    BOOST_CHECK_EQUAL(page.body, "<!doctype html><p>console");
    BOOST_CHECK_EQUAL(page.header("content-type"), "text/html; charset=utf-8");
    BOOST_CHECK(page.header("content-security-policy").find("default-src 'self'") == 0);
    BOOST_CHECK(!page.keep_alive); // nobody without credentials keeps a connection
  }
  {
    connection c{port()};
    BOOST_CHECK_EQUAL(c.send(http::verb::get, "/console/console.js").body, "run()");
  }
  {
    connection c{port()};
    BOOST_CHECK_EQUAL(c.send(http::verb::get, "/console/nothing.js").status, 404u);
  }
  {
    connection c{port()};
    BOOST_CHECK_EQUAL(c.send(http::verb::get, "/metrics").status, 401u);
  }
  connection c{port()};
  auto m = c.send(http::verb::get, "/metrics", bearer(reader_token));
  BOOST_CHECK_EQUAL(m.status, 200u);
  BOOST_CHECK_EQUAL(m.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  BOOST_CHECK(m.body.find("\nactorkv_test_total 3\n") != std::string::npos);
  BOOST_CHECK(m.body.find("\nactorkv_status_up 1\n") != std::string::npos);
  BOOST_CHECK(m.body.find("actorkv_open_connections{listener=\"https\"} ") != std::string::npos);
  BOOST_CHECK(m.body.find("actorkv_http_responses_total{code=\"401\"} 1\n") != std::string::npos);
  BOOST_CHECK(m.keep_alive);
}

BOOST_AUTO_TEST_SUITE_END()
