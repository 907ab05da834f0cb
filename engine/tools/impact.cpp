// compare_rule_sets: attribute every change in a cohort's results to rules.
#include "stimrank/impact.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "compiled.hpp"
#include "explanation.hpp"
#include "profile.hpp"
#include "utf8.hpp"

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

// A table cell from text a profile supplied (its id): control characters shown as
// `?`, `|` and `\` escaped, so that an id cannot end its row or add rows to the report.
std::string cell(const std::string& text) {
  std::string out;
  for (char c : utf8::printable(text)) {
    if (c == '|' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::set<std::string> reason_rules(const OptionResult& o) {
  std::set<std::string> out;
  for (const Reason& r : o.reasons) out.insert(r.rule);
  return out;
}

}  // namespace

ImpactComparison::ImpactComparison(const RuleSet& before, const RuleSet& after,
                                   const ImpactOptions& options) noexcept
    : before_(before), after_(after), options_(options) {
  try {
    auto old_rules = rule_signatures(before);
    auto new_rules = rule_signatures(after);
    for (const auto& [id, signature] : old_rules) {
      auto it = new_rules.find(id);
      if (it == new_rules.end())
        rule_change_[id] = "removed";
      else if (it->second != signature)
        rule_change_[id] = "changed";
    }
    for (const auto& [id, signature] : new_rules)
      if (!old_rules.count(id)) rule_change_[id] = "added";
  } catch (std::exception const& e) {
    error(std::string("internal error: ") + e.what());
  }
}

void ImpactComparison::error(std::string message) {
  if (report_.errors.size() < options_.max_listed_errors)
    report_.errors.push_back(std::move(message));
  else
    ++report_.unlisted_errors;
}

void ImpactComparison::add_unreadable(const std::string& message) noexcept {
  try {
    ++report_.profiles;
    ++report_.invalid;
    error("profile " + std::to_string(report_.profiles) + ": " + message);
  } catch (std::exception const&) {  // out of memory for one message: counted all the same
  }
}

void ImpactComparison::add(std::string_view text) noexcept {
  try {
    ++report_.profiles;
    Evaluation a = before_.evaluate_json(text), b = after_.evaluate_json(text);
    if (!a.ok() || !b.ok()) {
      ++report_.invalid;
      error("profile " + std::to_string(report_.profiles) + ": " +
            (!a.ok() ? a.errors[0].format() : b.errors[0].format()));
      return;
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
        if (old_reasons.count(r) && rule_change_.count(r)) responsible.push_back(r);
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
    if (changes.empty()) return;
    ++report_.changed_profiles;
    // A rank can move because another option changed: blame that option's rules.
    std::set<std::string> counted;  // rules this patient is already counted under
    // A patient's changes are listed together or not at all.
    const bool listed = report_.changes.size() < options_.max_listed_changes;
    for (OptionChange& change : changes) {
      if (change.rules.empty()) change.rules.assign(patient_rules.begin(), patient_rules.end());
      if (change.rules.empty()) change.rules.push_back("(ranking policy or scheme weights)");
      for (const std::string& rule : change.rules) {
        RuleImpact& impact = impacts_[rule];
        impact.rule = rule;
        impact.change = rule_change_.count(rule) ? rule_change_[rule] : "fires differently";
        if (counted.insert(rule).second) ++impact.patients;
        if (listed && (impact.profiles.empty() || impact.profiles.back() != change.profile))
          impact.profiles.push_back(change.profile);
        ++impact.option_changes;
      }
      if (listed)
        report_.changes.push_back(std::move(change));
      else
        ++report_.unlisted_changes;
    }
  } catch (std::exception const& e) {
    error(std::string("internal error: ") + e.what());
  }
}

ImpactReport ImpactComparison::finish() noexcept {
  ImpactReport report = std::move(report_);
  try {
    for (auto& [rule, impact] : impacts_) report.by_rule.push_back(std::move(impact));
    impacts_.clear();
    std::stable_sort(
        report.by_rule.begin(), report.by_rule.end(),
        [](const RuleImpact& x, const RuleImpact& y) { return x.patients > y.patients; });
  } catch (std::exception const& e) {
    report.errors.push_back(std::string("internal error: ") + e.what());
  }
  return report;
}

ImpactReport compare_rule_sets(const RuleSet& before, const RuleSet& after,
                               const std::vector<std::string>& profiles,
                               const ImpactOptions& options) noexcept {
  ImpactComparison comparison(before, after, options);
  for (const std::string& text : profiles) comparison.add(text);
  return comparison.finish();
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
      out += "| " + r.rule + " | " + r.change + " | " + std::to_string(r.patients) + " | " +
             std::to_string(r.option_changes) + " |\n";
  }
  if (!report.changes.empty()) {
    out += "\n## Changes\n\n| patient | option | status | rank | rules |\n|---|---|---|---|---|\n";
    for (const OptionChange& c : report.changes) {
      std::string rules;
      for (const auto& r : c.rules) rules += (rules.empty() ? "" : ", ") + r;
      out += "| " + cell(c.profile) + " | " + c.option + " | " + c.old_status + " → " +
             c.new_status + " | " + rank(c.old_rank) + " → " + rank(c.new_rank) + " | " + rules +
             " |\n";
    }
  }
  if (report.unlisted_changes)
    out += "\n" + std::to_string(report.unlisted_changes) + " more option changes are counted " +
           "above but not listed (the first " + std::to_string(report.changes.size()) +
           " are; `--max-changes N` lists more).\n";
  for (const std::string& e : report.errors) out += "\nerror: " + utf8::printable(e);
  if (report.unlisted_errors)
    out += "\nerror: and " + std::to_string(report.unlisted_errors) +
           " more profiles that could not be evaluated";
  if (!report.errors.empty()) out += "\n";
  return out;
}

}  // namespace stimrank
