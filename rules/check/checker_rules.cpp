// Rules: kinds, options, conditions, grades and sources.
#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <set>

#include "ascii.hpp"
#include "checker.hpp"
#include "codes.hpp"

namespace stimrank::rules::checking {

void Checker::check_rule(const Item& item, int option) {
  const Node& n = *item.node;
  Rule rule;
  rule.id = n.kids[0].text;
  rule.location = location(item, n.kids[0]);
  static const std::map<std::string, RuleKind> kinds = {
      {"indication", RuleKind::indication},
      {"absolute_contraindication", RuleKind::absolute_contraindication},
      {"relative_contraindication", RuleKind::relative_contraindication},
      {"caution", RuleKind::caution},
      {"prerequisite", RuleKind::prerequisite},
      {"research_only", RuleKind::research_only},
      {"not_indicated", RuleKind::not_indicated}};
  rule.kind = kinds.at(n.text);
  bool declared =
      declare(rule_index_, item, n.kids[0], static_cast<int>(model_.rules.size()), "rule");
  std::size_t next = 1;
  if (n.kids.size() > 1 && n.kids[1].kind == Kind::NameSet) {
    const Node& set = n.kids[1];
    next = 2;
    if (option >= 0) {
      error(item, set, "E109",
            "a rule inside an option applies to that option; `for {…}` belongs to top-level rules");
    } else {
      for (const Node& name : set.kids) {
        auto it = option_index_.find(name.text);
        if (it == option_index_.end()) {
          error(item, name, "E100", "undefined option `" + name.text + "`",
                suggest(name.text, [&] { return keys(option_index_); }));
          continue;
        }
        if (std::find(rule.options.begin(), rule.options.end(), it->second) == rule.options.end())
          rule.options.push_back(it->second);
      }
    }
  } else if (option < 0) {
    error(item, n.kids[0], "E109", "top-level rule `" + rule.id + "` names no options",
          "write `" + std::string(n.text) + " " + rule.id +
              " for {option_a, option_b} when …`, or move it into an option");
  }
  if (option >= 0) rule.options.push_back(option);
  rule.condition = check_condition(item, n.kids[next], -1, 0);
  std::set<std::string> seen;
  for (std::size_t i = next + 1; i < n.kids.size(); ++i) {
    const Node& attr = n.kids[i];
    if (!seen.insert(attr.text).second) {
      error(item, attr, "E107", "`" + attr.text + "` is given twice for rule `" + rule.id + "`");
      continue;
    }
    const std::string& a = attr.text;
    if (a == "source")
      rule.source = resolve_source(item, attr.kids[0]);
    else if (a == "because")
      rule.because = attr.kids[0].text;
    else if (a == "label")
      rule.label = attr.kids[0].text;
    else if (a == "tag")
      rule.tags = read_tags(item, attr);
    else if (a == "unverified")
      rule.unverified = true;
    else if (a == "specific") {
      if (rule.kind != RuleKind::indication)
        error(item, attr, "E115", "only indications are `specific` (to the patient's condition)");
      else
        rule.specific = true;
    } else if (a == "grade") {
      if (rule.kind != RuleKind::indication)
        error(item, attr, "E115", "only indications carry a grade");
      else
        rule.grade = check_grade(item, attr.kids[0]);
    } else if (a == "weight") {
      if (rule.kind != RuleKind::indication)
        error(item, attr, "E115", "only indications carry a weight",
              "relative contraindications take a `penalty`");
      else
        rule.weight = attr.kids[0].number;
    } else if (a == "penalty") {
      if (rule.kind != RuleKind::relative_contraindication)
        error(item, attr, "E115", "only relative contraindications carry a penalty");
      else
        rule.penalty = attr.kids[0].number;
    }
  }
  for (const std::string& tag : rule.tags)
    if (kUnverifiedTags.count(tag)) rule.unverified = true;
  if (rule.source < 0 && !seen.count("source"))
    error(item, n.kids[0], "E103", "rule `" + rule.id + "` has no source",
          "every rule names the source it encodes: add `source <id>`");
  if (!seen.count("because"))
    error(item, n.kids[0], "E106", "rule `" + rule.id + "` has no `because` text",
          "say in a few words why the rule exists; clinicians read it in the result");
  if (rule.kind == RuleKind::indication && !seen.count("grade") && !seen.count("weight"))
    error(item, n.kids[0], "E106", "indication `" + rule.id + "` has neither a grade nor a weight",
          "add `grade <scheme>(…)` with the source's own grade, or an explicit `weight N`");
  if (declared) model_.rules.push_back(std::move(rule));
}
std::optional<Grade> Checker::check_grade(const Item& item, const Node& node) {
  auto it = scheme_index_.find(node.text);
  if (it == scheme_index_.end()) {
    error(item, node, "E100", "undefined grading scheme `" + node.text + "`",
          suggest(node.text, [&] { return keys(scheme_index_); }));
    return std::nullopt;
  }
  const Scheme& scheme = model_.schemes[it->second];
  Grade grade;
  grade.scheme = it->second;
  bool ok = true;
  std::set<int> dims;
  for (const Node& value : node.kids) {
    int dim = -1;
    for (std::size_t d = 0; d < scheme.dimensions.size(); ++d)
      if (scheme.dimensions[d].name == value.text) dim = static_cast<int>(d);
    if (dim < 0) {
      std::vector<std::string> names;
      for (const auto& d : scheme.dimensions) names.push_back(d.name);
      error(item, value, "E100", "scheme `" + scheme.id + "` has no dimension `" + value.text + "`",
            suggest(value.text, names));
      ok = false;
      continue;
    }
    if (!dims.insert(dim).second) {
      error(item, value, "E107", "dimension `" + value.text + "` is given twice");
      ok = false;
      continue;
    }
    const auto& labels = scheme.dimensions[dim].labels;
    const std::string& label = value.kids[0].text;
    auto found = std::find(labels.begin(), labels.end(), label);
    if (found == labels.end()) {
      error(item, value.kids[0], "E104",
            "`" + label + "` is not a value of `" + scheme.id + "." + value.text + "`",
            suggest(label, labels));
      ok = false;
      continue;
    }
    int l = static_cast<int>(found - labels.begin());
    grade.values.emplace_back(dim, l);
    grade.weight += scheme.dimensions[dim].weights[l];
  }
  if (!ok) return std::nullopt;
  std::sort(grade.values.begin(), grade.values.end());
  return grade;
}
void Checker::warn_unused_sources() {
  for (const Item& item : items_) {
    if (item.node->kind != Kind::Source) continue;
    auto it = source_index_.find(item.node->kids[0].text);
    if (it != source_index_.end() && !used_sources_.count(it->second))
      warning(item, item.node->kids[0], "W201",
              "source `" + item.node->kids[0].text + "` is never cited");
  }
}

}  // namespace stimrank::rules::checking
