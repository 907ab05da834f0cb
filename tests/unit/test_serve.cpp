// The CDS Hooks service answered without HTTP (answer_cds_call): what an embedding
// integrator gets. The HTTP server itself is tested over loopback (test_serve.py).
#include <nlohmann/json.hpp>
#include <stimrank/serve.hpp>

#include "helpers.hpp"

namespace {

std::shared_ptr<const stimrank::RuleSet> knowledge() {
  static auto rules = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR).ruleset;
  return rules;
}

nlohmann::json call(const std::string& patient_birth, const std::string& condition_code) {
  return {{"hook", "patient-view"},
          {"hookInstance", "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"},
          {"context", {{"patientId", "p1"}}},
          {"prefetch",
           {{"patient", {{"resourceType", "Patient"}, {"id", "p1"}, {"birthDate", patient_birth}}},
            {"conditions",
             {{"resourceType", "Bundle"},
              {"type", "searchset"},
              {"entry",
               {{{"resource",
                  {{"resourceType", "Condition"},
                   {"subject", {{"reference", "Patient/p1"}}},
                   {"clinicalStatus", {{"coding", {{{"code", "active"}}}}}},
                   {"code",
                    {{"coding",
                      {{{"system", "http://hl7.org/fhir/sid/icd-10-cm"},
                        {"code", condition_code}}}}}}}}}}}}}}}};
}

}  // namespace

TEST_CASE("a CDS Hooks call answered without HTTP", "[serve]") {
  stimrank::ServeOptions options;
  options.allow_unauthenticated = true;
  options.fetch_from_fhir_server = false;
  options.public_url = "https://cds.example/stimrank";
  // Postherpetic neuralgia (ICD-10-CM B02.29): a ranked option, one card.
  auto answer = stimrank::answer_cds_call(knowledge(), options, "stimrank-patient-view",
                                          call("1950-03-01", "B02.29").dump());
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  auto body = nlohmann::json::parse(answer.body);
  REQUIRE(body["cards"].size() == 1);
  const auto& card = body["cards"][0];
  CHECK(card["indicator"] == "info");
  CHECK(card["links"][0]["url"].get<std::string>().rfind("https://cds.example/stimrank/explain/",
                                                         0) == 0);
  CHECK(card["detail"].get<std::string>().find("doi.org") != std::string::npos);

  auto unknown = stimrank::answer_cds_call(knowledge(), options, "no-such-service", "{}");
  CHECK(unknown.status == 404);
  CHECK(nlohmann::json::parse(unknown.body)["resourceType"] == "OperationOutcome");
  auto future = stimrank::answer_cds_call(knowledge(), options, "stimrank-patient-view",
                                          call("2999-01-01", "B02.29").dump());
  CHECK(future.status == 400);
  CHECK(future.body.find("prefetch.patient.birthDate") != std::string::npos);
  options.max_body_bytes = 100;
  auto large = stimrank::answer_cds_call(knowledge(), options, "stimrank-patient-view",
                                         call("1950-03-01", "B02.29").dump());
  CHECK(large.status == 413);
  CHECK(stimrank::answer_cds_call(nullptr, options, "stimrank-patient-view", "{}").status == 500);
}
