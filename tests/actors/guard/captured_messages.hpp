// Direct message payloads captured from real CAF 0.17.6 processes through a recording proxy in
// front of a node actor published by CAF: what actorkv's client library (spawn_client) sent for
// status, put, get, get of several keys, delete, fault and admin requests, what CAF's BASP broker
// and spawn server exchange with every new node, and what raw CAF clients send for
// anon_send_exit (kill), send_exit (user_shutdown), link and unlink, a message with a forwarding
// stack, and messages of types no client signature has. The layout: actors/guard/basp_message.hpp.
// Node ids in them are those of the capturing host (BFFADF3AC9F1142F6446CA706C9BB0F69B1144xx).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace guard_test {

/// Bytes from a hex string.
inline std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

/// One captured direct message: its header fields and payload.
struct captured_message {
  const char* name;
  uint64_t operation_data; ///< the message id
  const char* payload;     ///< hex
  std::vector<uint8_t> bytes() const { return from_hex(payload); }
};

// -- what actorkv's client library sends (actors/client/client.cpp) -----------------------------

/// (session_atom) to the node actor, a request: 00 | 00 00 | 09 "@<>+@atom" | atom("session").
inline const captured_message session_request{"session", 0x1000000000000002,
                                              "00000009403c3e2b4061746f6d00003f8ab8e2ed33"};

/// (status_atom) to the node actor, a request.
inline const captured_message status_request{"status", 0x1000000000000003,
                                             "00000009403c3e2b4061746f6d000000fe399b9eb8"};

/// (status_atom, cluster_atom) to the node actor, a request (written by CAF's serializer, which
/// the_captured_payloads_are_what_caf_writes checks, like the captured ones).
inline const captured_message cluster_status_request{
    "status cluster", 0x1000000000000004,
    "0000000f403c3e2b4061746f6d2b4061746f6d000000fe399b9eb800003e8c7ae39ab7"};

/// (fault_atom, "heal", {}, 0u) to the node actor.
inline const captured_message fault_request{
    "fault", 0x1000000000000005,
    "0000001b403c3e2b4061746f6d2b407374722b407374727665632b4075333200000003eb9bac79046865616c00"
    "00000000"};

/// (admin_atom, "leave", "n1", false) to the node actor.
inline const captured_message admin_request{
    "admin", 0x1000000000000006,
    "00000018403c3e2b4061746f6d2b407374722b407374722b626f6f6c00000003e6a72bb3056c65617665026e31"
    "00"};

/// (batch_atom, std::vector<client_call>) to the coordinator, asynchronous: the type names
/// "@<>+@atom+std::vector<actorkv::client_call>", atom("batch"), then the batch as one byte
/// string (messages/wire.hpp) and its (empty) error vector. A put of "k" = "vv":
inline const captured_message put_batch{
    "put batch", 0x1000000000000000,
    "0000002b403c3e2b4061746f6d2b7374643a3a766563746f723c6163746f726b763a3a636c69656e745f63616c"
    "6c3e00000003e79b9a2d0a01010101016b0276760000"};

/// A get of "k".
inline const captured_message get_batch{
    "get batch", 0x1000000000000000,
    "0000002b403c3e2b4061746f6d2b7374643a3a766563746f723c6163746f726b763a3a636c69656e745f63616c"
    "6c3e00000003e79b9a2d0801010200016b000000"};

/// A get of "a" and "b" in one batch.
inline const captured_message get_many_batch{
    "get many batch", 0x1000000000000000,
    "0000002b403c3e2b4061746f6d2b7374643a3a766563746f723c6163746f726b763a3a636c69656e745f63616c"
    "6c3e00000003e79b9a2d0e010203000161000004000162000000"};

/// A delete of "k".
inline const captured_message delete_batch{
    "delete batch", 0x1000000000000000,
    "0000002b403c3e2b4061746f6d2b7374643a3a766563746f723c6163746f726b763a3a636c69656e745f63616c"
    "6c3e00000003e79b9a2d0801010502016b000000"};

// -- what CAF's broker and spawn server exchange with every new node ----------------------------

/// The client's spawn server answering this node's broker helper (named receiver request
/// "SpawnServ" (sys_atom, get_atom, "info")), asynchronous, to the helper's id:
/// (ok_atom, "info", strong_actor_ptr{actor 1 of the client}, "spawn_server").
inline const captured_message spawn_server_answer{
    "spawn server answer", 0x1000000000000000,
    "00000025403c3e2b4061746f6d2b407374722b407374726f6e675f6163746f725f7074722b4073747200000000"
    "0000fd3004696e666f000000000000000100003e9aab9bac79000047f5bffadf3ac9f1142f6446ca706c9bb0f6"
    "9b1144010c737061776e5f736572766572"};

// -- what a client must not send --------------------------------------------------------------

/// caf::anon_send_exit(node, exit_reason::kill): (exit_msg{source, kill}): "@<>+@exit", the source
/// address (actor id 0, the client's node id), the reason: code 5, atom("exit"), context "@<>".
inline const captured_message exit_kill{
    "exit kill", 0x1000000000000000,
    "00000009403c3e2b4065786974000000000000000700003e9aab9bac7900006e17bffadf3ac9f1142f6446ca70"
    "6c9bb0f69b11440005000000000fabdbb9000003403c3e"};

/// self->send_exit(node, exit_reason::user_shutdown): code 4. Fatal too, unless the receiver
/// traps exits.
inline const captured_message exit_user_shutdown{
    "exit user_shutdown", 0x1000000000000000,
    "00000009403c3e2b4065786974000000000000000800003e9aab9bac7900006e26bffadf3ac9f1142f6446ca70"
    "6c9bb0f69b11440104000000000fabdbb9000003403c3e"};

/// (link_atom, strong_actor_ptr): what a proxy sends when a client actor links to a remote one.
/// CAF 0.17.6 sent it as a routed_message (header rules refuse those); this is its stages and
/// message, as a direct message would carry them.
inline const captured_message link_message{
    "link", 0x1000000000000000,
    "0000001b403c3e2b4061746f6d2b407374726f6e675f6163746f725f707472000000000fc6ecf0000000000000"
    "000a00003e9aab9bac7900006e73bffadf3ac9f1142f6446ca706c9bb0f69b114401"};

/// (unlink_atom, strong_actor_ptr), likewise.
inline const captured_message unlink_message{
    "unlink", 0x1000000000000000,
    "0000001b403c3e2b4061746f6d2b407374726f6e675f6163746f725f707472000000feb3c6ecf0000000000000"
    "000b00003e9aab9bac7900006e73bffadf3ac9f1142f6446ca706c9bb0f69b114401"};

/// (status_atom) with a forwarding stack of one actor (the reply would go to actor 9 of the
/// client): 01 | actor id, node id | the message.
inline const captured_message status_with_stages{
    "status with stages", 0x1000000000000000,
    "01000000000000000900003e9aab9bac7900006e82bffadf3ac9f1142f6446ca706c9bb0f69b11440100000940"
    "3c3e2b4061746f6d000000fe399b9eb8"};

/// (int32_t{42}): a type no client signature has.
inline const captured_message int_message{"int", 0x1000000000000000,
                                          "00000008403c3e2b406933320000002a"};

/// (sys_atom, get_atom, "info") to the node actor itself (not the spawn server): CAF answers it
/// for any actor.
inline const captured_message sys_info_direct{
    "sys info to the node", 0x1000000000000000,
    "00000014403c3e2b4061746f6d2b4061746f6d2b4073747200000000003f8fb800000000003ecab904696e666f"};

/// (caf::ping_atom): a peer's liveness probe, not a client's.
inline const captured_message ping_message{"ping", 0x1000000000000000,
                                           "00000009403c3e2b4061746f6d000000000fd6ecec"};

/// The empty message.
inline const captured_message empty_message{"empty", 0x1000000000000000, "00000003403c3e"};

// -- monitor and down messages ------------------------------------------------------------------

/// The node ids of the capture of the client library's session: the client's, as its client
/// handshake named it, and the node's, as the node's server handshake did.
inline const std::string capture_client_node =
    "00003e9aab9bac79000047f5bffadf3ac9f1142f6446ca706c9bb0f69b114401";
inline const std::string capture_node =
    "00003e9aab9bac79000047f5bffadf3ac9f1142f6446ca706c9bb0f69b114400";

/// The client monitoring the node actor (and the coordinator, ...): a monitor_message to the
/// actor, payload (source node: the client, destination node: the node).
inline const std::string captured_monitor = capture_client_node + capture_node;

/// An actor of the client that the node monitored terminated (user_shutdown, as the client
/// system shut down): a down_message from the actor, payload (the client, the node, the reason:
/// code 4, atom("exit"), no context).
inline const std::string captured_down =
    capture_client_node + capture_node + "04000000000fabdbb9000003403c3e";

/// A BASP frame: operation `op` with header fields and `payload`.
inline std::vector<uint8_t> basp_frame(uint8_t op, uint64_t src, uint64_t dst,
                                       const std::vector<uint8_t>& payload, uint8_t flags = 0) {
  std::vector<uint8_t> out;
  auto put = [&](uint64_t x, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      out.push_back(static_cast<uint8_t>(x >> (8 * i)));
  };
  put(op, 1);
  put(0, 2);
  put(flags, 1);
  put(payload.size(), 4);
  put(0, 8);
  put(src, 8);
  put(dst, 8);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

/// A direct message frame to actor `dst` from actor `src` carrying `m`, its payload padded with
/// filler bytes to `pad_to` bytes (a batch's value, which the guard never reads).
inline std::vector<uint8_t> direct_frame(uint64_t dst, const captured_message& m, size_t pad_to = 0,
                                         uint64_t src = 5) {
  auto payload = m.bytes();
  if (payload.size() < pad_to)
    payload.resize(pad_to, 0x5A);
  std::vector<uint8_t> out;
  auto put = [&](uint64_t x, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      out.push_back(static_cast<uint8_t>(x >> (8 * i)));
  };
  put(2, 1); // direct_message
  put(0, 3);
  put(payload.size(), 4);
  put(m.operation_data, 8);
  put(src, 8);
  put(dst, 8);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

} // namespace guard_test
