// The impact of a rule-set change on a cohort (`stimrank diff`): which patients'
// statuses or ranks change, grouped by the rules responsible.
#pragma once

#include <string>
#include <vector>

#include "stimrank/ruleset.hpp"

namespace stimrank {

struct OptionChange {
  std::string profile, option;
  std::string old_status, new_status;
  int old_rank = 0, new_rank = 0;  // 0 = not ranked
  std::vector<std::string> rules;  // the rules held responsible
};

struct RuleImpact {
  std::string rule;
  std::string change;                 // "added", "removed", "changed", "fires differently"
  std::vector<std::string> profiles;  // patients affected
  int option_changes = 0;
};

struct ImpactReport {
  int profiles = 0, changed_profiles = 0, invalid = 0;
  std::vector<OptionChange> changes;
  std::vector<RuleImpact> by_rule;  // most patients first
  std::vector<std::string> errors;
};

// Evaluates every profile (JSON) under both rule sets and attributes each change.
[[nodiscard]] ImpactReport compare_rule_sets(const RuleSet& before, const RuleSet& after,
                                             const std::vector<std::string>& profiles) noexcept;
[[nodiscard]] std::string render_impact(const ImpactReport& report, const RuleSet& before,
                                        const RuleSet& after);

}  // namespace stimrank
