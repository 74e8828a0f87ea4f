#include "tinynas/core/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "tinynas/core/errors.h"

extern char** environ;

namespace tinynas::core {

namespace fs = std::filesystem;

namespace {

// A firmware printing in a loop must not fill the memory before its timeout.
constexpr size_t kMaxCapturedBytes = 16 * 1024 * 1024;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Starts argv with stdin from /dev/null and stdout/stderr into the write ends of the pipes.
// Returns the posix_spawnp error (0 on success).
int spawn(const std::vector<std::string>& argv, const ProcessOptions& options, int out_fd, int err_fd, pid_t& pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  // The child gets default signal dispositions: a parent that ignores SIGPIPE must not pass that on.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int error = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return error;
}

// Reads both pipes until they close or the deadline passes (then kills the child).
void collect_output(pid_t pid, int fds[2], double timeout_s, ProcessResult& result) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  std::string* sinks[2] = {&result.out, &result.err};
  char buffer[65536];
  while (fds[0] >= 0 || fds[1] >= 0) {
    pollfd polled[2];
    int count = 0, which[2];
    for (int i = 0; i < 2; ++i)
      if (fds[i] >= 0) {
        polled[count] = {fds[i], POLLIN, 0};
        which[count++] = i;
      }
    int wait_ms = -1;
    if (timeout_s > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        ::kill(pid, SIGKILL);
        result.timed_out = true;
        return;
      }
      wait_ms = int(std::min<int64_t>(left, 1000));
    }
    const int ready = ::poll(polled, nfds_t(count), wait_ms);
    if (ready < 0 && errno != EINTR) return;
    for (int k = 0; k < count && ready > 0; ++k) {
      if (!(polled[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int i = which[k];
      const ssize_t n = ::read(fds[i], buffer, sizeof buffer);
      if (n > 0) {
        if (sinks[i]->size() < kMaxCapturedBytes) sinks[i]->append(buffer, size_t(n));
      } else if (n == 0 || errno != EINTR) {
        close_fd(fds[i]);
      }
    }
  }
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  ProcessResult result;
  if (argv.empty()) throw RuntimeFailure("run_process: no program given");
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || (!options.merge_stderr && ::pipe2(err_pipe, O_CLOEXEC) != 0)) {
    close_fd(out_pipe[0]);
    close_fd(out_pipe[1]);
    throw RuntimeFailure(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  pid_t pid = -1;
  const int spawn_error =
      spawn(argv, options, out_pipe[1], options.merge_stderr ? out_pipe[1] : err_pipe[1], pid);
  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);
  if (spawn_error != 0) {
    close_fd(out_pipe[0]);
    close_fd(err_pipe[0]);
    result.err = "cannot run " + argv[0] + ": " + std::strerror(spawn_error) + "\n";
    if (options.merge_stderr) result.out = result.err;
    return result;
  }
  result.started = true;
  int fds[2] = {out_pipe[0], err_pipe[0]};
  collect_output(pid, fds, options.timeout_s, result);
  close_fd(fds[0]);
  close_fd(fds[1]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!result.timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

bool program_available(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace tinynas::core
