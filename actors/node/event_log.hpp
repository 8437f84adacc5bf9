// One line per significant event, on stderr: "2026-11-23T21:50:00.123Z n1 peer n2 up".
// Lines are written with a single call so concurrent actors never interleave within a line.
#pragma once

#include <string>

namespace actorkv {

void log_event(const std::string& node, const std::string& text);

} // namespace actorkv
