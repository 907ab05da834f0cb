// Facts → truth of the reachable rules → option statuses, scores and ranking.
// This is the hot path of every evaluation: no strings, no allocation once the
// assessment's buffers have grown to the rule set's size.
#include "assess.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "json_text.hpp"

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

// A rule evaluated in full (no anchor known to hold).
void visit(const Plan& plan, const Facts& facts, std::uint32_t rule, Assessment& out) {
  Truth t = evaluate_node(plan, static_cast<std::uint32_t>(plan.rules[rule].root), facts, nullptr);
  if (t == Truth::False) return;
  out.truth[rule] = t;
  out.decided.push_back(rule);
}

// The rules of one anchor list: the anchor holds for them, so a flat rule runs
// only its other tests, which lie right after it in the list.
void walk(const Plan& plan, const Facts& facts, const AnchorSlot::List& list, bool dedupe,
          Assessment& out) {
  const FlatTest* tests = list.tests.data();
  std::uint32_t begin = 0;
  for (std::size_t k = 0; k < list.rules.size(); ++k) {
    std::uint32_t rule = list.rules[k], end = list.ends[k];
    bool flat = (end & AnchorSlot::kNotFlat) == 0;
    end &= ~AnchorSlot::kNotFlat;
    std::uint32_t first = begin;
    begin = end;
    if (dedupe) {
      if (out.visited[rule] == out.epoch) continue;
      out.visited[rule] = out.epoch;
    }
    Truth t = flat ? evaluate_flat(plan, tests + first, tests + end, facts)
                   : evaluate_node(plan, static_cast<std::uint32_t>(plan.rules[rule].root), facts,
                                   nullptr);
    if (t == Truth::False) continue;
    out.truth[rule] = t;
    out.decided.push_back(rule);
  }
}

// The bitmap's rules: the rows of the profile's values and'ed column by column;
// an unknown field makes the rules that test it unknown unless another field
// makes them false. False when a value has no row (a label out of range, NaN):
// the caller then evaluates those rules one by one.
bool decide_bitmap(const Plan& plan, const Facts& facts, Assessment& out) {
  const RuleBitmap& bitmap = plan.bitmap;
  const std::size_t words = bitmap.words;
  out.pass.assign(words, ~std::uint64_t{0});
  if (std::size_t tail = bitmap.rules.size() % 64) out.pass.back() = (std::uint64_t{1} << tail) - 1;
  out.unknown.assign(words, 0);
  out.any.resize(words);
  std::uint64_t* pass = out.pass.data();
  std::uint64_t* unknown = out.unknown.data();
  std::uint64_t* any = out.any.data();
  const std::uint64_t* rows = bitmap.rows.data();
  // `has any` columns: the rules one of the profile's labels or concepts satisfies.
  auto or_into_any = [&](const RuleBitmap::Column& column, std::size_t r) {
    if (r >= column.row_count) return;  // no rule names it
    const std::uint64_t* row = rows + column.first_row + r * words;
    for (std::size_t w = 0; w < words; ++w) any[w] |= row[w];
  };
  auto pass_any = [&](const std::uint64_t* tested) {
    for (std::size_t w = 0; w < words; ++w) pass[w] &= any[w] | ~tested[w];
  };
  for (const RuleBitmap::Column& column : bitmap.columns) {
    const std::uint64_t* tested = rows + column.tested;
    if (column.kind == RuleBitmap::Kind::Concepts) {
      const ListFact& list = facts.lists[static_cast<std::size_t>(column.slot)];
      if (!list.known) {
        for (std::size_t w = 0; w < words; ++w) unknown[w] |= tested[w];
        continue;
      }
      std::fill(any, any + words, 0);
      bool unsure = false;  // an entry of unknown coding might match any rule
      for (const Entry& entry : list.entries) {
        if (!entry.coding_known) {
          unsure = true;
          continue;
        }
        for (std::size_t cw = 0; cw < entry.concepts.size(); ++cw)
          for (std::uint64_t bits = entry.concepts[cw]; bits; bits &= bits - 1)
            or_into_any(column, cw * 64 + static_cast<std::size_t>(__builtin_ctzll(bits)));
      }
      if (unsure)
        for (std::size_t w = 0; w < words; ++w) unknown[w] |= tested[w] & ~any[w];
      else
        pass_any(tested);
      continue;
    }
    const Scalar& value = facts.scalars[static_cast<std::size_t>(column.slot)];
    if (!value.known) {
      for (std::size_t w = 0; w < words; ++w) unknown[w] |= tested[w];
      continue;
    }
    std::size_t r = 0;
    switch (column.kind) {
      case RuleBitmap::Kind::Flag: r = value.number != 0 ? 1 : 0; break;
      case RuleBitmap::Kind::Number: {
        if (std::isnan(value.number)) return false;
        auto at = std::lower_bound(column.cuts.begin(), column.cuts.end(), value.number);
        r = 2 * static_cast<std::size_t>(at - column.cuts.begin());
        if (at != column.cuts.end() && *at == value.number) ++r;
        break;
      }
      case RuleBitmap::Kind::Label:
        if (value.symbol < 0 || static_cast<std::size_t>(value.symbol) >= column.row_count)
          return false;
        r = static_cast<std::size_t>(value.symbol);
        break;
      default:  // LabelSet
        std::fill(any, any + words, 0);
        for (std::uint64_t bits = value.bits; bits; bits &= bits - 1)
          or_into_any(column, static_cast<std::size_t>(__builtin_ctzll(bits)));
        pass_any(tested);
        continue;
    }
    const std::uint64_t* row = rows + column.first_row + r * words;
    for (std::size_t w = 0; w < words; ++w) pass[w] &= row[w];
  }
  for (std::size_t w = 0; w < words; ++w)
    for (std::uint64_t bits = pass[w]; bits; bits &= bits - 1) {
      auto bit = static_cast<unsigned>(__builtin_ctzll(bits));
      std::uint32_t rule = bitmap.rules[w * 64 + bit];
      out.truth[rule] = (unknown[w] >> bit) & 1u ? Truth::Unknown : Truth::True;
      out.decided.push_back(rule);
    }
  return true;
}

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
      tally.indicated = true;
      tally.best_weight = std::max(tally.best_weight, rule.amount);
      tally.all_unverified = tally.all_unverified && rule.unverified;
      break;
    case RuleKind::relative_contraindication:
      tally.penalties += rule.amount;
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
  }
  return 0;
}

int key_width(RankKey key) {
  switch (key) {
    case RankKey::status: return 3;
    case RankKey::invasiveness: return 2;
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
  // Keys after the id decide nothing (ids are unique), and the id itself is the
  // candidates' order: only the keys before it are sorted on.
  std::size_t key_count = 0;
  int bits = 0;
  for (; key_count < policy.rank.size() && policy.rank[key_count].first != RankKey::id; ++key_count)
    bits += key_width(policy.rank[key_count].first);
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

void assess_truth(const Model& model, const Plan& plan, const Facts& facts, Assessment& out) {
  const std::size_t rule_count = plan.rules.size();
  if (out.truth.size() != rule_count) {
    out.truth.assign(rule_count, Truth::False);
    out.visited.assign(rule_count, 0);
    out.touched.assign(model.options.size(), 0);
    out.options.assign(model.options.size(), OptionOutcome{});
    out.tallies.assign(model.options.size(), OptionTally{});
    out.fired_bits.assign((rule_count + 63) / 64, 0);
    out.id_bits.assign((model.options.size() + 63) / 64, 0);
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

  if (!plan.bitmap.rules.empty() && !decide_bitmap(plan, facts, out))
    for (std::uint32_t rule : plan.bitmap.rules) visit(plan, facts, rule, out);
  for (std::uint32_t rule : plan.index.always) visit(plan, facts, rule, out);
  for (const AnchorSlot& anchor : plan.index.anchors) {
    if (anchor.list) {
      // The concepts of every entry; an entry of unknown coding leaves every
      // rule filed here to be evaluated in full, as does an unknown list.
      const ListFact& list = facts.lists[static_cast<std::size_t>(anchor.slot)];
      bool usable = list.known;
      out.concepts.assign(plan.concept_words, 0);
      for (const Entry& entry : list.entries) {
        if (!entry.coding_known) {
          usable = false;
          break;
        }
        for (std::size_t w = 0; w < plan.concept_words; ++w) out.concepts[w] |= entry.concepts[w];
      }
      if (!usable) {
        for (std::uint32_t rule : anchor.all) visit(plan, facts, rule, out);
        continue;
      }
      for (std::size_t w = 0; w < out.concepts.size(); ++w)
        for (std::uint64_t bits = out.concepts[w]; bits; bits &= bits - 1) {
          std::size_t concept_index = w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
          if (concept_index < anchor.lists.size())
            walk(plan, facts, anchor.lists[concept_index], anchor.multi, out);
        }
      continue;
    }
    const Scalar& value = facts.scalars[static_cast<std::size_t>(anchor.slot)];
    if (!value.known) {
      for (std::uint32_t rule : anchor.all) visit(plan, facts, rule, out);
      continue;
    }
    switch (anchor.type) {
      case FieldType::Bool:
        walk(plan, facts, anchor.lists[value.number != 0 ? 1 : 0], false, out);
        break;
      case FieldType::Enum:
        if (value.symbol >= 0 && static_cast<std::size_t>(value.symbol) < anchor.lists.size())
          walk(plan, facts, anchor.lists[static_cast<std::size_t>(value.symbol)], anchor.multi,
               out);
        break;
      default:  // EnumSet: the lists of every label the profile has
        for (std::uint64_t bits = value.bits; bits; bits &= bits - 1) {
          auto label = static_cast<std::size_t>(__builtin_ctzll(bits));
          if (label < anchor.lists.size())
            walk(plan, facts, anchor.lists[label], anchor.multi, out);
        }
        break;
    }
  }
}

void assess(const Model& model, const Plan& plan, const Facts& facts, Assessment& out) {
  assess_truth(model, plan, facts, out);
  // Only options with a rule that holds or is unknown can be anything but "not
  // indicated" with a score of zero; tally those from the rules that decided.
  // Weights are summed in declaration order, as the explained result sums them,
  // unless every sum is exact whatever the order (plan.exact_weights).
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

void append_number(double value, std::string& out) {
  detail::append_json_number(value, out);
}

void append_tsv(const Model& /*model*/, const Plan& plan, const Facts& facts,
                Assessment& assessment, std::string& out) {
  // Fired rules in byte order of their ids: a bitset over the id order.
  std::uint64_t* bits = assessment.fired_bits.data();
  std::size_t fired = 0;
  for (std::uint32_t rule : assessment.decided)
    if (assessment.truth[rule] == Truth::True && plan.tallies[rule].option_count > 0) {
      std::uint32_t position = plan.tallies[rule].id_order;
      bits[position >> 6] |= std::uint64_t{1} << (position & 63);
      ++fired;
    }
  // The line is written through a pointer into a per-thread buffer with room for
  // the longest it can be, then appended: resizing `out` to that bound would fill
  // it with zeros first, several times the line's length with many options.
  const std::size_t bound = facts.id.size() + 2 + fired * (plan.longest_rule_id + 1) +
                            assessment.ranked.size() * (plan.longest_option_id + 34) + 16;
  thread_local std::vector<char> line;
  if (line.size() < bound) line.resize(bound);
  char* const start = line.data();
  char* p = start;
  auto put = [&p](std::string_view text) {
    if (!text.empty()) std::memcpy(p, text.data(), text.size());
    p += text.size();
  };
  // Ids of at most 16 bytes are copied 16 bytes at a time (the id text is padded,
  // the line has room): one move instead of a call per id.
  const bool short_ids = plan.longest_rule_id <= 16 && plan.longest_option_id < 16;
  auto put_id = [&p, short_ids, &plan](std::uint32_t begin, std::uint32_t end) {
    const char* text = plan.id_text.data() + begin;
    if (short_ids)
      std::memcpy(p, text, 16);
    else
      std::memcpy(p, text, end - begin);
    p += end - begin;
  };
  put(facts.id);
  *p++ = '\t';
  bool first = true;
  for (std::size_t word = 0; word < assessment.fired_bits.size(); ++word) {
    for (std::uint64_t w = bits[word]; w; w &= w - 1) {
      if (!first) *p++ = ',';
      first = false;
      std::size_t position = word * 64 + static_cast<std::size_t>(__builtin_ctzll(w));
      put_id(plan.rule_id_at[position], plan.rule_id_at[position + 1]);
    }
    bits[word] = 0;
  }
  *p++ = '\t';
  first = true;
  for (std::uint32_t option : assessment.ranked) {
    if (!first) *p++ = ',';
    first = false;
    put_id(plan.option_id_at[option], plan.option_id_at[option + 1]);
    double score = assessment.options[option].score;
    // A whole score below 10^15 (NaN and infinities fail the first test): the
    // integer cast is exact, and cheaper than std::floor, a library call here.
    if (std::fabs(score) < 1e15 && static_cast<double>(static_cast<long long>(score)) == score) {
      p = std::to_chars(p, p + 24, static_cast<long long>(score)).ptr;
    } else {
      std::string text;
      append_number(score, text);
      put(text.substr(0, 32));
    }
  }
  out.append(start, static_cast<std::size_t>(p - start));
}

}  // namespace stimrank::engine
