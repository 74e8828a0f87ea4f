#pragma once
// The hand-designed baselines every search report shows next to the searched network, as subnets of the
// same space (so the supernet evaluates them the same way) and scaled down until they meet the same
// limits, as MCUNet compares against scaled MobileNetV2 and ProxylessNAS.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tinynas/nas/evolution.h"
#include "tinynas/search_space/space.h"

namespace tinynas::nas {

struct Baseline {
  std::string name;
  search_space::ArchSpec arch;
};

// MobileNetV2's blocks in the space: kernel 3 and expand ratio 6 everywhere, depths 2, 3, 4, 3, 3 (its
// 24-, 32-, 64-, 96- and 160-channel stages). ProxylessNAS-Mobile's blocks: its published kernel and
// expand ratio per block, its depths (2, 4, 4, 4, 4). Throws InputError when the space lacks a choice
// they need (kernels 3/5/7, expand ratios 3/6, depths 2-4, five searchable stages).
search_space::ArchSpec mobilenetv2_arch(const search_space::SearchSpace& space, double w, int r);
search_space::ArchSpec proxylessnas_arch(const search_space::SearchSpace& space, double w, int r);

// The largest version of `make(w, r)` that meets `limits`: widths and resolutions are tried from the
// largest down (width first, as MCUNet scales its baselines); nullopt when none fits.
std::optional<Baseline> scale_to_fit(const std::string& name, const std::function<search_space::ArchSpec(double, int)>& make,
                                     const std::vector<double>& widths, const std::vector<int>& resolutions,
                                     const evaluator::Budget& limits,
                                     const std::function<evaluator::CandidateCosts(const search_space::ArchSpec&)>& costs);

}  // namespace tinynas::nas
