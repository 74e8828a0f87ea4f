#pragma once
// Reading YAML configs with clear errors: every message names the file and the key. Shared by the
// search space's own YAML (space_yaml.h) and the experiment configs (nas/config.h).
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "tinynas/core/errors.h"

namespace tinynas::search_space::yaml_fields {

// The file's top-level mapping; InputError for a missing file, a YAML error or another top level.
YAML::Node load_yaml(const std::string& path);
// InputError naming the first key of `n` that is not in `allowed`, with the allowed ones.
void check_keys(const YAML::Node& n, const std::string& where, std::initializer_list<const char*> allowed);
// A size ("320K", "1M") as bytes.
int64_t get_size(const YAML::Node& n, const char* key, const std::string& where);

template <typename T>
T get(const YAML::Node& n, const char* key, const std::string& where) {
  try {
    return n[key].as<T>();
  } catch (const YAML::Exception&) {
    throw core::InputError(where + ": '" + key + "' has a value of the wrong type");
  }
}

// A list of numbers, or a range {from, to, step} with `to` included.
template <typename T>
std::vector<T> get_choices(const YAML::Node& n, const char* key, const std::string& where) {
  const YAML::Node v = n[key];
  const std::string at = where + ": " + key;
  try {
    if (v.IsSequence()) return v.as<std::vector<T>>();
    if (v.IsMap()) {
      check_keys(v, at, {"from", "to", "step"});
      const double from = v["from"].as<double>(), to = v["to"].as<double>(), step = v["step"].as<double>();
      if (!(step > 0) || to < from) throw core::InputError(at + ": a range needs step > 0 and to >= from");
      std::vector<T> out;
      // Rounded to 1e-6 so that 0.2 + 3 * 0.1 is 0.5, not 0.5000000000000001.
      for (int i = 0;; ++i) {
        const double x = std::round((from + i * step) * 1e6) / 1e6;
        if (x > to + 1e-9) break;
        out.push_back(T(x));
      }
      return out;
    }
  } catch (const YAML::Exception&) {
  }
  throw core::InputError(at + ": expected a list of numbers or a range {from, to, step}");
}

}  // namespace tinynas::search_space::yaml_fields
