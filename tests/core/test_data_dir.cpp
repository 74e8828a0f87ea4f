// The data directory: found beside the binaries of the build tree, overridable by TINYNAS_DATA_DIR.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "test_helpers.h"
#include "tinynas/core/data_dir.h"
#include "tinynas/core/errors.h"

using namespace tinynas;
namespace fs = std::filesystem;

namespace {

// Sets an environment variable for one test and restores it.
struct ScopedEnv {
  std::string name, old;
  bool had;
  ScopedEnv(const char* n, const std::string& value) : name(n), had(std::getenv(n) != nullptr) {
    if (had) old = std::getenv(n);
    setenv(n, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
};

}  // namespace

TEST(DataDir, TheBuildTreeLinksTheProjectsData) {
  ScopedEnv unset(core::kDataDirVariable, "");
  const fs::path dir = core::data_dir();
  EXPECT_EQ(fs::canonical(dir), fs::canonical(fs::path(TINYNAS_BINARY_DIR) / "share" / "tinynas"));
  for (const char* item : {"configs/mcu/stm32f746.yaml", "firmware/Makefile", "kernels/tn_kernels.h",
                           "zoo/mcunet/mcunet-320kb-1mb_imagenet.json",
                           "supernet/pretrained/fashion-mnist/supernet.pt"})
    EXPECT_TRUE(fs::is_regular_file(core::data_path(item))) << item;
  // The same files as the source tree's, not copies that could drift.
  EXPECT_EQ(fs::canonical(core::data_path("configs")), fs::canonical(fs::path(TINYNAS_SOURCE_DIR) / "configs"));
}

TEST(DataDir, TheEnvironmentVariableOverridesTheLookup) {
  tinynas_test::TempDir dir;
  ScopedEnv set(core::kDataDirVariable, dir.path.string());
  EXPECT_EQ(core::data_dir(), dir.path.string());
  EXPECT_EQ(fs::path(core::data_path("configs")), dir.path / "configs");
}

TEST(DataDir, AVariableNamingNoDirectoryIsAnError) {
  tinynas_test::TempDir dir;
  ScopedEnv set(core::kDataDirVariable, (dir.path / "missing").string());
  try {
    core::data_dir();
    FAIL() << "no error";
  } catch (const core::RuntimeFailure& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
}
