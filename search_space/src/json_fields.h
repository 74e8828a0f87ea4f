#pragma once
// Reading the JSON files users give (arch and model-zoo files) strictly: the parse refuses what
// nlohmann would accept silently, and integers are range-checked (get<int>() wraps 2^32 + x to x).
#include <climits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tinynas/core/errors.h"

namespace tinynas::search_space {

// The JSON in `text`; InputError naming `origin` for a syntax error, a number no double holds (1e400)
// or a key given twice in one object (nlohmann would keep the last one unseen).
inline nlohmann::json parse_json_strictly(const std::string& text, const std::string& origin) {
  std::vector<std::set<std::string>> keys;  // of every object being parsed, innermost last
  std::string duplicate;
  const auto on_event = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) keys.emplace_back();
    else if (event == Event::object_end && !keys.empty()) keys.pop_back();
    else if (event == Event::key && !keys.back().insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, on_event);
  } catch (const nlohmann::json::exception& e) {
    throw core::InputError(origin + ": not valid JSON: " + e.what());
  }
  if (!duplicate.empty()) throw core::InputError(origin + ": the key '" + duplicate + "' appears twice");
  return j;
}

// v as an int; InputError naming `what` when v is not an integer or an int cannot hold it.
inline int json_int(const nlohmann::json& v, const std::string& what) {
  if (!v.is_number_integer()) throw core::InputError(what + " must be an integer, got " + v.dump());
  if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(INT_MAX)
                             : v.get<int64_t>() < INT_MIN || v.get<int64_t>() > INT_MAX)
    throw core::InputError(what + " is out of range: " + v.dump());
  return v.get<int>();
}

}  // namespace tinynas::search_space
