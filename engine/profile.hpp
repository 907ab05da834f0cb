#pragma once

#include <string_view>
#include <vector>

#include "plan.hpp"
#include "stimrank/result.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank::engine {

// Validates and loads one profile; false (with every error) when it is invalid.
bool load_profile(const rules::model::Model& model, const Plan& plan, std::string_view text,
                  const Limits& limits, Facts& facts, std::vector<ProfileError>& errors);

// Evaluates loaded facts: statuses, scores, ranking and explanations.
Result evaluate_facts(const rules::model::Model& model, const Plan& plan, const Facts& facts);

}  // namespace stimrank::engine

namespace stimrank::detail {
struct CompiledRuleSet {
  rules::model::Model model;
  engine::Plan plan;
  Limits limits;
};
}  // namespace stimrank::detail
