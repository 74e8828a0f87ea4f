// Atomic file writes: a full disk keeps the previous files and leaves no temporary; several files are
// replaced all or none; temporaries of a killed writer are cleaned by the next write.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "test_helpers.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"

namespace core = tinynas::core;
namespace fs = std::filesystem;
using tinynas_test::TempDir;

namespace {

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(Files, AFullDiskKeepsThePreviousFilesAllOfThem) {
  TempDir dir;
  const std::string a = (dir.path / "a.txt").string(), b = (dir.path / "b.txt").string();
  core::write_files_atomic({{a, "old a"}, {b, "old b"}});
  std::string error;
  tinynas_test::with_file_size_limit(1000, [&] {
    try {
      // a fits the limit, b does not: neither may be replaced.
      core::write_files_atomic({{a, "new a"}, {b, std::string(5000, 'b')}});
    } catch (const core::RuntimeFailure& e) {
      error = e.what();
    }
  });
  EXPECT_NE(error.find("b.txt"), std::string::npos) << error;
  EXPECT_EQ(core::read_text_file(a), "old a");
  EXPECT_EQ(core::read_text_file(b), "old b");
  EXPECT_EQ(names_in(dir.path), (std::vector<std::string>{"a.txt", "b.txt"}));
}

TEST(Files, TemporariesOfAKilledWriterAreRemovedByTheNextWrite) {
  TempDir dir;
  const std::string path = (dir.path / "checkpoint.pt").string();
  // PID 2^22 + 1 is above Linux's pid_max limit: no process has it.
  dir.write("checkpoint.pt.tmp.4194305", "half a checkpoint");
  dir.write("checkpoint.pt.tmp.notapid", "someone else's file");
  dir.write("checkpoint.pt.tmp." + std::to_string(::getppid()), "a live writer's temporary");
  core::write_file_atomic(path, "whole");
  EXPECT_EQ(core::read_text_file(path), "whole");
  EXPECT_EQ(names_in(dir.path), (std::vector<std::string>{"checkpoint.pt", "checkpoint.pt.tmp." + std::to_string(::getppid()),
                                                          "checkpoint.pt.tmp.notapid"}));
}

TEST(Files, AnOutputDirectoryThatCannotBeMadeIsAnInputErrorNamingTheFlag) {
  TempDir dir;
  const std::string file = dir.write("taken", "a file");
  const std::string msg = tinynas_test::input_error_message([&] { core::create_output_dir(file + "/sub", "--out"); });
  EXPECT_NE(msg.find("--out"), std::string::npos) << msg;
  EXPECT_NE(msg.find("taken"), std::string::npos) << msg;
  EXPECT_NE(tinynas_test::input_error_message([&] { core::create_output_dir(file); }), "<no exception>");
  core::create_output_dir((dir.path / "new" / "deeper").string());
  EXPECT_TRUE(fs::is_directory(dir.path / "new" / "deeper"));
}
