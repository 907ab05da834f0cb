// Loading, checking and compiling a rule set; evaluating profiles against it.
// Nothing here throws: problems come back as diagnostics or profile errors.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stimrank/diagnostic.hpp"
#include "stimrank/limits.hpp"
#include "stimrank/result.hpp"

namespace stimrank {

struct LoadOptions {
  Limits limits;
  // Texts that stand in for files on disk, by path (an editor's unsaved buffers):
  // load_rules reads these instead, and a folder's rule set includes the ones in it.
  std::vector<std::pair<std::string, std::string>> overlay;
};

// An in-memory rule file, for callers that do not read from disk.
struct SourceText {
  std::string name;  // used in diagnostics and by include
  std::string text;
};

namespace detail {
struct CompiledRuleSet;
struct RuleSetAccess;
}  // namespace detail

// A read-only description of a compiled rule set: for evidence tables, reviews and tools.
struct SourceInfo {
  std::string id, citation, doi, url;
  std::vector<std::string> tags;
};
struct RuleInfo {
  std::string id;
  std::string kind;  // indication, absolute_contraindication, …
  std::vector<std::string> options;
  std::string condition;  // the condition's source text
  std::string label;      // what the recommendation is about ("" if not given)
  std::string because;
  std::string scheme;  // grading scheme id ("" without a grade)
  std::string grade;   // e.g. "GRADE(direction for, line first)"
  double weight = 0;   // indication: ranking weight; relative contraindication: penalty
  std::string source, doi, url;
  std::vector<std::string> tags;
  bool unverified = false;
  std::string location;  // file:line:column
};
struct ComplicationInfo {
  std::string text, rate, source, doi;
  std::vector<std::string> tags;
};
struct OptionInfo {
  std::string id, title, family, invasiveness, protocol;
  std::vector<std::string> notes;
  std::vector<std::pair<std::string, std::string>> details;
  std::vector<ComplicationInfo> complications;
};
struct ConceptInfo {
  std::string id, title;
  bool valueset = false;
  std::vector<std::string> codes;     // "icd10:G905", "snomed:2177002", "local:pregabalin"
  std::vector<std::string> includes;  // concept ids
};
struct PolicyInfo {
  std::string rank;     // e.g. "status, specificity, invasiveness, score desc, id"
  std::string because;  // why (the policy's `because`), "" if not given
  std::string source, doi, url;
  std::vector<std::string> tags;
};
struct RuleSetInfo {
  std::string name, version, digest;
  PolicyInfo policy;
  std::vector<SourceInfo> sources;
  std::vector<OptionInfo> options;
  std::vector<RuleInfo> rules;
  std::vector<ConceptInfo> concepts;
};

// A compiled rule set: immutable, cheap to copy (shared), safe to use from many threads.
class RuleSet {
 public:
  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] const std::string& version() const noexcept;
  [[nodiscard]] const std::string& digest() const noexcept;  // "sha256:…" of all sources
  [[nodiscard]] std::vector<std::string> option_ids() const;
  [[nodiscard]] const std::vector<Diagnostic>& warnings() const noexcept;
  [[nodiscard]] RuleSetInfo describe() const;

  // Validates the profile against the rule set's fact schema, then evaluates it.
  [[nodiscard]] Evaluation evaluate_json(std::string_view profile_json) const noexcept;

 private:
  friend struct detail::RuleSetAccess;
  explicit RuleSet(std::shared_ptr<const detail::CompiledRuleSet> impl) noexcept;
  std::shared_ptr<const detail::CompiledRuleSet> impl_;
};

struct LoadResult {
  std::shared_ptr<const RuleSet> ruleset;  // null when there were errors
  std::vector<Diagnostic> diagnostics;     // errors and warnings, sorted by location
  [[nodiscard]] bool ok() const noexcept { return ruleset != nullptr; }
};

// A rule file, or a folder whose *.rules files are all loaded (includes are followed).
[[nodiscard]] LoadResult load_rules(const std::string& path,
                                    const LoadOptions& options = {}) noexcept;
// Rule files held in memory; include names are resolved among them.
[[nodiscard]] LoadResult compile_rules(const std::vector<SourceText>& files,
                                       const LoadOptions& options = {}) noexcept;
// The shipped knowledge base: $STIMRANK_RULES, the installed copy, or the source tree's.
[[nodiscard]] std::string default_rules_path();

}  // namespace stimrank
