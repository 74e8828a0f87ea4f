#pragma once
// Process-wide LibTorch settings for training and evaluation.
namespace tinynas::supernet {

// Sets LibTorch's intra-op threads (it defaults to one on small machines) and keeps freed activation
// buffers in the heap: glibc otherwise returns them to the kernel and re-faults them every step, which
// costs up to 2x in throughput at random.
void configure_torch(int threads);

// LibTorch's OpenMP threads (libgomp) spin while they wait for work: beside another busy process on
// the same cores (other jobs, several MPI ranks per node) training slows by up to 8x. The passive wait
// policy costs nothing measurable on an idle machine, but libgomp reads OMP_WAIT_POLICY only when it
// loads, before main. So, when neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set (a user's own choice
// wins), this sets OMP_WAIT_POLICY=PASSIVE and replaces the process by a fresh run of the same program
// with the same arguments (same PID, so MPI launchers and Slurm are unaffected). Call it first thing in
// main, before any thread or MPI starts; returns only when there is nothing to do or exec failed.
void restart_with_passive_openmp_wait(char** argv);

}  // namespace tinynas::supernet
