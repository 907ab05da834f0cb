// Evaluating many profiles: an Evaluator keeps its buffers from one profile to the
// next and writes results straight into a caller's string. Use one per thread;
// the RuleSet behind it is shared and read-only.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stimrank/result.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank {

enum class OutputFormat {
  json,  // the contract's result JSON, compact, on one line
  tsv,   // profile TAB fired rule ids TAB option:score,… (tsv_line)
};

// The benchmark's canonical result line, without the newline: profile TAB the
// fired rule ids (sorted, comma-separated) TAB the ranking as option:score,….
[[nodiscard]] std::string tsv_line(const Result& result);

class Evaluator {
 public:
  explicit Evaluator(std::shared_ptr<const RuleSet> ruleset);
  ~Evaluator();
  Evaluator(Evaluator&&) noexcept;
  Evaluator& operator=(Evaluator&&) noexcept;

  // Appends the result of one profile in `format` (no newline) and returns true.
  // An invalid profile appends nothing, fills `errors` (every problem) and returns false.
  bool append(std::string_view profile_json, OutputFormat format, std::string& out,
              std::vector<ProfileError>& errors) noexcept;
  // As RuleSet::evaluate_json, with the buffers reused.
  [[nodiscard]] Evaluation evaluate(std::string_view profile_json) noexcept;
  // The same into `result`, reusing its strings and vectors: after the first few
  // profiles an evaluation allocates next to nothing. Returns true when the profile
  // was valid; otherwise fills `errors` (every problem) and leaves `result` cleared.
  bool evaluate(std::string_view profile_json, Result& result,
                std::vector<ProfileError>& errors) noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Many profiles (JSON texts) at once on `threads` threads, the caller's among them
// (0 = one per core): one Evaluation per profile, in the same order, as
// RuleSet::evaluate_json would give. Empty only when memory for the answers could
// not be had.
[[nodiscard]] std::vector<Evaluation> evaluate_many(const std::shared_ptr<const RuleSet>& ruleset,
                                                    const std::vector<std::string>& profiles,
                                                    unsigned threads = 0) noexcept;

}  // namespace stimrank
