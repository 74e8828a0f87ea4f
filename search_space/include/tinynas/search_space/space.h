#pragma once
// The MCUNet search space (MobileNetV2 / ProxylessNAS backbone) and its once-for-all style arch
// encoding {r, w, ks[], e[], d[]}.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tinynas/search_space/network.h"
#include "tinynas/core/rng.h"

namespace tinynas::search_space {

// One point of the search space. Blocks are numbered stage by stage, max_depth slots per
// searchable stage, then one slot for the fixed one-block last stage: ks and e have
// num_stages * max_depth + 1 entries, d has num_stages. Slots past a stage's depth are inactive.
struct ArchSpec {
  int r = 0;       // input resolution
  double w = 0.0;  // width multiplier
  std::vector<int> ks;
  std::vector<int> e;
  std::vector<int> d;

  bool operator==(const ArchSpec& o) const {
    return r == o.r && w == o.w && ks == o.ks && e == o.e && d == o.d;
  }
};

// make_divisible(v, 8) of MobileNetV2: v rounded to the nearest multiple of `divisor`, bumped by
// one divisor if that falls below 0.9 v, and never below `divisor`.
int make_divisible(double v, int divisor = 8);

// A searchable stage's own kernel sizes and depths, each a subset of the space's sets (empty: the
// space's set). This is MCUNetV2's receptive-field redistribution: the first stages, which patch-based
// inference runs patch by patch, may be kept shallow with small kernels, so that each patch's halo (and
// the MACs recomputed in it) stays small, while the later stages keep the deep, wide-kernel choices.
// The supernet's layers are those of the space's sets: a restriction changes what is sampled and
// searched, not the weights, so one supernet serves any restriction of its space.
struct StageChoices {
  std::vector<int> kernels;
  std::vector<int> depths;

  bool operator==(const StageChoices& o) const { return kernels == o.kernels && depths == o.depths; }
};

struct SearchSpace {
  std::string name = "mcunet";
  // Base widths: stem, first block, the searchable stages, the last stage.
  std::vector<int> base_widths{32, 16, 24, 40, 80, 96, 192, 320};
  // Strides of the searchable stages, then of the last stage.
  std::vector<int> stage_strides{2, 2, 2, 1, 2, 1};
  std::vector<int> kernel_choices{3, 5, 7};
  std::vector<int> expand_choices{3, 4, 6};
  std::vector<int> depth_choices{2, 3, 4};
  std::vector<double> width_choices{0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
  std::vector<int> resolution_choices{48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224};
  int in_channels = 3;
  // The input's width when it is fixed and not the resolution (audio: the front-end's coefficients, the
  // resolution being its frames); 0 = square inputs of the resolution.
  int input_width = 0;
  // The front-end computing the input on the MCU (NetworkDesc::frontend): "" or "mfcc".
  std::string frontend;
  int num_classes = 1000;
  int feature_mix_channels = 0;  // base width of an optional feature-mix conv (0 = none), times w
  // Entry s restricts searchable stage s; stages past the list's end are not restricted.
  std::vector<StageChoices> stage_choices;

  int num_stages() const { return int(stage_strides.size()) - 1; }
  // The kernel sizes / depths stage `s` may take (s = num_stages(): the last block, never restricted).
  const std::vector<int>& kernels_of(int s) const;
  const std::vector<int>& depths_of(int s) const;
  int max_depth() const;
  int num_block_slots() const { return num_stages() * max_depth() + 1; }
  // Channels of stage `i` (0 = stem, 1 = first block, 2.. = searchable stages, last = last stage).
  int width(double w, int i) const { return make_divisible(base_widths.at(size_t(i)) * w, 8); }

  // Throws InputError when the space itself is inconsistent.
  void validate() const;
  // Throws InputError naming the field when `arch` does not belong to this space.
  void validate(const ArchSpec& arch) const;

  ArchSpec sample(core::Rng& rng) const;                  // uniform over every choice, r and w included
  ArchSpec sample(core::Rng& rng, double w, int r) const;  // uniform with r and w fixed
  // Re-samples each choice with probability p (r and w only if `mutate_rw`), as in MCUNet/OFA.
  ArchSpec mutate(const ArchSpec& arch, double p, core::Rng& rng, bool mutate_rw = false) const;
  // Takes each choice from one parent or the other with equal probability.
  ArchSpec crossover(const ArchSpec& a, const ArchSpec& b, core::Rng& rng) const;
  // Inactive slots set to the space's first choices (whatever their stage's restriction), so that equal
  // networks have equal encodings, in a space and in any restriction of it.
  ArchSpec normalized(const ArchSpec& arch) const;
  // The largest / smallest subnet for a given w and r.
  ArchSpec largest(double w, int r) const;
  ArchSpec smallest(double w, int r) const;

  // The network an arch describes (validates it first).
  NetworkDesc describe(const ArchSpec& arch) const;
  // Fills `out` in place; no validation, reuses the block vector (the stage-1 hot path).
  void describe_into(const ArchSpec& arch, NetworkDesc& out) const;
};

// Canonical JSON of the normalized arch: keys sorted, no spaces. The one arch key of the project.
std::string arch_key(const SearchSpace& space, const ArchSpec& arch);
std::string to_json(const ArchSpec& arch, int indent = -1);
ArchSpec arch_from_json(const std::string& text);  // throws core::InputError
ArchSpec load_arch(const std::string& path);       // throws core::InputError naming the path
void save_arch(const std::string& path, const ArchSpec& arch);  // atomic (temp file + rename)

// The space with every stage's sets cut down to those `restriction` allows as well (the search over a
// restriction of a supernet's space). Throws InputError when a stage would have no choice left.
SearchSpace restricted(const SearchSpace& space, const std::vector<StageChoices>& restriction);

// A space as JSON (the space a supernet file or training checkpoint was built for).
nlohmann::json space_to_json(const SearchSpace& space);
SearchSpace space_from_json(const nlohmann::json& j);  // throws core::InputError

}  // namespace tinynas::search_space
