// A condition (a plan node, or a flat rule's tests) evaluated on a profile's facts.
#pragma once

#include "plan.hpp"

namespace stimrank::engine {

// The truth of a node; `entry`: the list entry a node inside `any`/`count` tests.
Truth evaluate_node(const Plan& plan, std::uint32_t node, const Facts& facts, const Entry* entry);

// A flat rule reached through its anchor: its remaining tests, Kleene-and'ed.
Truth evaluate_flat(const Plan& plan, const FlatTest* test, const FlatTest* end,
                    const Facts& facts);

}  // namespace stimrank::engine
