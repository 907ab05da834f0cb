// Checked model → evaluation plan.
#include "plan.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>

namespace stimrank::engine {

using namespace rules::model;

namespace {

std::uint32_t flatten(Plan& plan, const Model& model, const Expr& expr) {
  auto index = static_cast<std::uint32_t>(plan.nodes.size());
  plan.nodes.emplace_back();
  PlanNode node;
  node.op = expr.op;
  node.cmp = expr.cmp;
  node.truth = expr.truth;
  node.all = expr.all;
  node.has_lo = expr.has_lo;
  node.has_hi = expr.has_hi;
  node.number = expr.number;
  node.number2 = expr.number2;
  node.field = expr.field;
  if (expr.field >= 0) {
    const Field& field = model.schema.fields[expr.field];
    node.slot = field.slot;
    node.in_entry =
        field.list >= 0 && field.type != FieldType::Codes && field.type != FieldType::List;
    node.list_field = field.type == FieldType::Codes || field.type == FieldType::List;
  }
  if (expr.op == Op::SetHas) {
    for (int label : expr.symbols) node.mask |= std::uint64_t{1} << label;
  } else if (!expr.symbols.empty()) {
    node.first = static_cast<std::uint32_t>(plan.symbols.size());
    node.count = static_cast<std::uint32_t>(expr.symbols.size());
    plan.symbols.insert(plan.symbols.end(), expr.symbols.begin(), expr.symbols.end());
  }
  std::vector<std::uint32_t> kids;
  for (const Expr& kid : expr.kids) kids.push_back(flatten(plan, model, kid));
  if (!kids.empty()) {
    node.first = static_cast<std::uint32_t>(plan.kids.size());
    node.count = static_cast<std::uint32_t>(kids.size());
    plan.kids.insert(plan.kids.end(), kids.begin(), kids.end());
  }
  plan.nodes[index] = node;
  return index;
}

// How likely a conjunct is to hold for a profile, roughly; lower is more selective.
// Only tests that a field's value can rule out in one lookup are anchors.
struct Anchor {
  double selectivity = 1;
  const PlanNode* node = nullptr;
};

Anchor anchor_of(const Plan& plan, const Model& model, std::uint32_t index) {
  const PlanNode& node = plan.nodes[index];
  Anchor none;
  if (node.field < 0 || node.in_entry) return none;
  if (node.list_field) {  // `list has any {concepts}`: filed under each concept
    if (node.op != Op::CodeHas || node.count == 0) return none;
    // An assessed finding the list does not name is unknown, not false: such a
    // test cannot decide which rules to skip.
    if (!closed_world_test(plan, node)) return none;
    auto concepts = static_cast<double>(std::max<std::size_t>(1, model.concepts.size()));
    double named = node.all ? 1 : static_cast<double>(node.count);
    return {std::min(1.0, 4 * named / concepts), &node};
  }
  const Field& field = model.schema.fields[static_cast<std::size_t>(node.field)];
  auto labels = static_cast<double>(std::max<std::size_t>(1, field.labels.size()));
  switch (node.op) {
    case Op::BoolField: return {0.3, &node};  // `x == true`: most flags are rare
    case Op::SymEq:
      if (field.type != FieldType::Enum || node.cmp != Cmp::Eq) return none;
      return {1 / labels, &node};
    case Op::SymIn:
      if (field.type != FieldType::Enum) return none;
      return {node.count / labels, &node};
    case Op::SetHas: {
      if (field.type != FieldType::EnumSet || node.mask == 0) return none;
      // `has all`: any one label is necessary, so file it under the first.
      double bits = node.all ? 1 : static_cast<double>(__builtin_popcountll(node.mask));
      return {std::min(1.0, 3 * bits / labels), &node};
    }
    default: return none;
  }
}

}  // namespace

bool flat_test(const Plan& plan, const PlanNode& node, FlatTest& test) {
  const PlanNode* leaf = &node;
  if (node.op == Op::Not) {
    leaf = &plan.nodes[plan.kids[node.first]];
    if (leaf->op != Op::BoolField) return false;
  }
  if (leaf->slot < 0 || leaf->in_entry || leaf->list_field) return false;
  test.op = node.op;
  test.slot = leaf->slot;
  test.cmp = node.cmp;
  test.all = node.all;
  test.has_lo = node.has_lo;
  test.has_hi = node.has_hi;
  switch (node.op) {
    case Op::Not:
    case Op::BoolField: return true;
    case Op::NumCmp:
    case Op::NumRange:
      test.number = node.number;
      test.number2 = node.number2;
      return true;
    case Op::SetHas: test.mask = node.mask; return true;
    case Op::SymEq: test.symbol = plan.symbols[node.first]; return true;
    case Op::SymIn:
      test.first = node.first;
      test.count = node.count;
      return true;
    default: return false;
  }
}

namespace {

// The rule's tests other than its anchor (which holds when the rule is reached
// through it; `has all` is kept, as only one of its labels was looked up); none
// when a conjunct is not a simple test, and the rule is evaluated as a tree.
std::optional<std::vector<FlatTest>> flat_tests(const Plan& plan, std::uint32_t rule,
                                                const PlanNode* anchor) {
  std::vector<const PlanNode*> conjuncts = conjuncts_of(plan, plan.rules[rule]);
  std::vector<FlatTest> tests;
  for (const PlanNode* conjunct : conjuncts) {
    if (conjunct == anchor && !anchor->all) continue;
    FlatTest test;
    if (!flat_test(plan, *conjunct, test)) return std::nullopt;
    tests.push_back(test);
  }
  return tests;
}

// The values of its field under which an anchor is filed: those that make it hold
// (for `has all`, the first of them, which it cannot hold without).
std::vector<std::size_t> anchor_values(const Plan& plan, const PlanNode& node) {
  std::vector<std::size_t> values;
  auto symbol = [&](std::uint32_t i) {
    return static_cast<std::size_t>(plan.symbols[node.first + i]);
  };
  switch (node.op) {
    case Op::BoolField: values.push_back(1); break;
    case Op::SymEq: values.push_back(symbol(0)); break;
    case Op::SymIn:
    case Op::CodeHas:
      for (std::uint32_t i = 0; i < (node.all ? 1 : node.count); ++i) values.push_back(symbol(i));
      break;
    case Op::SetHas:
      for (std::uint64_t bits = node.mask; bits; bits &= bits - 1) {
        values.push_back(static_cast<std::size_t>(__builtin_ctzll(bits)));
        if (node.all) break;
      }
      break;
    default: break;
  }
  return values;
}

// Files every rule under its most selective anchor (or in `always`), then lays out
// each anchor list with its rules' flat tests inline (AnchorSlot::List).
void index_rules(Plan& plan, const Model& model, const std::vector<bool>& in_bitmap) {
  std::vector<int> slot_anchor(static_cast<std::size_t>(model.schema.scalar_slots), -1);
  std::vector<int> list_anchor(static_cast<std::size_t>(model.schema.list_slots), -1);
  std::vector<std::vector<std::vector<std::uint32_t>>> filed;  // by anchor, by value: rules
  std::vector<std::optional<std::vector<FlatTest>>> flat(plan.rules.size());
  for (std::size_t r = 0; r < plan.rules.size(); ++r) {
    if (in_bitmap[r]) continue;
    auto rule = static_cast<std::uint32_t>(r);
    auto root = static_cast<std::uint32_t>(plan.rules[r].root);
    const PlanNode& top = plan.nodes[root];
    Anchor best = anchor_of(plan, model, root);
    if (top.op == Op::And)
      for (std::uint32_t k = 0; k < top.count; ++k) {
        Anchor candidate = anchor_of(plan, model, plan.kids[top.first + k]);
        if (candidate.selectivity < best.selectivity) best = candidate;
      }
    if (!best.node || best.selectivity > 0.5) {
      plan.index.always.push_back(rule);
      continue;
    }
    const PlanNode& node = *best.node;
    flat[r] = flat_tests(plan, rule, &node);
    const Field& field = model.schema.fields[static_cast<std::size_t>(node.field)];
    int& which = (node.list_field ? list_anchor : slot_anchor)[static_cast<std::size_t>(node.slot)];
    if (which < 0) {
      which = static_cast<int>(plan.index.anchors.size());
      AnchorSlot slot;
      slot.slot = node.slot;
      slot.type = field.type;
      slot.list = node.list_field;
      plan.index.anchors.push_back(std::move(slot));
      filed.emplace_back(node.list_field                 ? model.concepts.size()
                         : field.type == FieldType::Bool ? 2
                                                         : field.labels.size());
    }
    AnchorSlot& slot = plan.index.anchors[static_cast<std::size_t>(which)];
    slot.all.push_back(rule);
    std::vector<std::size_t> values = anchor_values(plan, node);
    slot.multi = slot.multi || values.size() > 1;
    for (std::size_t value : values) filed[static_cast<std::size_t>(which)][value].push_back(rule);
  }
  for (std::size_t a = 0; a < plan.index.anchors.size(); ++a) {
    AnchorSlot& slot = plan.index.anchors[a];
    slot.lists.resize(filed[a].size());
    for (std::size_t v = 0; v < filed[a].size(); ++v) {
      AnchorSlot::List& list = slot.lists[v];
      for (std::uint32_t rule : filed[a][v]) {
        list.rules.push_back(rule);
        if (!flat[rule]) {
          list.ends.push_back(static_cast<std::uint32_t>(list.tests.size()) | AnchorSlot::kNotFlat);
          continue;
        }
        list.tests.insert(list.tests.end(), flat[rule]->begin(), flat[rule]->end());
        list.ends.push_back(static_cast<std::uint32_t>(list.tests.size()));
      }
    }
  }
}

// Reasons are listed by kind: what excludes first, then what indicates, then the rest.
int kind_order(RuleKind kind) {
  switch (kind) {
    case RuleKind::absolute_contraindication: return 0;
    case RuleKind::research_only: return 1;
    case RuleKind::not_indicated: return 2;
    case RuleKind::indication: return 3;
    case RuleKind::relative_contraindication: return 4;
    case RuleKind::prerequisite: return 5;
    case RuleKind::caution: return 6;
  }
  return 7;
}

void order_ids(Plan& plan, const Model& model) {
  plan.explain_order.resize(plan.rules.size());
  for (std::size_t r = 0; r < plan.rules.size(); ++r)
    plan.explain_order[r] = static_cast<std::uint32_t>(r);
  std::stable_sort(plan.explain_order.begin(), plan.explain_order.end(),
                   [&](std::uint32_t a, std::uint32_t b) {
                     return kind_order(plan.rules[a].kind) < kind_order(plan.rules[b].kind);
                   });
  std::vector<std::uint32_t> by_id(plan.rules.size());
  for (std::size_t r = 0; r < plan.rules.size(); ++r) by_id[r] = static_cast<std::uint32_t>(r);
  auto rule_id = [&](std::uint32_t r) -> const std::string& {
    return model.rules[static_cast<std::size_t>(plan.rules[r].model_rule)].id;
  };
  std::stable_sort(by_id.begin(), by_id.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return rule_id(a) < rule_id(b); });
  for (std::size_t i = 0; i < by_id.size(); ++i) {
    plan.tallies[by_id[i]].id_order = static_cast<std::uint32_t>(i);
    plan.rule_id_at.push_back(static_cast<std::uint32_t>(plan.id_text.size()));
    plan.id_text += rule_id(by_id[i]);
    plan.longest_rule_id = std::max(plan.longest_rule_id, rule_id(by_id[i]).size());
  }
  for (const Option& option : model.options) {
    plan.option_id_at.push_back(static_cast<std::uint32_t>(plan.id_text.size()));
    plan.id_text += option.id + ":";
    plan.longest_option_id = std::max(plan.longest_option_id, option.id.size());
  }
  plan.option_id_at.push_back(static_cast<std::uint32_t>(plan.id_text.size()));
  plan.rule_id_at.push_back(plan.option_id_at.front());
  // Room to read 16 bytes from any id's start (the TSV writer copies short ids
  // 16 bytes at a time).
  plan.id_text.append(16, '\0');
  std::vector<std::size_t> order(model.options.size());
  for (std::size_t o = 0; o < order.size(); ++o) order[o] = o;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return model.options[a].id < model.options[b].id;
  });
  plan.option_by_id.resize(order.size());
  plan.option_id_order.resize(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    plan.option_id_order[order[i]] = static_cast<std::uint32_t>(i);
    plan.option_by_id[i] = static_cast<std::uint32_t>(order[i]);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return model.options[a].family < model.options[b].family;
  });
  // Equal families share a position, so the comparison stays a three-way one.
  for (std::size_t i = 0; i < order.size(); ++i)
    plan.options[order[i]].family_order =
        i > 0 && model.options[order[i]].family == model.options[order[i - 1]].family
            ? plan.options[order[i - 1]].family_order
            : static_cast<std::uint32_t>(i);
}

}  // namespace

std::vector<const PlanNode*> conjuncts_of(const Plan& plan, const PlanRule& rule) {
  const PlanNode& top = plan.nodes[static_cast<std::size_t>(rule.root)];
  std::vector<const PlanNode*> conjuncts;
  if (top.op == Op::And)
    for (std::uint32_t k = 0; k < top.count; ++k)
      conjuncts.push_back(&plan.nodes[plan.kids[top.first + k]]);
  else
    conjuncts.push_back(&top);
  return conjuncts;
}

void lay_out_slots(Model& model) {
  Schema& schema = model.schema;
  schema.scalar_slots = schema.list_slots = 0;
  std::vector<int> entry_slots(schema.fields.size(), 0);
  for (Field& field : schema.fields) {
    if (field.type == FieldType::Object) continue;
    if (field.type == FieldType::Codes || field.type == FieldType::List)
      field.slot = schema.list_slots++;
    else if (field.list >= 0)
      field.slot = field.type == FieldType::Coding ? -1 : entry_slots[field.list]++;
    else
      field.slot = schema.scalar_slots++;
  }
}

namespace {

// Plan::assessed_members and assessed_in_node.
void find_assessed(Plan& plan, const Model& model) {
  const std::size_t count = model.concepts.size();
  plan.assessed_members.assign(count, {});
  for (std::size_t c = 0; c < count; ++c)
    for (int member : model.concepts[c].members) {
      const Concept& concept_decl = model.concepts[static_cast<std::size_t>(member)];
      if (concept_decl.assessed) {
        plan.assessed_members[c].push_back({member, concept_decl.assessed_when});
        plan.has_assessed = true;
      }
    }
  if (!plan.has_assessed) return;
  plan.assessed_in_node.assign(plan.nodes.size(), {});
  // The entry tests below an `any` or `count` node.
  std::function<void(std::uint32_t, std::vector<AssessedFinding>&)> gather =
      [&](std::uint32_t index, std::vector<AssessedFinding>& out) {
        const PlanNode& node = plan.nodes[index];
        if (node.op == Op::CodeHas && !node.list_field) {
          for (std::uint32_t i = 0; i < node.count; ++i)
            for (const AssessedFinding& finding :
                 plan.assessed_members[static_cast<std::size_t>(plan.symbols[node.first + i])])
              out.push_back(finding);
          return;
        }
        if (node.op == Op::And || node.op == Op::Or || node.op == Op::Not)
          for (std::uint32_t k = 0; k < node.count; ++k) gather(plan.kids[node.first + k], out);
      };
  for (std::uint32_t n = 0; n < plan.nodes.size(); ++n) {
    const PlanNode& node = plan.nodes[n];
    if ((node.op == Op::Any || node.op == Op::Count) && node.count > 0)
      gather(plan.kids[node.first], plan.assessed_in_node[n]);
  }
}

}  // namespace

bool closed_world_test(const Plan& plan, const PlanNode& node) {
  if (!plan.has_assessed || node.op != Op::CodeHas) return true;
  for (std::uint32_t i = 0; i < node.count; ++i)
    if (!plan.assessed_members[static_cast<std::size_t>(plan.symbols[node.first + i])].empty())
      return false;
  return true;
}

Plan compile_plan(const Model& model, PlanOptions options) {
  Plan plan;
  plan.concept_words = (model.concepts.size() + 63) / 64;
  plan.options.resize(model.options.size());
  for (std::size_t r = 0; r < model.rules.size(); ++r) {
    const Rule& rule = model.rules[r];
    PlanRule planned;
    planned.model_rule = static_cast<int>(r);
    planned.kind = rule.kind;
    planned.root = static_cast<int>(flatten(plan, model, rule.condition));
    planned.weight = rule.weight ? *rule.weight : rule.grade ? rule.grade->weight : 0;
    planned.penalty = rule.penalty;
    planned.unverified = rule.unverified;
    planned.graded = rule.grade.has_value();
    planned.specific = rule.specific;
    planned.ranking_weight =
        rule.unverified ? planned.weight * model.policy.unverified_weight : planned.weight;
    planned.options_first = static_cast<std::uint32_t>(plan.rule_options.size());
    planned.option_count = static_cast<std::uint32_t>(rule.options.size());
    for (double amount : {planned.ranking_weight, planned.penalty})
      if (!(std::fabs(amount) < 0x1p40 && std::floor(amount * 1024) == amount * 1024))
        plan.exact_weights = false;
    int index = static_cast<int>(plan.rules.size());
    plan.plan_rule_of.push_back(plan.rules.size());
    plan.rules.push_back(planned);
    for (int option : rule.options) {
      plan.options[option].rules.push_back(index);
      plan.rule_options.push_back(static_cast<std::uint32_t>(option));
      if (rule.kind == RuleKind::prerequisite)
        plan.options[option].prerequisites.push_back(static_cast<std::uint32_t>(index));
    }
  }
  // A code in concept c also belongs to every concept that includes c (whose members
  // the checker wrote out, within Limits::max_concept_members).
  std::vector<std::vector<int>> containers(model.concepts.size());
  for (std::size_t c = 0; c < model.concepts.size(); ++c)
    for (int member : model.concepts[c].members)
      containers[static_cast<std::size_t>(member)].push_back(static_cast<int>(c));
  auto index_code = [&](const std::string& key, int concept_index) {
    auto& list = plan.code_index[key];
    list.insert(list.end(), containers[concept_index].begin(), containers[concept_index].end());
  };
  for (std::size_t c = 0; c < model.concepts.size(); ++c) {
    const Concept& entry = model.concepts[c];
    index_code("local|" + entry.id, static_cast<int>(c));
    for (const Code& code : entry.codes)
      index_code(code.system + "|" + code.code, static_cast<int>(c));
  }
  for (auto& [key, list] : plan.code_index) {  // a code in several concepts: each container once
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
  }
  for (std::size_t o = 0; o < model.options.size(); ++o)
    plan.symbol_index[model.options[o].id] = static_cast<int>(o);
  find_assessed(plan, model);
  std::vector<bool> in_bitmap =
      options.bitmap ? build_rule_bitmap(plan, model) : std::vector<bool>(plan.rules.size(), false);
  index_rules(plan, model, in_bitmap);
  for (const PlanRule& rule : plan.rules) {
    RuleTally tally;
    tally.option_count =
        static_cast<std::uint16_t>(std::min<std::uint32_t>(rule.option_count, 0xffff));
    tally.option =
        rule.option_count == 1 ? plan.rule_options[rule.options_first] : rule.options_first;
    tally.kind = rule.kind;
    tally.unverified = rule.unverified;
    tally.specific = rule.specific;
    tally.amount =
        rule.kind == RuleKind::relative_contraindication ? rule.penalty : rule.ranking_weight;
    plan.tallies.push_back(tally);
  }
  for (const PlanOption& option : plan.options)
    plan.has_prerequisites.push_back(option.prerequisites.empty() ? 0 : 1);
  order_ids(plan, model);  // fills the tallies' and options' id positions
  plan.labels.resize(model.schema.fields.size());
  for (std::size_t f = 0; f < model.schema.fields.size(); ++f)
    for (std::size_t l = 0; l < model.schema.fields[f].labels.size(); ++l)
      plan.labels[f].emplace(model.schema.fields[f].labels[l], static_cast<int>(l));
  for (std::size_t c = 0; c < model.concepts.size(); ++c)
    plan.symbol_index[model.concepts[c].id] = static_cast<int>(model.options.size() + c);
  return plan;
}

}  // namespace stimrank::engine
