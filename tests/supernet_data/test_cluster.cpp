// The job's ranks as one process sees them without an MPI launcher: one rank, collectives that leave
// data as it is, and map_items returning every item's result in order, whatever bytes it holds.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>

#include "tinynas/core/errors.h"
#include "tinynas/supernet/cluster.h"

using namespace tinynas;

TEST(Cluster, OneProcessIsRankZeroOfOne) {
  if (dist::launched_by_mpi()) GTEST_SKIP() << "running under an MPI launcher";
  const auto& c = dist::Cluster::world();
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  EXPECT_TRUE(c.is_root());
  EXPECT_EQ(c.describe(), "single process");
  float f[3] = {1.5f, -2.0f, 0.25f};
  c.allreduce_sum(f, 3);
  EXPECT_EQ(f[0], 1.5f);
  EXPECT_EQ(f[2], 0.25f);
  EXPECT_TRUE(c.any(true));
  EXPECT_FALSE(c.any(false));
  std::string s = "kept";
  c.broadcast(s);
  EXPECT_EQ(s, "kept");
  EXPECT_EQ(c.allgather("x\ny"), std::vector<std::string>{"x\ny"});
}

TEST(Cluster, LaunchedByMpiReadsTheLaunchersVariables) {
  const char* saved = std::getenv("OMPI_COMM_WORLD_SIZE");
  const std::string keep = saved ? saved : "";
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  EXPECT_TRUE(dist::launched_by_mpi());
  if (saved) setenv("OMPI_COMM_WORLD_SIZE", keep.c_str(), 1);
  else unsetenv("OMPI_COMM_WORLD_SIZE");
}

TEST(Cluster, MapItemsKeepsOrderAndAnyBytes) {
  if (dist::launched_by_mpi()) GTEST_SKIP() << "running under an MPI launcher";
  const auto& c = dist::Cluster::world();
  // Results with newlines, digits and spaces (what the framing must not confuse), and an empty one.
  const auto fn = [](size_t i) { return i == 3 ? std::string() : std::to_string(i) + " 7\n" + std::string(i, '\n'); };
  for (bool parallel : {false, true}) {
    std::atomic<int> calls{0};
    const auto out = dist::map_items(c, 20, [&](size_t i) { ++calls; return fn(i); }, parallel);
    ASSERT_EQ(out.size(), 20u);
    EXPECT_EQ(calls.load(), 20);
    for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], fn(i)) << i;
  }
  EXPECT_TRUE(dist::map_items(c, 0, fn).empty());
}
