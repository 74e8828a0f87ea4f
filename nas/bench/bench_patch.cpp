// Patch-based inference on the model zoo: per network, the layer-wise arena (today's planner, in-place
// depthwise and adds), the patch schedule `--patch auto` picks within 15 % extra MACs and its arena,
// the cheapest schedule that reaches a 3x smaller arena, and the instructions per inference of both
// firmwares on an emulated Cortex-M7 (QEMU mps2-an500, -icount shift=0), whose outputs must be the
// layer-wise integer reference's bit for bit (deploy() checks the host build, the emulated run and the
// reference), next to the shipped qemu-m7 latency model's prediction of the patch run. Random weights:
// memory and instruction counts do not depend on them.
//
//   bench_patch [--board mps2-an500] [--only FILE] [--no-run]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tinynas/core/data_dir.h"
#include "tinynas/engine/deploy.h"
#include "tinynas/engine/float_model.h"
#include "tinynas/engine/patch.h"
#include "tinynas/engine/planner.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/evaluator/latency_model.h"
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

}  // namespace

int main(int argc, char** argv) {
  std::string board_name = "mps2-an500", only;
  bool run = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--board" && i + 1 < argc) board_name = argv[++i];
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--no-run") run = false;
    else {
      std::fprintf(stderr, "usage: bench_patch [--board mps2-an500] [--only FILE] [--no-run]\n");
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
  return 0;
}
