// Profile JSON → facts laid out by the plan: the validating reader (every error,
// at its JSON path) and the fast reader for valid profiles.
#pragma once

#include <cmath>
#include <nlohmann/json_fwd.hpp>
#include <string_view>
#include <vector>

#include "plan.hpp"
#include "stimrank/result.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank::engine {

// Whether a number is a whole number, for `int` fields. The test is on the double
// itself: casting a double beyond long long's range to it is undefined behaviour.
inline bool whole_number(double number) {
  return std::isfinite(number) && std::trunc(number) == number;
}

// Validates and loads one profile; false (with every error) when it is invalid.
bool load_profile(const rules::model::Model& model, const Plan& plan, std::string_view text,
                  const Limits& limits, Facts& facts, std::vector<ProfileError>& errors);

// A JSON value as a message quotes it: compact, cut at 40 bytes, in backticks.
std::string show_value(const nlohmann::json& value);

// Why a text that nlohmann/json refuses is not JSON, in the house style, e.g.
// "invalid JSON at byte 12: parse error at line 2, column 3: syntax error …".
std::string json_error(std::string_view text);

// A local concept id or name: lower case, digits and `_`, starting with a letter.
bool local_id_syntax(std::string_view text);
// The warning for a concept id (in a list of codes) that the rule set does not declare.
// With a suggestion when a declared id is close (a typo), for the first few warnings of
// a profile (`earlier_warnings`: how many it has so far) and ids of a plausible length:
// a profile of thousands of unknown ids must not cost seconds of suggestions.
std::string unknown_concept_warning(const rules::model::Model& model, std::string_view entry_path,
                                    std::string_view id, std::size_t earlier_warnings);
// A result lists at most this many warnings of its profile, then how many more there
// were: 300,000 unknown ids are not a list a clinician reads (nor 29 MB of result).
constexpr std::size_t kMaxListedWarnings = 100;
void cap_warnings(std::vector<std::string>& warnings);
// Sets the entry's bits for every concept the code belongs to; ICD-10 and ATC
// match hierarchically (a value set listing G90.5 contains G90.511).
bool match_code(const Plan& plan, Entry& entry, std::string_view system, std::string_view code);

// The fast reader for valid profiles (simdjson); false when it cannot take the
// profile as it is, and the validating loader must report why.
bool fast_load_profile(const rules::model::Model& model, const Plan& plan, std::string_view text,
                       const Limits& limits, Facts& facts);
// The fast reader, and the validating loader when the fast one gives up.
bool load_profile_any(const rules::model::Model& model, const Plan& plan, std::string_view text,
                      const Limits& limits, Facts& facts, std::vector<ProfileError>& errors);

}  // namespace stimrank::engine
