#pragma once
// The two kinds of error the whole project throws. The CLI maps InputError to exit code 2
// (bad input, impossible request) and every other failure to exit code 1.
#include <stdexcept>
#include <string>

namespace tinynas::core {

// The user's input is wrong: a file, a flag, a config value, or a request that cannot be met.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Something failed while doing valid work (I/O error, external tool failure, internal check).
class RuntimeFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tinynas::core
