// Statuses, scores, ranking policy and tie-breaking.
#include "helpers.hpp"

using stimrank::Status;
using testing::option;

namespace {
const char* kOptions = R"(
option a "A" { invasiveness invasive;
  indication a_ind when flag weight 20 source s1 because "a indicated"; }
option b "B" { invasiveness noninvasive;
  indication b_ind when flag weight 20 source s1 because "b indicated"; }
option c "C" { invasiveness minimally_invasive;
  indication c_ind when flag weight 20 source s1 because "c indicated"; }
option d "D" { invasiveness noninvasive;
  indication d_ind when flag grade LEVEL(level A) source s1 because "d strongest";
  absolute_contraindication d_abs when devices has pacemaker source s2 because "pacemaker"; }
option e "E" { invasiveness noninvasive;
  indication e_ind when flag weight 30 source s1 because "e";
  relative_contraindication e_rel when other penalty 25 source s2 because "other"; }
)";

std::vector<std::string> ranked(const stimrank::Result& result) {
  std::vector<std::string> out;
  for (const auto& o : result.options)
    if (o.rank) out.push_back(o.option + ":" + std::to_string(*o.rank));
  return out;
}
std::vector<std::string> order(const stimrank::Result& result) {
  std::vector<std::string> out;
  for (const auto& o : result.options) out.push_back(o.option);
  return out;
}
}  // namespace

TEST_CASE("default policy: status, then score, then invasiveness, then id", "[ranking]") {
  auto rules = testing::compile_ok(kOptions);
  auto result =
      testing::evaluate_ok(*rules, R"({"id": "p", "flag": true, "other": true, "devices": []})");
  // d: 40 (level A); e: 30 - 25 = 5 but consider; a, b, c: 20 → b (noninvasive), c, a.
  CHECK(ranked(result) == std::vector<std::string>{"d:1", "b:2", "c:3", "a:4", "e:5"});
  CHECK(option(result, "e").status == Status::consider);
  CHECK(option(result, "e").score == 5);
  CHECK(option(result, "d").score == 40);
}

TEST_CASE("an absolute contraindication always excludes, whatever the evidence", "[ranking]") {
  auto rules = testing::compile_ok(kOptions);
  auto result = testing::evaluate_ok(
      *rules, R"({"id": "p", "flag": true, "other": false, "devices": ["pacemaker"]})");
  const auto& d = option(result, "d");
  CHECK(d.status == Status::excluded);
  CHECK_FALSE(d.rank.has_value());
  REQUIRE_FALSE(d.reasons.empty());
  CHECK(d.reasons[0].kind == "absolute_contraindication");
  CHECK(d.reasons[0].source == "s2");
  CHECK(d.reasons[0].doi == "10.1/two");
  CHECK(order(result).back() == "d");  // unranked options follow the ranked ones
}

TEST_CASE("an unknown absolute contraindication is missing data, never treated as absent",
          "[ranking]") {
  auto rules = testing::compile_ok(kOptions);
  auto result = testing::evaluate_ok(*rules, R"({"id": "p", "flag": true, "other": false})");
  const auto& d = option(result, "d");
  CHECK(d.status == Status::consider);
  CHECK(d.missing == std::vector<std::string>{"/devices"});
  bool has_missing_reason = false;
  for (const auto& r : d.reasons)
    if (r.kind == "missing_data" && r.rule == "d_abs")
      has_missing_reason = r.missing == std::vector<std::string>{"/devices"};
  CHECK(has_missing_reason);
  // unknown relative contraindication: listed as missing, status unchanged
  CHECK(option(result, "e").status == Status::recommended);
  CHECK(option(result, "e").missing == std::vector<std::string>{});
}

TEST_CASE("no indication means not indicated; the fields that could change it are listed",
          "[ranking]") {
  auto rules = testing::compile_ok(kOptions);
  auto result = testing::evaluate_ok(*rules, R"({"id": "p"})");
  for (const auto& o : result.options) {
    CHECK(o.status == Status::not_indicated);
    CHECK_FALSE(o.rank.has_value());
  }
  CHECK(option(result, "a").missing == std::vector<std::string>{"/flag"});
  // Only an indication's fields could change `not_indicated`; d's unknown
  // contraindication (/devices) matters once d is indicated.
  CHECK(option(result, "d").missing == std::vector<std::string>{"/flag"});
}

TEST_CASE("ranking policy is declared by the rule set: sum of weights minus penalties, ties by id",
          "[ranking]") {
  auto rules = testing::compile_ok(R"(
option o2 "O2" { invasiveness invasive;
  indication r1 when flag weight 7 source s1 because "r1";
  indication r2 when other weight 3 source s1 because "r2";
  relative_contraindication r3 when age >= 60 penalty 4 source s1 because "r3"; }
option o1 "O1" { invasiveness invasive;
  indication r4 when flag weight 6 source s1 because "r4"; }
option o3 "O3" { invasiveness noninvasive;
  indication r5 when flag weight 6 source s1 because "r5"; }
policy { combine sum; rank by score desc, id; }
)");
  auto result =
      testing::evaluate_ok(*rules, R"({"id": "p", "flag": true, "other": true, "age": 70})");
  CHECK(ranked(result) == std::vector<std::string>{"o1:1", "o2:2", "o3:3"});
  CHECK(option(result, "o2").score == 6);  // 7 + 3 - 4
  auto no_penalty =
      testing::evaluate_ok(*rules, R"({"id": "p", "flag": true, "other": true, "age": 50})");
  CHECK(ranked(no_penalty) == std::vector<std::string>{"o2:1", "o1:2", "o3:3"});
}

TEST_CASE("weak or unverified evidence and unmet prerequisites give `consider`", "[ranking]") {
  auto rules = testing::compile_ok(R"(
option weak "W" { invasiveness noninvasive;
  indication w when flag grade LEVEL(level C) source s1 because "w"; }
option unv "U" { invasiveness noninvasive;
  indication u when flag grade LEVEL(level A) source s1 tag "R" because "u"; }
option pre "P" { invasiveness noninvasive;
  indication p when flag grade LEVEL(level A) source s1 because "p";
  prerequisite p_trial when other source s1 because "trial first"; }
option res "R" { invasiveness noninvasive;
  indication r when flag grade LEVEL(level A) source s1 because "r";
  research_only r_only when not other source s1 because "research setting only"; }
policy { recommend_min_weight 20; }
)");
  auto result = testing::evaluate_ok(*rules, R"({"id": "p", "flag": true, "other": false})");
  CHECK(option(result, "weak").status == Status::consider);
  CHECK(option(result, "unv").status == Status::consider);
  CHECK(option(result, "unv").reasons[0].unverified);
  CHECK(option(result, "unv").evidence[0].tags == std::vector<std::string>{"R"});
  CHECK(option(result, "pre").status == Status::consider);
  CHECK(option(result, "res").status == Status::research_only);
  auto met = testing::evaluate_ok(*rules, R"({"id": "p", "flag": true, "other": true})");
  CHECK(option(met, "pre").status == Status::recommended);
  CHECK(option(met, "res").status == Status::recommended);
  auto unknown = testing::evaluate_ok(*rules, R"({"id": "p", "flag": true})");
  CHECK(option(unknown, "pre").status == Status::consider);
  CHECK(option(unknown, "pre").missing == std::vector<std::string>{"/other"});
}

TEST_CASE("results are deterministic, byte for byte", "[ranking]") {
  auto rules = testing::compile_ok(kOptions);
  const std::string profile = R"({"id": "p", "flag": true, "other": true, "devices": []})";
  std::string first = testing::evaluate_ok(*rules, profile).to_json();
  for (int i = 0; i < 20; ++i) CHECK(testing::evaluate_ok(*rules, profile).to_json() == first);
  auto again = testing::compile_ok(kOptions);
  CHECK(testing::evaluate_ok(*again, profile).to_json() == first);
}

TEST_CASE("specificity: an option with a `specific` indication ranks first", "[ranking]") {
  const std::string options = R"(
option generic "Generic" { invasiveness noninvasive;
  indication generic_ind when flag weight 40 source s1 because "neuropathic pain in general"; }
option specific_opt "Specific" { invasiveness invasive;
  indication specific_weak when flag weight 10 source s1 because "weak";
  indication specific_ind when flag weight 25 source s1 specific because "the patient's own condition"; }
)";
  auto by_score = testing::compile_ok(options);
  auto result = testing::evaluate_ok(*by_score, R"({"id": "p", "flag": true})");
  CHECK(ranked(result) == std::vector<std::string>{"generic:1", "specific_opt:2"});
  auto by_specificity = testing::compile_ok(
      options + "policy { rank by status, specificity, score desc, invasiveness, id; }");
  result = testing::evaluate_ok(*by_specificity, R"({"id": "p", "flag": true})");
  CHECK(ranked(result) == std::vector<std::string>{"specific_opt:1", "generic:2"});
  CHECK(option(result, "specific_opt").summary == "the patient's own condition");
  // Not held (unknown): it does not count.
  result = testing::evaluate_ok(*by_specificity, R"({"id": "p"})");
  CHECK(ranked(result).empty());
  // Only indications are specific.
  auto wrong = testing::compile(
      R"(option x "X" { invasiveness invasive; caution x_c when flag source s1 specific because "c"; })");
  bool e115 = false;
  for (const auto& d : wrong.diagnostics) e115 = e115 || d.code == "E115";
  CHECK(e115);
}

TEST_CASE("the policy names its source and reason; describe() and the tables show them",
          "[ranking]") {
  auto rules = testing::compile_ok(std::string(kOptions) + R"(
policy {
  rank by status, specificity, invasiveness, score desc, id;
  source s2;
  because "non-invasive before invasive";
})");
  stimrank::RuleSetInfo info = rules->describe();
  CHECK(info.policy.rank == "status, specificity, invasiveness, score, id");
  CHECK(info.policy.because == "non-invasive before invasive");
  CHECK(info.policy.source == "s2");
  CHECK(info.policy.doi == "10.1/two");
  std::string tables = stimrank::render_evidence_tables(info, stimrank::TableFormat::markdown);
  CHECK(tables.find("Ranked options are ordered by status, specificity, invasiveness, score, id. "
                    "non-invasive before invasive (source: s2, doi:10.1/two)") !=
        std::string::npos);
  // Invasiveness before score: the noninvasive d (40), e (30) and b (20) first, by
  // score; then c (minimally invasive), then a (invasive), all at 20.
  auto result =
      testing::evaluate_ok(*rules, R"({"id": "p", "flag": true, "other": false, "devices": []})");
  CHECK(ranked(result) == std::vector<std::string>{"d:1", "e:2", "b:3", "c:4", "a:5"});
  auto undefined = testing::compile(std::string(kOptions) + "policy { source nosuch; }");
  bool e100 = false;
  for (const auto& d : undefined.diagnostics) e100 = e100 || d.code == "E100";
  CHECK(e100);
}
