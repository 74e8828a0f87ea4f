#include "tinynas/core/files.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tinynas/core/errors.h"

namespace tinynas::core {

namespace fs = std::filesystem;

bool is_file(const std::string& path) noexcept {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool is_directory(const std::string& path) noexcept {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

bool exists(const std::string& path) noexcept {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError("error while reading '" + path + "'");
  return ss.str();
}

void remove_stale_temporaries(const std::string& path, const std::string& marker) {
  const fs::path target(path);
  const std::string prefix = target.filename().string() + marker;
  std::error_code ec;
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string pid = name.substr(prefix.size());
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
    std::error_code ignored;
    if (::kill(pid_t(std::stol(pid)), 0) != 0 && errno == ESRCH) fs::remove_all(it->path(), ignored);
  }
}

namespace {

// Writes all of `content` to the open descriptor and syncs it; the errno of the failure, else 0.
int write_and_sync(int fd, const std::string& content) {
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    left -= size_t(n);
  }
  return ::fsync(fd) == 0 ? 0 : errno;
}

}  // namespace

void write_files_atomic(const std::vector<std::pair<std::string, std::string>>& path_and_content) {
  std::vector<std::string> temporaries;
  const auto discard = [&] {
    for (const std::string& tmp : temporaries) ::unlink(tmp.c_str());
  };
  for (const auto& [path, content] : path_and_content) {
    remove_stale_temporaries(path, ".tmp.");
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      const std::string why = std::strerror(errno);
      discard();
      throw RuntimeFailure("cannot write '" + tmp + "': " + why);
    }
    temporaries.push_back(tmp);
    int error = write_and_sync(fd, content);
    if (::close(fd) != 0 && error == 0) error = errno;
    // A full disk (ENOSPC) or a file size limit (EFBIG) ends here: the old files stay as they were.
    if (error != 0) {
      discard();
      const bool existed = ::access(path.c_str(), F_OK) == 0;
      throw RuntimeFailure("cannot write '" + path + "': " + std::strerror(error) +
                           (existed ? "; the previous file is unchanged" : "; nothing was written"));
    }
  }
  for (size_t i = 0; i < temporaries.size(); ++i) {
    const std::string& path = path_and_content[i].first;
    if (std::rename(temporaries[i].c_str(), path.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      for (size_t k = i; k < temporaries.size(); ++k) ::unlink(temporaries[k].c_str());
      throw RuntimeFailure("cannot rename '" + temporaries[i] + "' to '" + path + "': " + why);
    }
  }
}

void write_file_atomic(const std::string& path, const std::string& content) { write_files_atomic({{path, content}}); }

void create_output_dir(const std::string& dir, const std::string& flag) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw InputError(flag + ": cannot create the directory '" + dir + "': " +
                     (ec ? ec.message() : std::string("a file of that name is in the way")));
}

}  // namespace tinynas::core
