#pragma once
// `tinynas profile`: the per-layer table of a network (shapes, MACs, params, live bytes, arena
// offsets, scratch) and its totals next to the layer-wise baseline and published TinyEngine figures.
#include <nlohmann/json.hpp>
#include <string>

#include "tinynas/engine/mcu.h"
#include "tinynas/search_space/network.h"

namespace tinynas::nas {

nlohmann::ordered_json profile_json(const search_space::NetworkDesc& net, const engine::McuProfile& mcu, const std::string& source);
std::string profile_text(const nlohmann::ordered_json& profile);

}  // namespace tinynas::nas
