#include "tinynas/search_space/space_yaml.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>

#include "tinynas/core/errors.h"
#include "tinynas/search_space/yaml_fields.h"

namespace tinynas::search_space {

namespace fs = std::filesystem;
using namespace yaml_fields;

namespace {

SearchSpace space_from_node(const YAML::Node& n, const std::string& path) {
  check_keys(n, path,
             {"name", "description", "base_widths", "stage_strides", "kernel_choices", "expand_choices", "depth_choices",
              "width_choices", "resolution_choices", "in_channels", "input_width", "frontend", "num_classes", "feature_mix_channels",
              "stage_choices"});
  SearchSpace s;
  s.name = n["name"] ? get<std::string>(n, "name", path) : fs::path(path).stem().string();
  // The name goes into reports and file names. An empty one (`name:`) would be written back as "null",
  // and a control character raw (found by fuzzing: `name: \r` did not read back as itself).
  if (n["name"] && (n["name"].IsNull() || s.name.empty() ||
                    std::any_of(s.name.begin(), s.name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })))
    throw core::InputError(path + ": name must be a non-empty line of printable text");
  if (n["base_widths"]) s.base_widths = get<std::vector<int>>(n, "base_widths", path);
  if (n["stage_strides"]) s.stage_strides = get<std::vector<int>>(n, "stage_strides", path);
  if (n["kernel_choices"]) s.kernel_choices = get_choices<int>(n, "kernel_choices", path);
  if (n["expand_choices"]) s.expand_choices = get_choices<int>(n, "expand_choices", path);
  if (n["depth_choices"]) s.depth_choices = get_choices<int>(n, "depth_choices", path);
  if (n["width_choices"]) s.width_choices = get_choices<double>(n, "width_choices", path);
  if (n["resolution_choices"]) s.resolution_choices = get_choices<int>(n, "resolution_choices", path);
  if (n["in_channels"]) s.in_channels = get<int>(n, "in_channels", path);
  if (n["input_width"]) s.input_width = get<int>(n, "input_width", path);
  if (n["frontend"]) s.frontend = get<std::string>(n, "frontend", path);
  if (n["num_classes"]) s.num_classes = get<int>(n, "num_classes", path);
  if (n["feature_mix_channels"]) s.feature_mix_channels = get<int>(n, "feature_mix_channels", path);
  if (n["stage_choices"]) {
    if (!n["stage_choices"].IsSequence())
      throw core::InputError(path + ": stage_choices must be a list of {kernels, depths}, one per stage from the first");
    for (size_t i = 0; i < n["stage_choices"].size(); ++i) {
      const YAML::Node c = n["stage_choices"][i];
      const std::string at = path + ": stage_choices[" + std::to_string(i) + "]";
      StageChoices choices;
      if (!c.IsNull()) {  // `- ~` or `- {}` leaves a stage unrestricted
        if (!c.IsMap()) throw core::InputError(at + ": expected a mapping {kernels, depths}");
        check_keys(c, at, {"kernels", "depths"});
        if (c["kernels"]) choices.kernels = get_choices<int>(c, "kernels", at);
        if (c["depths"]) choices.depths = get_choices<int>(c, "depths", at);
      }
      s.stage_choices.push_back(std::move(choices));
    }
  }
  try {
    s.validate();
  } catch (const core::InputError& e) {
    throw core::InputError(path + ": " + e.what());
  }
  return s;
}

}  // namespace

SearchSpace load_space(const std::string& path) { return space_from_node(load_yaml(path), path); }

SearchSpace space_from_yaml(const std::string& text, const std::string& origin) {
  return space_from_node(parse_yaml(text, origin), origin);
}

std::string space_to_yaml(const SearchSpace& s) {
  YAML::Emitter out;
  out.SetDoublePrecision(15);  // 0.9, not 0.90000000000000002
  auto flow = [&](const char* key, const auto& v) {
    out << YAML::Key << key << YAML::Value << YAML::Flow << v;
  };
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << s.name;
  flow("base_widths", s.base_widths);
  flow("stage_strides", s.stage_strides);
  flow("kernel_choices", s.kernel_choices);
  flow("expand_choices", s.expand_choices);
  flow("depth_choices", s.depth_choices);
  flow("width_choices", s.width_choices);
  flow("resolution_choices", s.resolution_choices);
  out << YAML::Key << "in_channels" << YAML::Value << s.in_channels;
  if (s.input_width > 0) out << YAML::Key << "input_width" << YAML::Value << s.input_width;
  if (!s.frontend.empty()) out << YAML::Key << "frontend" << YAML::Value << s.frontend;
  out << YAML::Key << "num_classes" << YAML::Value << s.num_classes;
  out << YAML::Key << "feature_mix_channels" << YAML::Value << s.feature_mix_channels;
  if (!s.stage_choices.empty()) {
    out << YAML::Key << "stage_choices" << YAML::Value << YAML::BeginSeq;
    for (const StageChoices& c : s.stage_choices) {
      out << YAML::Flow << YAML::BeginMap;
      if (!c.kernels.empty()) out << YAML::Key << "kernels" << YAML::Value << YAML::Flow << c.kernels;
      if (!c.depths.empty()) out << YAML::Key << "depths" << YAML::Value << YAML::Flow << c.depths;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace tinynas::search_space
