#include "tools/kvbench/driver.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>

#include <caf/all.hpp>

#include "actors/client/client.hpp"
#include "messages/error.hpp"

namespace actorkv::bench {

namespace {

/// Private to kvbench: the main thread starts a phase on a worker.
using start_atom = caf::atom_constant<caf::atom("kvbstart")>;

/// A worker: started once per phase.
using worker_actor = caf::typed_actor<caf::reacts_to<start_atom, phase_kind>>;

struct worker_state {
  static inline const char* name = "kvbench_worker";
  client_actor client;
  const worker_config* cfg = nullptr; ///< owned by the pool, outlives the worker
  control* ctl = nullptr;             ///< owned by main, outlives the worker
  worker_output* out = nullptr;       ///< this worker's slot in the pool
  size_t slots = 0;                   ///< requests this worker keeps in flight
  std::mt19937_64 rng;
  std::optional<key_chooser> chooser;
  std::bernoulli_distribution read_op;
  bytes value;         ///< the value template; each write stamps its own counter into it
  uint64_t writes = 0; ///< writes sent so far, the stamp
  phase_kind phase = phase_kind::mix;
  size_t active = 0; ///< slots still running in this phase
  phase_result current;
};

using worker_ptr = worker_actor::stateful_pointer<worker_state>;

/// The kind under which an error is counted: the actorkv code's name, or CAF's for CAF errors
/// (e.g. request_timeout when even the client actor did not answer).
std::string error_kind(const caf::error& err) {
  if (err.category() == caf::atom("actorkv"))
    return to_string(static_cast<ec>(err.code()));
  if (err.category() == caf::atom("system"))
    return caf::to_string(static_cast<caf::sec>(err.code()));
  return caf::to_string(err.category()) + ":" + std::to_string(err.code());
}

uint64_t micros(clock_type::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

void issue(worker_ptr self);

/// The next value to write: the template with a fresh counter stamped in, so that no layer can
/// treat a write as a repeat.
bytes next_value(worker_state& st) {
  auto value = st.value;
  auto stamp = ++st.writes;
  std::memcpy(value.data(), &stamp, std::min(value.size(), sizeof(stamp)));
  return value;
}

void answered(worker_ptr self, op_kind op, clock_type::time_point sent, const get_reply* reply,
              const caf::error* error);

/// A read-modify-write cycle: get `key`, then put a new value with the context the get returned,
/// superseding exactly what it read (with siblings, concurrent cycles on one key leave siblings
/// that the next cycle's read and write resolve). Booked as one op_kind::rmw with the read's
/// values, once the write is answered.
void cycle(worker_ptr self, bytes key, clock_type::time_point sent) {
  auto& st = self->state;
  self->request(st.client, caf::infinite, caf::get_atom::value, key)
      .then(
          [=](get_reply& r) mutable {
            auto read = std::make_shared<get_reply>(std::move(r));
            put_request put{std::move(key), next_value(self->state), read->context};
            self->request(self->state.client, caf::infinite, caf::put_atom::value, std::move(put))
                .then(
                    [=](write_reply&) { answered(self, op_kind::rmw, sent, read.get(), nullptr); },
                    [=](caf::error& e) { answered(self, op_kind::rmw, sent, nullptr, &e); });
          },
          [=](caf::error& e) { answered(self, op_kind::rmw, sent, nullptr, &e); });
}

/// One slot has nothing more to send; the last one hands the phase's result to the main thread.
void slot_done(worker_ptr self) {
  auto& st = self->state;
  if (--st.active > 0)
    return;
  st.out->result = std::move(st.current);
  st.out->finished_at = clock_type::now();
  st.current = phase_result{};
  st.ctl->finished.fetch_add(1, std::memory_order_release);
}

/// Books one answer (`reply` for reads, `error` when it failed) and keeps the slot going.
void answered(worker_ptr self, op_kind op, clock_type::time_point sent, const get_reply* reply,
              const caf::error* error) {
  // Latency is what a user would see, so it is read from the steady clock, not the actor clock.
  auto now = clock_type::now();
  auto& st = self->state;
  auto& ctl = *st.ctl;
  ctl.answered.fetch_add(1, std::memory_order_relaxed);
  if (error)
    ctl.failed.fetch_add(1, std::memory_order_relaxed);
  bool count = ctl.measuring.load(std::memory_order_relaxed);
  if (count && ctl.ops_limit > 0) {
    auto n = ctl.counted.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n > ctl.ops_limit) {
      count = false;
    } else if (n == ctl.ops_limit) {
      ctl.limit_reached_ns.store(now.time_since_epoch().count());
      ctl.stopping.store(true);
    }
  }
  if (count) {
    auto& s = st.current.ops[static_cast<size_t>(op)];
    if (error) {
      auto kind = error_kind(*error);
      ++s.errors[kind];
      if (s.error_example.count(kind) == 0)
        s.error_example.emplace(kind, describe(*error));
    } else {
      ++s.ok;
      s.latency.record(micros(now - sent));
      if (reply && !reply->found)
        ++s.not_found;
      if (reply)
        s.values += reply->values.size();
      if (reply && reply->values.size() > 1)
        ++s.siblings;
    }
  }
  if (ctl.stopping.load(std::memory_order_relaxed))
    slot_done(self);
  else
    issue(self);
}

/// Sends the slot's next operation.
void issue(worker_ptr self) {
  auto& st = self->state;
  uint64_t index = 0;
  op_kind op = op_kind::insert;
  if (st.phase != phase_kind::mix) {
    index = st.ctl->next_key.fetch_add(1, std::memory_order_relaxed);
    if (index >= st.cfg->keys) {
      slot_done(self);
      return;
    }
    if (st.phase == phase_kind::delete_all)
      op = op_kind::remove;
  } else {
    index = st.chooser->next(st.rng);
    op = st.read_op(st.rng) ? op_kind::read : op_kind::update;
  }
  auto name = key_name(index);
  bytes key(name.begin(), name.end());
  auto sent = clock_type::now();
  if (st.phase == phase_kind::mix && st.cfg->workload == workload_kind::rmw)
    return cycle(self, std::move(key), sent);
  // No timeout here: the client actor bounds every request itself and answers ec::timeout, and
  // each CAF request timeout is one more message through the clock thread (see BENCHMARKS.md).
  auto guard = caf::infinite;
  if (op == op_kind::read) {
    self->request(st.client, guard, caf::get_atom::value, std::move(key))
        .then([=](get_reply& r) { answered(self, op, sent, &r, nullptr); },
              [=](caf::error& e) { answered(self, op, sent, nullptr, &e); });
    return;
  }
  if (op == op_kind::remove) {
    // Not blind: the client actor reads the key and deletes what it read, so that the key reads
    // as deleted with siblings too (a blind tombstone would only join them as one more sibling).
    self->request(st.client, guard, caf::delete_atom::value,
                  delete_request{std::move(key), bytes{}, false})
        .then([=](write_reply&) { answered(self, op, sent, nullptr, nullptr); },
              [=](caf::error& e) { answered(self, op, sent, nullptr, &e); });
    return;
  }
  auto value = next_value(st);
  // Updates are blind puts (no context), as YCSB's are; see BENCHMARKS.md for what that means
  // for a cluster that keeps siblings.
  self->request(st.client, guard, caf::put_atom::value,
                put_request{std::move(key), std::move(value), bytes{}})
      .then([=](write_reply&) { answered(self, op, sent, nullptr, nullptr); },
            [=](caf::error& e) { answered(self, op, sent, nullptr, &e); });
}

worker_actor::behavior_type worker(worker_ptr self, client_actor client, const worker_config* cfg,
                                   control* ctl, worker_output* out, size_t slots, uint64_t seed) {
  auto& st = self->state;
  st.client = client;
  st.cfg = cfg;
  st.ctl = ctl;
  st.out = out;
  st.slots = slots;
  st.rng.seed(seed);
  st.chooser.emplace(cfg->distribution, cfg->keys);
  st.read_op = std::bernoulli_distribution{read_fraction(cfg->workload)};
  st.value.resize(cfg->value_size);
  std::uniform_int_distribution<int> letter{'a', 'z'};
  for (auto& b : st.value)
    b = static_cast<uint8_t>(letter(st.rng));
  // The client actor lives exactly as long as its worker.
  self->link_to(client);
  return {
      [=](start_atom, phase_kind phase) {
        auto& st = self->state;
        st.phase = phase;
        st.current = phase_result{};
        st.active = st.slots;
        for (size_t i = 0; i < st.slots; ++i)
          issue(self);
      },
  };
}

} // namespace

void control::reset(uint64_t limit) {
  measuring = false;
  stopping = false;
  answered = 0;
  failed = 0;
  counted = 0;
  ops_limit = limit;
  next_key = 0;
  limit_reached_ns = 0;
  finished = 0;
}

struct worker_pool::impl {
  caf::actor_system& sys;
  worker_config cfg;
  std::chrono::milliseconds timeout;
  std::vector<client_actor> clients;
  std::vector<worker_actor> workers;
};

worker_pool::worker_pool(caf::actor_system& sys, const std::vector<std::string>& endpoints,
                         size_t actors, size_t slots, const worker_config& cfg, control& ctl,
                         uint64_t seed)
    : outputs_(actors), impl_(new impl{sys, cfg, cfg.timeout, {}, {}}) {
  for (size_t i = 0; i < actors; ++i) {
    // Client i tries endpoint i first: clients spread over the nodes, and so does the work of
    // coordinating their requests.
    auto eps = endpoints;
    std::rotate(eps.begin(), eps.begin() + static_cast<long>(i % eps.size()), eps.end());
    auto client = spawn_client(sys, client_options{eps, cfg.timeout});
    auto share = slots / actors + (i < slots % actors ? 1 : 0);
    std::seed_seq seq{seed, static_cast<uint64_t>(i)};
    std::mt19937_64 mix{seq};
    impl_->clients.push_back(client);
    impl_->workers.push_back(
        sys.spawn(worker, client, &impl_->cfg, &ctl, &outputs_[i], share, mix()));
  }
}

worker_pool::~worker_pool() {
  for (auto& w : impl_->workers)
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  // Workers point into this pool and into `control`: wait until none runs any more.
  caf::scoped_actor self{impl_->sys};
  self->wait_for(impl_->workers);
}

void worker_pool::start(phase_kind phase) {
  for (auto& w : impl_->workers)
    caf::anon_send(w, start_atom::value, phase);
}

bool worker_pool::probe(std::string& settings, size_t& members, std::string& error) {
  caf::scoped_actor self{impl_->sys};
  bool ok = false;
  self->request(impl_->clients.front(), impl_->timeout + std::chrono::seconds(2),
                status_atom::value)
      .receive(
          [&](cluster_status& st) {
            settings = st.settings;
            members = st.members.size();
            ok = true;
          },
          [&](caf::error& err) { error = describe(err); });
  return ok;
}

} // namespace actorkv::bench
