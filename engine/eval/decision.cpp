// Truth of the rules → each option's status, score and rank, by the rule set's
// policy. The one place the policy is applied (see decision.hpp).
#include "decision.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace stimrank::engine {

using namespace rules::model;

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

namespace {

bool blocks_when_unknown(RuleKind kind) {
  return kind == RuleKind::absolute_contraindication || kind == RuleKind::research_only ||
         kind == RuleKind::not_indicated || kind == RuleKind::prerequisite;
}

// Adds one rule that held or is unknown to its option's tally.
void tally(OptionTally& tally, const RuleTally& rule, Truth truth, bool combine_sum) {
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
        tally.combined += rule.amount;
      else
        tally.combined = tally.indicated ? std::max(tally.combined, rule.amount) : rule.amount;
      tally.best_weight = tally.indicated ? std::max(tally.best_weight, rule.amount) : rule.amount;
      tally.indicated = true;
      tally.all_unverified = tally.all_unverified && rule.unverified;
      // Only verified evidence makes an option specific: a recalled or extrapolated
      // scope does not move it ahead.
      tally.specific = tally.specific || (rule.specific && !rule.unverified);
      break;
    case RuleKind::relative_contraindication:
      tally.penalties += rule.amount;
      tally.held_back = true;
      break;
    case RuleKind::prerequisite:
    case RuleKind::caution: break;
  }
}

// Status and score from a tally: the rule set's policy.
OptionOutcome outcome_of(const Policy& policy, OptionTally tally) {
  OptionOutcome result;
  if (tally.excluded) {
    result.status = Status::excluded;
  } else if (tally.research) {
    result.status = Status::research_only;
  } else if (tally.not_indicated || !tally.indicated) {
    result.status = Status::not_indicated;
    result.by_not_indicated_rule = tally.not_indicated;
  } else {
    result.score = tally.combined - tally.penalties;
    result.specific = tally.specific;
    result.below_recommend_weight = tally.best_weight < policy.recommend_min_weight;
    result.only_unverified_evidence = policy.unverified_consider && tally.all_unverified;
    bool held_back =
        tally.held_back || result.below_recommend_weight || result.only_unverified_evidence;
    result.status = held_back ? Status::consider : Status::recommended;
  }
  return result;
}

// The ranking key of one candidate for one policy key, as an unsigned number
// whose order is the key's order (scores: IEEE-754 bits with the sign folded).
std::uint64_t key_bits(const Model& model, const Plan& plan, const Assessment& in,
                       std::uint32_t option, RankKey key) {
  switch (key) {
    case RankKey::status:
      return static_cast<std::uint64_t>(status_order(in.options[option].status));
    case RankKey::score: {
      double score = in.options[option].score;
      if (score == 0) score = 0;  // -0 ranks as 0
      auto bits = std::bit_cast<std::uint64_t>(score);
      return bits >> 63 ? ~bits : bits | (std::uint64_t{1} << 63);
    }
    case RankKey::invasiveness:
      return static_cast<std::uint64_t>(model.options[option].invasiveness);
    case RankKey::family: return plan.options[option].family_order;
    case RankKey::id: return plan.option_id_order[option];
    case RankKey::declared: return option;
    case RankKey::specificity: return in.options[option].specific ? 1 : 0;
  }
  return 0;
}

int key_width(RankKey key) {
  switch (key) {
    case RankKey::status: return 3;
    case RankKey::invasiveness: return 2;
    case RankKey::specificity: return 1;
    case RankKey::score: return 64;
    default: return 20;  // positions among the options (fewer than 2^20)
  }
}

// Sorts packed keys, stably. Long rankings are sorted by radix, a byte at a time
// over the bytes in which keys differ (a few: scores take few distinct values);
// comparison sorts mispredict a branch on about every other compare.
void stable_sort_packed(std::vector<std::pair<Packed, std::uint32_t>>& keys,
                        std::vector<std::pair<Packed, std::uint32_t>>& scratch) {
  const std::size_t n = keys.size();
  if (n < 32) {
    for (std::size_t i = 1; i < n; ++i)
      for (std::size_t j = i; j > 0 && keys[j].first < keys[j - 1].first; --j)
        std::swap(keys[j], keys[j - 1]);
    return;
  }
  Packed differ = 0;
  for (const auto& key : keys) differ |= key.first ^ keys.front().first;
  scratch.resize(n);
  auto* from = keys.data();
  auto* to = scratch.data();
  for (int byte = 0; byte < 16; ++byte) {
    const int shift = (byte % 8) * 8;
    const bool high = byte >= 8;
    auto digit = [shift, high](Packed key) {
      auto half = static_cast<std::uint64_t>(high ? key >> 64 : key);
      return static_cast<std::size_t>((half >> shift) & 0xff);
    };
    if (digit(differ) == 0) continue;
    std::uint32_t count[257] = {};
    for (std::size_t i = 0; i < n; ++i) ++count[digit(from[i].first) + 1];
    for (int b = 0; b < 256; ++b) count[b + 1] += count[b];
    for (std::size_t i = 0; i < n; ++i) to[count[digit(from[i].first)]++] = from[i];
    std::swap(from, to);
  }
  if (from != keys.data()) std::copy(from, from + n, keys.data());
}

// Sorts the candidates by the policy's keys; the option id breaks remaining ties.
// The keys are packed, most significant first, into one 128-bit number per
// candidate (descending keys inverted). The candidates are first put in id
// order, so a stable sort on the policy's keys leaves ties in id order.
void rank(const Model& model, const Plan& plan, Assessment& out) {
  const Policy& policy = model.policy;
  // Keys after the id decide nothing (ids are unique), and the id ascending is the
  // candidates' order: only the keys before it are sorted on (an `id desc` is one of
  // them).
  std::size_t key_count = 0;
  int bits = 0;
  for (; key_count < policy.rank.size(); ++key_count) {
    const auto& [key, descending] = policy.rank[key_count];
    if (key == RankKey::id && !descending) break;
    bits += key_width(key);
    if (key == RankKey::id) {
      ++key_count;
      break;
    }
  }
  if (bits <= 128 && model.options.size() < (std::size_t{1} << 20)) {
    std::uint64_t* id_bits = out.id_bits.data();
    for (std::uint32_t option : out.ranked) {
      std::uint32_t at = plan.option_id_order[option];
      id_bits[at >> 6] |= std::uint64_t{1} << (at & 63);
    }
    // Exact scores (multiples of 1/1024) are ranked as integers counted from the
    // lowest candidate's score, so that the keys differ in few bytes; IEEE bits
    // of a negative score differ from a positive one's in every byte.
    double lowest = 0;
    bool scores_exact = plan.exact_weights;
    if (scores_exact) {
      lowest = std::numeric_limits<double>::infinity();
      for (std::uint32_t option : out.ranked) lowest = std::min(lowest, out.options[option].score);
    }
    out.packed.clear();
    for (std::size_t word = 0; word < out.id_bits.size(); ++word) {
      for (std::uint64_t w = id_bits[word]; w; w &= w - 1) {
        std::uint32_t option =
            plan.option_by_id[word * 64 + static_cast<std::size_t>(__builtin_ctzll(w))];
        Packed packed = 0;
        for (std::size_t k = 0; k < key_count; ++k) {
          const auto& [key, descending] = policy.rank[k];
          int width = key_width(key);
          std::uint64_t value =
              key == RankKey::score && scores_exact
                  ? static_cast<std::uint64_t>((out.options[option].score - lowest) * 1024)
                  : key_bits(model, plan, out, option, key);
          std::uint64_t mask = width == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << width) - 1;
          if (descending) value = mask - value;
          packed = (packed << width) | value;
        }
        out.packed.push_back({packed, option});
      }
      id_bits[word] = 0;
    }
    stable_sort_packed(out.packed, out.sorting);
    for (std::size_t c = 0; c < out.packed.size(); ++c) out.ranked[c] = out.packed[c].second;
    return;
  }
  // Too many keys to pack: compare key by key.
  std::sort(out.ranked.begin(), out.ranked.end(), [&](std::uint32_t a, std::uint32_t b) {
    for (const auto& [key, descending] : policy.rank) {
      std::uint64_t x = key_bits(model, plan, out, a, key), y = key_bits(model, plan, out, b, key);
      if (x != y) return descending ? x > y : x < y;
    }
    return plan.option_id_order[a] < plan.option_id_order[b];
  });
}

}  // namespace

void begin_profile(const Model& model, const Plan& plan, Assessment& out) {
  const std::size_t rule_count = plan.rules.size();
  if (out.truth.size() != rule_count || out.options.size() != model.options.size()) {
    out.truth.assign(rule_count, Truth::False);
    out.visited.assign(rule_count, 0);
    out.touched.assign(model.options.size(), 0);
    out.options.assign(model.options.size(), OptionOutcome{});
    out.tallies.assign(model.options.size(), OptionTally{});
    out.fired_bits.assign((rule_count + 63) / 64, 0);
    out.id_bits.assign((model.options.size() + 63) / 64, 0);
    out.decided.clear();
    out.touched_list.clear();
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
}

void decide(const Model& model, const Plan& plan, Assessment& out) {
  // Only options with a rule that holds or is unknown can be anything but "not
  // indicated" with a score of zero; tally those from the rules that decided.
  // Weights are summed in declaration order unless every sum is exact whatever
  // the order (plan.exact_weights), so that a score never depends on how the
  // rules were reached.
  const Policy& policy = model.policy;
  if (!plan.exact_weights)
    std::sort(out.decided.begin(), out.decided.end());  // plan order is declaration order
  auto add = [&](std::uint32_t option, const RuleTally& rule, Truth truth) {
    if (out.touched[option] != out.epoch) {
      out.touched[option] = out.epoch;
      out.touched_list.push_back(option);
      out.tallies[option] = OptionTally{};
    }
    tally(out.tallies[option], rule, truth, policy.combine_sum);
  };
  for (std::uint32_t rule : out.decided) {
    const RuleTally& summary = plan.tallies[rule];
    if (summary.option_count == 1) {
      add(summary.option, summary, out.truth[rule]);
      continue;
    }
    const PlanRule& planned = plan.rules[rule];
    for (std::uint32_t k = 0; k < planned.option_count; ++k)
      add(plan.rule_options[planned.options_first + k], summary, out.truth[rule]);
  }
  for (std::uint32_t option : out.touched_list) {
    OptionTally& option_tally = out.tallies[option];
    // An unmet prerequisite (false, so never visited) holds the option back.
    if (plan.has_prerequisites[option])
      for (std::uint32_t rule : plan.options[option].prerequisites)
        if (out.truth[rule] == Truth::False) option_tally.held_back = true;
    out.options[option] = outcome_of(policy, option_tally);
    if (out.options[option].status == Status::recommended ||
        out.options[option].status == Status::consider)
      out.ranked.push_back(option);
  }
  rank(model, plan, out);
}

void assess(const Model& model, const Plan& plan, const Facts& facts, Assessment& out) {
  assess_truth(model, plan, facts, out);
  decide(model, plan, out);
}

void decide_from_truth(const Model& model, const Plan& plan, const std::vector<Truth>& truth,
                       Assessment& out) {
  begin_profile(model, plan, out);
  for (std::uint32_t rule = 0; rule < plan.rules.size(); ++rule) {
    if (truth[rule] == Truth::False) continue;
    out.truth[rule] = truth[rule];
    out.decided.push_back(rule);
  }
  decide(model, plan, out);
}

}  // namespace stimrank::engine
