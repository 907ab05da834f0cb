// Facts → statuses, scores, ranks and explanations, following the rule set's policy.
#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "assess.hpp"
#include "profile.hpp"

namespace stimrank::engine {

using namespace rules::model;

namespace {

// The absent fields that make a node unknown (only called for unknown rules).
void collect_missing(const Model& model, const Plan& plan, std::uint32_t index, const Facts& facts,
                     const Entry* entry, const std::string& entry_path,
                     std::set<std::string>& out) {
  const PlanNode& node = plan.nodes[index];
  const Field* field =
      node.field >= 0 ? &model.schema.fields[static_cast<std::size_t>(node.field)] : nullptr;
  switch (node.op) {
    case Op::Const:
    case Op::Known: return;
    case Op::And:
    case Op::Or:
    case Op::Not:
      for (std::uint32_t k = 0; k < node.count; ++k) {
        std::uint32_t kid = plan.kids[node.first + k];
        if (evaluate_node(plan, kid, facts, entry) == Truth::Unknown)
          collect_missing(model, plan, kid, facts, entry, entry_path, out);
      }
      return;
    case Op::Any:
    case Op::Count:
    case Op::CodeHas: {
      if (node.op == Op::CodeHas && !node.list_field) {
        out.insert(entry_path + "/code");
        return;
      }
      const ListFact& list = facts.lists[static_cast<std::size_t>(node.slot)];
      if (!list.known) {
        out.insert(field->path);
        return;
      }
      for (std::size_t i = 0; i < list.entries.size(); ++i) {
        const Entry& e = list.entries[i];
        std::string path = field->path + "/" + std::to_string(i);
        if (node.op == Op::CodeHas) {
          if (!e.coding_known) out.insert(path + "/code");
        } else if (node.count > 0) {
          std::uint32_t kid = plan.kids[node.first];
          if (evaluate_node(plan, kid, facts, &e) == Truth::Unknown)
            collect_missing(model, plan, kid, facts, &e, path, out);
        }
      }
      return;
    }
    default:
      if (node.in_entry)
        out.insert(entry_path + field->path);
      else
        out.insert(field->path);
      return;
  }
}

int status_order(Status status) {
  switch (status) {
    case Status::recommended: return 0;
    case Status::consider: return 1;
    case Status::research_only: return 2;
    case Status::not_indicated: return 3;
    case Status::excluded: return 4;
  }
  return 5;
}

Reason make_reason(const Model& model, const Rule& rule, const char* kind) {
  Reason reason;
  reason.rule = rule.id;
  reason.kind = kind;
  reason.text = rule.because;
  if (rule.source >= 0) {
    const Source& source = model.sources[static_cast<std::size_t>(rule.source)];
    reason.source = source.id;
    reason.doi = source.doi;
  }
  reason.tags = rule.tags;
  reason.unverified = rule.unverified;
  return reason;
}

struct Work {
  OptionResult out;
  int option = 0;
};

}  // namespace

Result evaluate_facts(const Model& model, const Plan& plan, const Facts& facts) {
  Assessment assessment;
  assess(model, plan, facts, assessment);
  return evaluate_facts(model, plan, facts, assessment.truth);
}

Result evaluate_facts(const Model& model, const Plan& plan, const Facts& facts,
                      const std::vector<Truth>& truth) {
  Result result;
  result.profile = facts.id;
  result.ruleset_name = model.name;
  result.ruleset_version = model.version;
  result.ruleset_digest = model.digest;
  result.warnings = facts.warnings;

  const Policy& policy = model.policy;
  std::vector<Work> work(model.options.size());
  for (std::size_t o = 0; o < model.options.size(); ++o) {
    const Option& option = model.options[o];
    Work& w = work[o];
    w.option = static_cast<int>(o);
    OptionResult& out = w.out;
    out.option = option.id;
    out.title = option.title;
    out.family = option.family;
    out.invasiveness = to_string(option.invasiveness);

    const std::vector<int>& order = plan.options[o].explained;
    bool excluded = false, research = false, not_indicated_rule = false, held_back = false;
    std::vector<double> weights;
    double penalties = 0;
    bool all_unverified = true;
    double best_weight = -INFINITY;
    std::string first_indication, first_blocker, first_holdback;
    // Rules that came out unknown; which of them matter depends on the status.
    struct Unknown {
      RuleKind kind;
      std::set<std::string> paths;
      std::optional<Reason> reason;  // for rules that hold a ranked option back
    };
    std::vector<Unknown> unknowns;
    for (int r : order) {
      const PlanRule& planned = plan.rules[static_cast<std::size_t>(r)];
      const Rule& rule = model.rules[static_cast<std::size_t>(planned.model_rule)];
      Truth t = truth[static_cast<std::size_t>(r)];
      if (t == Truth::Unknown) {
        Unknown& unknown = unknowns.emplace_back(Unknown{rule.kind, {}, std::nullopt});
        std::set<std::string>& paths = unknown.paths;
        collect_missing(model, plan, static_cast<std::uint32_t>(planned.root), facts, nullptr, "",
                        paths);
        bool blocking =
            rule.kind == RuleKind::absolute_contraindication ||
            rule.kind == RuleKind::research_only || rule.kind == RuleKind::not_indicated ||
            rule.kind == RuleKind::prerequisite || rule.kind == RuleKind::relative_contraindication;
        if (blocking) {
          Reason reason = make_reason(model, rule, "missing_data");
          reason.text = std::string("unknown whether this ") +
                        (rule.kind == RuleKind::prerequisite ? "prerequisite is met" : "applies") +
                        " (" + to_string(rule.kind) + "): " + rule.because;
          reason.missing.assign(paths.begin(), paths.end());
          if (rule.kind == RuleKind::prerequisite) reason.met = std::nullopt;
          unknown.reason = std::move(reason);
          if (rule.kind != RuleKind::relative_contraindication) {
            held_back = true;
            if (first_holdback.empty()) first_holdback = "unknown: " + rule.because;
          }
        }
        continue;
      }
      bool fired = t == Truth::True;
      switch (rule.kind) {
        case RuleKind::absolute_contraindication:
          if (!fired) break;
          excluded = true;
          if (first_blocker.empty()) first_blocker = rule.because;
          out.reasons.push_back(make_reason(model, rule, "absolute_contraindication"));
          break;
        case RuleKind::research_only:
          if (!fired) break;
          research = true;
          if (first_blocker.empty()) first_blocker = rule.because;
          out.reasons.push_back(make_reason(model, rule, "research_only"));
          break;
        case RuleKind::not_indicated:
          if (!fired) break;
          not_indicated_rule = true;
          if (first_blocker.empty()) first_blocker = rule.because;
          out.reasons.push_back(make_reason(model, rule, "not_indicated"));
          break;
        case RuleKind::indication: {
          if (!fired) break;
          double weight =
              rule.unverified ? planned.weight * policy.unverified_weight : planned.weight;
          weights.push_back(weight);
          if (!rule.unverified) all_unverified = false;
          if (weight > best_weight) {
            best_weight = weight;
            first_indication = rule.because;
            if (rule.grade) first_indication += " — " + grade_text(model.schemes, *rule.grade);
            if (rule.unverified) first_indication += " (unverified)";
          }
          out.reasons.push_back(make_reason(model, rule, "indication"));
          if (rule.grade) {
            Evidence evidence;
            evidence.rule = rule.id;
            const Scheme& scheme = model.schemes[static_cast<std::size_t>(rule.grade->scheme)];
            evidence.scheme = scheme.id;
            evidence.scheme_title = scheme.title;
            for (const auto& [dim, label] : rule.grade->values) {
              const auto& d = scheme.dimensions[static_cast<std::size_t>(dim)];
              evidence.grade.push_back({d.name, d.labels[static_cast<std::size_t>(label)]});
            }
            evidence.weight = weight;
            evidence.condition = rule.label.empty() ? rule.condition.text : rule.label;
            const Reason& reason = out.reasons.back();
            evidence.source = reason.source;
            evidence.doi = reason.doi;
            evidence.tags = rule.tags;
            evidence.unverified = rule.unverified;
            out.evidence.push_back(std::move(evidence));
          }
          break;
        }
        case RuleKind::relative_contraindication:
          if (!fired) break;
          penalties += planned.penalty;
          held_back = true;
          if (first_holdback.empty()) first_holdback = rule.because;
          out.reasons.push_back(make_reason(model, rule, "relative_contraindication"));
          break;
        case RuleKind::prerequisite: {
          Reason reason = make_reason(model, rule, "prerequisite");
          reason.met = fired;
          if (!fired) {
            held_back = true;
            if (first_holdback.empty()) first_holdback = "prerequisite not met: " + rule.because;
          }
          out.reasons.push_back(std::move(reason));
          break;
        }
        case RuleKind::caution:
          if (fired) out.reasons.push_back(make_reason(model, rule, "caution"));
          break;
      }
    }
    // `missing`: the absent fields that could change this option's status or rank.
    // Excluded: none. Research-only or not indicated by a rule: those that could
    // exclude it. Not indicated for want of an indication: those that could indicate
    // it. Ranked: all, with a missing_data reason for each rule that holds it back.
    auto relevant = [&](RuleKind kind) {
      if (excluded) return false;
      if (research || not_indicated_rule) return kind == RuleKind::absolute_contraindication;
      if (weights.empty()) return kind == RuleKind::indication;
      return true;
    };
    std::set<std::string> missing;
    for (Unknown& unknown : unknowns) {
      if (!relevant(unknown.kind)) continue;
      missing.insert(unknown.paths.begin(), unknown.paths.end());
      if (unknown.reason && !weights.empty() && !research && !not_indicated_rule)
        out.reasons.push_back(std::move(*unknown.reason));
    }

    if (excluded) {
      out.status = Status::excluded;
      out.summary = "excluded: " + first_blocker;
      continue;  // nothing absent can undo an absolute contraindication
    }
    out.missing.assign(missing.begin(), missing.end());
    if (research) {
      out.status = Status::research_only;
      out.summary = "research only: " + first_blocker;
    } else if (not_indicated_rule) {
      out.status = Status::not_indicated;
      out.summary = "not indicated: " + first_blocker;
    } else if (weights.empty()) {
      out.status = Status::not_indicated;
      out.summary =
          missing.empty() ? "no indication applies" : "no indication applies with the data given";
    } else {
      double combined = 0;
      if (policy.combine_sum)
        for (double w : weights) combined += w;
      else
        combined = *std::max_element(weights.begin(), weights.end());
      out.score = combined - penalties;
      if (best_weight < policy.recommend_min_weight) {
        held_back = true;
        if (first_holdback.empty())
          first_holdback = "the evidence is below the weight required to recommend";
      }
      if (policy.unverified_consider && all_unverified) {
        held_back = true;
        if (first_holdback.empty()) first_holdback = "the evidence is unverified";
      }
      out.status = held_back ? Status::consider : Status::recommended;
      out.summary = first_indication;
      if (held_back) out.summary += "; consider because " + first_holdback;
    }
  }

  // Rank the candidates by the policy's keys; the id always breaks remaining ties.
  std::vector<Work*> ranked, rest;
  for (Work& w : work)
    (w.out.status == Status::recommended || w.out.status == Status::consider ? ranked : rest)
        .push_back(&w);
  auto compare_key = [&](const Work& a, const Work& b, RankKey key) -> int {
    auto three_way = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
    switch (key) {
      case RankKey::status:
        return three_way(status_order(a.out.status), status_order(b.out.status));
      case RankKey::score: return three_way(a.out.score, b.out.score);
      case RankKey::invasiveness:
        return three_way(
            static_cast<int>(model.options[static_cast<std::size_t>(a.option)].invasiveness),
            static_cast<int>(model.options[static_cast<std::size_t>(b.option)].invasiveness));
      case RankKey::family: return three_way(a.out.family, b.out.family);
      case RankKey::id: return three_way(a.out.option, b.out.option);
      case RankKey::declared: return three_way(a.option, b.option);
    }
    return 0;
  };
  std::stable_sort(ranked.begin(), ranked.end(), [&](const Work* a, const Work* b) {
    for (const auto& [key, descending] : policy.rank) {
      int c = compare_key(*a, *b, key);
      if (c != 0) return descending ? c > 0 : c < 0;
    }
    return a->out.option < b->out.option;
  });
  std::stable_sort(rest.begin(), rest.end(), [&](const Work* a, const Work* b) {
    int c = status_order(a->out.status) - status_order(b->out.status);
    return c != 0 ? c < 0 : a->option < b->option;
  });
  result.options.reserve(work.size());
  int rank = 0;
  for (Work* w : ranked) {
    w->out.rank = ++rank;
    result.options.push_back(std::move(w->out));
  }
  for (Work* w : rest) result.options.push_back(std::move(w->out));
  return result;
}

}  // namespace stimrank::engine
