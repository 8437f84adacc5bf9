// Where the HTTP server meets CAF: one small actor asks the store on behalf of every connection
// and hands each answer to the connection's callback. Asio threads only send it a message, so
// they never wait on CAF; the callbacks run on CAF's threads and must only post work elsewhere.
//
// Calls travel in groups: the server hands over at once what its connections asked for in one
// turn of its event loop, the actor passes them on to the store in one go, and the store's client
// actor sends them to the coordinator as one batch. Sent one by one, each would wake CAF's worker
// alone and travel in a batch of its own, which costs several times the CPU of a shared batch.
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
  enum class kind : uint8_t { get, get_many, put, del, status, admin, fault };
  kind what = kind::get;
  bytes key;
  std::vector<bytes> keys; ///< get_many
  bytes value;             ///< put
  bytes context;           ///< put, del
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

  /// Thread-safe and non-blocking: one message to the actor for all of `requests`.
  void ask(std::vector<store_request> requests) const;

  /// Stops the actor; calls in flight are dropped with their callbacks, uncalled.
  void stop();

private:
  caf::actor actor_;
};

/// The HTTP failure an error of the store becomes: actorkv codes by failure_for, CAF's request
/// timeout as ec::timeout, a store gone away as ec::unavailable, anything else 500.
http_failure failure_of(const caf::error& err, bool write);

} // namespace actorkv
