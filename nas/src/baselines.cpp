#include "tinynas/nas/baselines.h"

#include <algorithm>

#include "tinynas/core/errors.h"

namespace tinynas::nas {

namespace {

// Fills an arch from per-stage block lists of (kernel, expand) and the last block's.
search_space::ArchSpec from_stages(const search_space::SearchSpace& space, const std::string& name, double w, int r,
                     const std::vector<std::vector<std::pair<int, int>>>& stages, std::pair<int, int> last) {
  if (space.num_stages() != int(stages.size()))
    throw core::InputError(name + " needs a space with " + std::to_string(stages.size()) + " searchable stages, '" +
                     space.name + "' has " + std::to_string(space.num_stages()));
  search_space::ArchSpec a = space.smallest(w, r);
  const int depth = space.max_depth();
  for (size_t s = 0; s < stages.size(); ++s) {
    a.d[s] = int(stages[s].size());
    for (size_t b = 0; b < stages[s].size(); ++b) {
      if (int(b) >= depth) throw core::InputError(name + " needs depth " + std::to_string(stages[s].size()));
      a.ks[s * size_t(depth) + b] = stages[s][b].first;
      a.e[s * size_t(depth) + b] = stages[s][b].second;
    }
  }
  a.ks.back() = last.first;
  a.e.back() = last.second;
  try {
    space.validate(a);
  } catch (const core::InputError& e) {
    throw core::InputError(name + " is not in the space '" + space.name + "': " + e.what());
  }
  return space.normalized(a);
}

}  // namespace

search_space::ArchSpec mobilenetv2_arch(const search_space::SearchSpace& space, double w, int r) {
  const std::pair<int, int> k3e6{3, 6};
  return from_stages(space, "MobileNetV2", w, r,
                     {{k3e6, k3e6}, {k3e6, k3e6, k3e6}, {k3e6, k3e6, k3e6, k3e6}, {k3e6, k3e6, k3e6}, {k3e6, k3e6, k3e6}},
                     k3e6);
}

search_space::ArchSpec proxylessnas_arch(const search_space::SearchSpace& space, double w, int r) {
  // ProxylessNAS-Mobile (proxyless_mobile.json of the MCUNet model zoo), block by block; its two zero
  // blocks in the first stage make that stage's depth 2.
  return from_stages(space, "ProxylessNAS", w, r,
                     {{{5, 3}, {3, 3}},
                      {{7, 3}, {3, 3}, {5, 3}, {5, 3}},
                      {{7, 6}, {5, 3}, {5, 3}, {5, 3}},
                      {{5, 6}, {5, 3}, {5, 3}, {5, 3}},
                      {{7, 6}, {7, 6}, {7, 3}, {7, 3}}},
                     {7, 6});
}

std::optional<Baseline> scale_to_fit(const std::string& name, const std::function<search_space::ArchSpec(double, int)>& make,
                                     const std::vector<double>& widths, const std::vector<int>& resolutions,
                                     const evaluator::Budget& limits,
                                     const std::function<evaluator::CandidateCosts(const search_space::ArchSpec&)>& costs) {
  std::vector<double> ws = widths;
  std::vector<int> rs = resolutions;
  std::sort(ws.rbegin(), ws.rend());
  std::sort(rs.rbegin(), rs.rend());
  for (const double w : ws)
    for (const int r : rs) {
      const search_space::ArchSpec a = make(w, r);
      if (limits.admits(costs(a))) return Baseline{name, a};
    }
  return std::nullopt;
}

}  // namespace tinynas::nas
