// Facts → which rules hold, are false, or are unknown. The hot path of every
// evaluation: the rule index and bitmap visit only the rules a profile can reach,
// and nothing is allocated once the assessment's buffers have grown to the rule
// set's size.
#include <algorithm>
#include <cmath>

#include "conditions.hpp"
#include "decision.hpp"

namespace stimrank::engine {

using namespace rules::model;

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
        if (value.open)  // a label not listed may still be there: unknown, not false
          for (std::size_t w = 0; w < words; ++w) unknown[w] |= tested[w] & ~any[w];
        else
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

}  // namespace

void assess_truth(const Model& model, const Plan& plan, const Facts& facts, Assessment& out) {
  begin_profile(model, plan, out);
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
    if (!value.known || value.open) {  // an open set's unlisted labels are unknown
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

}  // namespace stimrank::engine
