#pragma once
// Stage 2 of TinyNAS (MCUNet section 3.2, once-for-all's evolution finder): an evolutionary search over
// the subnets of a space under hard SRAM, Flash and latency limits. The costs and the accuracy of a
// candidate come from callbacks (the engine's planner and size model, the latency and accuracy
// predictors), so the search itself is the same for predictors, real measurements and the synthetic
// objectives of the tests.
//
// A generation: the best `parents` of the population are kept; `mutations` children mutate a random
// parent (each choice re-sampled with probability mutate_prob), `crossovers` children take each choice
// from one of two random parents; a child that breaks a limit is drawn again, up to max_tries times.
// Parents and children form the next population, trimmed to `population` by fitness. Fitness is the
// accuracy, or in a Pareto mode the non-dominated rank of (accuracy, latency or SRAM) with the crowding
// distance breaking ties (NSGA-II).
//
// Determinism: every random draw of slot i of generation g comes from its own generator seeded by
// (seed, g, i), candidates are scored in parallel (TBB) into fixed slots and every sort breaks ties by
// the arch key, so a seed gives one result whatever the thread count, and a run resumed from its
// per-generation checkpoint ends exactly as an uninterrupted one.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tinynas/evaluator/budget.h"
#include "tinynas/search_space/space.h"

namespace tinynas::nas {

struct Candidate {
  search_space::ArchSpec arch;
  std::string key;  // arch_key(space, arch)
  evaluator::CandidateCosts costs;
  double accuracy = 0;
};

enum class SearchObjective {
  Accuracy,       // the most accurate candidate within the limits
  ParetoLatency,  // the front of accuracy vs latency
  ParetoSram,     // the front of accuracy vs peak SRAM
};
SearchObjective parse_search_objective(const std::string& name);  // accuracy|pareto-latency|pareto-sram
std::string to_string(SearchObjective objective);

struct EvolutionOptions {
  int population = 100;
  int parents = 20;
  int mutations = 50;
  int crossovers = 50;
  double mutate_prob = 0.1;
  int generations = 30;
  int max_tries = 500;  // draws per slot before a child is dropped or the initial population is given up
  uint64_t seed = 0;
  // Candidates keep this (w, r) (stage 1's choice) unless free_wr, which samples and mutates them too.
  double w = 0;
  int r = 0;
  bool free_wr = false;
  SearchObjective objective = SearchObjective::Accuracy;
  // Written (atomically) after the initial population and after every generation; "" = none.
  std::string checkpoint_path;
  bool write_checkpoints = true;  // false: read checkpoint_path for resume only (MPI ranks other than 0)
  // Continue from checkpoint_path when it exists (it must come from the same settings).
  bool resume = false;
  // Stop after this many generations of this run (the checkpoint stays resumable); -1 = run to the end.
  int stop_after = -1;
};

struct GenerationStats {
  int generation = 0;        // 0 = the initial population
  double best_accuracy = 0;  // in the population
  double mean_accuracy = 0;
  int children = 0;          // children that met the limits (fewer than asked when draws ran out)
  int64_t scored = 0;        // distinct candidates scored so far
  double seconds = 0;        // wall time of the generation
};

struct EvolutionCallbacks {
  // Both are called from several threads at once and must be deterministic.
  std::function<evaluator::CandidateCosts(const search_space::ArchSpec&)> costs;
  std::function<double(const search_space::ArchSpec&)> accuracy;
  // When set, used instead of `accuracy`: every new candidate of a generation at once, from the calling
  // thread (for measurements spread over MPI ranks). Must return one figure per arch, deterministically.
  std::function<std::vector<double>(const std::vector<search_space::ArchSpec>&)> accuracy_batch;
  std::function<void(const GenerationStats&)> on_generation;  // called from the calling thread
  // Polled after every generation's checkpoint; true ends the run with Interrupted (stop_signal.h).
  std::function<bool()> should_stop;
};

struct EvolutionResult {
  Candidate best;                        // the most accurate candidate found within the limits
  std::vector<Candidate> population;     // the final population, fittest first
  std::vector<Candidate> pareto_front;   // non-dominated (accuracy, objective cost) among all scored
                                         // candidates, by increasing cost; the Accuracy objective
                                         // uses latency as the cost
  std::vector<GenerationStats> history;  // generation 0 (initial) to the last one run
  int64_t scored = 0;                    // distinct candidates scored
  int64_t cost_queries = 0;              // candidates whose costs were computed (feasible or not)
  int resumed_generation = -1;           // the checkpoint's last generation, when resumed
  bool finished = false;                 // all generations done (false after stop_after)
};

// Throws InputError when no feasible candidate is found for the initial population (the message
// names the limits and the smallest subnet's costs) or when a checkpoint does not match the options.
EvolutionResult evolve(const search_space::SearchSpace& space, const evaluator::Budget& constraints, const EvolutionOptions& options,
                       const EvolutionCallbacks& callbacks);

// The non-dominated subset of `candidates` for (maximize accuracy, minimize cost), by increasing cost;
// equal points are kept once (lowest key).
std::vector<Candidate> pareto_front(const std::vector<Candidate>& candidates, SearchObjective objective);

}  // namespace tinynas::nas
