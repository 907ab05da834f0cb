// The decision put into words: each option's reasons, evidence, summary line and
// missing data, as a Result or straight as the result JSON. Statuses, scores and
// ranks are the decision's (eval/decision.hpp); nothing here re-applies the policy.
#include "explanation.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <deque>
#include <optional>
#include <set>

#include "conditions.hpp"
#include "json_text.hpp"

namespace stimrank::engine {

using namespace rules::model;
using namespace std::string_view_literals;

namespace {

// Paths built for list entries ("/conditions/0/code"), kept from one profile to
// the next with their capacity: a deque, so that pointers to them stay valid.
struct PathPool {
  std::deque<std::string> strings;
  std::size_t used = 0;
  std::string& make() {
    if (used == strings.size()) strings.emplace_back();
    std::string& text = strings[used++];
    text.clear();
    return text;
  }
};

// Sorts JSON Pointers held by reference by their text and drops repeats.
void sort_unique(std::vector<const std::string*>& paths) {
  std::sort(paths.begin(), paths.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  paths.erase(std::unique(paths.begin(), paths.end(),
                          [](const std::string* a, const std::string* b) { return *a == *b; }),
              paths.end());
}

// JSON Pointers of absent fields, by reference to the schema's paths or to the
// pool's: gathered with repeats, then sorted and made unique.
struct PathList {
  std::vector<const std::string*> paths;
  void insert(const std::string& path) { paths.push_back(&path); }
  void finish() { sort_unique(paths); }
};

// The absent fields that make a node unknown (only called for unknown rules).
void collect_missing(const Model& model, const Plan& plan, std::uint32_t index, const Facts& facts,
                     const Entry* entry, const std::string& entry_path, PathList& out,
                     PathPool& pool) {
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
          collect_missing(model, plan, kid, facts, entry, entry_path, out, pool);
      }
      return;
    case Op::Any:
    case Op::Count:
    case Op::CodeHas: {
      if (node.op == Op::CodeHas && !node.list_field) {
        std::string& path = pool.make();
        path += entry_path;
        path += "/code";
        out.insert(path);
        return;
      }
      const ListFact& list = facts.lists[static_cast<std::size_t>(node.slot)];
      if (!list.known) {
        out.insert(field->path);
        return;
      }
      // An assessed finding the list neither names nor records as absent: the list
      // itself is what is missing (the finding was not looked for, or not written).
      if (plan.has_assessed) {
        bool in_question = false;
        if (node.op == Op::CodeHas) {
          for (std::uint32_t i = 0; i < node.count && !in_question; ++i)
            in_question = any_in_question(
                list,
                plan.assessed_members[static_cast<std::size_t>(plan.symbols[node.first + i])]);
        } else {
          in_question = any_in_question(list, plan.assessed_in_node[index]);
        }
        if (in_question) out.insert(field->path);
      }
      for (std::size_t i = 0; i < list.entries.size(); ++i) {
        const Entry& e = list.entries[i];
        if (node.op == Op::CodeHas) {
          if (e.coding_known) continue;
          std::string& path = pool.make();
          path += field->path;
          path += '/';
          path += std::to_string(e.position);
          path += "/code";
          out.insert(path);
        } else if (node.count > 0) {
          std::uint32_t kid = plan.kids[node.first];
          if (evaluate_node(plan, kid, facts, &e) != Truth::Unknown) continue;
          std::string& path = pool.make();
          path += field->path;
          path += '/';
          path += std::to_string(e.position);
          collect_missing(model, plan, kid, facts, &e, path, out, pool);
        }
      }
      return;
    }
    default:
      if (node.in_entry) {
        std::string& path = pool.make();
        path += entry_path;
        path += field->path;
        out.insert(path);
      } else {
        out.insert(field->path);
      }
      return;
  }
}

const Source* source_of(const Model& model, const Rule& rule) {
  return rule.source >= 0 ? &model.sources[static_cast<std::size_t>(rule.source)] : nullptr;
}

// Names as strings, so that filling a reused Result copies string to string.
const std::string& kind_name(RuleKind kind) {
  static const std::string names[] = {to_string(RuleKind::indication),
                                      to_string(RuleKind::absolute_contraindication),
                                      to_string(RuleKind::relative_contraindication),
                                      to_string(RuleKind::caution),
                                      to_string(RuleKind::prerequisite),
                                      to_string(RuleKind::research_only),
                                      to_string(RuleKind::not_indicated)};
  static_assert(std::size(names) == 7);
  return names[static_cast<std::size_t>(kind)];
}

const std::string& invasiveness_name(Invasiveness invasiveness) {
  static const std::string names[] = {to_string(Invasiveness::noninvasive),
                                      to_string(Invasiveness::minimally_invasive),
                                      to_string(Invasiveness::invasive)};
  return names[static_cast<std::size_t>(invasiveness)];
}

void assign_or_clear(std::string& out, const std::string* text) {
  if (text)
    out = *text;
  else
    out.clear();
}

// The text of the missing_data reason a rule gives when it is unknown.
std::string unknown_text(const Rule& rule) {
  std::string text = "unknown whether this ";
  text += rule.kind == RuleKind::prerequisite ? "prerequisite is met" : "applies";
  text += " (";
  text += to_string(rule.kind);
  text += "): ";
  text += rule.because;
  return text;
}

// Fills `reason` in place (its strings keep their capacity when a Result is reused).
void fill_reason(const Model& model, const Rule& rule, const std::string& kind,
                 const std::string& text, Reason& reason) {
  reason.rule = rule.id;
  reason.kind = kind;
  reason.text = text;
  const Source* source = source_of(model, rule);
  assign_or_clear(reason.source, source ? &source->id : nullptr);
  assign_or_clear(reason.doi, source ? &source->doi : nullptr);
  reason.tags = rule.tags;
  reason.unverified = rule.unverified;
  reason.met.reset();
  reason.missing.clear();
}

// One reason, by reference to its rule; strings are made only on output.
struct ReasonRef {
  int rule = -1;              // model rule
  bool missing_data = false;  // unknown whether it applies: `missing` holds the fields
  std::optional<bool> met;    // prerequisites
  const std::vector<const std::string*>* missing = nullptr;  // missing_data: the absent fields
};

// A summary line as pieces: fixed phrases and rule texts, so that the JSON writer
// can copy each rule's text escaped once at load time.
struct Piece {
  std::string_view literal;  // a fixed phrase (ASCII), when `rule` < 0, or
  int rule = -1;             // a rule's `because` (with its grade when `indication`)
  bool indication = false;
};
struct Summary {
  Piece pieces[4];
  int count = 0;
  void add(Piece piece) { pieces[count++] = piece; }
  void add(std::string_view literal) { add(Piece{literal, -1, false}); }
  void add_rule(int rule, bool indication = false) { add(Piece{{}, rule, indication}); }
  bool empty() const { return count == 0; }
  void clear() { count = 0; }  // the pieces past `count` are never read
  void append(const Summary& other) {
    for (int i = 0; i < other.count; ++i) add(other.pieces[i]);
  }
};

struct Work {
  int option = 0;
  Status status = Status::not_indicated;
  std::optional<int> rank;
  double score = 0;
  Summary summary;
  std::vector<int> evidence;  // model rules (graded indications that held)
  std::vector<ReasonRef> reasons;
  std::vector<const std::string*> missing;  // sorted, distinct
};

// Rules that came out unknown; which of them matter depends on the status.
struct Unknown {
  RuleKind kind;
  const std::vector<const std::string*>* paths;
  std::optional<ReasonRef> reason;  // for rules that hold a ranked option back
};

// What the rules that concern one option say, gathered for its summary line: the
// first rule that blocks it, its strongest indication, the first thing that holds
// it back. The option's status and score come from the decision.
struct OptionWords {
  double best_weight = 0, best_specific_weight = 0;
  int first_indication = -1, first_specific = -1, first_blocker = -1;  // model rules
  Summary first_holdback;
  void reset() {
    best_weight = best_specific_weight = 0;
    first_indication = first_specific = first_blocker = -1;
    first_holdback.clear();
  }
};

// explain()'s working memory, kept from one profile to the next (one per thread)
// so that explaining allocates little once it has warmed up.
struct Scratch {
  std::vector<Work> work;  // by option
  std::vector<int> order;  // options, ranked first, then the rest
  // The absent fields behind each unknown rule, found once per rule (a rule can
  // belong to several options).
  std::vector<int> paths_of_rule;  // by plan rule: index into paths, or -1
  std::vector<PathList> paths;
  PathPool built_paths;
  std::size_t paths_used = 0;
  // Per option, reused.
  std::vector<OptionWords> words;
  std::vector<std::vector<Unknown>> unknowns_of;
  std::vector<const std::string*> missing;
};

Scratch& thread_scratch() {
  thread_local Scratch scratch;
  return scratch;
}

// `unknown`: the rule's missing_data text (unknown_text), when the reason is one.
void fill_reason(const Model& model, const ReasonRef& ref, const std::string& unknown,
                 Reason& reason) {
  const Rule& rule = model.rules[static_cast<std::size_t>(ref.rule)];
  if (!ref.missing_data) {
    fill_reason(model, rule, kind_name(rule.kind), rule.because, reason);
    reason.met = ref.met;
    return;
  }
  static const std::string missing_data = "missing_data";
  fill_reason(model, rule, missing_data, unknown, reason);
  if (ref.missing) {
    reason.missing.resize(ref.missing->size());
    for (std::size_t i = 0; i < ref.missing->size(); ++i) reason.missing[i] = *(*ref.missing)[i];
  }
}

Reason reason_of(const Model& model, const ReasonRef& ref) {
  Reason reason;
  const Rule& rule = model.rules[static_cast<std::size_t>(ref.rule)];
  fill_reason(model, ref, ref.missing_data ? unknown_text(rule) : std::string(), reason);
  return reason;
}

void fill_evidence(const Model& model, const Plan& plan, int rule_index, Evidence& evidence) {
  const Rule& rule = model.rules[static_cast<std::size_t>(rule_index)];
  evidence.rule = rule.id;
  const Scheme& scheme = model.schemes[static_cast<std::size_t>(rule.grade->scheme)];
  evidence.scheme = scheme.id;
  evidence.scheme_title = scheme.title;
  evidence.grade.resize(rule.grade->values.size());
  for (std::size_t i = 0; i < rule.grade->values.size(); ++i) {
    const auto& [dim, label] = rule.grade->values[i];
    const auto& d = scheme.dimensions[static_cast<std::size_t>(dim)];
    evidence.grade[i].name = d.name;
    evidence.grade[i].value = d.labels[static_cast<std::size_t>(label)];
  }
  evidence.weight =
      plan.rules[plan.plan_rule_of[static_cast<std::size_t>(rule_index)]].ranking_weight;
  evidence.condition = rule.label.empty() ? rule.condition.text : rule.label;
  const Source* source = source_of(model, rule);
  assign_or_clear(evidence.source, source ? &source->id : nullptr);
  assign_or_clear(evidence.doi, source ? &source->doi : nullptr);
  evidence.tags = rule.tags;
  evidence.unverified = rule.unverified;
}

Evidence evidence_of(const Model& model, const Plan& plan, int rule_index) {
  Evidence evidence;
  fill_evidence(model, plan, rule_index, evidence);
  return evidence;
}

// The explanation of every option, ranked first, by reference to rules and options.
void explain(const Model& model, const Plan& plan, const Facts& facts, const Assessment& decision,
             Scratch& scratch);

// The plan's JSON fragments, built on first use (thread-safe).
const JsonFragments& json_of(const Model& model, const Plan& plan) {
  Plan::OutputCache& cache = *plan.output_cache;
  std::call_once(cache.once, [&] {
    cache.value = std::make_shared<const JsonFragments>(json_fragments(model, plan));
  });
  return *static_cast<const JsonFragments*>(cache.value.get());
}

void fill_summary_text(const JsonFragments& text, const Summary& summary, std::string& out) {
  out.clear();
  for (int i = 0; i < summary.count; ++i) {
    const Piece& piece = summary.pieces[i];
    if (piece.rule < 0)
      out += piece.literal;
    else
      out += (piece.indication ? text.indication_text
                               : text.because_text)[static_cast<std::size_t>(piece.rule)];
  }
}

std::string summary_text(const JsonFragments& text, const Summary& summary) {
  std::string out;
  fill_summary_text(text, summary, out);
  return out;
}

// A list element's fragment (which starts with its comma) as the `index`th element.
std::string_view element(const std::string& fragment, std::size_t index) {
  return std::string_view(fragment).substr(index == 0 && !fragment.empty() ? 1 : 0);
}

// `,"status":"…","rank":` with the status, in one piece.
std::string_view status_and_rank_key(Status status) {
  static const auto pieces = [] {
    std::array<std::string, 5> out;
    for (std::size_t s = 0; s < out.size(); ++s)
      out[s] = std::string(",\"status\":\"") + to_string(static_cast<Status>(s)) + "\",\"rank\":";
    return out;
  }();
  return pieces[static_cast<std::size_t>(status)];
}

// ,"summary":"…" from the pieces escaped at load time; a piece that is not valid
// UTF-8 makes the whole line go through the writer, which replaces bad bytes.
void append_summary_json(const JsonFragments& text, const Summary& summary, std::string& out) {
  for (int i = 0; i < summary.count; ++i) {
    const Piece& piece = summary.pieces[i];
    if (piece.rule >= 0 && !text.text_valid[static_cast<std::size_t>(piece.rule)]) {
      detail::append_json_field(out, ",\"summary\":", summary_text(text, summary));
      return;
    }
  }
  out += ",\"summary\":\""sv;
  for (int i = 0; i < summary.count; ++i) {
    const Piece& piece = summary.pieces[i];
    if (piece.rule < 0)
      out += piece.literal;
    else
      out += (piece.indication ? text.indication_json
                               : text.because_json)[static_cast<std::size_t>(piece.rule)];
  }
  out += '"';
}

void append_strings(const std::vector<const std::string*>& list, std::string& out) {
  out += '[';
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    detail::append_json_string(*list[i], out);
  }
  out += ']';
}

}  // namespace

Result explain_result(const Model& model, const Plan& plan, const Facts& facts,
                      const Assessment& decision) {
  Result result;
  fill_result(model, plan, facts, decision, result);
  return result;
}

Result evaluate_facts(const Model& model, const Plan& plan, const Facts& facts) {
  Assessment decision;
  assess(model, plan, facts, decision);
  return explain_result(model, plan, facts, decision);
}

namespace {

// Elements a reused Result no longer needs, kept (per thread) with their strings'
// capacity for the next profile: resizing a vector down would free them.
struct Spares {
  std::vector<Reason> reasons;
  std::vector<Evidence> evidence;
  std::vector<std::string> strings;
};

template <typename T>
void resize_keeping(std::vector<T>& items, std::size_t size, std::vector<T>& spare) {
  while (items.size() > size) {
    spare.push_back(std::move(items.back()));
    items.pop_back();
  }
  items.reserve(size);  // a fresh Result's vectors: one allocation, no moves on growth
  while (items.size() < size) {
    if (spare.empty()) {
      items.emplace_back();
      continue;
    }
    items.push_back(std::move(spare.back()));
    spare.pop_back();
  }
}

}  // namespace

void fill_result(const Model& model, const Plan& plan, const Facts& facts,
                 const Assessment& decision, Result& result) {
  thread_local Spares spares;
  result.profile = facts.id;
  result.ruleset_name = model.name;
  result.ruleset_version = model.version;
  result.ruleset_digest = model.digest;
  result.warnings = facts.warnings;
  Scratch& scratch = thread_scratch();
  explain(model, plan, facts, decision, scratch);
  const JsonFragments& text = json_of(model, plan);
  result.options.resize(scratch.order.size());
  for (std::size_t i = 0; i < scratch.order.size(); ++i) {
    Work& w = scratch.work[static_cast<std::size_t>(scratch.order[i])];
    const Option& option = model.options[static_cast<std::size_t>(w.option)];
    OptionResult& out = result.options[i];
    out.option = option.id;
    out.title = option.title;
    out.family = option.family;
    out.invasiveness = invasiveness_name(option.invasiveness);
    out.status = w.status;
    out.rank = w.rank;
    out.score = w.score;
    fill_summary_text(text, w.summary, out.summary);
    resize_keeping(out.evidence, w.evidence.size(), spares.evidence);
    for (std::size_t k = 0; k < w.evidence.size(); ++k)
      fill_evidence(model, plan, w.evidence[k], out.evidence[k]);
    resize_keeping(out.reasons, w.reasons.size(), spares.reasons);
    for (std::size_t k = 0; k < w.reasons.size(); ++k)
      fill_reason(model, w.reasons[k],
                  text.unknown_text[static_cast<std::size_t>(w.reasons[k].rule)], out.reasons[k]);
    resize_keeping(out.missing, w.missing.size(), spares.strings);
    for (std::size_t k = 0; k < w.missing.size(); ++k) out.missing[k] = *w.missing[k];
  }
}

void append_result_json(const Model& model, const Plan& plan, const Facts& facts,
                        const Assessment& decision, std::string& out) {
  Scratch& scratch = thread_scratch();
  explain(model, plan, facts, decision, scratch);
  const JsonFragments& text = json_of(model, plan);
  out += "{\"profile\":"sv;
  detail::append_json_string(facts.id, out);
  out += text.ruleset;
  for (std::size_t i = 0; i < scratch.order.size(); ++i) {
    const Work& w = scratch.work[static_cast<std::size_t>(scratch.order[i])];
    out += element(text.option_head[static_cast<std::size_t>(w.option)], i);
    out += status_and_rank_key(w.status);
    if (w.rank) {
      char digits[16];
      out.append(digits, std::to_chars(digits, digits + sizeof digits, *w.rank).ptr);
      out += ",\"score\":"sv;
      detail::append_json_number(w.score, out);
    } else {
      out += "null,\"score\":null"sv;
    }
    append_summary_json(text, w.summary, out);
    out += ",\"evidence\":["sv;
    for (std::size_t k = 0; k < w.evidence.size(); ++k)
      out += element(text.evidence[static_cast<std::size_t>(w.evidence[k])], k);
    out += "],\"reasons\":["sv;
    for (std::size_t k = 0; k < w.reasons.size(); ++k) {
      const ReasonRef& ref = w.reasons[k];
      const auto rule = static_cast<std::size_t>(ref.rule);
      if (ref.missing_data) {
        out += element(text.reason_unknown[rule], k);
        append_strings(*ref.missing, out);
        out += '}';
      } else {
        out += element(
            ref.met == std::optional<bool>(false) ? text.reason_unmet[rule] : text.reason[rule], k);
      }
    }
    out += "],\"missing\":"sv;
    append_strings(w.missing, out);
    out += '}';
  }
  out += "],\"warnings\":"sv;
  detail::append_json_strings(facts.warnings, out);
  out += '}';
}

JsonFragments json_fragments(const Model& model, const Plan& plan) {
  JsonFragments text;
  text.ruleset = ",\"ruleset\":{";
  detail::append_json_field(text.ruleset, "\"name\":", model.name);
  detail::append_json_field(text.ruleset, ",\"version\":", model.version);
  detail::append_json_field(text.ruleset, ",\"digest\":", model.digest);
  text.ruleset += "},\"options\":[";
  for (const Option& option : model.options) {
    std::string head;
    detail::append_json_field(head, ",{\"option\":", option.id);
    detail::append_json_field(head, ",\"title\":", option.title);
    detail::append_json_field(head, ",\"family\":", option.family);
    detail::append_json_field(head, ",\"invasiveness\":", to_string(option.invasiveness));
    text.option_head.push_back(std::move(head));
  }
  text.reason.resize(model.rules.size());
  text.reason_unmet.resize(model.rules.size());
  text.evidence.resize(model.rules.size());
  text.reason_unknown.resize(model.rules.size());
  auto escaped = [](const std::string& raw) {  // the JSON string's content, no quotes
    std::string quoted;
    detail::append_json_string(raw, quoted);
    return quoted.substr(1, quoted.size() - 2);
  };
  for (const Rule& rule : model.rules) {
    std::string indication = rule.because;
    if (rule.grade) indication += " — " + grade_text(model.schemes, *rule.grade);
    if (rule.unverified) indication += " (unverified)";
    text.because_text.push_back(rule.because);
    text.unknown_text.push_back(unknown_text(rule));
    text.indication_text.push_back(indication);
    text.because_json.push_back(escaped(rule.because));
    text.indication_json.push_back(escaped(indication));
    text.text_valid.push_back(detail::valid_utf8(rule.because) && detail::valid_utf8(indication));
  }
  for (std::size_t r = 0; r < model.rules.size(); ++r) {
    const Rule& rule = model.rules[r];
    // Each list element's fragment starts with its comma; the first is written
    // from after it (one append per element instead of two).
    text.reason[r] = text.reason_unmet[r] = text.evidence[r] = ",";
    ReasonRef ref;
    ref.rule = static_cast<int>(r);
    if (rule.kind == RuleKind::prerequisite) {
      ref.met = true;
      detail::append_reason_json(reason_of(model, ref), text.reason[r]);
      ref.met = false;
      detail::append_reason_json(reason_of(model, ref), text.reason_unmet[r]);
    } else {
      detail::append_reason_json(reason_of(model, ref), text.reason[r]);
    }
    // The missing_data reason with an empty list, cut before the list.
    ReasonRef unknown;
    unknown.rule = static_cast<int>(r);
    unknown.missing_data = true;
    std::string whole;
    detail::append_reason_json(reason_of(model, unknown), whole);
    const std::string tail = ",\"missing\":[]}";
    if (whole.size() >= tail.size() &&
        whole.compare(whole.size() - tail.size(), tail.size(), tail) == 0)
      text.reason_unknown[r] =
          "," + whole.substr(0, whole.size() - tail.size() + std::string(",\"missing\":").size());
    if (rule.grade && plan.plan_rule_of[r] < plan.rules.size())
      detail::append_evidence_json(evidence_of(model, plan, static_cast<int>(r)), text.evidence[r]);
  }
  return text;
}

namespace {

// What one rule that held, or is unknown, or is a prerequisite, says about one of
// its options.
void apply_rule(const Plan& plan, const Facts& facts, const Model& model, std::uint32_t r, Truth t,
                Work& out, OptionWords& words, std::vector<Unknown>& unknowns, Scratch& scratch) {
  const PlanRule& planned = plan.rules[r];
  if (t == Truth::Unknown) {
    int& memo = scratch.paths_of_rule[r];
    if (memo < 0) {
      memo = static_cast<int>(scratch.paths_used++);
      PathList& list = scratch.paths[static_cast<std::size_t>(memo)];
      list.paths.clear();
      static const std::string no_entry;
      collect_missing(model, plan, static_cast<std::uint32_t>(planned.root), facts, nullptr,
                      no_entry, list, scratch.built_paths);
      list.finish();
    }
    const std::vector<const std::string*>& paths =
        scratch.paths[static_cast<std::size_t>(memo)].paths;
    Unknown& unknown = unknowns.emplace_back(Unknown{planned.kind, &paths, std::nullopt});
    bool blocking = planned.kind == RuleKind::absolute_contraindication ||
                    planned.kind == RuleKind::research_only ||
                    planned.kind == RuleKind::not_indicated ||
                    planned.kind == RuleKind::prerequisite ||
                    planned.kind == RuleKind::relative_contraindication;
    if (blocking) {
      ReasonRef reason;
      reason.rule = planned.model_rule;
      reason.missing_data = true;
      reason.missing = &paths;
      unknown.reason = reason;
      if (planned.kind != RuleKind::relative_contraindication && words.first_holdback.empty()) {
        words.first_holdback.add("unknown: ");
        words.first_holdback.add_rule(planned.model_rule);
      }
    }
    return;
  }
  // Only prerequisites are applied when false (an unmet one is a reason); every
  // other rule applied here held.
  const bool fired = t == Truth::True;
  switch (planned.kind) {
    case RuleKind::absolute_contraindication:
    case RuleKind::research_only:
    case RuleKind::not_indicated:
      if (words.first_blocker < 0) words.first_blocker = planned.model_rule;
      break;
    case RuleKind::indication:
      // The summary cites the strongest indication (the first of equals).
      if (words.first_indication < 0 || planned.ranking_weight > words.best_weight) {
        words.best_weight = planned.ranking_weight;
        words.first_indication = planned.model_rule;
      }
      if (planned.specific && !planned.unverified && fired &&
          (words.first_specific < 0 || planned.ranking_weight > words.best_specific_weight)) {
        words.best_specific_weight = planned.ranking_weight;
        words.first_specific = planned.model_rule;
      }
      if (planned.graded) out.evidence.push_back(planned.model_rule);
      break;
    case RuleKind::relative_contraindication:
      if (words.first_holdback.empty()) words.first_holdback.add_rule(planned.model_rule);
      break;
    case RuleKind::prerequisite:
      if (!fired && words.first_holdback.empty()) {
        words.first_holdback.add("prerequisite not met: ");
        words.first_holdback.add_rule(planned.model_rule);
      }
      break;
    case RuleKind::caution: break;
  }
  // Written in place: building the 16-byte reference on the stack and copying it
  // stalled on store forwarding (a quarter of explain()'s time in perf).
  ReasonRef& reason = out.reasons.emplace_back();
  reason.rule = planned.model_rule;
  if (planned.kind == RuleKind::prerequisite) reason.met = fired;
}

void explain(const Model& model, const Plan& plan, const Facts& facts, const Assessment& decision,
             Scratch& scratch) {
  const std::vector<Truth>& truth = decision.truth;
  scratch.paths_of_rule.assign(plan.rules.size(), -1);
  if (scratch.paths.size() < plan.rules.size()) scratch.paths.resize(plan.rules.size());
  scratch.paths_used = 0;
  scratch.built_paths.used = 0;
  const std::size_t option_count = model.options.size();
  scratch.work.resize(option_count);
  scratch.words.resize(option_count);
  if (scratch.unknowns_of.size() < option_count) scratch.unknowns_of.resize(option_count);
  for (std::size_t o = 0; o < option_count; ++o) {
    Work& w = scratch.work[o];
    w.option = static_cast<int>(o);
    w.status = Status::not_indicated;
    w.rank.reset();
    w.score = 0;
    w.summary.clear();
    w.evidence.clear();
    w.reasons.clear();
    w.missing.clear();
    scratch.unknowns_of[o].clear();
    scratch.words[o].reset();
  }
  // Rules in the order reasons are listed (by kind, then declaration order), each
  // with its options: only the rules that held, are unknown, or are prerequisites
  // say anything, and they are few of all the options' rules.
  for (std::uint32_t r : plan.explain_order) {
    Truth t = truth[r];
    const PlanRule& planned = plan.rules[r];
    if (t == Truth::False && planned.kind != RuleKind::prerequisite) continue;
    for (std::uint32_t k = 0; k < planned.option_count; ++k) {
      std::uint32_t o = plan.rule_options[planned.options_first + k];
      apply_rule(plan, facts, model, r, t, scratch.work[o], scratch.words[o],
                 scratch.unknowns_of[o], scratch);
    }
  }
  for (std::size_t o = 0; o < option_count; ++o) {
    Work& out = scratch.work[o];
    OptionWords& words = scratch.words[o];
    const OptionOutcome& outcome = decision.options[o];
    const Status status = outcome.status;
    const bool candidate = status == Status::recommended || status == Status::consider;
    const bool blocked = status == Status::research_only ||
                         (status == Status::not_indicated && outcome.by_not_indicated_rule);
    // `missing`: the absent fields that could change this option's status or rank.
    // Excluded: none. Research-only or not indicated by a rule: those that could
    // exclude it. Not indicated for want of an indication: those that could indicate
    // it. Ranked: all, with a missing_data reason for each rule that holds it back.
    auto relevant = [&](RuleKind kind) {
      if (status == Status::excluded) return false;
      if (blocked) return kind == RuleKind::absolute_contraindication;
      if (!candidate) return kind == RuleKind::indication;
      return true;
    };
    std::vector<const std::string*>& missing = scratch.missing;
    missing.clear();
    for (Unknown& unknown : scratch.unknowns_of[o]) {
      if (!relevant(unknown.kind)) continue;
      for (const std::string* path : *unknown.paths) missing.push_back(path);
      if (unknown.reason && candidate) out.reasons.push_back(*unknown.reason);
    }

    out.status = status;
    if (status == Status::excluded) {
      out.summary.add("excluded: ");
      out.summary.add_rule(words.first_blocker);
      continue;  // nothing absent can undo an absolute contraindication
    }
    sort_unique(missing);
    out.missing.assign(missing.begin(), missing.end());
    if (status == Status::research_only) {
      out.summary.add("research only: ");
      out.summary.add_rule(words.first_blocker);
    } else if (blocked) {
      out.summary.add("not indicated: ");
      out.summary.add_rule(words.first_blocker);
    } else if (!candidate) {
      out.summary.add(out.missing.empty() ? "no indication applies"
                                          : "no indication applies with the data given");
    } else {
      out.score = outcome.score;
      if (words.first_holdback.empty()) {
        if (outcome.below_recommend_weight)
          words.first_holdback.add("the evidence is below the weight required to recommend");
        else if (outcome.only_unverified_evidence)
          words.first_holdback.add("the evidence is unverified");
      }
      // An option that holds an indication for the patient's own condition is
      // summed up by it (the specificity that ranks it), else by its strongest.
      out.summary.add_rule(outcome.specific && words.first_specific >= 0 ? words.first_specific
                                                                         : words.first_indication,
                           true);
      if (status == Status::consider) {
        out.summary.add("; consider because ");
        out.summary.append(words.first_holdback);
      }
    }
  }

  // The ranked options in the decision's order, then the rest by status and in
  // declaration order.
  scratch.order.clear();
  int rank = 0;
  for (std::uint32_t option : decision.ranked) {
    scratch.work[option].rank = ++rank;
    scratch.order.push_back(static_cast<int>(option));
  }
  for (int level = status_order(Status::research_only); level <= status_order(Status::excluded);
       ++level)
    for (std::size_t o = 0; o < option_count; ++o)
      if (status_order(scratch.work[o].status) == level)
        scratch.order.push_back(static_cast<int>(o));
}

}  // namespace

}  // namespace stimrank::engine
