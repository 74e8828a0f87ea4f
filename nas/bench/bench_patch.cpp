// Patch-based inference on the model zoo: per network, the layer-wise arena (today's planner, in-place
// depthwise and adds), the patch schedule `--patch auto` picks within 15 % extra MACs and its arena,
// the cheapest schedule that reaches a 3x smaller arena, and the instructions per inference of both
// firmwares on an emulated Cortex-M7 (QEMU mps2-an500, -icount shift=0), whose outputs must be the
// layer-wise integer reference's bit for bit (deploy() checks the host build, the emulated run and the
// reference), next to the shipped qemu-m7 latency model's prediction of the patch run. Random weights:
// memory and instruction counts do not depend on them.
//
// Then the redistribution table (see redistribution()).
//
//   bench_patch [--board mps2-an500] [--only FILE] [--no-run] [--samples N]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tinynas/core/data_dir.h"
#include "tinynas/core/rng.h"
#include "tinynas/engine/deploy.h"
#include "tinynas/engine/float_model.h"
#include "tinynas/engine/patch.h"
#include "tinynas/engine/planner.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/evaluator/latency_model.h"
#include "tinynas/search_space/space_yaml.h"
#include "tinynas/search_space/zoo_json.h"

using namespace tinynas;
using namespace tinynas::engine;
namespace fs = std::filesystem;

namespace {

uint64_t instructions(const FloatModel& fm, const PatchSchedule& schedule, const Board& board, const fs::path& dir) {
  DeployOptions o;
  o.out = dir.string();
  o.calibration_inputs = random_image_inputs(fm.graph, 2, 2);
  const QuantizedModel qm = quantize(fm, o.calibration_inputs);
  o.bundle.test_inputs.push_back(quantize_input(qm, random_image_inputs(fm.graph, 1, 3)[0]));
  o.bundle.patch = schedule;
  o.bundle.replace_any_directory = true;
  o.board = &board;
  o.emulator = &board;
  const Deployment d = deploy(fm, o);  // throws unless the emulated outputs equal the layer-wise reference
  return d.run->instructions;
}

// Receptive-field redistribution (MCUNetV2), on random subnets of the ImageNet space as MCUNet has it and
// of the same space redistributed (mcunet-imagenet-redistributed.yaml), at the width and resolution of
// three zoo networks: per space, the median MACs, the median layer-wise arena, the median of the arena
// reduction `--patch auto --max-extra-macs 15` reaches, the share of subnets it makes 3x smaller, and
// the median extra MACs of the schedule of the smallest arena (the halo's cost), and, as MCUNet's stage 1
// ranks spaces, the share of subnets whose arena fits 64 KB that way and their mean MACs.
void redistribution(int samples) {
  constexpr int64_t kBudget = 64 * 1024;
  std::printf("\n# receptive-field redistribution: %d random subnets per space, width and resolution\n", samples);
  std::printf("%-32s %4s %4s %9s %10s %12s %10s %14s %8s %12s\n", "space", "w", "r", "MACs (M)", "layer-wise",
              "lower <=15%", ">=3x <=15%", "+MACs smallest", "fit 64K", "MACs fit (M)");
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  for (const auto& [w, r] : std::vector<std::pair<double, int>>{{0.3, 176}, {0.4, 144}, {0.5, 176}})
    for (const char* file : {"mcunet-imagenet.yaml", "mcunet-imagenet-redistributed.yaml"}) {
      const search_space::SearchSpace space = search_space::load_space(core::data_path("configs/spaces/" + std::string(file)));
      core::Rng rng(core::derive_seed(1, uint64_t(r), uint64_t(std::lround(w * 10))));  // one seed per (w, r), the same for both spaces
      std::vector<double> macs, arenas, lower, smallest_extra, fitting_macs;
      int reach_third = 0;
      for (int i = 0; i < samples; ++i) {
        const Graph g = build_graph(space.describe(space.sample(rng, w, r)));
        int64_t total = 0;
        for (const Op& op : g.ops) total += op_macs(g, op);
        const int64_t layer_wise = plan_arena_bytes(g);
        const PatchChoice within = choose_patch_schedule(g, 0.15);
        const PatchChoice smallest = choose_patch_schedule(g);
        macs.push_back(double(total) / 1e6);
        arenas.push_back(double(layer_wise));
        lower.push_back(double(layer_wise) / double(within.arena_bytes));
        smallest_extra.push_back(100.0 * double(smallest.extra_macs) / double(total));
        if (within.arena_bytes * 3 <= layer_wise) ++reach_third;
        if (within.arena_bytes <= kBudget) fitting_macs.push_back(double(total) / 1e6);
      }
      double fitting_mean = 0;
      for (double m : fitting_macs) fitting_mean += m / double(fitting_macs.size());
      std::printf("%-32s %4.1f %4d %9.1f %10.0f %11.2fx %9.0f%% %13.1f%% %7.0f%% %12.1f\n", space.name.c_str(), w, r,
                  median(macs), median(arenas), median(lower), 100.0 * reach_third / samples, median(smallest_extra),
                  100.0 * double(fitting_macs.size()) / samples, fitting_mean);
      std::fflush(stdout);
    }
}

}  // namespace

int main(int argc, char** argv) {
  std::string board_name = "mps2-an500", only;
  bool run = true;
  int samples = 200;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--board" && i + 1 < argc) board_name = argv[++i];
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--no-run") run = false;
    else if (a == "--samples" && i + 1 < argc) samples = std::max(0, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bench_patch [--board mps2-an500] [--only FILE] [--no-run] [--samples N (200; 0: no redistribution table)]\n");
      return 2;
    }
  }
  if (run && (!arm_toolchain_available() || !qemu_available())) {
    std::fprintf(stderr, "bench_patch: needs arm-none-eabi-gcc and qemu-system-arm (or --no-run)\n");
    return 2;
  }
  const Board& board = board_by_name(board_name);
  const fs::path root = fs::temp_directory_path() / "tinynas_bench_patch";
  std::printf("# patch-based inference (MCUNetV2) on the model zoo; instructions on %s (QEMU, -icount shift=0)\n",
              board.name.c_str());
  const evaluator::LatencyModel latency = evaluator::load_latency_model(core::data_path("configs/calibration/qemu-m7.yaml"));
  std::printf("%-36s %9s %7s %9s %6s %7s %12s %12s %6s %8s   %-6s %9s %6s %7s\n", "network", "layer-wise", "patch", "arena",
              "lower", "+MACs", "instr. LW", "instr. patch", "ratio", "model", "3x at", "arena", "lower", "+MACs");
  const std::string zoo = core::data_path("zoo/mcunet");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(zoo))
    if (e.path().extension() == ".json" && (only.empty() || e.path().filename() == only)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    const Graph g = build_graph(search_space::load_zoo_json(file));
    int64_t macs = 0;
    for (const Op& op : g.ops) macs += op_macs(g, op);
    const int64_t layer_wise = plan_arena_bytes(g);
    const PatchChoice choice = choose_patch_schedule(g, 0.15);
    // The cheapest schedule reaching a third of the layer-wise arena.
    PatchSchedule third;
    int64_t third_arena = 0, third_extra = -1;
    for (const PatchStage& st : candidate_patch_stages(g)) {
      const int64_t arena = plan_arena_bytes(g, st);
      if (arena * 3 <= layer_wise && (third_extra < 0 || st.extra_macs() < third_extra))
        third = st.schedule, third_arena = arena, third_extra = st.extra_macs();
    }
    uint64_t lw_instr = 0, patch_instr = 0;
    std::string not_run;
    try {
      check_fits_board(g, board);
    } catch (const std::exception& e) {
      not_run = e.what();
    }
    if (run && not_run.empty()) {
      const FloatModel fm = random_float_model(g, 1);
      lw_instr = instructions(fm, PatchSchedule{}, board, root / "layer-wise");
      patch_instr = choice.schedule.layer_wise() ? lw_instr : instructions(fm, choice.schedule, board, root / "patch");
    }
    // The shipped model's prediction of the patch run, against the measurement.
    double predicted = latency.predict(g);
    if (!choice.schedule.layer_wise()) {
      const PatchStage st = plan_patch_stage(g, choice.schedule);
      predicted = latency.predict(g, &st);
    }
    const std::string name = fs::path(file).filename().string();
    std::printf("%-36s %9lld %7s %9lld %5.2fx %6.1f%%", name.c_str(), (long long)layer_wise, to_string(choice.schedule).c_str(),
                (long long)choice.arena_bytes, double(layer_wise) / double(choice.arena_bytes),
                100.0 * double(choice.extra_macs) / double(macs));
    if (patch_instr)
      std::printf(" %12llu %12llu %6.3f %+7.2f%%", (unsigned long long)lw_instr, (unsigned long long)patch_instr,
                  double(patch_instr) / double(lw_instr), 100.0 * (predicted - double(patch_instr)) / double(patch_instr));
    else
      std::printf(" %12s %12s %6s %8s", "-", "-", "-", "-");
    if (third_extra >= 0)
      std::printf("   %-6s %9lld %5.2fx %6.1f%%\n", to_string(third).c_str(), (long long)third_arena,
                  double(layer_wise) / double(third_arena), 100.0 * double(third_extra) / double(macs));
    else
      std::printf("   %-6s\n", "none");
    if (run && !not_run.empty()) std::printf("  (not run: %s)\n", not_run.c_str());
    std::fflush(stdout);
  }
  fs::remove_all(root);
  if (samples > 0) redistribution(samples);
  return 0;
}
