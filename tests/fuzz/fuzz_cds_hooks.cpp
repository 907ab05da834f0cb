// CDS Hooks calls: any request body sent to each service, answered as the server
// would (never fetching from fhirServer). Every answer is a status the spec names
// with a JSON body: cards that follow the spec on 200, an OperationOutcome otherwise.
#include <nlohmann/json.hpp>
#include <stimrank/serve.hpp>

#include "fuzz_common.hpp"

namespace {

std::size_t characters(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

void check_answer(const stimrank::CdsAnswer& answer, const std::string& input) {
  if (answer.status != 200 && answer.status != 400 && answer.status != 404 &&
      answer.status != 412 && answer.status != 413)
    fuzzing::property_failed("a call is answered 200, 400, 404, 412 or 413", input);
  const nlohmann::json body = nlohmann::json::parse(answer.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    fuzzing::property_failed("every answer is a JSON object", answer.body);
  if (answer.status != 200) {
    if (body.value("resourceType", "") != "OperationOutcome" || !body.contains("issue"))
      fuzzing::property_failed("an error is an OperationOutcome", answer.body);
    return;
  }
  if (!body.contains("cards") || !body["cards"].is_array())
    fuzzing::property_failed("a 200 answer has cards", answer.body);
  for (const auto& card : body["cards"]) {
    const std::string summary = card.value("summary", "");
    const std::string indicator = card.value("indicator", "");
    if (summary.empty() || characters(summary) > 140)
      fuzzing::property_failed("a card's summary has 1 to 140 characters", answer.body);
    if (indicator != "info" && indicator != "warning" && indicator != "critical")
      fuzzing::property_failed("a card's indicator is info, warning or critical", answer.body);
    if (!card.contains("source") || !card["source"].contains("label") || !card.contains("uuid"))
      fuzzing::property_failed("a card has a source label and a uuid", answer.body);
  }
}

}  // namespace

int fuzzing::one_cds_hooks(const unsigned char* data, std::size_t size) {
  static const std::shared_ptr<const stimrank::RuleSet> rules = [] {
    return stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR).ruleset;
  }();
  static const stimrank::ServeOptions options = [] {
    stimrank::ServeOptions o;
    o.allow_unauthenticated = true;
    o.fetch_from_fhir_server = false;  // no network from a fuzzer
    o.max_body_bytes = 1u << 20;
    return o;
  }();
  const std::string input(reinterpret_cast<const char*>(data), size);
  for (const char* service :
       {"stimrank-patient-view", "stimrank-order-select", "stimrank-order-sign"})
    check_answer(stimrank::answer_cds_call(rules, options, service, input), input);
  return 0;
}

#ifndef STIMRANK_FUZZ_NO_MAIN
extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  return fuzzing::one_cds_hooks(data, size);
}
#endif
