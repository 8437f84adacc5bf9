// Shopping carts as in the Dynamo paper: one cart per user, written from several devices without
// coordination. Concurrent additions become siblings; the application merges them by set union
// and writes the union back with the context of the read, so no addition is ever lost.
//
//   shopping_cart --connect HOST:PORT[,HOST:PORT...] [--user NAME] [--ca F --cert F --key F]
#include <algorithm>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <actors/client/client.hpp>
#include <actors/client/tls.hpp>
#include <messages/error.hpp>
#include <messages/register_types.hpp>

using namespace actorkv;

namespace {

bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

/// A cart is its items, one per line.
std::set<std::string> items_of(const bytes& value) {
  std::set<std::string> out;
  std::istringstream in{std::string(value.begin(), value.end())};
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      out.insert(line);
  return out;
}

bytes encode(const std::set<std::string>& items) {
  std::string text;
  for (auto& i : items)
    text += i + "\n";
  return to_bytes(text);
}

/// A device's view of one user's cart, through its own client actor.
class device {
public:
  device(caf::actor_system& sys, std::vector<std::string> endpoints)
      : self_(sys), client_(spawn_client(sys, client_options{std::move(endpoints)})) {}

  ~device() { caf::anon_send_exit(client_, caf::exit_reason::user_shutdown); }

  /// Reads the cart: the union of every sibling, and the context that covers them all.
  bool read(const std::string& user, std::set<std::string>& items, bytes& context) {
    bool ok = false;
    self_->request(client_, std::chrono::seconds(15), caf::get_atom::value, to_bytes(user))
        .receive(
            [&](const get_reply& r) {
              items.clear();
              for (auto& v : r.values)
                for (auto& i : items_of(v))
                  items.insert(i); // siblings merge by union: nothing added is lost
              context = r.context;
              siblings_ = r.values.size();
              ok = true;
            },
            [&](const caf::error& e) { std::cerr << "get failed: " << describe(e) << "\n"; });
    return ok;
  }

  bool write(const std::string& user, const std::set<std::string>& items, const bytes& context) {
    bool ok = false;
    self_
        ->request(client_, std::chrono::seconds(15), caf::put_atom::value,
                  put_request{to_bytes(user), encode(items), context})
        .receive([&](const write_reply&) { ok = true; },
                 [&](const caf::error& e) { std::cerr << "put failed: " << describe(e) << "\n"; });
    return ok;
  }

  size_t siblings_seen() const { return siblings_; }

private:
  caf::scoped_actor self_;
  client_actor client_;
  size_t siblings_ = 0;
};

} // namespace

int main(int argc, char** argv) {
  std::string connect, user = "alice";
  tls_files tls; // the cluster's CA and a write certificate (docs/security.md)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i];
    if (arg == "--connect")
      connect = argv[i + 1];
    else if (arg == "--user")
      user = argv[i + 1];
    else if (arg == "--ca")
      tls.ca = argv[i + 1];
    else if (arg == "--cert")
      tls.cert = argv[i + 1];
    else if (arg == "--key")
      tls.key = argv[i + 1];
  }
  auto endpoints = parse_endpoints(connect);
  if (endpoints.empty()) {
    std::cerr << "usage: shopping_cart --connect HOST:PORT[,HOST:PORT...] [--user NAME] "
                 "[--ca FILE --cert FILE --key FILE]\n";
    return 2;
  }
  if (tls.any())
    if (auto problem = check_tls_files(tls); !problem.empty()) {
      std::cerr << "shopping_cart: " << problem << "\n";
      return 2;
    }
  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.load<caf::io::middleman>();
  if (tls.any())
    load_tls(cfg, tls); // CAF's OpenSSL module: the client then connects over TLS
  caf::actor_system sys{cfg};
  // Two devices, each talking to a different node when it can.
  device phone{sys, endpoints};
  std::vector<std::string> rotated(endpoints.begin(), endpoints.end());
  std::rotate(rotated.begin(), rotated.begin() + (rotated.size() > 1 ? 1 : 0), rotated.end());
  device laptop{sys, rotated};
  std::set<std::string> a, b;
  bytes ctx_a, ctx_b;
  // Both read the same (empty) cart, then add different items without seeing each other.
  if (!phone.read(user, a, ctx_a) || !laptop.read(user, b, ctx_b))
    return 1;
  a.insert("apples");
  b.insert("bread");
  if (!phone.write(user, a, ctx_a) || !laptop.write(user, b, ctx_b))
    return 1;
  // The next read sees two siblings; merging by union and writing back resolves them.
  std::set<std::string> merged;
  bytes ctx;
  if (!phone.read(user, merged, ctx))
    return 1;
  std::cout << "siblings after concurrent adds: " << phone.siblings_seen() << "\n";
  merged.insert("milk");
  if (!phone.write(user, merged, ctx))
    return 1;
  std::set<std::string> final_cart;
  if (!laptop.read(user, final_cart, ctx))
    return 1;
  std::cout << "siblings after the merge: " << laptop.siblings_seen() << "\n";
  std::cout << "cart of " << user << ":";
  for (auto& i : final_cart)
    std::cout << " " << i;
  std::cout << "\n";
  return 0;
}
