// What the authoring commands report, as data: JSON for scripts and the language
// server, SARIF 2.1.0 for code-scanning annotations in CI. The shapes are
// documented in docs/cli.md and kept stable.
#pragma once

#include <string>
#include <vector>

#include "stimrank/diagnostic.hpp"
#include "stimrank/impact.hpp"
#include "stimrank/ruleset.hpp"
#include "stimrank/testing.hpp"

namespace stimrank {

// {"diagnostics": [{code, severity, file, line, column, end: {line, column}, message,
// hints: [...]}], "errors": N, "warnings": N}
[[nodiscard]] std::string diagnostics_json(const std::vector<Diagnostic>& diagnostics);
// One SARIF run of the tool "stimrank"; each code is a reporting rule.
[[nodiscard]] std::string diagnostics_sarif(const std::vector<Diagnostic>& diagnostics,
                                            const std::string& tool_version);
// The rule set's description (options, sources, rules, concepts, policy).
[[nodiscard]] std::string ruleset_info_json(const RuleSetInfo& info);
// {"passed", "failed", "errors": [...], "cases": [{file, name, passed, why, problems,
// ranking, fired_rules}]}
[[nodiscard]] std::string test_report_json(const TestReport& report);
// {"cases", "covered", "percent", "rules": [{rule, kind, options, location, fired}], ...}
[[nodiscard]] std::string coverage_json(const CoverageReport& coverage);
// {"profiles", "changed_profiles", "invalid", "changes": [...], "by_rule": [...], "errors"}
[[nodiscard]] std::string impact_json(const ImpactReport& report);

// The JSON Schema (draft 2020-12) of the profiles `rules` reads, from its facts
// declaration; the concept ids it declares under "x-concepts".
[[nodiscard]] std::string profile_schema_json(const RuleSet& rules);

}  // namespace stimrank
