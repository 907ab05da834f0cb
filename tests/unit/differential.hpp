// Differential check of one profile: every fast path of the engine against the
// plain evaluation (the validating loader, every rule evaluated node by node, the
// explained Result). Used on hand-written rule sets and on damaged ones.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiled.hpp"
#include "conditions.hpp"
#include "decision.hpp"
#include "explanation.hpp"
#include "helpers.hpp"
#include "profile.hpp"

namespace testing {

// The reference: the validating loader, every rule evaluated, the explained Result.
inline stimrank::Result reference_result(
    const stimrank::RuleSet& rules, const std::string& profile,
    std::vector<stimrank::engine::Truth>* truth_out = nullptr) {
  const auto& impl = stimrank::detail::compiled(rules);
  stimrank::engine::Facts facts;
  std::vector<stimrank::ProfileError> errors;
  REQUIRE(
      stimrank::engine::load_profile(impl.model, impl.plan, profile, impl.limits, facts, errors));
  std::vector<stimrank::engine::Truth> truth(impl.plan.rules.size());
  for (std::size_t r = 0; r < truth.size(); ++r)
    truth[r] = stimrank::engine::evaluate_node(
        impl.plan, static_cast<std::uint32_t>(impl.plan.rules[r].root), facts, nullptr);
  if (truth_out) *truth_out = truth;
  stimrank::engine::Assessment decision;
  stimrank::engine::decide_from_truth(impl.model, impl.plan, truth, decision);
  return stimrank::engine::explain_result(impl.model, impl.plan, facts, decision);
}

inline int fast_reads = 0;  // profiles the fast reader took

// The rule set's plan without the rule bitmap: every rule through the index. The
// last rule set is kept alive with its plan, so that a new rule set at a freed
// one's address never finds the old plan.
inline const stimrank::engine::Plan& indexed_only_plan(
    const std::shared_ptr<const stimrank::RuleSet>& rules) {
  static std::shared_ptr<const stimrank::RuleSet> planned;
  static stimrank::engine::Plan plan;
  if (planned != rules) {
    plan =
        stimrank::engine::compile_plan(stimrank::detail::compiled(*rules).model, {.bitmap = false});
    planned = rules;
  }
  return plan;
}

// Every fast path against the reference, for one profile the rule set accepts.
inline void check_same(const std::shared_ptr<const stimrank::RuleSet>& rules,
                       const std::string& profile) {
  using stimrank::engine::Truth;
  INFO("profile: " << profile);
  const auto& impl = stimrank::detail::compiled(*rules);
  std::vector<Truth> truth;
  stimrank::Result expected = reference_result(*rules, profile, &truth);

  // A profile with warnings (an unknown code, say) is left to the validating loader.
  stimrank::engine::Facts facts;
  std::vector<stimrank::ProfileError> load_errors;
  if (stimrank::engine::fast_load_profile(impl.model, impl.plan, profile, impl.limits, facts))
    ++fast_reads;
  else
    REQUIRE(stimrank::engine::load_profile_any(impl.model, impl.plan, profile, impl.limits, facts,
                                               load_errors));
  stimrank::engine::Assessment assessment;
  stimrank::engine::assess(impl.model, impl.plan, facts, assessment);
  stimrank::engine::Assessment indexed;
  stimrank::engine::assess(impl.model, indexed_only_plan(rules), facts, indexed);
  for (std::size_t r = 0; r < truth.size(); ++r) {
    INFO("rule " << impl.model.rules[r].id);
    CHECK(assessment.truth[r] == truth[r]);
    CHECK(indexed.truth[r] == truth[r]);
  }
  CHECK(indexed.ranked == assessment.ranked);
  std::map<std::string, stimrank::Status> statuses;
  for (const auto& option : expected.options) statuses[option.option] = option.status;
  for (std::size_t o = 0; o < impl.model.options.size(); ++o)
    CHECK(assessment.options[o].status == statuses[impl.model.options[o].id]);

  stimrank::Evaluation evaluation = rules->evaluate_json(profile);
  REQUIRE(evaluation.ok());
  CHECK(evaluation.result->to_json() == expected.to_json());

  stimrank::Evaluator evaluator(rules);
  std::string json, tsv;
  std::vector<stimrank::ProfileError> errors;
  REQUIRE(evaluator.append(profile, stimrank::OutputFormat::json, json, errors));
  REQUIRE(evaluator.append(profile, stimrank::OutputFormat::tsv, tsv, errors));
  CHECK(json == expected.to_json());
  CHECK(tsv == stimrank::tsv_line(expected));

  // A Result reused from one profile to the next (of any rule set) keeps nothing
  // of the previous one.
  static stimrank::Result reused;
  REQUIRE(evaluator.evaluate(profile, reused, errors));
  CHECK(reused.to_json() == expected.to_json());
}

}  // namespace testing
