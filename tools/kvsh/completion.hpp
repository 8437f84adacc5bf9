// kvsh's Tab completion as pure logic (no terminal, no client): given the line up to the cursor
// and the members the shell knows, the words that may complete the word being typed. main.cpp
// hands them to the line editor; tests/tools/kvsh checks them without a terminal.
//
// The first word completes to a command; then each command's own words: its options, the
// actions of plan and fault, and member names where a command takes a node (leave, remove,
// plan leave|remove, fault drop|delay, whose peers are a comma-separated list).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace actorkv {

/// Every word that completes the last word of `typed` (the line up to the cursor; an empty word
/// when it ends with a blank), sorted, each the whole replacement of that word. `members`: the
/// node names the shell knows from the last status it got (none: no names offered).
std::vector<std::string> completions(std::string_view typed,
                                     const std::vector<std::string>& members);

} // namespace actorkv
