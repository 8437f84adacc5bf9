#include "actors/storage_actor.hpp"

#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actors/event_log.hpp"
#include "messages/dvv.hpp"
#include "messages/hex.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

/// The flush timer is private: callers only see storage_actor.
using storage_impl = storage_actor::extend<caf::reacts_to<caf::flush_atom>>;

struct storage_state {
  static inline const char* name = "storage";

  std::shared_ptr<storage::engine> engine;
  storage_options options;
  bool batch_open = false;
  size_t batch_writes = 0;
  /// Answers owed once the open batch commits (a failed commit fails them all).
  std::vector<std::pair<caf::typed_response_promise<record>, record>> pending_writes;
  std::vector<std::pair<caf::typed_response_promise<replica_read>, replica_read>> pending_reads;
};

using self_ptr = storage_impl::stateful_pointer<storage_state>;

/// Reads a record, treating a corrupt one as a distinct outcome for the caller to decide.
replica_read read_record(storage_state& st, partition_id p, const bytes& key) {
  replica_read out;
  auto rec = st.engine->get(p, key);
  if (!rec) {
    out.corrupt = rec.error() == ec::corrupt_record;
    log_event(st.options.node, "partition " + std::to_string(p) + " key " + to_hex(key) + ": "
                                 + describe(rec.error()) + "; treated as missing until repaired");
    return out;
  }
  if (*rec) {
    out.found = true;
    out.rec = std::move(**rec);
  }
  return out;
}

void finish_batch(self_ptr self) {
  auto& st = self->state;
  if (!st.batch_open)
    return;
  auto err = st.engine->commit();
  if (err)
    st.engine->rollback();
  st.batch_open = false;
  st.batch_writes = 0;
  for (auto& [rp, rec] : st.pending_writes) {
    if (err)
      rp.deliver(err);
    else
      rp.deliver(std::move(rec));
  }
  // Reads saw the batch's writes; if those were rolled back, the read result may be stale,
  // so a reader gets the error as well rather than data that was never durable.
  for (auto& [rp, rr] : st.pending_reads) {
    if (err)
      rp.deliver(err);
    else
      rp.deliver(std::move(rr));
  }
  st.pending_writes.clear();
  st.pending_reads.clear();
}

/// Ensures a batch is open; returns an error when the engine cannot begin one.
caf::error open_batch(self_ptr self) {
  auto& st = self->state;
  if (st.batch_open)
    return caf::none;
  if (auto err = st.engine->begin())
    return err;
  st.batch_open = true;
  // Everything already queued in the mailbox joins this batch; the flush comes after it.
  self->send(self, caf::flush_atom::value);
  return caf::none;
}

/// Stores `rec` inside the open batch and queues the answer for after the commit.
caf::result<record> store_in_batch(self_ptr self, partition_id p, const bytes& key,
                                   record rec) {
  auto& st = self->state;
  if (auto err = st.engine->put(p, key, rec))
    return err;
  auto rp = self->make_response_promise<record>();
  st.pending_writes.emplace_back(rp, std::move(rec));
  if (++st.batch_writes >= st.options.max_batch)
    finish_batch(self);
  return rp;
}

storage_impl::behavior_type storage_behavior(self_ptr self,
                                             std::shared_ptr<storage::engine> engine,
                                             storage_options options) {
  self->state.engine = std::move(engine);
  self->state.options = options;
  return {
    [=](read_atom, partition_id p, const bytes& key) -> caf::result<replica_read> {
      auto& st = self->state;
      auto rr = read_record(st, p, key);
      if (!st.batch_open)
        return rr;
      auto rp = self->make_response_promise<replica_read>();
      st.pending_reads.emplace_back(rp, std::move(rr));
      return rp;
    },
    [=](coord_atom, partition_id p, const write_op& op) -> caf::result<record> {
      auto& st = self->state;
      if (auto err = open_batch(self))
        return err;
      auto current = read_record(st, p, op.key);
      if (current.corrupt) {
        // The damaged record may hold this replica's highest counter for the key. Restart the
        // counter above any counter issued before (counters grow by one per write, far below a
        // microsecond clock), so the new dot can never collide with an old one.
        current.rec = record{};
        current.rec.context.entries.push_back(dot{st.options.self,
                                                  static_cast<uint64_t>(op.timestamp_us)});
      }
      std::optional<bytes> value;
      if (!op.tombstone)
        value = op.value;
      auto updated = dvv::update(current.rec, op.context, std::move(value), st.options.self,
                                 op.timestamp_us, st.options.conflicts);
      return store_in_batch(self, p, op.key, std::move(updated));
    },
    [=](merge_atom, partition_id p, const bytes& key, const record& incoming)
      -> caf::result<record> {
      auto& st = self->state;
      if (auto err = open_batch(self))
        return err;
      // A corrupt local record is replaced by the incoming one: that is the repair.
      auto current = read_record(st, p, key);
      auto merged = current.found ? dvv::merge(current.rec, incoming, st.options.conflicts)
                                  : incoming;
      if (current.found && merged == current.rec) {
        // Nothing new: no write needed, but answer after the batch like everything else.
        auto rp = self->make_response_promise<record>();
        st.pending_writes.emplace_back(rp, std::move(merged));
        return rp;
      }
      return store_in_batch(self, p, key, std::move(merged));
    },
    [=](caf::flush_atom) { finish_batch(self); },
  };
}

} // namespace

storage_actor spawn_storage(caf::actor_system& sys, std::shared_ptr<storage::engine> engine,
                            storage_options options) {
  return sys.spawn<caf::detached>(storage_behavior, std::move(engine), options);
}

} // namespace actorkv
