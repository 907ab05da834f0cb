// The impact of a rule-set change on a cohort (`stimrank diff`): which patients'
// statuses or ranks change, grouped by the rules responsible.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
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
  std::vector<std::string> profiles;  // patients affected, among the listed changes
  int patients = 0;                   // patients affected, all of them
  int option_changes = 0;
};

struct ImpactReport {
  int profiles = 0, changed_profiles = 0, invalid = 0;
  std::vector<OptionChange> changes;  // whole patients, until max_listed_changes is reached
  std::size_t unlisted_changes = 0;   // counted in by_rule, not listed in changes
  std::vector<RuleImpact> by_rule;    // most patients first
  std::vector<std::string> errors;    // the first ImpactOptions::max_listed_errors
  std::size_t unlisted_errors = 0;
};

// How much of a cohort's changes a report lists; the counts are always exact, so
// memory stays bounded whatever the cohort's size.
struct ImpactOptions {
  std::size_t max_listed_changes = 10000;
  std::size_t max_listed_errors = 1000;
};

// A cohort compared one profile at a time (a cohort is read as it streams by).
class ImpactComparison {
 public:
  ImpactComparison(const RuleSet& before, const RuleSet& after,
                   const ImpactOptions& options = {}) noexcept;
  // One profile (JSON) evaluated under both rule sets, its changes attributed.
  void add(std::string_view profile_json) noexcept;
  // A profile that could not be read (a line over the size limit): counted as
  // invalid, with this message.
  void add_unreadable(const std::string& message) noexcept;
  // The report, by-rule sorted; the comparison is spent.
  [[nodiscard]] ImpactReport finish() noexcept;

 private:
  void error(std::string message);
  const RuleSet& before_;
  const RuleSet& after_;
  ImpactOptions options_;
  std::map<std::string, std::string> rule_change_;  // rule → how it changed
  std::map<std::string, RuleImpact> impacts_;
  ImpactReport report_;
};

// Evaluates every profile (JSON) under both rule sets and attributes each change.
[[nodiscard]] ImpactReport compare_rule_sets(const RuleSet& before, const RuleSet& after,
                                             const std::vector<std::string>& profiles,
                                             const ImpactOptions& options = {}) noexcept;
[[nodiscard]] std::string render_impact(const ImpactReport& report, const RuleSet& before,
                                        const RuleSet& after);

}  // namespace stimrank
