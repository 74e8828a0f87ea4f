#pragma once
// spdlog set-up shared by every subcommand: coloured stderr, and optionally a log file.
#include <string>

namespace tinynas {

// `level`: trace, debug, info, warn, error, critical, off. Throws InputError for anything else or
// an unwritable log file.
void setup_logging(const std::string& level, const std::string& log_file);

}  // namespace tinynas
