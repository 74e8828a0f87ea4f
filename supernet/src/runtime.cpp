#include "tinynas/supernet/runtime.h"

#include <malloc.h>
#include <torch/torch.h>

namespace tinynas::supernet {

void configure_torch(int threads) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 256 << 20);
  if (threads > 0) torch::set_num_threads(threads);
}

}  // namespace tinynas::supernet
