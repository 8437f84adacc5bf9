// The frame guard's BASP header checker (actors/guard/basp_frame.hpp): the header layout matches
// what CAF 0.17's own serializer writes, legitimate streams pass however they are split into reads,
// and huge or invalid headers are refused before any of their payload. Under rules, the client
// handshake (a frame captured from a real CAF client, and CAF's own serialisation of a node id)
// names the process, and clients may send only what clients need.
#include "actors/guard/basp_frame.hpp"

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <caf/binary_serializer.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/node_id.hpp>

#include "tests/actors/guard/captured_messages.hpp"
#include "tests/actors/guard/guard_test_support.hpp"

using namespace actorkv;

namespace {

using wire = std::vector<uint8_t>;

constexpr uint32_t limit = 1 << 20;

/// One frame as CAF 0.17.6 writes it: the header (big-endian) and `payload_len` payload bytes.
wire frame(uint8_t op, uint32_t payload_len, uint64_t op_data, uint64_t src, uint64_t dst,
           uint8_t flags = 0, bool with_payload = true) {
  wire out;
  auto put = [&](uint64_t x, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      out.push_back(static_cast<uint8_t>(x >> (8 * i)));
  };
  put(op, 1);
  put(0, 2);
  put(flags, 1);
  put(payload_len, 4);
  put(op_data, 8);
  put(src, 8);
  put(dst, 8);
  if (with_payload)
    for (uint32_t i = 0; i < payload_len; ++i)
      out.push_back(static_cast<uint8_t>(i * 7));
  return out;
}

/// A connection's first frames, as a client sends them: its handshake, the repeated handshake
/// that selects the connection, messages, a heartbeat, a monitor and a down message.
wire session() {
  wire out;
  for (auto& f : {frame(1, 30, 0, 0, 0), frame(1, 30, 0, 0, 0, 0x02), frame(2, 100, 5, 3, 7),
                  frame(6, 0, 0, 0, 0), frame(3, 4000, 9, 3, 8), frame(4, 50, 0, 0, 12),
                  frame(5, 60, 0, 12, 0), frame(2, limit, 1, 0, 1)})
    out.insert(out.end(), f.begin(), f.end());
  return out;
}

constexpr uint64_t session_frames = 8;

/// The seed for a randomised test: ACTORKV_SEED when set, else a fresh one, printed either way.
unsigned test_seed() {
  unsigned seed = std::random_device{}();
  if (const char* env = std::getenv("ACTORKV_SEED"))
    seed = static_cast<unsigned>(std::stoul(env));
  BOOST_TEST_MESSAGE("seed " << seed << " (ACTORKV_SEED replays it)");
  return seed;
}

} // namespace

BOOST_AUTO_TEST_SUITE(basp_frame)

BOOST_AUTO_TEST_CASE(layout_matches_cafs_serializer) {
  // The wire bytes CAF itself produces for a header, decoded by the checker.
  caf::io::basp::header h{caf::io::basp::message_type::direct_message,
                          0x01,
                          0xA1B2C3D4,
                          0x0102030405060708ULL,
                          0x1112131415161718ULL,
                          0x2122232425262728ULL};
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  BOOST_REQUIRE(!sink(h));
  BOOST_REQUIRE_EQUAL(buf.size(), caf::io::basp::header_size);
  BOOST_REQUIRE_EQUAL(buf.size(), basp_frame_checker::header_size);
  auto d = basp_frame_checker::decode(reinterpret_cast<const uint8_t*>(buf.data()));
  BOOST_TEST(d.operation == 2);
  BOOST_TEST(d.flags == 0x01);
  BOOST_TEST(d.payload_len == 0xA1B2C3D4u);
  BOOST_TEST(d.operation_data == 0x0102030405060708ULL);
  BOOST_TEST(d.source_actor == 0x1112131415161718ULL);
  BOOST_TEST(d.dest_actor == 0x2122232425262728ULL);
  // And the test helper writes what CAF writes.
  auto mine = frame(2, 0xA1B2C3D4, 0x0102030405060708ULL, 0x1112131415161718ULL,
                    0x2122232425262728ULL, 0x01, false);
  BOOST_TEST(mine == wire(buf.begin(), buf.end()));
}

BOOST_AUTO_TEST_CASE(a_legitimate_stream_passes_in_one_piece) {
  basp_frame_checker c{limit};
  auto s = session();
  BOOST_TEST(c.feed(s.data(), s.size()));
  BOOST_TEST(c.frames() == session_frames);
  BOOST_TEST((c.problem() == frame_problem::none));
  BOOST_TEST(c.describe().empty());
}

BOOST_AUTO_TEST_CASE(messages_are_the_frames_that_are_not_heartbeats) {
  basp_frame_checker c{limit};
  auto s = session();
  BOOST_TEST(c.feed(s.data(), s.size()));
  BOOST_TEST(c.messages() == session_frames - 1); // one heartbeat
  auto beat = frame(6, 0, 0, 0, 0);
  BOOST_TEST(c.feed(beat.data(), beat.size()));
  BOOST_TEST(c.messages() == session_frames - 1);
}

BOOST_AUTO_TEST_CASE(without_rules_a_valid_first_handshake_names_the_process_and_none_is_refused) {
  // The payload CAF 0.17 writes for node id <host>#4242: atom("default"), pid, 20-byte host.
  wire named = frame(1, 32, 0, 0, 0, 0, false);
  for (uint8_t b : {0x00, 0x00, 0x3e, 0x9a, 0xab, 0x9b, 0xac, 0x79, 0x00, 0x00, 0x10, 0x92})
    named.push_back(b);
  for (int i = 0; i < 20; ++i)
    named.push_back(static_cast<uint8_t>(i + 1));
  basp_frame_checker c{limit};
  BOOST_TEST(c.feed(named.data(), named.size()));
  BOOST_REQUIRE(c.identity().has_value());
  BOOST_TEST(c.identity()->pid == 4242u);
  BOOST_TEST(c.identity()->host[19] == 20);
  // A first handshake that names no valid process is not the plain guard's to refuse.
  wire junk = frame(1, 32, 0, 0, 0, 0, false);
  junk.resize(junk.size() + 32, 0);
  basp_frame_checker d{limit};
  BOOST_TEST(d.feed(junk.data(), junk.size()));
  BOOST_TEST(!d.identity().has_value());
}

BOOST_AUTO_TEST_CASE(a_legitimate_stream_passes_byte_by_byte) {
  basp_frame_checker c{limit};
  auto s = session();
  bool all = true;
  for (auto b : s)
    all = c.feed(&b, 1) && all;
  BOOST_TEST(all);
  BOOST_TEST(c.frames() == session_frames);
}

BOOST_AUTO_TEST_CASE(a_legitimate_stream_passes_in_random_reads) {
  auto s = session();
  std::mt19937 rng{test_seed()};
  for (int round = 0; round < 50; ++round) {
    basp_frame_checker c{limit};
    size_t at = 0;
    bool all = true;
    while (at < s.size()) {
      // Mostly short reads around the headers; now and then a long one across frames.
      auto n = std::min<size_t>(s.size() - at, rng() % 8 == 0 ? rng() % 100000 : 1 + rng() % 100);
      all = c.feed(s.data() + at, n) && all;
      at += n;
    }
    BOOST_TEST(all);
    BOOST_TEST(c.frames() == session_frames);
  }
}

BOOST_AUTO_TEST_CASE(a_forged_four_gib_length_is_refused) {
  basp_frame_checker c{limit};
  auto f = frame(2, 0xFFFFFFF0u, 0, 0, 1, 0, false);
  BOOST_TEST(!c.feed(f.data(), f.size()));
  BOOST_TEST((c.problem() == frame_problem::too_large));
  BOOST_TEST(c.refused().payload_len == 0xFFFFFFF0u);
  BOOST_TEST(c.describe() == "BASP header announces a payload of 4294967280 bytes, above "
                             "max_frame_bytes (1048576)");
  BOOST_TEST(c.frames() == 0u);
  // The stream stays refused.
  auto h = frame(6, 0, 0, 0, 0);
  BOOST_TEST(!c.feed(h.data(), h.size()));
}

BOOST_AUTO_TEST_CASE(the_limit_is_inclusive) {
  basp_frame_checker c{limit};
  auto ok = frame(2, limit, 0, 0, 1, 0, false);
  BOOST_TEST(c.feed(ok.data(), ok.size()));
  basp_frame_checker d{limit};
  auto over = frame(2, limit + 1, 0, 0, 1, 0, false);
  BOOST_TEST(!d.feed(over.data(), over.size()));
  BOOST_TEST((d.problem() == frame_problem::too_large));
}

BOOST_AUTO_TEST_CASE(a_huge_length_after_legitimate_frames_and_split_is_refused) {
  basp_frame_checker c{limit};
  auto s = session();
  auto forged = frame(3, 64u << 20, 0, 0, 1, 0, false);
  s.insert(s.end(), forged.begin(), forged.end());
  // Split inside the forged header's length field.
  auto cut = s.size() - basp_frame_checker::header_size + 6;
  BOOST_TEST(c.feed(s.data(), cut));
  BOOST_TEST(!c.feed(s.data() + cut, s.size() - cut));
  BOOST_TEST((c.problem() == frame_problem::too_large));
  BOOST_TEST(c.refused().payload_len == 64u << 20);
  BOOST_TEST(c.frames() == session_frames);
}

BOOST_AUTO_TEST_CASE(payload_bytes_are_never_taken_for_headers) {
  // A payload full of bytes that would be a forged header if read as one.
  auto inner = frame(2, 0xFFFFFFFFu, 0, 0, 1, 0, false);
  wire payload;
  for (int i = 0; i < 10; ++i)
    payload.insert(payload.end(), inner.begin(), inner.end());
  auto s = frame(2, static_cast<uint32_t>(payload.size()), 1, 2, 3, 0, false);
  s.insert(s.end(), payload.begin(), payload.end());
  auto hb = frame(6, 0, 0, 0, 0);
  s.insert(s.end(), hb.begin(), hb.end());
  basp_frame_checker c{limit};
  BOOST_TEST(c.feed(s.data(), s.size()));
  BOOST_TEST(c.frames() == 2u);
}

BOOST_AUTO_TEST_CASE(unknown_operations_are_refused) {
  for (uint8_t op : {uint8_t{7}, uint8_t{0x41}, uint8_t{0xFF}}) {
    basp_frame_checker c{limit};
    auto f = frame(op, 10, 0, 0, 1);
    BOOST_TEST(!c.feed(f.data(), f.size()));
    BOOST_TEST((c.problem() == frame_problem::unknown_operation));
    BOOST_TEST(c.describe() == "invalid BASP header: unknown operation " + std::to_string(op));
  }
}

BOOST_AUTO_TEST_CASE(headers_caf_would_refuse_are_refused) {
  // Each violates one rule of CAF 0.17.6's basp::valid().
  std::vector<wire> bad{
      frame(0, 10, 0, 0, 0), // server handshake without a version
      frame(1, 10, 0, 5, 0), // client handshake naming a source actor
      frame(2, 10, 0, 0, 0), // direct message to no actor
      frame(2, 0, 0, 0, 1),  // direct message without payload
      frame(3, 10, 0, 0, 0), // routed message to no actor
      frame(4, 0, 0, 0, 1),  // monitor message without payload
      frame(4, 10, 3, 0, 1), // monitor message with operation data
      frame(5, 10, 0, 0, 0), // down message from no actor
      frame(5, 10, 0, 1, 2), // down message to an actor
      frame(6, 4, 0, 0, 0),  // heartbeat with payload
      frame(6, 0, 0, 1, 0),  // heartbeat from an actor
  };
  for (auto& f : bad) {
    basp_frame_checker c{limit};
    BOOST_TEST(!c.feed(f.data(), f.size()));
    BOOST_TEST((c.problem() == frame_problem::invalid_header));
    BOOST_TEST(c.describe().rfind("invalid BASP header: operation ", 0) == 0);
  }
  // The same shapes CAF accepts pass.
  std::vector<wire> good{frame(0, 10, 1, 0, 0), frame(1, 10, 0, 0, 0), frame(2, 10, 0, 0, 1),
                         frame(3, 10, 0, 0, 1), frame(4, 10, 0, 0, 1), frame(5, 10, 0, 1, 0),
                         frame(6, 0, 0, 0, 0)};
  for (auto& f : good) {
    basp_frame_checker c{limit};
    BOOST_TEST(c.feed(f.data(), f.size()));
  }
}

BOOST_AUTO_TEST_CASE(random_garbage_is_refused_at_its_first_header) {
  std::mt19937 rng{test_seed()};
  size_t refused = 0;
  for (int round = 0; round < 200; ++round) {
    wire junk(4096);
    for (auto& b : junk)
      b = static_cast<uint8_t>(rng());
    basp_frame_checker c{limit};
    refused += c.feed(junk.data(), junk.size()) ? 0 : 1;
  }
  // A random header passes only with a valid operation, its field rules and a small length.
  BOOST_TEST(refused >= 199u);
}

BOOST_AUTO_TEST_CASE(the_captured_client_handshake_names_its_process) {
  auto& f = guard_test::captured_client_handshake;
  BOOST_REQUIRE_EQUAL(f.size(), 64u);
  auto h = basp_frame_checker::decode(f.data());
  BOOST_TEST(h.operation == 1);
  BOOST_TEST(h.payload_len == client_handshake_size);
  auto id = parse_client_handshake(f.data() + 32, 32);
  BOOST_REQUIRE(id);
  BOOST_TEST(id->pid == guard_test::captured_pid);
  BOOST_TEST((id->host == guard_test::captured_host));
  BOOST_TEST(node_id_text(*id) == "BFFADF3AC9F1142F6446CA706C9BB0F69B114400#16090");
  // CAF's own serialisation of that node id is the captured payload, and prints the same.
  auto nid = caf::make_node_id(guard_test::captured_pid, guard_test::captured_host);
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  BOOST_REQUIRE(!sink(nid));
  BOOST_TEST(wire(buf.begin(), buf.end()) == wire(f.begin() + 32, f.end()));
  BOOST_TEST(to_string(nid) == node_id_text(*id));
}

BOOST_AUTO_TEST_CASE(handshakes_naming_no_process_are_not_parsed) {
  auto payload = wire(guard_test::captured_client_handshake.begin() + 32,
                      guard_test::captured_client_handshake.end());
  auto parse = [](const wire& p) { return parse_client_handshake(p.data(), p.size()); };
  BOOST_TEST(parse(payload).has_value());
  auto no_pid = payload;
  auto no_host = payload;
  for (size_t i = 8; i < payload.size(); ++i)
    (i < 12 ? no_pid : no_host)[i] = 0;
  auto uri_id = payload;
  uri_id[7] ^= 1; // another atom
  auto short_one = wire(payload.begin(), payload.end() - 1);
  for (auto& bad : {no_pid, no_host, uri_id, short_one, wire(8, 0)}) // the last: atom(""), none
    BOOST_TEST(!parse(bad).has_value());
}

BOOST_AUTO_TEST_CASE(identified_streams_keep_the_first_handshakes_process) {
  basp_rules rules{true, false};
  auto repeated = guard_test::captured_client_handshake;
  repeated[3] = 0x02; // the repeat that selects the connection: same process, flag set
  auto s = guard_test::concat({guard_test::captured_client_handshake, frame(2, 10, 0, 1, 7),
                               repeated, frame(3, 10, 0, 1, 7)});
  basp_frame_checker c{limit, &rules};
  for (auto b : s) { // byte by byte: the handshake payload is gathered across reads
    BOOST_REQUIRE(c.feed(&b, 1));
    BOOST_TEST((c.identity().has_value() || c.frames() <= 1));
  }
  BOOST_REQUIRE(c.identity());
  BOOST_TEST(c.identity()->pid == guard_test::captured_pid);
  BOOST_TEST(!c.mid_header());
  // Another process on the same connection is refused.
  auto other = guard_test::client_handshake(4242);
  BOOST_TEST(!c.feed(other.data(), other.size()));
  BOOST_TEST((c.problem() == frame_problem::identity_changed));
  BOOST_TEST(c.describe() == "client_handshake names process "
                             "BFFADF3AC9F1142F6446CA706C9BB0F69B114400#4242, not "
                             "BFFADF3AC9F1142F6446CA706C9BB0F69B114400#16090 as before");
}

BOOST_AUTO_TEST_CASE(identified_streams_start_with_a_valid_client_handshake) {
  basp_rules rules{true, false};
  {
    basp_frame_checker c{limit, &rules};
    auto f = frame(2, 10, 0, 0, 1);
    BOOST_TEST(!c.feed(f.data(), f.size()));
    BOOST_TEST((c.problem() == frame_problem::not_a_handshake));
    BOOST_TEST(c.describe() == "first BASP frame is a direct_message, not a client_handshake");
  }
  {
    basp_frame_checker c{limit, &rules};
    auto f = frame(1, 40, 0, 0, 0); // CAF would accept it; it names no default node id
    BOOST_TEST(!c.feed(f.data(), f.size()));
    BOOST_TEST((c.problem() == frame_problem::bad_handshake));
  }
  {
    basp_frame_checker c{limit, &rules};
    auto f = guard_test::client_handshake(0);
    BOOST_TEST(!c.feed(f.data(), f.size()));
    BOOST_TEST((c.problem() == frame_problem::bad_handshake));
    BOOST_TEST(!c.identity());
  }
  // Without rules, as before: anything CAF accepts.
  basp_frame_checker plain{limit};
  auto f = frame(2, 10, 0, 0, 1);
  BOOST_TEST(plain.feed(f.data(), f.size()));
  BOOST_TEST(!plain.identity());
}

BOOST_AUTO_TEST_CASE(clients_send_only_client_frames_to_allowed_actors) {
  basp_rules rules{true, true, 3, 9}; // node actor 3, coordinator 9
  auto start = [&] {
    auto c = std::make_unique<basp_frame_checker>(limit, &rules);
    auto& h = guard_test::captured_client_handshake;
    BOOST_REQUIRE(c->feed(h.data(), h.size()));
    return c;
  };
  auto message = [](const guard_test::captured_message& m, uint64_t dst) {
    auto p = m.bytes();
    auto f = frame(2, static_cast<uint32_t>(p.size()), m.operation_data, 5, dst, 0, false);
    f.insert(f.end(), p.begin(), p.end());
    return f;
  };
  // What a client sends: its messages to the node actor and the coordinator, monitors and downs
  // between its process and this node, heartbeats.
  auto c = start();
  auto& hs = guard_test::captured_client_handshake;
  wire pair(hs.begin() + 32, hs.end());
  auto local = guard_test::from_hex(guard_test::capture_node);
  pair.insert(pair.end(), local.begin(), local.end());
  auto down = pair;
  down.resize(down.size() + 15, 0);
  c->set_local_node(local.data());
  auto ok =
      guard_test::concat({message(guard_test::status_request, 3), message(guard_test::put_batch, 9),
                          guard_test::basp_frame(4, 0, 12, pair),
                          guard_test::basp_frame(5, 12, 0, down), frame(6, 0, 0, 0, 0)});
  BOOST_TEST(c->feed(ok.data(), ok.size()));
  struct refused_case {
    wire f;
    frame_problem problem;
    std::string reason;
  };
  std::vector<refused_case> cases{
      {message(guard_test::status_request, 4), frame_problem::forbidden_destination,
       "a client may not send a direct_message to actor 4"},
      {frame(3, 10, 0, 5, 3), frame_problem::forbidden_operation,
       "a client may not send a routed_message"},
      {frame(0, 10, 1, 0, 0), frame_problem::forbidden_operation,
       "a client may not send a server_handshake"},
      {message(guard_test::put_batch, 3), frame_problem::forbidden_message,
       "a client may not send actor 3 a message of type (@atom 'batch', "
       "std::vector<actorkv::client_call>)"},
      {message(guard_test::status_request, 9), frame_problem::forbidden_message,
       "a client may not send actor 9 a message of type (@atom 'status')"},
  };
  for (auto& r : cases) {
    auto d = start();
    BOOST_TEST(!d->feed(r.f.data(), r.f.size()));
    BOOST_TEST((d->problem() == r.problem));
    BOOST_TEST(d->describe() == r.reason);
  }
  // CAF's own request to the spawn server passes; anything else to a named receiver does not.
  auto info = guard_test::spawn_info_request_from(7);
  BOOST_TEST(c->feed(info.data(), info.size()));
  auto spawn = info;
  spawn[32 + 30] ^= 0x01; // another atom than get_atom
  auto other_name = info; // another registered name than "SpawnServ"
  other_name[24] = 0x0f;
  auto longer = guard_test::frame(2, 46, spawn_server_atom, true, 7);
  longer[3] = named_receiver_flag;
  longer[8] = 0x10;
  for (auto& bad : {spawn, other_name, longer}) {
    auto d = start();
    BOOST_TEST(!d->feed(bad.data(), bad.size()));
    BOOST_TEST((d->problem() == frame_problem::forbidden_named_receiver));
  }
  // An actor of this node that addressed the client may be answered, with the spawn server's
  // answer only.
  auto answer = message(guard_test::spawn_server_answer, 8);
  auto d = start();
  BOOST_TEST(!d->feed(answer.data(), answer.size()));
  BOOST_TEST((d->problem() == frame_problem::forbidden_destination));
  auto e = start();
  e->allow_reply_to(8);
  BOOST_TEST(e->feed(answer.data(), answer.size()));
  auto other = message(guard_test::status_request, 8);
  BOOST_TEST(!e->feed(other.data(), other.size()));
  BOOST_TEST(e->describe() == "a client may not send actor 8 a message of type (@atom 'status')");
  // A node may send all of these.
  cases.push_back({spawn, frame_problem::none, ""});
  basp_rules node{true, false};
  basp_frame_checker n{limit, &node};
  auto& h = guard_test::captured_client_handshake;
  BOOST_TEST(n.feed(h.data(), h.size()));
  for (auto& r : cases)
    BOOST_TEST(n.feed(r.f.data(), r.f.size()));
  auto kill = message(guard_test::exit_kill, 3);
  BOOST_TEST(n.feed(kill.data(), kill.size()));
}

BOOST_AUTO_TEST_CASE(the_follower_reports_each_header_however_split) {
  auto s = session();
  std::mt19937 rng{test_seed()};
  for (int round = 0; round < 20; ++round) {
    basp_header_follower f;
    std::vector<uint8_t> ops;
    size_t at = 0;
    while (at < s.size()) {
      auto n = std::min<size_t>(s.size() - at, 1 + rng() % 200);
      f.feed(s.data() + at, n, [&](const basp_header& h) { ops.push_back(h.operation); });
      at += n;
    }
    BOOST_TEST((ops == std::vector<uint8_t>{1, 1, 2, 6, 3, 4, 5, 2}));
  }
}

BOOST_AUTO_TEST_SUITE_END()
