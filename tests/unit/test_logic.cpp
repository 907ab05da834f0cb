// Three-valued (Kleene) logic: absent data is unknown, and unknown propagates
// exactly as far as it can change the answer.
#include "compiled.hpp"
#include "conditions.hpp"
#include "explanation.hpp"
#include "helpers.hpp"
#include "profile.hpp"

using stimrank::engine::Truth;

namespace {

// The truth of one condition for one profile, read straight from the plan.
Truth truth_of(const std::string& condition, const std::string& profile) {
  auto rules = testing::compile_ok(
      "option o \"O\" { invasiveness noninvasive;\n"
      "  indication t when " +
      condition + " weight 1 source s1 because \"t\"; }\n");
  const auto& impl = stimrank::detail::compiled(*rules);
  stimrank::engine::Facts facts;
  std::vector<stimrank::ProfileError> errors;
  REQUIRE(
      stimrank::engine::load_profile(impl.model, impl.plan, profile, impl.limits, facts, errors));
  return stimrank::engine::evaluate_node(
      impl.plan, static_cast<std::uint32_t>(impl.plan.rules[0].root), facts, nullptr);
}

const char* name(Truth t) {
  return t == Truth::True ? "T" : t == Truth::False ? "F" : "U";
}

// A profile where flag/other take the given truth ("T", "F", "U" = absent).
std::string profile(const std::string& flag, const std::string& other) {
  std::string p = R"({"id": "p")";
  if (flag != "U") p += std::string(R"(, "flag": )") + (flag == "T" ? "true" : "false");
  if (other != "U") p += std::string(R"(, "other": )") + (other == "T" ? "true" : "false");
  return p + "}";
}

}  // namespace

TEST_CASE("and, or and not follow Kleene's truth tables", "[logic]") {
  const std::vector<std::string> values = {"T", "F", "U"};
  // expected[a][b] for a, b in T, F, U
  const char* and_table[3][3] = {{"T", "F", "U"}, {"F", "F", "F"}, {"U", "F", "U"}};
  const char* or_table[3][3] = {{"T", "T", "T"}, {"T", "F", "U"}, {"T", "U", "U"}};
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      std::string p = profile(values[a], values[b]);
      INFO("flag=" << values[a] << " other=" << values[b]);
      CHECK(std::string(name(truth_of("flag and other", p))) == and_table[a][b]);
      CHECK(std::string(name(truth_of("flag or other", p))) == or_table[a][b]);
    }
    const char* not_table[3] = {"F", "T", "U"};
    CHECK(std::string(name(truth_of("not flag", profile(values[a], "U")))) == not_table[a]);
  }
}

TEST_CASE("comparisons on absent fields are unknown, never false", "[logic]") {
  CHECK(truth_of("age >= 18", R"({"id": "p"})") == Truth::Unknown);
  CHECK(truth_of("age < 18", R"({"id": "p"})") == Truth::Unknown);
  CHECK(truth_of("age >= 18", R"({"id": "p", "age": 40})") == Truth::True);
  CHECK(truth_of("age < 18", R"({"id": "p", "age": 40})") == Truth::False);
  CHECK(truth_of("age in 18..65", R"({"id": "p", "age": 65})") == Truth::True);
  CHECK(truth_of("age in 18..65", R"({"id": "p", "age": 66})") == Truth::False);
  CHECK(truth_of("age in 66..", R"({"id": "p", "age": 90})") == Truth::True);
  CHECK(truth_of("pain.nrs > 4.5", R"({"id": "p", "pain": {}})") == Truth::Unknown);
  CHECK(truth_of("pain.nrs > 4.5", R"({"id": "p", "pain": {"nrs": 5}})") == Truth::True);
  CHECK(truth_of("sex == female", R"({"id": "p"})") == Truth::Unknown);
  CHECK(truth_of("sex != female", R"({"id": "p", "sex": "male"})") == Truth::True);
  CHECK(truth_of("sex in {female, male}", R"({"id": "p", "sex": "male"})") == Truth::True);
  CHECK(truth_of("flag == false", R"({"id": "p", "flag": false})") == Truth::True);
  CHECK(truth_of("flag == false", R"({"id": "p"})") == Truth::Unknown);
}

TEST_CASE("known() is never unknown", "[logic]") {
  CHECK(truth_of("known(age)", R"({"id": "p"})") == Truth::False);
  CHECK(truth_of("known(age)", R"({"id": "p", "age": 3})") == Truth::True);
  CHECK(truth_of("not known(conditions)", R"({"id": "p"})") == Truth::True);
}

TEST_CASE("membership: an absent list is unknown, a present list is complete", "[logic]") {
  CHECK(truth_of("conditions has c1", R"({"id": "p"})") == Truth::Unknown);
  CHECK(truth_of("conditions has c1", R"({"id": "p", "conditions": []})") == Truth::False);
  CHECK(truth_of("conditions has c1", R"({"id": "p", "conditions": ["c1"]})") == Truth::True);
  CHECK(truth_of("devices has pacemaker", R"({"id": "p"})") == Truth::Unknown);
  CHECK(truth_of("devices has any {pacemaker, implant}",
                 R"({"id": "p", "devices": ["implant"]})") == Truth::True);
  CHECK(truth_of("devices has all {pacemaker, implant}",
                 R"({"id": "p", "devices": ["implant"]})") == Truth::False);
  CHECK(truth_of("conditions has all {c1, c2}",
                 R"({"id": "p", "conditions": ["c1", "two_alias"]})") == Truth::True);
}

TEST_CASE("ICD-10-CM codes match value sets hierarchically", "[logic]") {
  auto coded = [](const std::string& system, const std::string& code) {
    return R"({"id": "p", "conditions": [{"system": ")" + system + R"(", "code": ")" + code +
           R"("}]})";
  };
  CHECK(truth_of("conditions has c1", coded("icd10cm", "G90.5")) == Truth::True);
  CHECK(truth_of("conditions has c1", coded("icd10cm", "G90.511")) == Truth::True);
  CHECK(truth_of("conditions has c1", coded("icd10cm", "g90511")) == Truth::True);
  CHECK(truth_of("conditions has c1", coded("icd10cm", "G90.4")) == Truth::False);
  CHECK(truth_of("conditions has c1", coded("icd10cm", "G90")) == Truth::False);
  CHECK(truth_of("conditions has c1", coded("snomed", "111")) == Truth::True);
  CHECK(truth_of("conditions has c1", coded("snomed", "1111")) ==
        Truth::False);  // not hierarchical
}

TEST_CASE("count() gives unknown only when the unknown entries could decide it", "[logic]") {
  const std::string expr = "count(treatments where drug has drugs and response == inadequate) >= 2";
  CHECK(truth_of(expr, R"({"id": "p"})") == Truth::Unknown);
  CHECK(truth_of(expr, R"({"id": "p", "treatments": []})") == Truth::False);
  CHECK(truth_of(expr, R"({"id": "p", "treatments": [
      {"name": "gabapentin", "response": "inadequate"},
      {"system": "atc", "code": "N03AX16", "response": "inadequate"}]})") == Truth::True);
  // One sure, one whose drug is not coded: could be 1 or 2.
  CHECK(truth_of(expr, R"({"id": "p", "treatments": [
      {"name": "gabapentin", "response": "inadequate"},
      {"response": "inadequate"}]})") == Truth::Unknown);
  // One sure, one that is surely not a match: 1.
  CHECK(truth_of(expr, R"({"id": "p", "treatments": [
      {"name": "gabapentin", "response": "inadequate"},
      {"name": "gabapentin", "response": "effective"}]})") == Truth::False);
  CHECK(truth_of("count(treatments) == 0", R"({"id": "p", "treatments": []})") == Truth::True);
}

TEST_CASE("any() over list entries", "[logic]") {
  const std::string expr = "any(treatments where drug has drugs and response == effective)";
  CHECK(truth_of(expr, R"({"id": "p"})") == Truth::Unknown);
  CHECK(truth_of(expr, R"({"id": "p", "treatments": [{"response": "effective"}]})") ==
        Truth::Unknown);
  CHECK(
      truth_of(expr,
               R"({"id": "p", "treatments": [{"name": "gabapentin", "response": "effective"}]})") ==
      Truth::True);
  CHECK(truth_of(
            expr,
            R"({"id": "p", "treatments": [{"name": "gabapentin", "response": "inadequate"}]})") ==
        Truth::False);
}
