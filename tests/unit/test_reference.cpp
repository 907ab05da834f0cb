// The engine against the reference evaluator (tests/reference/) on generated rule
// sets and profiles: the same options in the same order, statuses, ranks, scores,
// reasons and missing data. STIMRANK_REFERENCE_CASES sets how many cases (default
// 100,000: 400 rule sets × 250 profiles); a failure prints the seeds and the case.
#include <cstdlib>
#include <random>

#include "../reference/generator.hpp"
#include "../reference/reference.hpp"
#include "compiled.hpp"
#include "helpers.hpp"

namespace {

std::vector<reference::Answer> engine_answers(const stimrank::Result& result) {
  std::vector<reference::Answer> out;
  for (const stimrank::OptionResult& o : result.options) {
    reference::Answer a;
    a.option = o.option;
    a.status = stimrank::to_string(o.status);
    a.rank = o.rank;
    a.score = o.score;
    for (const stimrank::Reason& r : o.reasons)
      a.reasons.push_back(r.rule + " " + r.kind +
                          (r.kind == "prerequisite" && r.met ? (*r.met ? " met" : " unmet") : ""));
    std::sort(a.reasons.begin(), a.reasons.end());
    a.missing = o.missing;
    out.push_back(a);
  }
  return out;
}

std::string show(const std::vector<reference::Answer>& answers) {
  std::string out;
  for (const auto& a : answers) {
    out += a.option + " " + a.status + " rank " + (a.rank ? std::to_string(*a.rank) : "-") +
           " score " + std::to_string(a.score) + "\n  reasons:";
    for (const auto& r : a.reasons) out += " [" + r + "]";
    out += "\n  missing:";
    for (const auto& m : a.missing) out += " " + m;
    out += "\n";
  }
  return out;
}

bool same(const std::vector<reference::Answer>& x, const std::vector<reference::Answer>& y) {
  if (x.size() != y.size()) return false;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (x[i].option != y[i].option || x[i].status != y[i].status || x[i].rank != y[i].rank ||
        x[i].score != y[i].score || x[i].reasons != y[i].reasons || x[i].missing != y[i].missing)
      return false;
  return true;
}

}  // namespace

TEST_CASE("the engine agrees with the reference evaluator on generated rule sets", "[reference]") {
  long cases = 100000;
  if (const char* env = std::getenv("STIMRANK_REFERENCE_CASES")) cases = std::atol(env);
  const int per_rule_set = 250;
  const std::uint64_t seed = 20261206;
  long compared = 0, disagreements = 0;
  for (int set = 0; compared < cases; ++set) {
    std::mt19937_64 rule_random(seed + static_cast<std::uint64_t>(set));
    const std::string rules_text = reference::random_rules(rule_random);
    stimrank::LoadResult loaded = stimrank::compile_rules({{"generated.rules", rules_text}});
    INFO("rule set seed " << seed + static_cast<std::uint64_t>(set) << ":\n" << rules_text);
    INFO(stimrank::format_all(loaded.diagnostics));
    REQUIRE(loaded.ok());
    const auto& model = stimrank::detail::compiled(*loaded.ruleset).model;
    std::mt19937_64 profile_random(seed * 31 + static_cast<std::uint64_t>(set));
    for (int p = 0; p < per_rule_set && compared < cases; ++p, ++compared) {
      const std::string profile = reference::random_profile(profile_random, p);
      stimrank::Evaluation evaluation = loaded.ruleset->evaluate_json(profile);
      INFO("profile " << p << ": " << profile);
      REQUIRE(evaluation.ok());
      auto expected = reference::evaluate(model, profile);
      auto actual = engine_answers(*evaluation.result);
      if (!same(expected, actual)) {
        ++disagreements;
        FAIL_CHECK("the engine:\n" << show(actual) << "the reference:\n" << show(expected));
        if (disagreements >= 3) return;
      }
    }
  }
  CHECK(compared >= cases);
  CHECK(disagreements == 0);
}
