// Rule-set tests for guideline authors: vignette files with expected statuses and
// ranks (docs/testing.md describes the format).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "stimrank/ruleset.hpp"

namespace stimrank {

struct TestCaseResult {
  std::string file, name, why;
  bool passed = false;
  std::vector<std::string> problems;     // expected vs actual, one per line
  std::string ranking;                   // "1. a (recommended), 2. b (consider)"
  std::vector<std::string> fired_rules;  // rules behind the options named in the failures
  std::vector<std::string> all_fired;    // every rule that fired for this case (coverage)
};

struct TestReport {
  std::vector<TestCaseResult> cases;
  std::vector<std::string> errors;  // files that could not be read or parsed
  int passed = 0, failed = 0;
};

// Runs every case of one test file against the rule set. Never throws.
[[nodiscard]] TestReport run_test_file(const RuleSet& rules, const std::string& path,
                                       const Limits& limits = {}) noexcept;
// The same for a test file's text already in memory; `path` names it in messages.
[[nodiscard]] TestReport run_test_text(const RuleSet& rules, const std::string& path,
                                       std::string_view text) noexcept;
// JUnit XML for CI systems.
[[nodiscard]] std::string junit_xml(const TestReport& report);

// Which rules the tests exercised: fired at least once, or only evaluated.
struct RuleCoverage {
  std::string rule, kind, options, location;  // location: file:line:column
  int fired = 0;                              // cases in which it fired
};
struct CoverageReport {
  std::vector<RuleCoverage> rules;
  int cases = 0, covered = 0;  // rules fired at least once
  double percent = 0;
  int indications = 0, indications_covered = 0;
  int contraindications = 0, contraindications_covered = 0;
};
[[nodiscard]] CoverageReport rule_coverage(const RuleSet& rules, const TestReport& report);
[[nodiscard]] std::string coverage_markdown(const CoverageReport& coverage);
[[nodiscard]] std::string coverage_lcov(const CoverageReport& coverage);

}  // namespace stimrank
