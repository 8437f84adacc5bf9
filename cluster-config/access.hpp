// Who may do what. A client proves a role with its certificate (the role is the subject's OU,
// e.g. "/CN=alice/OU=write") or, over HTTPS, with a bearer token whose SHA-256 the manifest
// holds. Nodes carry the role `node`. The frame guard records which CAF process (the node id its
// BASP handshake claims) proved which role; the node's actors look the sender up before acting.
//
// Pure logic, free of CAF and sockets: the guard's thread writes the table, actors read it.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace actorkv {

/// Ordered: each role may do what the ones before it may.
enum class role : uint8_t {
  none,  ///< unknown to this node: may do nothing
  read,  ///< get, batch get, status
  write, ///< and put, delete
  admin, ///< and join, leave, remove, plan, fault injection (when the manifest enables it)
  node,  ///< a cluster member: and replication, gossip, probes, handoff
};

inline bool allows(role have, role need) {
  return static_cast<uint8_t>(have) >= static_cast<uint8_t>(need);
}

/// "read", "write", "admin", "node"; nullopt for anything else (including "none").
std::optional<role> parse_role(std::string_view text);

const char* role_name(role r);

/// A CAF process as BASP names it: process id and host hash of its node id.
struct process_identity {
  uint32_t pid = 0;
  std::array<uint8_t, 20> host{};
  bool operator==(const process_identity& other) const {
    return pid == other.pid && host == other.host;
  }
};

struct process_identity_hash {
  size_t operator()(const process_identity& p) const;
};

/// What each connected process proved. Thread-safe.
class access_table {
public:
  /// Records one more connection of `who`, proven `r` by a certificate named `subject`. Refused
  /// (false, nothing recorded) when `who` is already recorded with another role or subject, or
  /// is a trusted member and `r` is not node: a second process claiming the same node id.
  bool grant(const process_identity& who, role r, const std::string& subject);

  /// One connection of `who` closed; the entry goes with its last connection.
  void release(const process_identity& who);

  /// A member this node connected to itself (its certificate was checked by CAF's TLS client):
  /// its messages may come back on that connection, which bypasses the guard.
  void trust_member(const process_identity& who);
  void forget_member(const process_identity& who);

  /// role::node for a trusted member (role::none when a client's certificate claimed its id
  /// first), role::none for a process with no open connection here.
  role role_of(const process_identity& who) const;

  /// The certificate subject recorded for `who`, empty when unknown (for log lines).
  std::string subject_of(const process_identity& who) const;

private:
  struct entry {
    role granted = role::none;
    std::string subject;
    uint32_t connections = 0;
  };
  mutable std::mutex mutex_;
  std::unordered_map<process_identity, entry, process_identity_hash> entries_;
  std::unordered_map<process_identity, uint32_t, process_identity_hash> members_;
};

/// An HTTPS bearer token from the manifest: only its SHA-256 is stored.
struct access_token {
  std::string name;
  role granted = role::none;
  std::string sha256_hex; ///< 64 lowercase hex digits
};

/// Lowercase hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);

/// The role of the token whose hash matches `presented`, compared in constant time; nullopt when
/// none does.
std::optional<role> token_role(const std::vector<access_token>& tokens, std::string_view presented);

} // namespace actorkv
