// The client message inspection of the frame guard (actors/guard/basp_message.hpp) and the
// checker's client rules built on it (basp_frame.hpp): payloads captured from real CAF 0.17.6
// processes (captured_messages.hpp) and CAF's own serialisation of the same messages. Each client
// signature passes to its actor only; exit, link and unlink messages, forwarding stacks, other
// types and atoms, responses and stream message ids are refused; truncated, garbage and random
// payloads are refused without a crash and with no more memory than the bound.
#include "actors/guard/basp_message.hpp"

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>
#include <caf/binary_serializer.hpp>

#include "actors/guard/basp_frame.hpp"
#include "messages/interfaces.hpp"
#include "messages/register_types.hpp"
#include "tests/actors/guard/allocation_count.hpp"
#include "tests/actors/guard/captured_messages.hpp"
#include "tests/actors/guard/guard_test_support.hpp"

using namespace actorkv;
using guard_test::captured_message;
using wire = std::vector<uint8_t>;

namespace {

/// The inspection of a whole payload as the checker makes it: its first client_message_prefix
/// bytes at most.
client_message inspect(client_interface to, const wire& payload) {
  auto n = std::min(payload.size(), client_message_prefix);
  return inspect_client_message(to, payload.data(), n, payload.size());
}

client_message inspect(client_interface to, const captured_message& m) {
  return inspect(to, m.bytes());
}

/// A direct message frame to `dst` from actor 5 with `payload`.
wire direct(uint64_t dst, uint64_t operation_data, const wire& payload) {
  auto f = guard_test::frame(2, static_cast<uint32_t>(payload.size()), dst, false, 5);
  for (int i = 0; i < 8; ++i)
    f[8 + static_cast<size_t>(i)] = static_cast<uint8_t>(operation_data >> (8 * (7 - i)));
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

wire direct(uint64_t dst, const captured_message& m) {
  return direct(dst, m.operation_data, m.bytes());
}

constexpr uint64_t node_id = 7;
constexpr uint64_t coordinator_id = 6;
constexpr uint32_t limit = 4u << 20;

/// A checker under client rules past the captured client handshake.
std::unique_ptr<basp_frame_checker> client_checker(const basp_rules& rules) {
  auto c = std::make_unique<basp_frame_checker>(limit, &rules);
  auto& h = guard_test::captured_client_handshake;
  BOOST_REQUIRE(c->feed(h.data(), h.size()));
  return c;
}

unsigned test_seed() {
  unsigned seed = std::random_device{}();
  if (const char* env = std::getenv("ACTORKV_SEED"))
    seed = static_cast<unsigned>(std::stoul(env));
  BOOST_TEST_MESSAGE("seed " << seed << " (ACTORKV_SEED replays it)");
  return seed;
}

/// An actor system with actorkv's types, for CAF's own serialisation of messages.
struct caf_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  caf_fixture() {
    register_types(cfg);
    cfg.set("scheduler.max-threads", 1);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  /// What basp::instance writes as a direct message's payload: sink(stages, msg).
  wire payload(const caf::message& msg) {
    std::vector<char> buf;
    caf::binary_serializer sink{*sys, buf};
    std::vector<caf::strong_actor_ptr> stages;
    auto copy = msg;
    BOOST_REQUIRE(!sink(stages, copy));
    return wire(buf.begin(), buf.end());
  }
};

const std::vector<const captured_message*> node_messages{
    &guard_test::session_request, &guard_test::status_request, &guard_test::cluster_status_request,
    &guard_test::fault_request, &guard_test::admin_request};

const std::vector<const captured_message*> coordinator_messages{
    &guard_test::put_batch, &guard_test::get_batch, &guard_test::get_many_batch,
    &guard_test::delete_batch};

const std::vector<const captured_message*> never_allowed{
    &guard_test::exit_kill,       &guard_test::exit_user_shutdown, &guard_test::link_message,
    &guard_test::unlink_message,  &guard_test::status_with_stages, &guard_test::int_message,
    &guard_test::sys_info_direct, &guard_test::ping_message,       &guard_test::empty_message};

} // namespace

BOOST_AUTO_TEST_SUITE(basp_message)

BOOST_AUTO_TEST_CASE(atoms_are_cafs) {
  for (auto* text : {"session", "status", "fault", "admin", "batch", "ok", "sys", "get", "exit",
                     "link", "unlink", "ping", "", "0123456789", "A_z"}) {
    BOOST_TEST_CONTEXT(text) {
      BOOST_TEST(caf_atom(text) == static_cast<uint64_t>(caf::atom_from_string(text)));
      BOOST_TEST(caf_atom_text(caf_atom(text)) == caf::to_string(caf::atom_from_string(text)));
    }
  }
  BOOST_TEST(caf_atom("session") == static_cast<uint64_t>(session_atom::uint_value()));
  BOOST_TEST(caf_atom("batch") == static_cast<uint64_t>(batch_atom::uint_value()));
  BOOST_TEST(caf_atom("ok") == static_cast<uint64_t>(caf::ok_atom::uint_value()));
  BOOST_TEST(caf_atom_text(0) == "?");
}

BOOST_FIXTURE_TEST_CASE(the_captured_payloads_are_what_caf_writes, caf_fixture) {
  // The layout basp_message.hpp describes, from CAF's own serializer: the captured client's
  // messages are exactly these.
  std::vector<client_call> put{{1, client_call_kind::put, {'k'}, {'v', 'v'}, {}}};
  std::vector<std::pair<const captured_message*, caf::message>> cases{
      {&guard_test::session_request, caf::make_message(session_atom::value)},
      {&guard_test::status_request, caf::make_message(status_atom::value)},
      {&guard_test::cluster_status_request,
       caf::make_message(status_atom::value, cluster_atom::value)},
      {&guard_test::fault_request, caf::make_message(fault_atom::value, std::string{"heal"},
                                                     std::vector<std::string>{}, uint32_t{0})},
      {&guard_test::admin_request,
       caf::make_message(admin_atom::value, std::string{"leave"}, std::string{"n1"}, false)},
      {&guard_test::put_batch, caf::make_message(batch_atom::value, put)},
      {&guard_test::int_message, caf::make_message(int32_t{42})},
      {&guard_test::ping_message, caf::make_message(caf::ping_atom::value)},
      {&guard_test::sys_info_direct,
       caf::make_message(caf::sys_atom::value, caf::get_atom::value, std::string{"info"})},
      {&guard_test::empty_message, caf::message{}},
  };
  for (auto& [captured, msg] : cases)
    BOOST_TEST_CONTEXT(captured->name) {
      BOOST_TEST(payload(msg) == captured->bytes());
    }
  // An exit message: its type names and the kill reason as captured (the source differs).
  auto exit = payload(caf::make_message(caf::exit_msg{{}, caf::exit_reason::kill}));
  auto kill = guard_test::exit_kill.bytes();
  BOOST_TEST(wire(exit.begin(), exit.begin() + 13) == wire(kill.begin(), kill.begin() + 13));
  BOOST_TEST(wire(exit.end() - 15, exit.end()) == wire(kill.end() - 15, kill.end()));
  // The spawn server answer's fixed part (before the client's node id).
  auto answer = payload(caf::make_message(caf::ok_atom::value, std::string{"info"},
                                          caf::strong_actor_ptr{}, std::string{"x"}));
  auto captured = guard_test::spawn_server_answer.bytes();
  BOOST_TEST(wire(answer.begin(), answer.begin() + 54) ==
             wire(captured.begin(), captured.begin() + 54));
}

BOOST_AUTO_TEST_CASE(each_client_signature_passes_to_its_actor_only) {
  for (auto* m : node_messages)
    BOOST_TEST_CONTEXT(m->name) {
      BOOST_TEST(inspect(client_interface::node, *m).verdict == client_message::allowed);
      BOOST_TEST(inspect(client_interface::coordinator, *m).verdict != client_message::allowed);
      BOOST_TEST(inspect(client_interface::spawn_reply, *m).verdict != client_message::allowed);
    }
  for (auto* m : coordinator_messages)
    BOOST_TEST_CONTEXT(m->name) {
      BOOST_TEST(inspect(client_interface::coordinator, *m).verdict == client_message::allowed);
      BOOST_TEST(inspect(client_interface::node, *m).verdict != client_message::allowed);
    }
  auto& answer = guard_test::spawn_server_answer;
  BOOST_TEST(inspect(client_interface::spawn_reply, answer).verdict == client_message::allowed);
  BOOST_TEST(inspect(client_interface::node, answer).verdict != client_message::allowed);
  // What gets refused is named for the log.
  auto wrong = inspect(client_interface::coordinator, guard_test::status_request);
  BOOST_TEST(wrong.verdict == client_message::forbidden);
  BOOST_TEST(wrong.what == "(@atom 'status')");
  BOOST_TEST(inspect(client_interface::node, guard_test::put_batch).what ==
             "(@atom 'batch', std::vector<actorkv::client_call>)");
}

BOOST_FIXTURE_TEST_CASE(the_other_name_of_a_batch_passes_and_values_are_not_read, caf_fixture) {
  // The vector's registered name, as a client whose registration put it first would write it.
  auto captured = guard_test::put_batch.bytes();
  std::string names = "@<>+@atom+actorkv::client_call_vector";
  wire other{0x00, 0x00, 0x00, static_cast<uint8_t>(names.size())};
  other.insert(other.end(), names.begin(), names.end());
  other.insert(other.end(), captured.begin() + 4 + 43, captured.end());
  BOOST_TEST(inspect(client_interface::coordinator, other).verdict == client_message::allowed);
  // A batch carrying a large value: only its first bytes are read.
  std::vector<client_call> put{{1, client_call_kind::put, {'k'}, wire(3u << 20, 0xAB), {}}};
  auto big = payload(caf::make_message(batch_atom::value, put));
  BOOST_TEST(big.size() > (3u << 20));
  auto seen = inspect_client_message(client_interface::coordinator, big.data(),
                                     client_message_prefix, big.size());
  BOOST_TEST(seen.verdict == client_message::allowed);
}

BOOST_AUTO_TEST_CASE(exit_link_stages_and_other_types_are_refused) {
  struct expectation {
    const captured_message* m;
    client_message::verdict_type verdict;
    std::string what;
  };
  std::vector<expectation> cases{
      {&guard_test::exit_kill, client_message::forbidden, "(@exit)"},
      {&guard_test::exit_user_shutdown, client_message::forbidden, "(@exit)"},
      {&guard_test::link_message, client_message::forbidden, "(@atom 'link', @strong_actor_ptr)"},
      {&guard_test::unlink_message, client_message::forbidden,
       "(@atom 'unlink', @strong_actor_ptr)"},
      {&guard_test::status_with_stages, client_message::stages, "a forwarding stack (stages)"},
      {&guard_test::int_message, client_message::forbidden, "(@i32)"},
      {&guard_test::sys_info_direct, client_message::forbidden, "(@atom 'sys', @atom, @str)"},
      {&guard_test::ping_message, client_message::forbidden, "(@atom 'ping')"},
      {&guard_test::empty_message, client_message::forbidden, "()"},
  };
  BOOST_REQUIRE_EQUAL(cases.size(), never_allowed.size());
  for (auto& e : cases)
    for (auto to :
         {client_interface::node, client_interface::coordinator, client_interface::spawn_reply})
      BOOST_TEST_CONTEXT(e.m->name << " to interface " << static_cast<int>(to)) {
        auto r = inspect(to, *e.m);
        BOOST_TEST(r.verdict == e.verdict);
        BOOST_TEST(r.what == e.what);
      }
}

BOOST_AUTO_TEST_CASE(the_right_types_with_another_atom_are_refused) {
  auto status = guard_test::status_request.bytes();
  auto stop = status;
  uint64_t x = caf_atom("stop");
  for (int i = 0; i < 8; ++i)
    stop[13 + static_cast<size_t>(i)] = static_cast<uint8_t>(x >> (8 * (7 - i)));
  auto r = inspect(client_interface::node, stop);
  BOOST_TEST(r.verdict == client_message::forbidden);
  BOOST_TEST(r.what == "(@atom 'stop')");
  // (admin) types with the fault atom, a spawn server answer with another key than "info".
  auto admin = guard_test::admin_request.bytes();
  auto fault = guard_test::fault_request.bytes();
  std::copy(fault.begin() + 4 + 27, fault.begin() + 4 + 27 + 8, admin.begin() + 4 + 24);
  BOOST_TEST(inspect(client_interface::node, admin).what == "(@atom 'fault', @str, @str, bool)");
  BOOST_TEST(inspect(client_interface::node, admin).verdict == client_message::forbidden);
  auto answer = guard_test::spawn_server_answer.bytes();
  answer[4 + 37 + 8 + 1] = 'I';
  BOOST_TEST(inspect(client_interface::spawn_reply, answer).verdict == client_message::forbidden);
  // One-atom messages are exactly 21 bytes.
  status.push_back(0);
  r = inspect(client_interface::node, status);
  BOOST_TEST(r.verdict == client_message::malformed);
  BOOST_TEST(r.what == "bytes after a message's last value");
}

BOOST_AUTO_TEST_CASE(truncated_and_malformed_payloads_are_refused) {
  // Every proper prefix of every allowed payload, taken as the whole payload.
  std::vector<std::pair<client_interface, const captured_message*>> allowed;
  for (auto* m : node_messages)
    allowed.emplace_back(client_interface::node, m);
  for (auto* m : coordinator_messages)
    allowed.emplace_back(client_interface::coordinator, m);
  allowed.emplace_back(client_interface::spawn_reply, &guard_test::spawn_server_answer);
  for (auto& [to, m] : allowed) {
    auto bytes = m->bytes();
    // Those whose values the prefix does not cover pass once the checked part is there.
    size_t checked = to == client_interface::spawn_reply ? 4 + 37 + 8 + 5 : 0;
    if (to == client_interface::coordinator)
      checked = 4 + 43 + 8;
    if (m == &guard_test::fault_request)
      checked = 4 + 27 + 8;
    if (m == &guard_test::admin_request)
      checked = 4 + 24 + 8;
    for (size_t n = 0; n < bytes.size(); ++n) {
      auto r = inspect_client_message(to, bytes.data(), std::min(n, client_message_prefix), n);
      if (checked != 0 && n >= checked)
        continue;
      BOOST_TEST_CONTEXT(m->name << " cut to " << n) {
        BOOST_TEST(r.verdict != client_message::allowed);
      }
    }
  }
  struct bad_case {
    wire payload;
    client_message::verdict_type verdict;
    std::string what;
  };
  std::string names = "@<>+" + std::string(96, 'x');
  wire long_names{0x00, 0x00, 0x00, 100};
  long_names.insert(long_names.end(), names.begin(), names.end());
  std::vector<bad_case> cases{
      {{}, client_message::malformed, "an empty payload"},
      {{0x00, 0x00}, client_message::malformed, "a payload truncated before its type names"},
      {{0x80, 0x00, 0x00, 0x00}, client_message::stages, "a forwarding stack (stages)"},
      {{0x00, 0x00, 0x2a, 0x00}, client_message::malformed, "a type number instead of type names"},
      {{0x00, 0x00, 0x00, 0x81, 0x01},
       client_message::malformed,
       "type names of 128 bytes or more"},
      {{0x00, 0x00, 0x00, 0x09, '@', '<', '>'},
       client_message::malformed,
       "a payload truncated in its type names"},
      {{0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c'},
       client_message::malformed,
       "type names not starting with @<>"},
      {{0x00, 0x00, 0x00, 0x05, '@', '<', '>', '+', 0x01}, client_message::forbidden, "(?)"},
      {long_names, client_message::forbidden, "(" + std::string(56, 'x') + "...)"},
  };
  for (auto& c : cases)
    BOOST_TEST_CONTEXT(c.what) {
      auto r = inspect(client_interface::node, c.payload);
      BOOST_TEST(r.verdict == c.verdict);
      BOOST_TEST(r.what == c.what);
    }
}

BOOST_AUTO_TEST_CASE(random_payloads_never_pass_crash_or_allocate_beyond_the_bound) {
  std::mt19937 rng{test_seed()};
  std::vector<wire> seeds;
  for (auto* list : {&node_messages, &coordinator_messages, &never_allowed})
    for (auto* m : *list)
      seeds.push_back(m->bytes());
  size_t most = 0;
  size_t allowed = 0;
  for (int round = 0; round < 20000; ++round) {
    wire p;
    if (round % 2 == 0) { // random bytes
      p.resize(rng() % 100);
      for (auto& b : p)
        b = static_cast<uint8_t>(rng());
      if (!p.empty() && rng() % 2)
        p[0] = 0; // past the stages more often
    } else {      // a captured payload with a few bytes changed, maybe cut
      p = seeds[rng() % seeds.size()];
      for (int k = 0, flips = 1 + static_cast<int>(rng() % 3); k < flips; ++k)
        p[rng() % p.size()] = static_cast<uint8_t>(rng());
      if (rng() % 4 == 0)
        p.resize(rng() % (p.size() + 1));
    }
    size_t payload_len = p.size();
    if (p.size() >= client_message_prefix && rng() % 4 == 0)
      payload_len += rng() % 100000; // only the prefix is given
    auto to = static_cast<client_interface>(rng() % 3);
    guard_test::allocation_count::start();
    auto r = inspect_client_message(to, p.data(), std::min(p.size(), client_message_prefix),
                                    payload_len);
    most = std::max(most, guard_test::allocation_count::stop());
    BOOST_REQUIRE(r.what.size() <= 256);
    if (r.verdict == client_message::allowed) {
      ++allowed; // only a change after the checked prefix, e.g. in a string's characters
      BOOST_REQUIRE(p[0] == 0);
    }
  }
  BOOST_TEST_MESSAGE("at most " << most << " bytes allocated per inspection; " << allowed
                                << " mutated payloads still allowed");
  BOOST_TEST(most <= 1024u);
}

// -- the checker's client rules ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_clients_captured_session_passes_however_split) {
  basp_rules rules{true, true, node_id, coordinator_id};
  auto s = guard_test::concat(
      {guard_test::captured_client_handshake, direct(node_id, guard_test::session_request),
       direct(node_id, guard_test::status_request), direct(coordinator_id, guard_test::put_batch),
       direct(coordinator_id, guard_test::get_many_batch),
       direct(node_id, guard_test::fault_request), direct(node_id, guard_test::admin_request),
       guard_test::frame(6, 0, 0)});
  std::mt19937 rng{test_seed()};
  for (int round = 0; round < 50; ++round) {
    basp_frame_checker c{limit, &rules};
    size_t at = 0;
    bool all = true;
    while (at < s.size()) {
      auto n = std::min<size_t>(s.size() - at, round == 0 ? 1 : 1 + rng() % 80);
      all = c.feed(s.data() + at, n) && all;
      at += n;
    }
    BOOST_TEST(all, c.describe());
    BOOST_TEST(c.frames() == 8u);
  }
}

BOOST_AUTO_TEST_CASE(a_kill_is_refused_before_caf_has_all_of_it) {
  basp_rules rules{true, true, node_id, coordinator_id};
  for (auto* m : never_allowed) {
    BOOST_TEST_CONTEXT(m->name) {
      auto f = direct(node_id, *m);
      auto c = client_checker(rules);
      // Byte by byte: the byte that completes what is read is refused, and it comes before the
      // payload's last byte or is that byte.
      size_t accepted = 0;
      while (accepted < f.size() && c->feed(&f[accepted], 1))
        ++accepted;
      BOOST_TEST(accepted < f.size());
      BOOST_TEST((c->problem() == frame_problem::forbidden_message));
      BOOST_TEST(c->describe().rfind("a client may not send actor 7 a ", 0) == 0u, c->describe());
    }
  }
  auto c = client_checker(rules);
  auto kill = direct(node_id, guard_test::exit_kill);
  BOOST_TEST(!c->feed(kill.data(), kill.size()));
  BOOST_TEST(c->describe() == "a client may not send actor 7 a message of type (@exit)");
  auto d = client_checker(rules);
  auto staged = direct(coordinator_id, guard_test::status_with_stages);
  BOOST_TEST(!d->feed(staged.data(), staged.size()));
  BOOST_TEST(d->describe() ==
             "a client may not send actor 6 a message with a forwarding stack (stages)");
}

BOOST_AUTO_TEST_CASE(clients_send_requests_and_asynchronous_messages_only) {
  basp_rules rules{true, true, node_id, coordinator_id};
  auto status = guard_test::status_request.bytes();
  for (uint64_t id : {0x1000000000000000ULL, 0x1000000000000003ULL, 0x1FFFFFFFFFFFFFFFULL}) {
    auto c = client_checker(rules);
    auto f = direct(node_id, id, status);
    BOOST_TEST(c->feed(f.data(), f.size()));
  }
  // Responses, answered, urgent and stream categories.
  for (uint64_t id : {0x9000000000000003ULL, 0x5000000000000003ULL, 0x0ULL, 0x0000000000000003ULL,
                      0x2000000000000000ULL, 0x3000000000000000ULL}) {
    BOOST_TEST_CONTEXT(std::hex << id) {
      auto c = client_checker(rules);
      auto f = direct(node_id, id, status);
      BOOST_TEST(!c->feed(f.data(), 32)); // refused at the header
      BOOST_TEST((c->problem() == frame_problem::forbidden_message_id));
    }
  }
  auto c = client_checker(rules);
  auto f = direct(node_id, 0x9000000000000003ULL, status);
  c->feed(f.data(), f.size());
  BOOST_TEST(c->describe() == "a client may not send a direct_message with message id "
                              "0x9000000000000003 (a response, or not of normal priority)");
  // A node may.
  basp_rules node{true, false};
  basp_frame_checker n{limit, &node};
  auto& h = guard_test::captured_client_handshake;
  BOOST_TEST(n.feed(h.data(), h.size()));
  BOOST_TEST(n.feed(f.data(), f.size()));
}

BOOST_AUTO_TEST_CASE(a_large_batch_passes_with_only_its_prefix_read) {
  basp_rules rules{true, true, node_id, coordinator_id};
  auto payload = guard_test::put_batch.bytes();
  payload.resize(3u << 20, 0x5A); // the value's bytes (not a valid batch beyond: never read)
  auto f = direct(coordinator_id, guard_test::put_batch.operation_data, payload);
  auto hb = guard_test::frame(6, 0, 0);
  f.insert(f.end(), hb.begin(), hb.end());
  auto c = client_checker(rules);
  guard_test::allocation_count::start();
  bool ok = true;
  for (size_t at = 0; at < f.size(); at += 16384)
    ok = c->feed(f.data() + at, std::min<size_t>(16384, f.size() - at)) && ok;
  auto allocated = guard_test::allocation_count::stop();
  BOOST_TEST(ok, c->describe());
  BOOST_TEST(c->frames() == 3u);
  BOOST_TEST(allocated == 0u); // a passing message costs no allocation
}

BOOST_AUTO_TEST_CASE(random_client_frames_are_judged_alike_however_split) {
  basp_rules rules{true, true, node_id, coordinator_id};
  std::mt19937 rng{test_seed()};
  std::vector<wire> seeds;
  for (auto* list : {&node_messages, &coordinator_messages, &never_allowed})
    for (auto* m : *list)
      seeds.push_back(m->bytes());
  size_t most = 0;
  for (int round = 0; round < 2000; ++round) {
    auto p = seeds[rng() % seeds.size()];
    if (rng() % 2)
      p[rng() % p.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0)
      p.resize(1 + rng() % p.size());
    if (rng() % 8 == 0)
      p.resize(p.size() + rng() % 5000, static_cast<uint8_t>(rng()));
    auto f = direct(rng() % 2 ? node_id : coordinator_id, 0x1000000000000000ULL, p);
    auto whole = client_checker(rules);
    guard_test::allocation_count::start();
    bool passed = whole->feed(f.data(), f.size());
    most = std::max(most, guard_test::allocation_count::stop());
    auto split = client_checker(rules);
    bool split_passed = true;
    for (size_t at = 0; at < f.size() && split_passed;) {
      auto n = std::min<size_t>(f.size() - at, 1 + rng() % 40);
      split_passed = split->feed(f.data() + at, n);
      at += n;
    }
    BOOST_REQUIRE_EQUAL(passed, split_passed);
    BOOST_REQUIRE_EQUAL(whole->describe(), split->describe());
  }
  BOOST_TEST(most <= 1024u);
}

BOOST_AUTO_TEST_CASE(monitors_and_downs_go_from_the_client_to_this_node_only) {
  using guard_test::basp_frame;
  using guard_test::from_hex;
  basp_rules rules{true, true, node_id, coordinator_id};
  auto client = from_hex(guard_test::capture_client_node);
  auto local = from_hex(guard_test::capture_node);
  auto handshake = basp_frame(1, 0, 0, client);
  auto monitor = basp_frame(4, 0, node_id, from_hex(guard_test::captured_monitor));
  auto down = basp_frame(5, 6, 0, from_hex(guard_test::captured_down));
  auto start = [&](bool knows_local) {
    auto c = std::make_unique<basp_frame_checker>(limit, &rules);
    BOOST_REQUIRE(c->feed(handshake.data(), handshake.size()));
    if (knows_local)
      c->set_local_node(local.data());
    return c;
  };
  // What the client library's process sent, split anyhow.
  auto s = guard_test::concat({monitor, down, monitor});
  for (size_t cut = 0; cut <= s.size(); cut += 7) {
    auto c = start(true);
    BOOST_TEST(c->feed(s.data(), cut));
    BOOST_TEST(c->feed(s.data() + cut, s.size() - cut), c->describe());
  }
  // Not before this node named itself.
  auto c = start(false);
  BOOST_TEST(!c->feed(monitor.data(), monitor.size()));
  BOOST_TEST((c->problem() == frame_problem::forbidden_nodes));
  BOOST_TEST(c->describe() ==
             "a client may send a monitor_message only from its own process to this node's, not "
             "from BFFADF3AC9F1142F6446CA706C9BB0F69B114401#18421 to "
             "BFFADF3AC9F1142F6446CA706C9BB0F69B114400#18421");
  // Naming another process as the source (a peer: its actor would be taken for down here) or
  // another destination (the down message would be forwarded there).
  auto peer = guard_test::client_handshake(4242);
  wire peer_id(peer.begin() + 32, peer.end());
  auto forged_source = from_hex(guard_test::captured_down);
  std::copy(peer_id.begin(), peer_id.end(), forged_source.begin());
  auto forged_destination = from_hex(guard_test::captured_down);
  std::copy(peer_id.begin(), peer_id.end(), forged_destination.begin() + 32);
  auto short_monitor = from_hex(guard_test::captured_monitor);
  short_monitor.resize(40);
  struct bad_case {
    wire f;
    std::string reason;
  };
  std::vector<bad_case> cases{
      {basp_frame(5, 6, 0, forged_source),
       "a client may send a down_message only from its own process to this node's, not from "
       "BFFADF3AC9F1142F6446CA706C9BB0F69B114400#4242 to "
       "BFFADF3AC9F1142F6446CA706C9BB0F69B114400#18421"},
      {basp_frame(5, 6, 0, forged_destination),
       "a client may send a down_message only from its own process to this node's, not from "
       "BFFADF3AC9F1142F6446CA706C9BB0F69B114401#18421 to "
       "BFFADF3AC9F1142F6446CA706C9BB0F69B114400#4242"},
      {basp_frame(4, 0, node_id, short_monitor),
       "a client may send a monitor_message only from its own process to this node's, not from "
       "BFFADF3AC9F1142F6446CA706C9BB0F69B114401#18421 to an unknown node"},
  };
  for (auto& b : cases) {
    auto d = start(true);
    BOOST_TEST(!d->feed(b.f.data(), b.f.size()));
    BOOST_TEST((d->problem() == frame_problem::forbidden_nodes));
    BOOST_TEST(d->describe() == b.reason);
  }
  // A node may send them.
  basp_rules node{true, false};
  basp_frame_checker n{limit, &node};
  BOOST_TEST(n.feed(handshake.data(), handshake.size()));
  for (auto& b : cases)
    BOOST_TEST(n.feed(b.f.data(), b.f.size()));
}

BOOST_AUTO_TEST_CASE(the_follower_learns_this_node_from_its_server_handshake) {
  using guard_test::basp_frame;
  auto local = guard_test::from_hex(guard_test::capture_node);
  auto payload = local;
  payload.resize(120, 0x33); // app ids, actor id, interface
  auto hello = basp_frame(0, 0, 0, payload);
  hello[15] = 3; // version
  auto s = guard_test::concat(
      {hello, direct(7, guard_test::status_request), basp_frame(0, 0, 0, wire(40, 1))});
  for (size_t step : {size_t{1}, size_t{5}, size_t{31}, s.size()}) {
    basp_header_follower f;
    size_t headers = 0;
    for (size_t at = 0; at < s.size(); at += step) {
      f.feed(s.data() + at, std::min(step, s.size() - at), [&](const basp_header&) { ++headers; });
      if (at + step < 32 + 32)
        BOOST_TEST(!f.local_node());
    }
    BOOST_TEST(headers == 3u);
    BOOST_REQUIRE(f.local_node());
    BOOST_TEST(wire(f.local_node(), f.local_node() + 32) == local); // the first one's
  }
}

BOOST_AUTO_TEST_SUITE_END()
