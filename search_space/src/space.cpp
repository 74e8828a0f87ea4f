#include "tinynas/search_space/space.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "json_fields.h"

namespace tinynas::search_space {

int make_divisible(double v, int divisor) {
  int rounded = std::max(divisor, int(v + divisor / 2.0) / divisor * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

namespace {

bool contains(const std::vector<int>& set, int v) { return std::find(set.begin(), set.end(), v) != set.end(); }

bool contains_width(const std::vector<double>& set, double w) {
  return std::any_of(set.begin(), set.end(), [&](double x) { return std::fabs(x - w) < 1e-9; });
}

std::string list_to_string(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

template <typename T>
const T& pick(const std::vector<T>& set, core::Rng& rng) {
  return set[rng.below(uint32_t(set.size()))];
}

}  // namespace

const std::vector<int>& SearchSpace::kernels_of(int s) const {
  if (s >= 0 && s < int(stage_choices.size()) && !stage_choices[size_t(s)].kernels.empty())
    return stage_choices[size_t(s)].kernels;
  return kernel_choices;
}

const std::vector<int>& SearchSpace::depths_of(int s) const {
  if (s >= 0 && s < int(stage_choices.size()) && !stage_choices[size_t(s)].depths.empty())
    return stage_choices[size_t(s)].depths;
  return depth_choices;
}

int SearchSpace::max_depth() const {
  return depth_choices.empty() ? 0 : *std::max_element(depth_choices.begin(), depth_choices.end());
}

void SearchSpace::validate() const {
  auto fail = [&](const std::string& what) { throw core::InputError("search space '" + name + "': " + what); };
  if (stage_strides.size() < 2) fail("needs at least one searchable stage and the last stage");
  if (base_widths.size() != stage_strides.size() + 2)
    fail("base_widths needs " + std::to_string(stage_strides.size() + 2) +
         " entries (stem, first block, one per stage), got " + std::to_string(base_widths.size()));
  for (int s : stage_strides)
    if (s != 1 && s != 2) fail("stage strides must be 1 or 2");
  for (int b : base_widths)
    if (b <= 0) fail("base widths must be positive");
  if (kernel_choices.empty() || expand_choices.empty() || depth_choices.empty() || width_choices.empty() ||
      resolution_choices.empty())
    fail("every choice set (kernel, expand, depth, width, resolution) needs at least one value");
  for (int k : kernel_choices)
    if (k <= 0 || k % 2 == 0) fail("kernel choices must be odd positive sizes, got " + std::to_string(k));
  for (int e : expand_choices)
    if (e < 1) fail("expand choices must be at least 1");
  // e = 1 means a block without an expand conv: a different layer structure, which a supernet cannot
  // share weights with, so it may only be the sole choice.
  if (expand_choices.size() > 1 && std::find(expand_choices.begin(), expand_choices.end(), 1) != expand_choices.end())
    fail("expand ratio 1 (no expand conv) cannot be mixed with other expand ratios");
  for (int d : depth_choices)
    if (d < 1) fail("depth choices must be at least 1");
  for (double w : width_choices)
    if (!(w > 0.0)) fail("width choices must be positive");
  for (int r : resolution_choices)
    if (r < 8) fail("resolution choices must be at least 8, got " + std::to_string(r));
  if (in_channels != 1 && in_channels != 3) fail("input channels must be 1 or 3");
  if (input_width < 0 || input_width > 100000) fail("input width must be positive (or 0 for square inputs)");
  if (!frontend.empty() && frontend != "mfcc") fail("unknown front-end '" + frontend + "' (known: mfcc)");
  if (num_classes < 1) fail("number of classes must be positive");
  if (feature_mix_channels < 0) fail("feature-mix channels must not be negative");
  if (int(stage_choices.size()) > num_stages())
    fail("stage_choices has " + std::to_string(stage_choices.size()) + " entries but the space has " +
         std::to_string(num_stages()) + " searchable stages");
  for (size_t st = 0; st < stage_choices.size(); ++st) {
    auto subset = [&](const std::vector<int>& set, const std::vector<int>& all, const char* what) {
      for (size_t i = 0; i < set.size(); ++i) {
        if (!contains(all, set[i]))
          fail("stage " + std::to_string(st) + ": " + what + " " + std::to_string(set[i]) + " is not one of the space's " +
               list_to_string(all));
        if (std::find(set.begin(), set.begin() + long(i), set[i]) != set.begin() + long(i))
          fail("stage " + std::to_string(st) + ": " + what + " " + std::to_string(set[i]) + " is listed twice");
      }
    };
    subset(stage_choices[st].kernels, kernel_choices, "kernel size");
    subset(stage_choices[st].depths, depth_choices, "depth");
  }
}

void SearchSpace::validate(const ArchSpec& a) const {
  auto fail = [&](const std::string& what) { throw core::InputError("arch does not belong to search space '" + name + "': " + what); };
  if (!contains(resolution_choices, a.r))
    fail("resolution r=" + std::to_string(a.r) + " is not one of " + list_to_string(resolution_choices));
  if (!contains_width(width_choices, a.w)) fail("width multiplier w=" + std::to_string(a.w) + " is not a choice");
  const size_t slots = size_t(num_block_slots());
  if (a.ks.size() != slots) fail("ks needs " + std::to_string(slots) + " entries, got " + std::to_string(a.ks.size()));
  if (a.e.size() != slots) fail("e needs " + std::to_string(slots) + " entries, got " + std::to_string(a.e.size()));
  if (a.d.size() != size_t(num_stages()))
    fail("d needs " + std::to_string(num_stages()) + " entries, got " + std::to_string(a.d.size()));
  const int md = max_depth();
  for (size_t i = 0; i < slots; ++i) {
    // An active block takes its stage's kernel sizes; an inactive slot any of the space's, so that the
    // normalized arch (and its key) is the same in a space and in any restriction of it.
    const int stage = int(i) / md;
    const bool active = stage == num_stages() || int(i) % md < a.d[size_t(stage)];
    const std::vector<int>& kernels = active ? kernels_of(stage) : kernel_choices;
    if (!contains(kernels, a.ks[i]))
      fail("ks[" + std::to_string(i) + "]=" + std::to_string(a.ks[i]) + " is not one of " + list_to_string(kernels));
    if (!contains(expand_choices, a.e[i]))
      fail("e[" + std::to_string(i) + "]=" + std::to_string(a.e[i]) + " is not one of " + list_to_string(expand_choices));
  }
  for (size_t i = 0; i < a.d.size(); ++i)
    if (!contains(depths_of(int(i)), a.d[i]))
      fail("d[" + std::to_string(i) + "]=" + std::to_string(a.d[i]) + " is not one of " + list_to_string(depths_of(int(i))));
}

ArchSpec SearchSpace::sample(core::Rng& rng) const {
  const double w = pick(width_choices, rng);
  const int r = pick(resolution_choices, rng);
  return sample(rng, w, r);
}

ArchSpec SearchSpace::sample(core::Rng& rng, double w, int r) const {
  ArchSpec a;
  a.r = r;
  a.w = w;
  const int slots = num_block_slots();
  a.ks.resize(size_t(slots));
  a.e.resize(size_t(slots));
  a.d.resize(size_t(num_stages()));
  const int md = max_depth();
  for (int i = 0; i < slots; ++i) {
    a.ks[size_t(i)] = pick(kernels_of(i / md), rng);
    a.e[size_t(i)] = pick(expand_choices, rng);
  }
  for (size_t s = 0; s < a.d.size(); ++s) a.d[s] = pick(depths_of(int(s)), rng);
  return a;
}

ArchSpec SearchSpace::mutate(const ArchSpec& arch, double p, core::Rng& rng, bool mutate_rw) const {
  ArchSpec a = arch;
  if (mutate_rw) {
    if (rng.uniform() < p) a.r = pick(resolution_choices, rng);
    if (rng.uniform() < p) a.w = pick(width_choices, rng);
  }
  const int md = max_depth();
  for (size_t i = 0; i < a.ks.size(); ++i) {
    if (rng.uniform() < p) a.ks[i] = pick(kernels_of(int(i) / md), rng);
    if (rng.uniform() < p) a.e[i] = pick(expand_choices, rng);
  }
  for (size_t s = 0; s < a.d.size(); ++s)
    if (rng.uniform() < p) a.d[s] = pick(depths_of(int(s)), rng);
  return a;
}

ArchSpec SearchSpace::crossover(const ArchSpec& x, const ArchSpec& y, core::Rng& rng) const {
  ArchSpec a = x;
  if (rng.below(2)) a.r = y.r;
  if (rng.below(2)) a.w = y.w;
  for (size_t i = 0; i < a.ks.size(); ++i) {
    if (rng.below(2)) a.ks[i] = y.ks[i];
    if (rng.below(2)) a.e[i] = y.e[i];
  }
  for (size_t i = 0; i < a.d.size(); ++i)
    if (rng.below(2)) a.d[i] = y.d[i];
  return a;
}

ArchSpec SearchSpace::normalized(const ArchSpec& arch) const {
  ArchSpec a = arch;
  const int md = max_depth();
  for (int s = 0; s < num_stages(); ++s)
    for (int j = a.d[size_t(s)]; j < md; ++j) {
      a.ks[size_t(s * md + j)] = kernel_choices.front();
      a.e[size_t(s * md + j)] = expand_choices.front();
    }
  return a;
}

namespace {

// Every choice at its largest (`largest`) or smallest, stage by stage.
ArchSpec extreme(const SearchSpace& space, double w, int r, bool largest) {
  const auto choose = [largest](const std::vector<int>& set) {
    return largest ? *std::max_element(set.begin(), set.end()) : *std::min_element(set.begin(), set.end());
  };
  ArchSpec a;
  a.r = r;
  a.w = w;
  const int md = space.max_depth();
  a.ks.resize(size_t(space.num_block_slots()));
  for (size_t i = 0; i < a.ks.size(); ++i) a.ks[i] = choose(space.kernels_of(int(i) / md));
  a.e.assign(size_t(space.num_block_slots()), choose(space.expand_choices));
  a.d.resize(size_t(space.num_stages()));
  for (size_t s = 0; s < a.d.size(); ++s) a.d[s] = choose(space.depths_of(int(s)));
  return a;
}

}  // namespace

ArchSpec SearchSpace::largest(double w, int r) const { return extreme(*this, w, r, true); }

ArchSpec SearchSpace::smallest(double w, int r) const { return extreme(*this, w, r, false); }

NetworkDesc SearchSpace::describe(const ArchSpec& arch) const {
  validate(arch);
  NetworkDesc net;
  describe_into(arch, net);
  return net;
}

void SearchSpace::describe_into(const ArchSpec& a, NetworkDesc& net) const {
  const int stages = num_stages();
  const int md = max_depth();
  net.resolution = a.r;
  net.input_width = input_width;
  net.frontend = frontend;
  net.in_channels = in_channels;
  net.stem_out = width(a.w, 0);
  net.stem_kernel = 3;
  net.stem_stride = 2;
  net.num_classes = num_classes;
  net.feature_mix_out = feature_mix_channels > 0 ? make_divisible(feature_mix_channels * a.w, 8) : 0;
  net.blocks.clear();
  auto add_block = [&](int in, int out, int k, int e, int stride) {
    BlockDesc b;
    b.in_ch = in;
    b.out_ch = out;
    b.has_expand = e != 1;
    b.mid_ch = b.has_expand ? make_divisible(std::round(double(in) * e), 8) : in;
    b.kernel = k;
    b.stride = stride;
    b.residual = stride == 1 && in == out;
    net.blocks.push_back(b);
  };
  // The first block (expand ratio 1, 3x3) has no shortcut, as in ProxylessNAS/once-for-all.
  const int first = width(a.w, 1);
  add_block(net.stem_out, first, 3, 1, 1);
  net.blocks.back().residual = false;
  int ch = first;
  for (int s = 0; s < stages; ++s) {
    const int out = width(a.w, s + 2);
    for (int j = 0; j < a.d[size_t(s)]; ++j) {
      const size_t slot = size_t(s * md + j);
      add_block(ch, out, a.ks[slot], a.e[slot], j == 0 ? stage_strides[size_t(s)] : 1);
      ch = out;
    }
  }
  const size_t last = size_t(stages * md);
  add_block(ch, width(a.w, stages + 2), a.ks[last], a.e[last], stage_strides.back());
}

std::string to_json(const ArchSpec& a, int indent) {
  nlohmann::ordered_json j;
  // Keys in sorted order, so the compact dump is canonical.
  j["d"] = a.d;
  j["e"] = a.e;
  j["ks"] = a.ks;
  j["r"] = a.r;
  j["w"] = a.w;
  return j.dump(indent);
}

std::string arch_key(const SearchSpace& space, const ArchSpec& arch) { return to_json(space.normalized(arch)); }

ArchSpec arch_from_json(const std::string& text) {
  const nlohmann::json j = parse_json_strictly(text, "arch JSON");
  if (!j.is_object()) throw core::InputError("arch JSON must be an object with keys r, w, ks, e, d");
  for (const auto& [key, value] : j.items())
    if (key != "r" && key != "w" && key != "ks" && key != "e" && key != "d")
      throw core::InputError("arch JSON: unknown key '" + key + "' (an arch has r, w, ks, e and d)");
  ArchSpec a;
  try {
    for (const char* key : {"r", "w", "ks", "e", "d"})
      if (!j.contains(key)) throw core::InputError(std::string("arch JSON lacks the key '") + key + "'");
    // nlohmann converts 96.5 and true to int silently: check the JSON types first.
    auto integer = [](const nlohmann::json& v, const std::string& key) {
      if (!v.is_number_integer()) throw core::InputError("arch JSON: '" + key + "' must hold integers, got " + v.dump());
      return json_int(v, "arch JSON: '" + key + "'");
    };
    auto integers = [&](const char* key) {
      const nlohmann::json& v = j.at(key);
      if (!v.is_array()) throw core::InputError(std::string("arch JSON: '") + key + "' must be a list of integers");
      std::vector<int> out;
      for (const auto& x : v) out.push_back(integer(x, key));
      return out;
    };
    a.r = integer(j.at("r"), "r");
    if (!j.at("w").is_number()) throw core::InputError("arch JSON: 'w' must be a number, got " + j.at("w").dump());
    a.w = j.at("w").get<double>();
    a.ks = integers("ks");
    a.e = integers("e");
    a.d = integers("d");
  } catch (const nlohmann::json::exception& e) {
    throw core::InputError(std::string("arch JSON has a value of the wrong type: ") + e.what());
  }
  return a;
}

nlohmann::json space_to_json(const SearchSpace& s) {
  nlohmann::json j;
  j["name"] = s.name;
  j["base_widths"] = s.base_widths;
  j["stage_strides"] = s.stage_strides;
  j["kernel_choices"] = s.kernel_choices;
  j["expand_choices"] = s.expand_choices;
  j["depth_choices"] = s.depth_choices;
  j["width_choices"] = s.width_choices;
  j["resolution_choices"] = s.resolution_choices;
  j["in_channels"] = s.in_channels;
  if (s.input_width > 0) j["input_width"] = s.input_width;
  if (!s.frontend.empty()) j["frontend"] = s.frontend;
  j["num_classes"] = s.num_classes;
  j["feature_mix_channels"] = s.feature_mix_channels;
  if (!s.stage_choices.empty()) {
    j["stage_choices"] = nlohmann::json::array();
    for (const StageChoices& c : s.stage_choices) j["stage_choices"].push_back({{"kernels", c.kernels}, {"depths", c.depths}});
  }
  return j;
}

SearchSpace space_from_json(const nlohmann::json& j) {
  SearchSpace s;
  try {
    j.at("name").get_to(s.name);
    j.at("base_widths").get_to(s.base_widths);
    j.at("stage_strides").get_to(s.stage_strides);
    j.at("kernel_choices").get_to(s.kernel_choices);
    j.at("expand_choices").get_to(s.expand_choices);
    j.at("depth_choices").get_to(s.depth_choices);
    j.at("width_choices").get_to(s.width_choices);
    j.at("resolution_choices").get_to(s.resolution_choices);
    j.at("in_channels").get_to(s.in_channels);
    s.input_width = j.value("input_width", 0);  // absent: square inputs (files written before it existed)
    s.frontend = j.value("frontend", std::string());
    j.at("num_classes").get_to(s.num_classes);
    j.at("feature_mix_channels").get_to(s.feature_mix_channels);
    if (j.contains("stage_choices"))  // absent: no stage restricted (files written before it existed)
      for (const auto& c : j.at("stage_choices")) {
        StageChoices choices;
        c.at("kernels").get_to(choices.kernels);
        c.at("depths").get_to(choices.depths);
        s.stage_choices.push_back(std::move(choices));
      }
  } catch (const nlohmann::json::exception& e) {
    throw core::InputError(std::string("search space JSON is malformed: ") + e.what());
  }
  s.validate();
  return s;
}

SearchSpace restricted(const SearchSpace& space, const std::vector<StageChoices>& restriction) {
  SearchSpace out = space;
  if (int(restriction.size()) > space.num_stages())
    throw core::InputError("the stage restriction has " + std::to_string(restriction.size()) + " entries but the space '" +
                           space.name + "' has " + std::to_string(space.num_stages()) + " searchable stages");
  out.stage_choices.resize(std::max(space.stage_choices.size(), restriction.size()));
  const auto cut = [&](std::vector<int>& stored, const std::vector<int>& have, const std::vector<int>& allowed, size_t s,
                       const char* what) {
    if (allowed.empty()) return;  // this stage's set stays as the space has it
    std::vector<int> kept;
    for (int v : have)
      if (contains(allowed, v)) kept.push_back(v);
    if (kept.empty())
      throw core::InputError("stage " + std::to_string(s) + " of the space '" + space.name + "' has no " + what + " among " +
                             list_to_string(allowed) + " (it has " + list_to_string(have) + ")");
    stored = std::move(kept);
  };
  for (size_t s = 0; s < restriction.size(); ++s) {
    cut(out.stage_choices[s].kernels, space.kernels_of(int(s)), restriction[s].kernels, s, "kernel size");
    cut(out.stage_choices[s].depths, space.depths_of(int(s)), restriction[s].depths, s, "depth");
  }
  out.validate();
  return out;
}

ArchSpec load_arch(const std::string& path) {
  const std::string text = core::read_text_file(path);
  try {
    return arch_from_json(text);
  } catch (const core::InputError& e) {
    throw core::InputError(path + ": " + e.what());
  }
}

void save_arch(const std::string& path, const ArchSpec& arch) { core::write_file_atomic(path, to_json(arch, 2) + "\n"); }

}  // namespace tinynas::search_space
