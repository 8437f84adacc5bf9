#include "actors/http/http_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <type_traits>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "actors/http/http_api.hpp"
#include "actors/http/store_bridge.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using std::chrono::milliseconds;

using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

/// Connections over the limit still get their 503 (after a handshake, for TLS), but at most this
/// many at once: beyond it they are closed unanswered, so a flood costs no more than this.
constexpr uint32_t max_refusals = 64;

/// The longest a refused connection, or a closing one, may take.
constexpr milliseconds closing_time{2000};

/// What a closing connection reads and drops at most (within closing_time), so that unread
/// request bytes do not turn its close into a reset that destroys the response before the
/// client read it: most clients send a whole refused body (413, 401, 403) before they read.
constexpr size_t max_drain_bytes = 64 << 20;

/// Lets the store's callbacks (CAF threads) reach connections only while the I/O threads run:
/// stop() closes it before tearing the io_context down.
struct completion_gate {
  std::mutex mutex;
  bool open = true;
};

/// What the server and all its connections share.
struct server_context {
  http_options options;
  http_limits limits;
  std::unique_ptr<ssl::context> tls;
  std::shared_ptr<store_bridge> bridge;
  std::shared_ptr<completion_gate> gate = std::make_shared<completion_gate>();
  std::atomic<uint32_t> connections{0};
  std::atomic<uint32_t> refusals{0};
  metric_gauge* open_gauge = nullptr; ///< in options.metrics: connections open (not refused)
  metric_counter* bytes_in = nullptr;  ///< requests' bytes (headers and bodies), inside TLS
  metric_counter* bytes_out = nullptr; ///< responses' bytes

  void count(metric_counter* c, size_t n) {
    if (c)
      c->add(n);
  }

  /// actorkv_http_responses_total{code}, looked up in the registry once per code: a lookup builds
  /// the labels and takes the registry's lock, too much for every response.
  std::array<std::atomic<metric_counter*>, 600> responses{};

  void count_response(unsigned status) {
    if (!options.metrics)
      return;
    auto lookup = [&] {
      return &options.metrics->counter("actorkv_http_responses_total",
                                       "HTTPS API responses, by status code.",
                                       {{"code", std::to_string(status)}});
    };
    if (status >= responses.size())
      return lookup()->add();
    auto* c = responses[status].load(std::memory_order_acquire);
    if (!c) { // racing lookups find the same counter
      c = lookup();
      responses[status].store(c, std::memory_order_release);
    }
    c->add();
  }
  std::atomic<int64_t> last_overload_log{0};
  std::mutex log_mutex;
  net::io_context* ioc = nullptr;
  /// Calls asked for since the last hand-over to the bridge (see store_bridge.hpp).
  std::mutex calls_mutex;
  std::vector<store_request> calls;
  bool hand_over_posted = false;

  void log(const std::string& line) {
    if (!options.log)
      return;
    std::lock_guard<std::mutex> guard{log_mutex};
    options.log(line);
  }
};

/// Queues a call for the bridge. The first call of a turn of the event loop posts the hand-over,
/// which runs after the completions that turn already holds (the other connections' requests
/// read in the same turn), so those calls travel together.
void ask_store(const std::shared_ptr<server_context>& ctx, store_request request);

/// The role the OU of a verified client certificate names: nullopt without a certificate,
/// role::none when no OU is a role. Several role OUs grant the lowest (the conservative reading
/// of an odd certificate).
std::optional<role> certificate_role(SSL* ssl) {
  std::unique_ptr<X509, decltype(&X509_free)> cert{SSL_get1_peer_certificate(ssl), X509_free};
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
    return std::nullopt;
  auto* subject = X509_get_subject_name(cert.get());
  std::optional<role> lowest;
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, i)) >= 0;) {
    auto* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    std::string_view text{reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                          static_cast<size_t>(ASN1_STRING_length(data))};
    if (auto r = parse_role(text); r && (!lowest || *r < *lowest))
      lowest = r;
  }
  return lowest.value_or(role::none);
}

/// Errors that only mean the peer went away or took too long: the connection just closes.
bool quiet_error(const error_code& ec) {
  return ec == beast::error::timeout || ec == http::error::end_of_stream ||
         ec == http::error::partial_message || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::operation_aborted ||
         ec == net::error::broken_pipe || ec == ssl::error::stream_truncated;
}

uint64_t next_random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

std::string_view view_of(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

/// One connection: reads requests one after the other, asks the store, writes the answers.
/// Every step runs on the connection's strand; pending operations hold it alive.
template <class Stream>
class session : public std::enable_shared_from_this<session<Stream>> {
public:
  session(std::shared_ptr<server_context> ctx, tcp::socket&& socket, bool refuse)
      : ctx_(std::move(ctx)), stream_(make_stream(std::move(socket))),
        executor_(stream_.get_executor()), store_timer_(executor_), refuse_(refuse) {}

  ~session() {
    (refuse_ ? ctx_->refusals : ctx_->connections).fetch_sub(1);
    if (!refuse_ && ctx_->open_gauge)
      ctx_->open_gauge->add(-1);
  }

  void run() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->begin(); });
  }

private:
  Stream make_stream(tcp::socket&& socket) {
    if constexpr (is_tls<Stream>)
      return Stream{std::move(socket), *ctx_->tls};
    else
      return Stream{std::move(socket)};
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  const http_options& options() const { return ctx_->options; }

  void begin() {
    // The handshake and the whole first request share one deadline, from the accept.
    lowest().expires_after(refuse_ ? std::min(options().request_timeout, closing_time)
                                   : options().request_timeout);
    if constexpr (is_tls<Stream>) {
      stream_.async_handshake(
          ssl::stream_base::server, [self = this->shared_from_this()](error_code ec) {
            if (ec)
              return self->close_now();
            self->certificate_ = certificate_role(self->stream_.native_handle());
            self->after_handshake();
          });
    } else {
      after_handshake();
    }
  }

  void after_handshake() {
    if (refuse_) {
      respond(render_failure(
                  make_failure(503, "overloaded", "too many connections; try again shortly")),
              true);
      return;
    }
    read_header();
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(options().max_header_bytes);
    // The endpoint's body limit is set once the header says which endpoint it is; until then
    // unlimited, so that an announced size gets the endpoint's 413, not Beast's parse error.
    // (Not boost::none: Beast 1.74 compares a Content-Length against none as exceeding it.)
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, size_t n) {
          self->ctx_->count(self->ctx_->bytes_in, n);
          self->on_header(ec);
        });
  }

  void on_read_error(const error_code& ec) {
    if (quiet_error(ec))
      return close_now();
    if (ec == http::error::header_limit)
      return refuse(make_failure(431, "headers_too_large",
                                 "the request's headers exceed " +
                                     std::to_string(options().max_header_bytes) + " bytes"));
    refuse(make_failure(400, "bad_request", "malformed HTTP request: " + ec.message()));
  }

  /// Answers and closes: what follows in the stream cannot be trusted to start a request.
  void refuse(const http_failure& f) { respond(render_failure(f), true); }

  /// Answers, keeping the connection only when the request's body was read (or it has none).
  void reject(const http_failure& f) { respond(render_failure(f), !parser_->is_done()); }

  void on_header(const error_code& ec) {
    if (ec)
      return on_read_error(ec);
    auto& req = parser_->get();
    http_failure failure;
    std::optional<std::string_view> authorization;
    if (auto it = req.find(http::field::authorization); it != req.end())
      authorization = view_of(it->value());
    auto parsed = parse_route(view_of(req.target()), failure);
    // The console's files hold nothing secret: a browser gets the page before it has a token.
    bool open_page = parsed && parsed->target == endpoint::console;
    std::optional<role> proven = role::none;
    if (!open_page) {
      // A keep-alive client sends the same Authorization with every request: the role it proved
      // on this connection stands (the tokens and the certificate do not change meanwhile),
      // without hashing the token again.
      if (authorization && proven_for_ && *authorization == authorization_) {
        proven = proven_for_;
      } else {
        proven = authenticate(certificate_, authorization, options().tokens, failure);
        proven_for_.reset();
        if (proven && authorization) {
          authorization_.assign(authorization->data(), authorization->size());
          proven_for_ = proven;
        }
      }
    }
    if (!proven) // 401: without credentials a client may not hold one of max_connections
      return refuse(failure);
    if (!parsed)
      return reject(failure);
    route_ = std::move(*parsed);
    method_ = std::string{view_of(req.method_string())};
    auto need = required_role(route_.target, method_);
    if (!need) {
      failure = make_failure(
          405, "method_not_allowed",
          method_ + " is not allowed here; allowed: " + allowed_methods(route_.target));
      failure.headers.emplace_back("Allow", allowed_methods(route_.target));
      return reject(failure);
    }
    if (auto bad = authorize(*proven, *need))
      return reject(*bad);
    if (route_.target == endpoint::kv)
      if (auto bad = check_key(route_.key, ctx_->limits))
        return reject(*bad);
    // Announced sizes are refused before a byte of the body is read.
    auto limit = body_limit(route_, method_, ctx_->limits);
    if (auto length = parser_->content_length(); length && *length > limit) {
      if (route_.target == endpoint::kv && method_ == "PUT")
        return reject(*check_value_size(*length, ctx_->limits));
      return reject(body_too_large(limit));
    }
    if (parser_->is_done())
      return dispatch();
    // The body is charged to the node's memory budget before a byte of it is read (what was
    // announced, else the most it may be), and given back once the response is written.
    if (auto& budget = options().budget) {
      auto size = parser_->content_length().value_or(limit);
      auto bytes = held_charge(size, 1);
      body_charge_ = budget->take(bytes, budget_class::client);
      if (!body_charge_)
        return reject(
            failure_of(budget->refusal("a request body of " + std::to_string(size) + " bytes",
                                       bytes, budget_class::client),
                       false));
    }
    parser_->body_limit(limit);
    // A client that asked to hear first (curl does, for larger bodies) waits for this.
    if (auto it = req.find(http::field::expect);
        it != req.end() && req.version() >= 11 && beast::iequals(it->value(), "100-continue")) {
      continue_.emplace(http::status::continue_, req.version());
      http::async_write(stream_, *continue_,
                        [self = this->shared_from_this()](error_code ec, size_t) {
                          if (ec)
                            return self->close_now();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  http_failure body_too_large(uint64_t limit) const {
    return make_failure(413, "body_too_large",
                        "the body exceeds " + std::to_string(limit) + " bytes");
  }

  void read_body() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, size_t n) {
          self->ctx_->count(self->ctx_->bytes_in, n);
          self->on_body(ec);
        });
  }

  void on_body(const error_code& ec) {
    if (ec == http::error::body_limit) {
      auto limit = body_limit(route_, method_, ctx_->limits);
      if (route_.target == endpoint::kv && method_ == "PUT")
        return refuse(*check_value_size(uint64_t{limit} + 1, ctx_->limits));
      return refuse(body_too_large(limit));
    }
    if (ec)
      return on_read_error(ec);
    dispatch();
  }

  /// The request is complete: turns it into a store call, or answers it at once.
  void dispatch() {
    auto& req = parser_->get();
    store_call call;
    auto body = [&] {
      auto& b = req.body();
      return std::string_view{reinterpret_cast<const char*>(b.data()), b.size()};
    };
    auto context = [&]() -> std::optional<http_failure> {
      if (auto it = req.find("X-Context"); it != req.end())
        return parse_context(view_of(it->value()), call.context);
      return std::nullopt;
    };
    switch (route_.target) {
    case endpoint::kv:
      call.key = route_.key;
      if (route_.ttl_s != 0 && method_ != "PUT")
        return reject(make_failure(400, "bad_request", "ttl applies to PUT only"));
      call.ttl_s = route_.ttl_s;
      if (method_ == "GET") {
        call.what = store_call::kind::get;
      } else {
        call.what = method_ == "PUT" ? store_call::kind::put : store_call::kind::del;
        if (auto bad = context())
          return reject(*bad);
        if (method_ == "PUT")
          call.value = std::move(req.body());
      }
      break;
    case endpoint::batch_get:
      call.what = store_call::kind::get_many;
      if (auto bad = parse_batch_keys(body(), ctx_->limits, batch_keys_))
        return reject(*bad);
      if (batch_keys_.empty())
        return respond(render_batch({}, {}), false);
      call.keys = batch_keys_;
      break;
    case endpoint::status:
    case endpoint::metrics: // the registry, and figures of the node's status
      call.what = route_.cluster ? store_call::kind::cluster_status : store_call::kind::status;
      break;
    case endpoint::console:
      // Served to anyone, so it closes: without credentials nobody holds one of
      // max_connections longer than a request.
      return respond(console_file(options().console_files, route_.action), true);
    case endpoint::admin:
      call.what = store_call::kind::admin;
      if (auto bad = parse_admin(route_.action, body(), call.admin))
        return reject(*bad);
      break;
    case endpoint::fault:
      call.what = store_call::kind::fault;
      if (auto bad = parse_fault(body(), call.fault))
        return reject(*bad);
      break;
    }
    ask(std::move(call));
  }

  void ask(store_call call) {
    kind_ = call.what;
    write_ = call.is_write();
    admin_ = call.admin;
    waiting_ = true;
    // No I/O while the store works; the store timer bounds the wait instead. It also keeps this
    // session alive: the callback below holds it only weakly.
    lowest().expires_never();
    store_timer_.expires_after(options().store_timeout + milliseconds{1000});
    store_timer_.async_wait([self = this->shared_from_this()](error_code err) {
      if (err || !self->waiting_)
        return;
      self->waiting_ = false;
      self->respond(render_failure(
                        failure_for(ec::timeout, "the store did not answer in time", self->write_)),
                    false);
    });
    std::weak_ptr<session> weak = this->shared_from_this();
    ask_store(ctx_, {std::move(call), [weak, gate = ctx_->gate](store_result&& result) {
                       std::lock_guard<std::mutex> guard{gate->mutex};
                       if (!gate->open)
                         return;
                       if (auto self = weak.lock()) {
                         net::post(self->executor_, [self, result = std::move(result)]() mutable {
                           self->on_store(std::move(result));
                         });
                       }
                     }});
  }

  void on_store(store_result&& result) {
    if (!waiting_)
      return; // the store timer answered already
    waiting_ = false;
    store_timer_.cancel();
    if (route_.target == endpoint::metrics) {
      auto registry = options().metrics ? options().metrics->render() : std::string{};
      return respond(render_metrics(registry, result.failure ? nullptr : &result.status), false);
    }
    if (result.failure)
      return respond(render_failure(*result.failure), false);
    switch (kind_) {
    case store_call::kind::get:
      return respond(render_get(std::move(result.get), route_.json, next_random()), false);
    case store_call::kind::get_many:
      return respond(render_batch(batch_keys_, result.gets), false);
    case store_call::kind::put:
    case store_call::kind::del:
      return respond(render_write(result.write), false);
    case store_call::kind::status:
      return respond(render_status(result.status), false);
    case store_call::kind::cluster_status:
      return respond(render_cluster_status(result.cluster), false);
    case store_call::kind::admin:
      return respond(render_admin(admin_, result.text), false);
    case store_call::kind::fault:
      return respond(render_fault(result.text), false);
    }
  }

  void respond(http_reply reply, bool close) {
    body_charge_.release(); // the body went to the store, or was refused
    bool have_request = parser_ && parser_->is_header_done();
    response_ = {};
    response_.version(have_request ? parser_->get().version() : 11);
    response_.result(reply.status);
    ctx_->count_response(reply.status);
    response_.set(http::field::content_type, reply.content_type);
    for (auto& [name, value] : reply.headers)
      response_.set(name, value);
    response_.body() = std::move(reply.body);
    keep_alive_ = !close && have_request && parser_->get().keep_alive();
    response_.keep_alive(keep_alive_);
    response_.prepare_payload();
    // A client that does not read its answer is dropped like one that does not send.
    lowest().expires_after(options().request_timeout);
    http::async_write(stream_, response_, [self = this->shared_from_this()](error_code ec, size_t n) {
      self->ctx_->count(self->ctx_->bytes_out, n);
      if (ec)
        return self->close_now();
      if (!self->keep_alive_)
        return self->close_gracefully();
      self->next_request();
    });
  }

  void next_request() {
    parser_.reset();
    batch_keys_.clear();
    if (buffer_.size() > 0) { // pipelined: the next request has begun already
      lowest().expires_after(options().request_timeout);
      return read_header();
    }
    // Idle until a byte arrives; from then on the request has request_timeout to complete.
    lowest().expires_after(options().idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](error_code ec, size_t n) {
                              if (ec)
                                return self->close_now();
                              self->buffer_.commit(n);
                              self->lowest().expires_after(self->options().request_timeout);
                              self->read_header();
                            });
  }

  void close_gracefully() {
    lowest().expires_after(closing_time);
    if constexpr (!is_tls<Stream>) {
      error_code ignored;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    // With TLS too: a close_notify sent now would meet the rest of a refused body and reset.
    drain(0);
  }

  /// Reads what the client still sends until it closes, the bytes run out or time is up.
  void drain(size_t drained) {
    if (drained > max_drain_bytes)
      return close_now();
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(16384),
                            [self = this->shared_from_this(), drained](error_code ec, size_t n) {
                              if (ec)
                                return self->close_now();
                              self->drain(drained + n);
                            });
  }

  void close_now() {
    waiting_ = false;
    store_timer_.cancel();
    error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  std::shared_ptr<server_context> ctx_;
  Stream stream_;
  const typename Stream::executor_type executor_; ///< the strand; read from CAF threads too
  net::steady_timer store_timer_;
  bool refuse_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::vector_body<uint8_t>>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  http::response<http::vector_body<uint8_t>> response_;
  std::optional<role> certificate_;
  std::string authorization_;      ///< the last Authorization header that proved a role here
  std::optional<role> proven_for_; ///< the role it proved (with certificate_)
  route route_;
  std::string method_;
  std::vector<bytes> batch_keys_;
  store_call::kind kind_ = store_call::kind::get;
  admin_call admin_;
  bool write_ = false;
  bool waiting_ = false;
  bool keep_alive_ = false;
  memory_budget::charge body_charge_; ///< the request body's share of the node's budget
};

void ask_store(const std::shared_ptr<server_context>& ctx, store_request request) {
  std::lock_guard<std::mutex> guard{ctx->calls_mutex};
  ctx->calls.push_back(std::move(request));
  if (ctx->hand_over_posted)
    return;
  ctx->hand_over_posted = true;
  net::post(*ctx->ioc, [ctx] {
    std::vector<store_request> calls;
    {
      std::lock_guard<std::mutex> guard{ctx->calls_mutex};
      calls.swap(ctx->calls);
      ctx->hand_over_posted = false;
    }
    ctx->bridge->ask(std::move(calls));
  });
}

/// Accepts connections and starts a session for each; refuses those beyond max_connections.
class listener : public std::enable_shared_from_this<listener> {
public:
  listener(net::io_context& ioc, std::shared_ptr<server_context> ctx)
      : ioc_(ioc), acceptor_(net::make_strand(ioc)), retry_(acceptor_.get_executor()),
        ctx_(std::move(ctx)) {}

  bool open(const tcp::endpoint& at, std::string& error) {
    error_code ec;
    acceptor_.open(at.protocol(), ec);
    if (!ec)
      acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec)
      acceptor_.bind(at, ec);
    if (!ec)
      acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      error = "cannot listen on " + at.address().to_string() + ":" + std::to_string(at.port()) +
              ": " + ec.message();
      return false;
    }
    port_ = acceptor_.local_endpoint().port();
    return true;
  }

  uint16_t port() const { return port_; }

  void accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [self = shared_from_this()](error_code ec, tcp::socket socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

private:
  void on_accept(const error_code& ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted)
      return;
    if (ec) {
      // Out of file descriptors, typically: pause instead of spinning on the error.
      ctx_->log("http: accept failed: " + ec.message() + "; retrying in 100 ms");
      retry_.expires_after(milliseconds{100});
      retry_.async_wait([self = shared_from_this()](error_code) { self->accept(); });
      return;
    }
    launch(std::move(socket));
    accept();
  }

  void launch(tcp::socket socket) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    bool refuse = ctx_->connections.load() >= ctx_->options.max_connections;
    if (refuse) {
      log_overload();
      if (ctx_->refusals.load() >= max_refusals)
        return; // closed unanswered as `socket` goes
    }
    (refuse ? ctx_->refusals : ctx_->connections).fetch_add(1);
    if (!refuse && ctx_->open_gauge)
      ctx_->open_gauge->add(1);
    if (ctx_->tls)
      std::make_shared<session<tls_stream>>(ctx_, std::move(socket), refuse)->run();
    else
      std::make_shared<session<plain_stream>>(ctx_, std::move(socket), refuse)->run();
  }

  /// At most one line per 10 s: a flood must not flood the log too.
  void log_overload() {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
                   .count();
    auto last = ctx_->last_overload_log.load();
    if (now - last >= 10 && ctx_->last_overload_log.compare_exchange_strong(last, now))
      ctx_->log("http: " + std::to_string(ctx_->options.max_connections) +
                " connections open (the limit): refusing new ones with 503");
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;
  std::shared_ptr<server_context> ctx_;
  uint16_t port_ = 0;
};

std::unique_ptr<ssl::context> make_tls_context(const http_options& options, std::string& error) {
  auto tls = std::make_unique<ssl::context>(ssl::context::tls_server);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  error_code ec;
  auto failed = [&](const std::string& what) {
    error = "https: cannot load " + what + ": " + ec.message();
    return nullptr;
  };
  if (tls->use_certificate_chain_file(options.cert, ec), ec)
    return failed("the certificate " + options.cert);
  // OpenSSL also refuses a key that does not belong to the certificate here.
  if (tls->use_private_key_file(options.key, ssl::context::pem, ec), ec)
    return failed("the key " + options.key);
  if (!options.ca.empty()) {
    if (tls->load_verify_file(options.ca, ec), ec)
      return failed("the CA " + options.ca);
    // Ask for a client certificate but let token clients in without one.
    tls->set_verify_mode(ssl::verify_peer);
    // Tell clients which CA their certificate must come from.
    if (auto* names = SSL_load_client_CA_file(options.ca.c_str()))
      SSL_CTX_set_client_CA_list(tls->native_handle(), names);
    // Session resumption with client verification needs a session id context.
    static constexpr unsigned char id[] = "actorkv-http";
    SSL_CTX_set_session_id_context(tls->native_handle(), id, sizeof(id) - 1);
  }
  return tls;
}

} // namespace

struct http_server::impl {
  std::shared_ptr<server_context> ctx;
  std::unique_ptr<net::io_context> ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool stopped = false;
};

std::unique_ptr<http_server> http_server::start(caf::actor_system& sys, client_actor store,
                                                http_options options, std::string& error) {
  auto state = std::make_unique<impl>();
  auto ctx = std::make_shared<server_context>();
  ctx->limits = http_limits{options.max_key_bytes, options.max_value_bytes};
  ctx->options = std::move(options);
  if (ctx->options.metrics)
    ctx->open_gauge = &ctx->options.metrics->gauge(
        "actorkv_open_connections", "Connections open, by listener (node port or HTTPS).",
        {{"listener", "https"}});
  if (auto& m = ctx->options.metrics) {
    auto bytes = [&](const char* direction) {
      return &m->counter("actorkv_network_bytes_total",
                         "Bytes received (in) and sent (out) by listener, inside TLS.",
                         {{"listener", "https"}, {"direction", direction}});
    };
    ctx->bytes_in = bytes("in");
    ctx->bytes_out = bytes("out");
  }
  auto& opts = ctx->options;
  if (opts.tls && !(ctx->tls = make_tls_context(opts, error)))
    return nullptr;
  state->ioc = std::make_unique<net::io_context>(static_cast<int>(std::max(opts.threads, 1u)));
  ctx->ioc = state->ioc.get();
  error_code ec;
  auto address = net::ip::make_address(opts.host, ec);
  tcp::endpoint at;
  if (!ec) {
    at = tcp::endpoint{address, opts.port};
  } else {
    tcp::resolver resolver{*state->ioc};
    auto found = resolver.resolve(opts.host, std::to_string(opts.port), ec);
    if (ec || found.empty()) {
      error = "https: cannot resolve " + opts.host + ": " + ec.message();
      return nullptr;
    }
    at = found.begin()->endpoint();
  }
  auto accepting = std::make_shared<listener>(*state->ioc, ctx);
  if (!accepting->open(at, error))
    return nullptr;
  state->port = accepting->port();
  ctx->bridge = std::make_shared<store_bridge>(sys, std::move(store));
  accepting->accept();
  state->work.emplace(state->ioc->get_executor());
  for (uint32_t i = 0; i < std::max(opts.threads, 1u); ++i)
    state->threads.emplace_back([ioc = state->ioc.get()] { ioc->run(); });
  ctx->log(std::string{"http: serving "} + (opts.tls ? "HTTPS" : "plain HTTP") + " on " +
           at.address().to_string() + ":" + std::to_string(state->port) +
           (opts.tls && !opts.ca.empty() ? " (client certificates verified)" : ""));
  state->ctx = std::move(ctx);
  return std::unique_ptr<http_server>{new http_server{std::move(state)}};
}

http_server::http_server(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

uint16_t http_server::port() const {
  return impl_->port;
}

void http_server::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  {
    std::lock_guard<std::mutex> guard{impl_->ctx->gate->mutex};
    impl_->ctx->gate->open = false;
  }
  impl_->work.reset();
  impl_->ioc->stop();
  for (auto& t : impl_->threads)
    t.join();
  // Destroys every pending handler, and with them the listener and the sessions they hold.
  impl_->ioc.reset();
  impl_->ctx->bridge->stop();
}

http_server::~http_server() {
  stop();
}

} // namespace actorkv
