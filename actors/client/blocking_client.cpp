#include "actors/client/blocking_client.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/client/client.hpp"
#include "messages/register_types.hpp"

namespace actorkv {

struct blocking_client::impl {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  client_actor client;
  std::chrono::milliseconds timeout;

  static caf::actor_system_config& init(caf::actor_system_config& cfg, const tls_files& tls) {
    register_types(cfg);
    cfg.load<caf::io::middleman>();
    if (tls.any())
      load_tls(cfg, tls);
    cfg.set("scheduler.max-threads", 2);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    return cfg;
  }

  impl(std::vector<std::string> endpoints, std::chrono::milliseconds t, const tls_files& tls)
      : sys(init(cfg, tls)), client(spawn_client(sys, client_options{std::move(endpoints), t})),
        timeout(t) {}

  ~impl() { caf::anon_send_exit(client, caf::exit_reason::user_shutdown); }

  /// One request; the client bounds it by `timeout`, the extra second only guards against a
  /// client that never answers.
  template <class Reply, class... Ts>
  caf::expected<Reply> ask(Ts&&... xs) {
    caf::scoped_actor self{sys};
    caf::expected<Reply> out{caf::error{}};
    self->request(client, timeout + std::chrono::seconds(1), std::forward<Ts>(xs)...)
        .receive([&](Reply& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }
};

blocking_client::blocking_client(std::vector<std::string> endpoints,
                                 std::chrono::milliseconds timeout, const tls_files& tls)
    : impl_(std::make_unique<impl>(std::move(endpoints), timeout, tls)) {}

blocking_client::~blocking_client() = default;

caf::expected<get_reply> blocking_client::get(const bytes& key) {
  return impl_->ask<get_reply>(caf::get_atom::value, key);
}

caf::expected<std::vector<get_reply>> blocking_client::get_many(const std::vector<bytes>& keys) {
  return impl_->ask<std::vector<get_reply>>(caf::get_atom::value, keys);
}

caf::expected<write_reply> blocking_client::put(const bytes& key, const bytes& value,
                                                const bytes& context, uint32_t ttl_s) {
  return impl_->ask<write_reply>(caf::put_atom::value, put_request{key, value, context, ttl_s});
}

caf::expected<write_reply> blocking_client::remove(const bytes& key, const bytes& context,
                                                   bool blind) {
  return impl_->ask<write_reply>(caf::delete_atom::value, delete_request{key, context, blind});
}

caf::expected<cluster_status> blocking_client::status() {
  return impl_->ask<cluster_status>(status_atom::value);
}

caf::expected<cluster_answers> blocking_client::cluster_view() {
  return impl_->ask<cluster_answers>(status_atom::value, cluster_atom::value);
}

caf::expected<std::string> blocking_client::fault(const std::string& action,
                                                  const std::vector<std::string>& peers,
                                                  uint32_t delay_ms) {
  return impl_->ask<std::string>(fault_atom::value, action, peers, delay_ms);
}

caf::expected<std::string> blocking_client::admin(const std::string& action,
                                                  const std::string& subject, bool apply) {
  return impl_->ask<std::string>(admin_atom::value, action, subject, apply);
}

} // namespace actorkv
