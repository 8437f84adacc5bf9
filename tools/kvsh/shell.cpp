#include "tools/kvsh/shell.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>

#include "actors/client/blocking_client.hpp"
#include "actors/http/http_api.hpp"
#include "actors/http/http_codec.hpp"
#include "actors/http/store_bridge.hpp"
#include "cluster-config/cluster_totals.hpp"
#include "messages/error.hpp"
#include "messages/hex.hpp"

namespace actorkv {

const char* shell_help() {
  return R"help(commands:
  get KEY [--context] [--hex] [--file PATH]
        print the value; "(not found)" when the key is absent or deleted. When concurrent
        writes left siblings, prints each one and the context to pass to the put that
        resolves them. --context prints the context for a single value too; --hex prints
        values as hex; --file writes the (single) value to PATH.
  put KEY VALUE [--context C] [--hex] [--ttl SECONDS]
                                           store VALUE (with --hex, VALUE is hex text)
  put KEY --file PATH [--context C] [--ttl SECONDS]
                                           store the bytes of PATH
        --ttl: the value expires SECONDS (1 to 315360000, ten years) after the write; from
        then on the key reads as "(not found)" on every node, and the expired value is
        collected like a delete. A later put (without --ttl) replaces it as usual.
        Without --context the value is added beside any existing one (siblings); with the
        context of a get it replaces exactly what that get returned. A context belongs to
        the key (and cluster) it was read from; another key's is refused (bad_context).
        Past the manifest's [limits] sibling_warning a write prints a warning; past
        max_siblings (or max_record_bytes) it is refused (too_many_siblings,
        record_too_large) and nothing is stored: get the key and put with its context.
  delete KEY                               read KEY, then delete exactly what that read
        returned; prints how many versions it removed, or "(not found)"
  delete KEY --context C                   delete what the get that printed C returned
  delete KEY --blind                       write a tombstone without reading: under
        conflicts = "siblings" it is concurrent with the stored values and hides none of
        them (get still shows them); under "lww" it wins by its newer timestamp
  status                                   members, up/down, partitions owned, handoffs,
                                           clock offsets (peer minus this node)
  status --all                             also each member's own figures (hints held,
        handoff keys sent, anti-entropy, bytes in flight, integrity check), which the
        connected node asks of each member, and their sums
  join HOST:PORT                           admit a node started with kvnode --join
  leave NAME                               a live node hands its partitions off, then stops
  remove NAME                              drop a dead node; the others re-replicate its data
        One change runs at a time: while a handoff runs, another change is refused. With
        --wait (join HOST:PORT --wait, ...) the shell waits for the running handoff, makes
        the change, then waits until its handoff is done, printing the progress.
  plan join HOST:PORT | leave NAME | remove NAME
        what the change would move (partitions per node before and after, share versus
        capacity), without making it.
  check                                    (admin) a full integrity check of this node's
        store, in the background while it serves; status shows its progress. It also runs
        by itself at a start after an unclean stop.
  backup PATH                              (admin) an online copy of this node's store
        to PATH, an absolute path on the node's machine that must not exist; the node
        serves and writes meanwhile. Waits, showing progress, until the copy is complete.
        Restore: stop the node, kvnode --restore PATH, start it (docs/operations.md).
  fault drop PEER[,PEER...]                (tests) drop requests from these peers here
  fault delay PEER[,PEER...] MS            (tests) delay requests from these peers here
  fault heal                               (tests) clear every injected fault here
        Fault injection is refused unless the manifest sets [faults] injection = true.
  ring                                     the owner of every partition
  help                                     this text
  quit                                     leave (Ctrl-D too)
Quote values with spaces: put greeting "hello world". Separate commands with ';'.
)help";
}

bool split_commands(const std::string& text, std::vector<std::vector<std::string>>& commands,
                    std::string& error) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  auto end_word = [&] {
    if (in_word)
      words.push_back(std::move(word));
    word.clear();
    in_word = false;
  };
  auto end_command = [&] {
    end_word();
    if (!words.empty())
      commands.push_back(std::move(words));
    words.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < text.size()) {
        word += text[++i];
      } else {
        word += c;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
      in_word = true;
    } else if (c == ';' || c == '\n') {
      end_command();
    } else if (c == ' ' || c == '\t' || c == '\r') {
      end_word();
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote) {
    error = std::string{"unterminated "} + quote + " quote";
    return false;
  }
  end_command();
  return true;
}

namespace {

bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

/// Text when every byte is printable (UTF-8 sequences pass), otherwise 0x-prefixed hex.
std::string show(const bytes& value, bool hex) {
  if (hex)
    return to_hex(value);
  for (auto b : value)
    if ((b < 0x20 && b != '\t') || b == 0x7f)
      return "0x" + to_hex(value);
  return std::string(value.begin(), value.end());
}

/// Parsed words of one command: positional arguments and --flags (with their values).
struct parsed {
  std::vector<std::string> args;
  std::map<std::string, std::string> opts;
};

bool parse_words(const std::vector<std::string>& words, const std::map<std::string, bool>& known,
                 parsed& out, std::string& error) {
  for (size_t i = 1; i < words.size(); ++i) {
    auto& w = words[i];
    if (w.size() > 2 && w.compare(0, 2, "--") == 0) {
      auto it = known.find(w);
      if (it == known.end()) {
        error = "unknown option " + w + " for " + words[0] + " (see help)";
        return false;
      }
      if (it->second) {
        if (i + 1 >= words.size()) {
          error = w + " needs a value";
          return false;
        }
        out.opts[w] = words[++i];
      } else {
        out.opts[w] = "";
      }
    } else {
      out.args.push_back(w);
    }
  }
  return true;
}

} // namespace

/// An HTTP API answer's body, for --json.
std::string text_of(const http_reply& r) {
  std::string text(r.body.begin(), r.body.end());
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  return text;
}

struct shell::impl {
  blocking_client client;
  bool plain;
  std::ostream& out;
  std::ostream& err;

  /// --json: each command prints one line of JSON on stdout, the body the HTTPS API answers
  /// (actors/http/http_api.hpp), errors included ({"error": code, "message": ...}).
  bool json = false;

  /// The members' names from the last status answered (Tab completion).
  std::vector<std::string> members;

  /// The connected node's status; its member names are kept for completion.
  caf::expected<cluster_status> status() {
    auto s = client.status();
    if (s) {
      members.clear();
      for (auto& m : s->members)
        if (asked_in_cluster_view(m))
          members.push_back(m.name);
    }
    return s;
  }

  impl(std::vector<std::string> endpoints, std::chrono::milliseconds t, bool p, std::ostream& o,
       std::ostream& e, const tls_files& tls)
      : client(std::move(endpoints), t, tls), plain(p), out(o), err(e) {}

  outcome fail(const std::string& msg) {
    if (json)
      return fail_as(make_failure(400, "bad_request", msg));
    err << "error: " << msg << std::endl;
    return outcome::error;
  }

  outcome fail_as(const http_failure& f) {
    out << text_of(render_failure(f)) << std::endl;
    return outcome::error;
  }

  /// Hands a successful answer to `on_reply` (which may return the command's outcome), or prints
  /// the error. `write`: the error is a write's (a timeout then may have stored it).
  template <class Reply, class F>
  outcome ask(caf::expected<Reply> answer, F on_reply, bool write = false) {
    if (!answer)
      return json ? fail_as(failure_of(answer.error(), write)) : fail(describe(answer.error()));
    if constexpr (std::is_same_v<decltype(on_reply(*answer)), outcome>) {
      return on_reply(*answer);
    } else {
      on_reply(*answer);
      return outcome::ok;
    }
  }

  std::optional<bytes> context_of(const parsed& p, outcome& bad) {
    auto it = p.opts.find("--context");
    if (it == p.opts.end())
      return bytes{};
    auto ctx = from_hex(it->second);
    if (!ctx) {
      bad = fail("--context takes the hex text that get printed");
      return std::nullopt;
    }
    return ctx;
  }

  outcome do_get(const std::vector<std::string>& words) {
    parsed p;
    std::string error;
    if (!parse_words(words, {{"--hex", false}, {"--context", false}, {"--file", true}}, p, error))
      return fail(error);
    if (p.args.size() != 1)
      return fail("usage: get KEY [--context] [--hex] [--file PATH]");
    bool hex = p.opts.count("--hex") > 0;
    return ask(client.get(to_bytes(p.args[0])), [&](get_reply& r) {
      if (json) {
        bool found = r.found;
        out << text_of(render_get(std::move(r), true, 0)) << std::endl;
        return found ? outcome::ok : outcome::not_found;
      }
      if (!r.found) {
        out << "(not found)" << std::endl;
        return outcome::not_found;
      }
      if (auto f = p.opts.find("--file"); f != p.opts.end()) {
        if (r.values.size() != 1)
          return fail("the key has " + std::to_string(r.values.size()) +
                      " siblings; resolve them before writing one to a file");
        std::ofstream file{f->second, std::ios::binary};
        file.write(reinterpret_cast<const char*>(r.values[0].data()),
                   static_cast<std::streamsize>(r.values[0].size()));
        if (!file)
          return fail("cannot write " + f->second);
        out << "wrote " << r.values[0].size() << " bytes to " << f->second << std::endl;
      } else if (r.values.size() == 1) {
        out << show(r.values[0], hex) << std::endl;
      } else {
        out << "(" << r.values.size() << " siblings)" << std::endl;
        for (size_t i = 0; i < r.values.size(); ++i)
          out << "[" << i + 1 << "] " << show(r.values[i], hex) << std::endl;
      }
      if (r.values.size() > 1 || p.opts.count("--context"))
        out << "context: " << to_hex(r.context) << std::endl;
      return outcome::ok;
    });
  }

  outcome do_put(const std::vector<std::string>& words) {
    parsed p;
    std::string error;
    if (!parse_words(words,
                     {{"--hex", false}, {"--context", true}, {"--file", true}, {"--ttl", true}}, p,
                     error))
      return fail(error);
    put_request req;
    auto file = p.opts.find("--file");
    if (p.args.size() != (file == p.opts.end() ? 2u : 1u))
      return fail("usage: put KEY VALUE [--context C] [--hex] [--ttl SECONDS]  or  "
                  "put KEY --file PATH [--context C] [--ttl SECONDS]");
    if (auto ttl = p.opts.find("--ttl"); ttl != p.opts.end()) {
      auto seconds = parse_ttl(ttl->second);
      if (!seconds)
        return fail("--ttl: " + describe(seconds.error()));
      req.ttl_s = *seconds;
    }
    req.key = to_bytes(p.args[0]);
    if (file != p.opts.end()) {
      std::ifstream in{file->second, std::ios::binary};
      if (!in)
        return fail("cannot read " + file->second);
      req.value.assign(std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{});
    } else if (p.opts.count("--hex")) {
      auto v = from_hex(p.args[1]);
      if (!v)
        return fail("--hex values are hex text with an even number of digits");
      req.value = std::move(*v);
    } else {
      req.value = to_bytes(p.args[1]);
    }
    outcome bad = outcome::ok;
    auto ctx = context_of(p, bad);
    if (!ctx)
      return bad;
    req.context = std::move(*ctx);
    return ask(
        client.put(req.key, req.value, req.context, req.ttl_s),
        [&](write_reply& r) { print_written(r); }, true);
  }

  outcome do_delete(const std::vector<std::string>& words) {
    parsed p;
    std::string error;
    if (!parse_words(words, {{"--context", true}, {"--blind", false}}, p, error))
      return fail(error);
    if (p.args.size() != 1)
      return fail("usage: delete KEY [--context C | --blind]");
    bool blind = p.opts.count("--blind") > 0;
    if (blind && p.opts.count("--context"))
      return fail("--blind takes no --context: a delete with a context is not blind");
    delete_request req;
    req.key = to_bytes(p.args[0]);
    outcome bad = outcome::ok;
    auto ctx = context_of(p, bad);
    if (!ctx)
      return bad;
    req.context = std::move(*ctx);
    bool reads_first = req.context.empty() && !blind;
    return ask(
        client.remove(req.key, req.context, blind),
        [&](write_reply& r) {
          if (json) {
            print_written(r);
            return r.acks == 0 ? outcome::not_found : outcome::ok;
          }
          if (!reads_first) {
            print_written(r);
            return outcome::ok;
          }
          if (r.removed == 0) {
            out << "(not found)" << std::endl;
            return outcome::not_found;
          }
          out << "ok (removed " << r.removed << (r.removed == 1 ? " version" : " versions");
          if (!plain)
            out << "; " << r.acks << " replicas acknowledged";
          out << ")" << std::endl;
          return outcome::ok;
        },
        true);
  }

  void print_written(const write_reply& r) {
    if (json) {
      out << text_of(render_write(r)) << std::endl;
      return;
    }
    if (plain)
      out << "ok" << std::endl;
    else
      out << "ok (" << r.acks << " replicas acknowledged)" << std::endl;
    // Stored, but the key is collecting siblings: said on stderr, so scripts still read "ok".
    if (!r.warning.empty())
      err << "warning: " << r.warning << std::endl;
  }

  /// A member that left or was removed and owns nothing: a line of status, not a row.
  static bool no_longer_member(const member_status& m) { return !asked_in_cluster_view(m); }

  outcome do_status(const std::vector<std::string>& words) {
    parsed p;
    std::string error;
    if (!parse_words(words, {{"--all", false}}, p, error))
      return fail(error);
    if (!p.args.empty())
      return fail("usage: status [--all]");
    bool all = p.opts.count("--all") > 0;
    return ask(status(), [&](cluster_status& s) {
      bool any_down = false;
      if (json) {
        for (auto& m : s.members)
          any_down |= !m.up && !no_longer_member(m);
        if (!all) {
          out << text_of(render_status(s)) << std::endl;
          return any_down ? outcome::members_down : outcome::ok;
        }
        // As HTTPS GET /v1/status?scope=cluster answers it.
        auto view = cluster_view(s);
        out << text_of(render_cluster_status(view)) << std::endl;
        any_down |= !sum_members(view.members).complete();
        return any_down ? outcome::members_down : outcome::ok;
      }
      out << "node " << s.node << ": " << s.settings << std::endl;
      if (!s.starting.empty())
        out << "starting, no client sessions yet: " << s.starting << std::endl;
      out << std::left << std::setw(10) << "NAME" << std::setw(24) << "ENDPOINT" << std::setw(10)
          << "CAPACITY" << std::setw(7) << "STATE" << std::setw(12) << "PARTITIONS" << std::setw(8)
          << "SHARE" << std::setw(12) << "ZONE"
          << "MEMBER" << std::endl;
      std::string gone; // members that left or were removed: a line, not rows of "down"
      for (auto& m : s.members) {
        if ((m.state == "removed" || m.state == "left") && m.partitions == 0) {
          gone += (gone.empty() ? "" : ", ") + m.name + " (" + m.state + ")";
          continue;
        }
        any_down |= !m.up;
        std::ostringstream share;
        share << std::fixed << std::setprecision(1)
              << (s.owners.empty() ? 0.0 : 100.0 * m.partitions / s.owners.size()) << "%";
        auto member = m.state;
        if (s.handoff_running && m.next_partitions != m.partitions)
          member += " (" + std::to_string(m.next_partitions) + " after the handoff)";
        out << std::left << std::setw(10) << m.name << std::setw(24) << m.endpoint << std::setw(10)
            << m.capacity << std::setw(7) << (m.up ? "up" : "down") << std::setw(12) << m.partitions
            << std::setw(8) << share.str() << std::setw(12) << (m.zone + " ") << member
            << std::endl;
      }
      if (!gone.empty())
        out << "no longer members: " << gone << std::endl;
      if (s.handoff_running)
        out << "handoff: " << s.transfers_done << " of " << s.transfers_total
            << " partition transfers done (ring epoch " << s.ring_epoch << "); this node sent "
            << s.handoff_keys_sent << " of " << s.handoff_keys_total << " keys, "
            << s.handoff_queued << " transfers queued here" << std::endl;
      else if (s.handoff_queued > 0) // releases (docs/operations.md)
        out << "ring epoch " << s.ring_epoch << ", no handoff running; this node still releases "
            << s.handoff_queued
            << " partitions (sends their new replicas what they lack, then deletes them); it sent "
            << s.handoff_keys_sent << " keys in handoffs" << std::endl;
      else
        out << "ring epoch " << s.ring_epoch << ", no handoff running; this node sent "
            << s.handoff_keys_sent << " keys in handoffs" << std::endl;
      out << "pending hints: " << s.pending_hints << std::endl;
      out << "anti-entropy: " << s.ae_rounds << " rounds, " << s.ae_repairs_last_round
          << " repairs in the last, " << s.ae_repairs_total << " in all";
      if (s.ae_partitions > 0)
        out << "; round " << s.ae_rounds + 1 << " at partition " << s.ae_partition << " of "
            << s.ae_partitions << ", " << s.ae_repairs_this_round << " repaired, "
            << s.ae_repairs_running << " repairs running";
      if (s.ae_peer_pause_ms > 0)
        out << "; its units wait the " << s.ae_peer_pause_ms << " ms pause " << s.ae_paced_by
            << "'s pace asks";
      out << std::endl;
      out << "tombstones collected: " << s.tombstones_collected << " in " << s.collection_sweeps
          << " sweeps" << std::endl;
      out << "version-vector entries pruned: " << s.entries_pruned << " (of retired replica ids)"
          << std::endl;
      if (!s.integrity_check.empty())
        out << "integrity check: " << s.integrity_check << std::endl;
      if (s.background_target_us > 0)
        out << "background work: " << describe_pace(s) << std::endl;
      out << "view fingerprint: " << std::hex << s.view_fingerprint << std::dec << std::endl;
      print_clocks(s);
      if (s.memory_budget > 0)
        out << "memory budget: " << s.memory_in_flight << " of " << s.memory_budget
            << " bytes in flight (peak " << s.memory_peak << "); " << s.overloaded_refusals
            << " requests refused as overloaded" << std::endl;
      if (all && !print_each_member(s))
        any_down = true;
      // For scripts: a member down is worth an exit code of its own.
      return any_down ? outcome::members_down : outcome::ok;
    });
  }

  /// Every member's own status (those that left or were removed excepted), gathered by the
  /// connected node (whose status is `s`) as HTTPS `?scope=cluster` has it; when even that
  /// fails, each member with the node's error.
  cluster_answers cluster_view(const cluster_status& s) {
    auto view = client.cluster_view();
    if (view)
      return std::move(*view);
    // As --json names errors: the HTTP API's error name and message.
    auto f = failure_of(view.error(), false);
    cluster_answers out;
    out.asked_by = s.node;
    for (auto& m : s.members)
      if (asked_in_cluster_view(m)) {
        member_answer a;
        a.name = m.name;
        a.endpoint = m.endpoint;
        a.error = f.error;
        a.message = f.message;
        out.members.push_back(std::move(a));
      }
    return out;
  }

  /// status --all: each member's own figures, which plain status shows for the answering node
  /// only, and their sums. False when a member did not answer.
  bool print_each_member(const cluster_status& s) {
    out << "each member's own figures (asked of each):" << std::endl;
    out << std::left << std::setw(10) << "NAME" << std::setw(8) << "HINTS" << std::setw(14)
        << "HANDOFF SENT" << std::setw(11) << "AE ROUNDS" << std::setw(12) << "AE REPAIRS"
        << std::setw(11) << "IN FLIGHT"
        << "INTEGRITY CHECK" << std::endl;
    auto answers = cluster_view(s).members;
    for (auto& a : answers) {
      out << std::left << std::setw(10) << a.name;
      if (!a.answered) {
        out << "no answer: " << a.error << ": " << a.message << std::endl;
        continue;
      }
      auto* own = &a.status;
      out << std::setw(8) << own->pending_hints << std::setw(14) << own->handoff_keys_sent
          << std::setw(11) << own->ae_rounds << std::setw(12) << own->ae_repairs_total
          << std::setw(11) << own->memory_in_flight
          << (own->starting.empty() ? own->integrity_check : "starting: " + own->starting)
          << std::endl;
    }
    auto t = sum_members(answers);
    out << "cluster: " << t.pending_hints << " hints held, " << t.handoff_keys_sent
        << " keys sent in handoffs, " << t.ae_repairs_total << " anti-entropy repairs, "
        << t.memory_in_flight << " bytes in flight"
        << (t.complete() ? "" : " (members that did not answer not counted)") << std::endl;
    return t.complete();
  }

  /// How fast handoff and anti-entropy may go, and why.
  static std::string describe_pace(const cluster_status& s) {
    std::ostringstream o;
    auto ms = [](uint64_t us) {
      std::ostringstream m;
      m << std::fixed << std::setprecision(1) << static_cast<double>(us) / 1000;
      return m.str();
    };
    if (s.background_rate >= s.background_max_rate)
      o << "full speed";
    else
      o << "slowed to " << std::fixed << std::setprecision(0) << s.background_rate
        << " handoff batches or anti-entropy units a second";
    o << " (requests' p99 ";
    if (s.background_p99_us == 0)
      o << "not measured: too few requests";
    else
      o << ms(s.background_p99_us) << " ms";
    o << ", target " << ms(s.background_target_us) << " ms";
    if (s.background_target_us > s.background_configured_target_us)
      o << ": the configured " << ms(s.background_configured_target_us)
        << " ms is below what the requests see with background work at its floor, "
        << ms(s.background_floor_p99_us) << " ms";
    o << ")";
    return o.str();
  }

  /// One line: whether the node's wall clock is off its peers', and each measured peer's offset.
  void print_clocks(const cluster_status& s) {
    std::string peers;
    size_t measured = 0;
    for (auto& m : s.members)
      if (m.clock_offset_ms) {
        ++measured;
        peers += (peers.empty() ? "" : ", ") + m.name + " " + (*m.clock_offset_ms < 0 ? "" : "+") +
                 std::to_string(*m.clock_offset_ms) + " ms";
      }
    auto limit = "max_clock_skew_ms = " + std::to_string(s.max_clock_skew_ms);
    if (measured == 0) {
      out << "clock: no peer measured yet (" << limit << ")" << std::endl;
      return;
    }
    if (s.clock_skewed)
      out << "clock: skewed, " << std::abs(s.clock_skew_ms) << " ms "
          << (s.clock_skew_ms < 0 ? "behind" : "ahead of") << " its peers (" << limit << ")";
    else if (measured == 1)
      out << "clock: one peer measured, no telling which clock is off (" << limit << ")";
    else
      out << "clock: within " << limit << " of most peers";
    out << "; peer offsets (peer minus this node): " << peers << std::endl;
  }

  outcome do_fault(const std::vector<std::string>& words) {
    auto usage = "usage: fault drop PEER[,PEER...] | fault delay PEER[,PEER...] MS | fault heal";
    if (words.size() < 2)
      return fail(usage);
    std::vector<std::string> peers;
    uint32_t delay_ms = 0;
    if (words[1] == "drop" || words[1] == "delay") {
      if (words.size() != (words[1] == "drop" ? 3u : 4u))
        return fail(usage);
      std::stringstream list{words[2]};
      for (std::string p; std::getline(list, p, ',');)
        if (!p.empty())
          peers.push_back(p);
      if (words[1] == "delay") {
        char* end = nullptr;
        auto ms = std::strtoul(words[3].c_str(), &end, 10);
        if (*end != '\0' || ms == 0 || ms > 600000)
          return fail("the delay is a number of milliseconds from 1 to 600000");
        delay_ms = static_cast<uint32_t>(ms);
      }
    } else if (words[1] != "heal" || words.size() != 2) {
      return fail(usage);
    }
    return ask(client.fault(words[1], peers, delay_ms), [&](std::string& rules) {
      out << (json ? text_of(render_fault(rules)) : rules) << std::endl;
    });
  }

  outcome do_check(const std::vector<std::string>& words) {
    if (words.size() != 1)
      return fail("usage: check");
    return ask(client.admin("check", "", true),
               [&](std::string& text) { out << text << std::endl; });
  }

  outcome do_backup(const std::vector<std::string>& words) {
    if (words.size() != 2)
      return fail("usage: backup PATH (an absolute path on the node's machine)");
    auto& path = words[1];
    auto started = client.admin("backup", path, true);
    if (!started)
      return ask(std::move(started), [](std::string&) {});
    if (!plain)
      err << *started << std::endl;
    std::string shown;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      auto now = client.admin("backup-status", "", true);
      if (!now)
        return ask(std::move(now), [](std::string&) {});
      auto& text = *now;
      if (text.rfind("backup to " + path + " done", 0) == 0) {
        out << text << std::endl;
        return outcome::ok;
      }
      if (text.rfind("backup failed", 0) == 0)
        return fail(text);
      if (text.rfind("backup to " + path + " running", 0) != 0)
        return fail("the node no longer reports the backup to " + path + " (it says: " + text +
                    ")");
      if (!plain && text != shown)
        err << text << std::endl;
      shown = text;
    }
  }

  outcome do_admin(const std::vector<std::string>& words) {
    auto usage =
        "usage: join HOST:PORT | leave NAME | remove NAME [--wait] | plan (join|leave|remove) "
        "ARG";
    bool apply = words[0] != "plan";
    auto rest = apply ? words : std::vector<std::string>(words.begin() + 1, words.end());
    bool wait = apply && rest.size() == 3 && rest[2] == "--wait";
    if (wait)
      rest.pop_back();
    if (rest.size() != 2 || (rest[0] != "join" && rest[0] != "leave" && rest[0] != "remove"))
      return fail(usage);
    // One change at a time: with --wait a change waits for the one running, then for itself. A
    // removal is allowed during a handoff (which may wait for the very node being removed).
    if (wait && rest[0] != "remove")
      if (auto waited = wait_for_handoff(); waited != outcome::ok)
        return waited;
    std::string said;
    auto made = ask(client.admin(rest[0], rest[1], apply), [&](std::string& text) {
      if (!json)
        out << text;
      said = std::move(text);
    });
    if (made == outcome::ok && wait)
      made = wait_for_handoff();
    if (made == outcome::ok && json)
      out << text_of(render_admin(admin_call{rest[0], rest[1], apply}, said)) << std::endl;
    return made;
  }

  /// Polls status until no handoff runs, printing its progress when it moves (at most every 2 s).
  outcome wait_for_handoff() {
    std::string said;
    auto last_print = std::chrono::steady_clock::time_point{};
    for (;;) {
      auto s = status();
      if (!s)
        return fail(describe(s.error()));
      if (!s->handoff_running) {
        if (!said.empty() && !json)
          out << "handoff done: ring epoch " << s->ring_epoch << " in force" << std::endl;
        return outcome::ok;
      }
      auto now = std::chrono::steady_clock::now();
      auto progress = "handoff: " + std::to_string(s->transfers_done) + " of " +
                      std::to_string(s->transfers_total) + " partition transfers done";
      if (!json && progress != said && now - last_print >= std::chrono::seconds{2}) {
        out << progress << std::endl;
        said = progress;
        last_print = now;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{250});
    }
  }

  outcome do_ring() {
    return ask(status(), [&](cluster_status& s) {
      if (json) {
        std::string owners;
        for (auto& o : s.owners)
          owners += (owners.empty() ? "" : ",") + json_quote(o);
        out << "{\"owners\":[" << owners << "]}" << std::endl;
        return;
      }
      out << s.owners.size() << " partitions; owner of each, 16 per line:" << std::endl;
      for (size_t i = 0; i < s.owners.size(); ++i) {
        if (i % 16 == 0)
          out << std::right << std::setw(6) << i << ":";
        out << " " << s.owners[i];
        if (i % 16 == 15 || i + 1 == s.owners.size())
          out << std::endl;
      }
    });
  }
};

shell::shell(std::vector<std::string> endpoints, std::chrono::milliseconds timeout, bool plain,
             std::ostream& out, std::ostream& err, const tls_files& tls)
    : impl_(std::make_unique<impl>(std::move(endpoints), timeout, plain, out, err, tls)) {}

shell::~shell() = default;

void shell::set_json(bool on) {
  impl_->json = on;
}

std::string shell::greeting() {
  auto s = impl_->status();
  if (!s)
    return "no node answers yet (" + describe(s.error()) + "); commands will try again";
  std::string endpoint, cluster = "?";
  size_t members = 0, up = 0;
  for (auto& m : s->members) {
    if (m.name == s->node)
      endpoint = " (" + m.endpoint + ")";
    if ((m.state == "removed" || m.state == "left") && m.partitions == 0)
      continue;
    ++members;
    up += m.up;
  }
  if (auto at = s->settings.find("name="); at != std::string::npos)
    cluster = s->settings.substr(at + 5, s->settings.find(' ', at) - at - 5);
  return "connected to " + s->node + endpoint + " of cluster " + cluster + ", " +
         std::to_string(up) + " of " + std::to_string(members) + " members up";
}

std::vector<std::string> shell::member_names() const {
  return impl_->members;
}

shell::outcome shell::run(const std::vector<std::string>& words) {
  if (words.empty())
    return outcome::ok;
  auto& cmd = words[0];
  if (cmd == "get")
    return impl_->do_get(words);
  if (cmd == "put")
    return impl_->do_put(words);
  if (cmd == "delete" || cmd == "del")
    return impl_->do_delete(words);
  if (cmd == "status")
    return impl_->do_status(words);
  if (cmd == "ring")
    return impl_->do_ring();
  if (cmd == "fault")
    return impl_->do_fault(words);
  if (cmd == "join" || cmd == "leave" || cmd == "remove" || cmd == "plan")
    return impl_->do_admin(words);
  if (cmd == "check")
    return impl_->do_check(words);
  if (cmd == "backup")
    return impl_->do_backup(words);
  if (cmd == "help") {
    impl_->out << shell_help();
    return outcome::ok;
  }
  if (cmd == "quit" || cmd == "exit")
    return outcome::quit;
  return impl_->fail("unknown command '" + cmd + "' (try help)");
}

} // namespace actorkv
