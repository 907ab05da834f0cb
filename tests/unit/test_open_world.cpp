// Findings known only when assessed (`assessed` in a concept): a coded list that
// does not name one leaves it unknown, "present": false records it as absent, and
// `assessed when c` asks for it only in profiles that have c.
#include "differential.hpp"
#include "helpers.hpp"

using stimrank::Status;
using testing::option;

namespace {
const char* kRules = R"(
concept fibrosis "Epidural fibrosis" { local fibrosis; assessed; }
concept sci "Spinal cord injury" { icd10cm "S14.1"; }
concept sci_central "Central pain after SCI" { assessed when sci; }
valueset spine_findings "Spine findings" { includes fibrosis; }
option implant "Implant" { invasiveness invasive;
  indication implant_ind when flag weight 40 source s1 because "indicated";
  absolute_contraindication implant_fibrosis when conditions has fibrosis
    source s2 because "epidural fibrosis";
  not_indicated implant_sci when conditions has sci_central source s2 because "central SCI pain"; }
option patch "Patch" { invasiveness noninvasive;
  indication patch_ind when flag weight 30 source s1 because "indicated";
  relative_contraindication patch_rel when any(conditions where code has spine_findings)
    penalty 5 source s2 because "a spine finding"; }
option count_opt "Count" { invasiveness noninvasive;
  indication count_ind when flag and count(conditions where code has spine_findings) >= 1
    weight 20 source s1 because "at least one spine finding"; }
)";

const stimrank::OptionResult& evaluate(const std::shared_ptr<const stimrank::RuleSet>& rules,
                                       const std::string& profile, const std::string& id,
                                       stimrank::Result& keep) {
  keep = testing::evaluate_ok(*rules, profile);
  testing::check_same(rules, profile);  // every fast path agrees with the reference
  return option(keep, id);
}
}  // namespace

TEST_CASE("an assessed finding the list does not name is unknown, never absent", "[open-world]") {
  auto rules = testing::compile_ok(kRules);
  stimrank::Result result;
  // Not listed: the contraindication is unknown, so the implant is held back and
  // says what is missing.
  const auto& implant =
      evaluate(rules, R"({"id": "p", "flag": true, "conditions": ["c1"]})", "implant", result);
  CHECK(implant.status == Status::consider);
  CHECK(implant.missing == std::vector<std::string>{"/conditions"});
  REQUIRE_FALSE(implant.reasons.empty());
  bool unknown_fibrosis = false;
  for (const auto& reason : implant.reasons)
    if (reason.rule == "implant_fibrosis" && reason.kind == "missing_data") unknown_fibrosis = true;
  CHECK(unknown_fibrosis);
  // `any`, `count` over the list: unknown as well.
  const auto& patch = option(result, "patch");
  CHECK(patch.status == Status::recommended);  // an unknown relative contraindication only informs
  CHECK(patch.missing == std::vector<std::string>{"/conditions"});
  const auto& counted = option(result, "count_opt");
  CHECK(counted.status == Status::not_indicated);
  CHECK(counted.missing == std::vector<std::string>{"/conditions"});
}

TEST_CASE("\"present\": false records an assessed finding as absent", "[open-world]") {
  auto rules = testing::compile_ok(kRules);
  stimrank::Result result;
  const auto& implant = evaluate(
      rules,
      R"({"id": "p", "flag": true, "conditions": [{"system": "local", "code": "fibrosis", "present": false}]})",
      "implant", result);
  CHECK(implant.status == Status::recommended);
  CHECK(implant.missing.empty());
  CHECK(option(result, "patch").missing.empty());
  CHECK(option(result, "patch").score == 30);
  // Listed as present: excluded, whatever else the list says.
  const auto& excluded = evaluate(rules, R"({"id": "p", "flag": true, "conditions": ["fibrosis"]})",
                                  "implant", result);
  CHECK(excluded.status == Status::excluded);
  CHECK(option(result, "patch").score == 25);
  CHECK(option(result, "count_opt").status == Status::recommended);
}

TEST_CASE("`assessed when` asks for a finding only where its context is present", "[open-world]") {
  auto rules = testing::compile_ok(kRules);
  stimrank::Result result;
  const std::string refuted_fibrosis =
      R"({"system": "local", "code": "fibrosis", "present": false})";
  // No spinal cord injury: whether its pain is central is not in question.
  const auto& without =
      evaluate(rules, R"({"id": "p", "flag": true, "conditions": [)" + refuted_fibrosis + "]}",
               "implant", result);
  CHECK(without.status == Status::recommended);
  // With one, it is, until it is recorded either way.
  const auto& with = evaluate(
      rules, R"({"id": "p", "flag": true, "conditions": ["sci", )" + refuted_fibrosis + "]}",
      "implant", result);
  CHECK(with.status == Status::consider);
  CHECK(with.missing == std::vector<std::string>{"/conditions"});
  const auto& assessed =
      evaluate(rules,
               R"({"id": "p", "flag": true, "conditions": ["sci", "sci_central", )" +
                   refuted_fibrosis + "]}",
               "implant", result);
  CHECK(assessed.status == Status::not_indicated);
}

TEST_CASE("\"present\" is checked like every other field", "[open-world]") {
  auto rules = testing::compile_ok(kRules);
  auto bad = rules->evaluate_json(
      R"({"id": "p", "conditions": [{"system": "local", "code": "fibrosis", "present": "no"}]})");
  REQUIRE_FALSE(bad.ok());
  CHECK(
      bad.errors[0].format() ==
      "/conditions/0/present: expected true or false (false: looked for and absent), got `\"no\"`");
  auto nameless = rules->evaluate_json(R"({"id": "p", "conditions": [{"present": false}]})");
  REQUIRE_FALSE(nameless.ok());
  CHECK(nameless.errors[0].format() ==
        "/conditions/0: an entry recorded as absent needs its code or name");
  // Only a coded list's entries can be absent.
  auto treatment = rules->evaluate_json(
      R"({"id": "p", "treatments": [{"system": "local", "code": "gabapentin", "response": "inadequate", "present": false}]})");
  REQUIRE_FALSE(treatment.ok());
  CHECK(treatment.errors[0].path == "/treatments/0/present");
}

TEST_CASE("`assessed` is checked and formatted", "[open-world]") {
  // (W201: the base rules' sources are cited by no rule here.)
  auto undefined = testing::compile(R"(concept x "X" { assessed when nosuch; })");
  CHECK(testing::codes(undefined.diagnostics) == std::vector<std::string>{"W201", "W201", "E100"});
  auto self = testing::compile(R"(concept x "X" { assessed when x; })");
  CHECK(testing::codes(self.diagnostics) == std::vector<std::string>{"W201", "W201", "E109"});
  auto twice = testing::compile(R"(concept x "X" { assessed; assessed; })");
  CHECK(testing::codes(twice.diagnostics) == std::vector<std::string>{"W201", "W201", "E107"});
  std::string text = "concept x \"X\" {\n  local x;\n  assessed when c1;\n}\n";
  stimrank::FormatResult formatted = stimrank::format_rules("t.rules", text);
  CHECK(formatted.text == text);
}

// A set of enum given open ({"present": [...], "complete": false}): a record that names
// a pacemaker beside an implant of unstated kind. What it lists is known present (an
// absolute contraindication on it excludes); any other label is unknown, never absent.
namespace {
const char* kDeviceRules = R"(
option tens "TENS" { invasiveness noninvasive;
  indication tens_ind when flag weight 40 source s1 because "indicated";
  absolute_contraindication tens_pacemaker when devices has pacemaker
    source s2 because "pacemaker"; }
option tms "TMS" { invasiveness noninvasive;
  indication tms_ind when flag weight 30 source s1 because "indicated";
  absolute_contraindication tms_implant when devices has implant source s2 because "implant"; }
option both_devices "Both" { invasiveness noninvasive;
  indication both_ind when flag and devices has all {pacemaker, implant}
    weight 20 source s1 because "both devices"; }
option no_device "None" { invasiveness noninvasive;
  indication none_ind when flag and not (devices has any {pacemaker, implant})
    weight 20 source s1 because "no device"; }
)";
}  // namespace

TEST_CASE("an open set: what it lists is present, anything else unknown", "[open-world]") {
  auto rules = testing::compile_ok(kDeviceRules);
  stimrank::Result result;
  const std::string open =
      R"({"id": "p", "flag": true, "devices": {"present": ["pacemaker"], "complete": false}})";
  CHECK(evaluate(rules, open, "tens", result).status == Status::excluded);
  const auto& tms = option(result, "tms");
  CHECK(tms.status == Status::consider);  // the implant may be there: held back, not cleared
  CHECK(tms.missing == std::vector<std::string>{"/devices"});
  const auto& both = option(result, "both_devices");
  CHECK(both.status != Status::recommended);
  CHECK(both.missing == std::vector<std::string>{"/devices"});
  const auto& none = option(result, "no_device");  // a pacemaker is listed: surely not "none"
  CHECK(none.status == Status::not_indicated);
  CHECK(none.missing.empty());

  // Nothing listed: every `has` test is unknown.
  const auto& empty =
      evaluate(rules, R"({"id": "p", "flag": true, "devices": {"present": [], "complete": false}})",
               "tens", result);
  CHECK(empty.status == Status::consider);
  CHECK(empty.missing == std::vector<std::string>{"/devices"});
  CHECK(option(result, "no_device").missing == std::vector<std::string>{"/devices"});

  // "complete": true is the plain list.
  const auto& closed = evaluate(
      rules,
      R"({"id": "p", "flag": true, "devices": {"present": ["pacemaker"], "complete": true}})",
      "tms", result);
  CHECK(closed.status == Status::recommended);
  CHECK(closed.missing.empty());
  CHECK(option(result, "tens").status == Status::excluded);
}

TEST_CASE("an open set is checked like every other field", "[open-world]") {
  auto rules = testing::compile_ok(kDeviceRules);
  auto errors_of = [&](const std::string& devices) {
    stimrank::Evaluation e = rules->evaluate_json(R"({"id": "p", "devices": )" + devices + "}");
    std::vector<std::string> out;
    for (const auto& error : e.errors) out.push_back(error.format());
    return out;
  };
  CHECK(errors_of(R"({"present": ["pacemaker"]})") ==
        std::vector<std::string>{"/devices/complete: an open set needs `complete`: false when "
                                 "labels not listed are unknown"});
  CHECK(errors_of(R"({"complete": false})") ==
        std::vector<std::string>{
            "/devices: an open set needs `present`: the labels known to be present"});
  CHECK(errors_of(R"({"present": "pacemaker", "complete": false})") ==
        std::vector<std::string>{
            "/devices/present: expected a list of pacemaker, implant, got `\"pacemaker\"`"});
  CHECK(errors_of(R"({"present": ["pacer"], "complete": "no"})") ==
        std::vector<std::string>{"/devices/complete: expected true or false, got `\"no\"`"});
  CHECK(errors_of(R"({"present": ["pacemakr"], "complete": false})") ==
        std::vector<std::string>{"/devices/present/0: expected one of pacemaker, implant, got "
                                 "`\"pacemakr\"`, did you mean `pacemaker`?"});
  CHECK(errors_of(R"({"present": [], "complete": false, "others": true})") ==
        std::vector<std::string>{
            "/devices/others: unknown key `others`: an open set has `present` and `complete`"});
  CHECK(errors_of(R"({"present": [], "complete": false, "complete": true})").size() == 1);
}
