// The tinynas binary end to end: exit codes, messages and outputs.
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <vector>
#include <nlohmann/json.hpp>

#include "run_tinynas.h"
#include "test_helpers.h"
#include "zoo_files.h"
#include "tinynas/engine/patch.h"
#include "tinynas/engine/planner.h"
#include "tinynas/nas/config.h"
#include "tinynas/search_space/zoo_json.h"
#include "tinynas/core/process.h"

namespace fs = std::filesystem;
namespace engine = tinynas::engine;
namespace search_space = tinynas::search_space;
using tinynas_test::TempDir;
using tinynas_test::run_tinynas;

namespace {

const std::string kZoo = TINYNAS_ZOO_DIR;

}  // namespace

TEST(Cli, HelpAndVersion) {
  auto r = run_tinynas("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("optimize-space"), std::string::npos);
  r = run_tinynas("optimize-space --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("K = 1024"), std::string::npos);
  EXPECT_EQ(run_tinynas("--version").code, 0);
}

// The commands that train or measure start with libgomp's passive wait unless the user chose a policy;
// the quick ones are not restarted (debug log of what the process started with).
TEST(Cli, LibTorchCommandsStartWithThePassiveOpenMpWait) {
  const std::string clean = "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " + std::string(TINYNAS_BINARY_DIR) + "/tinynas --log-level debug ";
  const auto run = [](const std::string& cmd) {
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    std::string out;
    std::array<char, 4096> buf;
    while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    pclose(p);
    return out;
  };
  // A bad --arch fails after start-up (exit 2), which is all this needs.
  EXPECT_NE(run(clean + "eval --arch nothing.json").find("OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=(unset)"), std::string::npos);
  const std::string chosen = "env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=1000 " + std::string(TINYNAS_BINARY_DIR) + "/tinynas --log-level debug ";
  EXPECT_NE(run(chosen + "eval --arch nothing.json").find("OMP_WAIT_POLICY=(unset) GOMP_SPINCOUNT=1000"), std::string::npos);
  EXPECT_NE(run(clean + "profile nothing.json").find("OMP_WAIT_POLICY=(unset)"), std::string::npos);
}

TEST(Cli, OptimizeSpaceWritesEveryOutput) {
  TempDir dir;
  const fs::path out = dir.path / "stage1";
  const auto r = run_tinynas("optimize-space --sram 128K --flash 1M --samples 50 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Chosen space"), std::string::npos);
  for (const char* f : {"ranking.md", "ranking.csv", "cdf.csv", "cdf.dat", "cdf.gp", "summary.json", "space.yaml"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  if (tinynas::core::program_available("gnuplot")) {
    EXPECT_TRUE(fs::exists(out / "cdf.svg"));
  }
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "left over: " << e.path();
  // The chosen space is a space file later stages can read, with its w and r fixed.
  const auto chosen = tinynas::search_space::load_space((out / "space.yaml").string());
  ASSERT_EQ(chosen.width_choices.size(), 1u);
  ASSERT_EQ(chosen.resolution_choices.size(), 1u);
  std::ifstream in(out / "summary.json");
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["best"]["w"].get<double>(), chosen.width_choices[0]);
  EXPECT_EQ(summary["best"]["r"].get<int>(), chosen.resolution_choices[0]);
  EXPECT_EQ(summary["sram_bytes"].get<int64_t>(), 128 * 1024);
}

TEST(Cli, BadInputsExitTwoAndLeaveNoOutput) {
  TempDir dir;
  const std::string out = (dir.path / "never").string();
  struct Case {
    std::string args, needle;
  };
  const Case cases[] = {
      {"optimize-space --sram 320Q --flash 1M", "--sram"},
      {"optimize-space --sram 320K --flash lots", "--flash"},
      {"optimize-space --sram 320K --flash 1M --mcu stm32f999", "unknown MCU"},
      {"optimize-space --sram 1K --flash 1M --samples 20", "impossible budget"},
      {"optimize-space --sram 320K --flash 16K --samples 20", "impossible budget"},
      {"optimize-space --config /nonexistent.yaml", "nonexistent.yaml"},
      {"optimize-space --samples 0", "samples"},
      {"optimize-space --no-such-flag", "no-such-flag"},
      {"--log-level chatty optimize-space", "log-level"},
      {"", "subcommand"},
  };
  for (const Case& c : cases) {
    const auto r = run_tinynas(c.args + " --out " + out, /*limited=*/true);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_FALSE(fs::exists(out)) << c.args;
  }
}

TEST(Cli, ProfileOfAZooModelShowsThePlanAndTheReference) {
  const auto r = run_tinynas("profile " + kZoo + "/mcunet-320kb-1mb_imagenet.json --mcu stm32h743");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("in-place"), std::string::npos);
  EXPECT_NE(r.out.find("TinyEngine"), std::string::npos);
  EXPECT_NE(r.out.find("340736"), std::string::npos);  // the analytic peak
}

TEST(Cli, ProfileJsonAgreesWithTheLibraries) {
  const auto r = run_tinynas("profile --json " + kZoo + "/mcunet-5fps_imagenet.json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["totals"]["analytic_peak_bytes"].get<int64_t>(), 92160);
  int64_t macs = 0, params = 0;
  for (const auto& l : j["layers"]) {
    macs += l["macs"].get<int64_t>();
    params += l["params"].get<int64_t>();
  }
  EXPECT_EQ(macs, j["totals"]["macs"].get<int64_t>());
  EXPECT_EQ(params, j["totals"]["params"].get<int64_t>());
  EXPECT_LE(j["totals"]["arena_bytes"].get<int64_t>(), j["totals"]["layerwise_arena_bytes"].get<int64_t>());
  EXPECT_LE(j["totals"]["arena_bytes"].get<int64_t>(), j["reference"]["peak_sram_bytes"].get<int64_t>());
  // What --sram limits: the arena plus the stack bound.
  EXPECT_EQ(j["totals"]["peak_sram_bytes"].get<int64_t>(), j["totals"]["arena_bytes"].get<int64_t>() + 1024);
}

// --patch: the given schedule's figures equal the engine's (patch.h, planner.h); auto picks the smallest
// arena within the MAC limit; a schedule the network cannot run is an input error.
TEST(Cli, ProfileWithAPatchScheduleShowsBothSchedules) {
  const std::string zoo = kZoo + "/mcunet-10fps_imagenet.json";
  auto r = run_tinynas("profile --json --patch 3@2 " + zoo);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  const engine::Graph g = engine::build_graph(search_space::load_zoo_json(zoo));
  const engine::PatchStage st = engine::plan_patch_stage(g, engine::PatchSchedule{2, 3});
  const auto& p = j["patch"];
  EXPECT_EQ(p["schedule"], "3@2");
  EXPECT_EQ(p["arena_bytes"].get<int64_t>(), engine::plan_arena_bytes(g, st));
  EXPECT_EQ(p["peak_sram_bytes"].get<int64_t>(), p["arena_bytes"].get<int64_t>() + 1024);
  EXPECT_EQ(p["extra_macs"].get<int64_t>(), st.extra_macs());
  EXPECT_EQ(p["macs"].get<int64_t>(), j["totals"]["macs"].get<int64_t>() + st.extra_macs());
  EXPECT_EQ(p["layers"].size(), size_t(st.ops));
  EXPECT_LT(p["arena_bytes"].get<int64_t>(), j["totals"]["arena_bytes"].get<int64_t>());

  r = run_tinynas("profile --json --patch auto --max-extra-macs 15 " + zoo);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto a = nlohmann::json::parse(r.out)["patch"];
  const engine::PatchChoice choice = engine::choose_patch_schedule(g, 0.15);
  EXPECT_EQ(a["schedule"], engine::to_string(choice.schedule));
  EXPECT_EQ(a["arena_bytes"].get<int64_t>(), choice.arena_bytes);
  EXPECT_LE(a["extra_macs_percent"].get<double>(), 15.0);
  for (const engine::PatchSchedule& s : engine::candidate_patch_schedules(g)) {
    const engine::PatchStage other = engine::plan_patch_stage(g, s);
    if (other.extra_macs() * 100 <= j["totals"]["macs"].get<int64_t>() * 15) {
      EXPECT_GE(engine::plan_arena_bytes(g, other), choice.arena_bytes) << engine::to_string(s);
    }
  }

  r = run_tinynas("profile --patch 3@2 " + zoo);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* text : {"Patch schedule 3@2", "layer-wise", "x smaller", "overlapping halos", "read patch by patch"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
  r = run_tinynas("profile --patch 3@99 " + zoo);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("blocks"), std::string::npos) << r.out;
  r = run_tinynas("profile --patch four " + zoo);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("n@s"), std::string::npos) << r.out;
}

TEST(Cli, ProfileOfAnArchUsesTheConfigSpace) {
  TempDir dir;
  const fs::path arch = dir.path / "arch.json";
  std::ofstream(arch) << R"({"r": 32, "w": 0.5, "ks": [3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5,7],
    "e": [3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6], "d": [2,3,4,2,3]})";
  const auto r = run_tinynas("profile " + arch.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("32x32x1"), std::string::npos) << r.out;
}

// A KWS subnet: the 49 x 10 input, the front-end's step before layer 0, and the latency and energy of the
// MCU's shipped latency model (energy = latency x 3.3 V x 90 mA on the STM32F746).
TEST(Cli, ProfileOfAKwsArchShowsTheFrontEndLatencyAndEnergy) {
  TempDir dir;
  const fs::path arch = dir.path / "kws.json";
  std::ofstream(arch) << R"({"r": 49, "w": 0.35, "ks": [7,7,5,3,5,7,3,3,7,7,3,3,3,7,3,3,3,5,3,3,3],
    "e": [6,6,4,3,3,4,3,3,3,4,3,3,3,3,3,3,4,3,3,3,4], "d": [3,2,2,2,3]})";
  const std::string config = std::string(TINYNAS_SOURCE_DIR) + "/configs/experiments/kws.yaml";
  auto r = run_tinynas("profile --json --config " + config + " --mcu stm32f746 " + arch.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto t = nlohmann::json::parse(r.out)["totals"];
  EXPECT_EQ(t["frontend"]["kind"], "mfcc");
  EXPECT_EQ(t["frontend"]["live_bytes"].get<int64_t>(), 32000 + 2208 + 492);
  EXPECT_GE(t["arena_bytes"].get<int64_t>(), 34700);
  // The front-end alone: 3.55 million instructions at 216 MHz.
  EXPECT_GT(t["latency_ms"].get<double>(), 3.55e6 / 216e3);
  EXPECT_NEAR(t["energy_uj"].get<double>(), t["latency_ms"].get<double>() * 3.3 * 90, 1e-6 * t["energy_uj"].get<double>());
  r = run_tinynas("profile --config " + config + " " + arch.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* text : {"49x10x1", "front-end step (mfcc)", "latency (model)", "mJ"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
}

// DS-CNN from its network file: the hand-counted MACs, the front-end in its SRAM; its 10x4 stem is a
// layer kind the shipped latency model was not calibrated on, which profile says instead of failing.
TEST(Cli, ProfileOfDsCnnGivesItsSizesAndSaysWhyLatencyIsNotModelled) {
  const std::string config = std::string(TINYNAS_SOURCE_DIR) + "/configs/experiments/kws.yaml";
  auto r = run_tinynas("profile --json --config " + config + " " + tinynas_test::dscnn_path());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto t = nlohmann::json::parse(r.out)["totals"];
  EXPECT_EQ(t["macs"].get<int64_t>(), 2656768);
  EXPECT_EQ(t["frontend"]["kind"], "mfcc");
  EXPECT_FALSE(t.contains("latency_ms"));
  EXPECT_NE(t["latency_unavailable"].get<std::string>().find("conv_k10x4_s2x2_d1x1_g1"), std::string::npos);
  r = run_tinynas("profile --config " + config + " " + tinynas_test::dscnn_path());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("not modelled"), std::string::npos) << r.out;
}

TEST(Cli, ProfileErrors) {
  TempDir dir;
  EXPECT_EQ(run_tinynas("profile /nonexistent/arch.json").code, 2);
  const fs::path bad = dir.path / "bad.json";
  std::ofstream(bad) << R"({"r": 31, "w": 0.5, "ks": [3], "e": [3], "d": [2]})";
  const auto r = run_tinynas("profile " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("bad.json"), std::string::npos) << r.out;
}

namespace {

// Every file under `dir` with its bytes ({} when it does not exist).
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) {
      files[fs::relative(e.path(), dir).string()] = "<not a file>";
      continue;
    }
    std::ifstream in(e.path(), std::ios::binary);
    files[fs::relative(e.path(), dir).string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

}  // namespace

// The README's promise, over every command that writes: a run that exits with 2 (bad input) writes,
// deletes and changes nothing in its --out, whether that is a directory of earlier results or a file
// path. Each command gets bad configs, bad flag values and bad or corrupt input files.
TEST(Cli, ExitTwoChangesNothingInOut) {
  TempDir dir;
  const std::string space = std::string(TINYNAS_SOURCE_DIR) + "/configs/spaces/fashion-mnist.yaml";
  const std::string typo = dir.write("typo.yaml", "space: " + space + "\nsupernets: {width: 0.5}\n");
  const std::string twice = dir.write("twice.yaml", "space: " + space + "\nname: a\nname: b\n");
  const std::string nan_lr =
      dir.write("nan.yaml", "space: " + space + "\ntrain: {method: sandwich, lr: .nan}\n");
  const std::string huge_number = dir.write("huge.json", R"({"r": 48, "w": 1e400, "ks": [3], "e": [3], "d": [2]})");
  const std::string wrapped = dir.write("wrapped.json", R"({"r": 4294967344, "w": 0.5, "ks": [3], "e": [3], "d": [2]})");
  const std::string not_a_supernet = dir.write("corrupt.pt", "PK\x03\x04 not a supernet");
  const std::string digits(400, '9');
  const std::vector<std::string> common = {"--config " + typo, "--config " + twice, "--mcu stm32f999",
                                           "--config /nonexistent.yaml"};
  struct Command {
    std::string name;
    bool out_is_file;
    std::vector<std::string> bad;  // besides the common ones
  };
  const std::vector<Command> commands = {
      {"search", false,
       {"--sram ''", "--sram " + digits, "--flash 0", "--latency 0ms", "--energy 2", "--energy 0mJ", "--energy 2MJ",
        "--supernet " + not_a_supernet}},
      {"optimize-space", false, {"--sram ''", "--flash " + digits, "--samples 0", "--energy 5W"}},
      {"train", false, {"--config " + nan_lr, "--width 7", "--resolutions 999"}},
      {"export --random-weights", false,
       {"--arch " + huge_number, "--arch " + wrapped, "--arch /nonexistent.json", "--arch largest --mcu host --calibration-method qq"}},
      {"extract --arch largest", true, {"--supernet " + not_a_supernet, "--arch " + wrapped}},
      {"predictor build", true, {"--supernet " + not_a_supernet, "--samples 0"}},
      {"calibrate --mcu qemu-m4", true, {"--subnets 0", "--config " + twice}},
  };
  for (const Command& c : commands) {
    // --out holds earlier results; export refuses such a directory by itself, so its cases write into a
    // new one (which must not appear).
    const bool existing = c.name.rfind("export", 0) != 0;
    const fs::path out_dir = dir.path / "out";
    fs::remove_all(out_dir);
    if (existing) {
      fs::create_directories(out_dir / "earlier");
      std::ofstream(out_dir / "keep.txt") << "earlier results";
      std::ofstream(out_dir / "earlier" / "winner.json") << "{}";
    }
    const std::string out = c.out_is_file ? (out_dir / "result.pt").string() : out_dir.string();
    const auto before = snapshot(out_dir);
    std::vector<std::string> cases = common;
    cases.insert(cases.end(), c.bad.begin(), c.bad.end());
    for (const std::string& bad : cases) {
      const auto r = run_tinynas(c.name + " " + bad + " --out " + out, /*limited=*/true);
      EXPECT_EQ(r.code, 2) << c.name << " " << bad << "\n" << r.out;
      EXPECT_EQ(snapshot(out_dir), before) << c.name << " " << bad;
    }
  }
}

// The same unwritable --out (a file stands where its directory should be) gave exit 2 from one command
// and 1 from another; it is bad input to every command.
TEST(Cli, AnOutThatCannotBeCreatedIsExitTwoOnEveryCommand) {
  TempDir dir;
  const std::string blocked = dir.write("file", "in the way") + "/out";
  for (const std::string command : {"optimize-space --samples 20", "search --sram 12K --flash 1M", "train --max-steps-per-epoch 1"}) {
    const auto r = run_tinynas(command + " --out " + blocked, /*limited=*/true);
    EXPECT_EQ(r.code, 2) << command << "\n" << r.out;
  }
}
