// Facts → truth of the reachable rules → option statuses, scores and ranking.
// This is the hot path of every evaluation: no strings, no allocation once the
// assessment's buffers have grown to the rule set's size.
#include "assess.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
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

// `anchored`: reached through its anchor's list for the profile's value, so the
// anchor holds and a flat rule need only run its other tests.
void visit(const Plan& plan, const Facts& facts, std::uint32_t rule, bool dedupe, bool anchored,
           Assessment& out) {
  if (dedupe) {
    if (out.visited[rule] == out.epoch) return;
    out.visited[rule] = out.epoch;
  }
  const PlanRule& planned = plan.rules[rule];
  Truth t = anchored && planned.flat_first >= 0
                ? evaluate_flat(plan, planned, facts)
                : evaluate_node(plan, static_cast<std::uint32_t>(planned.root), facts, nullptr);
  if (t == Truth::False) return;
  out.truth[rule] = t;
  out.decided.push_back(rule);
}

bool blocks_when_unknown(RuleKind kind) {
  return kind == RuleKind::absolute_contraindication || kind == RuleKind::research_only ||
         kind == RuleKind::not_indicated || kind == RuleKind::prerequisite;
}

// Adds one rule that held or is unknown to its option's tally.
void tally(OptionTally& tally, const PlanRule& rule, Truth truth, bool combine_sum) {
  if (truth == Truth::Unknown) {
    tally.held_back = tally.held_back || blocks_when_unknown(rule.kind);
    return;
  }
  switch (rule.kind) {
    case RuleKind::absolute_contraindication: tally.excluded = true; break;
    case RuleKind::research_only: tally.research = true; break;
    case RuleKind::not_indicated: tally.not_indicated = true; break;
    case RuleKind::indication:
      if (combine_sum)
        tally.combined += rule.ranking_weight;
      else
        tally.combined =
            tally.indicated ? std::max(tally.combined, rule.ranking_weight) : rule.ranking_weight;
      tally.indicated = true;
      tally.best_weight = std::max(tally.best_weight, rule.ranking_weight);
      tally.all_unverified = tally.all_unverified && rule.unverified;
      break;
    case RuleKind::relative_contraindication:
      tally.penalties += rule.penalty;
      tally.held_back = true;
      break;
    case RuleKind::prerequisite:
    case RuleKind::caution: break;
  }
}

// Status and score from a tally, by the same policy as the explained result.
OptionOutcome outcome_of(const Policy& policy, OptionTally tally) {
  OptionOutcome result;
  if (tally.excluded) {
    result.status = Status::excluded;
  } else if (tally.research) {
    result.status = Status::research_only;
  } else if (tally.not_indicated || !tally.indicated) {
    result.status = Status::not_indicated;
  } else {
    result.score = tally.combined - tally.penalties;
    if (tally.best_weight < policy.recommend_min_weight) tally.held_back = true;
    if (policy.unverified_consider && tally.all_unverified) tally.held_back = true;
    result.status = tally.held_back ? Status::consider : Status::recommended;
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
    out.tallies.assign(model.options.size(), OptionTally{});
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

  for (std::uint32_t rule : plan.index.always) visit(plan, facts, rule, false, false, out);
  for (const AnchorSlot& anchor : plan.index.anchors) {
    const Scalar& value = facts.scalars[static_cast<std::size_t>(anchor.slot)];
    if (!value.known) {
      for (std::uint32_t rule : anchor.all) visit(plan, facts, rule, false, false, out);
      continue;
    }
    switch (anchor.type) {
      case FieldType::Bool:
        for (std::uint32_t rule : anchor.by_value[value.number != 0 ? 1 : 0])
          visit(plan, facts, rule, false, true, out);
        break;
      case FieldType::Enum:
        if (value.symbol >= 0 && static_cast<std::size_t>(value.symbol) < anchor.by_value.size())
          for (std::uint32_t rule : anchor.by_value[static_cast<std::size_t>(value.symbol)])
            visit(plan, facts, rule, anchor.multi, true, out);
        break;
      default:  // EnumSet: the lists of every label the profile has
        for (std::uint64_t bits = value.bits; bits; bits &= bits - 1) {
          auto label = static_cast<std::size_t>(__builtin_ctzll(bits));
          if (label < anchor.by_value.size())
            for (std::uint32_t rule : anchor.by_value[label])
              visit(plan, facts, rule, anchor.multi, true, out);
        }
        break;
    }
  }

  // Only options with a rule that holds or is unknown can be anything but "not
  // indicated" with a score of zero; tally those from the rules that decided.
  // Weights are summed in declaration order, as the explained result sums them,
  // unless every sum is exact whatever the order (plan.exact_weights).
  const Policy& policy = model.policy;
  if (!plan.exact_weights)
    std::sort(out.decided.begin(), out.decided.end());  // plan order is declaration order
  for (std::uint32_t rule : out.decided) {
    const PlanRule& planned = plan.rules[rule];
    for (std::uint32_t k = 0; k < planned.option_count; ++k) {
      std::uint32_t o = plan.rule_options[planned.options_first + k];
      if (out.touched[o] != out.epoch) {
        out.touched[o] = out.epoch;
        out.touched_list.push_back(o);
        out.tallies[o] = OptionTally{};
      }
      tally(out.tallies[o], planned, out.truth[rule], policy.combine_sum);
    }
  }
  for (std::uint32_t option : out.touched_list) {
    OptionTally& option_tally = out.tallies[option];
    // An unmet prerequisite (false, so never visited) holds the option back.
    for (std::uint32_t rule : plan.options[option].prerequisites)
      if (out.truth[rule] == Truth::False) option_tally.held_back = true;
    out.options[option] = outcome_of(policy, option_tally);
    if (out.options[option].status == Status::recommended ||
        out.options[option].status == Status::consider)
      out.ranked.push_back(option);
  }

  // Rank by the policy's keys, computed once per candidate (negated when
  // descending); the id always breaks remaining ties.
  const std::size_t key_count = policy.rank.size() + 1;
  out.keys.resize(out.ranked.size() * key_count);
  for (std::size_t c = 0; c < out.ranked.size(); ++c) {
    std::uint32_t o = out.ranked[c];
    double* key = out.keys.data() + c * key_count;
    for (std::size_t k = 0; k < policy.rank.size(); ++k) {
      double value = 0;
      switch (policy.rank[k].first) {
        case RankKey::status: value = status_order(out.options[o].status); break;
        case RankKey::score: value = out.options[o].score; break;
        case RankKey::invasiveness: value = static_cast<int>(model.options[o].invasiveness); break;
        case RankKey::family: value = plan.options[o].family_order; break;
        case RankKey::id: value = plan.options[o].id_order; break;
        case RankKey::declared: value = o; break;
      }
      key[k] = policy.rank[k].second ? -value : value;
    }
    key[policy.rank.size()] = plan.options[o].id_order;
  }
  out.order.resize(out.ranked.size());
  for (std::size_t c = 0; c < out.order.size(); ++c) out.order[c] = static_cast<std::uint32_t>(c);
  std::sort(out.order.begin(), out.order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const double* x = out.keys.data() + a * key_count;
    const double* y = out.keys.data() + b * key_count;
    for (std::size_t k = 0; k < key_count; ++k)
      if (x[k] != y[k]) return x[k] < y[k];
    return false;
  });
  out.sorted.resize(out.order.size());
  for (std::size_t c = 0; c < out.order.size(); ++c) out.sorted[c] = out.ranked[out.order[c]];
  out.ranked.swap(out.sorted);
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
  // Fired rules in byte order of their ids: a bitset over the id order.
  std::uint64_t* bits = assessment.fired_bits.data();
  std::size_t fired = 0;
  for (std::uint32_t rule : assessment.decided)
    if (assessment.truth[rule] == Truth::True && plan.rules[rule].has_option) {
      std::uint32_t position = plan.rules[rule].id_order;
      bits[position >> 6] |= std::uint64_t{1} << (position & 63);
      ++fired;
    }
  // Room for the longest possible line, written through a pointer, then trimmed.
  std::size_t at = out.size();
  out.resize(at + facts.id.size() + 2 + fired * (plan.longest_rule_id + 1) +
             assessment.ranked.size() * (plan.longest_option_id + 34));
  char* p = out.data() + at;
  auto put = [&p](std::string_view text) {
    std::memcpy(p, text.data(), text.size());
    p += text.size();
  };
  put(facts.id);
  *p++ = '\t';
  bool first = true;
  for (std::size_t word = 0; word < assessment.fired_bits.size(); ++word) {
    for (std::uint64_t w = bits[word]; w; w &= w - 1) {
      if (!first) *p++ = ',';
      first = false;
      put(plan.rule_ids_sorted[word * 64 + static_cast<std::size_t>(__builtin_ctzll(w))]);
    }
    bits[word] = 0;
  }
  *p++ = '\t';
  first = true;
  for (std::uint32_t option : assessment.ranked) {
    if (!first) *p++ = ',';
    first = false;
    put(model.options[option].id);
    *p++ = ':';
    double score = assessment.options[option].score;
    if (std::isfinite(score) && score == std::floor(score) && std::fabs(score) < 1e15) {
      p = std::to_chars(p, p + 24, static_cast<long long>(score)).ptr;
    } else {
      std::string text;
      append_number(score, text);
      put(text.substr(0, 32));
    }
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
}

}  // namespace stimrank::engine
