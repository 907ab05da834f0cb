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
  tsv,   // profile TAB fired rule ids TAB option:score,… (Result::to_tsv)
};

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

#include <iosfwd>

namespace stimrank {

class AuditLog;

struct JsonlOptions {
  OutputFormat format = OutputFormat::json;
  unsigned threads = 0;         // threads, the caller's among them; 0 = one per core
  std::string label = "stdin";  // names the input in messages: "label:LINE: …"
  AuditLog* audit = nullptr;    // when set, every evaluated profile is recorded
};

struct JsonlSummary {
  std::size_t lines = 0;    // non-blank input lines read
  std::size_t failed = 0;   // lines that yielded an error line
  std::string read_error;   // set when the input could not be read to its end
  std::string write_error;  // set when `out` failed (a full disk…): the batch stopped there
};

// JSON Lines in, one output line per non-blank input line out, in input order: the
// result, or {"line":N,"errors":[{"path","message"},…]} for a profile that could not
// be evaluated (with "label:N: path: message" lines on `messages`). `threads`
// threads, the caller's among them, take turns reading, evaluating and writing
// (with one, everything runs on the calling thread); memory stays bounded whatever
// the input's length. A read that fails ends the batch at the last whole line read
// (read_error); a write that fails stops it (write_error).
JsonlSummary evaluate_jsonl(const std::shared_ptr<const RuleSet>& ruleset, std::istream& in,
                            std::ostream& out, std::ostream& messages,
                            const JsonlOptions& options) noexcept;

// The error line for one profile that could not be evaluated.
[[nodiscard]] std::string jsonl_error_line(std::size_t line,
                                           const std::vector<ProfileError>& errors);

}  // namespace stimrank
