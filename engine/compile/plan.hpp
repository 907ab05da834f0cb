// The evaluation plan: the checked model flattened for evaluation. Fields are
// slots in flat vectors, names are integers, code membership is a bit test.
// Built once; immutable afterwards, so one plan serves any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model.hpp"

namespace stimrank::engine {

using rules::model::Cmp;
using rules::model::Op;
using rules::model::Truth;

// One profile's facts, laid out by the plan's slots.
struct Scalar {
  double number = 0;         // bool (0/1), int, number
  std::uint64_t bits = 0;    // set of enum labels
  std::int32_t symbol = -1;  // enum label or ident symbol; -1 for an unknown ident
  bool known = false;
  // A set of enum given as open ({"present": […], "complete": false}): its labels
  // are present, any other label is unknown, so a `has` test it does not satisfy is
  // unknown rather than false.
  bool open = false;
};
struct Entry {
  std::vector<Scalar> fields;           // by entry-field slot
  std::vector<std::uint64_t> concepts;  // bitset over concepts the entry's coding is in
  bool coding_known = false;
  // Its index in the profile's list (for JSON Pointers): entries recorded as absent
  // ("present": false) are not entries, so it can differ from the entry's own.
  std::uint32_t position = 0;
};
struct ListFact {
  bool known = false;
  std::vector<Entry> entries;
  // Concepts of the entries recorded as absent ("present": false); empty if none.
  std::vector<std::uint64_t> refuted;
};
struct Facts {
  std::string id;
  std::vector<Scalar> scalars;
  std::vector<ListFact> lists;
  std::vector<std::string> warnings;
};

struct PlanNode {
  Op op = Op::Const;
  Cmp cmp = Cmp::Eq;
  Truth truth = Truth::True;
  bool all = false, has_lo = true, has_hi = true;
  bool in_entry = false;    // the field belongs to the current list entry
  bool list_field = false;  // the field is a list (Known/CodeHas on a list)
  std::int32_t slot = -1;
  std::int32_t field = -1;
  double number = 0, number2 = 0;
  std::uint64_t mask = 0;              // SetHas
  std::uint32_t first = 0, count = 0;  // kids (in Plan::kids) or symbols (in Plan::symbols)
};

struct PlanRule {
  int model_rule = -1;
  int root = -1;
  rules::model::RuleKind kind{};
  double weight = 0;  // indication: explicit weight or the grade's weight
  double penalty = 0;
  double ranking_weight = 0;  // weight after the policy's factor for unverified evidence
  bool unverified = false;
  bool graded = false;    // an indication with a grade: evidence in the result
  bool specific = false;  // an indication specific to the patient's condition
  std::uint32_t options_first = 0, option_count = 0;  // in Plan::rule_options
};

// What tallying a rule and writing its id read, packed apart from PlanRule so that
// the per-profile loops touch 24 bytes a rule: its option (or, for a rule of
// several options, where they start in Plan::rule_options), kind and amount.
struct RuleTally {
  std::uint32_t option = 0;    // option_count == 1: the option; else options_first
  std::uint32_t id_order = 0;  // position of the rule id in byte order
  std::uint16_t option_count = 0;
  rules::model::RuleKind kind{};
  bool unverified = false;
  bool specific = false;  // an indication `specific` to the patient's condition
  double amount = 0;      // indication: ranking weight; relative contraindication: penalty
};

// One test of a flat conjunction, on a top-level scalar field. Reached through its
// anchor (which then holds), a rule whose condition is a conjunction of such tests
// runs them as a flat list instead of walking its tree.
struct FlatTest {
  Op op = Op::Const;  // BoolField, Not (of a bool field), NumCmp, NumRange, SymEq, SymIn, SetHas
  Cmp cmp = Cmp::Eq;
  bool all = false, has_lo = true, has_hi = true;
  std::int32_t slot = -1;
  union {
    double number = 0;    // NumCmp, NumRange (low)
    std::uint64_t mask;   // SetHas
    std::int32_t symbol;  // SymEq
    std::uint32_t first;  // SymIn: symbols in Plan::symbols
  };
  union {
    double number2 = 0;   // NumRange (high)
    std::uint32_t count;  // SymIn
  };
};

struct PlanOption {
  std::vector<int> rules;                    // indices into Plan::rules, in declaration order
  std::vector<std::uint32_t> prerequisites;  // its prerequisite rules
  std::uint32_t family_order = 0;            // position of the family in byte order
};

// Rules reachable from one top-level field's value. A rule is filed under one
// conjunct of its condition (its anchor): when the profile's value makes that
// conjunct false, the whole rule is false and is never visited. When the field is
// unknown every rule filed under it is evaluated, so unknown stays unknown.
struct AnchorSlot {
  std::int32_t slot = -1;
  rules::model::FieldType type{};  // Bool, Enum, EnumSet; Codes or List (`list`)
  bool list = false;               // a list slot: values are concepts, from the entries' codings
  // By value (Bool: false, true; Enum, EnumSet: label; list: concept), the rules
  // filed under it, each rule's flat tests stored right after it, so that a
  // profile's walk through a list reads memory in order.
  struct List {
    std::vector<std::uint32_t> rules;
    std::vector<std::uint32_t> ends;  // end of rule k's tests; kNotFlat set: evaluate_node
    std::vector<FlatTest> tests;
  };
  static constexpr std::uint32_t kNotFlat = 0x80000000u;
  std::vector<List> lists;         // by value
  std::vector<std::uint32_t> all;  // every rule filed under this field
  bool multi = false;              // a rule can be reached twice (enum sets, `in`): dedupe
};

struct RuleIndex {
  std::vector<std::uint32_t> always;  // rules with no usable anchor
  std::vector<AnchorSlot> anchors;
};

// Rules whose condition is a conjunction of simple tests on top-level fields,
// decided all at once with bitsets (one bit per rule). Each field is a column;
// a column has a row per class of values (a flag's two values, an enum label,
// a region between the numbers the rules compare with, a set label or concept),
// whose bit says the rule's tests on that field hold for such a value (rules
// that do not test the field have it set). A profile's rows are and'ed; an
// unknown field makes the rules that test it unknown instead of false.
struct RuleBitmap {
  enum class Kind : std::uint8_t {
    Flag,      // bool: row 0 false, row 1 true
    Number,    // int, number: row 2i+1 is cuts[i], row 2i the numbers below it
    Label,     // enum: row per label
    LabelSet,  // enum set, `has any`: row per label; a profile ors the rows of its labels
    Concepts   // coded list, `has any`: row per concept; ors the rows of its entries' concepts
  };
  struct Column {
    Kind kind = Kind::Flag;
    std::int32_t slot = -1;  // scalar slot, or list slot (Concepts)
    std::vector<double> cuts;
    std::size_t first_row = 0;  // in rows, by words
    std::size_t row_count = 0;
    std::size_t tested = 0;  // in rows: the rules that test this column
  };
  std::size_t words = 0;             // per row
  std::vector<std::uint32_t> rules;  // bit → plan rule, in plan order
  std::vector<Column> columns;
  std::vector<std::uint64_t> rows;
};

struct PlanOptions {
  bool bitmap = true;  // false: every rule through the index (tests compare the two)
};

// Heterogeneous lookup: find a std::string key with a std::string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};
using LabelIndex = std::unordered_map<std::string, int, StringHash, std::equal_to<>>;

// A finding declared `assessed`: a list that does not name it leaves it unknown,
// unless it is recorded as absent or, with `when`, the list lacks that concept.
struct AssessedFinding {
  std::int32_t finding = -1;  // concept
  std::int32_t when = -1;     // concept the profile must have for it to be in question
};

struct Plan {
  std::vector<PlanNode> nodes;
  std::vector<std::uint32_t> kids;
  std::vector<std::int32_t> symbols;
  std::vector<PlanRule> rules;
  std::vector<std::size_t> plan_rule_of;  // by model rule
  std::vector<PlanOption> options;
  // Plan rules in the order an option's reasons are listed (PlanOption::explained).
  std::vector<std::uint32_t> explain_order;
  std::size_t concept_words = 0;
  // By concept: the assessed findings among its members (itself and what it
  // includes); empty for most. By node, for `any` and `count` over a list: the
  // assessed findings its entry tests name (empty when the rule set has none).
  std::vector<std::vector<AssessedFinding>> assessed_members;
  std::vector<std::vector<AssessedFinding>> assessed_in_node;
  bool has_assessed = false;
  // Profile loading (outside the hot path): code → concepts it belongs to.
  std::unordered_map<std::string, std::vector<int>, StringHash, std::equal_to<>>
      code_index;           // "system|CODE"
  LabelIndex symbol_index;  // ident values
  RuleIndex index;
  RuleBitmap bitmap;
  std::vector<std::uint32_t> rule_options;      // options of each rule (PlanRule::options_first)
  std::vector<RuleTally> tallies;               // by plan rule
  std::vector<std::uint32_t> option_id_order;   // by option: position of its id in byte order
  std::vector<std::uint8_t> has_prerequisites;  // by option
  // Every ranking weight and penalty is a multiple of 1/1024 below 2^40, so sums
  // are exact in any order.
  bool exact_weights = true;
  std::vector<LabelIndex> labels;  // by schema field: enum label → index (Enum, EnumSet)
  // Ids for the TSV line, packed together so writing them stays in cache: rule
  // ids in byte order, and each option's id followed by ':'.
  std::string id_text;
  std::vector<std::uint32_t> rule_id_at;    // by id order: offset in id_text (+1 entry)
  std::vector<std::uint32_t> option_id_at;  // by option: offset in id_text (+1 entry)
  std::vector<std::uint32_t> option_by_id;  // by id order: the option
  std::size_t longest_rule_id = 0, longest_option_id = 0;
  // Filled by the output phase the first time a result is explained (a batch of
  // TSV lines never needs it): the result JSON's pre-rendered fragments, typed
  // there (output/explanation.cpp), so that the plan does not depend on output.
  struct OutputCache {
    std::once_flag once;
    std::shared_ptr<const void> value;
  };
  std::shared_ptr<OutputCache> output_cache = std::make_shared<OutputCache>();
};

// Where each fact lives in a profile's facts: scalars and lists outside lists get
// slots in the flat vectors, fields of list entries slots in each entry. Written
// into the model's schema (Field::slot, Schema::scalar_slots, list_slots) once,
// after checking and before compile_plan.
void lay_out_slots(rules::model::Model& model);

// The plan of a model whose slots are laid out.
Plan compile_plan(const rules::model::Model& model, PlanOptions options = {});

// Whether a concept test on a list can be decided by the entries alone (no
// assessed finding among the concepts it names): what the index and bitmap need.
bool closed_world_test(const Plan& plan, const PlanNode& node);

inline bool compare(double lhs, Cmp cmp, double rhs) {
  switch (cmp) {
    case Cmp::Eq: return lhs == rhs;
    case Cmp::Ne: return lhs != rhs;
    case Cmp::Lt: return lhs < rhs;
    case Cmp::Le: return lhs <= rhs;
    case Cmp::Gt: return lhs > rhs;
    case Cmp::Ge: return lhs >= rhs;
  }
  return false;
}

// A leaf test on a top-level scalar, as a flat test; false if it is anything else.
bool flat_test(const Plan& plan, const PlanNode& node, FlatTest& test);

// Whether a flat test holds for a known value.
inline bool flat_test_holds(const Plan& plan, const FlatTest& test, const Scalar& value) {
  switch (test.op) {
    case Op::BoolField: return value.number != 0;
    case Op::Not: return value.number == 0;
    case Op::NumCmp: return compare(value.number, test.cmp, test.number);
    case Op::NumRange:
      return (!test.has_lo || value.number >= test.number) &&
             (!test.has_hi || value.number <= test.number2);
    case Op::SymEq: return (value.symbol == test.symbol) == (test.cmp == Cmp::Eq);
    case Op::SymIn:
      for (std::uint32_t i = 0; i < test.count; ++i)
        if (plan.symbols[test.first + i] == value.symbol) return true;
      return false;
    case Op::SetHas:
      return test.all ? (value.bits & test.mask) == test.mask : (value.bits & test.mask) != 0;
    default: return false;  // not a flat test (flat_test never makes one)
  }
}

// A rule's conjuncts: the kids of its top-level `and`, or its whole condition.
std::vector<const PlanNode*> conjuncts_of(const Plan& plan, const PlanRule& rule);

// Fills plan.bitmap (rules and node trees already in the plan); by plan rule,
// whether the bitmap decides it.
std::vector<bool> build_rule_bitmap(Plan& plan, const rules::model::Model& model);

}  // namespace stimrank::engine
