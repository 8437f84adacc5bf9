// What a client's direct message carries, for the frame guard's client rules (basp_frame.hpp):
// only the prefix of the payload that says where a reply goes and what the message is, never the
// values behind it (a coordinator batch carries the client's put values).
//
// CAF 0.17.6 writes a direct message's payload with binary_serializer as `sink(stages, msg)`
// (basp::instance::dispatch; read back by remote_message_handler as `source(stages, msg)`):
//
//   stages   std::vector<strong_actor_ptr>: a varbyte count (LEB128, as begin_sequence writes
//            it), then each actor (id, node id). Where the reply goes after the receiver: a
//            client has no business naming other actors, so only the empty list, one byte 00.
//   message  message::save: begin_object(0, names) writes a uint16 type number 0 (big-endian)
//            and then one string, a varbyte length and the characters, "@<>" followed by
//            "+name" for each element: the portable type names of CAF's built-ins ("@atom",
//            "@str", "@strvec", "@u32", "@exit", "@strong_actor_ptr", ...), "bool", or the names
//            registered with add_message_type ("actorkv::cluster_status"). Then each element's
//            value: an atom as a uint64 (big-endian), a string as a varbyte length and its
//            bytes, a bool as one byte, a uint32 as four bytes (big-endian), ...
//
// e.g. the node actor's (session_atom) request, captured from a real actorkv client:
//
//   00                                  stages: none
//   00 00                               type number 0: names follow
//   09 40 3c 3e 2b 40 61 74 6f 6d       "@<>+@atom" (9 characters)
//   00 00 3f 8a b8 e2 ed 33             atom("session")
//
// and what `anon_send_exit(node, exit_reason::kill)` sends (captured from CAF 0.17.6):
//
//   00 00 00 09 "@<>+@exit"
//   00 00 00 00 00 00 00 07 | 00 00 3e 9a ab 9b ac 79 <pid> <host>   source: actor id, node id
//   05 | 00 00 00 00 0f ab db b9 | 00 00 03 "@<>"   reason: code 5 (kill), atom("exit"), no context
//
// CAF's receiving side intercepts (link_atom | unlink_atom, strong_actor_ptr) before the actor
// sees it, and an actor quits on an exit_msg with reason kill whatever its exit handler: neither
// has a client signature, so both are refused here, as is everything else that is not one.
//
// Pure logic, free of CAF: it reads at most client_message_prefix bytes and allocates only the
// short text naming a refused message's types for the log.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>

namespace actorkv {

/// CAF 0.17's atom_value of `text` (caf::atom), computed the same way: a 0xF marker, then six
/// bits per character (at most 10).
constexpr uint64_t caf_atom(const char* text) {
  uint64_t x = 0xF;
  for (; *text; ++text) {
    auto c = static_cast<unsigned char>(*text);
    uint64_t code = 0;
    if (c >= '0' && c <= '9')
      code = 1 + (c - '0');
    else if (c >= 'A' && c <= 'Z')
      code = 11 + (c - 'A');
    else if (c == '_')
      code = 37;
    else if (c >= 'a' && c <= 'z')
      code = 38 + (c - 'a');
    x = (x << 6) | code;
  }
  return x;
}

/// An atom's text as caf::to_string(atom_value) prints it; "?" for a value no atom has.
inline std::string caf_atom_text(uint64_t x) {
  static constexpr char decoding[] =
      " 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
  for (int n = 0; n <= 10; ++n) {
    if ((x >> (6 * n)) != 0xF)
      continue;
    std::string out;
    for (int i = n - 1; i >= 0; --i)
      out += decoding[(x >> (6 * i)) & 0x3F];
    return out;
  }
  return "?";
}

/// Which messages a client may send an actor.
enum class client_interface : uint8_t {
  node,        ///< the node actor: (session), (status), (fault, ...), (admin, ...)
  coordinator, ///< the node's coordinator: (batch, client calls)
  /// A helper of this node's BASP broker that asked the client's spawn server for its info
  /// (basp_broker::learned_new_node): only that server's answer, (ok, "info", actor, name).
  spawn_reply,
};

/// The bytes of a direct message's payload that inspect_client_message reads at most: enough for
/// the empty stages, the longest allowed type names and the values checked after them.
constexpr size_t client_message_prefix = 64;

/// The message ids a client's direct messages carry: normal priority, neither a response nor
/// answered, i.e. 0x1000000000000000 for an asynchronous message or that plus a request number.
/// Other categories put a message into an actor's stream queues, where CAF 0.17 takes it for a
/// stream message without looking; responses would complete the receiver's own requests.
constexpr bool client_message_id(uint64_t operation_data) {
  return (operation_data >> 60) == 0x1;
}

/// What inspect_client_message found.
struct client_message {
  enum verdict_type : uint8_t {
    allowed,
    stages,    ///< a non-empty forwarding stack
    forbidden, ///< well-formed, but not a message a client may send this actor
    malformed, ///< not what CAF writes (a type number, truncated, overlong names)
  };
  verdict_type verdict = malformed;
  /// The message's types as far as they were read, for the log: "(@exit)", "(@atom 'ping')",
  /// "(@atom 'status', @str)"; a reason with `malformed`. At most ~200 characters.
  std::string what;
};

namespace basp_message_detail {

struct signature {
  const char* names; ///< the type names CAF writes, "@<>+..."
  uint64_t atom;     ///< the first element's value
  /// The payload's exact size when the message is fixed-size (one atom), else 0.
  size_t exact_size;
};

/// Payload bytes of a message made of one atom with `names`: stages, type number, length byte,
/// names, atom.
constexpr size_t one_atom_size(const char* names) {
  return 1 + 2 + 1 + std::char_traits<char>::length(names) + 8;
}

// The client signatures of messages/interfaces.hpp, with the names CAF 0.17.6 writes for them
// (captured from actorkv's client library, actors/client/client.cpp). The batch's vector has two
// registered names (register_types names it "actorkv::client_call_vector", and add_message_type
// of its element registers "std::vector<actorkv::client_call>" first, which CAF then writes); a
// node reads either.
inline constexpr signature node_signatures[] = {
    {"@<>+@atom", caf_atom("session"), one_atom_size("@<>+@atom")},
    {"@<>+@atom", caf_atom("status"), one_atom_size("@<>+@atom")},
    // (status_atom, cluster_atom): the cluster view. The second atom is not compared: the node
    // actor answers any other with an error, as it does every message it has no handler for.
    {"@<>+@atom+@atom", caf_atom("status"), one_atom_size("@<>+@atom+@atom") + 8},
    {"@<>+@atom+@str+@strvec+@u32", caf_atom("fault"), 0},
    {"@<>+@atom+@str+@str+bool", caf_atom("admin"), 0},
};
inline constexpr signature coordinator_signatures[] = {
    {"@<>+@atom+std::vector<actorkv::client_call>", caf_atom("batch"), 0},
    {"@<>+@atom+actorkv::client_call_vector", caf_atom("batch"), 0},
};
// caf::scheduled_actor::categorize answers (sys_atom, get_atom, "info") with
// (ok_atom, "info", strong_actor_ptr{self}, name()).
inline constexpr signature spawn_reply_signatures[] = {
    {"@<>+@atom+@str+@strong_actor_ptr+@str", caf_atom("ok"), 0},
};
/// After the spawn server answer's atom: its key, the string "info".
inline constexpr uint8_t info_key[] = {0x04, 'i', 'n', 'f', 'o'};

/// The longest text of a refused message's types kept for the log.
constexpr size_t max_what = 200;

/// "(@atom 'ping', @str)" from the first `n` bytes of the type names ("@<>+..."; `complete`:
/// all of them) and, when the first type is an atom whose value was read, that value (`atom`).
/// Non-printable bytes become '?'; at most about max_what characters.
inline std::string render(const uint8_t* names, size_t n, bool complete, const uint8_t* atom) {
  size_t i = n >= 3 && std::memcmp(names, "@<>", 3) == 0 ? 3 : 0;
  std::string out = "(";
  size_t element = 0;
  size_t element_start = out.size();
  auto end_element = [&] {
    if (element == 0 && atom && out.compare(element_start, std::string::npos, "@atom") == 0) {
      uint64_t x = 0;
      for (int k = 0; k < 8; ++k)
        x = x << 8 | atom[k];
      out += " '" + caf_atom_text(x) + "'";
    }
  };
  if (i < n && names[i] == '+')
    ++i;
  for (; i < n && out.size() < max_what; ++i) {
    auto c = names[i];
    if (c == '+') {
      end_element();
      ++element;
      out += ", ";
      element_start = out.size();
    } else {
      out += (c < 0x20 || c >= 0x7f) ? '?' : static_cast<char>(c);
    }
  }
  if (i < n || !complete)
    return out + "...)";
  end_element();
  return out + ")";
}

} // namespace basp_message_detail

/// Inspects a client's direct message to an actor with interface `to`: `p` holds the first
/// `n` = min(payload_len, client_message_prefix) bytes of its payload of `payload_len` bytes.
/// Allowed only with an empty forwarding stack and the exact type names and leading atom of one
/// of that interface's signatures (and for the spawn server's answer, the key "info").
inline client_message inspect_client_message(client_interface to, const uint8_t* p, size_t n,
                                             size_t payload_len) {
  namespace d = basp_message_detail;
  client_message out;
  bool whole = n == payload_len; // else more follows that was not given
  auto malformed = [&](const char* why) {
    out.verdict = client_message::malformed;
    out.what = why;
    return out;
  };
  if (n == 0)
    return malformed("an empty payload");
  if (p[0] != 0x00) { // any count but a one-byte 0: CAF writes 0 as one byte
    out.verdict = client_message::stages;
    out.what = "a forwarding stack (stages)";
    return out;
  }
  if (n < 4) // then n == payload_len: the prefix is longer
    return malformed("a payload truncated before its type names");
  if (p[1] != 0 || p[2] != 0)
    return malformed("a type number instead of type names");
  if (p[3] & 0x80) // a name list of 128 bytes or more: far longer than any allowed
    return malformed("type names of 128 bytes or more");
  size_t len = p[3];
  const uint8_t* names = p + 4;
  bool names_complete = 4 + len <= n;
  size_t names_seen = names_complete ? len : n - 4;
  if (!names_complete && whole)
    return malformed("a payload truncated in its type names");
  if (len < 3 || std::memcmp(names, "@<>", std::min<size_t>(3, names_seen)) != 0)
    return malformed("type names not starting with @<>");
  const d::signature* first = nullptr;
  const d::signature* last = nullptr;
  switch (to) {
  case client_interface::node:
    first = std::begin(d::node_signatures), last = std::end(d::node_signatures);
    break;
  case client_interface::coordinator:
    first = std::begin(d::coordinator_signatures), last = std::end(d::coordinator_signatures);
    break;
  case client_interface::spawn_reply:
    first = std::begin(d::spawn_reply_signatures), last = std::end(d::spawn_reply_signatures);
    break;
  }
  size_t atom_at = 4 + len;
  const uint8_t* atom = atom_at + 8 <= n ? p + atom_at : nullptr;
  // Named for the log only when refused: a passing message costs no allocation.
  auto forbidden = [&] {
    out.verdict = client_message::forbidden;
    out.what = d::render(names, names_seen, names_complete, atom);
    return out;
  };
  if (!names_complete) // longer than any allowed names, which all fit in the prefix
    return forbidden();
  for (auto s = first; s != last; ++s) {
    if (std::char_traits<char>::length(s->names) != len || std::memcmp(s->names, names, len) != 0)
      continue;
    if (!atom) // all allowed names start with an atom, which fits in the prefix
      return whole ? malformed("a payload truncated before its first value") : forbidden();
    uint64_t x = 0;
    for (int k = 0; k < 8; ++k)
      x = x << 8 | atom[k];
    if (x != s->atom)
      continue;
    if (s->exact_size != 0 && payload_len != s->exact_size)
      return malformed("bytes after a message's last value");
    if (to == client_interface::spawn_reply) {
      auto at = atom_at + 8;
      if (at + sizeof(d::info_key) > n)
        return whole ? malformed("a payload truncated before its second value") : forbidden();
      if (std::memcmp(p + at, d::info_key, sizeof(d::info_key)) != 0)
        continue;
    }
    out.verdict = client_message::allowed;
    return out;
  }
  return forbidden();
}

} // namespace actorkv
