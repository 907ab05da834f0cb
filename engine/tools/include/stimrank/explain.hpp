// The full reasoning for one patient, and what would change it (`stimrank explain`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "stimrank/result.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank {

struct ExplainReport {
  bool ok = false;
  std::string text;                  // Markdown-ish text for a person
  std::string result_json;           // the result explained, as `evaluate` writes it
  std::vector<ProfileError> errors;  // when the profile is invalid
};

// Every option with every rule's truth and its sub-expressions' values; for each
// option not ranked first, the single facts (or pairs) whose change would move it up
// or exclude it; for each missing field, the ranking under each value the rules name.
[[nodiscard]] ExplainReport explain_profile(const RuleSet& rules,
                                            std::string_view profile_json) noexcept;
// The same for one option only (an unknown id is an error with a suggestion).
[[nodiscard]] ExplainReport explain_profile(const RuleSet& rules, std::string_view profile_json,
                                            const std::string& only_option) noexcept;

}  // namespace stimrank
