#include "tinynas/search_space/yaml_fields.h"

#include <filesystem>
#include <set>

#include "tinynas/core/files.h"
#include "tinynas/core/units.h"

namespace tinynas::search_space::yaml_fields {

namespace fs = std::filesystem;

namespace {

template <typename Load>
YAML::Node mapping(Load&& load, const std::string& origin) {
  try {
    YAML::Node n = load();
    if (!n.IsMap()) throw core::InputError(origin + ": the top level must be a mapping of keys to values");
    return n;
  } catch (const YAML::Exception& e) {
    throw core::InputError(origin + ": YAML error: " + e.what());
  }
}

}  // namespace

YAML::Node load_yaml(const std::string& path) {
  if (!core::is_file(path)) throw core::InputError("config file '" + path + "' does not exist");
  return mapping([&] { return YAML::LoadFile(path); }, path);
}

YAML::Node parse_yaml(const std::string& text, const std::string& origin) {
  return mapping([&] { return YAML::Load(text); }, origin);
}

void check_keys(const YAML::Node& n, const std::string& where, std::initializer_list<const char*> allowed) {
  const std::set<std::string> ok(allowed.begin(), allowed.end());
  std::set<std::string> seen;
  for (const auto& kv : n) {
    // A list or mapping as a key (`? [a, b]: 1`) is no name.
    if (!kv.first.IsScalar()) throw core::InputError(where + ": keys must be plain names, not lists or mappings");
    const std::string key = kv.first.Scalar();
    // yaml-cpp keeps both of two equal keys and reads the first: a later value would be ignored unseen.
    if (!seen.insert(key).second) throw core::InputError(where + ": the key '" + key + "' appears twice");
    if (!ok.count(key)) {
      std::string list;
      for (const auto& k : ok) list += (list.empty() ? "" : ", ") + k;
      throw core::InputError(where + ": unknown key '" + key + "' (known: " + list + ")");
    }
  }
}

int64_t get_size(const YAML::Node& n, const char* key, const std::string& where) {
  return core::parse_size(get<std::string>(n, key, where), where + ": " + key);
}

}  // namespace tinynas::search_space::yaml_fields
