// The fast paths must give exactly what the plain evaluation gives: the simdjson
// reader what the validating loader reads, the rule index and flat conjunctions
// what evaluating every rule gives, the lean ranking and the direct JSON writer
// what the explained Result says, and the JSON Lines pipeline what one profile at
// a time gives, in order.
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "compiled.hpp"
#include "conditions.hpp"
#include "decision.hpp"
#include "differential.hpp"
#include "explanation.hpp"
#include "helpers.hpp"
#include "profile.hpp"

namespace {

using testing::check_same;
using testing::fast_reads;
using testing::knowledge_profiles;

// A rule set with every kind of anchor (flags, enums, `in`, enum sets any/all),
// negations, numbers, codes, prerequisites and cautions; sum of weights.
const char* kAnchorRules = R"(ruleset "anchors" version "1";
source s1 "Source one" doi "10.1/one";
facts {
  age: int 0..130;
  nrs: number 0..10;
  flag: bool;
  other: bool;
  sex: enum {female, male, other};
  region: enum {a, b, c, d, e};
  devices: set of enum {pacemaker, implant, pump, stimulator};
  conditions: codes {icd10cm, local};
}
concept c1 "Condition one" { icd10cm "G90.5"; }
concept c2 "Condition two" { local two_alias; }
policy { combine sum; recommend_min_weight 3; unverified_evidence consider; unverified_weight 0.5;
  rank by status, score desc, invasiveness, id; }
option o1 "One" { invasiveness invasive;
  indication r1 when flag == true and age >= 40 weight 4 source s1 because "r1";
  indication r2 when region == a and devices has any {pacemaker, pump} weight 2 source s1 because "r2";
  absolute_contraindication r3 when devices has all {implant, pump} source s1 because "r3";
  relative_contraindication r4 when other == true penalty 1 source s1 because "r4";
  prerequisite r5 when nrs >= 4 source s1 because "r5";
}
option o2 "Two" { invasiveness noninvasive;
  indication r6 when region in {b, c} and flag == false weight 3 source s1 because "r6";
  indication r7 when sex == female and not (other == true) weight 2 source s1 tag "EXTRAP" because "r7";
  caution r8 when devices has any {stimulator} source s1 because "r8";
  not_indicated r9 when region == e and age < 18 source s1 because "r9";
}
option o3 "Three" { invasiveness minimally_invasive;
  indication r10 when conditions has c1 weight 5 source s1 because "r10";
  indication r11 when age > 60 or flag == true weight 1 source s1 because "r11";
  research_only r12 when sex == other source s1 because "r12";
  indication r13 when region != d and devices has any {implant} weight 3 source s1 because "r13";
}
option o4 "Four" { invasiveness invasive;
  indication r14 when flag == true and region == a weight 2 source s1 because "r14";
  indication r15 when conditions has c2 and nrs > 5 weight 3 source s1 because "r15";
  indication r16 when age >= 40 and age < 60 and nrs in 2..7 weight 1 source s1 because "r16";
  relative_contraindication r17 when conditions has any {c1, c2} and sex != male penalty 4 source s1 because "r17";
  indication r18 when devices has any {pacemaker} and devices has any {pump} weight 1 source s1 because "r18";
  absolute_contraindication r19 when nrs <= 2.5 and nrs in 0.5.. and not (flag == true) source s1 because "r19";
}
)";

std::shared_ptr<const stimrank::RuleSet> anchor_rules() {
  stimrank::LoadResult loaded = stimrank::compile_rules({{"anchors.rules", kAnchorRules}});
  INFO(stimrank::format_all(loaded.diagnostics));
  REQUIRE(loaded.ok());
  return loaded.ruleset;
}

// A random profile for the anchor rules; each field is absent (unknown) now and then.
std::string random_profile(std::mt19937& random, int id) {
  auto chance = [&](int percent) { return static_cast<int>(random() % 100) < percent; };
  auto pick = [&](std::vector<std::string> values) { return values[random() % values.size()]; };
  nlohmann::json p;
  p["id"] = "p" + std::to_string(id);
  if (!chance(15)) p["age"] = static_cast<int>(random() % 100);
  if (!chance(15)) p["nrs"] = static_cast<double>(random() % 21) / 2;  // 0, 0.5, …, 10
  if (!chance(15)) p["flag"] = chance(50);
  if (!chance(15)) p["other"] = chance(30);
  if (!chance(15)) p["sex"] = pick({"female", "male", "other"});
  if (!chance(15)) p["region"] = pick({"a", "b", "c", "d", "e"});
  if (!chance(15)) {
    nlohmann::json devices = nlohmann::json::array();
    for (const char* d : {"pacemaker", "implant", "pump", "stimulator"})
      if (chance(30)) devices.push_back(d);
    p["devices"] = devices;
  }
  if (!chance(15)) {
    nlohmann::json conditions = nlohmann::json::array();
    if (chance(40)) conditions.push_back({{"system", "icd10cm"}, {"code", "G90.511"}});
    if (chance(30)) conditions.push_back("two_alias");
    if (chance(10)) conditions.push_back("undeclared_alias");  // a warning, not an error
    if (chance(10)) conditions.push_back(nlohmann::json::object({{"display", "coding unknown"}}));
    p["conditions"] = conditions;
  }
  return p.dump();
}

}  // namespace

TEST_CASE("fast paths agree with the full evaluation on the knowledge base", "[fastpath]") {
  auto loaded = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR);
  REQUIRE(loaded.ok());
  auto profiles = knowledge_profiles();
  REQUIRE(profiles.size() > 50);
  fast_reads = 0;
  for (const std::string& profile : profiles) check_same(loaded.ruleset, profile);
  CHECK(fast_reads > static_cast<int>(profiles.size()) * 3 / 4);
}

TEST_CASE("fast paths agree with the full evaluation, unknown fields included", "[fastpath]") {
  auto rules = anchor_rules();
  // The bitmap decides most rules; the rest go through the index. Without the
  // bitmap (compared in check_same), most rules are reached through an anchor.
  const auto& plan = stimrank::detail::compiled(*rules).plan;
  CHECK(plan.bitmap.rules.size() >= plan.rules.size() / 2);
  CHECK(plan.bitmap.rules.size() < plan.rules.size());
  auto indexed =
      stimrank::engine::compile_plan(stimrank::detail::compiled(*rules).model, {.bitmap = false});
  CHECK(indexed.bitmap.rules.empty());
  CHECK(indexed.index.always.size() <= indexed.rules.size() * 2 / 3);
  CHECK(!indexed.index.anchors.empty());
  std::mt19937 random(20261124);
  fast_reads = 0;
  for (int i = 0; i < 3000; ++i) check_same(rules, random_profile(random, i));
  CHECK(fast_reads > 2000);
}

TEST_CASE("fast paths agree when weights are not exact binary fractions", "[fastpath]") {
  // 0.3 is no multiple of 1/1024: sums depend on their order, and scores are
  // ranked by their IEEE bits instead of as integers.
  std::string text = kAnchorRules;
  const std::string from = "unverified_weight 0.5", to = "unverified_weight 0.3";
  text.replace(text.find(from), from.size(), to);
  stimrank::LoadResult loaded = stimrank::compile_rules({{"inexact.rules", text}});
  REQUIRE(loaded.ok());
  REQUIRE_FALSE(stimrank::detail::compiled(*loaded.ruleset).plan.exact_weights);
  std::mt19937 random(5);
  for (int i = 0; i < 1000; ++i) check_same(loaded.ruleset, random_profile(random, i));
}

TEST_CASE("a reused Result is cleared when a profile is invalid", "[fastpath]") {
  auto rules = anchor_rules();
  stimrank::Evaluator evaluator(rules);
  stimrank::Result result;
  std::vector<stimrank::ProfileError> errors;
  REQUIRE(evaluator.evaluate(R"({"id": "p1", "age": 50, "flag": true})", result, errors));
  CHECK(result.profile == "p1");
  CHECK_FALSE(result.options.empty());
  CHECK_FALSE(evaluator.evaluate(R"({"id": "p2", "age": "old"})", result, errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].format() == "/age: expected an integer from 0 to 130, got `\"old\"`");
  CHECK(result.profile.empty());
  CHECK(result.options.empty());
}

TEST_CASE("values the bitmap has no row for are evaluated rule by rule", "[fastpath]") {
  // A profile reader never produces these (JSON has no NaN; labels are checked),
  // but the bitmap must not guess if a caller of the engine does.
  auto rules = anchor_rules();
  const auto& impl = stimrank::detail::compiled(*rules);
  auto slot_of = [&](const std::string& name) {
    for (const auto& field : impl.model.schema.fields)
      if (field.name == name) return static_cast<std::size_t>(field.slot);
    FAIL("no field " << name);
    return std::size_t{0};
  };
  std::mt19937 random(11);
  for (int i = 0; i < 200; ++i) {
    stimrank::engine::Facts facts;
    std::vector<stimrank::ProfileError> errors;
    REQUIRE(stimrank::engine::load_profile(impl.model, impl.plan, random_profile(random, i),
                                           impl.limits, facts, errors));
    auto& odd = facts.scalars[slot_of(i % 2 ? "nrs" : "region")];
    odd.known = true;
    odd.number = std::nan("");
    odd.symbol = 99;
    stimrank::engine::Assessment assessment;
    stimrank::engine::assess(impl.model, impl.plan, facts, assessment);
    for (std::size_t r = 0; r < impl.plan.rules.size(); ++r) {
      INFO("profile " << i << ", rule " << impl.model.rules[r].id);
      CHECK(assessment.truth[r] ==
            stimrank::engine::evaluate_node(
                impl.plan, static_cast<std::uint32_t>(impl.plan.rules[r].root), facts, nullptr));
    }
  }
}

TEST_CASE("the fast reader reads what the validating loader reads, or gives up", "[fastpath]") {
  auto rules = anchor_rules();
  const auto& impl = stimrank::detail::compiled(*rules);
  std::mt19937 random(7);
  int taken = 0, given_up = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string profile = random_profile(random, i);
    // Damage it: drop, double or replace a byte, or splice in an odd value.
    std::size_t at = random() % profile.size();
    switch (random() % 6) {
      case 0: profile.erase(at, 1); break;
      case 1: profile.insert(at, 1, profile[at]); break;
      case 2: profile[at] = "{}[]\",:0a-e.\\ "[random() % 15]; break;
      case 3: profile.insert(1, R"("flag": null, )"); break;
      case 4: profile.insert(1, R"("age": 1e400, )"); break;
      default: profile.insert(1, R"("zzz": 1, )"); break;
    }
    INFO("profile: " << profile);
    stimrank::engine::Facts fast;
    std::vector<stimrank::ProfileError> errors;
    stimrank::engine::Facts full;
    bool valid =
        stimrank::engine::load_profile(impl.model, impl.plan, profile, impl.limits, full, errors);
    if (!stimrank::engine::fast_load_profile(impl.model, impl.plan, profile, impl.limits, fast)) {
      ++given_up;
      // What the caller gets then is the validating loader's verdict.
      stimrank::engine::Facts any;
      std::vector<stimrank::ProfileError> any_errors;
      CHECK(stimrank::engine::load_profile_any(impl.model, impl.plan, profile, impl.limits, any,
                                               any_errors) == valid);
      CHECK(any_errors.size() == errors.size());
      continue;
    }
    ++taken;
    REQUIRE(valid);
    CHECK(fast.warnings == full.warnings);
    CHECK(stimrank::engine::evaluate_facts(impl.model, impl.plan, fast).to_json() ==
          stimrank::engine::evaluate_facts(impl.model, impl.plan, full).to_json());
  }
  CHECK(taken > 100);
  CHECK(given_up > 100);
}

TEST_CASE("JSON Lines: every line answered in input order, whatever the threads", "[fastpath]") {
  auto rules = anchor_rules();
  std::mt19937 random(3);
  std::string input;
  std::vector<std::string> expected;  // one per non-blank line
  stimrank::Evaluator evaluator(rules);
  for (int i = 0; i < 3000; ++i) {
    std::string line;
    switch (i % 97) {
      case 5: input += "\n"; continue;         // blank
      case 6: input += "  \t \r\n"; continue;  // blank, CRLF
      case 7: line = "{not json"; break;
      case 8: line = R"({"id": "x", "age": "old"})"; break;
      case 9: line = R"({"id": ")" + std::string(1500000, 'a') + R"("})"; break;  // > a read block
      default: line = random_profile(random, i);
    }
    input += line + (i % 11 == 0 ? "\r\n" : "\n");
    std::string out;
    std::vector<stimrank::ProfileError> errors;
    if (!evaluator.append(line, stimrank::OutputFormat::json, out, errors))
      out = stimrank::jsonl_error_line(static_cast<std::size_t>(i) + 1, errors);
    expected.push_back(out);
  }
  {
    std::string last = random_profile(random, 99999);
    input += last;  // no newline at the end
    std::string out;
    std::vector<stimrank::ProfileError> errors;
    REQUIRE(evaluator.append(last, stimrank::OutputFormat::json, out, errors));
    expected.push_back(out);
  }
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    std::istringstream in(input);
    std::ostringstream out, messages;
    stimrank::JsonlOptions options;
    options.threads = threads;
    options.label = "cohort.jsonl";
    stimrank::JsonlSummary summary = stimrank::evaluate_jsonl(rules, in, out, messages, options);
    CHECK(summary.read_error.empty());
    std::vector<std::string> lines = testing::output_lines(out.str());
    REQUIRE(lines.size() == expected.size());
    CHECK(summary.lines == lines.size());
    std::size_t failed = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      if (expected[i].rfind(R"({"line":)", 0) == 0) ++failed;
      CHECK(lines[i] == expected[i]);
    }
    CHECK(summary.failed == failed);
    CHECK(messages.str().find("cohort.jsonl:") != std::string::npos);
  }
}

namespace {

// A disk that takes `room` bytes and then refuses more.
class FullDisk : public std::streambuf {
 public:
  explicit FullDisk(std::size_t room) : room_(room) {}
  std::size_t taken = 0;

 protected:
  std::streamsize xsputn(const char*, std::streamsize n) override {
    const auto wanted = static_cast<std::size_t>(n);
    const std::size_t fits = std::min(wanted, room_ - taken);
    taken += fits;
    return static_cast<std::streamsize>(fits);
  }
  int_type overflow(int_type c) override {
    if (taken == room_) return traits_type::eof();
    ++taken;
    return c;
  }

 private:
  std::size_t room_;
};

// An input that gives `text` 4 KB at a time and then fails, as a disk with a bad
// sector does (libstdc++'s file buffer throws from underflow on a read error).
class BadSector : public std::streambuf {
 public:
  explicit BadSector(std::string text) : text_(std::move(text)) {}

 protected:
  int_type underflow() override {
    if (at_ == text_.size()) throw std::ios_base::failure("bad sector");
    const std::size_t piece = std::min<std::size_t>(4096, text_.size() - at_);
    setg(text_.data() + at_, text_.data() + at_, text_.data() + at_ + piece);
    at_ += piece;
    return traits_type::to_int_type(text_[at_ - piece]);
  }

 private:
  std::string text_;
  std::size_t at_ = 0;
};

}  // namespace

TEST_CASE("JSON Lines: an output that fails stops the batch and says so", "[fastpath]") {
  auto rules = anchor_rules();
  std::mt19937 random(5);
  std::string input;
  // More lines than can be in flight when the first write fails (at most 8 chunks,
  // or 4 per thread, of at most 1,152 lines, plus one being read by each thread).
  const int total = 30000;
  for (int i = 0; i < total; ++i) input += random_profile(random, i) + "\n";
  for (unsigned threads : {1u, 2u, 3u}) {
    std::istringstream in(input);
    FullDisk disk(20000);
    std::ostream out(&disk);
    std::ostringstream messages;
    stimrank::JsonlOptions options;
    options.threads = threads;
    stimrank::JsonlSummary summary = stimrank::evaluate_jsonl(rules, in, out, messages, options);
    CHECK(summary.write_error == "the results could not be written");
    CHECK(summary.read_error.empty());
    CHECK(disk.taken == 20000);
    CHECK(summary.lines < static_cast<std::size_t>(total));  // it stopped early
  }
}

// A read error loses the block being read (the stream does not say how much of it
// arrived), so the lines answered are those of the blocks before it, in order.
TEST_CASE("JSON Lines: an input that fails is reported, the lines before it answered",
          "[fastpath]") {
  auto rules = anchor_rules();
  std::mt19937 random(6);
  std::string text;
  std::vector<std::string> expected;
  stimrank::Evaluator evaluator(rules);
  for (int i = 0; i < 2000; ++i) {
    std::string line = random_profile(random, i), answer;
    std::vector<stimrank::ProfileError> errors;
    REQUIRE(evaluator.append(line, stimrank::OutputFormat::json, answer, errors));
    text += line + "\n";
    expected.push_back(answer);
  }
  for (unsigned threads : {1u, 2u}) {
    BadSector sector(text);
    std::istream in(&sector);
    std::ostringstream out, messages;
    stimrank::JsonlOptions options;
    options.threads = threads;
    stimrank::JsonlSummary summary = stimrank::evaluate_jsonl(rules, in, out, messages, options);
    CHECK(summary.read_error == "the input could not be read to its end");
    CHECK(summary.write_error.empty());
    std::vector<std::string> lines = testing::output_lines(out.str());
    CHECK(lines.size() == summary.lines);
    CHECK(lines.size() > 0);
    CHECK(lines.size() < expected.size());
    for (std::size_t i = 0; i < lines.size() && i < expected.size(); ++i)
      CHECK(lines[i] == expected[i]);
  }
}

TEST_CASE("evaluate_many answers every profile in order, whatever the threads", "[fastpath]") {
  auto rules = anchor_rules();
  std::mt19937 random(7);
  std::vector<std::string> profiles;
  for (int i = 0; i < 300; ++i)
    profiles.push_back(i % 50 == 3 ? std::string("{not json") : random_profile(random, i));
  std::vector<std::string> expected;
  for (const std::string& profile : profiles) {
    stimrank::Evaluation evaluation = rules->evaluate_json(profile);
    expected.push_back(evaluation.ok() ? evaluation.result->to_json()
                                       : evaluation.errors.at(0).format());
  }
  for (unsigned threads : {0u, 1u, 2u, 5u, 8u}) {
    std::vector<stimrank::Evaluation> evaluations =
        stimrank::evaluate_many(rules, profiles, threads);
    REQUIRE(evaluations.size() == profiles.size());
    for (std::size_t i = 0; i < profiles.size(); ++i) {
      const stimrank::Evaluation& evaluation = evaluations[i];
      CHECK(evaluation.ok() != evaluation.errors.size() > 0);
      CHECK((evaluation.ok() ? evaluation.result->to_json() : evaluation.errors.at(0).format()) ==
            expected[i]);
    }
  }
  CHECK(stimrank::evaluate_many(rules, {}, 2).empty());
}
