#pragma once
// Process-wide LibTorch settings for training and evaluation.
namespace tinynas::supernet {

// Sets LibTorch's intra-op threads (it defaults to one on small machines) and keeps freed activation
// buffers in the heap: glibc otherwise returns them to the kernel and re-faults them every step, which
// costs up to 2x in throughput at random.
void configure_torch(int threads);

}  // namespace tinynas::supernet
