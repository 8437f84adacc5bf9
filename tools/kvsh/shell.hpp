// kvsh's command language, independent of the terminal: tokenizing and executing commands
// against a client actor.
#pragma once

#include "actors/client/tls.hpp"

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace actorkv {

/// Splits `text` into commands (separated by ';' or newlines outside quotes) of words
/// (separated by blanks; "double" or 'single' quotes group, backslash escapes inside double
/// quotes and outside quotes). Returns false and sets `error` on an unterminated quote.
bool split_commands(const std::string& text, std::vector<std::vector<std::string>>& commands,
                    std::string& error);

class shell {
public:
  /// What a command came to. Scripts see it as kvsh's exit code (exit_code_of).
  enum class outcome { ok, error, quit, not_found, members_down };

  /// `plain`: script mode, results only. `endpoints`: "host:port" list for the client actor.
  /// `tls`: the client's identity (none: plaintext).
  shell(std::vector<std::string> endpoints, std::chrono::milliseconds timeout, bool plain,
        std::ostream& out, std::ostream& err, const tls_files& tls = {});
  ~shell();

  /// Runs one tokenized command; errors are printed to the error stream.
  outcome run(const std::vector<std::string>& words);

  /// --json: every command prints one line of JSON on stdout, the body the HTTPS API would answer
  /// (errors too, as {"error": code, "message": text}); exit codes stay as they are.
  void set_json(bool on);

  /// For the interactive banner: asks for the status and says which node of which cluster
  /// answered ("connected to n1 (127.0.0.1:7101) of cluster local, 3 of 3 members up"), or that
  /// none did and why, without failing: later commands try again.
  std::string greeting();

  /// The members' names as the last status this shell got named them (those that left or were
  /// removed excepted), for Tab completion; empty until a status answered.
  std::vector<std::string> member_names() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The text of `help`.
const char* shell_help();

} // namespace actorkv
