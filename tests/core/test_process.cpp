// core::run_process and core::program_available against the shell's own behaviour.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_helpers.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/process.h"

using namespace tinynas;

TEST(RunProcess, CapturesStdoutStderrAndTheExitCode) {
  const core::ProcessResult r = core::run_process({"sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST(RunProcess, MergesStderrWhenAsked) {
  core::ProcessOptions o;
  o.merge_stderr = true;
  const core::ProcessResult r = core::run_process({"sh", "-c", "echo a; echo b >&2; echo c"}, o);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "a\nb\nc\n");
  EXPECT_EQ(r.err, "");
}

TEST(RunProcess, RunsInTheGivenDirectoryWithStdinClosed) {
  tinynas_test::TempDir dir;
  core::ProcessOptions o;
  o.cwd = dir.path.string();
  const core::ProcessResult r = core::run_process({"sh", "-c", "pwd; cat; echo end"}, o);
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(std::filesystem::canonical(r.out.substr(0, r.out.find('\n'))), std::filesystem::canonical(dir.path));
  EXPECT_NE(r.out.find("end"), std::string::npos);
}

TEST(RunProcess, KillsAProgramPastItsTimeout) {
  core::ProcessOptions o;
  o.timeout_s = 0.3;
  const core::ProcessResult r = core::run_process({"sleep", "30"}, o);
  EXPECT_TRUE(r.started);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.ok());
}

TEST(RunProcess, AMissingProgramDoesNotStart) {
  const core::ProcessResult r = core::run_process({"tinynas-no-such-program"});
  EXPECT_FALSE(r.started);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.err.find("tinynas-no-such-program"), std::string::npos);
  EXPECT_THROW(core::run_process({}), core::RuntimeFailure);
}

TEST(ProgramAvailable, FindsExecutablesOnPathOnly) {
  EXPECT_TRUE(core::program_available("sh"));
  EXPECT_FALSE(core::program_available("tinynas-no-such-program"));
}
