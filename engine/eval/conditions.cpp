// A rule's condition evaluated on one profile's facts, in Kleene's three-valued
// logic: an unknown field makes a test unknown unless the rest decides it.
#include "conditions.hpp"

namespace stimrank::engine {

using namespace rules::model;

namespace {

inline Truth from_bool(bool value) {
  return value ? Truth::True : Truth::False;
}

inline const Scalar& scalar_of(const PlanNode& node, const Facts& facts, const Entry* entry) {
  return node.in_entry ? entry->fields[static_cast<std::size_t>(node.slot)]
                       : facts.scalars[static_cast<std::size_t>(node.slot)];
}

inline bool entry_has(const Entry& entry, std::int32_t concept_index) {
  return (entry.concepts[static_cast<std::size_t>(concept_index) >> 6] >>
          (static_cast<unsigned>(concept_index) & 63)) &
         1u;
}

// Whether one entry's coding is in the node's concepts (any or all of them).
Truth entry_matches(const Plan& plan, const PlanNode& node, const Entry& entry) {
  if (!entry.coding_known) return Truth::Unknown;
  const std::int32_t* symbols = plan.symbols.data() + node.first;
  for (std::uint32_t i = 0; i < node.count; ++i) {
    bool in = entry_has(entry, symbols[i]);
    if (node.all && !in) return Truth::False;
    if (!node.all && in) return Truth::True;
  }
  return from_bool(node.all);
}

inline bool bit_set(const std::vector<std::uint64_t>& bits, std::int32_t concept_index) {
  auto at = static_cast<std::size_t>(concept_index);
  return (at >> 6) < bits.size() && ((bits[at >> 6] >> (at & 63)) & 1u);
}

}  // namespace

bool finding_in_question(const ListFact& list, const AssessedFinding& finding) {
  if (bit_set(list.refuted, finding.finding)) return false;  // looked for: absent
  if (finding.when < 0) return true;
  for (const Entry& e : list.entries)
    if (!e.coding_known || entry_has(e, finding.when)) return true;
  return false;
}

bool any_in_question(const ListFact& list, const std::vector<AssessedFinding>& findings) {
  for (const AssessedFinding& finding : findings)
    if (finding_in_question(list, finding)) return true;
  return false;
}

std::size_t count_in_question(const ListFact& list, const std::vector<AssessedFinding>& findings) {
  std::size_t count = 0;
  for (const AssessedFinding& finding : findings)
    if (finding_in_question(list, finding)) ++count;
  return count;
}

Truth evaluate_flat(const Plan& plan, const FlatTest* test, const FlatTest* end,
                    const Facts& facts) {
  Truth result = Truth::True;
  for (; test != end; ++test) {
    const Scalar& s = facts.scalars[static_cast<std::size_t>(test->slot)];
    if (!s.known) {
      result = Truth::Unknown;
      continue;
    }
    if (!flat_test_holds(plan, *test, s)) {
      if (!s.open) return Truth::False;
      result = Truth::Unknown;  // an open set: a label not listed may still be there
    }
  }
  return result;
}

Truth evaluate_node(const Plan& plan, std::uint32_t index, const Facts& facts, const Entry* entry) {
  const PlanNode& node = plan.nodes[index];
  switch (node.op) {
    case Op::Const: return node.truth;
    case Op::And: {
      Truth result = Truth::True;
      for (std::uint32_t k = 0; k < node.count; ++k) {
        Truth t = evaluate_node(plan, plan.kids[node.first + k], facts, entry);
        if (t == Truth::False) return Truth::False;
        if (t == Truth::Unknown) result = Truth::Unknown;
      }
      return result;
    }
    case Op::Or: {
      Truth result = Truth::False;
      for (std::uint32_t k = 0; k < node.count; ++k) {
        Truth t = evaluate_node(plan, plan.kids[node.first + k], facts, entry);
        if (t == Truth::True) return Truth::True;
        if (t == Truth::Unknown) result = Truth::Unknown;
      }
      return result;
    }
    case Op::Not: {
      Truth t = evaluate_node(plan, plan.kids[node.first], facts, entry);
      return t == Truth::Unknown ? t : from_bool(t == Truth::False);
    }
    case Op::BoolField: {
      const Scalar& s = scalar_of(node, facts, entry);
      return s.known ? from_bool(s.number != 0) : Truth::Unknown;
    }
    case Op::NumCmp: {
      const Scalar& s = scalar_of(node, facts, entry);
      return s.known ? from_bool(compare(s.number, node.cmp, node.number)) : Truth::Unknown;
    }
    case Op::NumRange: {
      const Scalar& s = scalar_of(node, facts, entry);
      if (!s.known) return Truth::Unknown;
      return from_bool((!node.has_lo || s.number >= node.number) &&
                       (!node.has_hi || s.number <= node.number2));
    }
    case Op::SymEq: {
      const Scalar& s = scalar_of(node, facts, entry);
      if (!s.known) return Truth::Unknown;
      bool equal = s.symbol == plan.symbols[node.first];
      return from_bool(node.cmp == Cmp::Eq ? equal : !equal);
    }
    case Op::SymIn: {
      const Scalar& s = scalar_of(node, facts, entry);
      if (!s.known) return Truth::Unknown;
      for (std::uint32_t i = 0; i < node.count; ++i)
        if (plan.symbols[node.first + i] == s.symbol) return Truth::True;
      return Truth::False;
    }
    case Op::SetHas: {
      const Scalar& s = scalar_of(node, facts, entry);
      if (!s.known) return Truth::Unknown;
      bool holds = node.all ? (s.bits & node.mask) == node.mask : (s.bits & node.mask) != 0;
      if (!holds && s.open) return Truth::Unknown;  // a label not listed may still be there
      return from_bool(holds);
    }
    case Op::CodeHas: {
      if (!node.list_field) return entry_matches(plan, node, *entry);
      const ListFact& list = facts.lists[static_cast<std::size_t>(node.slot)];
      if (!list.known) return Truth::Unknown;
      if (!node.all) {
        Truth result = Truth::False;
        for (const Entry& e : list.entries) {
          Truth t = entry_matches(plan, node, e);
          if (t == Truth::True) return t;
          if (t == Truth::Unknown) result = t;
        }
        // Not listed: an assessed finding among the concepts is still unknown.
        if (result == Truth::False && plan.has_assessed)
          for (std::uint32_t i = 0; i < node.count; ++i)
            if (any_in_question(
                    list,
                    plan.assessed_members[static_cast<std::size_t>(plan.symbols[node.first + i])]))
              return Truth::Unknown;
        return result;
      }
      // all: every named concept is matched by some entry
      bool unknown = false;
      for (std::uint32_t i = 0; i < node.count; ++i) {
        bool found = false;
        for (const Entry& e : list.entries) {
          if (!e.coding_known)
            unknown = true;
          else if (entry_has(e, plan.symbols[node.first + i]))
            found = true;
        }
        if (!found && plan.has_assessed &&
            any_in_question(
                list,
                plan.assessed_members[static_cast<std::size_t>(plan.symbols[node.first + i])]))
          unknown = true;
        if (!found && !unknown) return Truth::False;
        if (!found) return Truth::Unknown;
      }
      return Truth::True;
    }
    case Op::Known: {
      if (node.list_field) return from_bool(facts.lists[static_cast<std::size_t>(node.slot)].known);
      if (node.slot < 0) return from_bool(entry != nullptr && entry->coding_known);
      return from_bool(scalar_of(node, facts, entry).known);
    }
    case Op::Any: {
      const ListFact& list = facts.lists[static_cast<std::size_t>(node.slot)];
      if (!list.known) return Truth::Unknown;
      Truth result = Truth::False;
      for (const Entry& e : list.entries) {
        Truth t = evaluate_node(plan, plan.kids[node.first], facts, &e);
        if (t == Truth::True) return t;
        if (t == Truth::Unknown) result = t;
      }
      // An assessed finding the list does not name may be the entry that matches.
      if (result == Truth::False && plan.has_assessed &&
          any_in_question(list, plan.assessed_in_node[index]))
        return Truth::Unknown;
      return result;
    }
    case Op::Count: {
      const ListFact& list = facts.lists[static_cast<std::size_t>(node.slot)];
      if (!list.known) return Truth::Unknown;
      // The count lies in [sure, sure + unsure]; the test is decided only if it
      // comes out the same at every count in that interval.
      std::size_t sure = 0, unsure = 0;
      for (const Entry& e : list.entries) {
        Truth t = node.count ? evaluate_node(plan, plan.kids[node.first], facts, &e) : Truth::True;
        if (t == Truth::True)
          ++sure;
        else if (t == Truth::Unknown)
          ++unsure;
      }
      // Each assessed finding the list does not name may be one more entry.
      if (plan.has_assessed) unsure += count_in_question(list, plan.assessed_in_node[index]);
      bool first = compare(static_cast<double>(sure), node.cmp, node.number);
      for (std::size_t n = sure + 1; n <= sure + unsure; ++n)
        if (compare(static_cast<double>(n), node.cmp, node.number) != first) return Truth::Unknown;
      return from_bool(first);
    }
  }
  return Truth::Unknown;
}

}  // namespace stimrank::engine
