// Shared by the libFuzzer targets: the shipped knowledge base, loaded once, and a
// failure that libFuzzer records as a crash (with the input that caused it).
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stimrank/stimrank.hpp>
#include <string>

namespace fuzzing {

inline const stimrank::RuleSet& knowledge_base() {
  static const std::shared_ptr<const stimrank::RuleSet> rules = [] {
    stimrank::LoadResult loaded = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR);
    if (!loaded.ok()) {
      std::fprintf(stderr, "fuzz: the knowledge base does not load\n");
      std::abort();
    }
    return loaded.ruleset;
  }();
  return *rules;
}

// A broken property: print why and abort, so libFuzzer keeps the input.
[[noreturn]] inline void property_failed(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz: property failed: %s\n%s\n", what, detail.c_str());
  std::abort();
}

// One input of each target (tests/fuzz/fuzz_*.cpp); the regression test replays
// tests/fuzz/regressions/<target>/ through them.
int one_rules(const unsigned char* data, std::size_t size);
int one_profile(const unsigned char* data, std::size_t size);
int one_fhir(const unsigned char* data, std::size_t size);
int one_testfile(const unsigned char* data, std::size_t size);
int one_cds_hooks(const unsigned char* data, std::size_t size);

}  // namespace fuzzing
