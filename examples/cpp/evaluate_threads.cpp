// Loads a rule set once and evaluates one profile from several threads that share
// the compiled rule set; prints the ranking and whether every thread agreed.
//   evaluate_threads RULES PROFILE.json [THREADS]
#include <fstream>
#include <iostream>
#include <sstream>
#include <stimrank/stimrank.hpp>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: evaluate_threads RULES PROFILE.json [THREADS]\n";
    return 2;
  }
  stimrank::LoadResult loaded = stimrank::load_rules(argv[1]);
  if (!loaded.ok()) {
    std::cerr << stimrank::format_all(loaded.diagnostics);
    return 1;
  }
  std::shared_ptr<const stimrank::RuleSet> rules = loaded.ruleset;  // immutable, shared

  std::ifstream in(argv[2]);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string profile = buffer.str();

  int thread_count = argc > 3 ? std::stoi(argv[3]) : 4;
  std::vector<std::string> outputs(static_cast<std::size_t>(thread_count));
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t)
    threads.emplace_back([&, t] {
      stimrank::Evaluation evaluation = rules->evaluate_json(profile);  // never throws
      outputs[static_cast<std::size_t>(t)] =
          evaluation.ok() ? evaluation.result->to_json() : "error";
    });
  for (auto& thread : threads) thread.join();

  stimrank::Evaluation evaluation = rules->evaluate_json(profile);
  if (!evaluation.ok()) {
    for (const auto& error : evaluation.errors) std::cerr << error.format() << "\n";
    return 1;
  }
  for (const stimrank::OptionResult& option : evaluation.result->options)
    if (option.rank)
      std::cout << *option.rank << ". " << option.option << " ("
                << stimrank::to_string(option.status) << ", score " << option.score << ")\n";
  bool agree = true;
  for (const std::string& output : outputs) agree = agree && output == evaluation.result->to_json();
  std::cout << thread_count << " threads " << (agree ? "agree" : "DISAGREE") << "\n";
  return agree ? 0 : 1;
}
