// Loading, checking and compiling a rule set; evaluating profiles against it.
// Nothing here throws: problems come back as diagnostics or profile errors.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stimrank/diagnostic.hpp"
#include "stimrank/result.hpp"

namespace stimrank {

struct Limits {
  std::size_t max_file_bytes = 8u << 20;     // one rule file
  std::size_t max_files = 512;               // files reached through include
  int max_expression_depth = 64;             // nesting of and/or/not/parentheses
  std::size_t max_rules = 200000;
  std::size_t max_profile_bytes = 4u << 20;  // one JSON profile
  int max_profile_depth = 32;
};

struct LoadOptions {
  Limits limits;
};

// An in-memory rule file, for callers that do not read from disk.
struct SourceText {
  std::string name;  // used in diagnostics and by include
  std::string text;
};

namespace detail {
struct CompiledRuleSet;
}

// A compiled rule set: immutable, cheap to copy (shared), safe to use from many threads.
class RuleSet {
 public:
  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] const std::string& version() const noexcept;
  [[nodiscard]] const std::string& digest() const noexcept;  // "sha256:…" of all sources
  [[nodiscard]] std::vector<std::string> option_ids() const;
  [[nodiscard]] const std::vector<Diagnostic>& warnings() const noexcept;

  // Validates the profile against the rule set's fact schema, then evaluates it.
  [[nodiscard]] Evaluation evaluate_json(std::string_view profile_json) const noexcept;

  explicit RuleSet(std::shared_ptr<const detail::CompiledRuleSet> impl) noexcept;
  [[nodiscard]] const detail::CompiledRuleSet& impl() const noexcept { return *impl_; }

 private:
  std::shared_ptr<const detail::CompiledRuleSet> impl_;
};

struct LoadResult {
  std::shared_ptr<const RuleSet> ruleset;  // null when there were errors
  std::vector<Diagnostic> diagnostics;     // errors and warnings, sorted by location
  [[nodiscard]] bool ok() const noexcept { return ruleset != nullptr; }
};

// A rule file, or a folder whose *.rules files are all loaded (includes are followed).
[[nodiscard]] LoadResult load_rules(const std::string& path, const LoadOptions& options = {}) noexcept;
// Rule files held in memory; include names are resolved among them.
[[nodiscard]] LoadResult compile_rules(const std::vector<SourceText>& files,
                                       const LoadOptions& options = {}) noexcept;
// The shipped knowledge base: $STIMRANK_RULES, the installed copy, or the source tree's.
[[nodiscard]] std::string default_rules_path();

}  // namespace stimrank
