#include "tinynas/supernet/cluster.h"

#include <tbb/parallel_for.h>

#include <cstdio>

#include <cstdlib>
#include <limits>
#include <stdexcept>

#include "tinynas/core/errors.h"

#ifdef TINYNAS_HAVE_MPI
// The C API only: Open MPI's and MPICH's headers otherwise pull in the deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace tinynas::dist {

namespace {

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

#ifdef TINYNAS_HAVE_MPI
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(rc, text, &length);
    throw core::RuntimeFailure(std::string(what) + " failed: " + std::string(text, size_t(length)));
  }
}

int count_of(size_t n) {
  if (n > size_t(std::numeric_limits<int>::max())) throw core::RuntimeFailure("an MPI message of more than 2^31 elements");
  return int(n);
}
#endif

}  // namespace

bool launched_by_mpi() {
  return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK") || env_set("PMI_RANK") || env_set("PMI_SIZE");
}

Cluster& Cluster::world() {
  static Cluster cluster;
  return cluster;
}

Cluster::Cluster() {
#ifdef TINYNAS_HAVE_MPI
  if (!launched_by_mpi()) return;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // Only the main thread calls MPI; TBB and LibTorch threads never do.
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  }
  mpi_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
#endif
}

Cluster::~Cluster() {
#ifdef TINYNAS_HAVE_MPI
  int finalized = 0;
  if (mpi_ && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Finalize();
#endif
}

std::string Cluster::describe() const {
  if (size_ == 1) return "single process";
  return "rank " + std::to_string(rank_) + "/" + std::to_string(size_);
}

#ifdef TINYNAS_HAVE_MPI
namespace {
void sum_in_place(void* data, size_t n, MPI_Datatype type) {
  check(MPI_Allreduce(MPI_IN_PLACE, data, count_of(n), type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}
}  // namespace
#endif

void Cluster::allreduce_sum(float* data, size_t n) const {
#ifdef TINYNAS_HAVE_MPI
  if (size_ > 1) sum_in_place(data, n, MPI_FLOAT);
#else
  (void)data, (void)n;
#endif
}

void Cluster::allreduce_sum(double* data, size_t n) const {
#ifdef TINYNAS_HAVE_MPI
  if (size_ > 1) sum_in_place(data, n, MPI_DOUBLE);
#else
  (void)data, (void)n;
#endif
}

bool Cluster::any(bool flag) const {
  double v = flag ? 1.0 : 0.0;
  allreduce_sum(&v, 1);
  return v > 0;
}

void Cluster::broadcast(std::string& value, int root) const {
#ifdef TINYNAS_HAVE_MPI
  if (size_ == 1) return;
  unsigned long long length = value.size();
  check(MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, root, MPI_COMM_WORLD), "MPI_Bcast");
  value.resize(size_t(length));
  if (length > 0) check(MPI_Bcast(value.data(), count_of(size_t(length)), MPI_CHAR, root, MPI_COMM_WORLD), "MPI_Bcast");
#else
  (void)value, (void)root;
#endif
}

std::vector<std::string> Cluster::allgather(const std::string& value) const {
#ifdef TINYNAS_HAVE_MPI
  if (size_ > 1) {
    int mine = count_of(value.size());
    std::vector<int> lengths(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    check(MPI_Allgather(&mine, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
    size_t total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[size_t(r)] = count_of(total);
      total += size_t(lengths[size_t(r)]);
    }
    std::string all(total, '\0');
    check(MPI_Allgatherv(value.data(), mine, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR,
                         MPI_COMM_WORLD),
          "MPI_Allgatherv");
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r) out.push_back(all.substr(size_t(offsets[size_t(r)]), size_t(lengths[size_t(r)])));
    return out;
  }
#endif
  return {value};
}

void Cluster::barrier() const {
#ifdef TINYNAS_HAVE_MPI
  if (size_ > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

void Cluster::abort(int code) const {
#ifdef TINYNAS_HAVE_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

std::vector<std::string> map_items(const Cluster& cluster, size_t n, const std::function<std::string(size_t)>& fn,
                                   bool parallel) {
  std::vector<size_t> items;
  for (size_t i = size_t(cluster.rank()); i < n; i += size_t(cluster.size())) items.push_back(i);
  std::vector<std::string> done(items.size());
  if (parallel) tbb::parallel_for(size_t(0), items.size(), [&](size_t k) { done[k] = fn(items[k]); });
  else
    for (size_t k = 0; k < items.size(); ++k) done[k] = fn(items[k]);
  // This rank's results, framed as "<index> <length>\n<bytes>" so that any text travels unchanged.
  std::string mine;
  for (size_t k = 0; k < items.size(); ++k)
    mine += std::to_string(items[k]) + " " + std::to_string(done[k].size()) + "\n" + done[k];
  std::vector<std::string> results(n);
  std::vector<bool> seen(n, false);
  for (const std::string& part : cluster.allgather(mine)) {
    size_t at = 0;
    while (at < part.size()) {
      const size_t eol = part.find('\n', at);
      if (eol == std::string::npos) throw core::RuntimeFailure("map_items: a malformed result frame");
      size_t index = 0, length = 0;
      if (std::sscanf(part.c_str() + at, "%zu %zu", &index, &length) != 2 || index >= n || eol + 1 + length > part.size())
        throw core::RuntimeFailure("map_items: a malformed result frame");
      results[index] = part.substr(eol + 1, length);
      seen[index] = true;
      at = eol + 1 + length;
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (!seen[i]) throw core::RuntimeFailure("map_items: no rank returned item " + std::to_string(i));
  return results;
}

}  // namespace tinynas::dist
