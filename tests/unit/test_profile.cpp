// Profile validation: every error names its JSON path; nothing is silently dropped.
#include <cctype>

#include "ascii.hpp"
#include "helpers.hpp"

namespace {

std::shared_ptr<const stimrank::RuleSet> rules() {
  static auto compiled = testing::compile_ok(
      "option o \"O\" { invasiveness noninvasive;\n"
      "  indication a when conditions has c1 weight 10 source s1 because \"a\"; }\n");
  return compiled;
}

std::vector<std::string> errors_of(const std::string& profile) {
  stimrank::Evaluation evaluation = rules()->evaluate_json(profile);
  CHECK_FALSE(evaluation.ok());
  std::vector<std::string> out;
  for (const auto& e : evaluation.errors) out.push_back(e.format());
  return out;
}

}  // namespace

TEST_CASE("wrong types and out-of-range values name the JSON path", "[profile]") {
  CHECK(errors_of(R"({"id": "p", "pain": {"nrs": "seven"}})") ==
        std::vector<std::string>{"/pain/nrs: expected a number from 0 to 10, got `\"seven\"`"});
  CHECK(errors_of(R"({"id": "p", "pain": {"nrs": 11}})") ==
        std::vector<std::string>{"/pain/nrs: expected a number from 0 to 10, got `11`"});
  CHECK(errors_of(R"({"id": "p", "age": 41.5})") ==
        std::vector<std::string>{"/age: expected an integer from 0 to 130, got `41.5`"});
  CHECK(errors_of(R"({"id": "p", "flag": "yes"})") ==
        std::vector<std::string>{"/flag: expected true or false, got `\"yes\"`"});
  CHECK(errors_of(R"({"id": "p", "flag": null})") ==
        std::vector<std::string>{
            "/flag: expected true or false, got `null` (leave a field out when it is unknown)"});
  CHECK(errors_of(R"({"id": "p", "sex": "femal"})") ==
        std::vector<std::string>{
            "/sex: expected one of female, male, got `\"femal\"`, did you mean `female`?"});
  CHECK(errors_of(R"({"id": "p", "devices": ["pacemaker", "toaster"]})") ==
        std::vector<std::string>{
            "/devices/1: expected one of pacemaker, implant, got `\"toaster\"`"});
}

TEST_CASE("every error is reported, not only the first", "[profile]") {
  auto errors = errors_of(R"({"id": "p", "age": -1, "pain": {"nrz": 3}, "unknown_field": 1,
                              "treatments": [{"name": "gabapentin"}]})");
  CHECK(errors == std::vector<std::string>{"/age: expected an integer from 0 to 130, got `-1`",
                                           "/pain/nrz: unknown field `nrz`, did you mean `nrs`?",
                                           "/treatments/0/response: required field is missing",
                                           "/unknown_field: unknown field `unknown_field`"});
}

TEST_CASE("the id is required, and the document must be a JSON object", "[profile]") {
  CHECK(errors_of(R"({"age": 3})") == std::vector<std::string>{"/id: required field is missing"});
  CHECK(errors_of(R"({"id": ""})") ==
        std::vector<std::string>{"/id: expected a string of 1 to 128 characters, got `\"\"`"});
  CHECK(errors_of("[1, 2]") ==
        std::vector<std::string>{
            "profile: expected a JSON object (one patient profile), got `[1,2]`"});
  auto invalid = errors_of(R"({"id": "p", )");
  REQUIRE(invalid.size() == 1);
  CHECK(invalid[0].rfind("profile: invalid JSON at byte", 0) == 0);
}

TEST_CASE("coded entries are validated; unknown codes are not errors", "[profile]") {
  CHECK(errors_of(R"({"id": "p", "conditions": [{"system": "icd9", "code": "123"}]})") ==
        std::vector<std::string>{
            "/conditions/0/system: expected one of icd10cm, snomed, local, got `\"icd9\"`"});
  CHECK(errors_of(R"({"id": "p", "conditions": ["Not An Id"]})") ==
        std::vector<std::string>{
            "/conditions/0: expected a concept id (lower case, digits, `_`) or a coded "
            "entry {\"system\", \"code\"}, got `\"Not An Id\"`"});
  CHECK(errors_of(R"({"id": "p", "conditions": [{"code": "G90.5"}]})") ==
        std::vector<std::string>{
            "/conditions/0/system: a coded entry needs its `system` (one of the code systems)"});
  // A code no value set knows is simply not matched; an unknown local id is a warning.
  auto result = testing::evaluate_ok(*rules(), R"({"id": "p", "conditions": [
      {"system": "icd10cm", "code": "Z99.9"}, "mystery_condition", {"system": "snomed", "code": "111"}]})");
  CHECK(result.warnings ==
        std::vector<std::string>{
            "/conditions/1: unknown concept id `mystery_condition` was ignored (the rule "
            "set does not declare it)"});
  CHECK(testing::option(result, "o").status == stimrank::Status::recommended);
}

TEST_CASE("hostile profiles are refused cleanly", "[profile]") {
  std::string deep =
      R"({"id": "p", "pain": )" + std::string(10000, '[') + std::string(10000, ']') + "}";
  CHECK(errors_of(deep) ==
        std::vector<std::string>{"profile: the profile is nested more than 32 levels deep"});
  CHECK_FALSE(rules()->evaluate_json("").ok());
  CHECK_FALSE(rules()->evaluate_json(std::string("\0\xff", 2)).ok());
  CHECK_FALSE(rules()->evaluate_json(R"({"id": "p", "age": 1e400})").ok());
}

TEST_CASE("error messages stay valid UTF-8 whatever the input", "[profile]") {
  for (const std::string& bad :
       {std::string("\xef\xbf\xbd\xff\xfe"), std::string("{\"id\": \"p\", \"age\": \"\xff\"}"),
        std::string("{\"id\": \"\xc3\"}")}) {
    stimrank::Evaluation evaluation = rules()->evaluate_json(bad);
    REQUIRE_FALSE(evaluation.ok());
    for (const auto& e : evaluation.errors) {
      INFO(e.message);
      CHECK(e.message.find('\xff') == std::string::npos);
      CHECK(e.message.find("internal error") == std::string::npos);
    }
  }
}

TEST_CASE("a number beyond a double is reported, not thrown", "[profile]") {
  auto rules = testing::compile_ok("");
  stimrank::Evaluation evaluation = rules->evaluate_json(R"({"id": "p", "age": 1e400})");
  REQUIRE_FALSE(evaluation.ok());
  REQUIRE(evaluation.errors.size() == 1);
  CHECK(evaluation.errors[0].message == "invalid JSON: number overflow parsing `1e400`");
}

// The language's and the profile's character classes are the C locale's, whatever
// LC_CTYPE the host process set (tests/python: the same under ISO-8859-1).
TEST_CASE("ascii classes are the C locale's for every byte", "[profile]") {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    INFO("byte " << b);
    CHECK(stimrank::ascii::is_lower(c) == (std::islower(b) != 0));
    CHECK(stimrank::ascii::is_upper(c) == (std::isupper(b) != 0));
    CHECK(stimrank::ascii::is_digit(c) == (std::isdigit(b) != 0));
    CHECK(stimrank::ascii::is_alnum(c) == (std::isalnum(b) != 0));
    CHECK(stimrank::ascii::is_space(c) == (std::isspace(b) != 0));
    CHECK(stimrank::ascii::to_upper(c) == static_cast<char>(std::toupper(b)));
    CHECK(stimrank::ascii::to_lower(c) == static_cast<char>(std::tolower(b)));
  }
}

TEST_CASE("an id with bytes that are letters in a single-byte locale is an error", "[profile]") {
  CHECK(errors_of(R"({"id":"p","conditions":["c1","a\u07f5"]})") ==
        std::vector<std::string>{"/conditions/1: expected a concept id (lower case, digits, "
                                 "`_`) or a coded entry {\"system\", \"code\"}, got "
                                 "`\"a\u07f5\"`"});
}

TEST_CASE("unknown concept ids: every one is warned, the first few with a suggestion",
          "[profile]") {
  // A suggestion compares the id with every concept: thousands of unknown ids, or one
  // megabyte long, must not cost seconds. Every entry is still reported.
  std::string profile = R"({"id": "p", "conditions": [)";
  for (int i = 0; i < 20; ++i) profile += (i ? ", " : "") + std::string("\"c1") + "x\"";
  profile += R"(, ")" + std::string(200000, 'q') + R"("]})";
  auto result = testing::evaluate_ok(*rules(), profile);
  REQUIRE(result.warnings.size() == 21);
  for (std::size_t i = 0; i < 20; ++i) {
    CHECK(result.warnings[i].rfind(
              "/conditions/" + std::to_string(i) + ": unknown concept id `c1x`", 0) == 0);
    CHECK((result.warnings[i].find("did you mean `c1`?") != std::string::npos) == (i < 16));
  }
  CHECK(result.warnings[20].find(std::string(200000, 'q')) != std::string::npos);
  CHECK(result.warnings[20].find("did you mean") == std::string::npos);
}

// 300,000 unknown ids made a result of 29 MB, every one listed; a result lists the
// first 100 and says how many more there were, through evaluate and evaluate_many.
TEST_CASE("a result lists 100 warnings, then how many more there were", "[profile]") {
  std::string profile = R"({"id": "p", "conditions": [)";
  for (int i = 0; i < 150; ++i) profile += (i ? ", \"u" : "\"u") + std::to_string(i) + "\"";
  profile += "]}";
  auto check = [](const std::vector<std::string>& warnings) {
    REQUIRE(warnings.size() == 101);
    CHECK(warnings[99].rfind("/conditions/99: unknown concept id `u99`", 0) == 0);
    CHECK(warnings[100] == "and 50 more warnings (150 in all) not listed");
  };
  check(testing::evaluate_ok(*rules(), profile).warnings);
  const auto many = stimrank::evaluate_many(rules(), {profile, profile}, 2);
  REQUIRE(many.size() == 2);
  REQUIRE(many[1].ok());
  check(many[1].result->warnings);
  CHECK(many[1].result->to_json().find("\"and 50 more warnings (150 in all) not listed\"") !=
        std::string::npos);
}
