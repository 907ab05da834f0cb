// Rule-set tests for guideline authors: vignette files with expected statuses and
// ranks (docs/testing.md describes the format).
#pragma once

#include <string>
#include <vector>

#include "stimrank/ruleset.hpp"

namespace stimrank {

struct TestCaseResult {
  std::string file, name, why;
  bool passed = false;
  std::vector<std::string> problems;    // expected vs actual, one per line
  std::string ranking;                  // "1. a (recommended), 2. b (consider)"
  std::vector<std::string> fired_rules; // rules behind the options named in the failures
};

struct TestReport {
  std::vector<TestCaseResult> cases;
  std::vector<std::string> errors;      // files that could not be read or parsed
  int passed = 0, failed = 0;
};

// Runs every case of one test file against the rule set. Never throws.
[[nodiscard]] TestReport run_test_file(const RuleSet& rules, const std::string& path) noexcept;
// JUnit XML for CI systems.
[[nodiscard]] std::string junit_xml(const TestReport& report);

}  // namespace stimrank
