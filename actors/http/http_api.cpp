#include "actors/http/http_api.hpp"

#include <algorithm>
#include <map>

#include "cluster-config/cluster_totals.hpp"
#include "cluster-config/metrics.hpp"
#include "messages/error.hpp"
#include "messages/hex.hpp"

namespace actorkv {

namespace {

constexpr std::string_view kv_prefix = "/v1/kv/";
constexpr std::string_view admin_prefix = "/v1/admin/";

/// What each refusal of a write that may have happened tells the caller to do.
constexpr const char* read_then_decide = ": read the key, then decide";

bytes bytes_of(const std::string& text) {
  return bytes(text.begin(), text.end());
}

/// An object member: "name":value, with a comma before all but the first.
struct json_object {
  std::string out = "{";
  void raw(std::string_view name, const std::string& value) {
    if (out.size() > 1)
      out += ',';
    out += json_quote(name);
    out += ':';
    out += value;
  }
  void str(std::string_view name, std::string_view value) { raw(name, json_quote(value)); }
  void num(std::string_view name, uint64_t value) { raw(name, std::to_string(value)); }
  void boolean(std::string_view name, bool value) { raw(name, value ? "true" : "false"); }
  std::string done() { return out + '}'; }
};

/// A JSON array of `items`, each written by `render`.
template <class Items, class Render>
std::string json_array(const Items& items, Render render) {
  std::string out = "[";
  for (auto& item : items) {
    if (out.size() > 1)
      out += ',';
    out += render(item);
  }
  return out + ']';
}

std::string base64_array(const std::vector<bytes>& values) {
  return json_array(values, [](const bytes& v) { return json_quote(base64_encode(v)); });
}

std::string string_array(const std::vector<std::string>& values) {
  return json_array(values, [](const std::string& v) { return json_quote(v); });
}

/// "33.6": one decimal of `part` in percent of `whole`, rounded, without locale surprises.
std::string percent_text(uint64_t part, uint64_t whole) {
  if (whole == 0)
    return "0.0";
  auto tenths = (part * 1000 + whole / 2) / whole;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
}

http_reply json_reply(unsigned status, std::string body) {
  http_reply r;
  r.status = status;
  body += '\n';
  r.body = bytes_of(body);
  return r;
}

std::optional<json_value> parse_object(std::string_view body, http_failure& failure) {
  std::string error;
  auto doc = parse_json(body, error);
  if (!doc) {
    failure = make_failure(400, "bad_request", "the body is not JSON: " + error);
    return std::nullopt;
  }
  if (doc->type != json_value::kind::object) {
    failure = make_failure(400, "bad_request", "the body must be a JSON object");
    return std::nullopt;
  }
  return doc;
}

/// The string member `name` of `doc`; a 400 naming it when absent or not a string.
std::optional<std::string> string_member(const json_value& doc, std::string_view name,
                                         http_failure& failure) {
  auto m = doc.find(name);
  if (!m || m->type != json_value::kind::string) {
    failure = make_failure(400, "bad_request",
                           "the body needs \"" + std::string{name} + "\" as a string");
    return std::nullopt;
  }
  return m->text;
}

} // namespace

http_failure make_failure(unsigned status, std::string error, std::string message) {
  http_failure f{status, std::move(error), std::move(message), {}};
  if (status == 503)
    f.headers.emplace_back("Retry-After", "1");
  return f;
}

http_failure failure_for(ec code, std::string message, bool write) {
  auto name = to_string(code);
  if (message.empty())
    message = name;
  switch (code) {
  // The request as sent cannot be served: fix it, do not retry it.
  case ec::empty_key:
  case ec::bad_context:
  case ec::bad_request:
    return make_failure(400, name, std::move(message));
  case ec::key_too_large:
  case ec::value_too_large:
  case ec::record_too_large:
    return make_failure(413, name, std::move(message));
  // The key's state refuses the write: read it, then write with the context to resolve it.
  case ec::too_many_siblings:
    return make_failure(409, name, std::move(message));
  case ec::forbidden:
    return make_failure(403, name, std::move(message));
  // Nothing was written (or nothing intact could be read): worth retrying shortly.
  case ec::unavailable:
  case ec::overloaded:     // the node's memory budget for requests in flight is spent
  case ec::corrupt_record: // another read may reach an intact replica; anti-entropy repairs it
    return make_failure(503, name, std::move(message));
  // The outcome is unknown: a retried write without context would add a sibling.
  case ec::timeout:
    if (write)
      message += std::string{"; the write may or may not have been applied"} + read_then_decide;
    return make_failure(504, name, std::move(message));
  case ec::maybe_applied:
    return make_failure(504, name,
                        message + "; some replicas may have stored the write" + read_then_decide);
  // The node itself is failing or misconfigured: nothing the caller can fix.
  case ec::storage_failure:
  case ec::manifest_invalid:
  case ec::settings_mismatch:
  case ec::peer_mismatch:
  case ec::none:
    return make_failure(500, name, std::move(message));
  }
  // A code appended after this was written: a server-side error until mapped here.
  return make_failure(500, name, std::move(message));
}

std::optional<route> parse_route(std::string_view target, http_failure& failure) {
  auto q = target.find('?');
  auto path = target.substr(0, q);
  auto query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  route r;
  if (path.substr(0, kv_prefix.size()) == kv_prefix) {
    r.target = endpoint::kv;
    // Everything after the prefix is the key, slashes included: keys are arbitrary bytes.
    auto key = percent_decode(path.substr(kv_prefix.size()));
    if (!key) {
      failure = make_failure(400, "bad_request", "the key's percent-encoding is invalid");
      return std::nullopt;
    }
    r.key = std::move(*key);
  } else if (path == "/v1/batch/get") {
    r.target = endpoint::batch_get;
  } else if (path == "/v1/status") {
    r.target = endpoint::status;
  } else if (path == "/metrics") {
    r.target = endpoint::metrics;
  } else if (path == "/" || path == "/console" || path == "/console/") {
    r.target = endpoint::console;
    r.action = "index.html";
  } else if (path.substr(0, 9) == "/console/") {
    r.target = endpoint::console;
    r.action = std::string{path.substr(9)};
  } else if (path == "/v1/admin/fault") {
    r.target = endpoint::fault;
  } else if (path.substr(0, admin_prefix.size()) == admin_prefix &&
             (path.substr(admin_prefix.size()) == "join" ||
              path.substr(admin_prefix.size()) == "leave" ||
              path.substr(admin_prefix.size()) == "remove" ||
              path.substr(admin_prefix.size()) == "plan")) {
    r.target = endpoint::admin;
    r.action = std::string{path.substr(admin_prefix.size())};
  } else {
    failure = make_failure(404, "not_found", "no such endpoint: " + std::string{path});
    return std::nullopt;
  }
  // Unknown parameters are refused rather than ignored: a typo must not silently change the
  // answer's format.
  while (!query.empty()) {
    auto amp = query.find('&');
    auto param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (param.empty())
      continue;
    if (r.target == endpoint::kv && (param == "format=json" || param == "format=raw")) {
      r.json = param == "format=json";
      continue;
    }
    if (r.target == endpoint::status && (param == "scope=cluster" || param == "scope=node")) {
      r.cluster = param == "scope=cluster";
      continue;
    }
    if (r.target == endpoint::kv && param.substr(0, 4) == "ttl=") {
      auto ttl = parse_ttl(std::string{param.substr(4)});
      if (!ttl) {
        // parse_ttl's errors carry their text as the context's one string.
        failure = make_failure(400, "bad_request",
                               "ttl: " + ttl.error().context().get_as<std::string>(0));
        return std::nullopt;
      }
      r.ttl_s = *ttl;
      continue;
    }
    failure = make_failure(400, "bad_request",
                           "unknown query parameter: " + std::string{param.substr(0, 64)});
    return std::nullopt;
  }
  return r;
}

const char* allowed_methods(endpoint e) {
  switch (e) {
  case endpoint::kv:
    return "GET, PUT, DELETE";
  case endpoint::status:
  case endpoint::metrics:
  case endpoint::console:
    return "GET";
  case endpoint::batch_get:
  case endpoint::admin:
  case endpoint::fault:
    return "POST";
  }
  return "";
}

std::optional<role> required_role(endpoint e, std::string_view method) {
  switch (e) {
  case endpoint::kv:
    if (method == "GET")
      return role::read;
    if (method == "PUT" || method == "DELETE")
      return role::write;
    return std::nullopt;
  case endpoint::status:
  case endpoint::metrics:
    return method == "GET" ? std::optional<role>{role::read} : std::nullopt;
  case endpoint::console:
    return method == "GET" ? std::optional<role>{role::none} : std::nullopt;
  case endpoint::batch_get:
    return method == "POST" ? std::optional<role>{role::read} : std::nullopt;
  case endpoint::admin:
  case endpoint::fault:
    return method == "POST" ? std::optional<role>{role::admin} : std::nullopt;
  }
  return std::nullopt;
}

uint64_t body_limit(const route& r, std::string_view method, const http_limits& limits) {
  constexpr uint64_t small = 64 * 1024; // admin and fault bodies; stray bodies of GET, DELETE
  if (r.target == endpoint::kv)
    return method == "PUT" ? limits.max_value_bytes : 4096;
  if (r.target == endpoint::batch_get) {
    // Base64 of each maximal key, its quotes, a comma and generous room for whitespace.
    uint64_t per_key = (uint64_t{limits.max_key_bytes} + 2) / 3 * 4 + 64;
    return std::max(small, max_batch_keys * per_key + 1024);
  }
  return small;
}

std::optional<role> authenticate(std::optional<role> certificate,
                                 std::optional<std::string_view> authorization,
                                 const std::vector<access_token>& tokens, http_failure& failure) {
  if (!authorization) {
    if (certificate)
      return certificate;
    failure = make_failure(401, "unauthorized",
                           "no credentials: present a client certificate or a bearer token");
    failure.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"actorkv\"");
    return std::nullopt;
  }
  auto invalid = [&](const char* why) {
    failure = make_failure(401, "unauthorized", why);
    failure.headers.emplace_back("WWW-Authenticate",
                                 "Bearer realm=\"actorkv\", error=\"invalid_token\"");
    return std::nullopt;
  };
  auto header = *authorization;
  constexpr std::string_view scheme = "bearer ";
  bool is_bearer = header.size() > scheme.size() &&
                   std::equal(scheme.begin(), scheme.end(), header.begin(), [](char a, char b) {
                     return a == (b >= 'A' && b <= 'Z' ? b - 'A' + 'a' : b);
                   });
  if (!is_bearer)
    return invalid("the Authorization header must be \"Bearer <token>\"");
  auto token = header.substr(scheme.size());
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ')
    token.remove_suffix(1);
  auto granted = token_role(tokens, token);
  if (!granted)
    return invalid("the bearer token is not known to this cluster");
  // A certificate and a token each prove a role; the request may do what either allows.
  if (certificate && static_cast<uint8_t>(*certificate) > static_cast<uint8_t>(*granted))
    return certificate;
  return granted;
}

std::optional<http_failure> authorize(role have, role need) {
  if (allows(have, need))
    return std::nullopt;
  return make_failure(403, "forbidden",
                      std::string{"this needs the role "} + role_name(need) +
                          ", the credentials prove " + role_name(have));
}

std::optional<http_failure> check_key(const bytes& key, const http_limits& limits) {
  if (key.empty())
    return failure_for(ec::empty_key, "keys must hold at least one byte", false);
  if (key.size() > limits.max_key_bytes)
    return failure_for(ec::key_too_large,
                       "key is " + std::to_string(key.size()) + " bytes, the limit is " +
                           std::to_string(limits.max_key_bytes),
                       false);
  return std::nullopt;
}

std::optional<http_failure> check_value_size(uint64_t size, const http_limits& limits) {
  if (size <= limits.max_value_bytes)
    return std::nullopt;
  return failure_for(ec::value_too_large,
                     "value is " + std::to_string(size) + " bytes, the limit is " +
                         std::to_string(limits.max_value_bytes),
                     false);
}

std::optional<http_failure> parse_context(std::string_view header, bytes& context) {
  auto decoded = from_hex(std::string{header});
  if (!decoded)
    return failure_for(ec::bad_context, "X-Context takes the hex text a GET returned", false);
  context = std::move(*decoded);
  return std::nullopt;
}

std::optional<http_failure> parse_batch_keys(std::string_view body, const http_limits& limits,
                                             std::vector<bytes>& keys) {
  http_failure failure;
  auto doc = parse_object(body, failure);
  if (!doc)
    return failure;
  auto list = doc->find("keys");
  if (!list || list->type != json_value::kind::array)
    return make_failure(400, "bad_request", "the body needs \"keys\" as an array of base64 keys");
  if (list->items.size() > max_batch_keys)
    return make_failure(400, "bad_request",
                        "a batch names at most " + std::to_string(max_batch_keys) + " keys");
  keys.clear();
  for (size_t i = 0; i < list->items.size(); ++i) {
    auto& item = list->items[i];
    auto key = item.type == json_value::kind::string ? base64_decode(item.text) : std::nullopt;
    if (!key)
      return make_failure(400, "bad_request",
                          "keys[" + std::to_string(i) + "] is not a base64 string");
    if (auto bad = check_key(*key, limits)) {
      bad->message = "keys[" + std::to_string(i) + "]: " + bad->message;
      return bad;
    }
    keys.push_back(std::move(*key));
  }
  return std::nullopt;
}

std::optional<http_failure> parse_admin(const std::string& path_action, std::string_view body,
                                        admin_call& call) {
  http_failure failure;
  auto doc = parse_object(body, failure);
  if (!doc)
    return failure;
  call.apply = path_action != "plan";
  if (call.apply) {
    call.action = path_action;
  } else {
    auto action = string_member(*doc, "action", failure);
    if (!action)
      return failure;
    if (*action != "join" && *action != "leave" && *action != "remove")
      return make_failure(400, "bad_request", "a plan's action is join, leave or remove");
    call.action = *action;
  }
  auto subject = string_member(*doc, "subject", failure);
  if (!subject)
    return failure;
  if (subject->empty())
    return make_failure(400, "bad_request",
                        "the subject is a HOST:PORT (join) or a member's name (leave, remove)");
  call.subject = *subject;
  return std::nullopt;
}

std::optional<http_failure> parse_fault(std::string_view body, fault_call& call) {
  http_failure failure;
  auto doc = parse_object(body, failure);
  if (!doc)
    return failure;
  auto action = string_member(*doc, "action", failure);
  if (!action)
    return failure;
  if (*action != "drop" && *action != "delay" && *action != "heal")
    return make_failure(400, "bad_request", "a fault's action is drop, delay or heal");
  call = fault_call{*action, {}, 0};
  if (auto peers = doc->find("peers")) {
    if (peers->type != json_value::kind::array)
      return make_failure(400, "bad_request", "\"peers\" is an array of node names");
    for (auto& p : peers->items) {
      if (p.type != json_value::kind::string || p.text.empty())
        return make_failure(400, "bad_request", "\"peers\" is an array of node names");
      call.peers.push_back(p.text);
    }
  }
  if (auto delay = doc->find("delay_ms")) {
    auto ms = delay->as_uint(600000);
    if (!ms)
      return make_failure(400, "bad_request", "\"delay_ms\" is a whole number up to 600000");
    call.delay_ms = static_cast<uint32_t>(*ms);
  }
  if (call.action == "heal" && (!call.peers.empty() || call.delay_ms != 0))
    return make_failure(400, "bad_request", "heal takes no peers and no delay");
  if (call.action != "heal" && call.peers.empty())
    return make_failure(400, "bad_request", call.action + " needs at least one peer");
  if (call.action == "drop" && call.delay_ms != 0)
    return make_failure(400, "bad_request", "drop takes no delay");
  if (call.action == "delay" && call.delay_ms == 0)
    return make_failure(400, "bad_request", "delay needs \"delay_ms\" from 1 to 600000");
  return std::nullopt;
}

http_reply render_failure(const http_failure& f) {
  json_object body;
  body.str("error", f.error);
  body.str("message", f.message);
  auto r = json_reply(f.status, body.done());
  r.headers = f.headers;
  return r;
}

http_reply render_get(get_reply reply, bool json, uint64_t seed) {
  http_reply r;
  if (!reply.context.empty())
    r.headers.emplace_back("X-Context", to_hex(reply.context));
  if (!reply.found) {
    auto context = std::move(r.headers);
    r = render_failure(make_failure(404, "not_found", "the key is absent or deleted"));
    r.headers = std::move(context);
    return r;
  }
  if (json) {
    json_object body;
    body.str("context", to_hex(reply.context));
    body.raw("siblings", base64_array(reply.values));
    auto context = std::move(r.headers);
    r = json_reply(200, body.done());
    r.headers = std::move(context);
    return r;
  }
  r.content_type = "application/octet-stream";
  if (reply.values.size() == 1) {
    r.body = std::move(reply.values.front());
    return r;
  }
  // Siblings, as Riak's HTTP API shows them: 300 Multiple Choices, one part per value.
  auto boundary = multipart_boundary(reply.values, seed);
  r.status = 300;
  r.content_type = "multipart/mixed; boundary=" + boundary;
  r.body = multipart_body(reply.values, boundary);
  return r;
}

http_reply render_write(const write_reply& reply) {
  // Only a DELETE without X-Context, which reads first, can find nothing to write.
  if (reply.acks == 0)
    return render_failure(
        make_failure(404, "not_found", "the key is absent or deleted; nothing was written"));
  json_object body;
  body.num("replicas", reply.acks);
  if (reply.removed > 0)
    body.num("removed", reply.removed);
  body.num("sibling_count", reply.siblings); // "siblings" are the values in a GET answer
  if (!reply.warning.empty())
    body.str("warning", reply.warning);
  auto r = json_reply(200, body.done());
  if (!reply.warning.empty())
    r.headers.emplace_back("X-Siblings-Warning", reply.warning);
  return r;
}

http_reply render_batch(const std::vector<bytes>& keys, const std::vector<get_reply>& replies) {
  std::string out = "[";
  for (size_t i = 0; i < keys.size() && i < replies.size(); ++i) {
    auto& reply = replies[i];
    json_object item;
    item.str("key", base64_encode(keys[i]));
    item.boolean("found", reply.found);
    item.str("context", to_hex(reply.context));
    item.raw("siblings", base64_array(reply.found ? reply.values : std::vector<bytes>{}));
    if (i > 0)
      out += ',';
    out += item.done();
  }
  return json_reply(200, out + ']');
}

namespace {

/// cluster_status as the JSON object render_status answers with.
std::string status_json(const cluster_status& s) {
  auto member = [&](const member_status& m) {
    json_object row;
    row.str("name", m.name);
    row.str("endpoint", m.endpoint);
    row.num("capacity", m.capacity);
    row.str("zone", m.zone);
    row.boolean("up", m.up);
    row.num("partitions", m.partitions);
    row.raw("share", percent_text(m.partitions, s.owners.size()));
    row.str("state", m.state);
    row.num("next_partitions", m.next_partitions);
    row.raw("clock_offset_ms", m.clock_offset_ms ? std::to_string(*m.clock_offset_ms) : "null");
    return row.done();
  };
  static constexpr char digits[] = "0123456789abcdef";
  std::string fingerprint;
  for (int shift = 60; shift >= 0; shift -= 4)
    fingerprint += digits[s.view_fingerprint >> shift & 15];
  fingerprint.erase(0, std::min(fingerprint.find_first_not_of('0'), fingerprint.size() - 1));
  json_object body;
  body.str("node", s.node);
  body.str("settings", s.settings);
  body.num("partitions", s.owners.size());
  body.raw("members", json_array(s.members, member));
  body.raw("owners", string_array(s.owners));
  body.num("pending_hints", s.pending_hints);
  body.num("ae_rounds", s.ae_rounds);
  body.num("ae_repairs_last_round", s.ae_repairs_last_round);
  body.num("ae_repairs_total", s.ae_repairs_total);
  body.str("view_fingerprint", fingerprint);
  body.num("ring_epoch", s.ring_epoch);
  body.boolean("handoff_running", s.handoff_running);
  body.num("transfers_total", s.transfers_total);
  body.num("transfers_done", s.transfers_done);
  body.num("handoff_keys_sent", s.handoff_keys_sent);
  body.num("handoff_keys_total", s.handoff_keys_total);
  body.num("handoff_queued", s.handoff_queued);
  body.raw("clock_skew_ms", std::to_string(s.clock_skew_ms));
  body.boolean("clock_skewed", s.clock_skewed);
  body.num("max_clock_skew_ms", s.max_clock_skew_ms);
  body.num("memory_budget", s.memory_budget);
  body.num("memory_in_flight", s.memory_in_flight);
  body.num("memory_peak", s.memory_peak);
  body.num("overloaded_refusals", s.overloaded_refusals);
  body.str("integrity_check", s.integrity_check);
  body.num("ae_partition", s.ae_partition);
  body.num("ae_partitions", s.ae_partitions);
  body.num("ae_repairs_running", s.ae_repairs_running);
  body.num("ae_repairs_this_round", s.ae_repairs_this_round);
  body.num("ae_peer_pause_ms", s.ae_peer_pause_ms);
  body.str("ae_paced_by", s.ae_paced_by);
  body.raw("background_rate", std::to_string(s.background_rate));
  body.raw("background_max_rate", std::to_string(s.background_max_rate));
  body.num("background_p99_us", s.background_p99_us);
  body.num("background_target_us", s.background_target_us);
  body.num("background_floor_p99_us", s.background_floor_p99_us);
  body.num("background_configured_target_us", s.background_configured_target_us);
  body.num("tombstones_collected", s.tombstones_collected);
  body.num("collection_sweeps", s.collection_sweeps);
  body.num("entries_pruned", s.entries_pruned);
  return body.done();
}

} // namespace

http_reply render_status(const cluster_status& s) {
  return json_reply(200, status_json(s));
}

http_reply render_cluster_status(const cluster_answers& answers) {
  auto t = sum_members(answers.members);
  json_object totals;
  totals.num("members", t.members);
  totals.num("answered", t.answered);
  totals.num("pending_hints", t.pending_hints);
  totals.num("handoff_keys_sent", t.handoff_keys_sent);
  totals.num("handoff_keys_total", t.handoff_keys_total);
  totals.num("handoff_queued", t.handoff_queued);
  totals.num("ae_rounds", t.ae_rounds);
  totals.num("ae_repairs_total", t.ae_repairs_total);
  totals.num("ae_repairs_running", t.ae_repairs_running);
  totals.num("memory_in_flight", t.memory_in_flight);
  totals.num("overloaded_refusals", t.overloaded_refusals);
  totals.num("tombstones_collected", t.tombstones_collected);
  totals.num("collection_sweeps", t.collection_sweeps);
  totals.num("entries_pruned", t.entries_pruned);
  auto member = [](const member_answer& m) {
    json_object row;
    row.str("name", m.name);
    row.str("endpoint", m.endpoint);
    row.boolean("answered", m.answered);
    if (m.answered) {
      row.raw("status", status_json(m.status));
    } else {
      row.str("error", m.error);
      row.str("message", m.message);
    }
    return row.done();
  };
  json_object body;
  body.str("scope", "cluster");
  body.str("asked_by", answers.asked_by);
  body.boolean("complete", t.complete());
  body.raw("unreachable", string_array(t.unreachable));
  body.raw("totals", totals.done());
  body.raw("members", json_array(answers.members, member));
  return json_reply(200, body.done());
}

http_reply render_admin(const admin_call& call, const std::string& description) {
  json_object body;
  body.str("action", call.action);
  body.str("subject", call.subject);
  body.boolean("applied", call.apply);
  body.str("description", description);
  return json_reply(200, body.done());
}

http_reply render_fault(const std::string& rules) {
  json_object body;
  body.str("rules", rules);
  return json_reply(200, body.done());
}

http_reply render_metrics(const std::string& registry, const cluster_status* s) {
  http_reply out;
  out.content_type = "text/plain; version=0.0.4; charset=utf-8";
  std::string text = registry;
  render_family(text, "actorkv_status_up",
                "1 when the node's status answered this scrape (the families below are from it).",
                "gauge", {{{}, s ? 1.0 : 0.0}});
  if (s) {
    auto one = [&](const char* name, const char* help, const char* type, double v) {
      render_family(text, name, help, type, {{{}, v}});
    };
    one("actorkv_hints_held", "Hints this node holds for other nodes.", "gauge",
        static_cast<double>(s->pending_hints));
    one("actorkv_anti_entropy_rounds_total", "Anti-entropy rounds this node completed.", "counter",
        static_cast<double>(s->ae_rounds));
    one("actorkv_anti_entropy_repairs_total", "Keys anti-entropy repaired on this node.", "counter",
        static_cast<double>(s->ae_repairs_total));
    one("actorkv_tombstones_collected_total",
        "Tombstones this node collected (every home replica held them, their grace passed).",
        "counter", static_cast<double>(s->tombstones_collected));
    one("actorkv_entries_pruned_total",
        "Version-vector entries of retired replica ids this node pruned (every home replica "
        "agreed, the grace passed).",
        "counter", static_cast<double>(s->entries_pruned));
    one("actorkv_handoff_running", "1 while a membership change moves partitions.", "gauge",
        s->handoff_running ? 1 : 0);
    one("actorkv_handoff_partitions",
        "Partition copies the membership change needs, "
        "cluster-wide.",
        "gauge", s->transfers_total);
    one("actorkv_handoff_partitions_done", "Of actorkv_handoff_partitions, those finished.",
        "gauge", s->transfers_done);
    one("actorkv_handoff_partitions_queued", "Partitions this node still has to stream.", "gauge",
        s->handoff_queued);
    one("actorkv_handoff_keys", "Records this node has to stream to new replicas.", "gauge",
        static_cast<double>(s->handoff_keys_total));
    one("actorkv_handoff_keys_sent", "Of actorkv_handoff_keys, those streamed.", "gauge",
        static_cast<double>(s->handoff_keys_sent));
    one("actorkv_ring_epoch", "The ring in force; advances with each membership change.", "gauge",
        static_cast<double>(s->ring_epoch));
    one("actorkv_clock_skew_seconds",
        "This node's wall clock minus its peers' (the median of the estimates).", "gauge",
        static_cast<double>(s->clock_skew_ms) / 1000);
    std::map<std::string, double> states{
        {"joining", 0}, {"valid", 0}, {"leaving", 0}, {"removed", 0}};
    double up = 0, down = 0;
    for (auto& m : s->members) {
      states[m.state] += 1;
      if (m.name == s->node || m.state == "removed")
        continue;
      (m.up ? up : down) += 1;
    }
    std::vector<std::pair<metric_labels, double>> by_state;
    for (auto& [state, n] : states)
      by_state.push_back({{{"state", state}}, n});
    render_family(text, "actorkv_members", "Cluster members as this node sees them, by state.",
                  "gauge", by_state);
    render_family(text, "actorkv_peers",
                  "Other members (not removed) this node can or cannot reach.", "gauge",
                  {{{{"state", "up"}}, up}, {{{"state", "down"}}, down}});
  }
  out.body.assign(text.begin(), text.end());
  return out;
}

http_reply console_file(const std::vector<std::pair<std::string, std::string>>& files,
                        const std::string& name) {
  for (auto& [file, content] : files) {
    if (file != name)
      continue;
    http_reply out;
    auto ends = [&](const char* suffix) {
      std::string_view s{suffix};
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    out.content_type = ends(".html")  ? "text/html; charset=utf-8"
                       : ends(".js")  ? "text/javascript; charset=utf-8"
                       : ends(".css") ? "text/css; charset=utf-8"
                                      : "application/octet-stream";
    // The page runs no script of anyone else's, and no other site may frame it.
    out.headers = {{"Content-Security-Policy",
                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"},
                   {"X-Content-Type-Options", "nosniff"},
                   {"Cache-Control", "no-cache"}};
    out.body.assign(content.begin(), content.end());
    return out;
  }
  return render_failure(make_failure(404, "not_found", "no console file " + name));
}

} // namespace actorkv
