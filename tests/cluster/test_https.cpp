// The HTTPS API (actors/http/http_api.hpp) of a real 3-node cluster, through the clients a user
// of any language has: curl, and Python's standard library (tests/cluster/https_client.py:
// http.client with ssl.create_default_context and load_cert_chain, email for multipart bodies,
// json and base64). Values, siblings, contexts and binary keys round-trip exactly and agree with
// kvsh; every refusal has its status and a one-line JSON body; credentials that prove too little
// store nothing; and malformed, oversized, slow and idle connections are answered or dropped
// within [http] request_ms while the node keeps serving, with bounded memory and descriptors.
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;
using headers = std::vector<std::pair<std::string, std::string>>;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

long ms_since(clock_type::time_point start) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start).count());
}

std::string source_dir() {
  const char* s = std::getenv("ACTORKV_SOURCE");
  BOOST_REQUIRE_MESSAGE(s != nullptr && *s != '\0', "ACTORKV_SOURCE (the source tree) is not set");
  return s;
}

std::string client_script() {
  return source_dir() + "/tests/cluster/https_client.py";
}

std::string to_hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : bytes) {
    out += digits[ch >> 4];
    out += digits[ch & 15];
  }
  return out;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::string base64(const std::string& bytes) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16 |
                 static_cast<unsigned char>(bytes[i + 1]) << 8 |
                 static_cast<unsigned char>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6)
      out += table[v >> s & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    out += table[v >> 18 & 63];
    out += table[v >> 12 & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v =
        static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += table[v >> 18 & 63];
    out += table[v >> 12 & 63];
    out += table[v >> 6 & 63];
    out += '=';
  }
  return out;
}

/// Every byte but the unreserved ones (RFC 3986) as %XX, as a client library encodes a path
/// segment: '/' becomes %2F, NUL %00.
std::string percent_encode(const std::string& bytes) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : bytes) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += digits[ch >> 4];
      out += digits[ch & 15];
    }
  }
  return out;
}

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20 || ch >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

std::string all_bytes() {
  std::string s(256, '\0');
  for (int i = 0; i < 256; ++i)
    s[i] = static_cast<char>(i);
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

/// "NAME VALUE" lines, as https_client.py prints them; repeated names keep every value.
std::multimap<std::string, std::string> parse_facts(const std::string& out) {
  std::multimap<std::string, std::string> facts;
  std::istringstream in{out};
  for (std::string line; std::getline(in, line);) {
    auto space = line.find(' ');
    facts.emplace(line.substr(0, space), space == std::string::npos ? "" : line.substr(space + 1));
  }
  return facts;
}

std::string fact(const std::multimap<std::string, std::string>& facts, const std::string& name) {
  auto it = facts.find(name);
  return it == facts.end() ? std::string{} : it->second;
}

long fact_number(const std::multimap<std::string, std::string>& facts, const std::string& name) {
  auto text = fact(facts, name);
  return text.empty() ? -1 : std::stol(text);
}

/// What a client got back, as its user sees it.
struct response {
  int status = 0; ///< 0: no HTTP answer at all (TLS or connection failure)
  headers head;
  std::string body;
  std::vector<std::string> parts;    ///< the parts of a multipart body (Python's email parser)
  std::vector<std::string> siblings; ///< "siblings" of a JSON body, base64-decoded
  std::map<std::string, std::string> json_strings; ///< the string members of a JSON object
  std::string json_keys;                           ///< its member names, sorted, comma-separated
  bool json_valid = false;
  bool json_oneline = false;
  std::string error; ///< the client's complaint when there was no answer
  long took_ms = -1; ///< the whole client run, process start included

  std::string header(const std::string& name) const {
    for (auto& [n, v] : head)
      if (n.size() == name.size() &&
          std::equal(n.begin(), n.end(), name.begin(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
        return v;
    return {};
  }

  std::string json(const std::string& name) const {
    auto it = json_strings.find(name);
    return it == json_strings.end() ? std::string{} : it->second;
  }

  /// For failure messages: the status and what the body or the client said.
  std::string describe() const {
    bool text = std::all_of(body.begin(), body.end(), [](char ch) {
      return ch == '\n' || (static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f);
    });
    std::string shown = text ? body.substr(0, 300) : "hex " + to_hex(body.substr(0, 150));
    if (body.size() > (text ? 300u : 150u))
      shown += "... (" + std::to_string(body.size()) + " bytes)";
    return "status " + std::to_string(status) + " body '" + shown + "'" +
           (error.empty() ? "" : " error '" + error + "'");
  }

  /// The figures https_client.py printed about a response.
  void take(const std::multimap<std::string, std::string>& facts) {
    for (auto& [name, value] : facts) {
      if (name == "status")
        status = std::stoi(value);
      else if (name == "header") {
        auto colon = value.find(": ");
        head.emplace_back(value.substr(0, colon),
                          colon == std::string::npos ? "" : value.substr(colon + 2));
      } else if (name == "body")
        body = from_hex(value);
      else if (name == "part")
        parts.push_back(from_hex(value));
      else if (name == "json-sibling")
        siblings.push_back(from_hex(value));
      else if (name == "json-str") {
        auto space = value.find(' ');
        json_strings[value.substr(0, space)] = from_hex(value.substr(space + 1));
      } else if (name == "json-keys")
        json_keys = value;
      else if (name == "json-valid")
        json_valid = value == "1";
      else if (name == "json-oneline")
        json_oneline = value == "1";
      else if (name == "error")
        error = value;
    }
  }
};

/// The credentials a request carries: a client certificate and key (none when empty) and a
/// bearer token (none when empty).
struct credentials {
  std::string cert;
  std::string key;
  std::string token;
};

credentials certificate_of(local_cluster& c, const std::string& who) {
  return {c.cert_path(who), c.key_path(who), ""};
}

enum class tool { curl, python };

const char* name_of(tool t) {
  return t == tool::curl ? "curl" : "python";
}

/// An HTTPS client program talking to one node of `c`.
struct client {
  local_cluster& c;
  tool kind;
  credentials who;
  size_t node = 0;

  response get(const std::string& path, const headers& extra = {}) const {
    return send("GET", path, "", extra);
  }
  response put(const std::string& path, const std::string& value, const headers& extra = {}) const {
    return send("PUT", path, value, extra);
  }
  response del(const std::string& path, const headers& extra = {}) const {
    return send("DELETE", path, "", extra);
  }
  response post(const std::string& path, const std::string& body) const {
    return send("POST", path, body);
  }

  /// `body` goes with PUT and POST only.
  response send(const std::string& method, const std::string& path, const std::string& body,
                headers extra = {}) const {
    if (!who.token.empty())
      extra.emplace_back("Authorization", "Bearer " + who.token);
    bool with_body = method == "PUT" || method == "POST";
    auto started = clock_type::now();
    auto r = kind == tool::curl ? curl(method, path, body, extra, with_body)
                                : python(method, path, body, extra, with_body);
    r.took_ms = ms_since(started);
    return r;
  }

private:
  response curl(const std::string& method, const std::string& path, const std::string& body,
                const headers& extra, bool with_body) const {
    static std::atomic<int> sequence{0};
    auto base = c.dir() + "/curl-" + std::to_string(sequence++);
    std::vector<std::string> argv{"/usr/bin/curl",  "-sS", "--max-time", "20", "--cacert",
                                  c.cert_path("ca")};
    argv.insert(argv.end(), {"-X", method, "-D", base + ".head", "-o", base + ".body"});
    if (!who.cert.empty())
      argv.insert(argv.end(), {"--cert", who.cert, "--key", who.key});
    for (auto& [name, value] : extra)
      argv.insert(argv.end(), {"-H", name + ": " + value});
    if (with_body) {
      write_file(base + ".send", body);
      argv.insert(argv.end(), {"--data-binary", "@" + base + ".send"});
    }
    argv.push_back(c.https_url(node) + path);
    auto run = run_program(argv, "", 30s);
    response r;
    if (run.exit_code != 0)
      r.error = "curl exit " + std::to_string(run.exit_code) + ": " + run.err;
    // The last header block is the answer (an interim 100 Continue may come first).
    auto head = read_file(base + ".head");
    auto last = head.rfind("HTTP/");
    if (last != std::string::npos) {
      std::istringstream in{head.substr(last)};
      std::string line;
      std::getline(in, line);
      if (line.size() >= 12)
        r.status = std::stoi(line.substr(line.find(' ') + 1, 3));
      while (std::getline(in, line) && line != "\r" && !line.empty()) {
        if (line.back() == '\r')
          line.pop_back();
        auto colon = line.find(": ");
        if (colon != std::string::npos)
          r.head.emplace_back(line.substr(0, colon), line.substr(colon + 2));
      }
    }
    r.body = read_file(base + ".body");
    // A user's code decodes multipart and JSON bodies with a library: Python's, here too.
    auto type = r.header("Content-Type");
    if (r.status != 0 &&
        (type.rfind("multipart/", 0) == 0 || type.rfind("application/json", 0) == 0)) {
      auto decoded =
          run_program({"/usr/bin/python3", client_script(), "decode", type}, r.body, 30s);
      BOOST_REQUIRE_MESSAGE(decoded.exit_code == 0, decoded.err);
      auto facts = parse_facts(decoded.out);
      r.take(facts);
    }
    return r;
  }

  response python(const std::string& method, const std::string& path, const std::string& body,
                  const headers& extra, bool with_body) const {
    std::string spec = "{\"host\":" + json_quote(c.host(node)) +
                       ",\"port\":" + std::to_string(c.https_port(node)) +
                       ",\"ca\":" + json_quote(c.cert_path("ca")) +
                       ",\"method\":" + json_quote(method) + ",\"path\":" + json_quote(path) +
                       ",\"timeout\":20,\"body_hex\":" + json_quote(with_body ? to_hex(body) : "");
    if (!who.cert.empty())
      spec += ",\"cert\":" + json_quote(who.cert) + ",\"key\":" + json_quote(who.key);
    spec += ",\"headers\":[";
    for (size_t i = 0; i < extra.size(); ++i)
      spec += (i > 0 ? "," : "") + std::string{"["} + json_quote(extra[i].first) + "," +
              json_quote(extra[i].second) + "]";
    spec += "]}";
    auto run = run_program({"/usr/bin/python3", client_script(), "request"}, spec, 30s);
    BOOST_REQUIRE_MESSAGE(run.exit_code == 0, "https_client.py request failed: " << run.err);
    response r;
    r.take(parse_facts(run.out));
    return r;
  }
};

/// Waits until every node's HTTPS port accepts connections (it opens after the CAF port the
/// fixture waits for) and every node sees every peer up.
void wait_until_serving(local_cluster& c) {
  for (size_t i = 0; i < c.size(); ++i)
    BOOST_REQUIRE_MESSAGE(wait_for_port(c.host(i), c.https_port(i), 20s),
                          c.node_name(i) << " never opened its HTTPS port: " << c.log_tail(i));
  wait_until_all_up(c);
}

local_cluster::options three_nodes(const std::string& extra_toml = "") {
  local_cluster::options o;
  o.partitions = 16;
  o.https = true;
  o.extra_toml = extra_toml;
  return o;
}

/// A refusal as the API promises it: the status, the error name, and one line of JSON with
/// exactly "error" and "message".
void check_failure(const response& r, int status, const std::string& error,
                   const std::string& what) {
  BOOST_TEST(r.status == status, what << ": " << r.describe());
  BOOST_TEST(r.header("Content-Type") == "application/json", what << ": " << r.describe());
  BOOST_TEST(r.json_valid, what << ": " << r.describe());
  BOOST_TEST(r.json_oneline, what << ": not one line: " << r.describe());
  BOOST_TEST(r.json_keys == "error,message", what << ": " << r.describe());
  BOOST_TEST(r.json("error") == error, what << ": " << r.describe());
  BOOST_TEST(!r.json("message").empty(), what << ": " << r.describe());
}

std::multiset<std::string> as_set(const std::vector<std::string>& values) {
  return {values.begin(), values.end()};
}

bool is_hex(const std::string& s) {
  return !s.empty() && s.size() % 2 == 0 &&
         std::all_of(s.begin(), s.end(), [](char ch) { return std::isxdigit(ch); });
}

/// kvsh's one-line answer without its newline, e.g. the hex of "get KEY --hex".
std::string kvsh_line(const run_result& r) {
  auto out = r.out;
  if (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

/// The scenario of part 1 for one client tool; keys start with `p` so the tools do not meet.
void round_trip(local_cluster& c, tool t) {
  const std::string p = std::string{name_of(t)} + "-";
  client writer{c, t, certificate_of(c, "writer")};
  client reader{c, t, certificate_of(c, "reader"), 1};
  auto started = clock_type::now();

  // A value of every byte, then its read: exact bytes, a hex context.
  const std::string v1 = all_bytes();
  auto r = writer.put("/v1/kv/" + p + "k", v1);
  BOOST_TEST(r.status == 200, r.describe());
  BOOST_TEST(r.json_valid, r.describe());
  BOOST_TEST(r.json_keys == "replicas,sibling_count", r.describe());
  BOOST_TEST(contains(r.body, "\"replicas\":2"), r.describe()); // W = 2
  r = reader.get("/v1/kv/" + p + "k");
  BOOST_TEST(r.status == 200, r.describe());
  BOOST_TEST(r.body == v1, "the value read back differs: " << r.describe());
  BOOST_TEST(r.header("Content-Type") == "application/octet-stream");
  auto first_context = r.header("X-Context");
  BOOST_TEST(is_hex(first_context), "X-Context '" << first_context << "'");

  // A second, blind put: siblings, as 300 multipart/mixed and as JSON. The second value has
  // CRLF and dashes, which a multipart body must not confuse with its boundaries.
  std::string v2 = "\r\n--actorkv-\r\n--\r\n" + all_bytes();
  std::reverse(v2.begin() + 18, v2.end());
  r = writer.put("/v1/kv/" + p + "k", v2);
  BOOST_TEST(r.status == 200, r.describe());
  r = reader.get("/v1/kv/" + p + "k");
  BOOST_TEST(r.status == 300, r.describe());
  BOOST_TEST(r.header("Content-Type").rfind("multipart/mixed; boundary=", 0) == 0,
             r.header("Content-Type"));
  BOOST_TEST(r.parts.size() == 2u);
  BOOST_TEST((as_set(r.parts) == std::multiset<std::string>{v1, v2}),
             "the parts are not the two values exactly");
  auto siblings_context = r.header("X-Context");
  BOOST_TEST(is_hex(siblings_context), siblings_context);
  BOOST_TEST(siblings_context != first_context);
  r = reader.get("/v1/kv/" + p + "k?format=json");
  BOOST_TEST(r.status == 200, r.describe());
  BOOST_TEST(r.header("Content-Type") == "application/json");
  BOOST_TEST(r.json_valid, r.describe());
  BOOST_TEST(r.json("context") == siblings_context);
  BOOST_TEST(r.header("X-Context") == siblings_context);
  BOOST_TEST((as_set(r.siblings) == std::multiset<std::string>{v1, v2}),
             "the base64 siblings are not the two values exactly");

  // The put with that read's context replaces both: one value again.
  r = writer.put("/v1/kv/" + p + "k", "resolved", {{"X-Context", siblings_context}});
  BOOST_TEST(r.status == 200, r.describe());
  r = reader.get("/v1/kv/" + p + "k");
  BOOST_TEST(r.status == 200, r.describe());
  BOOST_TEST(r.body == "resolved");
  auto resolved_context = r.header("X-Context");

  // A delete with the context of a read: 404 from then on.
  r = writer.del("/v1/kv/" + p + "k", {{"X-Context", resolved_context}});
  BOOST_TEST(r.status == 200, r.describe());
  r = reader.get("/v1/kv/" + p + "k");
  check_failure(r, 404, "not_found", "a deleted key");
  r = reader.get("/v1/kv/" + p + "k?format=json");
  BOOST_TEST(r.status == 404, r.describe());

  // Binary keys, percent-encoded as a client library does: NUL, '/', non-UTF-8, reserved
  // characters, and one key of every byte value; each holds all 256 byte values (its own
  // variant) and is read back exactly, by path and by a batch get naming its bytes in base64.
  std::vector<std::string> keys{p + std::string(1, '\0'),
                                p + std::string("a\0b", 3),
                                p + "dir/file",
                                p + "\xff\xfe\x80",
                                p + "\xc3\x28 not utf-8 \xed\xa0\x80",
                                p + "?query=1&x#frag %25 +",
                                p + "\r\n\t\x01\x7f",
                                p + all_bytes()};
  std::string batch = "{\"keys\":[";
  for (size_t i = 0; i < keys.size(); ++i) {
    auto value = std::string(1, static_cast<char>('0' + i)) + all_bytes();
    auto path = "/v1/kv/" + percent_encode(keys[i]);
    r = writer.put(path, value);
    BOOST_TEST(r.status == 200, "key " << i << ": " << r.describe());
    r = reader.get(path);
    BOOST_TEST(r.status == 200, "key " << i << ": " << r.describe());
    BOOST_TEST(r.body == value, "key " << i << " read back different bytes");
    batch += (i > 0 ? ",\"" : "\"") + base64(keys[i]) + "\"";
  }
  batch += "]}";
  r = reader.post("/v1/batch/get", batch);
  BOOST_TEST(r.status == 200, r.describe());
  BOOST_TEST(r.json_valid, r.describe());
  for (size_t i = 0; i < keys.size(); ++i) {
    // Each entry of the array: {"key": base64, "found": true, ..., "siblings": [base64]}.
    auto entry = "{\"key\":\"" + base64(keys[i]) + "\",\"found\":true,";
    BOOST_TEST(contains(r.body, entry), "batch get lacks key " << i);
    auto value = std::string(1, static_cast<char>('0' + i)) + all_bytes();
    BOOST_TEST(contains(r.body, "\"siblings\":[\"" + base64(value) + "\"]"),
               "batch get lacks the value of key " << i);
  }
  // Encodings of the same bytes name the same key: %2F and '/', lowercase and uppercase hex.
  for (auto path : {"dir%2ffile", "dir/file"}) {
    r = reader.get("/v1/kv/" + p + path);
    BOOST_TEST(r.status == 200, path << ": " << r.describe());
    BOOST_TEST(r.body == "2" + all_bytes(), path);
  }
  r = reader.get("/v1/kv/" + percent_encode(p) + "%ff%FE%80");
  BOOST_TEST(r.body == "3" + all_bytes(), r.describe());
  // ... and NUL is a byte of the key, not its end.
  r = reader.get("/v1/kv/" + percent_encode(p) + "a");
  check_failure(r, 404, "not_found", "the key before the NUL");

  // kvsh and HTTPS see the same data and contexts.
  r = writer.put("/v1/kv/" + p + "to-kvsh", all_bytes());
  BOOST_TEST(r.status == 200, r.describe());
  auto k = c.kvsh(2, "get " + p + "to-kvsh --hex\n");
  BOOST_TEST(k.exit_code == 0, k.err);
  BOOST_TEST(kvsh_line(k) == to_hex(all_bytes()));
  k = c.kvsh(2, "put " + p + "from-kvsh " + to_hex(all_bytes()) + " --hex\n");
  BOOST_TEST(k.exit_code == 0, k.err);
  r = reader.get("/v1/kv/" + p + "from-kvsh");
  BOOST_TEST(r.status == 200, r.describe());
  BOOST_TEST(r.body == all_bytes());
  // Siblings made by both, a context taken from HTTPS and used by kvsh, and the other way.
  BOOST_TEST(c.kvsh(0, "put " + p + "mixed from-kvsh\n").exit_code == 0);
  r = writer.put("/v1/kv/" + p + "mixed", "from-https");
  BOOST_TEST(r.status == 200, r.describe());
  k = c.kvsh(0, "get " + p + "mixed\n");
  BOOST_TEST(contains(k.out, "(2 siblings)"), k.out);
  r = reader.get("/v1/kv/" + p + "mixed");
  BOOST_TEST(r.status == 300, r.describe());
  BOOST_TEST((as_set(r.parts) == std::multiset<std::string>{"from-kvsh", "from-https"}));
  // The same context through both, once the third replica has both writes too.
  std::string kvsh_context, https_context;
  BOOST_TEST(eventually(5s,
                        [&] {
                          kvsh_context = context_from(c.kvsh(0, "get " + p + "mixed\n").out);
                          https_context = writer.get("/v1/kv/" + p + "mixed").header("X-Context");
                          return !kvsh_context.empty() && kvsh_context == https_context;
                        }),
             "kvsh context " << kvsh_context << ", HTTPS " << https_context);
  k = c.kvsh(0, "put " + p + "mixed by-kvsh --context " + r.header("X-Context") + "\n");
  BOOST_TEST(k.exit_code == 0, k.err);
  r = reader.get("/v1/kv/" + p + "mixed");
  BOOST_TEST(r.status == 200, r.describe());
  BOOST_TEST(r.body == "by-kvsh");
  k = c.kvsh(0, "get " + p + "mixed --context\n");
  r = writer.del("/v1/kv/" + p + "mixed", {{"X-Context", context_from(k.out)}});
  BOOST_TEST(r.status == 200, r.describe());
  BOOST_TEST(c.kvsh(1, "get " + p + "mixed\n").out == "(not found)\n");
  BOOST_TEST_MESSAGE(name_of(t) << ": the round trip took " << ms_since(started) << " ms");
}

/// What https_client.py raw or slow reported.
struct raw_outcome {
  std::multimap<std::string, std::string> facts;
  std::string received() const { return from_hex(fact(facts, "received")); }
  bool closed() const { return fact(facts, "closed") == "1"; }
  long elapsed_ms() const { return fact_number(facts, "elapsed_ms"); }
  int status() const {
    auto s = fact(facts, "status");
    return s.empty() ? 0 : std::stoi(s);
  }
  std::string describe() const {
    auto got = received();
    return "status " + std::to_string(status()) + ", closed " + fact(facts, "closed") + " after " +
           fact(facts, "elapsed_ms") + " ms, sent " + fact(facts, "sent") + " bytes" +
           (fact(facts, "send_error").empty() ? "" : " (" + fact(facts, "send_error") + ")") +
           (fact(facts, "connect_error").empty() ? ""
                                                 : ", connect: " + fact(facts, "connect_error")) +
           ", received '" + got.substr(0, 160) + "'";
  }
};

/// Sends `data` on a connection to node 0's HTTPS port, inside TLS with the
/// writer's certificate when `tls`, then waits up to `read_s` for the answer and the close.
raw_outcome send_raw(local_cluster& c, const std::string& data, bool tls, double read_s) {
  std::string spec =
      "{\"host\":" + json_quote(c.host(0)) + ",\"port\":" + std::to_string(c.https_port(0)) +
      ",\"tls\":" + (tls ? "true" : "false") + ",\"ca\":" + json_quote(c.cert_path("ca")) +
      ",\"cert\":" + json_quote(c.cert_path("writer")) +
      ",\"key\":" + json_quote(c.key_path("writer")) + ",\"read_s\":" + std::to_string(read_s) +
      ",\"send_hex\":\"" + to_hex(data) + "\"}";
  auto run = run_program({"/usr/bin/python3", client_script(), "raw"}, spec, 60s);
  BOOST_REQUIRE_MESSAGE(run.exit_code == 0, "https_client.py raw failed: " << run.err);
  return {parse_facts(run.out)};
}

/// After an abuse: node 0 answers a GET of `key` (holding `value`) within 1 s, through curl.
void answers_within_a_second(local_cluster& c, const std::string& key, const std::string& value) {
  client reader{c, tool::curl, certificate_of(c, "reader")};
  auto r = reader.get("/v1/kv/" + key);
  BOOST_TEST(r.status == 200, r.describe());
  BOOST_TEST(r.body == value);
  BOOST_TEST(r.took_ms < 1000, "the GET took " << r.took_ms << " ms");
}

/// A cluster for the abuse tests: requests must complete within 2 s.
local_cluster::options abuse_cluster() {
  return three_nodes("[http]\nrequest_ms = 2000\nmax_connections = 1000\n");
}

/// Starts it and stores `key` = `value` for answers_within_a_second.
void start_with(local_cluster& c, const std::string& key, const std::string& value) {
  c.start_all();
  wait_until_serving(c);
  client writer{c, tool::curl, certificate_of(c, "writer")};
  auto r = writer.put("/v1/kv/" + key, value);
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.describe());
}

/// RSS may grow by the buffers of a few connections, not by what was sent.
constexpr long small_growth_kib = 32 * 1024;

/// After abuse: the node still answers within a second, and its memory and descriptors are
/// about where they were `before`.
void expect_unharmed(local_cluster& c, const usage& before, const std::string& what) {
  answers_within_a_second(c, "probe", "still here");
  auto after = usage_of(c.pid(0));
  BOOST_TEST_MESSAGE(what << ": before " << before << "; after " << after);
  BOOST_TEST(after.rss_kib < before.rss_kib + small_growth_kib);
  BOOST_TEST(after.fds <= before.fds + 2);
}

run_result certs_tool(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/bin/bash", source_dir() + "/tools/certs"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, "", 60s);
}

/// A bearer token and its [[token]] lines, from tools/certs --token ROLE.
struct token_lines {
  std::string token;
  std::string toml;
};

token_lines new_token(const std::string& name_role) {
  auto made = certs_tool({"--token", name_role});
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  token_lines t;
  std::istringstream in{made.out};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("bearer token: ", 0) == 0)
      t.token = line.substr(14);
    else
      t.toml += line + "\n";
  }
  BOOST_REQUIRE_MESSAGE(t.token.size() == 64 && contains(t.toml, "[[token]]"), made.out);
  return t;
}

} // namespace

BOOST_AUTO_TEST_SUITE(https)

// ---- 1. What users do, with curl and with Python ------------------------------------------

BOOST_AUTO_TEST_CASE(curl_round_trips_values_siblings_contexts_and_binary_keys) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_serving(c);
  round_trip(c, tool::curl);
}

BOOST_AUTO_TEST_CASE(python_round_trips_values_siblings_contexts_and_binary_keys) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_serving(c);
  round_trip(c, tool::python);
}

// ---- 2. Every error code ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(each_refusal_has_its_status_and_a_one_line_json_body) {
  local_cluster c{three_nodes("[limits]\nmax_key_bytes = 64\nmax_value_bytes = 4096\n")};
  c.start_all();
  wait_until_serving(c);
  for (auto t : {tool::curl, tool::python}) {
    BOOST_TEST_CONTEXT(name_of(t)) {
      const std::string p = std::string{name_of(t)} + "-";
      client writer{c, t, certificate_of(c, "writer")};
      client reader{c, t, certificate_of(c, "reader")};
      client nobody{c, t, {}};
      // 400: percent-encoding, query, context, batch bodies, the empty key.
      for (auto path : {"/v1/kv/%zz", "/v1/kv/abc%4", "/v1/kv/%G0", "/v1/kv/a%"})
        check_failure(reader.get(path), 400, "bad_request", path);
      check_failure(reader.get("/v1/kv/k?format=xml"), 400, "bad_request", "an unknown format");
      check_failure(reader.get("/v1/kv/"), 400, "empty_key", "the empty key");
      for (auto context : {"xyz", "abc", "01 02", "0x0101"})
        check_failure(writer.put("/v1/kv/" + p + "ctx", "v", {{"X-Context", context}}), 400,
                      "bad_context", std::string{"X-Context: "} + context);
      for (auto body :
           {"{keys:", "[]", "{\"keys\": \"a2V5\"}", "{\"keys\": [\"!!\"]}", "{\"keys\": [1]}", ""})
        check_failure(reader.post("/v1/batch/get", body), 400, "bad_request",
                      std::string{"batch body '"} + body + "'");
      // 401: no credentials at all, and an unknown token.
      auto r = nobody.get("/v1/kv/" + p + "k");
      check_failure(r, 401, "unauthorized", "no certificate, no token");
      BOOST_TEST(r.header("WWW-Authenticate") == "Bearer realm=\"actorkv\"");
      r = client{c, t, {"", "", std::string(64, 'a')}}.get("/v1/kv/" + p + "k");
      check_failure(r, 401, "unauthorized", "an unknown token");
      BOOST_TEST(contains(r.header("WWW-Authenticate"), "invalid_token"));
      // 403: a reader writing, a writer removing a node.
      check_failure(reader.put("/v1/kv/" + p + "k", "v"), 403, "forbidden", "reader PUT");
      check_failure(writer.post("/v1/admin/remove", "{\"subject\":\"n3\"}"), 403, "forbidden",
                    "writer remove");
      // 404: an absent key, an unknown path.
      check_failure(reader.get("/v1/kv/" + p + "absent"), 404, "not_found", "an absent key");
      check_failure(reader.get("/v2/kv/x"), 404, "not_found", "an unknown path");
      check_failure(reader.get("/v1/admin/reboot"), 404, "not_found", "an unknown admin action");
      // 405 with Allow.
      r = writer.send("POST", "/v1/kv/" + p + "k", "v");
      check_failure(r, 405, "method_not_allowed", "POST on a key");
      BOOST_TEST(r.header("Allow") == "GET, PUT, DELETE");
      r = writer.send("PATCH", "/v1/kv/" + p + "k", "");
      check_failure(r, 405, "method_not_allowed", "PATCH on a key");
      r = reader.send("DELETE", "/v1/status", "");
      check_failure(r, 405, "method_not_allowed", "DELETE on status");
      BOOST_TEST(r.header("Allow") == "GET");
      r = reader.get("/v1/batch/get");
      check_failure(r, 405, "method_not_allowed", "GET on batch");
      BOOST_TEST(r.header("Allow") == "POST");
      // 413: keys and values one byte over [limits]; at the limit they are fine.
      const std::string key64 = p + std::string(64 - p.size(), 'k');
      check_failure(writer.put("/v1/kv/" + key64 + "x", "v"), 413, "key_too_large", "PUT key 65");
      check_failure(reader.get("/v1/kv/" + key64 + "x"), 413, "key_too_large", "GET key 65");
      check_failure(writer.put("/v1/kv/" + p + "big", std::string(4097, 'v')), 413,
                    "value_too_large", "value 4097");
      check_failure(reader.post("/v1/batch/get", "{\"keys\":[\"" + base64(key64 + "x") + "\"]}"),
                    413, "key_too_large", "a batch key of 65 bytes");
      // A body over the batch limit (64 KiB here), asked about first as curl does for large
      // bodies, so the 413 comes before the body is sent. (Python's http.client cannot wait
      // for 100 Continue: sent at once, a body this large meets the bug noted in
      // a_value_far_over_the_limit_sent_without_waiting_gets_its_413.)
      if (t == tool::curl)
        check_failure(reader.send("POST", "/v1/batch/get", std::string(128 * 1024, ' '),
                                  {{"Expect", "100-continue"}}),
                      413, "body_too_large", "a 128 KiB batch body");
      BOOST_TEST(writer.put("/v1/kv/" + key64, std::string(4096, 'v')).status == 200);
      r = reader.get("/v1/kv/" + key64);
      BOOST_TEST(r.status == 200, r.describe());
      BOOST_TEST(r.body == std::string(4096, 'v'));
      // None of the refused writes stored anything.
      for (auto key : {p + "ctx", p + "k", p + "big"})
        BOOST_TEST(c.kvsh(0, "get " + key + "\n").out == "(not found)\n", key);
    }
  }
}

BOOST_AUTO_TEST_CASE(sibling_and_record_limits_are_409_and_413_and_the_warning_a_header) {
  local_cluster c{three_nodes("[limits]\nmax_siblings = 3\nsibling_warning = 2\n"
                              "max_value_bytes = 4096\nmax_record_bytes = 6000\n")};
  c.start_all();
  wait_until_serving(c);
  for (auto t : {tool::curl, tool::python}) {
    BOOST_TEST_CONTEXT(name_of(t)) {
      const std::string p = "/v1/kv/" + std::string{name_of(t)} + "-";
      client writer{c, t, certificate_of(c, "writer")};
      for (auto value : {"a", "b"}) {
        auto r = writer.put(p + "cart", value);
        BOOST_TEST(r.status == 200, r.describe());
        BOOST_TEST(r.header("X-Siblings-Warning") == "");
      }
      // Past the soft limit: stored, with the warning in a header and in the body.
      auto r = writer.put(p + "cart", "c");
      BOOST_TEST(r.status == 200, r.describe());
      BOOST_TEST(r.json_keys == "replicas,sibling_count,warning", r.describe());
      BOOST_TEST(contains(r.body, "\"sibling_count\":3"), r.describe());
      BOOST_TEST(contains(r.header("X-Siblings-Warning"), "the key has 3 siblings, above "
                                                          "sibling_warning = 2"),
                 r.header("X-Siblings-Warning"));
      BOOST_TEST(r.json("warning") == r.header("X-Siblings-Warning"));
      // Past the hard limit: 409, nothing stored.
      check_failure(writer.put(p + "cart", "d"), 409, "too_many_siblings", "a fourth sibling");
      r = writer.get(p + "cart?format=json");
      BOOST_TEST(r.siblings.size() == 3u, r.describe());
      // Values of 4000 bytes each: the second would make 8000, above max_record_bytes.
      BOOST_TEST(writer.put(p + "big", std::string(4000, 'x')).status == 200);
      check_failure(writer.put(p + "big", std::string(4000, 'y')), 413, "record_too_large",
                    "a second 4000-byte sibling");
    }
  }
}

BOOST_AUTO_TEST_CASE(a_value_far_over_the_limit_sent_without_waiting_gets_its_413) {
  // Python's http.client sends a body at once (no Expect: 100-continue), as most libraries do.
  local_cluster c{three_nodes("[limits]\nmax_value_bytes = 4096\n")};
  c.start_all();
  wait_until_serving(c);
  client writer{c, tool::python, certificate_of(c, "writer")};
  client curl_writer{c, tool::curl, certificate_of(c, "writer")};
  BOOST_REQUIRE(curl_writer.put("/v1/kv/probe", "still here").status == 200);
  // curl asks first (Expect: 100-continue) for bodies this large and hears 413 before sending.
  check_failure(curl_writer.put("/v1/kv/huge", std::string(2 << 20, 'v')), 413, "value_too_large",
                "curl, 2 MiB");
  auto r = writer.put("/v1/kv/huge", std::string(4 << 20, 'v'));
  BOOST_TEST_MESSAGE("python, 4 MiB over a 4 KiB limit: " << r.describe());
  // Python sends the whole body before it reads: the node reads and drops the rest of it before
  // closing, else the close resets the connection and the client never sees its 413 (over TLS
  // it did not, and the client got SSLEOFError at 4 MiB every time).
  BOOST_TEST(r.status == 413, "python PUT of 4 MiB over a 4 KiB limit: " << r.describe());
  // The same for every refusal made before the body is read, e.g. a reader's 403.
  r = client{c, tool::python, certificate_of(c, "reader")}.put("/v1/kv/huge",
                                                               std::string(4 << 20, 'v'));
  BOOST_TEST_MESSAGE("python, a reader's PUT of 4 MiB: " << r.describe());
  BOOST_TEST(r.status == 403, "python reader PUT of 4 MiB: " << r.describe());
  BOOST_TEST(c.kvsh(0, "get huge\n").out == "(not found)\n");
  answers_within_a_second(c, "probe", "still here");
}

BOOST_AUTO_TEST_CASE(unavailable_is_503_with_retry_after_and_an_unknown_outcome_504) {
  // Strict quorum, N=3 R=W=2: with n2 and n3 gone only n1 is left.
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_serving(c);
  client writer{c, tool::curl, certificate_of(c, "writer")};
  client reader{c, tool::python, certificate_of(c, "reader")};
  BOOST_REQUIRE(writer.put("/v1/kv/before", "v").status == 200);
  // Paused, not yet detected (that takes about 3 s): the write reaches n1 alone and the
  // coordinator cannot know whether more replicas stored it: 504.
  c.pause(1);
  c.pause(2);
  auto r = writer.put("/v1/kv/maybe", "v");
  // maybe_applied once the failure detector gives up on them mid-request (about 3 s), or
  // timeout should the coordinator's own bound come first: either way 504, "read, then decide".
  auto name = r.json("error") == "timeout" ? "timeout" : "maybe_applied";
  check_failure(r, 504, name, "a write while two replicas are paused");
  BOOST_TEST(contains(r.json("message"), "read the key, then decide"), r.describe());
  BOOST_TEST_MESSAGE("504 after " << r.took_ms << " ms");
  // Killed and detected: refused at once with 503 and Retry-After.
  c.kill(1);
  c.kill(2);
  BOOST_REQUIRE(
      eventually(10s, [&] { return sees(c, 0, "n2", "down") && sees(c, 0, "n3", "down"); }));
  r = writer.put("/v1/kv/after", "v");
  check_failure(r, 503, "unavailable", "a write with 1 of 3 replicas");
  BOOST_TEST(r.header("Retry-After") == "1");
  BOOST_TEST(r.took_ms < 1000, r.took_ms << " ms");
  r = reader.get("/v1/kv/before");
  check_failure(r, 503, "unavailable", "a read with 1 of 3 replicas");
  BOOST_TEST(r.header("Retry-After") == "1");
  BOOST_TEST(r.took_ms < 1000, r.took_ms << " ms");
}

// ---- 3. Credentials that prove too little store nothing ----------------------------------

BOOST_AUTO_TEST_CASE(refused_credentials_store_nothing_and_tokens_work_without_certificates) {
  auto write_token = new_token("ci:write");
  auto read_token = new_token("dash:read");
  local_cluster c{three_nodes(write_token.toml + "\n" + read_token.toml)};
  c.start_all();
  wait_until_serving(c);
  // Another CA's admin, and an expired writer of the cluster's own CA.
  auto made = certs_tool({c.dir() + "/other-ca", "--client", "admin:admin"});
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  made = certs_tool({c.dir() + "/certs", "--expired", "old:write"});
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  const credentials foreign{c.dir() + "/other-ca/admin.crt", c.dir() + "/other-ca/admin.key", ""};
  const credentials expired = certificate_of(c, "old");

  for (auto t : {tool::curl, tool::python}) {
    BOOST_TEST_CONTEXT(name_of(t)) {
      const std::string p = std::string{name_of(t)} + "-";
      auto r = client{c, t, {}}.put("/v1/kv/" + p + "stolen", "1");
      check_failure(r, 401, "unauthorized", "no certificate, no token");
      // Certificates that do not verify fail the TLS handshake: no HTTP answer at all.
      r = client{c, t, foreign}.put("/v1/kv/" + p + "stolen", "2");
      BOOST_TEST(r.status == 0, "another CA's certificate: " << r.describe());
      BOOST_TEST(!r.error.empty());
      // The alert names the reason ("unknown ca"), unless the close overtakes it (TLS 1.3
      // verifies the client after the client's Finished): an SSL error either way.
      BOOST_TEST(contains(r.error, "SSL"), r.error);
      BOOST_TEST_MESSAGE(name_of(t) << ", another CA: " << r.error);
      r = client{c, t, expired}.put("/v1/kv/" + p + "stolen", "3");
      BOOST_TEST(r.status == 0, "an expired certificate: " << r.describe());
      BOOST_TEST(!r.error.empty());
      BOOST_TEST(contains(r.error, "SSL"), r.error);
      BOOST_TEST_MESSAGE(name_of(t) << ", expired: " << r.error);
      check_failure(client{c, t, certificate_of(c, "reader")}.put("/v1/kv/" + p + "stolen", "4"),
                    403, "forbidden", "reader PUT");
      check_failure(client{c, t, certificate_of(c, "reader")}.del("/v1/kv/" + p + "stolen"), 403,
                    "forbidden", "reader DELETE");
      // Bearer tokens, no client certificate: the write token writes, the read token reads.
      client ci{c, t, {"", "", write_token.token}};
      client dash{c, t, {"", "", read_token.token}};
      r = ci.put("/v1/kv/" + p + "by-token", "from a token");
      BOOST_TEST(r.status == 200, r.describe());
      r = dash.get("/v1/kv/" + p + "by-token");
      BOOST_TEST(r.status == 200, r.describe());
      BOOST_TEST(r.body == "from a token");
      check_failure(dash.put("/v1/kv/" + p + "stolen", "5"), 403, "forbidden", "read token PUT");
      // A wrong token is 401, even next to a valid certificate; a certificate and a token
      // together may do what the higher of the two allows.
      auto wrong = write_token.token;
      wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
      check_failure(client{c, t, {"", "", wrong}}.put("/v1/kv/" + p + "stolen", "6"), 401,
                    "unauthorized", "a wrong token");
      check_failure(client{c, t, {c.cert_path("writer"), c.key_path("writer"), wrong}}.put(
                        "/v1/kv/" + p + "stolen", "7"),
                    401, "unauthorized", "a wrong token beside the writer's certificate");
      check_failure(client{c, t, {}}.put("/v1/kv/" + p + "stolen", "8",
                                         {{"Authorization", "Basic " + base64("admin:admin")}}),
                    401, "unauthorized", "basic authentication");
      r = client{c, t, {c.cert_path("reader"), c.key_path("reader"), write_token.token}}.put(
          "/v1/kv/" + p + "by-both", "reader certificate, write token");
      BOOST_TEST(r.status == 200, r.describe());
      // The writer runs admin commands: refused, and the membership is what it was.
      client writer{c, t, certificate_of(c, "writer")};
      check_failure(writer.post("/v1/admin/remove", "{\"subject\":\"n3\"}"), 403, "forbidden",
                    "writer remove n3");
      check_failure(writer.post("/v1/admin/leave", "{\"subject\":\"n2\"}"), 403, "forbidden",
                    "writer leave n2");
      check_failure(ci.post("/v1/admin/remove", "{\"subject\":\"n3\"}"), 403, "forbidden",
                    "write token remove n3");
      check_failure(writer.post("/v1/admin/fault", "{\"action\":\"drop\",\"peers\":[\"n2\"]}"), 403,
                    "forbidden", "writer fault drop");
      // Nothing refused was stored.
      auto k = c.kvsh(0, "get " + p + "stolen\n");
      BOOST_TEST(k.exit_code == 3, k.err); // not found
      BOOST_TEST(k.out == "(not found)\n");
    }
  }
  auto status = c.kvsh(0, "status\n").out;
  BOOST_TEST(!contains(status, "removed"), status);
  BOOST_TEST(!contains(status, "leaving"), status);
  for (auto name : {"n1", "n2", "n3"})
    BOOST_TEST(sees(c, 0, name, "up"), name);
}

// ---- 4. Bad input on the HTTPS port ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(malformed_requests_and_garbage_get_400_or_are_dropped) {
  local_cluster c{abuse_cluster()};
  start_with(c, "probe", "still here");
  auto before = usage_of(c.pid(0));
  std::mt19937 rng{test_seed()};
  std::string random_bytes(64 * 1024, '\0');
  for (auto& ch : random_bytes)
    ch = static_cast<char>(rng());
  // Inside TLS, with the writer's certificate.
  const std::vector<std::pair<std::string, std::string>> inside{
      {"a bare word", "GARBAGE\r\n\r\n"},
      {"a method alone", "GET\r\n\r\n"},
      {"no version", "GET /v1/kv/probe\r\n\r\n"},
      {"HTTP/2.0", "GET /v1/kv/probe HTTP/2.0\r\nHost: x\r\n\r\n"},
      {"double spaces", "GET  /v1/kv/probe  HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"a header without a colon", "GET /v1/kv/probe HTTP/1.1\r\nHost x\r\n\r\n"},
      {"a negative Content-Length",
       "PUT /v1/kv/neg HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nabc"},
      {"two Content-Lengths",
       "PUT /v1/kv/two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
      {"a bad chunk size",
       "PUT /v1/kv/chunk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"},
      {"NUL bytes", std::string(512, '\0')},
      {"64 KiB of random bytes", random_bytes},
  };
  for (auto& [what, data] : inside) {
    auto got = send_raw(c, data, true, 4);
    BOOST_TEST_MESSAGE("inside TLS, " << what << ": " << got.describe());
    BOOST_TEST(got.closed(), what << ": " << got.describe());
    BOOST_TEST((got.status() == 400 || got.received().empty()), what << ": " << got.describe());
    BOOST_TEST(got.elapsed_ms() < 3000, what << ": " << got.describe());
    if (got.status() == 400)
      BOOST_TEST(contains(got.received(), "{\"error\":\"bad_request\",\"message\":"),
                 got.describe());
  }
  // Instead of TLS: plain HTTP, and random bytes; the handshake fails and the node closes.
  for (auto& [what, data] : std::vector<std::pair<std::string, std::string>>{
           {"plain HTTP", "GET /v1/kv/probe HTTP/1.1\r\nHost: x\r\n\r\n"},
           {"random bytes", random_bytes.substr(0, 4096)},
           {"a TLS record header announcing 16 KiB, then nothing", "\x16\x03\x01\x40\x00"}}) {
    auto got = send_raw(c, data, false, 4);
    BOOST_TEST_MESSAGE("instead of TLS, " << what << ": " << got.describe());
    BOOST_TEST(got.closed(), what << ": " << got.describe());
    BOOST_TEST(!contains(got.received(), "HTTP/1.1 200"), what);
    BOOST_TEST(got.elapsed_ms() < 3000, what << ": " << got.describe());
  }
  for (auto key : {"neg", "two", "chunk"})
    BOOST_TEST(c.kvsh(0, std::string{"get "} + key + "\n").out == "(not found)\n", key);
  expect_unharmed(c, before, "malformed input");
}

BOOST_AUTO_TEST_CASE(a_one_megabyte_header_gets_431_or_is_dropped) {
  local_cluster c{abuse_cluster()};
  start_with(c, "probe", "still here");
  auto before = usage_of(c.pid(0));
  const std::vector<std::pair<std::string, std::string>> requests{
      {"one 1 MiB header",
       "GET /v1/kv/probe HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n"},
      {"20000 headers of 48 bytes",
       [] {
         std::string r = "GET /v1/kv/probe HTTP/1.1\r\nHost: x\r\n";
         for (int i = 0; i < 20000; ++i)
           r += "X-Many: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
         return r + "\r\n";
       }()},
      {"a 1 MiB request line", "GET /v1/kv/" + std::string(1 << 20, 'k') + " HTTP/1.1\r\n\r\n"},
  };
  for (auto& [what, data] : requests) {
    auto got = send_raw(c, data, true, 4);
    BOOST_TEST_MESSAGE(what << ": " << got.describe());
    BOOST_TEST(got.closed(), what << ": " << got.describe());
    BOOST_TEST((got.status() == 431 || got.received().empty()), what << ": " << got.describe());
    if (got.status() == 431)
      BOOST_TEST(contains(got.received(), "{\"error\":\"headers_too_large\",\"message\":"));
    BOOST_TEST(got.elapsed_ms() < 3000, what << ": " << got.describe());
  }
  expect_unharmed(c, before, "1 MiB headers");
}

BOOST_AUTO_TEST_CASE(bodies_longer_or_shorter_than_announced) {
  local_cluster c{abuse_cluster()};
  start_with(c, "probe", "still here");
  auto before = usage_of(c.pid(0));
  // Longer: the body is the announced 3 bytes; what follows is read as the next request,
  // which here never completes and is dropped at request_ms.
  auto got = send_raw(
      c, "PUT /v1/kv/longer HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcdefgh", true, 5);
  BOOST_TEST_MESSAGE("longer than announced: " << got.describe());
  BOOST_TEST(got.status() == 200, got.describe());
  BOOST_TEST(got.closed(), got.describe());
  BOOST_TEST((got.elapsed_ms() > 1500 && got.elapsed_ms() < 3500), got.describe());
  // ... and when the rest is a request, it is answered as one (pipelining).
  got = send_raw(c,
                 "PUT /v1/kv/longer2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
                 "GET /v1/kv/longer2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 true, 5);
  BOOST_TEST(got.status() == 200, got.describe());
  BOOST_TEST(contains(got.received(), "\r\n\r\nxyz"), got.describe());
  BOOST_TEST(got.closed(), got.describe());
  // ... and when it is garbage, that gets 400.
  got = send_raw(c,
                 "PUT /v1/kv/longer3 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nuvw"
                 "\x01\x02 garbage\r\n\r\n",
                 true, 5);
  BOOST_TEST(got.status() == 200, got.describe());
  BOOST_TEST(contains(got.received(), "HTTP/1.1 400"), got.describe());
  BOOST_TEST(got.closed(), got.describe());
  client reader{c, tool::curl, certificate_of(c, "reader")};
  BOOST_TEST(reader.get("/v1/kv/longer").body == "abc");
  BOOST_TEST(reader.get("/v1/kv/longer3").body == "uvw");
  // Shorter: the node waits for the rest until request_ms, then drops the connection
  // unanswered; nothing is stored.
  got = send_raw(c, "PUT /v1/kv/shorter HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
                 true, 6);
  BOOST_TEST_MESSAGE("shorter than announced: " << got.describe());
  BOOST_TEST(got.closed(), got.describe());
  BOOST_TEST(got.received().empty(), got.describe());
  BOOST_TEST((got.elapsed_ms() > 1500 && got.elapsed_ms() < 3500), got.describe());
  check_failure(reader.get("/v1/kv/shorter"), 404, "not_found", "the unfinished put");
  expect_unharmed(c, before, "bodies");
}

BOOST_AUTO_TEST_CASE(a_slow_client_is_dropped_at_request_ms) {
  local_cluster c{abuse_cluster()};
  start_with(c, "probe", "still here");
  auto before = usage_of(c.pid(0));
  std::string spec =
      "{\"host\":" + json_quote(c.host(0)) + ",\"port\":" + std::to_string(c.https_port(0)) +
      ",\"ca\":" + json_quote(c.cert_path("ca")) +
      ",\"cert\":" + json_quote(c.cert_path("writer")) +
      ",\"key\":" + json_quote(c.key_path("writer")) +
      ",\"interval_s\":1,\"max_s\":8,\"send_hex\":\"" +
      to_hex("PUT /v1/kv/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nv") + "\"}";
  auto run = run_program({"/usr/bin/python3", client_script(), "slow"}, spec, 30s);
  BOOST_REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  auto facts = parse_facts(run.out);
  BOOST_TEST_MESSAGE("one byte a second: sent " << fact(facts, "sent") << " bytes, closed "
                                                << fact(facts, "closed") << " after "
                                                << fact(facts, "elapsed_ms") << " ms");
  BOOST_TEST(fact(facts, "closed") == "1", run.out);
  auto elapsed = fact_number(facts, "elapsed_ms");
  BOOST_TEST((elapsed > 1500 && elapsed < 3500), elapsed << " ms");
  BOOST_TEST(fact_number(facts, "sent") <= 4, run.out);
  BOOST_TEST(c.kvsh(0, "get slow\n").out == "(not found)\n");
  expect_unharmed(c, before, "slow client");
}

BOOST_AUTO_TEST_CASE(five_thousand_idle_connections_are_bounded_and_dropped) {
  // max_connections 1000: the rest are refused. request_ms 6000 leaves a window in which the
  // 1000 still hold their places after the refusals (at most 2 s each) are gone.
  local_cluster c{three_nodes("[http]\nrequest_ms = 6000\nmax_connections = 1000\n")};
  start_with(c, "probe", "still here");
  auto pid = c.pid(0);
  auto before = usage_of(pid);
  client reader{c, tool::curl, certificate_of(c, "reader")};
  const auto ready = c.dir() + "/idle-ready";
  const double hold_s = 9;
  run_result idle;
  std::thread holder{[&] {
    idle = run_program({"/usr/bin/python3", client_script(), "idle", "5000", c.host(0),
                        std::to_string(c.https_port(0)), std::to_string(hold_s), ready},
                       "", 60s);
  }};
  struct joiner { // joins the holder on every way out, a failed requirement included
    std::thread& t;
    ~joiner() {
      if (t.joinable())
        t.join();
    }
  } join_holder{holder};
  auto t0 = clock_type::now();
  BOOST_REQUIRE(eventually(30s, [&] { return !read_file(ready).empty(); }));
  auto t_ready = clock_type::now();
  auto opened = read_file(ready);
  auto flooded = usage_of(pid);
  BOOST_TEST_MESSAGE("5000 idle connections: " << opened << "  node: " << flooded);
  BOOST_TEST(contains(opened, "connected 5000 failed 0"), opened);
  // At most max_connections + 64 refusals in progress, plus the node's own descriptors.
  BOOST_TEST(flooded.fds <= before.fds + 1000 + 64 + 8, flooded);
  // While they are held: a request is refused quickly, not left hanging: closed unanswered
  // while 64 refusals are under way, then 503 with Retry-After.
  auto r = reader.get("/v1/kv/probe");
  BOOST_TEST_MESSAGE("a request right after the flood: " << r.describe() << " in " << r.took_ms
                                                         << " ms");
  BOOST_TEST((r.status == 503 || r.status == 0), r.describe());
  BOOST_TEST(r.took_ms < 1000);
  std::this_thread::sleep_until(t_ready + 2500ms);
  r = reader.get("/v1/kv/probe");
  BOOST_TEST_MESSAGE("a request 2.5 s after the flood: " << r.describe() << " in " << r.took_ms
                                                         << " ms (" << ms_since(t0)
                                                         << " ms after the client started)");
  if (ms_since(t0) < 5500) { // the 1000 are still there
    check_failure(r, 503, "overloaded", "over max_connections");
    BOOST_TEST(r.header("Retry-After") == "1");
  }
  BOOST_TEST(r.took_ms < 1000);
  // request_ms after their accept the node has dropped them all, though the client still
  // holds its ends: a request is served again, within 1 s.
  // (Every connection was accepted before the client reported them all open.)
  std::this_thread::sleep_until(t_ready + 6000ms + 500ms);
  auto dropped = usage_of(pid);
  r = reader.get("/v1/kv/probe");
  BOOST_TEST(r.status == 200, r.describe());
  BOOST_TEST(r.body == "still here");
  BOOST_TEST(r.took_ms < 1000);
  BOOST_TEST_MESSAGE(ms_since(t0) << " ms after the client started (it still holds them): GET in "
                                  << r.took_ms << " ms; node: " << dropped);
  BOOST_TEST(dropped.fds <= before.fds + 4, dropped);
  holder.join();
  auto facts = parse_facts(idle.out);
  BOOST_TEST(idle.exit_code == 0, idle.err);
  BOOST_TEST_MESSAGE("the idle client: " << idle.out);
  BOOST_TEST(fact_number(facts, "closed_by_server") == 5000, idle.out);
  answers_within_a_second(c, "probe", "still here");
  auto after = usage_of(pid);
  BOOST_TEST_MESSAGE("idle connections: before " << before << "; flooded " << flooded << "; after "
                                                 << after);
  BOOST_TEST(after.fds <= before.fds + 4, after);
  // A pending TLS connection costs about 80 KiB here; 1064 of them at most.
  BOOST_TEST(after.rss_kib < before.rss_kib + 160 * 1024, after);
  BOOST_TEST(after.peak_kib < before.rss_kib + 200 * 1024, after);
}

BOOST_AUTO_TEST_SUITE_END()
