// FHIR R4 records in: a patient's Bundle mapped to a profile, with a report of every
// resource and coding used and every one ignored, and why. Nothing here throws;
// problems come back as errors with their FHIR path. The date the record is read
// at is an input, never the clock.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "stimrank/result.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank {

struct FhirOptions {
  std::string as_of;    // YYYY-MM-DD: ages and "latest" are read at this date (required)
  std::string patient;  // Patient.id, when the bundle holds more than one Patient
};

// One resource or coding of the record, and what became of it.
struct FhirNote {
  std::string path;      // e.g. "Bundle.entry[3].resource.code.coding[0]"
  std::string resource;  // e.g. "Condition/9149aa8f-…"
  std::string what;      // used: what it became; ignored: why not
};

struct FhirMapping {
  std::string profile;  // the derived profile JSON (pretty-printed), "" when there are errors
  std::vector<FhirNote> used, ignored;
  std::vector<std::string> warnings;  // also given to the result's warnings by evaluate_fhir
  std::vector<ProfileError> errors;   // path: a FHIR path ("Bundle.entry[2].resource.birthDate")
  [[nodiscard]] bool ok() const noexcept { return errors.empty(); }
  // {"used": [{"path", "resource", "what"}…], "ignored": […], "warnings": […], "errors": […]}
  [[nodiscard]] std::string report_json() const;
};

// A Bundle (collection, transaction, batch, searchset) or a bare array of resources
// for one patient → a profile for `rules`: codes are matched against its concepts,
// so the report can say which ones it knows.
[[nodiscard]] FhirMapping map_fhir(const RuleSet& rules, std::string_view bundle_json,
                                   const FhirOptions& options) noexcept;

// map_fhir, then the profile evaluated; the mapping's warnings join the result's.
// A bundle that cannot be mapped gives its errors.
[[nodiscard]] Evaluation evaluate_fhir(const RuleSet& rules, std::string_view bundle_json,
                                       const FhirOptions& options) noexcept;

}  // namespace stimrank
