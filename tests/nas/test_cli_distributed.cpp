// Data-parallel training under a real MPI launcher (Open MPI's mpirun, 2 ranks on this machine): the
// result equals a one-process run with the same global batch in as many parts, and a signal to mpirun
// stops every rank at one step with a checkpoint from which --resume reaches the uninterrupted result.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "run_tinynas.h"
#include "test_helpers.h"
#include "tinynas/supernet/checkpoint.h"

namespace fs = std::filesystem;
using tinynas_test::TempDir;

namespace {

bool have_fashion_mnist() { return fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }
bool have_mpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

std::vector<std::string> mpirun_argv(int ranks) {
  // Root in containers and CI needs --allow-run-as-root; --oversubscribe lets 2 ranks start on a
  // machine whose slot count Open MPI reads as 1.
  return {"mpirun", "--allow-run-as-root", "--oversubscribe", "-np", std::to_string(ranks), "-x", "OMP_NUM_THREADS=1",
          std::string(TINYNAS_BINARY_DIR) + "/tinynas"};
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& a : v) s += (s.empty() ? "" : " ") + a;
  return s;
}

std::string tiny_experiment(const TempDir& dir, int steps) {
  return dir.write("tiny.yaml", "name: tiny\nspace: " + std::string(TINYNAS_SOURCE_DIR) +
                                    "/configs/spaces/fashion-mnist.yaml\nmcu: stm32f746\n"
                                    "data: {kind: fashion-mnist, holdout: 300, seed: 1}\n"
                                    "supernet: {width: 0.2, resolutions: [24]}\n"
                                    "train: {method: sandwich, epochs: 2, subnets_per_step: 3, batch_size: 32, "
                                    "threads: 1, recalibration_images: 64, max_steps_per_epoch: " +
                                    std::to_string(steps) + "}\n");
}

torch::Tensor final_state(const std::string& dir) {
  auto f = tinynas::supernet::load_supernet(dir + "/supernet.pt");
  std::vector<torch::Tensor> all;
  for (const auto& p : f.net->parameters()) all.push_back(p.detach().flatten());
  for (const auto& b : f.net->buffers()) all.push_back(b.flatten().to(torch::kDouble).to(torch::kFloat));
  return torch::cat(all);
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs tinynas through mpirun (2 ranks) or alone; returns (exit code, output).
tinynas_test::Run run_ranks(int ranks, const std::string& args) {
  const std::string cmd = (ranks > 1 ? join(mpirun_argv(ranks)) : std::string(TINYNAS_BINARY_DIR) + "/tinynas") +
                          " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// A file without its lines that hold wall times.
std::string without_timing(const fs::path& p) {
  std::istringstream in(read(p));
  std::string kept;
  for (std::string line; std::getline(in, line);)
    if (line.find("seconds") == std::string::npos) kept += line + "\n";
  return kept;
}


// metrics.csv without its images_per_s and seconds columns (the 6th and 7th).
std::vector<std::string> metrics_without_timing(const fs::path& csv) {
  std::vector<std::string> rows;
  std::istringstream in(read(csv));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::istringstream row(line);
    for (std::string c; std::getline(row, c, ',');) cells.push_back(c);
    if (cells.size() > 7) cells.erase(cells.begin() + 5, cells.begin() + 7);
    std::string kept;
    for (const auto& c : cells) kept += c + ",";
    rows.push_back(kept);
  }
  return rows;
}

}  // namespace

TEST(CliDistributed, TwoRanksTrainAsOneProcessWithTwoBatchParts) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  if (!have_mpirun()) GTEST_SKIP() << "mpirun (openmpi-bin) is not installed";
  TempDir dir;
  const std::string cfg = tiny_experiment(dir, 4);
  const std::string two = (dir.path / "two-ranks").string(), one = (dir.path / "one-process").string();
  auto r = run_ranks(2, "train --config " + cfg + " --out " + two);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("data-parallel training on 2 ranks: 2 parts of 16 images"), std::string::npos) << r.out;
  r = run_ranks(1, "train --config " + cfg + " --out " + one + " --batch-parts 2");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto a = final_state(two), b = final_state(one);
  ASSERT_EQ(a.numel(), b.numel());
  const double diff = (a - b).abs().max().item<double>();
  EXPECT_LE(diff, 1e-6);
  std::cout << "2 ranks vs 1 process, max weight difference after 2 epochs: " << diff << "\n";
  // Rank 0 alone wrote the files; the per-epoch losses and holdout figures agree.
  EXPECT_EQ(metrics_without_timing(fs::path(two) / "metrics.csv"), metrics_without_timing(fs::path(one) / "metrics.csv"));
  for (const auto& e : fs::directory_iterator(two)) EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos);
}

TEST(CliDistributed, SignalToMpirunCheckpointsEveryRankAndResumes) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  if (!have_mpirun()) GTEST_SKIP() << "mpirun (openmpi-bin) is not installed";
  TempDir dir;
  const std::string cfg = tiny_experiment(dir, 30);
  const std::string full = (dir.path / "full").string(), cut = (dir.path / "cut").string();
  const auto launch = [&](const std::string& out, bool resume, const fs::path& log) {
    std::vector<std::string> argv = mpirun_argv(2);
    for (const char* a : {"train", "--config"}) argv.push_back(a);
    argv.push_back(cfg);
    argv.push_back("--out");
    argv.push_back(out);
    if (resume) argv.push_back("--resume");
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    return pid;
  };
  const auto wait_code = [](pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  ASSERT_EQ(wait_code(launch(full, false, dir.path / "full.log")), 0) << read(dir.path / "full.log");

  // Interrupted once the first epoch is under way (its progress line is logged every 10 %).
  const pid_t pid = launch(cut, false, dir.path / "cut.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (read(dir.path / "cut.log").find("epoch: ") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(pid, SIGUSR1);
  const int code = wait_code(pid);
  const std::string log = read(dir.path / "cut.log");
  ASSERT_EQ(code, 3) << log;  // core::kInterruptedExitCode
  EXPECT_NE(log.find("stopped: SIGUSR1"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(fs::path(cut) / "supernet.pt"));
  EXPECT_TRUE(fs::exists(fs::path(cut) / "checkpoint.pt"));

  ASSERT_EQ(wait_code(launch(cut, true, dir.path / "resume.log")), 0) << read(dir.path / "resume.log");
  const std::string resumed = read(dir.path / "resume.log");
  EXPECT_NE(resumed.find("resuming from"), std::string::npos) << resumed;
  const auto a = final_state(full), b = final_state(cut);
  ASSERT_EQ(a.numel(), b.numel());
  EXPECT_TRUE(torch::equal(a, b)) << "max diff " << (a - b).abs().max().item<double>();
}

TEST(CliDistributed, SearchOnTwoRanksMeasuresAsOneProcess) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  if (!have_mpirun()) GTEST_SKIP() << "mpirun (openmpi-bin) is not installed";
  TempDir dir;
  // Every candidate measured with the supernet (no predictor): the measurements are what is split.
  const std::string args =
      "--threads 1 search --sram 12K --flash 1M --predictor none --population 4 --parents 2 --mutations 2 "
      "--crossovers 2 --generations 1 --top-k 2 --no-firmware --out ";
  const auto one = run_ranks(1, args + (dir.path / "one").string());
  ASSERT_EQ(one.code, 0) << one.out;
  const auto two = run_ranks(2, args + (dir.path / "two").string());
  ASSERT_EQ(two.code, 0) << two.out;
  EXPECT_NE(two.out.find("search on 2 MPI ranks"), std::string::npos) << two.out;
  for (const char* f : {"winner.json", "accuracy_cache.json", "baseline-mobilenetv2.json", "evolution.json"})
    EXPECT_EQ(without_timing(dir.path / "one" / f), without_timing(dir.path / "two" / f)) << f;
  EXPECT_EQ(without_timing(dir.path / "one" / "summary.json"), without_timing(dir.path / "two" / "summary.json"));
}

TEST(CliDistributed, CalibrationOnTwoRanksFitsAsOneProcess) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun (openmpi-bin) is not installed";
  if (std::system("command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null") != 0)
    GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm is not installed";
  TempDir dir;
  const auto args = [&](const std::string& name) {
    return "calibrate --mcu qemu-m4 --subnets 3 --validate 2 --work " + (dir.path / (name + "-work")).string() +
           " --out " + (dir.path / (name + ".yaml")).string();
  };
  const auto one = run_ranks(1, args("one"));
  ASSERT_EQ(one.code, 0) << one.out;
  const auto two = run_ranks(2, args("two"));
  ASSERT_EQ(two.code, 0) << two.out;
  // The same measurements, so the same fitted model, byte for byte.
  EXPECT_EQ(read(dir.path / "one.yaml"), read(dir.path / "two.yaml"));
  // Each rank built and ran its share of the 5 subnets.
  int bundles = 0;
  for (const auto& e : fs::directory_iterator(dir.path / "two-work")) bundles += e.is_directory();
  EXPECT_EQ(bundles, 5);
}
