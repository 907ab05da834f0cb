// FHIR records: any text mapped, with and without the report. A record that maps
// gives a profile the engine accepts, and the same profile either way.
#include <stimrank/fhir.hpp>

#include "fuzz_common.hpp"

int fuzzing::one_fhir(const unsigned char* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const stimrank::RuleSet& rules = fuzzing::knowledge_base();
  const stimrank::FhirOptions options{"2026-12-01", ""};
  stimrank::FhirMapping mapping = stimrank::map_fhir(rules, text, options);
  stimrank::Evaluation evaluation = stimrank::evaluate_fhir(rules, text, options);
  if (mapping.ok() != evaluation.ok())
    fuzzing::property_failed("a record maps exactly when it evaluates", text);
  if (!mapping.ok()) return 0;
  stimrank::Evaluation direct = rules.evaluate_json(mapping.profile);
  if (!direct.ok())
    fuzzing::property_failed("a mapped profile is a valid profile", mapping.profile);
  if (direct.result->to_json() != [&] {
        stimrank::Result r = *evaluation.result;
        r.warnings = direct.result->warnings;  // evaluate_fhir adds the mapping's warnings
        return r.to_json();
      }())
    fuzzing::property_failed("evaluate_fhir ranks as its mapped profile does", mapping.profile);
  return 0;
}

#ifndef STIMRANK_FUZZ_NO_MAIN
extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  return fuzzing::one_fhir(data, size);
}
#endif
