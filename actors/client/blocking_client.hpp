// A blocking facade over the client actor, for programs that are not actor-based.
//
// It owns a small actor system (2 scheduler threads, CAF's middleman) and one client actor.
// Every call blocks the calling thread until the cluster answered or the timeout expired, and
// returns the answer or an actorkv error (messages/error.hpp; actorkv::describe renders it).
// Calls may come from several threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/client/tls.hpp"
#include "messages/client.hpp"

namespace actorkv {

class blocking_client {
public:
  /// Connects lazily to the first reachable of `endpoints` ("host:port"), over TLS with `tls`
  /// unless it names no files (check them first with check_tls_files).
  explicit blocking_client(std::vector<std::string> endpoints,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10),
                           const tls_files& tls = {});
  ~blocking_client();
  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  caf::expected<get_reply> get(const bytes& key);
  caf::expected<std::vector<get_reply>> get_many(const std::vector<bytes>& keys);
  /// With `ttl_s` (seconds, 1 up to max_ttl_s; 0: none) the value expires that long after the
  /// write (put_request::ttl_s); a TTL out of range is ec::bad_request and nothing is written.
  caf::expected<write_reply> put(const bytes& key, const bytes& value, const bytes& context = {},
                                 uint32_t ttl_s = 0);
  /// Deletes what `context` covers; without one, reads the key and deletes exactly what that
  /// read returned (write_reply::removed says how many values; 0 and nothing written when the
  /// key is absent). `blind`: write the tombstone without reading (see delete_request).
  caf::expected<write_reply> remove(const bytes& key, const bytes& context = {},
                                    bool blind = false);
  caf::expected<cluster_status> status();
  /// Every member's own status, gathered by the connected node over the connections it holds
  /// (a member it cannot reach comes with its error): the figures behind kvsh's `status --all`,
  /// as HTTPS `GET /v1/status?scope=cluster` answers them.
  caf::expected<cluster_answers> cluster_view();
  /// Fault injection on the connected node ("drop"/"delay"/"heal"; see node_actor).
  caf::expected<std::string> fault(const std::string& action, const std::vector<std::string>& peers,
                                   uint32_t delay_ms);
  /// Membership change through the connected node ("join"/"leave"/"remove"; see node_actor):
  /// with apply false only what it would move.
  caf::expected<std::string> admin(const std::string& action, const std::string& subject,
                                   bool apply);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace actorkv
