#include "tinynas/supernet/runtime.h"

#include <malloc.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>

namespace tinynas::supernet {

void configure_torch(int threads) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 256 << 20);
  if (threads > 0) torch::set_num_threads(threads);
}

void restart_with_passive_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("OMP_WAIT_POLICY");  // exec failed: this process's libgomp keeps its default
}

}  // namespace tinynas::supernet
