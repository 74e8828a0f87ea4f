// tinynas train: trains the experiment's once-for-all supernet, with per-epoch checkpoints and --resume.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "commands.h"
#include "tinynas/core/stop_signal.h"
#include "tinynas/supernet/cluster.h"
#include "tinynas/nas/config.h"
#include "tinynas/core/progress.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/runtime.h"
#include "tinynas/supernet/train.h"

namespace tinynas::cli {

namespace {
struct Options {
  std::string config, out;
  bool resume = false;
  int epochs = 0;
  int64_t max_steps = -1;
  int batch_parts = 0;
  double width = 0;
  std::vector<int> resolutions;
};
}  // namespace

Runner add_train(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Train the experiment's once-for-all supernet (progressive shrinking or the sandwich rule, as its "
               "train: section says). Writes DIR/checkpoint.pt every epoch (and at the step where SIGTERM / SIGUSR1 stopped "
               "it: exit code 3), DIR/supernet.pt at the end, "
               "DIR/metrics.csv and DIR/train.log.");
  cmd->add_option("--config", o->config, "experiment YAML (default: configs/experiments/fashion-mnist.yaml)");
  cmd->add_option("--out", o->out, "output directory (default: runs/<experiment>-supernet)");
  cmd->add_flag("--resume", o->resume, "continue from DIR/checkpoint.pt; with the same thread count the final weights equal an uninterrupted run's");
  cmd->add_option("--epochs", o->epochs, "override the epochs of a sandwich run")->check(CLI::PositiveNumber);
  cmd->add_option("--max-steps-per-epoch", o->max_steps, "cap the steps of every epoch (quick trials)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--width", o->width, "the supernet's width multiplier (default: the config's supernet.width)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--resolutions", o->resolutions, "training resolutions (default: the config's supernet.resolutions)")
      ->delimiter(',');
  cmd->add_option("--batch-parts", o->batch_parts,
                  "split every batch into N parts with their own BN statistics, gradients averaged (what N MPI "
                  "ranks do; default: the config's train.batch_parts, or the rank count under mpirun)")
      ->check(CLI::PositiveNumber);
  return [o]() {
    const Experiment x = load_experiment(o->config.empty() ? default_experiment_path() : o->config);
    TrainConfig tc = x.train;
    if (o->epochs > 0) {
      if (tc.method != "sandwich") throw core::InputError("--epochs applies to sandwich runs; set epochs per phase in the config");
      tc.options.phases.front().epochs = o->epochs;
    }
    if (o->max_steps >= 0) tc.options.max_steps_per_epoch = o->max_steps;
    // The supernet's space, as `search --train` chooses it (checked against the space's choices below).
    if (o->width > 0) tc.options.width = o->width;
    if (!o->resolutions.empty()) tc.options.resolutions = o->resolutions;
    const auto& widths = x.space.width_choices;
    if (std::find(widths.begin(), widths.end(), tc.options.width) == widths.end())
      throw core::InputError("--width " + std::to_string(tc.options.width) + " is not one of the space's widths");
    // SIGTERM / SIGUSR1 (Slurm's time limit or preemption) stop after the current step, with a checkpoint.
    core::install_stop_handlers();
    const dist::Cluster& cluster = dist::Cluster::world();
    if (o->batch_parts > 0) tc.options.batch_parts = o->batch_parts;
    else if (tc.options.batch_parts == 1 && cluster.size() > 1) tc.options.batch_parts = cluster.size();
    const std::string out = o->out.empty() ? "runs/" + x.name + "-supernet" : o->out;
    std::filesystem::create_directories(out);
    // Rank 0 keeps the log file and the experiment copy; every rank reads the same data.
    const bool root = cluster.is_root();
    if (root) {
      auto file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(out + "/train.log", /*truncate=*/!o->resume);
      spdlog::default_logger()->sinks().push_back(file_sink);
      // The experiment as it was run, beside its results.
      core::write_file_atomic(out + "/experiment.yaml", core::read_text_file(x.path));
    }

    const int threads = global_options().threads > 0 ? global_options().threads : tc.threads;
    supernet::configure_torch(threads);
    const auto train = data::open_split(x.data, "train");
    const auto holdout = data::open_split(x.data, "holdout");
    spdlog::info("experiment '{}' ({}): {} supernet, w {}, resolutions {}, {} threads", x.name, x.path, tc.method,
                 tc.options.width, fmt::join(tc.options.resolutions, "/"), threads);
    spdlog::info("data: {} training images, {} holdout images", train->size(), holdout->size());
    tc.options.data_description = fmt::format("{} {}: {} training + {} holdout images (holdout seed {})", x.data.kind,
                                              x.data.path, train->size(), holdout->size(), x.data.seed);

    std::unique_ptr<core::ProgressBar> bar;
    int64_t last_step = 0;
    const auto on_step = [&](int64_t step, int64_t steps, double loss, double images_per_s) {
      if (step == 0) {
        bar = std::make_unique<core::ProgressBar>("epoch", steps * tc.options.batch_size, "img");
        last_step = 0;
        return;
      }
      bar->set_status(fmt::format("loss {:.4f} ({:.0f} img/s)", loss, images_per_s));
      bar->advance((step - last_step) * tc.options.batch_size);
      last_step = step;
      if (step == steps) bar.reset();
    };
    const auto history = supernet::train_supernet(tc.options, *train, *holdout, supernet::TrainPaths{out}, o->resume, on_step);
    spdlog::info("trained: {} epochs; supernet in {}/supernet.pt, metrics in {}/metrics.csv", history.size(), out, out);
    if (root) spdlog::default_logger()->sinks().pop_back();
    return 0;
  };
}

}  // namespace tinynas::cli
