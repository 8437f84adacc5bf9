// Where the HTTP server meets CAF: calls go to the store (the node's in-process client actor) on
// behalf of every connection, and each answer goes to the connection's callback. Asio threads
// only send messages, so they never wait on CAF; the callbacks run on CAF's threads and must only
// post work elsewhere.
//
// Calls travel in groups: the server hands over at once what its connections asked for in one
// turn of its event loop. Gets, puts and deletes go to the client actor in one message with their
// callbacks (ask_local, actors/client/client.hpp), which sends them to the coordinator as one
// batch and calls each callback with its answer: no message per call on the way in or out. The
// rest (batch gets, status, admin, fault) go through a small actor that asks the client actor
// with one CAF request each. Sent one by one, each would wake CAF's worker alone and travel in a
// batch of its own, which costs several times the CPU of a shared batch.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "actors/http/http_api.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
class error;
} // namespace caf

namespace actorkv {

/// One request of an HTTP connection for the store.
struct store_call {
  enum class kind : uint8_t { get, get_many, put, del, status, admin, fault, cluster_status };
  kind what = kind::get;
  bytes key;
  std::vector<bytes> keys; ///< get_many
  bytes value;             ///< put
  bytes context;           ///< put, del
  uint32_t ttl_s = 0;      ///< put: put_request::ttl_s
  admin_call admin;
  fault_call fault;

  bool is_write() const { return what == kind::put || what == kind::del; }
};

/// The store's answer (the field of the call's kind), or the failure its error became.
struct store_result {
  std::optional<http_failure> failure;
  get_reply get;
  std::vector<get_reply> gets;
  write_reply write;
  cluster_status status;
  cluster_answers cluster; ///< cluster_status
  std::string text; ///< admin, fault
};

/// Runs on a CAF thread, once per call, unless the bridge stopped first. Must not block.
using store_callback = std::function<void(store_result&&)>;

/// A call with the callback its result goes to.
struct store_request {
  store_call call;
  store_callback done;
};

class store_bridge {
public:
  /// Spawns the actor. Calls carry no deadline of their own: the client actor `store` answers
  /// each by its own timeout, and the server bounds each wait on its side as well.
  store_bridge(caf::actor_system& sys, client_actor store);
  ~store_bridge();
  store_bridge(const store_bridge&) = delete;
  store_bridge& operator=(const store_bridge&) = delete;

  /// Thread-safe and non-blocking: one message to the client actor for the gets, puts and deletes
  /// of `requests`, one to the bridge's actor for the rest.
  void ask(std::vector<store_request> requests) const;

  /// Stops the bridge's actor; its calls in flight are dropped with their callbacks, uncalled.
  /// Calls at the client actor are answered by it (or fail as `the store went away` when it
  /// stops first).
  void stop();

private:
  client_actor store_;
  caf::actor actor_;
};

/// The HTTP failure an error of the store becomes: actorkv codes by failure_for, CAF's request
/// timeout as ec::timeout, a store gone away as ec::unavailable, anything else 500.
http_failure failure_of(const caf::error& err, bool write);

} // namespace actorkv
