// What a RuleSet holds: the checked model, its plan and the limits it was loaded
// with. Internal to the library and its white-box tests and benchmarks; the
// public RuleSet keeps it behind a pointer.
#pragma once

#include <memory>

#include "model.hpp"
#include "plan.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank::detail {

struct CompiledRuleSet {
  rules::model::Model model;
  engine::Plan plan;
  Limits limits;
};

// The only way in and out of RuleSet's representation (a friend of RuleSet).
struct RuleSetAccess {
  static std::shared_ptr<const RuleSet> make(std::shared_ptr<const CompiledRuleSet> compiled);
  static const CompiledRuleSet& compiled(const RuleSet& ruleset) noexcept { return *ruleset.impl_; }
};

inline const CompiledRuleSet& compiled(const RuleSet& ruleset) noexcept {
  return RuleSetAccess::compiled(ruleset);
}

}  // namespace stimrank::detail
