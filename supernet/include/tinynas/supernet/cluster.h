#pragma once
// The processes of one job: the ranks of an MPI launch (mpirun, or srun under Slurm), or this process
// alone. Everything distributed in tinynas goes through these few collectives (MPI_Allreduce,
// MPI_Bcast, MPI_Allgatherv), as Horovod does for once-for-all: no protocol of its own.
//
// MPI is started only when the process was launched by an MPI launcher (its environment says so), so
// a plain `tinynas ...` never touches MPI, and a build without MPI runs every command as one rank.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tinynas::dist {

class Cluster {
 public:
  // The job's ranks; MPI is initialized on the first call when launched by mpirun / srun, and finalized
  // at exit.
  static Cluster& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  // "rank 1/4 on host" or "single process", for logs.
  std::string describe() const;

  // In-place sums over every rank (no-ops for one rank).
  void allreduce_sum(float* data, size_t n) const;
  void allreduce_sum(double* data, size_t n) const;
  // True on every rank when it is true on any rank.
  bool any(bool flag) const;
  // Root's value on every rank.
  void broadcast(std::string& value, int root = 0) const;
  // Every rank's value, in rank order, on every rank.
  std::vector<std::string> allgather(const std::string& value) const;
  void barrier() const;
  // Ends every rank of the job with this exit code (MPI_Abort), when one rank cannot go on and the
  // others would wait for it forever; a plain exit for one rank.
  [[noreturn]] void abort(int code) const;

  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

 private:
  Cluster();
  ~Cluster();
  int rank_ = 0, size_ = 1;
  bool mpi_ = false;
};

// True when the environment says an MPI launcher started this process (Open MPI, PMI/PMIx, srun).
bool launched_by_mpi();

// Runs fn(i) for this rank's items (i % size == rank) of 0..n-1 and returns every item's result, in
// item order, on every rank. Results are strings (JSON, serial logs) so that any measurement can
// travel. parallel: this rank's items run on its cores at once (fn must be thread-safe).
std::vector<std::string> map_items(const Cluster& cluster, size_t n, const std::function<std::string(size_t)>& fn,
                                   bool parallel = false);

}  // namespace tinynas::dist
