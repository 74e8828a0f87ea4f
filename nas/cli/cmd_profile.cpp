// tinynas profile: per-layer shapes, MACs, params, live bytes, arena offsets and scratch of a network.
#include <iostream>

#include "commands.h"
#include "tinynas/nas/config.h"
#include "tinynas/nas/profile.h"
#include "tinynas/search_space/zoo_json.h"

namespace tinynas::cli {

namespace {
struct Options {
  std::string file, mcu, config;
  bool json = false;
  nas::ProfileOptions profile;
};
}  // namespace

Runner add_profile(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "profile", "Per-layer table of a network: shapes, MACs, params, live bytes, arena offsets, scratch; totals "
                 "against the layer-wise (TF-Lite Micro) baseline and the MCU's budgets.");
  cmd->add_option("ARCH", o->file, "an arch JSON {r, w, ks, e, d} or a model-zoo network JSON")->required();
  cmd->add_option("--mcu", o->mcu, "MCU profile for the budgets and runtime code size (default: the config's)");
  cmd->add_option("--config", o->config, "experiment YAML whose space describes an arch JSON (default: fashion-mnist)");
  cmd->add_flag("--json", o->json, "machine-readable output");
  cmd->add_option("--patch", o->profile.patch,
                  "also a patch schedule (MCUNetV2): 'n@s' runs the stem and blocks before s in n x n patches; 'auto' picks "
                  "the smallest arena, then the fewest extra MACs");
  cmd->add_option("--max-extra-macs", o->profile.max_extra_macs_percent,
                  "with --patch auto: the most extra MACs a schedule may cost, in % of the network's (default: any)")
      ->check(CLI::NonNegativeNumber);
  return [o]() {
    const nas::Experiment x = load_experiment_flag(o->config, o->mcu);
    const search_space::NetworkDesc net = search_space::load_network_any(o->file, x.space);
    const auto profile = nas::profile_json(net, x.mcu, o->file, o->profile);
    if (o->json) std::cout << profile.dump(2) << "\n";
    else std::cout << nas::profile_text(profile);
    return 0;
  };
}

}  // namespace tinynas::cli
