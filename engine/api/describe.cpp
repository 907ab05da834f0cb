// RuleSet::describe: a read-only description of a compiled rule set.
#include "compiled.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank {

using namespace rules::model;

RuleSetInfo RuleSet::describe() const {
  const Model& model = impl_->model;
  RuleSetInfo info;
  info.name = model.name;
  info.version = model.version;
  info.digest = model.digest;
  static const char* const key_names[] = {"status", "score",    "invasiveness", "family",
                                          "id",     "declared", "specificity"};
  for (const auto& [key, descending] : model.policy.rank) {
    if (!info.policy.rank.empty()) info.policy.rank += ", ";
    info.policy.rank += key_names[static_cast<std::size_t>(key)];
    bool default_descending = key == RankKey::score || key == RankKey::specificity;
    if (descending != default_descending) info.policy.rank += descending ? " desc" : " asc";
  }
  info.policy.because = model.policy.because;
  if (model.policy.source >= 0) {
    const Source& s = model.sources[static_cast<std::size_t>(model.policy.source)];
    info.policy.source = s.id;
    info.policy.doi = s.doi;
    info.policy.url = s.url;
    info.policy.tags = s.tags;
  }
  for (const Source& s : model.sources)
    info.sources.push_back({s.id, s.citation, s.doi, s.url, s.tags});
  for (const Option& o : model.options) {
    OptionInfo option{o.id,       o.title, o.family,  to_string(o.invasiveness),
                      o.protocol, o.notes, o.details, {}};
    for (const Complication& c : o.complications) {
      ComplicationInfo complication{c.text, c.rate, "", "", c.tags};
      if (c.source >= 0) {
        complication.source = model.sources[static_cast<std::size_t>(c.source)].id;
        complication.doi = model.sources[static_cast<std::size_t>(c.source)].doi;
      }
      option.complications.push_back(std::move(complication));
    }
    info.options.push_back(std::move(option));
  }
  for (const Rule& r : model.rules) {
    RuleInfo rule;
    rule.id = r.id;
    rule.kind = to_string(r.kind);
    for (int o : r.options) rule.options.push_back(model.options[static_cast<std::size_t>(o)].id);
    rule.condition = r.condition.text;
    rule.label = r.label;
    rule.because = r.because;
    if (r.grade) {
      rule.scheme = model.schemes[static_cast<std::size_t>(r.grade->scheme)].id;
      rule.grade = grade_text(model.schemes, *r.grade);
    }
    rule.weight = r.kind == RuleKind::relative_contraindication ? r.penalty
                  : r.weight                                    ? *r.weight
                  : r.grade                                     ? r.grade->weight
                                                                : 0;
    if (r.source >= 0) {
      const Source& s = model.sources[static_cast<std::size_t>(r.source)];
      rule.source = s.id;
      rule.doi = s.doi;
      rule.url = s.url;
    }
    rule.tags = r.tags;
    rule.unverified = r.unverified;
    rule.location = r.location.file + ":" + std::to_string(r.location.line) + ":" +
                    std::to_string(r.location.column);
    info.rules.push_back(std::move(rule));
  }
  for (const Concept& c : model.concepts) {
    ConceptInfo concept_info{c.id, c.title, c.valueset, {}, {}};
    for (const Code& code : c.codes) concept_info.codes.push_back(code.system + ":" + code.code);
    for (int included : c.includes)
      concept_info.includes.push_back(model.concepts[static_cast<std::size_t>(included)].id);
    info.concepts.push_back(std::move(concept_info));
  }
  return info;
}

}  // namespace stimrank
