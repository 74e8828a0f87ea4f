#pragma once
// Supernet files: the trained supernet (weights + the space and width it was built for + the training
// metadata), written atomically and read back with errors that name the file.
#include <optional>
#include <string>

#include "tinynas/search_space/space.h"
#include "tinynas/supernet/ofa.h"
#include "tinynas/supernet/train.h"

namespace tinynas::supernet {

struct SupernetFile {
  OFASupernet net{nullptr};
  std::vector<int> resolutions;  // the resolutions it was trained at
  std::optional<TrainOptions> train_options;  // of the run that trained it, when the file records them
  std::string path;
};

// Writes weights and metadata to path (temp file + rename); train_options may be null.
void save_supernet(const std::string& path, OFASupernet& net, const std::vector<int>& resolutions,
                   const TrainOptions* train_options);
// Throws InputError naming the path when it is missing, corrupt or not a supernet file. Training options
// that older files lack come from `absent_options` (see options_from_json).
SupernetFile load_supernet(const std::string& path, const TrainOptions& absent_options = {});

// Writes a torch archive to path through a temporary file in the same directory and a rename.
void save_archive_atomic(torch::serialize::OutputArchive& archive, const std::string& path);
// Loads an archive; InputError naming the path for a missing or unreadable file.
void load_archive(torch::serialize::InputArchive& archive, const std::string& path);
std::string read_string(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path);

// SGD's state by parameter position: its momentum buffers and which parameters have a gradient tensor,
// for checkpoints that resume to the same weights. load_momentum: InputError when it does not match.
torch::serialize::OutputArchive momentum_archive(torch::optim::SGD& opt);
void load_momentum(torch::optim::SGD& opt, torch::serialize::InputArchive& in);

}  // namespace tinynas::supernet

namespace tinynas::supernet {

// A standalone network: its network description, its weights and, for a subnet of a space, its arch
// (none for a network given layer by layer, e.g. ResNet-8).
struct SubnetFile {
  std::optional<search_space::ArchSpec> arch;
  StaticNet net{nullptr};
  std::string path;
};
void save_subnet(const std::string& path, StaticNet& net, const std::optional<search_space::ArchSpec>& arch);
SubnetFile load_subnet(const std::string& path);  // core::InputError naming the path

}  // namespace tinynas::supernet
