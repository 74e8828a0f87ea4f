#include "tinynas/nas/plot.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tinynas/core/files.h"
#include "tinynas/core/process.h"

namespace tinynas::nas {

namespace fs = std::filesystem;

bool render_svg(const std::string& dir, const std::string& script, const std::string& svg_name) {
  const fs::path d(dir);
  std::error_code ec;
  if (!core::program_available("gnuplot")) {
    spdlog::warn("gnuplot is not installed: no {} ({} and its data are written; scripts/setup.sh installs it)",
                 svg_name, script);
    return false;
  }
  core::ProcessOptions options;
  options.cwd = dir;
  options.merge_stderr = true;
  const core::ProcessResult run = core::run_process({"gnuplot", script}, options);
  const fs::path tmp = d / (svg_name + ".tmp");
  if (run.ok() && fs::exists(tmp)) {
    fs::rename(tmp, d / svg_name);
    return true;
  }
  const fs::path log = d / (svg_name + ".log");
  core::write_file_atomic(log.string(), run.out);
  spdlog::warn("gnuplot failed on {} (exit {}), see {}", script, run.exit_code, log.string());
  fs::remove(tmp, ec);
  return false;
}

}  // namespace tinynas::nas
