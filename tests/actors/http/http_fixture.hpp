// What the HTTP server suites share: an actor system with a fake store (an in-memory
// client_actor with versioned siblings), a server on 127.0.0.1, blocking clients whose sockets
// time out, and curl. Every wait is bounded.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/client/client.hpp"
#include "actors/http/http_codec.hpp"
#include "actors/http/http_server.hpp"
#include "messages/error.hpp"
#include "messages/hex.hpp"
#include "messages/register_types.hpp"

namespace actorkv::http_test {

using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

inline bytes b(const std::string& s) {
  return bytes(s.begin(), s.end());
}

// --- the fake store ---------------------------------------------------------------------------

/// The test's view into the fake: how many calls reached it (refused requests must not).
/// It takes gets, puts and deletes both as messages and as kvnode's client actor takes them from
/// the HTTPS API (local_calls, with callbacks).
using fake_store_actor = client_actor::extend<caf::replies_to<count_atom>::with<uint64_t>,
                                              caf::reacts_to<local_calls>>;

/// Each key keeps its siblings tagged with the version that wrote them; a context is the version
/// a get saw, and a write with it replaces the siblings up to that version, as with real
/// contexts. Keys named fail-* answer with that error; "never" never answers.
struct fake_store_state {
  struct entry {
    uint64_t version = 0;
    std::vector<std::pair<uint64_t, bytes>> siblings;
  };
  std::map<bytes, entry> data;
  uint64_t clock = 0;
  uint64_t calls = 0;
  std::vector<caf::typed_response_promise<get_reply>> held_gets;
  std::vector<caf::typed_response_promise<write_reply>> held_writes;
  std::vector<std::function<void(client_answer&)>> held_calls; ///< local calls of "never"
};

inline bytes context_of(uint64_t version) {
  bytes out{0xc7};
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(version >> shift));
  return out;
}

inline std::optional<uint64_t> version_of(const bytes& context) {
  if (context.empty())
    return 0;
  if (context.size() != 9 || context[0] != 0xc7)
    return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 1; i < 9; ++i)
    v = v << 8 | context[i];
  return v;
}

inline std::optional<caf::error> injected_failure(const bytes& key) {
  auto k = std::string(key.begin(), key.end());
  if (k == "fail-unavailable")
    return caf::make_error(ec::unavailable, "1 of 3 replicas reachable, 2 needed");
  if (k == "fail-maybe")
    return caf::make_error(ec::maybe_applied, "1 of 2 acknowledgements");
  if (k == "fail-timeout")
    return caf::make_error(ec::timeout, "no answer within 10000 ms");
  if (k == "fail-corrupt")
    return caf::make_error(ec::corrupt_record, "no intact replica answered");
  if (k == "fail-storage")
    return caf::make_error(ec::storage_failure, "disk full");
  return std::nullopt;
}

inline fake_store_actor::behavior_type
fake_store(fake_store_actor::stateful_pointer<fake_store_state> self) {
  auto read = [self](const bytes& key) {
    auto& st = self->state;
    get_reply r;
    auto it = st.data.find(key);
    if (it == st.data.end())
      return r;
    r.context = context_of(it->second.version);
    for (auto& [version, value] : it->second.siblings)
      r.values.push_back(value);
    r.found = !r.values.empty();
    return r;
  };
  auto write = [self](const bytes& key, const bytes& context,
                      std::optional<bytes> value) -> caf::result<write_reply> {
    auto& st = self->state;
    ++st.calls;
    if (auto err = injected_failure(key))
      return *err;
    if (key == b("never")) {
      st.held_writes.push_back(self->make_response_promise<write_reply>());
      return st.held_writes.back();
    }
    auto seen = version_of(context);
    if (!seen)
      return caf::make_error(ec::bad_context, "the context does not decode");
    auto& e = st.data[key];
    auto& sib = e.siblings;
    sib.erase(std::remove_if(sib.begin(), sib.end(), [&](auto& s) { return s.first <= *seen; }),
              sib.end());
    e.version = ++st.clock;
    if (value)
      sib.emplace_back(e.version, std::move(*value));
    write_reply reply;
    reply.acks = 2;
    reply.siblings = static_cast<uint32_t>(sib.size());
    return reply;
  };
  return {
      [=](caf::get_atom, const bytes& key) -> caf::result<get_reply> {
        ++self->state.calls;
        if (auto err = injected_failure(key))
          return *err;
        if (key == b("never")) {
          self->state.held_gets.push_back(self->make_response_promise<get_reply>());
          return self->state.held_gets.back();
        }
        return read(key);
      },
      [=](caf::get_atom, const std::vector<bytes>& keys) -> caf::result<std::vector<get_reply>> {
        ++self->state.calls;
        std::vector<get_reply> out;
        for (auto& k : keys) {
          if (auto err = injected_failure(k))
            return *err;
          out.push_back(read(k));
        }
        return out;
      },
      [=](caf::put_atom, put_request& req) {
        return write(req.key, req.context, std::move(req.value));
      },
      [=](caf::delete_atom, const delete_request& req) {
        return write(req.key, req.context, std::nullopt);
      },
      [=](status_atom) -> caf::result<cluster_status> {
        ++self->state.calls;
        cluster_status s;
        s.node = "n1";
        s.settings = "N=3 R=2 W=2 Q=4 sloppy siblings";
        s.members = {member_status{"n1", "127.0.0.1:7101", 1, true, 2, "valid", 2},
                     member_status{"n2", "127.0.0.1:7102", 1, false, 2, "valid", 2}};
        s.owners = {"n1", "n2", "n1", "n2"};
        s.view_fingerprint = 0xabc;
        return s;
      },
      [=](status_atom, cluster_atom) -> caf::result<cluster_answers> {
        // n1 answers with its own figures; n2 is down.
        ++self->state.calls;
        cluster_answers out;
        out.asked_by = "n1";
        member_answer n1;
        n1.name = "n1";
        n1.endpoint = "127.0.0.1:7101";
        n1.answered = true;
        n1.status.node = "n1";
        n1.status.pending_hints = 12;
        n1.status.handoff_keys_sent = 3;
        member_answer n2;
        n2.name = "n2";
        n2.endpoint = "127.0.0.1:7102";
        n2.error = "unavailable";
        n2.message = "n2 is not connected to n1";
        out.members = {n1, n2};
        return out;
      },
      [=](fault_atom, const std::string& action, const std::vector<std::string>& peers,
          uint32_t delay_ms) -> caf::result<std::string> {
        ++self->state.calls;
        return action + " " + std::to_string(peers.size()) + " " + std::to_string(delay_ms);
      },
      [=](admin_atom, const std::string& action, const std::string& subject,
          bool apply) -> caf::result<std::string> {
        ++self->state.calls;
        if (subject == "busy")
          return caf::make_error(ec::bad_request, "a handoff is running");
        return (apply ? "applied " : "plan ") + action + " " + subject + "\n";
      },
      [=](count_atom) { return self->state.calls; },
      [=](local_calls& batch) {
        for (auto& lc : batch.calls) {
          auto& c = lc.call;
          if (c.key == b("never")) {
            ++self->state.calls;
            self->state.held_calls.push_back(std::move(lc.done));
            continue;
          }
          client_answer a;
          if (c.kind == client_call_kind::get) {
            ++self->state.calls;
            if (auto err = injected_failure(c.key))
              a.err = *err;
            else
              a.get = read(c.key);
          } else {
            std::optional<bytes> value;
            if (c.kind == client_call_kind::put)
              value = std::move(c.value);
            auto r = write(c.key, c.context, std::move(value));
            if (r.flag == caf::rt_error)
              a.err = std::move(r.err);
            else
              a.write = r.value.get_as<write_reply>(0);
          }
          lc.done(a);
        }
      },
  };
}

// --- clients ------------------------------------------------------------------------------------

struct reply {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers; ///< names in lower case
  bool keep_alive = false;
  std::string error; ///< set when no response came

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

using header_list = std::vector<std::pair<std::string, std::string>>;

inline header_list bearer(const std::string& token, header_list more = {}) {
  more.emplace_back("Authorization", "Bearer " + token);
  return more;
}

/// One keep-alive connection with blocking calls, each bounded by the socket's timeouts.
class connection {
public:
  explicit connection(uint16_t port, std::chrono::milliseconds timeout = 5s) : socket_(ioc_) {
    socket_.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  reply send(http::verb verb, const std::string& target, const header_list& headers = {},
             const std::string& body = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [name, value] : headers)
      req.set(name, value);
    if (!body.empty() || verb == http::verb::put || verb == http::verb::post) {
      req.body() = body;
      req.prepare_payload();
    }
    boost::system::error_code ec;
    http::write(socket_, req, ec);
    if (ec)
      return reply{0, {}, {}, false, "write: " + ec.message()};
    return read();
  }

  reply read() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    boost::system::error_code ec;
    http::read(socket_, buffer_, parser, ec);
    reply r;
    if (ec) {
      r.error = "read: " + ec.message();
      return r;
    }
    auto& res = parser.get();
    r.status = res.result_int();
    r.body = res.body();
    r.keep_alive = res.keep_alive();
    for (auto& field : res) {
      std::string name{field.name_string()};
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string{field.value()};
    }
    return r;
  }

  void write_raw(const std::string& data) {
    boost::system::error_code ec;
    net::write(socket_, net::buffer(data), ec);
  }

  /// Whether the server closed the connection (EOF or reset) within `within`.
  bool closed_within(std::chrono::milliseconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    for (;;) {
      if (is_closed())
        return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms)
        return false;
      pollfd p{socket_.native_handle(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 50)));
    }
  }

  /// Closed now, without waiting.
  bool is_closed() {
    char c;
    auto n = ::recv(socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

/// A shell command's standard output (curl's, in these tests).
inline std::string run(const std::string& command) {
  std::string out;
  if (auto* pipe = ::popen(command.c_str(), "r")) {
    char chunk[4096];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0)
      out.append(chunk, n);
    ::pclose(pipe);
  }
  return out;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in{p, std::ios::binary};
  return std::string{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// A fresh directory under the system's temporary one, removed with the object.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() /
           ("actorkv-http-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// --- fixtures ----------------------------------------------------------------------------------

inline const std::string reader_token = "reader-secret";
inline const std::string writer_token = "writer-secret";
inline const std::string admin_token = "admin-secret";

inline http_options test_options() {
  http_options o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.tls = false;
  o.tokens = {{"reader", role::read, sha256_hex(reader_token)},
              {"writer", role::write, sha256_hex(writer_token)},
              {"admin", role::admin, sha256_hex(admin_token)}};
  o.max_key_bytes = 64;
  o.max_value_bytes = 4096;
  o.max_header_bytes = 4096;
  o.request_timeout = 3s;
  o.idle_timeout = 3s;
  o.store_timeout = 2s;
  o.threads = 2;
  return o;
}

struct server_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  fake_store_actor store;
  std::unique_ptr<http_server> server;
  std::vector<std::string> log;
  std::mutex log_mutex;

  static caf::actor_system_config& init(caf::actor_system_config& c) {
    register_types(c);
    c.set("scheduler.max-threads", 2);
    c.set("logger.verbosity", caf::atom("quiet"));
    return c;
  }

  server_fixture() : sys(init(cfg)), store(sys.spawn(fake_store)) {}

  void start(http_options o = test_options()) {
    o.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> guard{log_mutex};
      log.push_back(line);
    };
    std::string error;
    server = http_server::start(sys, caf::actor_cast<client_actor>(store), std::move(o), error);
    BOOST_REQUIRE_MESSAGE(server, error);
  }

  ~server_fixture() {
    if (server)
      server->stop();
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
  }

  uint16_t port() const { return server->port(); }

  uint64_t store_calls() {
    caf::scoped_actor self{sys};
    uint64_t n = 0;
    self->request(store, 5s, count_atom::value)
        .receive([&](uint64_t x) { n = x; }, [&](caf::error&) { n = UINT64_MAX; });
    return n;
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }
};

/// The parts of a multipart body, by the boundary its Content-Type names.
inline std::vector<std::string> multipart_parts(const std::string& content_type,
                                                const std::string& body) {
  std::vector<std::string> parts;
  auto at = content_type.find("boundary=");
  if (at == std::string::npos)
    return parts;
  auto delimiter = "--" + content_type.substr(at + 9);
  auto pos = body.find(delimiter);
  while (pos != std::string::npos) {
    pos += delimiter.size();
    if (body.compare(pos, 2, "--") == 0)
      break;
    auto content = body.find("\r\n\r\n", pos);
    auto next = body.find("\r\n" + delimiter, content);
    if (content == std::string::npos || next == std::string::npos)
      break;
    parts.push_back(body.substr(content + 4, next - content - 4));
    pos = next + 2;
  }
  return parts;
}

inline std::chrono::milliseconds since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t);
}

} // namespace actorkv::http_test
