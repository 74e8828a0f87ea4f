#pragma once
// The accuracy of a subnet of a trained supernet, as the search measures it: the subnet's weights are
// the supernet's, its BN statistics are re-estimated on a fixed subset of training images, and its
// top-1 is taken on the holdout split carved from the training set (never the test split). Results
// are cached by arch key, in memory and in an optional JSON file, so repeated candidates, resumed
// runs and later commands do not measure again.
//
// Defaults for this machine: 2000 recalibration images (MCUNet uses 20 batches x 64 = 1280; 2000 is
// what the supernet's own training metrics use, so the figures agree) and the whole 5000-image holdout
// (MCUNet: 10k), whose standard error near 90 % top-1 is 0.4 points. One measurement then costs about
// 7000 forward images: 0.5-1.5 s for the Fashion-MNIST subnets on 2 cores.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "tinynas/search_space/space.h"
#include "tinynas/supernet/cluster.h"
#include "tinynas/supernet/dataset.h"
#include "tinynas/supernet/ofa.h"

namespace tinynas::evaluator {

struct SubnetAccuracyOptions {
  int calibration_images = 2000;
  uint64_t calibration_seed = 0;  // supernet::calibration_seed(training seed)
  int batch_size = 256;
  std::string cache_path;         // "" = in memory only
  std::string cache_tag;          // what the cached figures belong to (supernet file, data); a cache
                                  // file with another tag is refused
  bool write_cache = true;        // false: read the cache file, never write it (MPI ranks other than 0)
};

class SubnetAccuracy {
 public:
  // `net` is shared with the caller but used by one measurement at a time.
  SubnetAccuracy(supernet::OFASupernet net, const search_space::SearchSpace& space, std::shared_ptr<const data::Dataset> train,
                 std::shared_ptr<const data::Dataset> holdout, SubnetAccuracyOptions options);
  // Top-1 (%) on the holdout; thread-safe (measurements are serialized, LibTorch uses the cores).
  double operator()(const search_space::ArchSpec& arch);
  // Top-1 of every arch, the uncached ones measured across the job's ranks (each rank its share, the
  // figures then exchanged, so every rank's cache holds them all). Every rank must call it with the
  // same list: a rank whose list differs from rank 0's throws RuntimeFailure.
  std::vector<double> measure_all(const std::vector<search_space::ArchSpec>& archs, const dist::Cluster& cluster,
                                  const std::function<void()>& on_measured = {});
  // Top-1 (%) on the even- and on the odd-numbered holdout images, after the same recalibration; not
  // cached. Over many subnets, the two halves' disagreement measures how noisy a holdout figure is.
  std::pair<double, double> split_halves(const search_space::ArchSpec& arch);
  // Cached figure, or -1.
  double cached(const search_space::ArchSpec& arch) const;
  int64_t measured() const { return measured_; }  // measurements run (cache misses)
  int64_t hits() const { return hits_; }
  // Writes the cache file (atomically); done after every `save_every` measurements too.
  void save() const;
  int save_every = 20;

 private:
  // Both expect mutex_ held: the subnet set active with BN statistics of the calibration subset; the
  // cache written (when it has a file and this rank writes it).
  void activate_and_recalibrate(const search_space::ArchSpec& arch);
  void write_cache_file() const;

  supernet::OFASupernet net_;
  search_space::SearchSpace space_;
  std::shared_ptr<const data::Dataset> train_, holdout_;  // the calibration subset and the holdout, cached
  std::shared_ptr<const data::Dataset> holdout_even_, holdout_odd_;
  SubnetAccuracyOptions options_;
  std::vector<int> calibration_;
  std::map<std::string, double> cache_;
  mutable std::mutex mutex_;
  int64_t measured_ = 0, hits_ = 0;
};

}  // namespace tinynas::evaluator
