#include "tinynas/nas/plot.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tinynas/nas/process.h"

namespace tinynas {

namespace fs = std::filesystem;

bool render_svg(const std::string& dir, const std::string& script, const std::string& svg_name) {
  const fs::path d(dir);
  std::error_code ec;
  if (!program_available("gnuplot")) {
    spdlog::warn("gnuplot is not installed: no {} ({} and its data are written; scripts/setup.sh installs it)",
                 svg_name, script);
    return false;
  }
  const fs::path log = d / (svg_name + ".log");
  const int rc = run_program({"gnuplot", script}, dir, log.string());
  const fs::path tmp = d / (svg_name + ".tmp");
  if (rc == 0 && fs::exists(tmp)) {
    fs::rename(tmp, d / svg_name);
    fs::remove(log, ec);
    return true;
  }
  spdlog::warn("gnuplot failed on {} (exit {}), see {}", script, rc, log.string());
  fs::remove(tmp, ec);
  return false;
}

}  // namespace tinynas
