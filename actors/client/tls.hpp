// TLS for clients and nodes dialing nodes: CAF's OpenSSL module with the cluster CA and the
// caller's certificate (docs/security.md).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace actorkv {

/// The files of a TLS identity: the cluster CA, a certificate it signed and that certificate's
/// key. All three, or none (plaintext).
struct tls_files {
  std::string ca;
  std::string cert;
  std::string key;
  bool any() const { return !ca.empty() || !cert.empty() || !key.empty(); }
};

/// Empty when `files` name three readable files; else what is wrong, e.g. "--key is missing" or
/// "cannot read run/certs/ca.crt: No such file or directory". CAF aborts the process on a
/// half-configured identity, so callers check before loading.
std::string check_tls_files(const tls_files& files);

/// The identity from the environment: ACTORKV_CA, ACTORKV_CERT, ACTORKV_KEY (for scripts).
tls_files tls_files_from_environment();

/// Loads CAF's OpenSSL module with `files` into `cfg`; call after cfg.load<caf::io::middleman>().
void load_tls(caf::actor_system_config& cfg, const tls_files& files);

/// The limit of dialed_frame_limit() unless set otherwise: the upper bound of any cluster's
/// max_frame_bytes (max_frame_bytes_bound, cluster-config/manifest.hpp; a node never sends more,
/// and a get of a record of the largest max_record_bytes needs nearly that), far below what a
/// forged header can announce (4 GiB).
constexpr uint32_t default_dialed_frame_limit = 256u << 20;

/// Sets the largest BASP payload this process accepts on the TLS connections CAF's OpenSSL module
/// dials (nodes dialing peers, clients dialing nodes; the program's other TLS connections are
/// left alone). A header announcing more fails
/// its connection as a broken one before CAF reads it (CAF 0.17 allocates whatever a header
/// announces: actors/guard/basp_frame.hpp). Takes effect for connections dialed afterwards.
/// `log`, when given, gets one line per connection dropped so (from CAF's I/O thread).
/// Connections dialed in plaintext are not checked.
void set_dialed_frame_limit(uint32_t bytes, std::function<void(const std::string&)> log = {});

/// The limit: the one set, else env ACTORKV_MAX_FRAME_BYTES (a positive 32-bit count), else
/// default_dialed_frame_limit.
uint32_t dialed_frame_limit();

/// What dials nodes: the OpenSSL module's connector when the system loaded it, else the
/// middleman's (plaintext).
connector_actor default_connector(caf::actor_system& sys);

} // namespace actorkv
