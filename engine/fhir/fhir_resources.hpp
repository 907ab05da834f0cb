// FHIR mapping of resources a caller has already parsed with simdjson (the CDS Hooks
// service reads the request once and hands its prefetched resources over as they
// are). Internal: simdjson is not part of the public API.
#pragma once

#include <simdjson.h>

#include <string>
#include <vector>

#include "stimrank/fhir.hpp"

namespace stimrank::detail {

struct FhirResource {
  simdjson::dom::element resource;  // must outlive the call
  std::string path;                 // where it is, for notes and errors
};

// As evaluate_fhir, over `resources` in place of a Bundle's entries.
[[nodiscard]] Evaluation evaluate_fhir_resources(const RuleSet& rules,
                                                 const std::vector<FhirResource>& resources,
                                                 const FhirOptions& options) noexcept;

// The mapping alone, as evaluation needs it (the compact profile and the warnings,
// no report): for a caller that evaluates the profile with an Evaluator of its own.
[[nodiscard]] FhirMapping map_fhir_resources(const RuleSet& rules,
                                             const std::vector<FhirResource>& resources,
                                             const FhirOptions& options) noexcept;

}  // namespace stimrank::detail
