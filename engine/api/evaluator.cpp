// Evaluator: the batch path. Reads a profile with the fast reader, assesses it with
// the rule index, and renders only what the output format needs.
#include "stimrank/evaluator.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#include "compiled.hpp"
#include "decision.hpp"
#include "explanation.hpp"
#include "profile.hpp"
#include "spread.hpp"

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
  const detail::CompiledRuleSet& impl = stimrank::detail::compiled(*state_->ruleset);
  std::size_t size_before = out.size();
  try {
    if (!engine::load_profile_any(impl.model, impl.plan, profile_json, impl.limits, state_->facts,
                                  errors))
      return false;
    engine::assess(impl.model, impl.plan, state_->facts, state_->assessment);
    if (format == OutputFormat::tsv)
      engine::append_tsv(impl.model, impl.plan, state_->facts, state_->assessment, out);
    else
      engine::append_result_json(impl.model, impl.plan, state_->facts, state_->assessment, out);
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
  const detail::CompiledRuleSet& impl = stimrank::detail::compiled(*state_->ruleset);
  try {
    if (engine::load_profile_any(impl.model, impl.plan, profile_json, impl.limits, state_->facts,
                                 errors)) {
      engine::assess(impl.model, impl.plan, state_->facts, state_->assessment);
      engine::fill_result(impl.model, impl.plan, state_->facts, state_->assessment, result);
      return true;
    }
  } catch (std::exception const& e) {
    state_->assessment = engine::Assessment{};
    errors.push_back({"", std::string("internal error: ") + e.what()});
  }
  result = Result{};
  return false;
}

std::vector<Evaluation> evaluate_many(const std::shared_ptr<const RuleSet>& ruleset,
                                      const std::vector<std::string>& profiles,
                                      unsigned threads) noexcept {
  std::vector<Evaluation> out;
  try {
    out.resize(profiles.size());
  } catch (...) {
    return {};
  }
  unsigned count = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
  count = static_cast<unsigned>(
      std::min<std::size_t>(count, std::max<std::size_t>(1, profiles.size())));
  std::atomic<std::size_t> next{0};
  // Profiles are claimed one at a time: each is tens of microseconds of work.
  auto work = [&]() noexcept {
    try {
      Evaluator evaluator(ruleset);
      for (std::size_t i; (i = next.fetch_add(1)) < profiles.size();)
        out[i] = evaluator.evaluate(profiles[i]);
    } catch (...) {  // no memory for an evaluator: the others, or the check below, go on
    }
  };
  engine::run_on_threads(count, work);
  // A profile claimed by a thread that could not go on is answered, never skipped.
  for (Evaluation& evaluation : out) {
    if (evaluation.result || !evaluation.errors.empty()) continue;
    try {
      evaluation.errors.push_back({"", "internal error: the profile could not be evaluated"});
    } catch (...) {
    }
  }
  return out;
}

}  // namespace stimrank
