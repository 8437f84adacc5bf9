// The HTTP API's decisions, as pure functions of request parts: which endpoint a target names,
// which role it needs, how large its body may be, what its JSON body asks, which status each
// actorkv error becomes, and the bytes of every response. No sockets, no actor system (the store's
// message types are plain structs), so the server (http_server.cpp) only moves bytes and asks.
//
// Endpoints, the role each needs, and what they answer:
//   GET    /v1/kv/{key}[?format=json]  read   200 the value (octet-stream) | 300 multipart/mixed,
//                                             one part per sibling | 404; X-Context: hex context;
//                                             format=json: 200 {"context", "siblings": [base64]}
//   PUT    /v1/kv/{key}[?ttl=SECONDS]  write  body = value; X-Context optional (without it the
//                                             value becomes a sibling); ttl: the value expires
//                                             that long after the write; 200 {"replicas": n,
//                                             "sibling_count": n}, with "warning" and an
//                                             X-Siblings-Warning header past sibling_warning
//   DELETE /v1/kv/{key}                write  X-Context: deletes what that GET returned,
//                                             200 as for PUT; without it, reads the key and
//                                             deletes what it read: 200 {"replicas": n,
//                                             "removed": values, "sibling_count": n} | 404 when
//                                             absent
//   POST   /v1/batch/get               read   {"keys": [base64, ...]} -> 200 [{"key", "found",
//                                             "context", "siblings"}, ...]
//   GET    /v1/status                  read   200 cluster_status as JSON
//   GET    /v1/status?scope=cluster    read   200 every member's own status and their sums
//                                             (render_cluster_status); "complete": false and
//                                             "unreachable": [names] when a member did not answer
//   GET    /metrics                    read   200 Prometheus text exposition 0.0.4 (render_metrics)
//   GET    /, /console, /console/{file}  none  the web console's static files (console_file):
//                                             nothing secret; the page itself sends a bearer
//                                             token or the browser's certificate to /v1/status
//                                             and /metrics
//   POST   /v1/admin/{join|leave|remove}  admin  {"subject": s} -> 200 {..., "description"}
//   POST   /v1/admin/plan              admin  {"action": a, "subject": s} (nothing is changed)
//   POST   /v1/admin/fault             admin  {"action": drop|delay|heal, "peers", "delay_ms"}
// Keys in paths are percent-encoded (any bytes). Failures are one line of JSON
// {"error": name, "message": text}: 400 malformed request, key, context or body; 401 no or an
// unknown credential (WWW-Authenticate: Bearer); 403 role too low; 404 unknown path or key;
// 405 method (Allow: ...); 409 too many siblings (read, then write with the context); 413 key,
// value, record or body too large; 431 headers too large; 500 the node failing; 503
// unavailable, corrupt or overloaded (Retry-After: 1); 504 outcome unknown
// (timeout, maybe_applied: a write may have happened). failure_for() maps each ec code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/http/http_codec.hpp"
#include "cluster-config/access.hpp"
#include "messages/client.hpp"

namespace actorkv {

enum class ec : uint8_t; // messages/error.hpp

/// What a request is for.
enum class endpoint : uint8_t { kv, batch_get, status, admin, fault, metrics, console };

/// A parsed request target.
struct route {
  endpoint target = endpoint::kv;
  bytes key;            ///< kv: percent-decoded, may be empty (refused by check_key)
  std::string action;   ///< admin: join, leave, remove or plan
  bool json = false;    ///< kv GET with ?format=json
  bool cluster = false; ///< status with ?scope=cluster: every member's own figures
  uint32_t ttl_s = 0;   ///< kv PUT with ?ttl=SECONDS (0: none)
};

/// A refusal: an HTTP status, a name programs branch on (the ec name where one fits, e.g.
/// "value_too_large"), a message for people, and headers the status calls for.
struct http_failure {
  unsigned status = 500;
  std::string error;
  std::string message;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A response as plain data; the server adds Content-Length and Connection.
struct http_reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  bytes body;
};

struct http_limits {
  uint32_t max_key_bytes = 1024;
  uint32_t max_value_bytes = 1024 * 1024;
};

/// Keys a batch get may name: the reply holds every sibling of each, so it is bounded too.
constexpr size_t max_batch_keys = 256;

/// A failure of the status and name given.
http_failure make_failure(unsigned status, std::string error, std::string message);

/// The failure an actorkv error of the store becomes. `message` is its context text; `write`
/// says whether the request was a put or delete (a timeout then may have applied it).
http_failure failure_for(ec code, std::string message, bool write);

/// The endpoint `target` (path and query) names. Fails with 404 for an unknown path and 400 for
/// a key with invalid percent-encoding, an unknown query parameter or a ttl that parse_ttl
/// refuses (whether the method may carry one is the caller's to check).
std::optional<route> parse_route(std::string_view target, http_failure& failure);

/// "GET, PUT, DELETE" and so on, for Allow headers.
const char* allowed_methods(endpoint e);

/// The role `method` on `e` needs; nullopt when the endpoint does not take that method (405).
std::optional<role> required_role(endpoint e, std::string_view method);

/// The largest body `method` on `r` may carry: the value limit for a put, enough JSON for a
/// full batch of maximal keys for a batch get, a little for everything else.
uint64_t body_limit(const route& r, std::string_view method, const http_limits& limits);

/// Establishes the role the request proves. `certificate` is the role of a verified client
/// certificate (role::none when its subject has no role OU; nullopt without one);
/// `authorization` the Authorization header, if any. A presented bearer token must match one of
/// `tokens` (401 otherwise, even beside a certificate); with neither credential: 401.
std::optional<role> authenticate(std::optional<role> certificate,
                                 std::optional<std::string_view> authorization,
                                 const std::vector<access_token>& tokens, http_failure& failure);

/// 403 unless `have` allows `need`.
std::optional<http_failure> authorize(role have, role need);

/// 400 empty_key, 413 key_too_large, or nothing.
std::optional<http_failure> check_key(const bytes& key, const http_limits& limits);

/// 413 value_too_large, or nothing.
std::optional<http_failure> check_value_size(uint64_t size, const http_limits& limits);

/// An X-Context header (hex, as GET returns it and kvsh prints it) into `context`; 400
/// bad_context when it is not hex.
std::optional<http_failure> parse_context(std::string_view header, bytes& context);

/// A batch get's body {"keys": [base64, ...]}: each key decoded and checked like a single one.
std::optional<http_failure> parse_batch_keys(std::string_view body, const http_limits& limits,
                                             std::vector<bytes>& keys);

/// A membership change as the store's admin call takes it.
struct admin_call {
  std::string action; ///< join, leave or remove
  std::string subject;
  bool apply = true; ///< false for plan
};

/// The body of POST /v1/admin/{path_action}: {"subject": s}, or for plan {"action": a,
/// "subject": s}.
std::optional<http_failure> parse_admin(const std::string& path_action, std::string_view body,
                                        admin_call& call);

/// Fault injection as the store's fault call takes it.
struct fault_call {
  std::string action; ///< drop, delay or heal
  std::vector<std::string> peers;
  uint32_t delay_ms = 0;
};

/// {"action": "drop"|"delay"|"heal", "peers": [...], "delay_ms": n}, checked as kvsh checks it.
std::optional<http_failure> parse_fault(std::string_view body, fault_call& call);

/// The response to a failure: one line of JSON {"error": ..., "message": ...}.
http_reply render_failure(const http_failure& f);

/// A get's answer: 200 with the value, 300 multipart/mixed for siblings (the boundary drawn
/// from `seed`), 404 when not found; X-Context whenever there is a context. With `json`:
/// 200 {"context": hex, "siblings": [base64, ...]} (404 as above when not found).
http_reply render_get(get_reply reply, bool json, uint64_t seed);

/// 200 {"replicas": acks, "sibling_count": siblings}, with "removed": n after a delete that read
/// first, and "warning" plus the same text in an X-Siblings-Warning header when the reply carries
/// a warning; 404 not_found when nothing was written (such a delete found the key absent).
http_reply render_write(const write_reply& reply);

/// 200 with a JSON array, one object per key in the order asked:
/// {"key": base64, "found": bool, "context": hex, "siblings": [base64, ...]}.
http_reply render_batch(const std::vector<bytes>& keys, const std::vector<get_reply>& replies);

/// 200 with every field of cluster_status; view_fingerprint as hex (as kvsh prints it, and
/// because 64-bit integers lose precision in JavaScript), each member with its share in percent.
http_reply render_status(const cluster_status& status);

/// 200 {"scope": "cluster", "asked_by", "complete", "unreachable": [names], "totals": the sums
/// (cluster-config/cluster_totals.hpp), "members": [{"name", "endpoint", "answered": true,
/// "status": as render_status} | {"name", "endpoint", "answered": false, "error", "message"}]}.
/// "complete" is false when a member did not answer (it is down, or not connected to the node
/// asked): its figures are then missing from the sums.
http_reply render_cluster_status(const cluster_answers& answers);

/// 200 text/plain; version=0.0.4: the process's registry (`registry`, already rendered), then
/// families taken from the answering node's status: hints held, anti-entropy rounds and
/// repairs, handoff progress, members by state, peers up and down, ring epoch, clock skew.
/// Without a status (it failed) those are left out and actorkv_status_up is 0.
http_reply render_metrics(const std::string& registry, const cluster_status* status);

/// 200 with the console's file `name` ("index.html", "console.js", ...) from `files` (name,
/// bytes) and its content type; 404 for a name not among them.
http_reply console_file(const std::vector<std::pair<std::string, std::string>>& files,
                        const std::string& name);

/// 200 {"action", "subject", "applied", "description"}.
http_reply render_admin(const admin_call& call, const std::string& description);

/// 200 {"rules": the rules now in force}.
http_reply render_fault(const std::string& rules);

} // namespace actorkv
