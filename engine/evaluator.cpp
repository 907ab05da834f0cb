// Evaluator: the batch path. Reads a profile with the fast reader, assesses it with
// the rule index, and renders only what the output format needs.
#include "stimrank/evaluator.hpp"

#include "assess.hpp"
#include "profile.hpp"

namespace stimrank {

struct Evaluator::State {
  std::shared_ptr<const RuleSet> ruleset;
  engine::Facts facts;
  engine::Assessment assessment;
};

Evaluator::Evaluator(std::shared_ptr<const RuleSet> ruleset) : state_(std::make_unique<State>()) {
  state_->ruleset = std::move(ruleset);
}
Evaluator::~Evaluator() = default;
Evaluator::Evaluator(Evaluator&&) noexcept = default;
Evaluator& Evaluator::operator=(Evaluator&&) noexcept = default;

bool Evaluator::append(std::string_view profile_json, OutputFormat format, std::string& out,
                       std::vector<ProfileError>& errors) noexcept {
  const detail::CompiledRuleSet& impl = state_->ruleset->impl();
  std::size_t size_before = out.size();
  try {
    if (!engine::load_profile_any(impl.model, impl.plan, profile_json, impl.limits, state_->facts,
                                  errors))
      return false;
    if (format == OutputFormat::tsv) {
      engine::assess(impl.model, impl.plan, state_->facts, state_->assessment);
      engine::append_tsv(impl.model, impl.plan, state_->facts, state_->assessment, out);
    } else {  // the explanation decides statuses and ranking itself
      engine::assess_truth(impl.model, impl.plan, state_->facts, state_->assessment);
      engine::append_result_json(impl.model, impl.plan, state_->facts, state_->assessment.truth,
                                 out);
    }
    return true;
  } catch (std::exception const& e) {
    out.resize(size_before);
    state_->assessment = engine::Assessment{};  // its traces may be half written
    errors.push_back({"", std::string("internal error: ") + e.what()});
    return false;
  }
}

Evaluation Evaluator::evaluate(std::string_view profile_json) noexcept {
  Evaluation evaluation;
  Result result;
  if (evaluate(profile_json, result, evaluation.errors)) evaluation.result = std::move(result);
  return evaluation;
}

bool Evaluator::evaluate(std::string_view profile_json, Result& result,
                         std::vector<ProfileError>& errors) noexcept {
  const detail::CompiledRuleSet& impl = state_->ruleset->impl();
  try {
    if (engine::load_profile_any(impl.model, impl.plan, profile_json, impl.limits, state_->facts,
                                 errors)) {
      engine::assess_truth(impl.model, impl.plan, state_->facts, state_->assessment);
      engine::fill_result(impl.model, impl.plan, state_->facts, state_->assessment.truth, result);
      return true;
    }
  } catch (std::exception const& e) {
    state_->assessment = engine::Assessment{};
    errors.push_back({"", std::string("internal error: ") + e.what()});
  }
  result = Result{};
  return false;
}

}  // namespace stimrank
