#include "tinynas/nas/profile.h"

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "tinynas/engine/flash.h"
#include "tinynas/engine/patch.h"
#include "tinynas/engine/planner.h"
#include "tinynas/evaluator/budget.h"
#include "tinynas/evaluator/cost_model.h"
#include "tinynas/evaluator/latency_model.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/units.h"
#include "tinynas/nas/run_files.h"
#include "tinynas/search_space/cost.h"

namespace tinynas::nas {

namespace {

// Peak SRAM measured by TinyEngine for published MCUNet models (Lin et al., NeurIPS 2020), keyed by
// the model-zoo file name.
struct Reference {
  const char* zoo_file;
  const char* what;
  int64_t bytes;
};
constexpr Reference kTinyEngineReferences[] = {
    {"mcunet-320kb-1mb_imagenet", "TinyEngine, measured on STM32H743", 260 * 1024},
    {"mcunet-5fps_imagenet", "TinyEngine, measured", 96 * 1024},
};

std::string shape(const engine::Tensor& t) {
  return std::to_string(t.h) + "x" + std::to_string(t.w) + "x" + std::to_string(t.c);
}

int64_t op_params(const engine::Graph& g, const engine::Op& op) {
  const int64_t weights = engine::op_weight_count(g, op);
  const int64_t channels = engine::op_out_channels_with_params(g, op);
  // Convs carry a BN (2 per channel, folded at inference); the classifier carries a bias.
  return weights + (op.kind == engine::OpKind::FullyConnected ? channels : 2 * channels);
}

// The patch schedule's figures beside the layer-wise ones.
nlohmann::ordered_json patch_json(const engine::Graph& g, const engine::McuProfile& mcu, const ProfileOptions& o,
                                  int64_t network_macs, int64_t layer_wise_arena) {
  nlohmann::ordered_json p;
  engine::PatchSchedule schedule;
  if (o.patch == "auto") {
    const engine::PatchChoice choice = engine::choose_patch_schedule(
        g, o.max_extra_macs_percent < 0 ? -1.0 : o.max_extra_macs_percent / 100.0);
    schedule = choice.schedule;
    p["chosen_by"] = "auto";
    p["candidates"] = choice.candidates;
    if (o.max_extra_macs_percent >= 0) p["max_extra_macs_percent"] = o.max_extra_macs_percent;
  } else {
    schedule = engine::resolve_patch_schedule(g, o.patch);
    p["chosen_by"] = "given";
  }
  p["schedule"] = engine::to_string(schedule);
  if (schedule.layer_wise()) return p;  // auto found nothing smaller than layer by layer
  const engine::PatchStage st = engine::plan_patch_stage(g, schedule);
  const engine::MemoryPlan plan = engine::plan_memory(g, st);
  const engine::Tensor& out = g.tensors[size_t(st.output)];
  p["split_block"] = schedule.split_block;
  p["patches"] = schedule.patches;
  p["stage_ops"] = st.ops;
  p["stage_output"] = shape(out);
  p["arena_bytes"] = plan.arena_bytes;
  p["live_lower_bound_bytes"] = plan.peak_live_bytes;
  p["peak_sram_bytes"] = plan.arena_bytes + engine::kStackBoundBytes;
  p["fits_sram"] = evaluator::mcu_budget(mcu).admits_sram(p["peak_sram_bytes"].get<int64_t>());
  p["peak_reduction"] = double(layer_wise_arena) / double(plan.arena_bytes);
  p["input_patch_bytes"] = st.buffer_bytes[size_t(g.input)];
  p["macs"] = network_macs + st.extra_macs();
  p["extra_macs"] = st.extra_macs();
  p["extra_macs_percent"] = 100.0 * double(st.extra_macs()) / double(network_macs);
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (int i = 0; i < st.ops; ++i)
    layers.push_back({{"index", i},
                      {"macs", st.op_macs[size_t(i)]},
                      {"buffer_bytes", g.ops[size_t(i)].output == st.output ? st.staging_bytes
                                                                             : st.buffer_bytes[size_t(g.ops[size_t(i)].output)]},
                      {"scratch_bytes", st.scratch_bytes[size_t(i)]},
                      {"per_row", bool(st.per_row[size_t(i)])}});
  p["layers"] = layers;
  return p;
}

}  // namespace

nlohmann::ordered_json profile_json(const search_space::NetworkDesc& net, const engine::McuProfile& mcu, const std::string& source,
                                    const ProfileOptions& options) {
  const search_space::Cost cost = search_space::compute_cost(net);
  const engine::Graph g = engine::build_graph(net);
  const engine::MemoryPlan plan = engine::plan_memory(g, engine::PlanOptions{true, 4});
  const engine::MemoryPlan layerwise = engine::plan_memory(g, engine::PlanOptions{false, 4});
  const engine::FlashEstimate flash = engine::estimate_flash(g, mcu.runtime_code_bytes);

  nlohmann::ordered_json j;
  j["source"] = source;
  j["resolution"] = net.resolution;
  j["input_width"] = net.width();
  j["in_channels"] = net.in_channels;
  j["num_classes"] = net.num_classes;
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const engine::Op& op = g.ops[i];
    nlohmann::ordered_json l;
    l["index"] = i;
    l["op"] = engine::to_string(op.kind);
    l["role"] = op.role;
    l["block"] = op.block;
    l["input"] = shape(g.tensors[size_t(op.input)]);
    l["output"] = shape(g.tensors[size_t(op.output)]);
    // One number for a square window (the search space's layers), [h, w] otherwise.
    const auto pair = [](int h, int w) {
      return h == w ? nlohmann::ordered_json(h) : nlohmann::ordered_json::array({h, w});
    };
    l["kernel"] = pair(op.kernel_h, op.kernel_w);
    l["stride"] = pair(op.stride_h, op.stride_w);
    if (op.dilation_h != 1 || op.dilation_w != 1) l["dilation"] = pair(op.dilation_h, op.dilation_w);
    if (op.groups != 1) l["groups"] = op.groups;
    l["macs"] = engine::op_macs(g, op);
    l["params"] = op_params(g, op);
    l["live_bytes"] = plan.live_bytes[i];
    l["input_offset"] = plan.tensor_offset[size_t(op.input)];
    l["output_offset"] = plan.tensor_offset[size_t(op.output)];
    l["scratch_bytes"] = plan.scratch_bytes[i];
    l["scratch_offset"] = plan.scratch_bytes[i] ? nlohmann::ordered_json(plan.scratch_offset[i]) : nlohmann::ordered_json(nullptr);
    l["inplace"] = bool(plan.inplace[i]);
    layers.push_back(l);
  }
  j["layers"] = layers;
  nlohmann::ordered_json t;
  t["macs"] = cost.macs;
  t["params"] = cost.params;
  t["analytic_peak_bytes"] = cost.analytic_peak;
  t["arena_bytes"] = plan.arena_bytes;
  t["live_lower_bound_bytes"] = plan.peak_live_bytes;
  t["layerwise_arena_bytes"] = layerwise.arena_bytes;
  t["flash"] = {{"weight_bytes", flash.weight_bytes},
                {"bias_bytes", flash.bias_bytes},
                {"quant_param_bytes", flash.quant_param_bytes},
                {"frontend_bytes", flash.frontend_bytes},
                {"code_bytes", flash.code_bytes},
                {"total_bytes", flash.total()}};
  if (g.frontend != engine::Frontend::None) {
    const engine::FrontendSizes& fe = engine::frontend_sizes(g.frontend);
    t["frontend"] = {{"kind", engine::to_string(g.frontend)},
                     {"input_bytes", fe.input_bytes},
                     {"scratch_bytes", fe.scratch_bytes},
                     {"live_bytes", plan.frontend_live_bytes}};
  }
  t["peak_sram_bytes"] = plan.arena_bytes + engine::kStackBoundBytes;  // what --sram limits
  t["mcu"] = mcu.name;
  t["fits_sram"] = evaluator::mcu_budget(mcu).admits_sram(t["peak_sram_bytes"].get<int64_t>());
  t["fits_flash"] = flash.total() <= mcu.flash_bytes;
  // Latency and energy from the MCU's shipped latency model, when it has one (and power figures).
  const std::string latency_path = shipped_latency_model(mcu);
  if (core::is_file(latency_path)) {
    t["latency_model"] = latency_path;
    try {
      const evaluator::TimeCosts time = evaluator::time_costs(evaluator::load_latency_model(latency_path), mcu, g);
      t["latency_ms"] = time.latency_ms;
      if (mcu.has_power()) t["energy_uj"] = time.energy_uj;
    } catch (const core::InputError& e) {
      // A network from a file may have layers the model was never calibrated on (a 10x4 stem): the
      // other figures stand; the firmware's run on the emulator (export --run-qemu) measures it instead.
      t["latency_unavailable"] = e.what();
    }
  }
  j["totals"] = t;
  if (!options.patch.empty()) j["patch"] = patch_json(g, mcu, options, cost.macs, plan.arena_bytes);
  const std::string stem = std::filesystem::path(source).stem().string();
  for (const Reference& r : kTinyEngineReferences)
    if (stem == r.zoo_file) j["reference"] = {{"what", r.what}, {"peak_sram_bytes", r.bytes}};
  return j;
}

namespace {

std::string fixed(double v, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

std::string patch_text(const nlohmann::ordered_json& j) {
  const nlohmann::ordered_json& p = j["patch"];
  const nlohmann::ordered_json& t = j["totals"];
  std::ostringstream out;
  char line[320];
  const std::string name = p["schedule"].get<std::string>();
  const std::string how = p["chosen_by"] == "auto"
                              ? "auto: the smallest arena of " + std::to_string(p["candidates"].get<int>()) + " schedules" +
                                    (p.contains("max_extra_macs_percent")
                                         ? " within " + fixed(p["max_extra_macs_percent"].get<double>(), 1) + " % extra MACs"
                                         : std::string())
                              : std::string("given");
  if (!p.contains("arena_bytes")) {
    out << "\nPatch schedule: layer-wise (" << how << "; no patch schedule has a smaller arena)\n";
    return out.str();
  }
  out << "\nPatch schedule " << name << " (" << how << "): layers 0-" << p["stage_ops"].get<int>() - 1 << " run in "
      << p["patches"].get<int>() << "x" << p["patches"].get<int>() << " patches of their output " << p["stage_output"].get<std::string>()
      << ", the rest layer by layer\n\n";
  std::snprintf(line, sizeof line, "  %-30s %-24s %s\n", "", "layer-wise", ("patch " + name).c_str());
  out << line;
  auto row = [&](const char* what, const std::string& a, const std::string& b) {
    std::snprintf(line, sizeof line, "  %-30s %-24s %s\n", what, a.c_str(), b.c_str());
    out << line;
  };
  auto n = [](const nlohmann::ordered_json& v) { return std::to_string(v.get<int64_t>()); };
  row("planned arena (B)", n(t["arena_bytes"]),
      n(p["arena_bytes"]) + "  (" + fixed(p["peak_reduction"].get<double>(), 2) + "x smaller)");
  row("peak SRAM, arena + stack (B)", n(t["peak_sram_bytes"]), n(p["peak_sram_bytes"]));
  row("MACs", n(t["macs"]),
      n(p["macs"]) + "  (+" + fixed(p["extra_macs_percent"].get<double>(), 1) + " %: overlapping halos recomputed)");
  row("network input", "in the arena", "read patch by patch; " + n(p["input_patch_bytes"]) + " B of it in the arena");
  row(("fits " + t["mcu"].get<std::string>() + " SRAM").c_str(), t["fits_sram"].get<bool>() ? "yes" : "NO",
      p["fits_sram"].get<bool>() ? "yes" : "NO");
  std::snprintf(line, sizeof line, "\n  %3s %-17s %13s %12s %13s %9s  %s\n", "#", "op", "patch MACs", "x layer-wise",
                "patch buffer", "scratch", "calls");
  out << line;
  for (const auto& l : p["layers"]) {
    const auto& layer = j["layers"][size_t(l["index"].get<int>())];
    const double ratio = layer["macs"].get<int64_t>() ? double(l["macs"].get<int64_t>()) / double(layer["macs"].get<int64_t>()) : 1.0;
    std::snprintf(line, sizeof line, "  %3d %-17s %13lld %12s %13lld %9lld  %s\n", l["index"].get<int>(),
                  layer["op"].get<std::string>().c_str(), static_cast<long long>(l["macs"].get<int64_t>()), fixed(ratio, 2).c_str(),
                  static_cast<long long>(l["buffer_bytes"].get<int64_t>()), static_cast<long long>(l["scratch_bytes"].get<int64_t>()),
                  l["per_row"].get<bool>() ? "one per output row" : "one per patch");
    out << line;
  }
  return out.str();
}

}  // namespace

std::string profile_text(const nlohmann::ordered_json& j) {
  std::ostringstream out;
  char line[320];
  out << "Network " << j["source"].get<std::string>() << " (" << j["resolution"].get<int>() << "x"
      << j["input_width"].get<int>() << "x" << j["in_channels"].get<int>() << " -> " << j["num_classes"].get<int>()
      << " classes)\n\n";
  std::snprintf(line, sizeof line, "%3s %-17s %-12s %5s %-12s %-12s %5s %11s %9s %9s %9s %9s %16s %s\n", "#", "op",
                "role", "block", "input", "output", "k/s", "MACs", "params", "live", "in@", "out@", "scratch@", "");
  out << line;
  for (const auto& l : j["layers"]) {
    const auto text = [](const nlohmann::ordered_json& v) {
      return v.is_array() ? std::to_string(v[0].get<int>()) + "x" + std::to_string(v[1].get<int>())
                          : std::to_string(v.get<int>());
    };
    const std::string ks = text(l["kernel"]) + "/" + text(l["stride"]);
    std::string scratch = "-";
    if (l["scratch_bytes"].get<int64_t>() > 0)
      scratch = std::to_string(l["scratch_bytes"].get<int64_t>()) + "@" + std::to_string(l["scratch_offset"].get<int64_t>());
    std::snprintf(line, sizeof line, "%3d %-17s %-12s %5d %-12s %-12s %5s %11lld %9lld %9lld %9lld %9lld %16s %s\n",
                  l["index"].get<int>(), l["op"].get<std::string>().c_str(), l["role"].get<std::string>().c_str(),
                  l["block"].get<int>(), l["input"].get<std::string>().c_str(), l["output"].get<std::string>().c_str(),
                  ks.c_str(), static_cast<long long>(l["macs"].get<int64_t>()), static_cast<long long>(l["params"].get<int64_t>()),
                  static_cast<long long>(l["live_bytes"].get<int64_t>()), static_cast<long long>(l["input_offset"].get<int64_t>()),
                  static_cast<long long>(l["output_offset"].get<int64_t>()), scratch.c_str(), l["inplace"].get<bool>() ? "in-place" : "");
    out << line;
  }
  const auto& t = j["totals"];
  auto bytes = [](int64_t b) { return std::to_string(b) + " B (" + core::format_size(b) + ")"; };
  out << "\nMACs                       " << t["macs"].get<int64_t>() << " (" << t["macs"].get<int64_t>() / 1e6 << "M)\n"
      << "params                     " << t["params"].get<int64_t>() << " (" << t["params"].get<int64_t>() / 1e6 << "M)\n"
      << "analytic peak activation   " << bytes(t["analytic_peak_bytes"]) << "\n"
      << "planned arena (in-place)   " << bytes(t["arena_bytes"]) << "   lower bound " << bytes(t["live_lower_bound_bytes"]) << "\n"
      << "layer-wise arena (TFLM)    " << bytes(t["layerwise_arena_bytes"]) << "\n"
      << "peak SRAM (arena + stack)  " << bytes(t["peak_sram_bytes"]) << "\n";
  if (t.contains("frontend"))
    out << std::string("front-end step (") + t["frontend"]["kind"].get<std::string>() + ")      input "
        << t["frontend"]["input_bytes"].get<int64_t>() << " + scratch " << t["frontend"]["scratch_bytes"].get<int64_t>()
        << " + features: " << bytes(t["frontend"]["live_bytes"]) << " live before layer 0\n";
  if (j.contains("reference"))
    out << "reference peak SRAM        " << bytes(j["reference"]["peak_sram_bytes"]) << "  ("
        << j["reference"]["what"].get<std::string>() << ")\n";
  const auto& f = t["flash"];
  out << "Flash estimate             " << bytes(f["total_bytes"]) << " = weights " << f["weight_bytes"].get<int64_t>()
      << " + bias " << f["bias_bytes"].get<int64_t>() << " + requant params " << f["quant_param_bytes"].get<int64_t>()
      << (f["frontend_bytes"].get<int64_t>() ? " + front-end tables " + std::to_string(f["frontend_bytes"].get<int64_t>()) : "")
      << " + runtime code " << f["code_bytes"].get<int64_t>() << "\n"
      << "fits " << t["mcu"].get<std::string>() << "             SRAM " << (t["fits_sram"].get<bool>() ? "yes" : "NO")
      << ", Flash " << (t["fits_flash"].get<bool>() ? "yes" : "NO") << "\n";
  if (t.contains("latency_ms")) {
    std::snprintf(line, sizeof line, "latency (model)            %.3f ms", t["latency_ms"].get<double>());
    out << line;
    if (t.contains("energy_uj")) out << ", energy " << core::format_energy_uj(t["energy_uj"].get<double>());
    out << "  (" << t["latency_model"].get<std::string>() << ")\n";
  } else if (t.contains("latency_unavailable")) {
    out << "latency (model)            not modelled: " << t["latency_unavailable"].get<std::string>() << "\n";
  }
  if (j.contains("patch")) out << patch_text(j);
  return out.str();
}

}  // namespace tinynas::nas
