#include "actors/client/tls.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

// CAF 0.17.6's OpenSSL sessions (libcaf_openssl: session::do_some, handle_ssl_result) call
// SSL_read, SSL_write, SSL_connect and SSL_accept without emptying the thread's error queue
// first, and leave an entry in it when a connection fails (OpenSSL 3 reports a peer's reset or
// EOF there). SSL_get_error then reports SSL_ERROR_SSL for the next session served by that
// thread, and CAF closes it too: one peer killed with -9 dropped every TLS connection of every
// node. OpenSSL requires an empty queue before these calls; these definitions, which the linker
// exports from the program because libcaf_openssl refers to them, empty it and call OpenSSL's.
namespace {

template <class F>
F openssl_function(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = openssl_function<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = openssl_function<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_connect(SSL* ssl) {
  static auto real = openssl_function<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

int SSL_accept(SSL* ssl) {
  static auto real = openssl_function<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"

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
