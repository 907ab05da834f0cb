// JSON Lines batches: many profiles in, one result (or error) line each out.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stimrank/evaluator.hpp"

namespace stimrank {

// Records each profile a batch evaluates, with its result (stimrank/storage.hpp's
// AuditLog is one).
class ResultRecorder {
 public:
  virtual ~ResultRecorder() = default;
  [[nodiscard]] virtual bool append(const Result& result, std::string_view profile_json,
                                    std::string& error) noexcept = 0;
};

struct JsonlOptions {
  OutputFormat format = OutputFormat::json;
  unsigned threads = 0;             // threads, the caller's among them; 0 = one per core
  std::string label = "stdin";      // names the input in messages: "label:LINE: …"
  ResultRecorder* audit = nullptr;  // when set, every evaluated profile is recorded
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
