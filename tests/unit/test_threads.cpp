// One compiled rule set shared by many threads gives the same answers as one thread.
#include <thread>

#include "helpers.hpp"

TEST_CASE("a compiled rule set is shared safely between threads", "[threads]") {
  stimrank::LoadResult loaded = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR);
  REQUIRE(loaded.ok());
  const stimrank::RuleSet& rules = *loaded.ruleset;
  std::vector<std::string> profiles;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(STIMRANK_EXAMPLES_DIR) + "/profiles"))
    if (entry.path().extension() == ".json") profiles.push_back(testing::read_file(entry.path()));
  std::sort(profiles.begin(), profiles.end());
  REQUIRE(profiles.size() >= 3);
  std::vector<std::string> expected;
  for (const auto& p : profiles) expected.push_back(rules.evaluate_json(p).result->to_json());

  constexpr int kThreads = 8, kRounds = 50;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round)
        for (std::size_t i = 0; i < profiles.size(); ++i) {
          auto evaluation =
              rules.evaluate_json(profiles[(i + static_cast<std::size_t>(t)) % profiles.size()]);
          if (!evaluation.ok() || evaluation.result->to_json() !=
                                      expected[(i + static_cast<std::size_t>(t)) % profiles.size()])
            ++mismatches[static_cast<std::size_t>(t)];
        }
    });
  for (auto& thread : threads) thread.join();
  for (int m : mismatches) CHECK(m == 0);
}

#ifdef __linux__
#include <sched.h>

#include "spread.hpp"

// Workers move themselves off their creator's CPU once and are then the
// scheduler's again: no thread is left pinned, whatever index or CPU it is given.
TEST_CASE("a worker started on its own CPU is not left pinned", "[threads]") {
  cpu_set_t before;
  CPU_ZERO(&before);
  REQUIRE(sched_getaffinity(0, sizeof before, &before) == 0);
  const int parent = stimrank::engine::current_cpu();
  for (unsigned index : {0u, 1u, 7u, 1000u}) {
    for (int cpu : {parent, -1, CPU_SETSIZE - 1}) {
      std::vector<int> equal(1, 0);
      std::thread worker([&] {
        stimrank::engine::start_on_own_cpu(cpu, index);
        cpu_set_t after;
        CPU_ZERO(&after);
        equal[0] = sched_getaffinity(0, sizeof after, &after) == 0 && CPU_EQUAL(&after, &before);
      });
      worker.join();
      CHECK(equal[0] == 1);
    }
  }
}
#endif
