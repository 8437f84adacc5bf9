// The web console's static files (actors/http/console/), embedded into the program at build
// time by cmake/embed_files.cmake: served by the HTTPS API at /, /console and /console/{name}.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace actorkv {

/// Each file's name and content.
std::vector<std::pair<std::string, std::string>> console_files();

} // namespace actorkv
