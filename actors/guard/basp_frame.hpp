// Checks the frames of a BASP byte stream (CAF 0.17's wire protocol between actor systems) as
// they pass by, for the frame guard in front of a node's port (frame_guard.hpp).
//
// CAF 0.17.6 reads a fixed 32-byte header, validates it, then sizes its receive buffer from the
// header's payload_len before any payload arrives (basp_broker.cpp: configure_read(exactly(
// payload_len))), so a forged header announcing ~4 GiB makes a node allocate that much. No CAF
// 0.17 setting bounds it; this checker does, by refusing such a header before CAF sees it.
//
// Wire format (libcaf_io/caf/io/basp/header.hpp, serialised by binary_serializer, integers in
// network byte order, no preamble: the first bytes a client sends are its client handshake's
// header). Every frame is this header followed by payload_len bytes of payload:
//
//   offset  size  field
//        0     1  operation: 0 server_handshake, 1 client_handshake, 2 direct_message,
//                 3 routed_message, 4 monitor_message, 5 down_message, 6 heartbeat
//        1     2  padding
//        3     1  flags
//        4     4  payload_len
//        8     8  operation_data
//       16     8  source_actor
//       24     8  dest_actor
//
// Pure logic, free of CAF and sockets: it only looks at header bytes and counts payload bytes
// past without copying them, except the 32 of a client handshake when it must name its process
// (basp_rules::identify), and under client rules the first bytes of each direct message (at most
// client_message_prefix, basp_message.hpp), which say what the message is, and the 64 of each
// monitor or down message that name its source and destination nodes (they must be the client's
// process and this node: CAF acts on whatever node ids these name).
//
// A client handshake's payload is the sender's node id (instance::write_client_handshake writes
// `sink(this_node_)`; node_id::serialize writes the implementation's atom, then default_data's
// process id and host id), 32 bytes, big-endian like the header:
//
//   offset  size  field
//        0     8  atom("default") = 00 00 3e 9a ab 9b ac 79 (an atom_value, uint64)
//        8     4  process id
//       12    20  host id (RIPEMD-160 of the host's MACs and root disk UUID; CAF overwrites its
//                 last byte with a per-process actor system counter)
//
// e.g. a CAF 0.17.6 client with node id BFFADF3AC9F1142F6446CA706C9BB0F69B114400#16090 sends
//   01 00 00 00 00 00 00 20  00 .. 00 (24 zero bytes)    header: client_handshake, payload_len 32
//   00 00 3e 9a ab 9b ac 79                               atom("default")
//   00 00 3e da                                           process id 16090
//   bf fa df 3a c9 f1 14 2f 64 46 ca 70 6c 9b b0 f6 9b 11 44 00   host id
// (captured from a real client; the test vector in tests/actors/guard/guard_test_support.hpp).
//
// What a real CAF 0.17.6 client sends after that (captured through a proxy): the handshake again
// with flag 0x02 (select_connection), then, before any message of its own, the request of
// basp_broker::learned_new_node (spawn_info_request below) and its spawn server's answer to the
// same request from this node's broker, addressed to the helper actor that sent it. Client rules
// let exactly these through, besides the client messages of the node actor and its coordinator
// (basp_message.hpp: each direct message's stages and types are read before CAF sees all of it).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "actors/guard/basp_message.hpp"
#include "cluster-config/access.hpp"

namespace actorkv {

/// Why a BASP stream was refused.
enum class frame_problem : uint8_t {
  none,
  unknown_operation, ///< the operation byte names no BASP message type
  invalid_header,    ///< a known operation whose fields CAF itself would refuse
  too_large,         ///< payload_len above the limit
  // Only under basp_rules:
  not_a_handshake,          ///< identify: the first frame is not a client handshake
  bad_handshake,            ///< identify: a client handshake naming no process CAF 0.17 creates
  identity_changed,         ///< identify: a later client handshake names another process
  forbidden_operation,      ///< client: an operation only nodes send
  forbidden_destination,    ///< client: a direct message to an actor clients may not address
  forbidden_named_receiver, ///< client: a named receiver, other than the spawn server's info
  forbidden_message_id,     ///< client: a direct message that is a response, or not normal
  forbidden_message,        ///< client: a direct message other than the receiver's client messages
  forbidden_nodes,          ///< client: a monitor or down message not from it to this node
};

/// "client_handshake", "routed_message", ...; "operation N" for an unknown one.
inline std::string operation_name(uint8_t operation) {
  static const char* const names[] = {"server_handshake", "client_handshake", "direct_message",
                                      "routed_message",   "monitor_message",  "down_message",
                                      "heartbeat"};
  return operation < 7 ? names[operation] : "operation " + std::to_string(operation);
}

/// What a connection may send beyond what CAF accepts.
struct basp_rules {
  /// The first frame must be a client handshake naming a CAF process (then identity()), and every
  /// later one must name the same process.
  bool identify = false;
  /// A client, not a node: only client_handshake, direct_message, monitor_message, down_message
  /// and heartbeat; direct messages only to the node actor and the coordinator, each only its
  /// client messages (client_interface), with an empty forwarding stack and a client's message
  /// id (client_message_id); monitor and down messages only from the client's process to this
  /// node (set_local_node).
  bool client = false;
  uint64_t node_actor = 0;  ///< with client: the node actor's id (0: none)
  uint64_t coordinator = 0; ///< with client: its coordinator's id (0: none)
};

/// Payload bytes of a client handshake from a process with a default (pid, host) node id.
constexpr size_t client_handshake_size = 32;

/// A direct message's flag: dest_actor is an atom naming a registered actor, not an actor id.
constexpr uint8_t named_receiver_flag = 0x01;

/// atom("SpawnServ"): the spawn server every CAF 0.17 node registers.
constexpr uint64_t spawn_server_atom = 0x03ddd66f3376adfbULL;

/// The payload of the direct message CAF 0.17.6's BASP broker sends to the spawn server of every
/// node it learns of (basp_broker::learned_new_node), captured from a real client. The spawn
/// server answers with its own address; it would also spawn actors by type name, which a client
/// must not ask for, so this payload is the only one a client may send it.
inline constexpr uint8_t spawn_info_request[] = {
    0x00,                                           // stages: none
    0x00, 0x00, 0x14,                               // the message's type names, 20 characters:
    '@',  '<',  '>',  '+',  '@',  'a',  't',  'o',  // "@<>+@atom+@atom+@str"
    'm',  '+',  '@',  'a',  't',  'o',  'm',  '+',  //
    '@',  's',  't',  'r',                          //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x3f, 0x8f, 0xb8, // sys_atom
    0x00, 0x00, 0x00, 0x00, 0x00, 0x3e, 0xca, 0xb9, // get_atom
    0x04, 'i',  'n',  'f',  'o',                    // "info"
};

/// The process a client handshake's payload names; nullopt unless it is the 32 bytes CAF 0.17
/// writes for a valid default node id (pid and host not zero, as node_id::default_data::valid
/// requires). Other node ids (none, uri) are refused: CAF 0.17 never makes them for itself.
inline std::optional<process_identity> parse_client_handshake(const uint8_t* p, size_t n) {
  static constexpr uint8_t default_atom[8] = {0x00, 0x00, 0x3e, 0x9a, 0xab, 0x9b, 0xac, 0x79};
  if (n != client_handshake_size || std::memcmp(p, default_atom, sizeof(default_atom)) != 0)
    return std::nullopt;
  process_identity id;
  id.pid = static_cast<uint32_t>(p[8]) << 24 | static_cast<uint32_t>(p[9]) << 16 |
           static_cast<uint32_t>(p[10]) << 8 | p[11];
  std::memcpy(id.host.data(), p + 12, id.host.size());
  bool host_zero = std::all_of(id.host.begin(), id.host.end(), [](uint8_t b) { return b == 0; });
  if (id.pid == 0 || host_zero)
    return std::nullopt;
  return id;
}

/// As CAF prints a node id ("BFFADF3A...4400#16090"), so log lines can be matched with CAF's.
inline std::string node_id_text(const process_identity& id) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (auto b : id.host) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out + "#" + std::to_string(id.pid);
}

/// One decoded BASP header.
struct basp_header {
  uint8_t operation = 0;
  uint8_t flags = 0;
  uint32_t payload_len = 0;
  uint64_t operation_data = 0;
  uint64_t source_actor = 0;
  uint64_t dest_actor = 0;
};

/// Follows one direction of a BASP connection, header by header.
class basp_frame_checker {
public:
  static constexpr size_t header_size = 32;

  /// Refuses frames whose payload exceeds `max_payload` bytes, and with `rules` (which must
  /// outlive the checker) whatever they forbid.
  explicit basp_frame_checker(uint32_t max_payload, const basp_rules* rules = nullptr)
      : max_payload_(max_payload), rules_(rules) {}

  /// Sets the rules before the first byte is fed (a connection's role is known only after its
  /// TLS handshake).
  void set_rules(const basp_rules* rules) { rules_ = rules; }

  /// Decodes a header from its 32 wire bytes.
  static basp_header decode(const uint8_t* p) {
    basp_header h;
    h.operation = p[0];
    h.flags = p[3];
    h.payload_len = static_cast<uint32_t>(big_endian(p + 4, 4));
    h.operation_data = big_endian(p + 8, 8);
    h.source_actor = big_endian(p + 16, 8);
    h.dest_actor = big_endian(p + 24, 8);
    return h;
  }

  /// The checks of CAF 0.17.6's basp::valid(header), so that nothing CAF accepts is refused
  /// here (refusing more would drop a legitimate connection).
  static frame_problem validate(const basp_header& h) {
    bool ok = false;
    switch (h.operation) {
    case 0: // server_handshake: carries the protocol version
      ok = h.operation_data != 0;
      break;
    case 1: // client_handshake
      ok = h.source_actor == 0 && h.dest_actor == 0;
      break;
    case 2: // direct_message
    case 3: // routed_message
      ok = h.dest_actor != 0 && h.payload_len != 0;
      break;
    case 4: // monitor_message
      ok = h.payload_len != 0 && h.operation_data == 0;
      break;
    case 5: // down_message
      ok = h.source_actor != 0 && h.dest_actor == 0 && h.payload_len != 0 && h.operation_data == 0;
      break;
    case 6: // heartbeat
      ok = h.source_actor == 0 && h.dest_actor == 0 && h.payload_len == 0 && h.operation_data == 0;
      break;
    default:
      return frame_problem::unknown_operation;
    }
    return ok ? frame_problem::none : frame_problem::invalid_header;
  }

  /// Takes the next `n` bytes of the stream. False once a header is refused: the stream is then
  /// unusable (problem() and describe() say why) and must be closed without forwarding these
  /// bytes.
  bool feed(const uint8_t* data, size_t n) {
    size_t taken = 0;
    return feed(data, n, taken, [](const basp_header&) { return true; });
  }

  /// As feed(), but asks `admit(header)` about each header that passed the checks before taking
  /// it: when that returns false, feeding stops in front of the header, `taken` says how many of
  /// the `n` bytes were taken (fewer than `n`), and the checker is as it was before the header's
  /// bytes in `data`. Those bytes must not reach CAF yet and are fed again later, from there (the
  /// first bytes of a header split across reads may have passed: CAF acts on none of it before
  /// it has all 32). The frame guard's budget for announced payload bytes waits this way.
  template <class Admit>
  bool feed(const uint8_t* data, size_t n, size_t& taken, Admit&& admit) {
    const uint8_t* start = data;
    taken = 0;
    if (problem_ != frame_problem::none)
      return false;
    while (n > 0) {
      if (payload_left_ > 0) { // payload: counted, never copied (but the few rules look at)
        auto k = static_cast<size_t>(std::min<uint64_t>(payload_left_, n));
        if (capturing_ != capture::none) {
          auto take = std::min(k, capture_want_ - captured_size_);
          std::memcpy(captured_ + captured_size_, data, take);
          captured_size_ += take;
          // Decided before the chunk that completes the payload goes on: CAF never has all of a
          // refused message.
          if (captured_size_ == capture_want_ && !take_captured())
            return false;
        }
        payload_left_ -= k;
        data += k;
        n -= k;
        continue;
      }
      const uint8_t* header = nullptr;
      const uint8_t* header_begin = data; // where its bytes in `data` start
      size_t had = have_;
      if (have_ == 0 && n >= header_size) { // the usual case: the header lies in one read
        header = data;
        data += header_size;
        n -= header_size;
      } else { // a header split across reads: gather its 32 bytes
        auto k = std::min(header_size - have_, n);
        std::memcpy(partial_ + have_, data, k);
        have_ += k;
        data += k;
        n -= k;
        if (have_ < header_size)
          break;
        have_ = 0;
        header = partial_;
      }
      auto h = decode(header);
      if (auto problem = problem_of(h); problem != frame_problem::none)
        return refuse(problem, h);
      if (!admit(static_cast<const basp_header&>(h))) {
        have_ = had;
        taken = static_cast<size_t>(header_begin - start);
        return true;
      }
      take(h);
    }
    taken = static_cast<size_t>(data - start);
    return true;
  }

  frame_problem problem() const { return problem_; }

  /// The refused header.
  const basp_header& refused() const { return refused_; }

  /// Headers accepted so far.
  uint64_t frames() const { return frames_; }

  /// Frames other than heartbeats accepted so far: the connection's messages.
  uint64_t messages() const { return messages_; }

  /// The process the first client handshake named (with basp_rules::identify, or without rules
  /// when it names a valid process), once its payload arrived whole.
  const std::optional<process_identity>& identity() const { return identity_; }

  /// Part of a header arrived, not all 32 bytes: what a stalled sender leaves behind.
  bool mid_header() const { return have_ > 0; }

  /// Payload bytes of the current frame still to come: what CAF has allocated and still waits
  /// for (0 between frames).
  uint64_t payload_left() const { return payload_left_; }

  /// Whether a frame of more than `bytes` payload bytes is under way (its payload not complete).
  bool large_frame_under_way(uint64_t bytes) const {
    return payload_left_ > 0 && current_.payload_len > bytes;
  }

  /// The header of the last frame taken (the current one while payload_left() > 0).
  const basp_header& current() const { return current_; }

  /// With client rules: this node's id, as its server handshake to the remote side wrote it
  /// (basp_header_follower::local_node, 32 bytes), the only destination node of the monitor and
  /// down messages a client may send. Until then, it may send none.
  void set_local_node(const uint8_t* id) {
    std::memcpy(local_node_, id, client_handshake_size);
    local_node_known_ = true;
  }

  bool knows_local_node() const { return local_node_known_; }

  /// With client rules: the remote side may also send direct messages to `actor`, one of this
  /// node's that addressed it first (the BASP broker's helper, which sends a named receiver
  /// request to every new node and awaits the answer). Keeps the last few.
  void allow_reply_to(uint64_t actor) {
    if (std::find(replies_.begin(), replies_.end(), actor) != replies_.end())
      return;
    if (replies_.size() == max_replies)
      replies_.erase(replies_.begin());
    replies_.push_back(actor);
  }

  /// One line: why the stream was refused ("" while it was not).
  std::string describe() const {
    auto& h = refused_;
    switch (problem_) {
    case frame_problem::unknown_operation:
      return "invalid BASP header: unknown operation " + std::to_string(h.operation);
    case frame_problem::invalid_header:
      return "invalid BASP header: operation " + std::to_string(h.operation) +
             " with payload_len " + std::to_string(h.payload_len) + ", operation_data " +
             std::to_string(h.operation_data) + ", source_actor " + std::to_string(h.source_actor) +
             ", dest_actor " + std::to_string(h.dest_actor);
    case frame_problem::too_large:
      return "BASP header announces a payload of " + std::to_string(h.payload_len) +
             " bytes, above max_frame_bytes (" + std::to_string(max_payload_) + ")";
    case frame_problem::not_a_handshake:
      return "first BASP frame is a " + operation_name(h.operation) + ", not a client_handshake";
    case frame_problem::bad_handshake:
      return "client_handshake (payload_len " + std::to_string(h.payload_len) +
             ") names no CAF 0.17 process";
    case frame_problem::identity_changed:
      return "client_handshake names process " + node_id_text(claimed_) + ", not " +
             node_id_text(*identity_) + " as before";
    case frame_problem::forbidden_operation:
      return "a client may not send a " + operation_name(h.operation);
    case frame_problem::forbidden_destination:
      return "a client may not send a direct_message to actor " + std::to_string(h.dest_actor);
    case frame_problem::forbidden_named_receiver:
      return "a client may send a named receiver (here atom " + std::to_string(h.dest_actor) +
             ") only CAF's spawn server info request";
    case frame_problem::forbidden_message_id:
      return "a client may not send a direct_message with message id " + hex(h.operation_data) +
             " (a response, or not of normal priority)";
    case frame_problem::forbidden_nodes: {
      auto n = client_handshake_size;
      auto text = [&](const uint8_t* p, size_t size) -> std::string {
        auto id = parse_client_handshake(p, size);
        return id ? node_id_text(*id) : "an unknown node";
      };
      auto from = text(claimed_pair_, std::min(claimed_pair_size_, n));
      auto to =
          claimed_pair_size_ < 2 * n ? std::string{"an unknown node"} : text(claimed_pair_ + n, n);
      return "a client may send a " + operation_name(h.operation) +
             " only from its own process to this node's, not from " + from + " to " + to;
    }
    case frame_problem::forbidden_message: {
      auto& m = refused_message_;
      auto to = "a client may not send actor " + std::to_string(h.dest_actor) + " ";
      switch (m.verdict) {
      case client_message::stages:
        return to + "a message with " + m.what;
      case client_message::malformed:
        return to + "a malformed message: " + m.what;
      default:
        return to + "a message of type " + m.what;
      }
    }
    default:
      return "";
    }
  }

private:
  static std::string hex(uint64_t x) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "0x";
    for (int i = 60; i >= 0; i -= 4)
      out += digits[(x >> i) & 15];
    return out;
  }

  static uint64_t big_endian(const uint8_t* p, size_t n) {
    uint64_t x = 0;
    for (size_t i = 0; i < n; ++i)
      x = (x << 8) | p[i];
    return x;
  }

  frame_problem problem_of(const basp_header& h) const {
    auto problem = validate(h);
    if (problem == frame_problem::none && h.payload_len > max_payload_)
      problem = frame_problem::too_large;
    if (problem == frame_problem::none && rules_)
      problem = apply_rules(h);
    return problem;
  }

  /// A header that passed problem_of() begins the next frame.
  void take(const basp_header& h) {
    ++frames_;
    if (h.operation != 6) // a heartbeat is no sign of use
      ++messages_;
    payload_left_ = h.payload_len;
    capturing_ = capture::none;
    capture_want_ = h.payload_len; // the rules refused longer handshakes and spawn info requests
    if (rules_ && rules_->identify && h.operation == 1) {
      capturing_ = capture::handshake;
    } else if (!rules_ && frames_ == 1 && h.operation == 1 &&
               h.payload_len == client_handshake_size) {
      // Without rules the process is learned, not required: its node links it to a peer.
      capturing_ = capture::learned_handshake;
    } else if (rules_ && rules_->client && h.operation == 2) {
      if (h.flags & named_receiver_flag) {
        capturing_ = capture::spawn_info;
      } else {
        capturing_ = capture::client_message;
        interface_ = *interface_of(h.dest_actor); // apply_rules refused other destinations
        capture_want_ = std::min<uint32_t>(h.payload_len, client_message_prefix);
      }
    } else if (rules_ && rules_->client && (h.operation == 4 || h.operation == 5)) {
      capturing_ = capture::node_pair;
      capture_want_ = std::min<uint32_t>(h.payload_len, 2 * client_handshake_size);
    }
    captured_size_ = 0;
    current_ = h;
  }

  frame_problem apply_rules(const basp_header& h) const {
    if (rules_->identify) {
      if (frames_ == 0 && h.operation != 1)
        return frame_problem::not_a_handshake;
      if (h.operation == 1 && h.payload_len != client_handshake_size)
        return frame_problem::bad_handshake;
    }
    if (rules_->client) {
      if (h.operation == 0 || h.operation == 3) // server_handshake, routed_message
        return frame_problem::forbidden_operation;
      if (h.operation == 2 && (h.flags & named_receiver_flag)) {
        if (h.dest_actor != spawn_server_atom || h.payload_len != sizeof(spawn_info_request))
          return frame_problem::forbidden_named_receiver;
      } else if (h.operation == 2 && !interface_of(h.dest_actor)) {
        return frame_problem::forbidden_destination;
      }
      if (h.operation == 2 && !client_message_id(h.operation_data))
        return frame_problem::forbidden_message_id;
    }
    return frame_problem::none;
  }

  /// Which messages a client may send `actor`; nullopt: none.
  std::optional<client_interface> interface_of(uint64_t actor) const {
    if (actor == 0)
      return std::nullopt;
    if (actor == rules_->node_actor)
      return client_interface::node;
    if (actor == rules_->coordinator)
      return client_interface::coordinator;
    if (std::find(replies_.begin(), replies_.end(), actor) != replies_.end())
      return client_interface::spawn_reply;
    return std::nullopt;
  }

  /// The payload bytes the rules look at are complete.
  bool take_captured() {
    auto kind = capturing_;
    capturing_ = capture::none;
    if (kind == capture::node_pair) {
      // CAF writes (source node, destination node) first: monitor_message from the monitoring
      // process (which gets the down message), down_message from the terminated actor's. CAF
      // acts on these node ids whoever sent them: a down message kills this node's proxy of
      // that node's actor (its monitors and links fire) or is forwarded to that node.
      auto n = client_handshake_size;
      if (captured_size_ == 2 * n && identity_ && std::memcmp(captured_, own_node_, n) == 0 &&
          local_node_known_ && std::memcmp(captured_ + n, local_node_, n) == 0)
        return true;
      claimed_pair_size_ = captured_size_;
      std::memcpy(claimed_pair_, captured_, captured_size_);
      return refuse(frame_problem::forbidden_nodes, current_);
    }
    if (kind == capture::client_message) {
      auto m = inspect_client_message(interface_, captured_, captured_size_, current_.payload_len);
      if (m.verdict == client_message::allowed)
        return true;
      refused_message_ = std::move(m);
      return refuse(frame_problem::forbidden_message, current_);
    }
    if (kind == capture::spawn_info) {
      if (std::memcmp(captured_, spawn_info_request, sizeof(spawn_info_request)) != 0)
        return refuse(frame_problem::forbidden_named_receiver, current_);
      return true;
    }
    auto claimed = parse_client_handshake(captured_, captured_size_);
    if (kind == capture::learned_handshake) {
      identity_ = claimed;
      return true;
    }
    if (!claimed)
      return refuse(frame_problem::bad_handshake, current_);
    if (identity_ && !(*identity_ == *claimed)) {
      claimed_ = *claimed;
      return refuse(frame_problem::identity_changed, current_);
    }
    identity_ = claimed;
    std::memcpy(own_node_, captured_, client_handshake_size);
    return true;
  }

  bool refuse(frame_problem problem, const basp_header& h) {
    problem_ = problem;
    refused_ = h;
    return false;
  }

  uint32_t max_payload_;
  const basp_rules* rules_;
  uint64_t payload_left_ = 0; ///< payload bytes of the current frame still to come
  uint8_t partial_[header_size] = {};
  size_t have_ = 0; ///< bytes of a split header gathered in partial_
  uint64_t frames_ = 0;
  uint64_t messages_ = 0;
  frame_problem problem_ = frame_problem::none;
  basp_header refused_;
  static constexpr size_t max_replies = 8;
  /// Whose payload is kept: handshakes and spawn info requests whole (the rules refuse longer
  /// ones first), client messages up to client_message_prefix bytes.
  enum class capture : uint8_t {
    none,
    handshake,
    learned_handshake, ///< without rules: taken as the identity when valid, never refused
    spawn_info,
    client_message,
    node_pair
  };
  basp_header current_; ///< the header whose payload is passing
  capture capturing_ = capture::none;
  client_interface interface_ = client_interface::node; ///< of a client message's receiver
  static constexpr size_t capture_size =
      std::max({client_handshake_size, sizeof(spawn_info_request), client_message_prefix});
  uint8_t captured_[capture_size] = {};
  size_t captured_size_ = 0;
  size_t capture_want_ = 0;                        ///< the bytes take_captured() looks at
  client_message refused_message_;                 ///< what a refused client message was
  uint8_t own_node_[client_handshake_size] = {};   ///< the identity's node id as sent
  uint8_t local_node_[client_handshake_size] = {}; ///< set_local_node
  bool local_node_known_ = false;
  uint8_t claimed_pair_[2 * client_handshake_size] = {}; ///< what a refused monitor or down named
  size_t claimed_pair_size_ = 0;
  std::optional<process_identity> identity_;
  process_identity claimed_;      ///< what a refused later handshake named
  std::vector<uint64_t> replies_; ///< allow_reply_to
};

/// Follows the frames of the other direction (the node's own CAF to the remote side), trusting
/// its headers: reports each one to a visitor, counting payload bytes past, except the first 32 of
/// the first server handshake: this node's id (instance::write_server_handshake writes
/// `sink(this_node_, app_ids, aid, iface)`).
class basp_header_follower {
public:
  template <class Visitor>
  void feed(const uint8_t* data, size_t n, Visitor&& visit) {
    while (n > 0) {
      if (payload_left_ > 0) {
        auto k = static_cast<size_t>(std::min<uint64_t>(payload_left_, n));
        if (node_want_ > 0) {
          auto take = std::min(k, node_want_);
          std::memcpy(node_ + (sizeof(node_) - node_want_), data, take);
          node_want_ -= take;
          node_known_ = node_want_ == 0;
        }
        payload_left_ -= k;
        data += k;
        n -= k;
        continue;
      }
      auto k = std::min(basp_frame_checker::header_size - have_, n);
      std::memcpy(partial_ + have_, data, k);
      have_ += k;
      data += k;
      n -= k;
      if (have_ < basp_frame_checker::header_size)
        return;
      have_ = 0;
      auto h = basp_frame_checker::decode(partial_);
      payload_left_ = h.payload_len;
      if (h.operation == 0 && !node_known_ && node_want_ == 0 && h.payload_len >= sizeof(node_))
        node_want_ = sizeof(node_);
      visit(h);
    }
  }

  /// This node's id (32 bytes) once its server handshake passed; nullptr before.
  const uint8_t* local_node() const { return node_known_ ? node_ : nullptr; }

private:
  uint8_t node_[client_handshake_size] = {};
  size_t node_want_ = 0; ///< bytes of node_ still to come
  bool node_known_ = false;
  uint64_t payload_left_ = 0;
  uint8_t partial_[basp_frame_checker::header_size] = {};
  size_t have_ = 0;
};

} // namespace actorkv
