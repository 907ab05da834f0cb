// Facts → truth of the reachable rules → option statuses, scores and ranking.
// This is the hot path of every evaluation: no strings, no allocation once the
// assessment's buffers have grown to the rule set's size.
#include "assess.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace stimrank::engine {

using namespace rules::model;

namespace {

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

void visit(const Plan& plan, const Facts& facts, std::uint32_t rule, bool dedupe, Assessment& out) {
  if (dedupe) {
    if (out.visited[rule] == out.epoch) return;
    out.visited[rule] = out.epoch;
  }
  Truth t = evaluate_node(plan, static_cast<std::uint32_t>(plan.rules[rule].root), facts, nullptr);
  if (t == Truth::False) return;
  out.truth[rule] = t;
  out.decided.push_back(rule);
}

// Status and score of one option, by the same policy as the explained result.
OptionOutcome outcome_of(const Policy& policy, const Plan& plan, std::size_t option,
                         const Assessment& in) {
  bool excluded = false, research = false, not_indicated_rule = false, held_back = false;
  bool indicated = false, all_unverified = true;
  double combined = 0, penalties = 0, best_weight = -INFINITY;
  for (int r : plan.options[option].rules) {
    const PlanRule& rule = plan.rules[static_cast<std::size_t>(r)];
    Truth t = in.truth[static_cast<std::size_t>(r)];
    if (t == Truth::Unknown) {
      if (rule.kind == RuleKind::absolute_contraindication ||
          rule.kind == RuleKind::research_only || rule.kind == RuleKind::not_indicated ||
          rule.kind == RuleKind::prerequisite)
        held_back = true;
      continue;
    }
    bool fired = t == Truth::True;
    switch (rule.kind) {
      case RuleKind::absolute_contraindication: excluded = excluded || fired; break;
      case RuleKind::research_only: research = research || fired; break;
      case RuleKind::not_indicated: not_indicated_rule = not_indicated_rule || fired; break;
      case RuleKind::indication:
        if (!fired) break;
        // Summed in declaration order, as the explained result sums them.
        if (policy.combine_sum)
          combined += rule.ranking_weight;
        else
          combined = indicated ? std::max(combined, rule.ranking_weight) : rule.ranking_weight;
        indicated = true;
        best_weight = std::max(best_weight, rule.ranking_weight);
        if (!rule.unverified) all_unverified = false;
        break;
      case RuleKind::relative_contraindication:
        if (!fired) break;
        penalties += rule.penalty;
        held_back = true;
        break;
      case RuleKind::prerequisite: held_back = held_back || !fired; break;
      case RuleKind::caution: break;
    }
  }
  OptionOutcome result;
  if (excluded) {
    result.status = Status::excluded;
  } else if (research) {
    result.status = Status::research_only;
  } else if (not_indicated_rule || !indicated) {
    result.status = Status::not_indicated;
  } else {
    result.score = combined - penalties;
    if (best_weight < policy.recommend_min_weight) held_back = true;
    if (policy.unverified_consider && all_unverified) held_back = true;
    result.status = held_back ? Status::consider : Status::recommended;
  }
  return result;
}

}  // namespace

void assess(const Model& model, const Plan& plan, const Facts& facts, Assessment& out) {
  const std::size_t rule_count = plan.rules.size();
  if (out.truth.size() != rule_count) {
    out.truth.assign(rule_count, Truth::False);
    out.visited.assign(rule_count, 0);
    out.touched.assign(model.options.size(), 0);
    out.options.assign(model.options.size(), OptionOutcome{});
    out.fired_bits.assign((rule_count + 63) / 64, 0);
    out.decided.clear();
    out.epoch = 0;
  }
  // Undo the previous profile's traces instead of clearing every rule.
  for (std::uint32_t rule : out.decided) out.truth[rule] = Truth::False;
  for (std::uint32_t option : out.touched_list) out.options[option] = OptionOutcome{};
  out.decided.clear();
  out.touched_list.clear();
  out.ranked.clear();
  if (++out.epoch == 0) {  // wrapped: old marks could look current
    std::fill(out.visited.begin(), out.visited.end(), 0);
    std::fill(out.touched.begin(), out.touched.end(), 0);
    out.epoch = 1;
  }

  for (std::uint32_t rule : plan.index.always) visit(plan, facts, rule, false, out);
  for (const AnchorSlot& anchor : plan.index.anchors) {
    const Scalar& value = facts.scalars[static_cast<std::size_t>(anchor.slot)];
    if (!value.known) {
      for (std::uint32_t rule : anchor.all) visit(plan, facts, rule, false, out);
      continue;
    }
    switch (anchor.type) {
      case FieldType::Bool:
        for (std::uint32_t rule : anchor.by_value[value.number != 0 ? 1 : 0])
          visit(plan, facts, rule, false, out);
        break;
      case FieldType::Enum:
        if (value.symbol >= 0 && static_cast<std::size_t>(value.symbol) < anchor.by_value.size())
          for (std::uint32_t rule : anchor.by_value[static_cast<std::size_t>(value.symbol)])
            visit(plan, facts, rule, anchor.multi, out);
        break;
      default:  // EnumSet: the lists of every label the profile has
        for (std::uint64_t bits = value.bits; bits; bits &= bits - 1) {
          auto label = static_cast<std::size_t>(__builtin_ctzll(bits));
          if (label < anchor.by_value.size())
            for (std::uint32_t rule : anchor.by_value[label])
              visit(plan, facts, rule, anchor.multi, out);
        }
        break;
    }
  }

  // Only options with a rule that holds or is unknown can be anything but
  // "not indicated" with a score of zero.
  for (std::uint32_t rule : out.decided)
    for (int option : model.rules[static_cast<std::size_t>(plan.rules[rule].model_rule)].options) {
      auto o = static_cast<std::uint32_t>(option);
      if (out.touched[o] == out.epoch) continue;
      out.touched[o] = out.epoch;
      out.touched_list.push_back(o);
    }
  for (std::uint32_t option : out.touched_list) {
    out.options[option] = outcome_of(model.policy, plan, option, out);
    if (out.options[option].status == Status::recommended ||
        out.options[option].status == Status::consider)
      out.ranked.push_back(option);
  }

  const Policy& policy = model.policy;
  auto compare_key = [&](std::uint32_t a, std::uint32_t b, RankKey key) -> int {
    auto three_way = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
    switch (key) {
      case RankKey::status:
        return three_way(status_order(out.options[a].status), status_order(out.options[b].status));
      case RankKey::score: return three_way(out.options[a].score, out.options[b].score);
      case RankKey::invasiveness:
        return three_way(static_cast<int>(model.options[a].invasiveness),
                         static_cast<int>(model.options[b].invasiveness));
      case RankKey::family:
        return three_way(plan.options[a].family_order, plan.options[b].family_order);
      case RankKey::id: return three_way(plan.options[a].id_order, plan.options[b].id_order);
      case RankKey::declared: return three_way(a, b);
    }
    return 0;
  };
  std::sort(out.ranked.begin(), out.ranked.end(), [&](std::uint32_t a, std::uint32_t b) {
    for (const auto& [key, descending] : policy.rank) {
      int c = compare_key(a, b, key);
      if (c != 0) return descending ? c > 0 : c < 0;
    }
    return plan.options[a].id_order < plan.options[b].id_order;
  });
}

void append_number(double value, std::string& out) {
  char buffer[32];
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, static_cast<long long>(value));
    out.append(buffer, end);
    return;
  }
  out += nlohmann::json(value).dump();
}

void append_tsv(const Model& model, const Plan& plan, const Facts& facts, Assessment& assessment,
                std::string& out) {
  out += facts.id;
  out += '\t';
  // Fired rules in byte order of their ids: a bitset over the id order.
  std::uint64_t* bits = assessment.fired_bits.data();
  for (std::uint32_t rule : assessment.decided)
    if (assessment.truth[rule] == Truth::True && plan.rules[rule].has_option) {
      std::uint32_t position = plan.rules[rule].id_order;
      bits[position >> 6] |= std::uint64_t{1} << (position & 63);
    }
  bool first = true;
  for (std::size_t word = 0; word < assessment.fired_bits.size(); ++word) {
    for (std::uint64_t w = bits[word]; w; w &= w - 1) {
      std::size_t position = word * 64 + static_cast<std::size_t>(__builtin_ctzll(w));
      if (!first) out += ',';
      first = false;
      out +=
          model.rules[static_cast<std::size_t>(plan.rules[plan.rules_by_id[position]].model_rule)]
              .id;
    }
    bits[word] = 0;
  }
  out += '\t';
  first = true;
  for (std::uint32_t option : assessment.ranked) {
    if (!first) out += ',';
    first = false;
    out += model.options[option].id;
    out += ':';
    append_number(assessment.options[option].score, out);
  }
}

}  // namespace stimrank::engine
