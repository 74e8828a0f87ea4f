#include "tinynas/core/data_dir.h"

#include <cstdlib>
#include <filesystem>

#include "tinynas/core/errors.h"

namespace tinynas::core {

namespace fs = std::filesystem;

namespace {

fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

}  // namespace

std::string data_dir() {
  if (const char* env = std::getenv(kDataDirVariable); env && *env) {
    if (!fs::is_directory(env)) throw RuntimeFailure(std::string(kDataDirVariable) + "=" + env + " is not a directory");
    return env;
  }
  const fs::path exe = executable_dir();
  // Installed (bin/ beside share/), the build tree (share/ beside the binaries), test binaries one level down.
  const fs::path candidates[] = {exe / ".." / "share" / "tinynas", exe / "share" / "tinynas",
                                 exe / ".." / ".." / "share" / "tinynas"};
  std::string looked;
  for (const fs::path& c : candidates) {
    std::error_code ec;
    if (fs::is_directory(c / "configs", ec)) return fs::weakly_canonical(c, ec).string();
    looked += (looked.empty() ? "" : ", ") + c.lexically_normal().string();
  }
  throw RuntimeFailure("the tinynas data directory (configs, firmware, kernels) is not in " + looked + ": set " +
                       kDataDirVariable);
}

std::string data_path(const std::string& relative) { return (fs::path(data_dir()) / relative).string(); }

}  // namespace tinynas::core
