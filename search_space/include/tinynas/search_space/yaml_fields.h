#pragma once
// Reading YAML configs with clear errors: every message names the file and the key. Shared by the
// search space's own YAML (space_yaml.h) and the experiment configs (nas/config.h).
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "tinynas/core/errors.h"

namespace tinynas::search_space::yaml_fields {

// The file's top-level mapping; InputError for a missing file, a YAML error or another top level.
YAML::Node load_yaml(const std::string& path);
// The same for YAML text; `origin` names it in errors.
YAML::Node parse_yaml(const std::string& text, const std::string& origin);
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

// The most choices a list or range may hold: a search space has a handful per field, and a range
// with a tiny step must fail at once rather than fill the memory.
constexpr int64_t kMaxChoices = 10000;

// x as a T, or an InputError naming `at` when it is not finite, T cannot hold it or T is an integer
// type and x a fraction.
template <typename T>
T checked_choice(double x, const std::string& at) {
  if (!std::isfinite(x)) throw core::InputError(at + ": choices must be finite numbers");
  if (x < double(std::numeric_limits<T>::lowest()) || x > double(std::numeric_limits<T>::max()))
    throw core::InputError(at + ": the choice " + std::to_string(x) + " is out of range");
  if (std::is_integral<T>::value && x != std::floor(x))
    throw core::InputError(at + ": the choice " + std::to_string(x) + " is not a whole number");
  return T(x);
}

// A list of numbers, or a range {from, to, step} with `to` included; at most kMaxChoices values.
template <typename T>
std::vector<T> get_choices(const YAML::Node& n, const char* key, const std::string& where) {
  const YAML::Node v = n[key];
  const std::string at = where + ": " + key;
  std::vector<double> values;
  try {
    if (v.IsSequence()) {
      if (int64_t(v.size()) > kMaxChoices)
        throw core::InputError(at + ": more than " + std::to_string(kMaxChoices) + " choices");
      values = v.as<std::vector<double>>();
      // A list of integers must not hold fractions (yaml-cpp would have refused them as ints).
      if (std::is_integral<T>::value) v.as<std::vector<T>>();
    } else if (v.IsMap()) {
      check_keys(v, at, {"from", "to", "step"});
      const double from = v["from"].as<double>(), to = v["to"].as<double>(), step = v["step"].as<double>();
      if (!std::isfinite(from) || !std::isfinite(to) || !std::isfinite(step))
        throw core::InputError(at + ": a range needs finite from, to and step");
      // Values are rounded to 1e-6, so a smaller step would repeat them.
      if (!(step >= 1e-6) || to < from) throw core::InputError(at + ": a range needs step >= 1e-6 and to >= from");
      if ((to - from) / step >= double(kMaxChoices))
        throw core::InputError(at + ": the range holds more than " + std::to_string(kMaxChoices) + " choices");
      // Rounded to 1e-6 so that 0.2 + 3 * 0.1 is 0.5, not 0.5000000000000001.
      for (int i = 0;; ++i) {
        const double x = std::round((from + i * step) * 1e6) / 1e6;
        if (x > to + 1e-9) break;
        values.push_back(x);
      }
    }
  } catch (const YAML::Exception&) {
    values.clear();
  }
  if (values.empty() && !(v.IsSequence() && v.size() == 0))
    throw core::InputError(at + ": expected a list of numbers or a range {from, to, step}");
  std::vector<T> out;
  out.reserve(values.size());
  for (double x : values) out.push_back(checked_choice<T>(x, at));
  return out;
}

}  // namespace tinynas::search_space::yaml_fields
