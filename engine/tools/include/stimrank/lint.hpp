// Static analysis of a rule set for guideline authors (`stimrank lint`).
#pragma once

#include <string>
#include <vector>

#include "stimrank/diagnostic.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank {

struct LintCheck {
  std::string code;  // "L001"
  std::string name;  // "never-fires"
  std::string description;
};
[[nodiscard]] const std::vector<LintCheck>& lint_checks();

struct LintOptions {
  std::vector<std::string> disabled;  // codes or names of checks to skip
};

// Warnings with a code, a location and a hint, sorted by location.
[[nodiscard]] std::vector<Diagnostic> lint_rules(const RuleSet& rules,
                                                 const LintOptions& options = {}) noexcept;

}  // namespace stimrank
