// Deterministic simulation: three replicas (storage over the in-memory engine behind a replica
// gateway, which coordinators reach as they reach other nodes') and many concurrent coordinators
// in one actor system on CAF's test coordinator. A seeded schedule picks which actor runs next
// (every interleaving of messages is possible), which replicas each request can reach (dropped
// links), and when a replica crashes (its storage and gateway die: requests to them fail, or time
// out; the engine keeps only what was committed, as a disk would). Invariants after
// healing: every acknowledged write is read back, nothing never written appears, and read repair
// leaves all replicas with the same record. The seed is printed; ACTORKV_SEED=N replays a run.
#include <boost/test/unit_test.hpp>

#include <functional>
#include <map>
#include <random>
#include <set>

#include <caf/all.hpp>

#include "actors/node/coordinator.hpp"
#include "actors/node/replica_gateway.hpp"
#include "actors/node/storage_actor.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "messages/register_types.hpp"
#include "storage/engine.hpp"

using namespace actorkv;
using namespace std::chrono_literals;

namespace {

struct simulation {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  caf::scheduler::test_coordinator& sched;
  std::mt19937 rng;
  std::vector<std::shared_ptr<storage::engine>> disks;
  std::vector<storage_actor> stores;
  std::vector<local_gateway_actor> gateways; ///< how coordinators reach each replica
  std::vector<coordinator_actor> coordinators;

  static caf::actor_system_config& init(caf::actor_system_config& c) {
    register_types(c);
    c.set("scheduler.policy", caf::atom("testing"));
    c.set("logger.verbosity", caf::atom("quiet"));
    return c;
  }

  explicit simulation(unsigned seed)
      : sys(init(cfg)), self(sys, true),
        sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())), rng(seed) {
    for (replica_id id = 1; id <= 3; ++id) {
      disks.push_back(std::shared_ptr<storage::engine>{storage::make_memory_engine()});
      stores.emplace_back();
      gateways.emplace_back();
      start_replica(id - 1);
    }
  }

  void start_replica(size_t i) {
    storage_options opts{"n" + std::to_string(i + 1), i + 1, conflict_mode::siblings};
    opts.partitions = 1;
    opts.detached = false;
    opts.max_batch = 4;
    opts.seed = rng();
    stores[i] = spawn_storage(sys, disks[i], opts);
    gateways[i] = spawn_replica_gateway(sys, stores[i]);
  }

  /// A crash: the replica's actors die with whatever was not committed; a restart reopens its
  /// disk, which keeps exactly the committed writes.
  void crash_and_restart(size_t i) {
    caf::anon_send_exit(gateways[i], caf::exit_reason::kill);
    caf::anon_send_exit(stores[i], caf::exit_reason::kill);
    run_all();
    disks[i]->rollback();
    start_replica(i);
  }

  coordinator_actor coordinator(const std::vector<size_t>& reachable) {
    coordination_plan plan;
    for (auto i : reachable)
      plan.replicas.push_back({"n" + std::to_string(i + 1), {}, {}, gateways[i]});
    plan.replicas_total = 3;
    plan.read_quorum = 2;
    plan.write_quorum = 2;
    routes one_partition; // every key has this plan
    one_partition.plans.push_back(std::move(plan));
    coordinators.push_back(
        spawn_coordinator(sys, coordinator_options{std::move(one_partition), 500ms}));
    return coordinators.back();
  }

  /// A random subset of the replicas (the others are cut off for this request).
  std::vector<size_t> reachable() {
    std::vector<size_t> out;
    for (size_t i = 0; i < 3; ++i)
      if (rng() % 5 != 0)
        out.push_back(i);
    std::shuffle(out.begin(), out.end(), rng);
    return out;
  }

  /// Runs one job, chosen at random among those ready: any interleaving of messages.
  bool step() {
    if (!sched.has_job())
      return false;
    auto pick = rng() % sched.jobs.size();
    std::rotate(sched.jobs.begin(), sched.jobs.begin() + static_cast<std::ptrdiff_t>(pick),
                sched.jobs.begin() + static_cast<std::ptrdiff_t>(pick) + 1);
    sched.run_once();
    return true;
  }

  /// Every client answer waiting in the test's mailbox (it holds nothing else).
  std::vector<client_answer> answers() {
    std::vector<client_answer> out;
    for (bool more = true; more;)
      self->receive(
          [&](batch_atom, std::vector<client_answer>& batch) {
            for (auto& a : batch)
              out.push_back(std::move(a));
          },
          caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    return out;
  }

  void run_all() {
    for (;;) {
      while (step()) {
      }
      if (!sched.has_pending_timeout())
        return;
      sched.trigger_timeouts();
    }
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(simulation_suite)

BOOST_AUTO_TEST_CASE(acknowledged_writes_survive_reordering_drops_and_crashes) {
  unsigned seed = std::random_device{}();
  if (auto* env = std::getenv("ACTORKV_SEED"))
    seed = static_cast<unsigned>(std::stoul(env));
  BOOST_TEST_MESSAGE("simulation seed " << seed << " (ACTORKV_SEED=" << seed << " replays it)");
  for (int run = 0; run < 20; ++run) {
    simulation sim{seed + static_cast<unsigned>(run)};
    std::map<std::string, std::set<std::string>> acked, attempted;     // key -> values
    std::map<uint64_t, std::pair<std::string, std::string>> in_flight; // call id -> key, value
    size_t ops = 0, ok = 0;
    for (int round = 0; round < 15; ++round) {
      // A burst of concurrent puts without context (each must survive as a sibling).
      for (int k = 0; k < 6; ++k) {
        auto key = "k" + std::to_string(sim.rng() % 4);
        auto value = "r" + std::to_string(run) + "-" + std::to_string(ops++);
        attempted[key].insert(value);
        client_call put{ops,
                        client_call_kind::put,
                        bytes(key.begin(), key.end()),
                        bytes(value.begin(), value.end()),
                        {}};
        in_flight.emplace(ops, std::make_pair(key, value));
        sim.self->send(sim.coordinator(sim.reachable()), batch_atom::value,
                       std::vector<client_call>{std::move(put)});
      }
      // Interleave: some steps, sometimes a crash, then let everything settle.
      for (int s = 0; s < 40; ++s)
        sim.step();
      if (sim.rng() % 4 == 0)
        sim.crash_and_restart(sim.rng() % 3);
      sim.run_all();
      for (auto& a : sim.answers()) {
        auto it = in_flight.find(a.id);
        BOOST_REQUIRE_MESSAGE(it != in_flight.end(),
                              "seed " << seed + run << ": answer " << a.id << " twice or unasked");
        if (!a.err) {
          acked[it->second.first].insert(it->second.second);
          ++ok;
        }
        in_flight.erase(it);
      }
      BOOST_REQUIRE_MESSAGE(in_flight.empty(), "seed " << seed + run << ": " << in_flight.size()
                                                       << " puts unanswered");
    }
    BOOST_TEST_MESSAGE("run " << run << ": " << ops << " puts, " << ok << " acknowledged");
    BOOST_TEST(ok > 0u);
    // Heal: read every key with all replicas reachable; read repair runs; read again.
    for (auto& [key, values] : attempted) {
      get_reply first, second;
      for (auto* out : {&first, &second}) {
        sim.self->send(sim.coordinator({0, 1, 2}), batch_atom::value,
                       std::vector<client_call>{client_call{
                           0, client_call_kind::get, bytes(key.begin(), key.end()), {}, {}}});
        sim.run_all();
        auto got = sim.answers();
        if (got.size() != 1)
          BOOST_ERROR("seed " << seed + run << ": " << got.size() << " answers to one get");
        else if (got[0].err)
          BOOST_ERROR("seed " << seed + run << ": " << describe(got[0].err));
        else
          *out = std::move(got[0].get);
      }
      std::set<std::string> seen;
      for (auto& v : second.values)
        seen.emplace(v.begin(), v.end());
      for (auto& v : seen)
        BOOST_TEST(values.count(v) == 1u, "seed " << seed + run << ": " << v << " never written");
      for (auto& v : acked[key])
        BOOST_TEST(seen.count(v) == 1u,
                   "seed " << seed + run << ": acknowledged " << v << " of " << key << " lost");
      // All three replicas hold the same record after the repair.
      std::vector<replica_read> copies(3);
      for (size_t i = 0; i < 3; ++i) {
        sim.self->send(sim.stores[i], read_atom::value, partition_id{0},
                       bytes(key.begin(), key.end()));
        sim.run_all();
        sim.self->receive([&](replica_read& rr) { copies[i] = std::move(rr); },
                          caf::after(std::chrono::seconds(0)) >> [&] {});
      }
      BOOST_TEST((copies[0].rec == copies[1].rec && copies[1].rec == copies[2].rec),
                 "seed " << seed + run << ": replicas of " << key << " disagree");
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
