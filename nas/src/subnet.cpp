#include "tinynas/nas/subnet.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tinynas/core/errors.h"
#include "tinynas/nas/experiment_supernet.h"
#include "tinynas/nas/train.h"
#include "tinynas/search_space/zoo_json.h"
#include "tinynas/supernet/checkpoint.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/finetune.h"
#include "tinynas/supernet/runtime.h"

namespace tinynas::nas {

namespace {

// The experiment's supernet with the request's LibTorch threads.
supernet::SupernetFile open_supernet(const SubnetRequest& q) {
  const Experiment& x = q.experiment;
  supernet::configure_torch(q.threads > 0 ? q.threads : x.train.threads);
  return load_experiment_supernet(x, q.supernet);
}

double top1(supernet::StaticNet& net, const data::Dataset& images, int r) {
  return supernet::evaluate([&](const torch::Tensor& in) { return net->forward(in); }, images, r).top1();
}

// The network of a --network request with random weights, checked against the experiment's data.
supernet::StaticNet network_from_file(const ExtractRequest& q, const data::Dataset& train) {
  const Experiment& x = q.experiment;
  if (q.finetune.epochs == 0) throw core::InputError("--network trains from random weights: it needs --finetune N (epochs)");
  search_space::NetworkDesc d = search_space::load_zoo_json(q.network);
  if (q.resolution > 0) d.resolution = q.resolution;
  if (d.in_channels != x.space.in_channels || d.num_classes != x.space.num_classes)
    throw core::InputError(q.network + ": the network takes " + std::to_string(d.in_channels) + " channel(s) to " +
                           std::to_string(d.num_classes) + " classes; the experiment's data has " +
                           std::to_string(x.space.in_channels) + " channel(s) and " + std::to_string(x.space.num_classes) +
                           " classes");
  supernet::configure_torch(q.threads > 0 ? q.threads : x.train.threads);
  torch::manual_seed(int64_t(x.train.options.seed));
  supernet::StaticNet net(d);
  net->normalization = input_normalization(x.data, train, d.resolution);
  return net;
}

}  // namespace

EvalResult evaluate_subnet(const EvalRequest& q) {
  const Experiment& x = q.experiment;
  auto f = open_supernet(q);
  EvalResult r;
  r.supernet = f.path;
  r.arch = resolve_arch(f, q.arch, q.resolution);
  r.split = q.split;
  r.calibration_images = q.calibration_images > 0 ? q.calibration_images : x.train.options.recalibration_images;
  recalibrate(f, x, r.arch, r.calibration_images);
  const auto data = data::open_split(x.data, q.split);
  const auto acc = supernet::evaluate([&](const torch::Tensor& in) { return f.net->forward(in); }, *data, r.arch.r);
  r.correct = acc.correct;
  r.total = acc.total;
  r.top1 = acc.top1();
  return r;
}

ExtractResult extract_subnet(const ExtractRequest& q) {
  const Experiment& x = q.experiment;
  if (q.from_scratch && q.finetune.epochs == 0) throw core::InputError("--from-scratch needs --finetune N (epochs)");
  if (q.arch.empty() == q.network.empty()) throw core::InputError("extract: choose the network with --arch or --network");
  ExtractResult r;
  r.path = q.out;
  supernet::StaticNet net{nullptr};
  // The training split, read only when something needs it (a plain extraction does not).
  std::shared_ptr<const data::Dataset> train;
  auto training_split = [&]() -> const data::Dataset& {
    if (!train) train = data::open_split(x.data, "train");
    return *train;
  };
  if (!q.network.empty()) {
    net = network_from_file(q, training_split());
  } else {
    auto f = open_supernet(q);
    r.arch = resolve_arch(f, q.arch, q.resolution);
    if (q.from_scratch) {
      torch::manual_seed(int64_t(x.train.options.seed));
      net = supernet::StaticNet(f.net->space.describe(*r.arch));
      net->normalization = f.net->normalization;  // trained on the same inputs as the supernet
    } else {
      recalibrate(f, x, *r.arch, x.train.options.recalibration_images);
      net = f.net->extract(*r.arch);
    }
  }
  r.resolution = net->desc.resolution;
  net->eval();
  const auto holdout = data::open_split(x.data, "holdout");
  r.extracted_holdout_top1 = top1(net, *holdout, r.resolution);
  spdlog::info("{}: holdout top-1 {:.2f} %",
               !q.network.empty() ? "network " + net->desc.name + " (random weights)"
               : q.from_scratch   ? std::string("re-initialized subnet")
                                  : std::string("extracted subnet"),
               r.extracted_holdout_top1);
  // An interrupted fine-tuning run continues from its last epoch (see finetune_checkpoint_path).
  const std::string checkpoint = finetune_checkpoint_path(q.out);
  if (q.finetune.epochs > 0) {
    supernet::FinetuneOptions options = q.finetune;
    options.batch_size = x.train.options.batch_size;
    options.seed = x.train.options.seed;
    options.checkpoint = checkpoint;
    supernet::finetune(net, training_split(), *holdout, r.resolution, options, q.on_finetune_step);
  }
  supernet::save_subnet(q.out, net, r.arch);
  if (q.finetune.epochs > 0) {
    std::error_code ignored;  // the network is written; a checkpoint left behind is only disk space
    std::filesystem::remove(checkpoint, ignored);
  }
  r.blocks = int(net->desc.blocks.size());
  r.holdout_top1 = top1(net, *holdout, r.resolution);
  if (q.test) r.test_top1 = top1(net, *data::open_split(x.data, "test"), r.resolution);
  return r;
}

}  // namespace tinynas::nas
