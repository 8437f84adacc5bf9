#include "actors/client/tls.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

namespace actorkv {

std::string check_tls_files(const tls_files& files) {
  for (auto [option, path] : {std::pair{"--ca", &files.ca}, std::pair{"--cert", &files.cert},
                              std::pair{"--key", &files.key}}) {
    if (path->empty())
      return std::string{option} + " is missing (TLS needs --ca, --cert and --key together)";
    std::ifstream in{*path};
    if (!in)
      return "cannot read " + *path + ": " + std::strerror(errno);
  }
  return {};
}

tls_files tls_files_from_environment() {
  auto var = [](const char* name) {
    auto* v = std::getenv(name);
    return v ? std::string{v} : std::string{};
  };
  return tls_files{var("ACTORKV_CA"), var("ACTORKV_CERT"), var("ACTORKV_KEY")};
}

void load_tls(caf::actor_system_config& cfg, const tls_files& files) {
  cfg.load<caf::openssl::manager>();
  cfg.set("openssl.certificate", files.cert);
  cfg.set("openssl.key", files.key);
  cfg.set("openssl.cafile", files.ca);
}

connector_actor default_connector(caf::actor_system& sys) {
  if (sys.has_openssl_manager())
    return caf::actor_cast<connector_actor>(sys.openssl_manager().actor_handle());
  return caf::actor_cast<connector_actor>(sys.middleman().actor_handle());
}

} // namespace actorkv
