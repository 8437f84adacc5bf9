#include "actors/http/store_bridge.hpp"

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>

#include "actors/client/client.hpp"
#include "messages/error.hpp"

namespace actorkv::http_bridge {

/// Calls with their callbacks: never leave the process, so they need not be serializable.
struct store_jobs {
  std::vector<store_request> requests;
};

} // namespace actorkv::http_bridge

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorkv::http_bridge::store_jobs)

namespace actorkv {

namespace {

using http_bridge::store_jobs;

/// The continuation that puts a reply of type T into `field` of a result and hands it to `done`.
template <class T>
auto answer_into(std::shared_ptr<store_callback> done, T store_result::*field) {
  return [done, field](T& reply) {
    store_result r;
    r.*field = std::move(reply);
    (*done)(std::move(r));
  };
}

/// Asks the store one call; exactly one of the request's two continuations runs `done`.
void ask_store(caf::event_based_actor* self, const client_actor& store, store_call& call,
               store_callback&& job_done) {
  // No timeout here: CAF would register one with its clock thread per call, while the client
  // actor answers every call by its own deadline anyway.
  const auto timeout = caf::infinite;
  auto done = std::make_shared<store_callback>(std::move(job_done));
  auto failed = [done, write = call.is_write()](caf::error& err) {
    store_result r;
    r.failure = failure_of(err, write);
    (*done)(std::move(r));
  };
  switch (call.what) {
  case store_call::kind::get:
    self->request(store, timeout, caf::get_atom::value, std::move(call.key))
        .then(answer_into(done, &store_result::get), failed);
    break;
  case store_call::kind::get_many:
    self->request(store, timeout, caf::get_atom::value, std::move(call.keys))
        .then(answer_into(done, &store_result::gets), failed);
    break;
  case store_call::kind::put:
    self->request(store, timeout, caf::put_atom::value,
                  put_request{std::move(call.key), std::move(call.value), std::move(call.context),
                              call.ttl_s})
        .then(answer_into(done, &store_result::write), failed);
    break;
  case store_call::kind::del:
    self->request(store, timeout, caf::delete_atom::value,
                  delete_request{std::move(call.key), std::move(call.context)})
        .then(answer_into(done, &store_result::write), failed);
    break;
  case store_call::kind::status:
    self->request(store, timeout, status_atom::value)
        .then(answer_into(done, &store_result::status), failed);
    break;
  case store_call::kind::cluster_status:
    self->request(store, timeout, status_atom::value, cluster_atom::value)
        .then(answer_into(done, &store_result::cluster), failed);
    break;
  case store_call::kind::admin:
    self->request(store, timeout, admin_atom::value, call.admin.action, call.admin.subject,
                  call.admin.apply)
        .then(answer_into(done, &store_result::text), failed);
    break;
  case store_call::kind::fault:
    self->request(store, timeout, fault_atom::value, call.fault.action, call.fault.peers,
                  call.fault.delay_ms)
        .then(answer_into(done, &store_result::text), failed);
    break;
  }
}

caf::behavior bridge(caf::event_based_actor* self, client_actor store) {
  return {
      // All in one run of this actor, so that they reach the client actor's mailbox together and
      // leave it in one batch.
      [=](store_jobs& jobs) {
        for (auto& job : jobs.requests)
          ask_store(self, store, job.call, std::move(job.done));
      },
  };
}

/// Calls `done` once: with the client actor's answer, or, when the actor dropped the call uncalled
/// (it stopped), with the failure the bridge's request would have got then.
class answer_once {
public:
  answer_once(store_callback done, bool write) : done_(std::move(done)), write_(write) {}
  answer_once(const answer_once&) = delete;
  answer_once& operator=(const answer_once&) = delete;
  ~answer_once() {
    if (done_)
      fail(caf::make_error(caf::sec::request_receiver_down));
  }

  void fail(const caf::error& err) {
    store_result r;
    r.failure = failure_of(err, write_);
    answer(std::move(r));
  }

  void answer(store_result&& r) {
    auto done = std::move(done_);
    done_ = nullptr;
    if (done)
      done(std::move(r));
  }

private:
  store_callback done_;
  bool write_;
};

/// The client actor's form of a get, put or delete, with `done` as the taker of its answer.
local_call local_call_of(store_request& request) {
  auto& c = request.call;
  local_call out;
  out.call.key = std::move(c.key);
  switch (c.what) {
  case store_call::kind::get:
    out.call.kind = client_call_kind::get;
    break;
  case store_call::kind::put:
    out.call.kind = client_call_kind::put;
    out.call.value = std::move(c.value);
    out.call.context = std::move(c.context);
    out.call.ttl_s = c.ttl_s;
    break;
  default: // del (local_call_of is asked for nothing else)
    out.call.kind = client_call_kind::del;
    out.call.context = std::move(c.context);
    break;
  }
  auto once = std::make_shared<answer_once>(std::move(request.done), c.is_write());
  out.done = [once, get = c.what == store_call::kind::get](client_answer& a) {
    if (a.err)
      return once->fail(a.err);
    store_result r;
    if (get)
      r.get = std::move(a.get);
    else
      r.write = a.write;
    once->answer(std::move(r));
  };
  return out;
}

bool is_data_call(const store_call& c) {
  return c.what == store_call::kind::get || c.what == store_call::kind::put ||
         c.what == store_call::kind::del;
}

} // namespace

store_bridge::store_bridge(caf::actor_system& sys, client_actor store)
    : store_(store), actor_(sys.spawn(bridge, std::move(store))) {}

store_bridge::~store_bridge() {
  stop();
}

void store_bridge::ask(std::vector<store_request> requests) const {
  std::vector<local_call> data;
  std::vector<store_request> rest;
  for (auto& r : requests) {
    if (is_data_call(r.call))
      data.push_back(local_call_of(r));
    else
      rest.push_back(std::move(r));
  }
  if (!data.empty())
    ask_local(store_, std::move(data));
  if (!rest.empty())
    caf::anon_send(actor_, store_jobs{std::move(rest)});
}

void store_bridge::stop() {
  if (actor_)
    caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
}

http_failure failure_of(const caf::error& err, bool write) {
  if (err.category() == caf::atom("actorkv")) {
    std::string message;
    const auto& ctx = err.context();
    if (ctx.match_elements<std::string>())
      message = ctx.get_as<std::string>(0);
    return failure_for(static_cast<ec>(err.code()), std::move(message), write);
  }
  if (err.category() == caf::atom("system")) {
    auto code = static_cast<caf::sec>(err.code());
    if (code == caf::sec::request_timeout)
      return failure_for(ec::timeout, "the store did not answer in time", write);
    if (code == caf::sec::request_receiver_down)
      return failure_for(ec::unavailable, "the store went away", write);
  }
  return make_failure(500, "internal_error", caf::to_string(err));
}

} // namespace actorkv
