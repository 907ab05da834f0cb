// explain_profile: the full reasoning for one patient, and what would change it.
#include "stimrank/explain.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "compiled.hpp"
#include "conditions.hpp"
#include "explanation.hpp"
#include "profile.hpp"
#include "spelling.hpp"

namespace stimrank {

using nlohmann::json;
using namespace rules::model;
using engine::Facts;
using engine::Plan;
using engine::PlanNode;

namespace {

const char* truth_text(Truth t) {
  return t == Truth::True ? "true" : t == Truth::False ? "false" : "unknown";
}

std::string ordinal(int n) {
  std::string suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th"
                       : n % 10 == 1                    ? "st"
                       : n % 10 == 2                    ? "nd"
                       : n % 10 == 3                    ? "rd"
                                                        : "th";
  return std::to_string(n) + suffix;
}

// One candidate change to the profile, described for a clinician.
struct Change {
  std::string description;
  json::json_pointer path;
  std::optional<json> value;  // nullopt: remove the field
  std::string field_path;
  std::string label;  // the concept or enum value the change adds or removes ("" for others)
};

class Explainer {
 public:
  Explainer(const RuleSet& rules, const json& profile, const Facts& facts, std::string only)
      : only_(std::move(only)),
        rules_(rules),
        model_(stimrank::detail::compiled(rules).model),
        plan_(stimrank::detail::compiled(rules).plan),
        profile_(profile),
        facts_(facts) {}

  void tree(const Result& result, std::string& out) {
    std::map<std::string, const OptionResult*> by_id;
    for (const auto& o : result.options) by_id[o.option] = &o;
    out += "## Reasoning, option by option\n";
    for (const auto& o : result.options) {
      if (!only_.empty() && o.option != only_) continue;
      std::size_t index = option_index(o.option);
      out += "\n" + o.option + " — " + to_string(o.status) +
             (o.rank ? ", rank " + std::to_string(*o.rank) : "") +
             (o.rank ? ", score " + number(o.score) : "") + "\n";
      for (int r : plan_.options[index].rules) {
        const auto& planned = plan_.rules[static_cast<std::size_t>(r)];
        const Rule& rule = model_.rules[static_cast<std::size_t>(planned.model_rule)];
        Truth t =
            engine::evaluate_node(plan_, static_cast<std::uint32_t>(planned.root), facts_, nullptr);
        out +=
            "  " + std::string(to_string(rule.kind)) + " " + rule.id + ": " + truth_text(t) + "\n";
        node(static_cast<std::uint32_t>(planned.root), rule.condition, 2, out);
      }
    }
  }

  // For each option not ranked first: single facts (then pairs) whose change moves it
  // up or excludes it. For each missing field: the ranking under each of its values.
  void counterfactuals(const Result& base, std::string& out) {
    collect_changes();
    out += "\n## What would change the ranking\n";
    std::string first = base.options.empty() || !base.options[0].rank ? "" : base.options[0].option;
    std::vector<std::pair<Change, Result>> evaluated;
    for (const Change& c : changes_) {
      json changed = apply(profile_, c);
      Evaluation e = rules_.evaluate_json(changed.dump());
      if (!e.ok()) continue;
      for (OptionResult& o : e.result->options) {  // kept: statuses and ranks, not reasons
        std::vector<Reason>().swap(o.reasons);
        std::vector<std::string>().swap(o.missing);
        std::vector<Evidence>().swap(o.evidence);
      }
      evaluated.emplace_back(c, std::move(*e.result));
    }
    if (changes_truncated_)
      out += "- (the rules name more single changes than explain tries: the first " +
             std::to_string(kMaxChanges) + " were tried)\n";
    bool any = false;
    for (const auto& o : base.options) {
      if (!only_.empty() && o.option != only_) continue;
      if (o.rank && o.option == first) continue;
      // Only the facts this option's own rules read: the direct reasons it would move.
      std::set<std::string> own_fields = fields_of(option_index(o.option));
      std::vector<std::string> effects;
      for (const auto& [change, result] : evaluated) {
        if (!relevant(own_fields, change)) continue;
        const OptionResult* now = find(result, o.option);
        if (!now) continue;
        std::string effect = describe_effect(o, *now);
        if (!effect.empty())
          effects.push_back(o.option + " " + effect + " if " + change.description);
      }
      if (effects.empty() && o.status != Status::excluded && o.status != Status::not_indicated) {
        // No single fact does it: try pairs of facts.
        for (std::size_t i = 0; i < changes_.size() && effects.empty(); ++i)
          for (std::size_t j = i + 1; j < changes_.size() && effects.size() < 2; ++j) {
            if (changes_[i].field_path == changes_[j].field_path ||
                !relevant(own_fields, changes_[i]) || !relevant(own_fields, changes_[j]))
              continue;
            if (pairs_tried_ == kMaxPairs) {  // a budget for the whole explanation
              pairs_truncated_ = true;
              break;
            }
            ++pairs_tried_;
            json changed = apply(apply(profile_, changes_[i]), changes_[j]);
            Evaluation e = rules_.evaluate_json(changed.dump());
            if (!e.ok()) continue;
            const OptionResult* now = find(*e.result, o.option);
            std::string effect = now ? describe_effect(o, *now) : "";
            if (!effect.empty())
              effects.push_back(o.option + " " + effect + " if " + changes_[i].description +
                                " and " + changes_[j].description);
          }
      }
      // Moving up first, then exclusions; each group in a stable order.
      std::sort(effects.begin(), effects.end(), [](const std::string& a, const std::string& b) {
        bool a_up = a.find(" would rank ") != std::string::npos,
             b_up = b.find(" would rank ") != std::string::npos;
        return a_up != b_up ? a_up : a < b;
      });
      effects.erase(std::unique(effects.begin(), effects.end()), effects.end());
      for (std::size_t k = 0; k < effects.size() && k < 6; ++k) {
        out += "- " + effects[k] + "\n";
        any = true;
      }
    }
    if (!any) out += "- no single change of one or two facts moves an option\n";
    if (pairs_truncated_)
      out += "- (explain tries at most " + std::to_string(kMaxPairs) +
             " pairs of changes; not every pair was tried)\n";

    out += "\n## Missing data: the ranking for each possible value\n";
    std::set<std::string> missing;
    for (const auto& o : base.options) missing.insert(o.missing.begin(), o.missing.end());
    if (missing.empty()) out += "- nothing that could change the result is missing\n";
    for (const std::string& path : missing) {
      out += "- " + path + ":\n";
      bool shown = false;
      for (const auto& [change, result] : evaluated) {
        if (change.field_path != path || !change.value) continue;
        out += "    " + change.description + ": " + top(result) + "\n";
        shown = true;
      }
      if (!shown)
        out += untried_.count(path) ? "    (not tried: explain's search stopped before it)\n"
                                    : "    (no value named by the rules changes it on its own)\n";
    }
  }

 private:
  std::string only_;  // one option's explanation, or every option's ("")
  static std::string number(double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v);
    return buffer;
  }
  std::size_t option_index(const std::string& id) const {
    for (std::size_t i = 0; i < model_.options.size(); ++i)
      if (model_.options[i].id == id) return i;
    return 0;
  }
  // "path|label" for the codes and set values an option's rules test, "path|*" for
  // the other fields they read.
  std::set<std::string> fields_of(std::size_t option) const {
    std::set<std::string> out;
    std::function<void(const Expr&)> walk = [&](const Expr& e) {
      if (e.field >= 0) {
        const Field& f = model_.schema.fields[static_cast<std::size_t>(e.field)];
        if (e.op == Op::CodeHas)
          for (int c : e.symbols)
            out.insert(f.path + "|" + model_.concepts[static_cast<std::size_t>(c)].id);
        else if (e.op == Op::SetHas)
          for (int l : e.symbols) out.insert(f.path + "|" + f.labels[static_cast<std::size_t>(l)]);
        else
          out.insert(f.path + "|*");
      }
      for (const Expr& k : e.kids) walk(k);
    };
    for (int r : plan_.options[option].rules)
      walk(model_
               .rules[static_cast<std::size_t>(plan_.rules[static_cast<std::size_t>(r)].model_rule)]
               .condition);
    return out;
  }
  static bool relevant(const std::set<std::string>& own, const Change& c) {
    return own.count(c.field_path + "|*") || own.count(c.field_path + "|" + c.label);
  }
  static const OptionResult* find(const Result& r, const std::string& id) {
    for (const auto& o : r.options)
      if (o.option == id) return &o;
    return nullptr;
  }
  static std::string top(const Result& r) {
    std::string out;
    for (const auto& o : r.options)
      if (o.rank && *o.rank <= 3)
        out += (out.empty() ? "" : ", ") + std::to_string(*o.rank) + ". " + o.option;
    return out.empty() ? "nothing ranked" : out;
  }
  static std::string describe_effect(const OptionResult& before, const OptionResult& after) {
    if (after.status == Status::excluded && before.status != Status::excluded)
      return "would be excluded";
    if (before.status == Status::excluded && after.status != Status::excluded)
      return after.rank ? "would rank " + ordinal(*after.rank)
                        : "would be " + std::string(to_string(after.status));
    if (after.rank && (!before.rank || *after.rank < *before.rank))
      return "would rank " + ordinal(*after.rank) +
             (after.status != before.status ? " (" + std::string(to_string(after.status)) + ")"
                                            : "");
    return "";
  }

  void node(std::uint32_t index, const Expr& e, int depth, std::string& out) {
    const PlanNode& n = plan_.nodes[index];
    if (e.op == Op::And || e.op == Op::Or || e.op == Op::Not) {
      for (std::uint32_t k = 0; k < n.count && k < e.kids.size(); ++k) {
        std::uint32_t kid = plan_.kids[n.first + k];
        Truth t = engine::evaluate_node(plan_, kid, facts_, nullptr);
        out += std::string(static_cast<std::size_t>(depth) * 2, ' ') + e.kids[k].text + ": " +
               truth_text(t) + "\n";
        node(kid, e.kids[k], depth + 1, out);
      }
    }
  }

  // ---- candidate changes, from the rules' own leaves
  void collect_changes() {
    std::set<std::string> seen;
    for (const Rule& r : model_.rules) leaves(r.condition, seen);
  }
  void add(Change c, std::set<std::string>& seen) {
    std::string key = c.description;
    if (changes_.size() == kMaxChanges) {  // bounded: a wide rule set names millions
      changes_truncated_ = true;
      untried_.insert(c.field_path);
      return;
    }
    if (seen.insert(key).second) changes_.push_back(std::move(c));
  }
  void leaves(const Expr& e, std::set<std::string>& seen) {
    if (e.op == Op::And || e.op == Op::Or || e.op == Op::Not) {
      for (const Expr& k : e.kids) leaves(k, seen);
      return;
    }
    if (e.field < 0) return;
    const Field& f = model_.schema.fields[static_cast<std::size_t>(e.field)];
    if (f.list >= 0 && f.type != FieldType::Codes && f.type != FieldType::List)
      return;  // entry scope
    json::json_pointer ptr(f.path);
    bool present = profile_.contains(ptr);
    std::string name = f.path.substr(1);
    std::replace(name.begin(), name.end(), '/', '.');
    switch (e.op) {
      case Op::BoolField:
        for (bool value : {true, false})
          if (!present || profile_.at(ptr) != value)
            add({name + " were " + (value ? "true" : "false"), ptr, json(value), f.path, {}}, seen);
        break;
      case Op::NumCmp:
      case Op::NumRange: {
        for (double v : {e.number - 1, e.number, e.number + 1, e.number2}) {
          if ((f.min && v < *f.min) || (f.max && v > *f.max)) continue;
          if (e.op != Op::NumRange && v == e.number2) continue;
          if (present && profile_.at(ptr).is_number() && profile_.at(ptr).get<double>() == v)
            continue;
          json value = f.type == FieldType::Int ? json(static_cast<long long>(v)) : json(v);
          add({name + " were " + number(v), ptr, value, f.path, {}}, seen);
        }
        break;
      }
      case Op::SymEq:
      case Op::SymIn:
        for (std::size_t i = 0; i < f.labels.size(); ++i) {
          if (present && profile_.at(ptr) == f.labels[i]) continue;
          add({name + " were " + f.labels[i], ptr, json(f.labels[i]), f.path, {}}, seen);
        }
        break;
      case Op::SetHas:
        for (std::size_t i = 0; i < f.labels.size(); ++i) {
          if (!((plan_mask(e) >> i) & 1u)) continue;
          json list = present && profile_.at(ptr).is_array() ? profile_.at(ptr) : json::array();
          auto it = std::find(list.begin(), list.end(), f.labels[i]);
          if (it != list.end()) {
            list.erase(it);
            add({name + " did not contain " + f.labels[i], ptr, list, f.path, f.labels[i]}, seen);
          } else {
            list.push_back(f.labels[i]);
            add({name + " contained " + f.labels[i], ptr, list, f.path, f.labels[i]}, seen);
          }
        }
        break;
      case Op::CodeHas:
        if (f.type != FieldType::Codes) break;
        for (int concept_index : e.symbols) {
          const std::string& id = model_.concepts[static_cast<std::size_t>(concept_index)].id;
          json list = present && profile_.at(ptr).is_array() ? profile_.at(ptr) : json::array();
          auto it = std::find(list.begin(), list.end(), id);
          if (it != list.end()) {
            list.erase(it);
            add({name + " did not include " + id, ptr, list, f.path, id}, seen);
          } else {
            list.push_back(id);
            add({name + " included " + id, ptr, list, f.path, id}, seen);
          }
        }
        break;
      default: break;
    }
  }
  static std::uint64_t plan_mask(const Expr& e) {
    std::uint64_t mask = 0;
    for (int label : e.symbols) mask |= std::uint64_t{1} << label;
    return mask;
  }
  static json apply(const json& profile, const Change& c) {
    json out = profile;
    if (c.value)
      out[c.path] = *c.value;
    else if (out.contains(c.path))
      out.at(c.path.parent_pointer()).erase(c.path.back());
    return out;
  }

  const RuleSet& rules_;
  const Model& model_;
  const Plan& plan_;
  const json& profile_;
  const Facts& facts_;
  std::vector<Change> changes_;
  // Budgets of the search for what would change the ranking: each change is an
  // evaluation, and a rule set of 20,000 fields of 20 values each names 400,000.
  // The shipped knowledge base names a few hundred.
  static constexpr std::size_t kMaxChanges = 4096, kMaxPairs = 4096;
  bool changes_truncated_ = false, pairs_truncated_ = false;
  std::set<std::string> untried_;  // fields with changes past kMaxChanges
  std::size_t pairs_tried_ = 0;
};

}  // namespace

ExplainReport explain_profile(const RuleSet& rules, std::string_view profile_json) noexcept {
  return explain_profile(rules, profile_json, std::string());
}

ExplainReport explain_profile(const RuleSet& rules, std::string_view profile_json,
                              const std::string& only_option) noexcept {
  ExplainReport report;
  try {
    if (!only_option.empty()) {
      std::vector<std::string> ids = rules.option_ids();
      if (std::find(ids.begin(), ids.end(), only_option) == ids.end()) {
        std::string hint = rules::did_you_mean(only_option, ids);
        report.errors.push_back({"option", "the rule set has no option `" + only_option + "`" +
                                               (hint.empty() ? "" : " (" + hint + ")")});
        return report;
      }
    }
    const auto& impl = stimrank::detail::compiled(rules);
    engine::Facts facts;
    if (!engine::load_profile(impl.model, impl.plan, profile_json, impl.limits, facts,
                              report.errors))
      return report;
    engine::cap_warnings(facts.warnings);
    json profile = json::parse(profile_json.begin(), profile_json.end());
    Result result = engine::evaluate_facts(impl.model, impl.plan, facts);
    report.text = "# Explanation for " + result.profile + "\n\n" + result.to_text() + "\n";
    report.result_json = result.to_json();
    Explainer explainer(rules, profile, facts, only_option);
    explainer.tree(result, report.text);
    explainer.counterfactuals(result, report.text);
    report.ok = true;
  } catch (std::exception const& e) {
    report.ok = false;
    report.errors.push_back({"", std::string("internal error: ") + e.what()});
  }
  return report;
}

}  // namespace stimrank
