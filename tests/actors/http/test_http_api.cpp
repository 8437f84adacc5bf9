#include <boost/test/unit_test.hpp>

#include <map>

#include "actors/http/http_api.hpp"
#include "messages/error.hpp"

using namespace actorkv;

namespace {

bytes b(const std::string& s) {
  return bytes(s.begin(), s.end());
}

std::string s(const bytes& data) {
  return std::string(data.begin(), data.end());
}

std::string header(const http_reply& r, const std::string& name) {
  for (auto& [n, v] : r.headers)
    if (n == name)
      return v;
  return "";
}

std::string header(const http_failure& f, const std::string& name) {
  for (auto& [n, v] : f.headers)
    if (n == name)
      return v;
  return "";
}

const http_limits limits{16, 100};

} // namespace

BOOST_AUTO_TEST_SUITE(http_api)

BOOST_AUTO_TEST_CASE(routes_name_endpoints_and_decode_keys) {
  http_failure f;
  auto r = parse_route("/v1/kv/user%3A1", f);
  BOOST_REQUIRE(r);
  BOOST_CHECK(r->target == endpoint::kv);
  BOOST_CHECK_EQUAL(s(r->key), "user:1");
  BOOST_CHECK(!r->json);
  r = parse_route("/v1/kv/a/b%00c?format=json", f);
  BOOST_REQUIRE(r);
  BOOST_CHECK(r->key == (bytes{'a', '/', 'b', 0, 'c'})); // slashes belong to the key
  BOOST_CHECK(r->json);
  BOOST_CHECK(parse_route("/v1/kv/", f)->key.empty()); // check_key refuses it
  BOOST_CHECK(parse_route("/v1/batch/get", f)->target == endpoint::batch_get);
  BOOST_CHECK(parse_route("/v1/status", f)->target == endpoint::status);
  BOOST_CHECK(!parse_route("/v1/status", f)->cluster);
  BOOST_CHECK(parse_route("/v1/status?scope=cluster", f)->cluster);
  BOOST_CHECK(!parse_route("/v1/status?scope=node", f)->cluster);
  BOOST_CHECK(parse_route("/v1/admin/fault", f)->target == endpoint::fault);
  for (auto action : {"join", "leave", "remove", "plan"}) {
    r = parse_route(std::string{"/v1/admin/"} + action, f);
    BOOST_REQUIRE(r);
    BOOST_CHECK(r->target == endpoint::admin);
    BOOST_CHECK_EQUAL(r->action, action);
  }
}

BOOST_AUTO_TEST_CASE(routes_refuse_unknown_paths_bad_escapes_and_unknown_parameters) {
  http_failure f;
  for (auto path : {"/index.html", "/metrics/", "/consolex", "/v1", "/v1/kv", "/v2/kv/a",
                    "/v1/status/", "/v1/admin/grow", "/v1/batch"}) {
    BOOST_CHECK_MESSAGE(!parse_route(path, f), path);
    BOOST_CHECK_EQUAL(f.status, 404u);
  }
  BOOST_CHECK(!parse_route("/v1/kv/a%zz", f));
  BOOST_CHECK_EQUAL(f.status, 400u);
  BOOST_CHECK_EQUAL(f.error, "bad_request");
  BOOST_CHECK(!parse_route("/v1/kv/a?fromat=json", f));
  BOOST_CHECK_EQUAL(f.status, 400u);
  BOOST_CHECK(!parse_route("/v1/status?format=json", f));
  BOOST_CHECK(!parse_route("/v1/status?scope=all", f));
  BOOST_CHECK(!parse_route("/v1/kv/a?scope=cluster", f));
  BOOST_CHECK(parse_route("/v1/kv/a?format=raw", f));
}

BOOST_AUTO_TEST_CASE(a_put_may_ask_for_a_ttl_in_whole_seconds) {
  http_failure f;
  auto r = parse_route("/v1/kv/session?ttl=30", f);
  BOOST_REQUIRE(r);
  BOOST_CHECK_EQUAL(r->ttl_s, 30u);
  BOOST_CHECK_EQUAL(parse_route("/v1/kv/session", f)->ttl_s, 0u);
  r = parse_route("/v1/kv/s?format=json&ttl=315360000", f);
  BOOST_REQUIRE(r);
  BOOST_CHECK_EQUAL(r->ttl_s, 315360000u);
  for (auto bad : {"ttl=0", "ttl=", "ttl=-5", "ttl=1.5", "ttl=10s", "ttl=315360001",
                   "ttl=99999999999999999999999", "ttl=%31"}) {
    f = {};
    BOOST_CHECK_MESSAGE(!parse_route(std::string{"/v1/kv/k?"} + bad, f), bad);
    BOOST_CHECK_EQUAL(f.status, 400u);
    BOOST_CHECK_EQUAL(f.error, "bad_request");
    BOOST_CHECK_MESSAGE(f.message.rfind("ttl: ", 0) == 0, f.message);
  }
  BOOST_CHECK(!parse_route("/v1/status?ttl=5", f)); // only keys take one
}

BOOST_AUTO_TEST_CASE(each_endpoint_and_method_needs_its_role) {
  BOOST_CHECK(required_role(endpoint::kv, "GET") == role::read);
  BOOST_CHECK(required_role(endpoint::kv, "PUT") == role::write);
  BOOST_CHECK(required_role(endpoint::kv, "DELETE") == role::write);
  BOOST_CHECK(!required_role(endpoint::kv, "POST"));
  BOOST_CHECK(!required_role(endpoint::kv, "HEAD"));
  BOOST_CHECK(required_role(endpoint::batch_get, "POST") == role::read);
  BOOST_CHECK(!required_role(endpoint::batch_get, "GET"));
  BOOST_CHECK(required_role(endpoint::status, "GET") == role::read);
  BOOST_CHECK(!required_role(endpoint::status, "POST"));
  BOOST_CHECK(required_role(endpoint::admin, "POST") == role::admin);
  BOOST_CHECK(required_role(endpoint::fault, "POST") == role::admin);
  BOOST_CHECK(!required_role(endpoint::admin, "GET"));
  BOOST_CHECK_EQUAL(allowed_methods(endpoint::kv), "GET, PUT, DELETE");
  BOOST_CHECK_EQUAL(allowed_methods(endpoint::admin), "POST");
}

BOOST_AUTO_TEST_CASE(body_limits_follow_the_endpoint) {
  route kv;
  BOOST_CHECK_EQUAL(body_limit(kv, "PUT", limits), 100u);
  BOOST_CHECK_EQUAL(body_limit(kv, "GET", limits), 4096u);
  route batch{endpoint::batch_get, {}, {}, false};
  // A full batch of maximal keys, base64 and quoted, fits.
  BOOST_CHECK_GE(body_limit(batch, "POST", http_limits{1024, 100}),
                 max_batch_keys * (1024 / 3 * 4 + 8));
}

BOOST_AUTO_TEST_CASE(every_error_code_maps_to_a_deliberate_status) {
  const std::map<ec, unsigned> expected{
      {ec::none, 500u},
      {ec::unavailable, 503u},
      {ec::maybe_applied, 504u},
      {ec::timeout, 504u},
      {ec::empty_key, 400u},
      {ec::key_too_large, 413u},
      {ec::value_too_large, 413u},
      {ec::bad_context, 400u},
      {ec::corrupt_record, 503u},
      {ec::storage_failure, 500u},
      {ec::manifest_invalid, 500u},
      {ec::settings_mismatch, 500u},
      {ec::peer_mismatch, 500u},
      {ec::bad_request, 400u},
      {ec::forbidden, 403u},
      {ec::too_many_siblings, 409u},
      {ec::record_too_large, 413u},
      {ec::overloaded, 503u},
  };
  // Every named code is in the table: a code appended to messages/error.hpp fails here until
  // its status is chosen.
  for (int code = 0; code < 256; ++code) {
    auto name = to_string(static_cast<ec>(code));
    if (name.rfind("unknown(", 0) == 0)
      continue;
    BOOST_CHECK_MESSAGE(expected.count(static_cast<ec>(code)), "no status chosen for " << name);
  }
  for (auto [code, status] : expected) {
    auto f = failure_for(code, "why", false);
    BOOST_CHECK_MESSAGE(f.status == status, to_string(code) << " gives " << f.status);
    BOOST_CHECK_EQUAL(f.error, to_string(code));
    BOOST_CHECK_EQUAL(header(f, "Retry-After"), status == 503 ? "1" : "");
  }
  BOOST_CHECK_EQUAL(failure_for(ec::unavailable, "1 of 3 replicas reachable", false).message,
                    "1 of 3 replicas reachable");
  BOOST_CHECK_EQUAL(failure_for(ec::unavailable, "", false).message, "unavailable");
  // A code nobody knows yet is a server error, named by its number.
  auto unknown = failure_for(static_cast<ec>(200), "x", false);
  BOOST_CHECK_EQUAL(unknown.status, 500u);
  BOOST_CHECK_EQUAL(unknown.error, "unknown(200)");
}

BOOST_AUTO_TEST_CASE(timeouts_of_writes_say_the_write_may_have_happened) {
  auto read = failure_for(ec::timeout, "no answer in time", false);
  BOOST_CHECK_EQUAL(read.message, "no answer in time");
  auto write = failure_for(ec::timeout, "no answer in time", true);
  BOOST_CHECK(write.message.find("may or may not have been applied") != std::string::npos);
  auto maybe = failure_for(ec::maybe_applied, "1 of 2 acks", true);
  BOOST_CHECK(maybe.message.find("read the key, then decide") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(credentials_are_a_certificate_role_or_a_known_bearer_token) {
  std::vector<access_token> tokens{{"ci", role::write, sha256_hex("w-token")},
                                   {"ops", role::admin, sha256_hex("a-token")}};
  http_failure f;
  BOOST_CHECK(!authenticate(std::nullopt, std::nullopt, tokens, f));
  BOOST_CHECK_EQUAL(f.status, 401u);
  BOOST_CHECK_EQUAL(header(f, "WWW-Authenticate"), "Bearer realm=\"actorkv\"");
  BOOST_CHECK(authenticate(std::nullopt, "Bearer w-token", tokens, f) == role::write);
  BOOST_CHECK(authenticate(std::nullopt, "bearer   a-token ", tokens, f) == role::admin);
  for (auto bad : {"Bearer nope", "Basic dXNlcjpwdw==", "Bearer", "Bearer ", "w-token"}) {
    f = {};
    BOOST_CHECK_MESSAGE(!authenticate(std::nullopt, std::string_view{bad}, tokens, f), bad);
    BOOST_CHECK_EQUAL(f.status, 401u);
    BOOST_CHECK(header(f, "WWW-Authenticate").find("invalid_token") != std::string::npos);
  }
  BOOST_CHECK(authenticate(role::read, std::nullopt, tokens, f) == role::read);
  BOOST_CHECK(authenticate(role::none, std::nullopt, tokens, f) == role::none); // then 403
  BOOST_CHECK(authenticate(role::read, "Bearer a-token", tokens, f) == role::admin);
  BOOST_CHECK(authenticate(role::admin, "Bearer w-token", tokens, f) == role::admin);
  BOOST_CHECK(
      !authenticate(role::admin, "Bearer wrong", tokens, f)); // a bad token is never ignored
}

BOOST_AUTO_TEST_CASE(roles_too_low_are_forbidden) {
  BOOST_CHECK(!authorize(role::write, role::read));
  BOOST_CHECK(!authorize(role::node, role::admin));
  auto f = authorize(role::read, role::write);
  BOOST_REQUIRE(f);
  BOOST_CHECK_EQUAL(f->status, 403u);
  BOOST_CHECK_EQUAL(f->error, "forbidden");
  BOOST_CHECK_EQUAL(authorize(role::none, role::read)->status, 403u);
}

BOOST_AUTO_TEST_CASE(keys_values_and_contexts_are_checked_before_the_store_sees_them) {
  BOOST_CHECK_EQUAL(check_key({}, limits)->error, "empty_key");
  BOOST_CHECK_EQUAL(check_key({}, limits)->status, 400u);
  BOOST_CHECK(!check_key(bytes(16, 'k'), limits));
  BOOST_CHECK_EQUAL(check_key(bytes(17, 'k'), limits)->status, 413u);
  BOOST_CHECK_EQUAL(check_key(bytes(17, 'k'), limits)->error, "key_too_large");
  BOOST_CHECK(!check_value_size(100, limits));
  BOOST_CHECK_EQUAL(check_value_size(101, limits)->error, "value_too_large");
  bytes context;
  BOOST_CHECK(!parse_context("0101a0e4", context));
  BOOST_CHECK(context == (bytes{0x01, 0x01, 0xa0, 0xe4}));
  BOOST_CHECK_EQUAL(parse_context("xyz", context)->error, "bad_context");
  BOOST_CHECK_EQUAL(parse_context("abc", context)->status, 400u);
}

BOOST_AUTO_TEST_CASE(batch_bodies_list_base64_keys) {
  std::vector<bytes> keys;
  BOOST_CHECK(!parse_batch_keys(R"({"keys": ["YQ==", "AP8="]})", limits, keys));
  BOOST_CHECK(keys == (std::vector<bytes>{b("a"), bytes{0x00, 0xff}}));
  BOOST_CHECK(!parse_batch_keys(R"({"keys": []})", limits, keys));
  BOOST_CHECK(keys.empty());
  for (auto bad :
       {"", "[]", "{}", R"({"keys": "YQ=="})", R"({"keys": [1]})", R"({"keys": ["not base64"]})"})
    BOOST_CHECK_EQUAL(parse_batch_keys(bad, limits, keys)->status, 400u);
  BOOST_CHECK_EQUAL(parse_batch_keys(R"({"keys": [""]})", limits, keys)->error, "empty_key");
  auto long_key = "\"" + base64_encode(bytes(17, 'k')) + "\"";
  BOOST_CHECK_EQUAL(parse_batch_keys("{\"keys\": [" + long_key + "]}", limits, keys)->status, 413u);
  std::string many = R"({"keys": [)";
  for (size_t i = 0; i <= max_batch_keys; ++i)
    many += std::string{i ? "," : ""} + "\"YQ==\"";
  BOOST_CHECK_EQUAL(parse_batch_keys(many + "]}", limits, keys)->status, 400u);
}

BOOST_AUTO_TEST_CASE(admin_bodies_name_a_subject_and_plans_an_action) {
  admin_call call;
  BOOST_CHECK(!parse_admin("join", R"({"subject": "127.0.0.1:7104"})", call));
  BOOST_CHECK_EQUAL(call.action, "join");
  BOOST_CHECK_EQUAL(call.subject, "127.0.0.1:7104");
  BOOST_CHECK(call.apply);
  BOOST_CHECK(!parse_admin("plan", R"({"action": "leave", "subject": "n2"})", call));
  BOOST_CHECK_EQUAL(call.action, "leave");
  BOOST_CHECK(!call.apply);
  BOOST_CHECK(parse_admin("plan", R"({"subject": "n2"})", call));
  BOOST_CHECK(parse_admin("plan", R"({"action": "grow", "subject": "n2"})", call));
  BOOST_CHECK(parse_admin("leave", R"({"subject": ""})", call));
  BOOST_CHECK(parse_admin("leave", R"({"subject": 2})", call));
  BOOST_CHECK(parse_admin("leave", "subject=n2", call));
}

BOOST_AUTO_TEST_CASE(fault_bodies_are_checked_as_kvsh_checks_them) {
  fault_call call;
  BOOST_CHECK(!parse_fault(R"({"action": "drop", "peers": ["n2", "n3"]})", call));
  BOOST_CHECK(call.peers == (std::vector<std::string>{"n2", "n3"}));
  BOOST_CHECK(!parse_fault(R"({"action": "delay", "peers": ["n2"], "delay_ms": 250})", call));
  BOOST_CHECK_EQUAL(call.delay_ms, 250u);
  BOOST_CHECK(!parse_fault(R"({"action": "heal"})", call));
  BOOST_CHECK(call.peers.empty());
  for (auto bad : {R"({"action": "drop"})", R"({"action": "delay", "peers": ["n2"]})",
                   R"({"action": "delay", "peers": ["n2"], "delay_ms": 600001})",
                   R"({"action": "delay", "peers": ["n2"], "delay_ms": -5})",
                   R"({"action": "delay", "peers": ["n2"], "delay_ms": 1.5})",
                   R"({"action": "heal", "peers": ["n2"]})", R"({"action": "explode"})",
                   R"({"action": "drop", "peers": "n2"})", R"({"peers": ["n2"]})"})
    BOOST_CHECK_MESSAGE(parse_fault(bad, call), bad);
}

BOOST_AUTO_TEST_CASE(failures_render_as_one_line_of_json) {
  auto r = render_failure(failure_for(ec::unavailable, "1 of 3 \"replicas\"", false));
  BOOST_CHECK_EQUAL(r.status, 503u);
  BOOST_CHECK_EQUAL(r.content_type, "application/json");
  BOOST_CHECK_EQUAL(s(r.body),
                    "{\"error\":\"unavailable\",\"message\":\"1 of 3 \\\"replicas\\\"\"}\n");
  BOOST_CHECK_EQUAL(header(r, "Retry-After"), "1");
}

BOOST_AUTO_TEST_CASE(gets_render_a_value_siblings_json_or_not_found) {
  get_reply one{true, {b("alice")}, {0x01, 0xab}};
  auto r = render_get(one, false, 1);
  BOOST_CHECK_EQUAL(r.status, 200u);
  BOOST_CHECK_EQUAL(r.content_type, "application/octet-stream");
  BOOST_CHECK_EQUAL(s(r.body), "alice");
  BOOST_CHECK_EQUAL(header(r, "X-Context"), "01ab");

  get_reply two{true, {b("alice"), b("bob")}, {0x02}};
  r = render_get(two, false, 1);
  BOOST_CHECK_EQUAL(r.status, 300u);
  auto boundary = multipart_boundary(two.values, 1);
  BOOST_CHECK_EQUAL(r.content_type, "multipart/mixed; boundary=" + boundary);
  BOOST_CHECK(r.body == multipart_body(two.values, boundary));
  BOOST_CHECK_EQUAL(header(r, "X-Context"), "02");

  r = render_get(two, true, 1);
  BOOST_CHECK_EQUAL(r.status, 200u);
  BOOST_CHECK_EQUAL(s(r.body), "{\"context\":\"02\",\"siblings\":[\"YWxpY2U=\",\"Ym9i\"]}\n");

  get_reply deleted{false, {}, {0x03}};
  r = render_get(deleted, false, 1);
  BOOST_CHECK_EQUAL(r.status, 404u);
  BOOST_CHECK_EQUAL(header(r, "X-Context"), "03");
  BOOST_CHECK(s(r.body).find("\"error\":\"not_found\"") != std::string::npos);
  r = render_get(get_reply{}, true, 1);
  BOOST_CHECK_EQUAL(r.status, 404u);
  BOOST_CHECK_EQUAL(header(r, "X-Context"), "");
}

BOOST_AUTO_TEST_CASE(writes_batches_status_and_admin_render_json) {
  write_reply written;
  written.acks = 2;
  written.siblings = 1;
  auto w = render_write(written);
  BOOST_CHECK_EQUAL(s(w.body), "{\"replicas\":2,\"sibling_count\":1}\n");
  BOOST_CHECK_EQUAL(header(w, "X-Siblings-Warning"), "");
  // Past the soft sibling limit: stored (200), with the warning in the body and a header.
  written.siblings = 4;
  written.warning = "the key has 4 siblings";
  w = render_write(written);
  BOOST_CHECK_EQUAL(w.status, 200u);
  BOOST_CHECK_EQUAL(s(w.body), "{\"replicas\":2,\"sibling_count\":4,\"warning\":\"the key has 4 "
                               "siblings\"}\n");
  BOOST_CHECK_EQUAL(header(w, "X-Siblings-Warning"), "the key has 4 siblings");
  // A delete that read first says how many values it removed, and 404 when it found none.
  BOOST_CHECK_EQUAL(s(render_write(write_reply{2, 3}).body),
                    "{\"replicas\":2,\"removed\":3,\"sibling_count\":0}\n");
  auto none = render_write(write_reply{});
  BOOST_CHECK_EQUAL(none.status, 404u);
  BOOST_CHECK(s(none.body).find("\"error\":\"not_found\"") != std::string::npos);
  auto batch = render_batch({b("a"), b("b")}, {get_reply{true, {b("x")}, {0x01}}, get_reply{}});
  BOOST_CHECK_EQUAL(s(batch.body),
                    "[{\"key\":\"YQ==\",\"found\":true,\"context\":\"01\",\"siblings\":[\"eA==\"]},"
                    "{\"key\":\"Yg==\",\"found\":false,\"context\":\"\",\"siblings\":[]}]\n");
  cluster_status st;
  st.node = "n1";
  st.settings = "N=3 R=2 W=2 Q=4 sloppy siblings";
  st.members = {member_status{"n1", "127.0.0.1:7101", 1, true, 3, "valid", 3},
                member_status{"n2", "127.0.0.1:7102", 1, false, 1, "leaving", 0}};
  st.owners = {"n1", "n1", "n2", "n1"};
  st.view_fingerprint = 0x6d26f16c32bb8999;
  st.ae_rounds = 6;
  st.members[1].clock_offset_ms = -120004;
  st.clock_skew_ms = 120004;
  st.clock_skewed = true;
  st.max_clock_skew_ms = 1000;
  st.memory_budget = 268435456;
  st.memory_in_flight = 11540012;
  st.memory_peak = 201000000;
  st.overloaded_refusals = 370;
  auto status = s(render_status(st).body);
  for (auto part :
       {"\"node\":\"n1\"", "\"partitions\":4", "\"share\":75.0", "\"share\":25.0", "\"up\":false",
        "\"state\":\"leaving\"", "\"owners\":[\"n1\",\"n1\",\"n2\",\"n1\"]",
        "\"view_fingerprint\":\"6d26f16c32bb8999\"", "\"ae_rounds\":6", "\"handoff_running\":false",
        "\"clock_offset_ms\":null", "\"clock_offset_ms\":-120004", "\"clock_skew_ms\":120004",
        "\"clock_skewed\":true", "\"max_clock_skew_ms\":1000", "\"memory_budget\":268435456",
        "\"memory_in_flight\":11540012", "\"memory_peak\":201000000",
        "\"overloaded_refusals\":370"})
    BOOST_CHECK_MESSAGE(status.find(part) != std::string::npos, part << " in " << status);
  std::string error;
  BOOST_CHECK(parse_json(status, error));
  auto admin = s(render_admin(admin_call{"join", "h:1", false}, "moves 3\n").body);
  BOOST_CHECK_EQUAL(admin, "{\"action\":\"join\",\"subject\":\"h:1\",\"applied\":false,"
                           "\"description\":\"moves 3\\n\"}\n");
}

BOOST_AUTO_TEST_CASE(the_cluster_status_sums_the_members_that_answered_and_names_the_rest) {
  cluster_answers a;
  a.asked_by = "n1";
  for (auto [name, hints] : {std::pair{"n1", 30}, std::pair{"n2", 12}}) {
    member_answer m;
    m.name = name;
    m.endpoint = std::string{"127.0.0.1:710"} + name[1];
    m.answered = true;
    m.status.node = name;
    m.status.pending_hints = hints;
    m.status.ae_repairs_total = 2;
    a.members.push_back(m);
  }
  member_answer down;
  down.name = "n3";
  down.endpoint = "127.0.0.1:7103";
  down.error = "timeout";
  down.message = "no answer within 5000 ms";
  a.members.push_back(down);
  auto reply = render_cluster_status(a);
  BOOST_CHECK_EQUAL(reply.status, 200u);
  auto body = s(reply.body);
  std::string error;
  auto doc = parse_json(body, error);
  BOOST_REQUIRE_MESSAGE(doc, error << " in " << body);
  BOOST_CHECK_EQUAL(doc->find("scope")->text, "cluster");
  BOOST_CHECK_EQUAL(doc->find("asked_by")->text, "n1");
  BOOST_CHECK(doc->find("complete")->type == json_value::kind::boolean);
  for (auto part :
       {"\"complete\":false", "\"unreachable\":[\"n3\"]", "\"members\":3", "\"answered\":2",
        "\"pending_hints\":42", "\"ae_repairs_total\":4", "\"error\":\"timeout\"",
        "\"message\":\"no answer within 5000 ms\"", "\"status\":{\"node\":\"n2\""})
    BOOST_CHECK_MESSAGE(body.find(part) != std::string::npos, part << " in " << body);
  a.members.pop_back();
  body = s(render_cluster_status(a).body);
  BOOST_CHECK_MESSAGE(body.find("\"complete\":true,\"unreachable\":[]") != std::string::npos, body);
}

BOOST_AUTO_TEST_CASE(metrics_need_the_read_role_and_the_console_none) {
  http_failure f;
  BOOST_CHECK(parse_route("/metrics", f)->target == endpoint::metrics);
  BOOST_CHECK(required_role(endpoint::metrics, "GET") == role::read);
  BOOST_CHECK(!required_role(endpoint::metrics, "POST"));
  for (auto path : {"/", "/console", "/console/"}) {
    auto r = parse_route(path, f);
    BOOST_CHECK(r->target == endpoint::console);
    BOOST_CHECK_EQUAL(r->action, "index.html");
  }
  BOOST_CHECK_EQUAL(parse_route("/console/console.js", f)->action, "console.js");
  BOOST_CHECK(required_role(endpoint::console, "GET") == role::none);
  BOOST_CHECK(!required_role(endpoint::console, "PUT"));
  std::vector<std::pair<std::string, std::string>> files{{"index.html", "<p>"},
                                                         {"console.js", "x()"}};
  auto page = console_file(files, "index.html");
  BOOST_CHECK_EQUAL(page.status, 200u);
  BOOST_CHECK_EQUAL(page.content_type, "text/html; charset=utf-8");
  BOOST_CHECK_EQUAL(s(page.body), "<p>");
  BOOST_CHECK_EQUAL(console_file(files, "console.js").content_type,
                    "text/javascript; charset=utf-8");
  BOOST_CHECK_EQUAL(console_file(files, "../etc/passwd").status, 404u);
}

BOOST_AUTO_TEST_CASE(metrics_add_the_status_figures_to_the_registry) {
  cluster_status st;
  st.node = "n1";
  st.members = {member_status{"n1", "h:1", 1, true, 3, "valid", 3},
                member_status{"n2", "h:2", 1, false, 1, "leaving", 0},
                member_status{"n3", "h:3", 1, true, 0, "joining", 1},
                member_status{"n4", "h:4", 1, false, 0, "removed", 0}};
  st.pending_hints = 12;
  st.ae_rounds = 6;
  st.ae_repairs_total = 2;
  st.transfers_total = 8;
  st.transfers_done = 3;
  st.clock_skew_ms = -1500;
  auto reply = render_metrics("# TYPE actorkv_x_total counter\nactorkv_x_total 1\n", &st);
  BOOST_CHECK_EQUAL(reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
  auto text = s(reply.body);
  BOOST_CHECK_EQUAL(text.rfind("# TYPE actorkv_x_total counter\nactorkv_x_total 1\n", 0), 0u);
  for (auto line :
       {"\nactorkv_status_up 1\n", "\nactorkv_hints_held 12\n",
        "# TYPE actorkv_anti_entropy_rounds_total counter\n",
        "\nactorkv_anti_entropy_rounds_total 6\n", "\nactorkv_anti_entropy_repairs_total 2\n",
        "\nactorkv_handoff_partitions 8\n", "\nactorkv_handoff_partitions_done 3\n",
        "\nactorkv_clock_skew_seconds -1.5\n", "\nactorkv_members{state=\"joining\"} 1\n",
        "\nactorkv_members{state=\"removed\"} 1\n",
        // n1 is the answering node; n4 was removed: neither is a peer.
        "\nactorkv_peers{state=\"up\"} 1\n", "\nactorkv_peers{state=\"down\"} 1\n"})
    BOOST_CHECK_MESSAGE(text.find(line) != std::string::npos, "no " << line << " in\n" << text);
  auto failed = s(render_metrics("", nullptr).body);
  BOOST_CHECK(failed.find("\nactorkv_status_up 0\n") != std::string::npos);
  BOOST_CHECK(failed.find("actorkv_peers") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
