// A condition (a plan node, or a flat rule's tests) evaluated on a profile's facts.
#pragma once

#include "plan.hpp"

namespace stimrank::engine {

// The truth of a node; `entry`: the list entry a node inside `any`/`count` tests.
Truth evaluate_node(const Plan& plan, std::uint32_t node, const Facts& facts, const Entry* entry);

// A flat rule reached through its anchor: its remaining tests, Kleene-and'ed.
Truth evaluate_flat(const Plan& plan, const FlatTest* test, const FlatTest* end,
                    const Facts& facts);

// Whether an assessed finding is in question for a list: neither recorded as absent
// nor, with `assessed when c`, outside the profiles that have c. (Listed as present,
// the entry test itself holds.)
bool finding_in_question(const ListFact& list, const AssessedFinding& finding);
bool any_in_question(const ListFact& list, const std::vector<AssessedFinding>& findings);

}  // namespace stimrank::engine
