#include "tinynas/core/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "tinynas/core/errors.h"

namespace tinynas::core {

void setup_logging(const std::string& level, const std::string& log_file, int rank, int world_size) {
  const auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw InputError("--log-level: '" + level + "' is not one of trace, debug, info, warn, error, critical, off");
  // Under MPI, rank 0 logs as a single process does; the other ranks print warnings and errors only,
  // tagged with their rank, and write no log file.
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_pattern(world_size > 1 ? "%^[%l]%$ [rank " + std::to_string(rank) + "] %v" : "%^[%l]%$ %v");
  if (rank != 0) console->set_level(std::max(lvl, spdlog::level::warn));
  sinks.push_back(console);
  if (!log_file.empty() && rank == 0) {
    try {
      auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file);
      file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
      sinks.push_back(file);
    } catch (const spdlog::spdlog_ex& e) {
      throw InputError("--log-file: cannot open '" + log_file + "': " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("tinynas", sinks.begin(), sinks.end());
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace tinynas::core
