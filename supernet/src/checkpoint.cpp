#include "tinynas/supernet/checkpoint.h"

#include <spdlog/spdlog.h>
#include <zip.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/search_space/zoo_json.h"

namespace tinynas::supernet {

namespace fs = std::filesystem;

void save_archive_atomic(torch::serialize::OutputArchive& archive, const std::string& path) {
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  // Serialized in memory, then written by core::write_file_atomic: LibTorch's own file writer aborts the
  // process when the disk fills (its destructor throws while the first error unwinds).
  std::string bytes;
  try {
    archive.save_to([&bytes](const void* data, size_t size) {
      bytes.append(static_cast<const char*>(data), size);
      return size;
    });
  } catch (const c10::Error& e) {
    throw core::RuntimeFailure("cannot serialize '" + path + "': " + e.what_without_backtrace());
  }
  core::write_file_atomic(path, bytes);
}

namespace {

// Reads every entry of the zip archive in `bytes`, which checks each against the CRC-32 its header
// stores (LibTorch's reader does not): a file whose tensor bytes were altered is refused, not loaded.
void verify_zip_checksums(const std::string& bytes, const std::string& path) {
  const auto fail = [&](const std::string& why) {
    throw core::InputError("'" + path + "' is corrupt (" + why + "); it cannot be loaded");
  };
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (!source) fail(zip_error_strerror(&error));
  zip_t* archive = zip_open_from_source(source, ZIP_RDONLY, &error);
  if (!archive) {
    zip_source_free(source);
    const std::string why = zip_error_strerror(&error);
    zip_error_fini(&error);
    fail("not a zip archive: " + why);
  }
  std::string problem;
  std::vector<char> buffer(1 << 16);
  const zip_int64_t entries = zip_get_num_entries(archive, 0);
  for (zip_int64_t i = 0; i < entries && problem.empty(); ++i) {
    zip_file_t* entry = zip_fopen_index(archive, zip_uint64_t(i), 0);
    if (!entry) {
      problem = zip_strerror(archive);
      break;
    }
    zip_int64_t n = 0;
    while ((n = zip_fread(entry, buffer.data(), buffer.size())) > 0) {
    }
    if (n < 0) problem = std::string(zip_get_name(archive, zip_uint64_t(i), 0)) + ": " + zip_file_strerror(entry);
    zip_fclose(entry);
  }
  zip_discard(archive);
  zip_error_fini(&error);
  if (!problem.empty()) fail(problem);
}

// The key under which LibTorch's optimizers keep a parameter's state.
std::string state_key(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }

}  // namespace

// SGD's state by parameter position (group by group): the momentum buffers, and which parameters have
// a gradient tensor. LibTorch's SGD skips a parameter whose gradient is undefined but keeps applying
// momentum to one whose gradient was zeroed (a parameter no subnet of the step used), so a resumed run
// must restore both to continue exactly.
torch::serialize::OutputArchive momentum_archive(torch::optim::SGD& opt) {
  torch::serialize::OutputArchive out;
  int64_t i = 0;
  std::vector<uint8_t> has_grad;
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) {
      has_grad.push_back(p.grad().defined());
      const auto it = opt.state().find(state_key(p));
      if (it != opt.state().end())
        out.write(std::to_string(i), static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer());
      ++i;
    }
  out.write("has_grad", torch::tensor(std::vector<int64_t>(has_grad.begin(), has_grad.end()), torch::kInt64));
  return out;
}

void load_momentum(torch::optim::SGD& opt, torch::serialize::InputArchive& in) {
  torch::Tensor has_grad;
  in.read("has_grad", has_grad);
  int64_t i = 0;
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) {
      torch::Tensor buf;
      if (in.try_read(std::to_string(i), buf)) {
        if (!buf.sizes().equals(p.sizes())) throw core::InputError("checkpoint momentum does not match the parameters");
        auto state = std::make_unique<torch::optim::SGDParamState>();
        state->momentum_buffer(buf);
        opt.state()[state_key(p)] = std::move(state);
      }
      if (i < has_grad.numel() && has_grad[i].item<int64_t>()) p.mutable_grad() = torch::zeros_like(p);
      ++i;
    }
}

void load_archive(torch::serialize::InputArchive& archive, const std::string& path) {
  if (!core::is_file(path)) throw core::InputError("'" + path + "' does not exist or is not a file");
  const std::string bytes = core::read_text_file(path);
  verify_zip_checksums(bytes, path);
  // Records with valid checksums can still hold what LibTorch's reader refuses: besides c10::Error it
  // throws torch::jit::ErrorReport (a malformed type in the pickled data) and bad_alloc (an absurd size).
  const auto refuse = [&](std::string why) {
    for (char& c : why)
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (why.size() > 300) why = why.substr(0, 300) + "...";
    throw core::InputError("'" + path + "' is not a readable tinynas file (corrupt or truncated?): " + why);
  };
  try {
    archive.load_from(bytes.data(), bytes.size());
  } catch (const c10::Error& e) {
    refuse(e.what_without_backtrace());
  } catch (const std::exception& e) {
    refuse(e.what());
  }
}

std::string read_string(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  c10::IValue v;
  if (!archive.try_read(key, v) || !v.isString())
    throw core::InputError("'" + path + "' has no '" + key + "' record: not a file of this kind");
  return v.toStringRef();
}

namespace {

// A module file: a JSON "meta" record (its format and what is needed to rebuild the module) and the
// module's parameters and buffers under "model".
void save_module_file(const std::string& path, const nlohmann::ordered_json& meta, torch::nn::Module& module) {
  torch::serialize::OutputArchive archive;
  archive.write("meta", c10::IValue(meta.dump()));
  torch::serialize::OutputArchive model;
  module.save(model);
  archive.write("model", model);
  save_archive_atomic(archive, path);
}

// A network's input normalization in its file's meta record; absent = fixed (and in files written
// before it existed).
void write_normalization(nlohmann::ordered_json& meta, const data::Normalization& n) {
  if (!n.is_fixed()) meta["input_normalization"] = {{"mean", n.mean}, {"std", n.std}};
}

data::Normalization read_normalization(const nlohmann::json& meta, int channels) {
  data::Normalization n;
  if (!meta.contains("input_normalization")) return n;
  meta.at("input_normalization").at("mean").get_to(n.mean);
  meta.at("input_normalization").at("std").get_to(n.std);
  data::check_normalization(n, channels, "input_normalization");
  return n;
}

void load_model_record(torch::serialize::InputArchive& archive, torch::nn::Module& module) {
  torch::serialize::InputArchive model;
  if (!archive.try_read("model", model)) throw core::InputError("no model record");
  module.load(model);
}

}  // namespace

void save_supernet(const std::string& path, OFASupernet& net, const std::vector<int>& resolutions,
                   const TrainOptions* train_options) {
  nlohmann::ordered_json meta;
  meta["format"] = "tinynas-supernet-1";
  meta["space"] = search_space::space_to_json(net->space);
  meta["width"] = net->w;
  meta["resolutions"] = resolutions;
  meta["train_options"] = train_options ? options_to_json(*train_options) : nlohmann::json();
  write_normalization(meta, net->normalization);
  save_module_file(path, meta, *net);
}

SupernetFile load_supernet(const std::string& path, const TrainOptions& absent_options) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  const std::string meta_text = read_string(archive, "meta", path);
  SupernetFile f;
  f.path = path;
  double w = 0;
  try {
    const auto meta = nlohmann::json::parse(meta_text);
    if (meta.value("format", "") != "tinynas-supernet-1") throw core::InputError("unknown format");
    w = meta.at("width").get<double>();
    meta.at("resolutions").get_to(f.resolutions);
    if (!meta.at("train_options").is_null()) {
      // Weights that load are worth more than the record of how they were trained: an unreadable record
      // leaves the experiment's options in charge.
      try {
        f.train_options = options_from_json(meta.at("train_options"), absent_options);
      } catch (const core::InputError& e) {
        spdlog::warn("'{}': its training options are unreadable ({}); using the experiment's", path, e.what());
      }
    }
    f.net = OFASupernet(search_space::space_from_json(meta.at("space")), w);
    f.net->normalization = read_normalization(meta, f.net->space.in_channels);
  } catch (const std::exception& e) {
    throw core::InputError("'" + path + "' is not a tinynas supernet file: " + e.what());
  }
  try {
    load_model_record(archive, *f.net);
  } catch (const std::exception& e) {
    throw core::InputError("'" + path + "': the weights do not match the supernet they describe: " + e.what());
  }
  f.net->eval();
  return f;
}

void save_subnet(const std::string& path, StaticNet& net, const std::optional<search_space::ArchSpec>& arch) {
  nlohmann::ordered_json meta;
  meta["format"] = "tinynas-subnet-1";
  meta["arch"] = arch ? nlohmann::json::parse(to_json(*arch)) : nlohmann::json();
  meta["network"] = nlohmann::json::parse(search_space::network_to_zoo_json(net->desc));
  write_normalization(meta, net->normalization);
  save_module_file(path, meta, *net);
}

SubnetFile load_subnet(const std::string& path) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  SubnetFile f;
  f.path = path;
  try {
    const auto meta = nlohmann::json::parse(read_string(archive, "meta", path));
    if (meta.value("format", "") != "tinynas-subnet-1") throw core::InputError("unknown format");
    if (!meta.at("arch").is_null()) f.arch = search_space::arch_from_json(meta.at("arch").dump());
    f.net = StaticNet(search_space::network_from_zoo_json(meta.at("network").dump()));
    f.net->normalization = read_normalization(meta, f.net->desc.in_channels);
    load_model_record(archive, *f.net);
  } catch (const std::exception& e) {
    throw core::InputError("'" + path + "' is not a readable tinynas subnet file: " + e.what());
  }
  f.net->eval();
  return f;
}

}  // namespace tinynas::supernet
