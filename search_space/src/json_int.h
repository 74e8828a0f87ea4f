#pragma once
// Integers read from JSON: nlohmann's get<int>() wraps 2^32 + x to x, so every integer a file gives is
// range-checked first.
#include <climits>
#include <nlohmann/json.hpp>
#include <string>

#include "tinynas/core/errors.h"

namespace tinynas::search_space {

// v as an int; InputError naming `what` when v is not an integer or an int cannot hold it.
inline int json_int(const nlohmann::json& v, const std::string& what) {
  if (!v.is_number_integer()) throw core::InputError(what + " must be an integer, got " + v.dump());
  if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(INT_MAX)
                             : v.get<int64_t>() < INT_MIN || v.get<int64_t>() > INT_MAX)
    throw core::InputError(what + " is out of range: " + v.dump());
  return v.get<int>();
}

}  // namespace tinynas::search_space
