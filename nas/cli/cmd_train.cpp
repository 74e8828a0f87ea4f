// tinynas train: the experiment's once-for-all supernet (nas/train.h).
#include "commands.h"
#include "tinynas/nas/train.h"

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
    nas::TrainRequest q;
    q.experiment = load_experiment_flag(o->config);
    q.out = o->out;
    q.resume = o->resume;
    q.epochs = o->epochs;
    q.max_steps_per_epoch = o->max_steps;
    q.width = o->width;
    q.resolutions = o->resolutions;
    q.batch_parts = o->batch_parts;
    q.threads = global_options().threads;
    nas::train_experiment(q);
    return 0;
  };
}

}  // namespace tinynas::cli
