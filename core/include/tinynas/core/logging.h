#pragma once
// spdlog set-up shared by every subcommand: coloured stderr, and optionally a log file.
#include <string>

namespace tinynas::core {

// `level`: trace, debug, info, warn, error, critical, off. Throws InputError for anything else or
// an unwritable log file. Under MPI, rank 0 logs as a single process does; the other ranks print warnings
// and errors only, tagged with their rank, and write no log file.
void setup_logging(const std::string& level, const std::string& log_file, int rank = 0, int world_size = 1);

}  // namespace tinynas::core
