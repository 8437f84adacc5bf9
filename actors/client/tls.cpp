#include "actors/client/tls.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include <atomic>
#include <functional>
#include <mutex>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include "actors/guard/basp_frame.hpp"
#include "cluster-config/frame_progress.hpp"

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

// The connections CAF dials trust the other side's BASP headers as much as a node's port would
// without its guard: CAF 0.17 allocates whatever payload a header announces
// (actors/guard/basp_frame.hpp). So each session that CAF's OpenSSL module starts with
// SSL_connect gets a checker, kept in the SSL object's ex_data (freed with it by OpenSSL, whoever
// frees it), that follows the headers in the bytes SSL_read returns; a header announcing more than
// the limit fails that read and the connection, before CAF sees the header. Only calls from
// libcaf_openssl (as Debian ships it, a shared library) are taken: the program's other TLS
// clients (libcurl, a test's own) speak other protocols, and kvnode's frame guard and HTTPS API
// accept rather than connect.

std::atomic<uint32_t> dialed_limit{0}; ///< 0: not set, see dialed_frame_limit()
std::mutex dialed_log_mutex;
std::function<void(const std::string&)> dialed_log; ///< under dialed_log_mutex

struct dialed_follower {
  actorkv::basp_frame_checker checker;
  bool refused = false;
  /// Where reads that advance a large frame are noted, by the peer's CN (looked up at the first
  /// such read), for the failure detector: cluster-config/frame_progress.hpp.
  std::atomic<int64_t>* progress = nullptr;
  explicit dialed_follower(uint32_t limit) : checker(limit) {}
};

/// The ex_data index of a session's dialed_follower; OpenSSL deletes it in SSL_free.
int follower_index() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr,
                                          [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
                                            delete static_cast<dialed_follower*>(ptr);
                                          });
  return index;
}

/// Whether `caller`, a return address, lies in CAF's OpenSSL module.
bool called_from_caf(void* caller) {
  Dl_info info{};
  return dladdr(caller, &info) != 0 && info.dli_fname &&
         std::strstr(info.dli_fname, "libcaf_openssl") != nullptr;
}

/// "127.0.0.2:7102", the node a session dialed; "?" when the socket does not say.
std::string dialed_peer(SSL* ssl) {
  sockaddr_storage sa{};
  socklen_t len = sizeof(sa);
  char host[INET6_ADDRSTRLEN] = "?";
  if (getpeername(SSL_get_fd(ssl), reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return host;
  if (sa.ss_family == AF_INET) {
    auto& in = reinterpret_cast<sockaddr_in&>(sa);
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
    return std::string{host} + ":" + std::to_string(ntohs(in.sin_port));
  }
  auto& in6 = reinterpret_cast<sockaddr_in6&>(sa);
  inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
  return "[" + std::string{host} + "]:" + std::to_string(ntohs(in6.sin6_port));
}

/// A read of a dialed session advanced a large frame: noted under the peer certificate's CN.
void note_progress(SSL* ssl, dialed_follower& f) {
  if (!f.progress) {
    X509* cert = SSL_get0_peer_certificate(ssl);
    char cn[256] = {0};
    if (!cert ||
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) <= 0)
      return;
    f.progress = &actorkv::frame_progress::slot(cn);
  }
  actorkv::frame_progress::note(*f.progress);
}

/// The bytes a dialed session returned from SSL_read: false when they hold a header beyond the
/// limit (or one CAF itself would refuse); the read must then fail.
bool dialed_bytes_pass(SSL* ssl, const void* buf, int n) {
  auto* f = static_cast<dialed_follower*>(SSL_get_ex_data(ssl, follower_index()));
  if (!f)
    return true;
  bool mid_frame = f->checker.large_frame_under_way(actorkv::frame_progress::large_frame_bytes);
  if (f->checker.feed(static_cast<const uint8_t*>(buf), static_cast<size_t>(n))) {
    if (mid_frame || f->checker.large_frame_under_way(actorkv::frame_progress::large_frame_bytes))
      note_progress(ssl, *f);
    return true;
  }
  if (!f->refused) {
    f->refused = true;
    std::lock_guard<std::mutex> lock{dialed_log_mutex};
    if (dialed_log)
      dialed_log("dropped connection to " + dialed_peer(ssl) + ": " + f->checker.describe());
  }
  // SSL_get_error then says SSL_ERROR_SSL: CAF closes the connection as a broken one.
  ERR_raise_data(ERR_LIB_SSL, SSL_R_EXCESSIVE_MESSAGE_SIZE, "%s", f->checker.describe().c_str());
  return false;
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = openssl_function<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  int rc = real(ssl, buf, num);
  if (rc > 0 && !dialed_bytes_pass(ssl, buf, rc))
    return -1;
  return rc;
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = openssl_function<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_connect(SSL* ssl) {
  static auto real = openssl_function<int (*)(SSL*)>("SSL_connect");
  if (ssl && !SSL_get_ex_data(ssl, follower_index()) &&
      called_from_caf(__builtin_extract_return_addr(__builtin_return_address(0))))
    SSL_set_ex_data(ssl, follower_index(), new dialed_follower(actorkv::dialed_frame_limit()));
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

void set_dialed_frame_limit(uint32_t bytes, std::function<void(const std::string&)> log) {
  dialed_limit = bytes;
  std::lock_guard<std::mutex> lock{dialed_log_mutex};
  dialed_log = std::move(log);
}

uint32_t dialed_frame_limit() {
  if (auto set = dialed_limit.load())
    return set;
  if (auto* env = std::getenv("ACTORKV_MAX_FRAME_BYTES")) {
    char* end = nullptr;
    auto x = std::strtoull(env, &end, 10);
    if (end != env && *end == '\0' && x > 0 && x <= UINT32_MAX)
      return static_cast<uint32_t>(x);
  }
  return default_dialed_frame_limit;
}

connector_actor default_connector(caf::actor_system& sys) {
  if (sys.has_openssl_manager())
    return caf::actor_cast<connector_actor>(sys.openssl_manager().actor_handle());
  return caf::actor_cast<connector_actor>(sys.middleman().actor_handle());
}

} // namespace actorkv
