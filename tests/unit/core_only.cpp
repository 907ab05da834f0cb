// Linked with stimrank::core alone (no SQLite, no tools): the core loads the
// knowledge base and evaluates a profile, and a registry reference gets a clear
// diagnostic instead of a link error. Exit 0 when both hold.
#include <iostream>

#include "stimrank/core.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto loaded = stimrank::load_rules(argv[1]);
  if (!loaded.ok()) {
    std::cerr << "the knowledge base did not load\n";
    return 1;
  }
  auto evaluation = loaded.ruleset->evaluate_json(R"({"id":"core-only","age":60})");
  if (!evaluation.ok() || evaluation.result->options.empty()) {
    std::cerr << "the profile was not evaluated\n";
    return 1;
  }
  auto registry = stimrank::load_rules("db:registry.sqlite#x@1");
  if (registry.ok() || registry.diagnostics.empty() || registry.diagnostics[0].code != "E105" ||
      registry.diagnostics[0].message.find("storage library") == std::string::npos) {
    std::cerr << "a db: reference should be E105 without the storage library\n";
    return 1;
  }
  std::cout << "core alone: " << evaluation.result->options.size() << " options, "
            << registry.diagnostics[0].format() << "\n";
  return 0;
}
