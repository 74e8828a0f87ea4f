#pragma once
// `tinynas profile`: the per-layer table of a network (shapes, MACs, params, live bytes, arena
// offsets, scratch) and its totals next to the layer-wise baseline and published TinyEngine figures.
#include <nlohmann/json.hpp>
#include <string>

#include "tinynas/engine/mcu.h"
#include "tinynas/search_space/network.h"

namespace tinynas::nas {

struct ProfileOptions {
  // "" profiles the layer-wise schedule alone; "auto" or "n@s" (engine/patch.h) adds a patch schedule
  // beside it: auto picks the smallest arena, then the fewest extra MACs.
  std::string patch;
  double max_extra_macs_percent = -1;  // auto: the most extra MACs (% of the network's) a schedule may cost; < 0: any
};

// Throws InputError for a patch schedule the network cannot run.
nlohmann::ordered_json profile_json(const search_space::NetworkDesc& net, const engine::McuProfile& mcu, const std::string& source,
                                    const ProfileOptions& options = {});
std::string profile_text(const nlohmann::ordered_json& profile);

}  // namespace tinynas::nas
