// kvsh: the actorkv shell.
//
//   kvsh [--connect HOST:PORT[,HOST:PORT...]] [--ca F --cert F --key F] [-c 'CMD; CMD']
//        [--timeout MS]
//
// Interactive with a prompt, line editing, completion and history when stdin is a terminal;
// otherwise (or with -c) it runs the commands in order, prints one plain result per command and
// stops with exit code 1 at the first error, whose message goes to stderr (exit codes: usage).
#include <unistd.h>

#include <algorithm>
#include <csetjmp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <editline/readline.h>

#include "actors/client/client.hpp"
#include "actors/client/tls.hpp"
#include "tools/kvsh/completion.hpp"
#include "tools/kvsh/shell.hpp"
#include "tools/version.hpp"

namespace {

constexpr const char* usage =
    R"(usage: kvsh [--connect HOST:PORT[,HOST:PORT...]] [--ca FILE --cert FILE --key FILE]
            [-c 'CMD; CMD'] [--json] [--timeout MS]

The actorkv shell. Connects to any node of a cluster and runs commands: interactively when stdin
is a terminal (Tab completes commands, options and the names of members for commands that take
one, Ctrl-C abandons the line being typed, Ctrl-D leaves), else from -c or stdin, one plain result per command, stopping at the first error
(message on stderr). What one node cannot serve (unavailable, or it went away or silent during a
get) is asked of the others it knows: those listed and those the cluster names.

Exit codes, of the last command run: 0 done, 1 an error (the first one stops the script),
2 a bad command line, 3 not found (get or delete of an absent key), 4 status: a member is down.

options:
  --connect LIST   nodes to talk to, comma-separated, tried in order (default 127.0.0.1:7101)
  --ca FILE        the cluster's CA certificate (default: $ACTORKV_CA)
  --cert FILE      this client's certificate, signed by that CA; its OU is the role: read,
                   write or admin (default: $ACTORKV_CERT)
  --key FILE       the certificate's key (default: $ACTORKV_KEY). Without the three, kvsh
                   talks plaintext, which only a cluster with [tls] enabled = false accepts.
                   tools/certs makes them; tools/run passes run/certs/admin.* Over TLS, a
                   reply announcing more than $ACTORKV_MAX_FRAME_BYTES (default 256 MiB)
                   drops the connection before it is read
  -c COMMANDS      run these commands (separated by ';') and exit
  --json           print each command's result as one line of JSON (what the HTTPS API answers:
                   get {"context","siblings":[base64]}, put/delete {"replicas",...}, status,
                   status --all as /v1/status?scope=cluster, errors {"error","message"});
                   the exit codes stay the same
  --timeout MS     bound on each request in milliseconds (default 10000)
  --help           this text and the command list
  --version        the release of actorkv this program belongs to

)";

int fail(const std::string& msg) {
  std::cerr << "kvsh: " << msg << "\n";
  return 2;
}

using outcome = actorkv::shell::outcome;

/// Exit codes (see usage): what the last command came to, or 1 at the first error.
constexpr int exit_error = 1;
int exit_code_of(outcome res) {
  switch (res) {
  case outcome::error:
    return exit_error;
  case outcome::not_found:
    return 3;
  case outcome::members_down:
    return 4;
  default:
    return 0;
  }
}

/// Runs every command of `text`; returns the exit code of the last, stopping at the first error.
int run_script(actorkv::shell& sh, const std::string& text, bool& quit) {
  std::vector<std::vector<std::string>> commands;
  std::string error;
  if (!actorkv::split_commands(text, commands, error)) {
    std::cerr << "error: " << error << std::endl;
    return exit_error;
  }
  int code = 0;
  for (auto& words : commands) {
    auto res = sh.run(words);
    if (res == outcome::quit) {
      quit = true;
      return code;
    }
    code = exit_code_of(res);
    if (code == exit_error)
      return code;
  }
  return code;
}

/// Ctrl-C at the prompt abandons the line being typed; during a request it is ignored (the
/// request ends with its answer or its timeout). Either way the shell goes on.
sigjmp_buf at_prompt;
volatile sig_atomic_t reading_line = 0;

void on_interrupt(int) {
  if (reading_line) {
    reading_line = 0;
    siglongjmp(at_prompt, 1);
  }
}

/// Tab completion (tools/kvsh/completion.hpp): commands, options, and the names of the members
/// the shell knows where a command takes a node.
actorkv::shell* completing_for = nullptr;
std::vector<std::string> candidates;

char* next_completion(const char*, int state) {
  static size_t index;
  if (state == 0)
    index = 0;
  return index < candidates.size() ? strdup(candidates[index++].c_str()) : nullptr;
}

char** complete(const char* text, int, int end) {
  // Never the editor's fallback (file names): a word with nothing to offer completes to nothing.
  rl_attempted_completion_over = 1;
  std::string typed{rl_line_buffer, static_cast<size_t>(std::max(end, 0))};
  candidates = actorkv::completions(typed, completing_for ? completing_for->member_names()
                                                          : std::vector<std::string>{});
  if (candidates.empty())
    return nullptr;
  return rl_completion_matches(text, next_completion);
}

std::string history_path() {
  const char* home = std::getenv("HOME");
  return home ? std::string{home} + "/.kvsh_history" : std::string{};
}

} // namespace

int main(int argc, char** argv) {
  if (actorkv::print_version_if_asked(argc, argv, "kvsh"))
    return 0;
  std::string connect = "127.0.0.1:7101";
  std::string commands;
  bool have_commands = false;
  bool json = false;
  long timeout_ms = 10000;
  auto tls = actorkv::tls_files_from_environment();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage << actorkv::shell_help();
      return 0;
    } else if (arg == "--connect" && i + 1 < argc) {
      connect = argv[++i];
    } else if (arg == "--ca" && i + 1 < argc) {
      tls.ca = argv[++i];
    } else if (arg == "--cert" && i + 1 < argc) {
      tls.cert = argv[++i];
    } else if (arg == "--key" && i + 1 < argc) {
      tls.key = argv[++i];
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "-c" && i + 1 < argc) {
      commands = argv[++i];
      have_commands = true;
    } else if (arg == "--timeout" && i + 1 < argc) {
      char* end = nullptr;
      timeout_ms = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || timeout_ms < 1)
        return fail("--timeout needs a positive number of milliseconds");
    } else {
      return fail("unknown or incomplete argument '" + arg + "' (see --help)");
    }
  }
  auto endpoints = actorkv::parse_endpoints(connect);
  if (endpoints.empty())
    return fail("--connect needs HOST:PORT[,HOST:PORT...], got '" + connect + "'");

  if (tls.any())
    if (auto problem = actorkv::check_tls_files(tls); !problem.empty())
      return fail(problem);

  bool interactive = !have_commands && isatty(STDIN_FILENO);
  actorkv::shell sh{
      endpoints, std::chrono::milliseconds{timeout_ms}, !interactive, std::cout, std::cerr, tls};
  sh.set_json(json);
  bool quit = false;
  if (have_commands)
    return run_script(sh, commands, quit);
  if (!interactive) {
    // Line by line, so that a long script streams instead of being read whole first.
    std::string line;
    int code = 0;
    while (!quit && std::getline(std::cin, line))
      if ((code = run_script(sh, line, quit)) == exit_error)
        return code;
    return code;
  }
  // Ctrl-C is ours (on_interrupt): the line editor would pass it on to the whole process group
  // (tools/run included). Set before anything initializes the editor.
  rl_catch_signals = 0;
  auto hist = history_path();
  if (!hist.empty())
    read_history(hist.c_str());
  // Only once a node has answered does the banner say connected.
  std::cout << "kvsh: " << sh.greeting() << " (help for commands, Ctrl-D to leave)" << std::endl;
  completing_for = &sh;
  rl_attempted_completion_function = complete;
  struct sigaction interrupt {};
  interrupt.sa_handler = on_interrupt;
  sigemptyset(&interrupt.sa_mask);
  sigaction(SIGINT, &interrupt, nullptr);
  while (!quit) {
    if (sigsetjmp(at_prompt, 1) != 0)
      std::cout << "^C" << std::endl; // the line is abandoned; the next readline starts afresh
    reading_line = 1;
    char* raw = readline("kvsh> ");
    reading_line = 0;
    if (!raw)
      break;
    std::string line{raw};
    free(raw);
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue;
    add_history(line.c_str());
    run_script(sh, line, quit);
  }
  if (!hist.empty())
    write_history(hist.c_str());
  std::cout << std::endl;
  return 0;
}
