// Static analysis of a checked rule set: named, individually switchable warnings.
#include "stimrank/lint.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "compiled.hpp"
#include "explanation.hpp"
#include "profile.hpp"

namespace stimrank {

using namespace rules::model;

const std::vector<LintCheck>& lint_checks() {
  static const std::vector<LintCheck> checks = {
      {"L001", "never-fires", "an indication whose condition can never hold"},
      {"L002", "no-indication",
       "an option with no indication (and no rule that always restricts it)"},
      {"L003", "always-excludes", "an absolute contraindication that always holds"},
      {"L004", "contradiction",
       "an indication and an absolute contraindication of one option with the same or implied "
       "condition"},
      {"L005", "shadowed", "two rules of one kind and option with the same condition"},
      {"L006", "code-overlap", "a code listed in two unrelated concepts, or twice in one"},
      {"L007", "malformed-code", "a code that does not look like its system's codes"},
      {"L008", "uncited-source", "a source no rule cites"},
      {"L009", "unsourced-complication", "a complication without a source"},
      {"L010", "unverified-recommends",
       "an unverified grade that can make an option `recommended`"},
  };
  return checks;
}

namespace {

// ---- condition analysis (sound but incomplete: "can never hold" is only claimed when proven)

struct Interval {
  double lo = -1e300, hi = 1e300;
  bool lo_open = false, hi_open = false;
  void meet(double value, Cmp cmp) {
    switch (cmp) {
      case Cmp::Lt:
        if (value < hi || (value == hi && !hi_open)) {
          hi = value;
          hi_open = true;
        }
        break;
      case Cmp::Le:
        if (value < hi) {
          hi = value;
          hi_open = false;
        }
        break;
      case Cmp::Gt:
        if (value > lo || (value == lo && !lo_open)) {
          lo = value;
          lo_open = true;
        }
        break;
      case Cmp::Ge:
        if (value > lo) {
          lo = value;
          lo_open = false;
        }
        break;
      case Cmp::Eq:
        meet(value, Cmp::Ge);
        meet(value, Cmp::Le);
        break;
      case Cmp::Ne: break;
    }
  }
  bool empty() const { return lo > hi || (lo == hi && (lo_open || hi_open)); }
};

bool never_holds(const Expr& e);

// A conjunction is unsatisfiable when one part is, or when its comparisons on one
// field cannot hold together.
bool conjunction_never_holds(const std::vector<const Expr*>& parts) {
  std::map<int, Interval> ranges;
  std::map<int, int> equal_symbol;
  std::map<int, bool> bools;
  for (const Expr* p : parts) {
    if (never_holds(*p)) return true;
    if (p->op == Op::NumCmp) ranges[p->field].meet(p->number, p->cmp);
    if (p->op == Op::NumRange) {
      if (p->has_lo) ranges[p->field].meet(p->number, Cmp::Ge);
      if (p->has_hi) ranges[p->field].meet(p->number2, Cmp::Le);
    }
    if (p->op == Op::SymEq && p->cmp == Cmp::Eq) {
      auto [it, inserted] = equal_symbol.emplace(p->field, p->symbols[0]);
      if (!inserted && it->second != p->symbols[0]) return true;
    }
    bool positive = p->op == Op::BoolField;
    bool negative = p->op == Op::Not && p->kids.size() == 1 && p->kids[0].op == Op::BoolField;
    if (positive || negative) {
      int field = positive ? p->field : p->kids[0].field;
      auto [it, inserted] = bools.emplace(field, positive);
      if (!inserted && it->second != positive) return true;
    }
  }
  for (const auto& [field, range] : ranges)
    if (range.empty()) return true;
  return false;
}

void flatten_and(const Expr& e, std::vector<const Expr*>& out) {
  if (e.op == Op::And)
    for (const Expr& k : e.kids) flatten_and(k, out);
  else
    out.push_back(&e);
}

bool never_holds(const Expr& e) {
  switch (e.op) {
    case Op::Const: return e.truth == Truth::False;
    case Op::Or:
      return std::all_of(e.kids.begin(), e.kids.end(),
                         [](const Expr& k) { return never_holds(k); });
    case Op::And: {
      std::vector<const Expr*> parts;
      flatten_and(e, parts);
      return conjunction_never_holds(parts);
    }
    case Op::NumRange: {
      if (!e.has_lo || !e.has_hi) return false;
      return e.number > e.number2;
    }
    default: return false;
  }
}

bool always_holds(const Expr& e) {
  switch (e.op) {
    case Op::Const: return e.truth == Truth::True;
    case Op::Or:
      return std::any_of(e.kids.begin(), e.kids.end(),
                         [](const Expr& k) { return always_holds(k); });
    case Op::And:
      return std::all_of(e.kids.begin(), e.kids.end(),
                         [](const Expr& k) { return always_holds(k); });
    case Op::Known: return false;
    default: return false;
  }
}

// ---- code shapes
// Character classes by position: `shape` holds one of 'L' (upper-case letter), 'D'
// (digit), 'A' (either) per character.
bool fits(std::string_view code, std::string_view shape) {
  if (code.size() != shape.size()) return false;
  for (std::size_t i = 0; i < code.size(); ++i) {
    const char c = code[i];
    const bool upper = c >= 'A' && c <= 'Z', digit = c >= '0' && c <= '9';
    if (!(shape[i] == 'L' ? upper : shape[i] == 'D' ? digit : upper || digit)) return false;
  }
  return true;
}

bool well_formed(const Code& code) {
  const std::string_view c = code.code;
  auto all_digits = [](std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char d) { return d >= '0' && d <= '9'; });
  };
  if (code.system == "icd10")  // A00, then up to four more letters or digits
    return c.size() >= 3 && c.size() <= 7 && fits(c.substr(0, 3), "LDA") &&
           fits(c.substr(3), std::string(c.size() - 3, 'A'));
  if (code.system == "atc")  // N, N02, N02B, N02BA, N02BA01
    return fits(c, "L") || fits(c, "LDD") || fits(c, "LDDL") || fits(c, "LDDLL") ||
           fits(c, "LDDLLDD");
  if (code.system == "snomed")  // 6 to 18 digits, no leading zero
    return c.size() >= 6 && c.size() <= 18 && c[0] != '0' && all_digits(c);
  if (code.system == "rxnorm") return c.size() <= 10 && all_digits(c);
  if (code.system == "local")
    return !c.empty() && c[0] >= 'a' && c[0] <= 'z' && std::all_of(c.begin(), c.end(), [](char d) {
      return (d >= 'a' && d <= 'z') || (d >= '0' && d <= '9') || d == '_';
    });
  return true;
}

class Linter {
 public:
  Linter(const Model& model, const LintOptions& options) : model_(model), options_(options) {}

  std::vector<Diagnostic> run() {
    conditions();
    options_without_indication();
    duplicates();
    codes();
    sources_and_complications();
    unverified_recommends();
    std::stable_sort(out_.begin(), out_.end(), [](const Diagnostic& a, const Diagnostic& b) {
      if (a.location.file != b.location.file) return a.location.file < b.location.file;
      if (a.location.line != b.location.line) return a.location.line < b.location.line;
      return a.code < b.code;
    });
    return std::move(out_);
  }

 private:
  bool enabled(const char* code) const {
    const LintCheck* check = nullptr;
    for (const LintCheck& c : lint_checks())
      if (c.code == code) check = &c;
    return std::none_of(
        options_.disabled.begin(), options_.disabled.end(),
        [&](const std::string& d) { return d == code || (check && d == check->name); });
  }
  void warn(const char* code, const SourceLocation& at, std::string message, std::string hint) {
    if (!enabled(code)) return;
    Diagnostic d;
    d.severity = Severity::warning;
    d.code = code;
    d.location = at;
    d.message = std::move(message);
    d.hint = std::move(hint);
    for (const LintCheck& c : lint_checks())
      if (c.code == code)
        d.hint += (d.hint.empty() ? "" : "; ") + std::string("silence with --disable ") + c.name;
    out_.push_back(std::move(d));
  }
  std::string options_of(const Rule& r) const {
    std::string out;
    for (int o : r.options)
      out += (out.empty() ? "" : ", ") + model_.options[static_cast<std::size_t>(o)].id;
    return out;
  }

  void conditions() {
    for (const Rule& r : model_.rules) {
      if (r.kind == RuleKind::indication && never_holds(r.condition))
        warn("L001", r.location,
             "indication `" + r.id + "` can never fire: `" + r.condition.text + "`",
             "its comparisons contradict each other");
      if (r.kind == RuleKind::absolute_contraindication && always_holds(r.condition))
        warn("L003", r.location,
             "absolute contraindication `" + r.id + "` always holds: " + options_of(r) +
                 " can never be offered",
             "to say an option is never clinical, use `not_indicated … when true` or "
             "`research_only`");
    }
    // L004: an indication whose condition contains an absolute contraindication's.
    for (const Rule& indication : model_.rules) {
      if (indication.kind != RuleKind::indication) continue;
      std::vector<const Expr*> parts;
      flatten_and(indication.condition, parts);
      for (const Rule& absolute : model_.rules) {
        if (absolute.kind != RuleKind::absolute_contraindication) continue;
        bool shared = std::any_of(indication.options.begin(), indication.options.end(), [&](int o) {
          return std::find(absolute.options.begin(), absolute.options.end(), o) !=
                 absolute.options.end();
        });
        if (!shared) continue;
        bool implied = std::any_of(parts.begin(), parts.end(), [&](const Expr* p) {
          return p->text == absolute.condition.text;
        });
        if (implied)
          warn("L004", indication.location,
               "indication `" + indication.id + "` holds only when absolute contraindication `" +
                   absolute.id + "` also holds, so it can never make the option available",
               "the indication and the contraindication contradict each other; check both against "
               "their sources");
      }
    }
  }

  void options_without_indication() {
    for (std::size_t o = 0; o < model_.options.size(); ++o) {
      bool indicated = false, restricted_always = false;
      for (const Rule& r : model_.rules) {
        if (std::find(r.options.begin(), r.options.end(), static_cast<int>(o)) == r.options.end())
          continue;
        if (r.kind == RuleKind::indication) indicated = true;
        if ((r.kind == RuleKind::research_only || r.kind == RuleKind::not_indicated) &&
            always_holds(r.condition))
          restricted_always = true;
      }
      if (!indicated && !restricted_always)
        warn("L002", model_.options[o].location,
             "option `" + model_.options[o].id + "` has no indication",
             "it can never be ranked; add an indication or a `not_indicated … when true` rule with "
             "its source");
    }
  }

  // Indications from different sources on one condition are separate evidence, not
  // shadowing; any other pair of same-kind rules on one condition counts twice.
  void duplicates() {
    std::map<std::tuple<int, RuleKind, std::string, int>, const Rule*> seen;
    for (const Rule& r : model_.rules)
      for (int o : r.options) {
        auto key = std::make_tuple(o, r.kind, r.condition.text,
                                   r.kind == RuleKind::indication ? r.source : -1);
        auto [it, inserted] = seen.emplace(key, &r);
        if (!inserted)
          warn("L005", r.location,
               std::string(to_string(r.kind)) + " `" + r.id + "` has the same condition as `" +
                   it->second->id + "` for option `" +
                   model_.options[static_cast<std::size_t>(o)].id + "`",
               "one shadows the other; merge them or make the conditions differ");
      }
    // A rule that can only fire when another rule of the same kind and option fires
    // adds nothing for kinds whose effect does not accumulate.
    for (const Rule& narrow : model_.rules) {
      if (narrow.kind != RuleKind::absolute_contraindication &&
          narrow.kind != RuleKind::research_only && narrow.kind != RuleKind::not_indicated)
        continue;
      std::vector<const Expr*> parts;
      flatten_and(narrow.condition, parts);
      if (parts.size() < 2) continue;
      for (const Rule& broad : model_.rules) {
        if (&broad == &narrow || broad.kind != narrow.kind) continue;
        bool shared = std::any_of(narrow.options.begin(), narrow.options.end(), [&](int o) {
          return std::find(broad.options.begin(), broad.options.end(), o) != broad.options.end();
        });
        if (!shared) continue;
        if (std::any_of(parts.begin(), parts.end(),
                        [&](const Expr* p) { return p->text == broad.condition.text; }))
          warn("L005", narrow.location,
               std::string(to_string(narrow.kind)) + " `" + narrow.id + "` is shadowed by `" +
                   broad.id + "`: it can fire only when `" + broad.id + "` already fires",
               "remove it, or widen its condition if it was meant to cover other patients");
      }
    }
  }

  bool includes(int container, int member) const {
    const std::vector<int>& members = model_.concepts[static_cast<std::size_t>(container)].members;
    return std::binary_search(members.begin(), members.end(), member);
  }

  void codes() {
    std::map<std::string, int> owner;  // system|code → concept
    for (std::size_t c = 0; c < model_.concepts.size(); ++c) {
      const Concept& concept_entry = model_.concepts[c];
      std::set<std::string> own;
      for (const Code& code : concept_entry.codes) {
        std::string key = code.system + "|" + code.code;
        if (!well_formed(code))
          warn("L007", concept_entry.location,
               "code `" + code.code + "` of `" + concept_entry.id +
                   "` does not look like a code of `" + code.system + "`",
               "check the code against its code system");
        if (!own.insert(key).second) {
          warn("L006", concept_entry.location,
               "`" + concept_entry.id + "` lists " + code.system + " `" + code.code + "` twice",
               "remove the duplicate");
          continue;
        }
        auto [it, inserted] = owner.emplace(key, static_cast<int>(c));
        if (!inserted && !includes(it->second, static_cast<int>(c)) &&
            !includes(static_cast<int>(c), it->second))
          warn(
              "L006", concept_entry.location,
              code.system + " `" + code.code + "` is in both `" +
                  model_.concepts[static_cast<std::size_t>(it->second)].id + "` and `" +
                  concept_entry.id + "`",
              "a patient with this code matches both; if one is part of the other, use `includes`");
      }
    }
  }

  void sources_and_complications() {
    std::set<int> cited;
    for (const Rule& r : model_.rules) cited.insert(r.source);
    for (const Option& o : model_.options)
      for (const Complication& c : o.complications) {
        cited.insert(c.source);
        if (c.source < 0)
          warn("L009", o.location, "complication `" + c.text + "` of `" + o.id + "` has no source",
               "add `source <id>` so the rate can be traced");
      }
    for (const Diagnostic& w : model_.warnings)
      if (w.code == "W201") {
        Diagnostic d = w;
        d.code = "L008";
        if (enabled("L008")) out_.push_back(d);
      }
  }

  void unverified_recommends() {
    if (model_.policy.unverified_consider) return;  // unverified evidence alone never recommends
    for (const Rule& r : model_.rules)
      if (r.kind == RuleKind::indication && r.unverified)
        warn("L010", r.location,
             "unverified indication `" + r.id + "` can make " + options_of(r) + " `recommended`",
             "with `unverified_evidence accept` unverified grades count like verified ones");
  }

  const Model& model_;
  const LintOptions& options_;
  std::vector<Diagnostic> out_;
};

}  // namespace

std::vector<Diagnostic> lint_rules(const RuleSet& rules, const LintOptions& options) noexcept {
  try {
    return Linter(stimrank::detail::compiled(rules).model, options).run();
  } catch (std::exception const& e) {
    Diagnostic d;
    d.code = "E000";
    d.message = std::string("internal error in lint: ") + e.what();
    return {d};
  }
}

}  // namespace stimrank
