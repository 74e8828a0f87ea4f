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

namespace tinynas {

struct Baseline {
  std::string name;
  ArchSpec arch;
};

// MobileNetV2's blocks in the space: kernel 3 and expand ratio 6 everywhere, depths 2, 3, 4, 3, 3 (its
// 24-, 32-, 64-, 96- and 160-channel stages). ProxylessNAS-Mobile's blocks: its published kernel and
// expand ratio per block, its depths (2, 4, 4, 4, 4). Throws InputError when the space lacks a choice
// they need (kernels 3/5/7, expand ratios 3/6, depths 2-4, five searchable stages).
ArchSpec mobilenetv2_arch(const SearchSpace& space, double w, int r);
ArchSpec proxylessnas_arch(const SearchSpace& space, double w, int r);

// The largest version of `make(w, r)` that meets `limits`: widths and resolutions are tried from the
// largest down (width first, as MCUNet scales its baselines); nullopt when none fits.
std::optional<Baseline> scale_to_fit(const std::string& name, const std::function<ArchSpec(double, int)>& make,
                                     const std::vector<double>& widths, const std::vector<int>& resolutions,
                                     const Budget& limits,
                                     const std::function<CandidateCosts(const ArchSpec&)>& costs);

}  // namespace tinynas
