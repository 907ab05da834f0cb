// compare_rule_sets: attribute every change in a cohort's results to rules.
#include "stimrank/impact.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "compiled.hpp"
#include "explanation.hpp"
#include "profile.hpp"

namespace stimrank {

namespace {

// What a rule is: its kind, condition, grade/weight and text; a change in any of
// these between the two rule sets makes the rule "changed".
std::map<std::string, std::string> rule_signatures(const RuleSet& rules) {
  std::map<std::string, std::string> out;
  for (const RuleInfo& r : rules.describe().rules) {
    std::string options;
    for (const auto& o : r.options) options += o + ",";
    out[r.id] = r.kind + "|" + options + "|" + r.condition + "|" + r.grade + "|" +
                std::to_string(r.weight) + "|" + r.because + "|" + r.source;
  }
  return out;
}

std::set<std::string> reason_rules(const OptionResult& o) {
  std::set<std::string> out;
  for (const Reason& r : o.reasons) out.insert(r.rule);
  return out;
}

}  // namespace

ImpactReport compare_rule_sets(const RuleSet& before, const RuleSet& after,
                               const std::vector<std::string>& profiles) noexcept {
  ImpactReport report;
  try {
    auto old_rules = rule_signatures(before);
    auto new_rules = rule_signatures(after);
    std::map<std::string, std::string> rule_change;  // rule → how it changed
    for (const auto& [id, signature] : old_rules) {
      auto it = new_rules.find(id);
      if (it == new_rules.end())
        rule_change[id] = "removed";
      else if (it->second != signature)
        rule_change[id] = "changed";
    }
    for (const auto& [id, signature] : new_rules)
      if (!old_rules.count(id)) rule_change[id] = "added";

    std::map<std::string, RuleImpact> impacts;
    for (const std::string& text : profiles) {
      ++report.profiles;
      Evaluation a = before.evaluate_json(text), b = after.evaluate_json(text);
      if (!a.ok() || !b.ok()) {
        ++report.invalid;
        std::string message = !a.ok() ? a.errors[0].format() : b.errors[0].format();
        report.errors.push_back("profile " + std::to_string(report.profiles) + ": " + message);
        continue;
      }
      std::map<std::string, const OptionResult*> old_options, new_options;
      for (const auto& o : a.result->options) old_options[o.option] = &o;
      for (const auto& o : b.result->options) new_options[o.option] = &o;
      std::vector<OptionChange> changes;
      std::set<std::string> patient_rules;  // rules that fire differently for this patient
      std::set<std::string> all_options;
      for (const auto& [id, o] : old_options) all_options.insert(id);
      for (const auto& [id, o] : new_options) all_options.insert(id);
      for (const std::string& id : all_options) {
        const OptionResult* o = old_options.count(id) ? old_options[id] : nullptr;
        const OptionResult* n = new_options.count(id) ? new_options[id] : nullptr;
        std::set<std::string> old_reasons = o ? reason_rules(*o) : std::set<std::string>{};
        std::set<std::string> new_reasons = n ? reason_rules(*n) : std::set<std::string>{};
        std::vector<std::string> responsible;
        std::set_symmetric_difference(old_reasons.begin(), old_reasons.end(), new_reasons.begin(),
                                      new_reasons.end(), std::back_inserter(responsible));
        for (const std::string& r : new_reasons)  // present in both but edited
          if (old_reasons.count(r) && rule_change.count(r)) responsible.push_back(r);
        patient_rules.insert(responsible.begin(), responsible.end());
        std::string old_status = o ? to_string(o->status) : "absent";
        std::string new_status = n ? to_string(n->status) : "absent";
        int old_rank = o && o->rank ? *o->rank : 0;
        int new_rank = n && n->rank ? *n->rank : 0;
        if (old_status == new_status && old_rank == new_rank) continue;
        OptionChange change{"", id, old_status, new_status, old_rank, new_rank, responsible};
        change.profile = a.result->profile;
        changes.push_back(std::move(change));
      }
      if (changes.empty()) continue;
      ++report.changed_profiles;
      // A rank can move because another option changed: blame that option's rules.
      for (OptionChange& change : changes) {
        if (change.rules.empty()) change.rules.assign(patient_rules.begin(), patient_rules.end());
        if (change.rules.empty()) change.rules.push_back("(ranking policy or scheme weights)");
        for (const std::string& rule : change.rules) {
          RuleImpact& impact = impacts[rule];
          impact.rule = rule;
          impact.change = rule_change.count(rule) ? rule_change[rule] : "fires differently";
          if (impact.profiles.empty() || impact.profiles.back() != change.profile)
            impact.profiles.push_back(change.profile);
          ++impact.option_changes;
        }
        report.changes.push_back(std::move(change));
      }
    }
    for (auto& [rule, impact] : impacts) report.by_rule.push_back(std::move(impact));
    std::stable_sort(report.by_rule.begin(), report.by_rule.end(),
                     [](const RuleImpact& x, const RuleImpact& y) {
                       return x.profiles.size() > y.profiles.size();
                     });
  } catch (std::exception const& e) {
    report.errors.push_back(std::string("internal error: ") + e.what());
  }
  return report;
}

std::string render_impact(const ImpactReport& report, const RuleSet& before, const RuleSet& after) {
  auto rank = [](int r) { return r ? std::to_string(r) : std::string("-"); };
  std::string out = "# Impact of " + after.name() + " " + after.version() + " (" +
                    after.digest().substr(0, 19) + "…) against " + before.name() + " " +
                    before.version() + " (" + before.digest().substr(0, 19) + "…)\n\n";
  out += std::to_string(report.changed_profiles) + " of " + std::to_string(report.profiles) +
         " patients change";
  if (report.invalid)
    out += "; " + std::to_string(report.invalid) + " profiles could not be evaluated";
  out += ".\n";
  if (!report.by_rule.empty()) {
    out += "\n## By rule\n\n| rule | change | patients | option changes |\n|---|---|--:|--:|\n";
    for (const RuleImpact& r : report.by_rule)
      out += "| " + r.rule + " | " + r.change + " | " + std::to_string(r.profiles.size()) + " | " +
             std::to_string(r.option_changes) + " |\n";
  }
  if (!report.changes.empty()) {
    out += "\n## Changes\n\n| patient | option | status | rank | rules |\n|---|---|---|---|---|\n";
    for (const OptionChange& c : report.changes) {
      std::string rules;
      for (const auto& r : c.rules) rules += (rules.empty() ? "" : ", ") + r;
      out += "| " + c.profile + " | " + c.option + " | " + c.old_status + " → " + c.new_status +
             " | " + rank(c.old_rank) + " → " + rank(c.new_rank) + " | " + rules + " |\n";
    }
  }
  for (const std::string& e : report.errors) out += "\nerror: " + e;
  if (!report.errors.empty()) out += "\n";
  return out;
}

}  // namespace stimrank
