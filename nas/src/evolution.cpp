#include "tinynas/nas/evolution.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tinynas/core/units.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/stop_signal.h"
#include "tinynas/core/files.h"
#include "tinynas/core/rng.h"

namespace tinynas::nas {

using json = nlohmann::json;

SearchObjective parse_search_objective(const std::string& name) {
  if (name == "accuracy") return SearchObjective::Accuracy;
  if (name == "pareto-latency") return SearchObjective::ParetoLatency;
  if (name == "pareto-sram") return SearchObjective::ParetoSram;
  throw core::InputError("unknown search objective '" + name + "' (accuracy, pareto-latency or pareto-sram)");
}

std::string to_string(SearchObjective objective) {
  switch (objective) {
    case SearchObjective::Accuracy: return "accuracy";
    case SearchObjective::ParetoLatency: return "pareto-latency";
    case SearchObjective::ParetoSram: return "pareto-sram";
  }
  return "accuracy";
}

namespace {

double objective_cost(const Candidate& c, SearchObjective objective) {
  return objective == SearchObjective::ParetoSram ? double(c.costs.sram_bytes) : c.costs.latency_ms;
}

// a at least as good as b in both objectives and better in one.
bool dominates(const Candidate& a, const Candidate& b, SearchObjective objective) {
  const double ca = objective_cost(a, objective), cb = objective_cost(b, objective);
  return a.accuracy >= b.accuracy && ca <= cb && (a.accuracy > b.accuracy || ca < cb);
}

bool better_accuracy(const Candidate& a, const Candidate& b) {
  if (a.accuracy != b.accuracy) return a.accuracy > b.accuracy;
  return a.key < b.key;
}

// Sorts the population fittest first: by accuracy, or by non-dominated rank, then crowding distance
// (NSGA-II), then key.
void sort_by_fitness(std::vector<Candidate>& pop, SearchObjective objective) {
  if (objective == SearchObjective::Accuracy) {
    std::sort(pop.begin(), pop.end(), better_accuracy);
    return;
  }
  const size_t n = pop.size();
  std::vector<int> rank(n, 0);
  std::vector<double> crowding(n, 0.0);
  std::vector<int> dominated_by(n, 0);
  std::vector<std::vector<size_t>> dominates_list(n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      if (dominates(pop[i], pop[j], objective)) dominates_list[i].push_back(j);
      else if (dominates(pop[j], pop[i], objective)) ++dominated_by[i];
    }
  std::vector<size_t> front;
  for (size_t i = 0; i < n; ++i)
    if (dominated_by[i] == 0) front.push_back(i);
  int level = 0;
  while (!front.empty()) {
    // Crowding distance within the front, over both objectives normalized by their range.
    for (int objective_index = 0; objective_index < 2; ++objective_index) {
      auto value = [&](size_t i) {
        return objective_index == 0 ? pop[i].accuracy : objective_cost(pop[i], objective);
      };
      std::vector<size_t> order = front;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return value(a) != value(b) ? value(a) < value(b) : pop[a].key < pop[b].key;
      });
      const double range = value(order.back()) - value(order.front());
      crowding[order.front()] = crowding[order.back()] = std::numeric_limits<double>::infinity();
      for (size_t k = 1; k + 1 < order.size(); ++k)
        if (range > 0) crowding[order[k]] += (value(order[k + 1]) - value(order[k - 1])) / range;
    }
    std::vector<size_t> next;
    for (size_t i : front) {
      rank[i] = level;
      for (size_t j : dominates_list[i])
        if (--dominated_by[j] == 0) next.push_back(j);
    }
    front = std::move(next);
    ++level;
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (rank[a] != rank[b]) return rank[a] < rank[b];
    if (crowding[a] != crowding[b]) return crowding[a] > crowding[b];
    return pop[a].key < pop[b].key;
  });
  std::vector<Candidate> sorted;
  sorted.reserve(n);
  for (size_t i : order) sorted.push_back(std::move(pop[i]));
  pop = std::move(sorted);
}

json candidate_to_json(const Candidate& c) {
  return json{{"arch", json::parse(to_json(c.arch))},
              {"key", c.key},
              {"sram_bytes", c.costs.sram_bytes},
              {"flash_bytes", c.costs.flash_bytes},
              {"latency_ms", c.costs.latency_ms},
              {"energy_uj", c.costs.energy_uj},
              {"patch", engine::to_string(c.costs.patch)},
              {"accuracy", c.accuracy}};
}

Candidate candidate_from_json(const json& j) {
  Candidate c;
  c.arch = search_space::arch_from_json(j.at("arch").dump());
  c.key = j.at("key").get<std::string>();
  c.costs.sram_bytes = j.at("sram_bytes").get<int64_t>();
  c.costs.flash_bytes = j.at("flash_bytes").get<int64_t>();
  c.costs.latency_ms = j.at("latency_ms").get<double>();
  c.costs.energy_uj = j.value("energy_uj", 0.0);  // absent from checkpoints written before energy was counted
  c.costs.patch = engine::parse_patch_schedule(j.value("patch", std::string("layer-wise")));
  c.accuracy = j.at("accuracy").get<double>();
  return c;
}

json history_to_json(const GenerationStats& s) {
  return json{{"generation", s.generation},     {"best_accuracy", s.best_accuracy}, {"mean_accuracy", s.mean_accuracy},
              {"children", s.children},         {"scored", s.scored},               {"seconds", s.seconds}};
}

GenerationStats history_from_json(const json& j) {
  GenerationStats s;
  s.generation = j.at("generation").get<int>();
  s.best_accuracy = j.at("best_accuracy").get<double>();
  s.mean_accuracy = j.at("mean_accuracy").get<double>();
  s.children = j.at("children").get<int>();
  s.scored = j.at("scored").get<int64_t>();
  s.seconds = j.at("seconds").get<double>();
  return s;
}

// Everything that changes the result, except the number of generations (a finished run can be
// resumed with more).
json settings_json(const search_space::SearchSpace& space, const evaluator::Budget& c, const EvolutionOptions& o) {
  return json{{"space", space.name},
              {"population", o.population},
              {"parents", o.parents},
              {"mutations", o.mutations},
              {"crossovers", o.crossovers},
              {"mutate_prob", o.mutate_prob},
              {"max_tries", o.max_tries},
              {"seed", o.seed},
              {"w", o.w},
              {"r", o.r},
              {"free_wr", o.free_wr},
              {"objective", to_string(o.objective)},
              {"sram_bytes", c.sram_bytes},
              {"flash_bytes", c.flash_bytes},
              {"latency_ms", c.latency_ms},
              {"energy_uj", c.energy_uj}};
}

void validate_options(const search_space::SearchSpace& space, const EvolutionOptions& o) {
  if (o.population < 1) throw core::InputError("evolution: population must be at least 1");
  if (o.parents < 1 || o.parents > o.population)
    throw core::InputError("evolution: parents must be between 1 and the population (" + std::to_string(o.population) + ")");
  if (o.mutations < 0 || o.crossovers < 0) throw core::InputError("evolution: mutations and crossovers cannot be negative");
  if (!(o.mutate_prob >= 0 && o.mutate_prob <= 1)) throw core::InputError("evolution: mutate_prob must be in [0, 1]");
  if (o.generations < 0) throw core::InputError("evolution: generations cannot be negative");
  if (o.max_tries < 1) throw core::InputError("evolution: max_tries must be at least 1");
  if (!o.free_wr) {
    search_space::ArchSpec probe = space.smallest(o.w, o.r);
    space.validate(probe);  // names a w or r outside the space
  }
  if (o.resume && o.checkpoint_path.empty()) throw core::InputError("evolution: resume needs a checkpoint path");
}

class Search {
 public:
  Search(const search_space::SearchSpace& space, const evaluator::Budget& constraints, const EvolutionOptions& options,
         const EvolutionCallbacks& callbacks)
      : space_(space), limits_(constraints), o_(options), cb_(callbacks) {}

  EvolutionResult run() {
    validate_options(space_, o_);
    if (!cb_.costs || (!cb_.accuracy && !cb_.accuracy_batch))
      throw core::InputError("evolution: costs and accuracy callbacks are required");
    int generation = 0;
    if (o_.resume && core::exists(o_.checkpoint_path)) {
      generation = load_checkpoint();
      result_.resumed_generation = generation;
    } else {
      initial_population();
      save_checkpoint(0);
    }
    int run_here = 0;
    for (int g = generation + 1; g <= o_.generations; ++g) {
      if (o_.stop_after >= 0 && run_here >= o_.stop_after) break;
      if (cb_.should_stop && cb_.should_stop())
        throw core::Interrupted("evolution stopped after generation " + std::to_string(generation) +
                          (o_.checkpoint_path.empty() ? std::string(" (no checkpoint file)")
                                                      : ": checkpoint " + o_.checkpoint_path +
                                                            "; the same command with --resume continues from there"));
      next_generation(g);
      save_checkpoint(g);
      generation = g;
      ++run_here;
    }
    result_.finished = generation >= o_.generations;
    return finish();
  }

 private:
  search_space::ArchSpec draw(core::Rng& rng) const { return o_.free_wr ? space_.sample(rng) : space_.sample(rng, o_.w, o_.r); }

  // Costs of `arch`, counted.
  evaluator::CandidateCosts costs_of(const search_space::ArchSpec& arch) {
    ++cost_queries_;
    return cb_.costs(arch);
  }

  Candidate make(const search_space::ArchSpec& arch, const evaluator::CandidateCosts& costs) const {
    Candidate c;
    c.arch = space_.normalized(arch);
    c.key = search_space::arch_key(space_, c.arch);
    c.costs = costs;
    return c;
  }

  // Scores the candidates not yet in the archive, in parallel, and fills every accuracy.
  void score(std::vector<Candidate>& candidates) {
    std::vector<size_t> todo;
    std::map<std::string, size_t> first;
    for (size_t i = 0; i < candidates.size(); ++i)
      if (!archive_.count(candidates[i].key) && first.emplace(candidates[i].key, i).second) todo.push_back(i);
    std::vector<double> acc(todo.size());
    if (cb_.accuracy_batch) {
      std::vector<search_space::ArchSpec> archs;
      for (size_t k : todo) archs.push_back(candidates[k].arch);
      acc = cb_.accuracy_batch(archs);
      if (acc.size() != todo.size()) throw core::RuntimeFailure("evolution: the batch accuracy returned a wrong count");
    } else {
      tbb::parallel_for(size_t(0), todo.size(), [&](size_t k) { acc[k] = cb_.accuracy(candidates[todo[k]].arch); });
    }
    for (size_t k = 0; k < todo.size(); ++k) {
      Candidate c = candidates[todo[k]];
      c.accuracy = acc[k];
      archive_.emplace(c.key, c);
    }
    for (auto& c : candidates) c.accuracy = archive_.at(c.key).accuracy;
  }

  void initial_population() {
    const auto start = std::chrono::steady_clock::now();
    const size_t n = size_t(o_.population);
    std::vector<Candidate> slots(n);
    std::vector<char> found(n, 0);
    tbb::parallel_for(size_t(0), n, [&](size_t i) {
      core::Rng rng(core::derive_seed(o_.seed, 0, i));
      for (int t = 0; t < o_.max_tries; ++t) {
        const search_space::ArchSpec arch = draw(rng);
        const evaluator::CandidateCosts costs = costs_of(arch);
        if (limits_.admits(costs)) {
          slots[i] = make(arch, costs);
          found[i] = 1;
          return;
        }
      }
    });
    std::vector<Candidate> pop;
    for (size_t i = 0; i < n; ++i)
      if (found[i]) pop.push_back(std::move(slots[i]));
    if (pop.empty()) throw core::InputError(nothing_fits_message());
    population_ = unique(std::move(pop));
    score(population_);
    sort_by_fitness(population_, o_.objective);
    record(0, 0, start);
  }

  std::string nothing_fits_message() const {
    const double w = o_.free_wr ? *std::min_element(space_.width_choices.begin(), space_.width_choices.end()) : o_.w;
    const int r = o_.free_wr ? *std::min_element(space_.resolution_choices.begin(), space_.resolution_choices.end())
                             : o_.r;
    const evaluator::CandidateCosts smallest = cb_.costs(space_.smallest(w, r));
    std::ostringstream s;
    s << "no subnet meets " << limits_.describe() << " after " << o_.max_tries << " draws for each of the "
      << o_.population << " initial candidates; the smallest subnet (w " << w << ", r " << r << ") needs SRAM "
      << core::format_size(smallest.sram_bytes) << ", Flash " << core::format_size(smallest.flash_bytes) << ", latency "
      << smallest.latency_ms << " ms";
    return s.str();
  }

  // Keeps the first of each key.
  static std::vector<Candidate> unique(std::vector<Candidate> v) {
    std::vector<Candidate> out;
    std::map<std::string, bool> seen;
    for (auto& c : v)
      if (seen.emplace(c.key, true).second) out.push_back(std::move(c));
    return out;
  }

  void next_generation(int g) {
    const auto start = std::chrono::steady_clock::now();
    const size_t parents = std::min(size_t(o_.parents), population_.size());
    const size_t slots = size_t(o_.mutations) + size_t(o_.crossovers);
    std::vector<Candidate> children(slots);
    std::vector<char> found(slots, 0);
    tbb::parallel_for(size_t(0), slots, [&](size_t i) {
      core::Rng rng(core::derive_seed(o_.seed, uint64_t(g), i));
      const bool mutation = i < size_t(o_.mutations);
      for (int t = 0; t < o_.max_tries; ++t) {
        search_space::ArchSpec arch;
        if (mutation || parents < 2) {
          const search_space::ArchSpec& parent = population_[rng.below(uint32_t(parents))].arch;
          arch = space_.mutate(parent, o_.mutate_prob, rng, o_.free_wr);
        } else {
          const uint32_t a = rng.below(uint32_t(parents));
          uint32_t b = rng.below(uint32_t(parents - 1));
          if (b >= a) ++b;  // two different parents
          arch = space_.crossover(population_[a].arch, population_[b].arch, rng);
        }
        const evaluator::CandidateCosts costs = costs_of(arch);
        if (limits_.admits(costs)) {
          children[i] = make(arch, costs);
          found[i] = 1;
          return;
        }
      }
    });
    std::vector<Candidate> next(population_.begin(), population_.begin() + std::ptrdiff_t(parents));
    int accepted = 0;
    for (size_t i = 0; i < slots; ++i)
      if (found[i]) {
        next.push_back(std::move(children[i]));
        ++accepted;
      }
    next = unique(std::move(next));
    score(next);
    sort_by_fitness(next, o_.objective);
    if (next.size() > size_t(o_.population)) next.resize(size_t(o_.population));
    population_ = std::move(next);
    record(g, accepted, start);
  }

  void record(int g, int children, std::chrono::steady_clock::time_point start) {
    GenerationStats s;
    s.generation = g;
    s.children = children;
    s.scored = int64_t(archive_.size());
    double sum = 0, best = -std::numeric_limits<double>::infinity();
    for (const auto& c : population_) {
      sum += c.accuracy;
      best = std::max(best, c.accuracy);
    }
    s.best_accuracy = best;
    s.mean_accuracy = population_.empty() ? 0 : sum / double(population_.size());
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result_.history.push_back(s);
    if (cb_.on_generation) cb_.on_generation(s);
  }

  void save_checkpoint(int g) {
    if (o_.checkpoint_path.empty() || !o_.write_checkpoints) return;
    json j;
    j["format"] = "tinynas-evolution-1";
    j["settings"] = settings_json(space_, limits_, o_);
    j["generation"] = g;
    j["cost_queries"] = int64_t(cost_queries_);
    json pop = json::array();
    for (const auto& c : population_) pop.push_back(c.key);
    j["population"] = pop;
    json archive = json::array();
    for (const auto& [key, c] : archive_) archive.push_back(candidate_to_json(c));
    j["archive"] = archive;
    json history = json::array();
    for (const auto& s : result_.history) history.push_back(history_to_json(s));
    j["history"] = history;
    core::write_file_atomic(o_.checkpoint_path, j.dump(1) + "\n");
  }

  int load_checkpoint() {
    const std::string& path = o_.checkpoint_path;
    json j;
    try {
      j = json::parse(core::read_text_file(path));
      if (j.at("format") != "tinynas-evolution-1") throw core::InputError("not an evolution checkpoint");
      if (j.at("settings") != settings_json(space_, limits_, o_))
        throw core::InputError("it was written with other settings: " + j.at("settings").dump());
      for (const auto& c : j.at("archive")) {
        Candidate cand = candidate_from_json(c);
        archive_.emplace(cand.key, cand);
      }
      for (const auto& key : j.at("population")) population_.push_back(archive_.at(key.get<std::string>()));
      for (const auto& s : j.at("history")) result_.history.push_back(history_from_json(s));
      cost_queries_ = j.at("cost_queries").get<int64_t>();
      return j.at("generation").get<int>();
    } catch (const core::InputError& e) {
      throw core::InputError("cannot resume from " + path + ": " + e.what());
    } catch (const std::exception& e) {
      throw core::InputError("cannot resume from " + path + ": not a valid evolution checkpoint (" + e.what() + ")");
    }
  }

  EvolutionResult finish() {
    std::vector<Candidate> all;
    all.reserve(archive_.size());
    for (const auto& [key, c] : archive_) all.push_back(c);
    result_.best = *std::min_element(all.begin(), all.end(), better_accuracy);
    result_.pareto_front = pareto_front(all, o_.objective);
    result_.population = population_;
    result_.scored = int64_t(archive_.size());
    result_.cost_queries = cost_queries_;
    return result_;
  }

  const search_space::SearchSpace& space_;
  evaluator::Budget limits_;
  EvolutionOptions o_;
  EvolutionCallbacks cb_;
  std::vector<Candidate> population_;
  std::map<std::string, Candidate> archive_;  // every scored candidate, by key
  std::atomic<int64_t> cost_queries_{0};
  EvolutionResult result_;
};

}  // namespace

std::vector<Candidate> pareto_front(const std::vector<Candidate>& candidates, SearchObjective objective) {
  std::vector<Candidate> sorted = candidates;
  // By increasing cost, then decreasing accuracy, then key: a point is on the front when it is more
  // accurate than everything cheaper or as cheap.
  std::sort(sorted.begin(), sorted.end(), [&](const Candidate& a, const Candidate& b) {
    const double ca = objective_cost(a, objective), cb = objective_cost(b, objective);
    if (ca != cb) return ca < cb;
    if (a.accuracy != b.accuracy) return a.accuracy > b.accuracy;
    return a.key < b.key;
  });
  std::vector<Candidate> front;
  double best = -std::numeric_limits<double>::infinity();
  for (auto& c : sorted)
    if (c.accuracy > best) {
      best = c.accuracy;
      front.push_back(c);
    }
  return front;
}

EvolutionResult evolve(const search_space::SearchSpace& space, const evaluator::Budget& constraints, const EvolutionOptions& options,
                       const EvolutionCallbacks& callbacks) {
  return Search(space, constraints, options, callbacks).run();
}

}  // namespace tinynas::nas
