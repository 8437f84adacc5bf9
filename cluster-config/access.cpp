#include "cluster-config/access.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace actorkv {

std::optional<role> parse_role(std::string_view text) {
  for (auto r : {role::read, role::write, role::admin, role::node})
    if (text == role_name(r))
      return r;
  return std::nullopt;
}

const char* role_name(role r) {
  switch (r) {
  case role::none:
    return "none";
  case role::read:
    return "read";
  case role::write:
    return "write";
  case role::admin:
    return "admin";
  case role::node:
    return "node";
  }
  return "none";
}

size_t process_identity_hash::operator()(const process_identity& p) const {
  // The host part is already a hash (SHA-1 of the host's identity): a few of its bytes suffice.
  size_t h = p.pid;
  for (size_t i = 0; i < sizeof(size_t) && i < p.host.size(); ++i)
    h = h * 131 + p.host[i];
  return h;
}

bool access_table::grant(const process_identity& who, role r, const std::string& subject) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (r != role::node && members_.count(who) > 0)
    return false; // a client claiming the node id of a member this node dialed
  auto& e = entries_[who];
  if (e.connections > 0 && (e.granted != r || e.subject != subject))
    return false;
  e.granted = r;
  e.subject = subject;
  ++e.connections;
  return true;
}

void access_table::release(const process_identity& who) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = entries_.find(who);
  if (i == entries_.end())
    return;
  if (--i->second.connections == 0)
    entries_.erase(i);
}

void access_table::trust_member(const process_identity& who) {
  std::lock_guard<std::mutex> guard{mutex_};
  ++members_[who];
}

void access_table::forget_member(const process_identity& who) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = members_.find(who);
  if (i != members_.end() && --i->second == 0)
    members_.erase(i);
}

role access_table::role_of(const process_identity& who) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = entries_.find(who);
  if (members_.count(who) > 0)
    // A client that claimed a member's id before this node dialed that member: trust neither.
    return i == entries_.end() || i->second.granted == role::node ? role::node : role::none;
  return i == entries_.end() ? role::none : i->second.granted;
}

std::string access_table::subject_of(const process_identity& who) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = entries_.find(who);
  return i == entries_.end() ? std::string{} : i->second.subject;
}

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::optional<role> token_role(const std::vector<access_token>& tokens,
                               std::string_view presented) {
  auto digest = sha256_hex(presented);
  std::optional<role> found;
  // Every token is compared, each in constant time: timing says nothing about which matched.
  for (auto& t : tokens)
    if (t.sha256_hex.size() == digest.size() &&
        CRYPTO_memcmp(t.sha256_hex.data(), digest.data(), digest.size()) == 0)
      found = t.granted;
  return found;
}

} // namespace actorkv
