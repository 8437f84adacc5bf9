// kvsh: the actorkv shell.
//
//   kvsh [--connect HOST:PORT[,HOST:PORT...]] [--ca F --cert F --key F] [-c 'CMD; CMD']
//        [--timeout MS]
//
// Interactive with a prompt, line editing and history when stdin is a terminal; otherwise (or
// with -c) it runs the commands in order, prints one plain result per command and stops with
// exit code 1 at the first error, whose message goes to stderr.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include <editline/readline.h>

#include "actors/client/client.hpp"
#include "actors/client/tls.hpp"
#include "tools/kvsh/shell.hpp"

namespace {

constexpr const char* usage =
    R"(usage: kvsh [--connect HOST:PORT[,HOST:PORT...]] [--ca FILE --cert FILE --key FILE]
            [-c 'CMD; CMD'] [--timeout MS]

The actorkv shell. Connects to any node of a cluster and runs commands: interactively when stdin
is a terminal, else from -c or stdin, one plain result per command, stopping with exit code 1 at
the first error (message on stderr). What one node cannot serve (unavailable, or it went away or
silent during a get) is asked of the others it knows: those listed and those the cluster names.

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
  --timeout MS     bound on each request in milliseconds (default 10000)
  --help           this text and the command list

)";

int fail(const std::string& msg) {
  std::cerr << "kvsh: " << msg << "\n";
  return 2;
}

/// Runs every command of `text`; returns the exit code (0, or 1 at the first error).
int run_script(actorkv::shell& sh, const std::string& text, bool& quit) {
  std::vector<std::vector<std::string>> commands;
  std::string error;
  if (!actorkv::split_commands(text, commands, error)) {
    std::cerr << "error: " << error << std::endl;
    return 1;
  }
  for (auto& words : commands) {
    auto res = sh.run(words);
    if (res == actorkv::shell::outcome::error)
      return 1;
    if (res == actorkv::shell::outcome::quit) {
      quit = true;
      return 0;
    }
  }
  return 0;
}

std::string history_path() {
  const char* home = std::getenv("HOME");
  return home ? std::string{home} + "/.kvsh_history" : std::string{};
}

} // namespace

int main(int argc, char** argv) {
  std::string connect = "127.0.0.1:7101";
  std::string commands;
  bool have_commands = false;
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
  actorkv::shell sh{endpoints, std::chrono::milliseconds{timeout_ms}, !interactive, std::cout,
                    std::cerr, tls};
  bool quit = false;
  if (have_commands)
    return run_script(sh, commands, quit);
  if (!interactive) {
    // Line by line, so that a long script streams instead of being read whole first.
    std::string line;
    while (!quit && std::getline(std::cin, line))
      if (auto rc = run_script(sh, line, quit); rc != 0)
        return rc;
    return 0;
  }
  auto hist = history_path();
  if (!hist.empty())
    read_history(hist.c_str());
  std::cout << "kvsh: connected to " << connect << " (help for commands, Ctrl-D to leave)"
            << std::endl;
  while (!quit) {
    char* raw = readline("kvsh> ");
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
