// TLS for clients and nodes dialing nodes: CAF's OpenSSL module with the cluster CA and the
// caller's certificate (docs/security.md).
#pragma once

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

/// What dials nodes: the OpenSSL module's connector when the system loaded it, else the
/// middleman's (plaintext).
connector_actor default_connector(caf::actor_system& sys);

} // namespace actorkv
