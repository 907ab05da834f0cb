// Shared test helpers: compile rules from strings, evaluate, read and compare files.
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "stimrank/stimrank.hpp"

namespace testing {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Compares with a golden file; STIMRANK_UPDATE_GOLDEN=1 rewrites it instead.
inline void check_golden(const std::filesystem::path& expected_path, const std::string& actual) {
  const char* update = std::getenv("STIMRANK_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    write_file(expected_path, actual);
    return;
  }
  INFO("golden file: " << expected_path.string()
                       << " (run with STIMRANK_UPDATE_GOLDEN=1 to accept a deliberate change)");
  REQUIRE(std::filesystem::exists(expected_path));
  CHECK(read_file(expected_path) == actual);
}

// The fact schema and schemes most tests share; rules are appended per test.
inline const char* base_rules() {
  return R"(ruleset "test" version "1";
source s1 "Source one" doi "10.1/one";
source s2 "Source two" doi "10.1/two";
scheme LEVEL "levels" { level { A 40, B 30, C 15 } }
facts {
  age: int 0..130;
  flag: bool;
  other: bool;
  sex: enum {female, male};
  conditions: codes {icd10cm, snomed, local};
  devices: set of enum {pacemaker, implant};
  treatments: list { drug: coding {atc, local}; response: enum {inadequate, effective} required; };
  pain { nrs: number 0..10; }
}
concept c1 "Condition one" { icd10cm "G90.5"; snomed "111"; }
concept c2 "Condition two" { local two_alias; }
valueset drugs "Drugs" { atc "N03AX"; local gabapentin; }
)";
}

inline stimrank::LoadResult compile(const std::string& extra,
                                    const stimrank::LoadOptions& options = {}) {
  return stimrank::compile_rules({{"test.rules", std::string(base_rules()) + extra}}, options);
}

inline std::shared_ptr<const stimrank::RuleSet> compile_ok(const std::string& extra) {
  stimrank::LoadResult loaded = compile(extra);
  INFO(stimrank::format_all(loaded.diagnostics));
  REQUIRE(loaded.ok());
  return loaded.ruleset;
}

inline stimrank::Result evaluate_ok(const stimrank::RuleSet& rules, const std::string& profile) {
  stimrank::Evaluation evaluation = rules.evaluate_json(profile);
  std::string errors;
  for (const auto& e : evaluation.errors) errors += e.format() + "\n";
  INFO(errors);
  REQUIRE(evaluation.ok());
  return *evaluation.result;
}

inline const stimrank::OptionResult& option(const stimrank::Result& result, const std::string& id) {
  for (const auto& o : result.options)
    if (o.option == id) return o;
  FAIL("no option " << id);
  throw std::logic_error("unreachable");
}

// The example patients (as their files are), then the knowledge base's vignettes'
// profiles (every `stride`-th, dumped with `indent`): profiles the shipped rules accept.
inline std::vector<std::string> knowledge_profiles(int indent = -1, std::size_t stride = 1) {
  std::vector<std::string> out;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(STIMRANK_EXAMPLES_DIR) + "/profiles"))
    out.push_back(read_file(entry.path()));
  auto vignettes = nlohmann::json::parse(
      read_file(std::string(STIMRANK_KNOWLEDGE_DIR) + "/tests/vignettes.json"));
  for (std::size_t i = 0; i < vignettes.size(); i += stride)
    out.push_back(vignettes[i]["profile"].dump(indent));
  return out;
}

// The lines of a program's output (no trailing empty line).
inline std::vector<std::string> output_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream split(text);
  for (std::string line; std::getline(split, line);) lines.push_back(line);
  return lines;
}

inline std::vector<std::string> codes(const std::vector<stimrank::Diagnostic>& diagnostics) {
  std::vector<std::string> out;
  for (const auto& d : diagnostics) out.push_back(d.code);
  return out;
}

}  // namespace testing
