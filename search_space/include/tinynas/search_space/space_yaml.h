#pragma once
// A search space as YAML: configs/spaces/*.yaml, and the chosen space stage 1 writes.
#include <string>

#include "tinynas/search_space/space.h"

namespace tinynas::search_space {

// Reads and validates a space; InputError naming the file and the key for anything wrong.
SearchSpace load_space(const std::string& path);
// The same for YAML text; `origin` names it in errors and, without a name key, names the space.
SearchSpace space_from_yaml(const std::string& text, const std::string& origin);
// The space as YAML, in the same format load_space reads.
std::string space_to_yaml(const SearchSpace& space);

}  // namespace tinynas::search_space
