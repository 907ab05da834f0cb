// Profiles: the validating loader and the fast (simdjson) reader on any text. The
// fast reader may give up, never disagree: what it takes, the validating loader
// takes too, with the same warnings and the same result.
#include "compiled.hpp"
#include "explanation.hpp"
#include "fuzz_common.hpp"
#include "profile.hpp"

int fuzzing::one_profile(const unsigned char* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto& impl = stimrank::detail::compiled(fuzzing::knowledge_base());
  stimrank::engine::Facts full, fast;
  std::vector<stimrank::ProfileError> errors;
  const bool valid =
      stimrank::engine::load_profile(impl.model, impl.plan, text, impl.limits, full, errors);
  if (valid != errors.empty()) fuzzing::property_failed("invalid exactly when errors", text);
  if (!stimrank::engine::fast_load_profile(impl.model, impl.plan, text, impl.limits, fast))
    return 0;
  if (!valid) fuzzing::property_failed("the fast reader takes only valid profiles", text);
  if (fast.warnings != full.warnings)
    fuzzing::property_failed("the fast reader warns as the validating loader does", text);
  if (stimrank::engine::evaluate_facts(impl.model, impl.plan, fast).to_json() !=
      stimrank::engine::evaluate_facts(impl.model, impl.plan, full).to_json())
    fuzzing::property_failed("both readers give the same result", text);
  return 0;
}

#ifndef STIMRANK_FUZZ_NO_MAIN
extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  return fuzzing::one_profile(data, size);
}
#endif
