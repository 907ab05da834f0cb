// The rule bitmap (plan.hpp, RuleBitmap): which rules it can decide, and their rows.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "plan.hpp"

namespace stimrank::engine {

using namespace rules::model;

namespace {

// More distinct numbers than this in one field's tests: its rows would not stay
// in cache, so rules testing that field stay with the index.
constexpr std::size_t kMaxCuts = 2048;

// A column is a field, told apart by kind (a list slot and a scalar slot can
// share a number).
using ColumnKey = std::pair<RuleBitmap::Kind, std::int32_t>;

struct Test {
  ColumnKey column;
  const PlanNode* node = nullptr;  // the test (for `not flag`, the `not`)
};

// The column a conjunct tests, when it is a test the bitmap can decide.
std::optional<Test> column_test(const Plan& plan, const Model& model, const PlanNode& node) {
  const PlanNode* leaf = &node;
  if (node.op == Op::Not) {
    leaf = &plan.nodes[plan.kids[node.first]];
    if (leaf->op != Op::BoolField) return std::nullopt;
  }
  if (leaf->field < 0 || leaf->slot < 0 || leaf->in_entry) return std::nullopt;
  const Field& field = model.schema.fields[static_cast<std::size_t>(leaf->field)];
  if (leaf->list_field) {
    if (node.op != Op::CodeHas || node.all || node.count == 0) return std::nullopt;
    if (!closed_world_test(plan, node)) return std::nullopt;  // unknown when unlisted
    return Test{{RuleBitmap::Kind::Concepts, leaf->slot}, &node};
  }
  switch (node.op) {
    case Op::Not:
    case Op::BoolField:
      if (field.type != FieldType::Bool) return std::nullopt;
      return Test{{RuleBitmap::Kind::Flag, leaf->slot}, &node};
    case Op::NumCmp:
    case Op::NumRange:
      if (field.type != FieldType::Int && field.type != FieldType::Number) return std::nullopt;
      return Test{{RuleBitmap::Kind::Number, leaf->slot}, &node};
    case Op::SymEq:
    case Op::SymIn:
      if (field.type != FieldType::Enum || field.labels.empty()) return std::nullopt;
      return Test{{RuleBitmap::Kind::Label, leaf->slot}, &node};
    case Op::SetHas:
      if (field.type != FieldType::EnumSet || node.all || node.mask == 0) return std::nullopt;
      return Test{{RuleBitmap::Kind::LabelSet, leaf->slot}, &node};
    default: return std::nullopt;
  }
}

// The tests of a rule, when every conjunct is one the bitmap decides and a
// set or list is tested at most once (`has any` rows cannot be combined).
std::optional<std::vector<Test>> rule_tests(const Plan& plan, const Model& model,
                                            const PlanRule& rule) {
  std::vector<const PlanNode*> conjuncts = conjuncts_of(plan, rule);
  std::vector<Test> tests;
  for (const PlanNode* conjunct : conjuncts) {
    auto test = column_test(plan, model, *conjunct);
    if (!test) return std::nullopt;
    bool ors_rows = test->column.first == RuleBitmap::Kind::LabelSet ||
                    test->column.first == RuleBitmap::Kind::Concepts;
    if (ors_rows && std::any_of(tests.begin(), tests.end(),
                                [&](const Test& t) { return t.column == test->column; }))
      return std::nullopt;
    tests.push_back(*test);
  }
  return tests;
}

// Whether a flag, number or enum test holds for a value (a flag or number in
// `number`, an enum label in `label`), as a profile's evaluation decides it.
bool holds(const Plan& plan, const PlanNode& node, double number, std::int32_t label) {
  FlatTest test;
  Scalar value;
  value.number = number;
  value.symbol = label;
  value.known = true;
  return flat_test(plan, node, test) && flat_test_holds(plan, test, value);
}

// A number inside each row's region: the cut itself, or one between two cuts.
double region_value(const std::vector<double>& cuts, std::size_t row) {
  std::size_t i = row / 2;
  if (row % 2 == 1) return cuts[i];
  if (cuts.empty()) return 0;
  if (i == 0) return cuts[0] - std::max(1.0, std::fabs(cuts[0]));
  if (i == cuts.size()) return cuts[i - 1] + std::max(1.0, std::fabs(cuts[i - 1]));
  return cuts[i - 1] / 2 + cuts[i] / 2;
}

void add_cuts(const PlanNode& node, std::vector<double>& cuts) {
  if (node.op == Op::NumCmp) cuts.push_back(node.number);
  if (node.op == Op::NumRange) {
    if (node.has_lo) cuts.push_back(node.number);
    if (node.has_hi) cuts.push_back(node.number2);
  }
}

}  // namespace

std::vector<bool> build_rule_bitmap(Plan& plan, const Model& model) {
  RuleBitmap& bitmap = plan.bitmap;
  std::vector<std::optional<std::vector<Test>>> tests(plan.rules.size());
  std::map<ColumnKey, std::vector<double>> cuts;
  for (std::size_t r = 0; r < plan.rules.size(); ++r) {
    tests[r] = rule_tests(plan, model, plan.rules[r]);
    if (!tests[r]) continue;
    for (const Test& test : *tests[r]) {
      auto& column_cuts = cuts[test.column];
      if (test.column.first == RuleBitmap::Kind::Number) add_cuts(*test.node, column_cuts);
    }
  }
  for (auto& [key, column_cuts] : cuts) {
    std::sort(column_cuts.begin(), column_cuts.end());
    column_cuts.erase(std::unique(column_cuts.begin(), column_cuts.end()), column_cuts.end());
  }
  std::vector<bool> taken(plan.rules.size(), false);
  for (std::size_t r = 0; r < plan.rules.size(); ++r) {
    if (!tests[r]) continue;
    taken[r] = std::none_of(tests[r]->begin(), tests[r]->end(),
                            [&](const Test& test) { return cuts[test.column].size() > kMaxCuts; });
    if (taken[r]) bitmap.rules.push_back(static_cast<std::uint32_t>(r));
  }
  bitmap.words = (bitmap.rules.size() + 63) / 64;
  if (bitmap.rules.empty()) return taken;

  // Columns in a fixed order (by kind and slot), rows laid out one after another.
  std::map<ColumnKey, std::size_t> column_of;
  for (auto& [key, column_cuts] : cuts) {
    if (column_cuts.size() > kMaxCuts) continue;
    RuleBitmap::Column column;
    column.kind = key.first;
    column.slot = key.second;
    column.cuts = column_cuts;
    column_of[key] = bitmap.columns.size();
    bitmap.columns.push_back(std::move(column));
  }
  std::vector<std::size_t> label_count(bitmap.columns.size(), 0);
  for (std::size_t r : bitmap.rules)
    for (const Test& test : *tests[r]) {
      const Field& field = model.schema.fields[static_cast<std::size_t>(
          (test.node->op == Op::Not ? plan.nodes[plan.kids[test.node->first]] : *test.node).field)];
      label_count[column_of[test.column]] = field.labels.size();
    }
  std::size_t total_rows = 0;
  for (std::size_t c = 0; c < bitmap.columns.size(); ++c) {
    RuleBitmap::Column& column = bitmap.columns[c];
    switch (column.kind) {
      case RuleBitmap::Kind::Flag: column.row_count = 2; break;
      case RuleBitmap::Kind::Number: column.row_count = 2 * column.cuts.size() + 1; break;
      case RuleBitmap::Kind::Label:
      case RuleBitmap::Kind::LabelSet: column.row_count = label_count[c]; break;
      case RuleBitmap::Kind::Concepts: column.row_count = model.concepts.size(); break;
    }
    column.tested = total_rows * bitmap.words;
    column.first_row = (total_rows + 1) * bitmap.words;
    total_rows += column.row_count + 1;
  }
  bitmap.rows.assign(total_rows * bitmap.words, 0);

  // Rows that and (flags, numbers, labels) start with every rule holding; rows
  // that are or'ed (sets, concepts) with none.
  auto row = [&](const RuleBitmap::Column& column, std::size_t r) {
    return bitmap.rows.data() + column.first_row + r * bitmap.words;
  };
  for (const RuleBitmap::Column& column : bitmap.columns)
    if (column.kind != RuleBitmap::Kind::LabelSet && column.kind != RuleBitmap::Kind::Concepts)
      for (std::size_t r = 0; r < column.row_count; ++r) {
        std::uint64_t* words = row(column, r);
        std::fill(words, words + bitmap.words, ~std::uint64_t{0});
        if (std::size_t tail = bitmap.rules.size() % 64)
          words[bitmap.words - 1] = (std::uint64_t{1} << tail) - 1;
      }
  std::vector<std::pair<std::size_t, const PlanNode*>> scratch;
  std::vector<const PlanNode*> nodes;
  for (std::size_t bit = 0; bit < bitmap.rules.size(); ++bit) {
    const std::uint64_t mask = std::uint64_t{1} << (bit % 64);
    const std::size_t word = bit / 64;
    // The rule's tests grouped by column (a rule has one to a few).
    std::vector<std::pair<std::size_t, const PlanNode*>>& sorted = scratch;
    sorted.clear();
    for (const Test& test : *tests[bitmap.rules[bit]])
      sorted.emplace_back(column_of[test.column], test.node);
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t first = 0; first < sorted.size();) {
      const std::size_t c = sorted[first].first;
      std::size_t last = first;
      nodes.clear();
      while (last < sorted.size() && sorted[last].first == c)
        nodes.push_back(sorted[last++].second);
      first = last;
      const RuleBitmap::Column& column = bitmap.columns[c];
      bitmap.rows[column.tested + word] |= mask;
      if (column.kind == RuleBitmap::Kind::LabelSet) {
        for (std::uint64_t labels = nodes.front()->mask; labels; labels &= labels - 1) {
          auto label = static_cast<std::size_t>(__builtin_ctzll(labels));
          if (label < column.row_count) row(column, label)[word] |= mask;
        }
        continue;
      }
      if (column.kind == RuleBitmap::Kind::Concepts) {
        for (std::uint32_t i = 0; i < nodes.front()->count; ++i) {
          auto concept_index = static_cast<std::size_t>(plan.symbols[nodes.front()->first + i]);
          if (concept_index < column.row_count) row(column, concept_index)[word] |= mask;
        }
        continue;
      }
      for (std::size_t r = 0; r < column.row_count; ++r) {
        double number = column.kind == RuleBitmap::Kind::Flag     ? static_cast<double>(r)
                        : column.kind == RuleBitmap::Kind::Number ? region_value(column.cuts, r)
                                                                  : 0;
        auto label = static_cast<std::int32_t>(r);
        bool all_hold = true;
        for (const PlanNode* node : nodes) all_hold = all_hold && holds(plan, *node, number, label);
        if (!all_hold) row(column, r)[word] &= ~mask;
      }
    }
  }
  return taken;
}

}  // namespace stimrank::engine
