// The evaluation result as C++ types; to_json() gives the contract's JSON.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace stimrank {

enum class Status { recommended, consider, not_indicated, excluded, research_only };
[[nodiscard]] const char* to_string(Status status) noexcept;

struct GradeDimension {
  std::string name;   // e.g. "strength"
  std::string value;  // e.g. "weak"
};

struct Evidence {
  std::string rule;
  std::string scheme;  // scheme id as declared, e.g. "GRADE"
  std::string scheme_title;
  std::vector<GradeDimension> grade;
  double weight = 0;
  std::string condition;  // what the recommendation is about
  std::string source;
  std::string doi;
  std::vector<std::string> tags;  // verification tags, e.g. "S", "R", "EXTRAP"
  bool unverified = false;
};

struct Reason {
  std::string rule;
  std::string kind;  // indication, absolute_contraindication, relative_contraindication,
                     // caution, prerequisite, missing_data, research_only, not_indicated
  std::string text;
  std::string source;
  std::string doi;
  std::vector<std::string> tags;
  bool unverified = false;
  std::optional<bool> met;           // prerequisites: true, false, or unknown (nullopt)
  std::vector<std::string> missing;  // missing_data: the absent fields
};

struct OptionResult {
  std::string option;
  std::string title;
  std::string family;
  std::string invasiveness;
  Status status = Status::not_indicated;
  std::optional<int> rank;
  double score = 0;
  std::string summary;  // one line a clinician can read
  std::vector<Evidence> evidence;
  std::vector<Reason> reasons;
  std::vector<std::string> missing;  // JSON paths whose absence could change this option
};

struct Result {
  std::string profile;
  std::string ruleset_name;
  std::string ruleset_version;
  std::string ruleset_digest;         // "sha256:…"
  std::vector<OptionResult> options;  // ranked first, in rank order, then the rest
  std::vector<std::string> warnings;

  [[nodiscard]] std::string to_json(int indent = -1) const;  // compact by default
  void append_json(std::string& out) const;                  // compact, appended to `out`
  [[nodiscard]] std::string to_text() const;                 // for a person at a terminal
};

// One problem with a profile: a JSON Pointer and a message.
struct ProfileError {
  std::string path;     // e.g. "/pain/nrs"; "" for the whole document
  std::string message;  // e.g. "expected a number from 0 to 10, got `\"seven\"`"
  [[nodiscard]] std::string format() const;  // "/pain/nrs: expected …"
};

struct Evaluation {
  std::optional<Result> result;      // set when the profile was valid
  std::vector<ProfileError> errors;  // every problem found, when it was not
  [[nodiscard]] bool ok() const noexcept { return result.has_value(); }
};

}  // namespace stimrank
