// FHIR mapping benchmarks (Google Benchmark), on the shipped knowledge base:
//   - a typical record (tens of resources): mapping beside evaluating its profile;
//   - the Synthea transaction Bundle of ../shared/fhir (683 KB): mapped, and evaluated;
//   - bundles of 16 to 4096 resources: mapping time against size (linear).
//   build/stimrank_fhir_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stimrank/fhir.hpp>
#include <stimrank/stimrank.hpp>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
const std::string kSource = STIMRANK_SOURCE_DIR;
const stimrank::FhirOptions kOptions{"2026-12-01", ""};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const stimrank::RuleSet& knowledge_base() {
  static const auto loaded = stimrank::load_rules(kSource + "/knowledge");
  return *loaded.ruleset;
}

json coded(const char* system, const std::string& code) {
  return {{"coding", json::array({{{"system", system}, {"code", code}}})}};
}

// A record of `resources` resources: a Patient, then Conditions, Observations,
// MedicationRequests, Devices and Procedures in turn, half of them codes the rule
// set knows and half not, as in a real record.
std::string record(int resources) {
  static const char* kSnomed = "http://snomed.info/sct";
  static const char* kIcd = "http://hl7.org/fhir/sid/icd-10-cm";
  json entries = json::array();
  entries.push_back({{"fullUrl", "urn:uuid:p"},
                     {"resource",
                      {{"resourceType", "Patient"},
                       {"id", "p"},
                       {"birthDate", "1961-04-12"},
                       {"gender", "female"}}}});
  const json subject = {{"reference", "urn:uuid:p"}};
  const json active = {
      {"coding",
       json::array({{{"system", "http://terminology.hl7.org/CodeSystem/condition-clinical"},
                     {"code", "active"}}})}};
  for (int i = 1; i < resources; ++i) {
    json r;
    switch (i % 5) {
      case 0:
        r = {{"resourceType", "Condition"},
             {"clinicalStatus", active},
             {"code", i % 2 ? coded(kIcd, "B02.29") : coded(kSnomed, "44054006")}};
        break;
      case 1:
        r = {{"resourceType", "Observation"},
             {"status", "final"},
             {"code", coded("http://loinc.org", i % 2 ? "72514-3" : "8867-4")},
             {"effectiveDateTime", "2026-0" + std::to_string(1 + i % 9) + "-01"},
             {"valueQuantity", {{"value", i % 11}}}};
        break;
      case 2:
        r = {{"resourceType", "MedicationRequest"},
             {"status", i % 2 ? "active" : "stopped"},
             {"medicationCodeableConcept",
              {{"coding", json::array({{{"system", "http://www.nlm.nih.gov/research/umls/rxnorm"},
                                        {"code", "243670"},  // as in the Synthea export
                                        {"display", "Aspirin 81 MG Oral Tablet"}}})}}}};
        break;
      case 3:
        r = {{"resourceType", "Device"},
             {"status", "active"},
             {"type", coded(kSnomed, i % 2 ? "424921004" : "337414009")}};
        break;
      default:
        r = {{"resourceType", "Procedure"},
             {"status", "completed"},
             {"performedDateTime", "2018-03-03"},
             {"code", coded(kSnomed, i % 2 ? "387731002" : "73761001")}};
    }
    r["id"] = "r" + std::to_string(i);
    r[r["resourceType"] == "Device" ? "patient" : "subject"] = subject;
    entries.push_back({{"resource", r}});
  }
  return json{{"resourceType", "Bundle"}, {"type", "collection"}, {"entry", entries}}.dump();
}

void BM_MapTypicalRecord(benchmark::State& state) {
  const std::string bundle = record(40);
  for (auto _ : state)
    benchmark::DoNotOptimize(stimrank::map_fhir(knowledge_base(), bundle, kOptions));
}
BENCHMARK(BM_MapTypicalRecord);

// The same record's derived profile, evaluated to a result: what mapping is set against.
void BM_EvaluateTypicalProfile(benchmark::State& state) {
  const std::string profile = stimrank::map_fhir(knowledge_base(), record(40), kOptions).profile;
  for (auto _ : state) benchmark::DoNotOptimize(knowledge_base().evaluate_json(profile));
}
BENCHMARK(BM_EvaluateTypicalProfile);

void BM_EvaluateFhirTypicalRecord(benchmark::State& state) {
  const std::string bundle = record(40);
  for (auto _ : state)
    benchmark::DoNotOptimize(stimrank::evaluate_fhir(knowledge_base(), bundle, kOptions));
}
BENCHMARK(BM_EvaluateFhirTypicalRecord);

const std::string& synthea_bundle() {
  static const std::string text = read_file(
      kSource +
      "/../shared/fhir/bundles/Johnnie679_Hermiston71_2cd30bd6-3a87-4191-af90-6daa70f58f55.json");
  return text;
}

void BM_EvaluateFhirSyntheaBundle(benchmark::State& state) {
  if (synthea_bundle().empty()) {
    state.SkipWithError("../shared/fhir not found");
    return;
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(stimrank::evaluate_fhir(knowledge_base(), synthea_bundle(), kOptions));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * synthea_bundle().size()));
}
BENCHMARK(BM_EvaluateFhirSyntheaBundle)->Unit(benchmark::kMillisecond);

void BM_MapRecordOfSize(benchmark::State& state) {
  const std::string bundle = record(static_cast<int>(state.range(0)));
  for (auto _ : state)
    benchmark::DoNotOptimize(stimrank::map_fhir(knowledge_base(), bundle, kOptions));
  state.SetComplexityN(state.range(0));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bundle.size()));
}
BENCHMARK(BM_MapRecordOfSize)->RangeMultiplier(4)->Range(16, 4096)->Complexity(benchmark::oN);

}  // namespace

BENCHMARK_MAIN();
