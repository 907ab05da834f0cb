// An independent reference evaluator: a deliberately plain tree walk over the
// checked model (rules::model) and the profile's JSON, sharing nothing with the
// engine's plan, rule index, bitmap, profile readers or ranking: its own Kleene
// logic, its own code matching, its own statuses, scores and ranking, written from
// docs/language.md ("How a status is decided", "The ranking policy") and
// docs/engine.md ("Explaining"). Differential tests (tests/unit/test_reference.cpp)
// compare it with the engine on generated rule sets and profiles.
//
// It takes valid profiles only (the generator writes them) and does not model
// `assessed` findings (the generator declares none).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model.hpp"

namespace reference {

struct Answer {
  std::string option;
  std::string status;  // recommended, consider, research_only, not_indicated, excluded
  std::optional<int> rank;
  double score = 0;
  // "rule kind" for each rule that fired, "rule prerequisite met|unmet", and
  // "rule missing_data" for each unknown rule that holds a ranked option back; sorted.
  std::vector<std::string> reasons;
  std::vector<std::string> missing;  // JSON Pointers, sorted, distinct
};

// The options in output order: ranked first, then research-only, not indicated and
// excluded ones, each group in declaration order.
std::vector<Answer> evaluate(const stimrank::rules::model::Model& model,
                             const std::string& profile);

}  // namespace reference
