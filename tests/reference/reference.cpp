#include "reference.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <variant>

namespace reference {

namespace {

using namespace stimrank::rules::model;
using nlohmann::json;

enum class T { no, yes, unknown };

T both(T a, T b) {  // Kleene and
  if (a == T::no || b == T::no) return T::no;
  return a == T::yes && b == T::yes ? T::yes : T::unknown;
}
T either(T a, T b) {  // Kleene or
  if (a == T::yes || b == T::yes) return T::yes;
  return a == T::no && b == T::no ? T::no : T::unknown;
}
T truth(bool value) {
  return value ? T::yes : T::no;
}

bool compare(double a, Cmp cmp, double b) {
  switch (cmp) {
    case Cmp::Eq: return a == b;
    case Cmp::Ne: return a != b;
    case Cmp::Lt: return a < b;
    case Cmp::Le: return a <= b;
    case Cmp::Gt: return a > b;
    case Cmp::Ge: return a >= b;
  }
  return false;
}

std::string normalised(const std::string& system, const std::string& code) {
  if (system != "icd10" && system != "atc") return code;
  std::string out;
  for (char c : code)
    if (c != '.') out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Whether a coding (system as the profile writes it) belongs to concept c: one of
// its codes (ICD-10 and ATC by prefix), its id or a local name, or a member of a
// concept it includes.
bool in_concept(const Model& model, std::size_t c, std::string system, const std::string& code) {
  if (system == "icd10cm") system = "icd10";
  const Concept& concept_ = model.concepts[c];
  if (system == "local" && concept_.id == code) return true;
  const std::string text = normalised(system, code);
  for (const Code& k : concept_.codes) {
    if (k.system != system) continue;
    if (system == "icd10" || system == "atc" ? text.rfind(k.code, 0) == 0 : k.code == text)
      return true;
  }
  for (int included : concept_.includes)
    if (in_concept(model, static_cast<std::size_t>(included), system, code)) return true;
  return false;
}

// One entry of a coded list as the reference reads it.
struct Coded {
  bool known = false;  // a code or a name is given
  std::set<std::size_t> concepts;
};

Coded coded(const Model& model, const json& item) {
  std::vector<std::pair<std::string, std::string>> codings;
  if (item.is_string()) codings.emplace_back("local", item.get<std::string>());
  if (item.is_object()) {
    if (item.contains("code"))
      codings.emplace_back(item.value("system", ""), item["code"].get<std::string>());
    if (item.contains("name")) codings.emplace_back("local", item["name"].get<std::string>());
  }
  Coded out;
  out.known = !codings.empty();
  for (const auto& [system, code] : codings)
    for (std::size_t c = 0; c < model.concepts.size(); ++c)
      if (in_concept(model, c, system, code)) out.concepts.insert(c);
  return out;
}

class Walker {
 public:
  Walker(const Model& model, const json& profile) : model_(model), profile_(profile) {}

  T eval(const Expr& e, const json* entry) const {
    switch (e.op) {
      case Op::Const:
        return e.truth == Truth::True ? T::yes : e.truth == Truth::False ? T::no : T::unknown;
      case Op::And: {
        T out = T::yes;
        for (const Expr& k : e.kids) out = both(out, eval(k, entry));
        return out;
      }
      case Op::Or: {
        T out = T::no;
        for (const Expr& k : e.kids) out = either(out, eval(k, entry));
        return out;
      }
      case Op::Not: {
        T t = eval(e.kids[0], entry);
        return t == T::unknown ? t : truth(t == T::no);
      }
      case Op::BoolField: {
        const json* v = value(e.field, entry);
        return v ? truth(v->get<bool>()) : T::unknown;
      }
      case Op::NumCmp: {
        const json* v = value(e.field, entry);
        return v ? truth(compare(v->get<double>(), e.cmp, e.number)) : T::unknown;
      }
      case Op::NumRange: {
        const json* v = value(e.field, entry);
        if (!v) return T::unknown;
        double x = v->get<double>();
        return truth((!e.has_lo || x >= e.number) && (!e.has_hi || x <= e.number2));
      }
      case Op::SymEq: {
        const json* v = value(e.field, entry);
        if (!v) return T::unknown;
        bool equal = v->get<std::string>() == symbol_name(e.field, e.symbols[0]);
        return truth(e.cmp == Cmp::Eq ? equal : !equal);
      }
      case Op::SymIn: {
        const json* v = value(e.field, entry);
        if (!v) return T::unknown;
        for (int s : e.symbols)
          if (v->get<std::string>() == symbol_name(e.field, s)) return T::yes;
        return T::no;
      }
      case Op::SetHas: {
        const json* v = value(e.field, entry);
        if (!v) return T::unknown;
        // A list names every label present; an open set {"present", "complete": false}
        // leaves each label it does not name unknown.
        bool open = v->is_object() && !v->at("complete").get<bool>();
        const json& labels = v->is_object() ? v->at("present") : *v;
        std::set<std::string> has;
        for (const json& label : labels) has.insert(label.get<std::string>());
        T out = e.all ? T::yes : T::no;
        for (int s : e.symbols) {
          T in = has.count(symbol_name(e.field, s)) > 0 ? T::yes : open ? T::unknown : T::no;
          out = e.all ? both(out, in) : either(out, in);
        }
        return out;
      }
      case Op::CodeHas: {
        const Field& field = model_.schema.fields[static_cast<std::size_t>(e.field)];
        if (field.type == FieldType::Coding) {  // the entry's own coding
          Coded c = coded(model_, *entry);
          if (!c.known) return T::unknown;
          return truth(e.all
                           ? std::all_of(e.symbols.begin(), e.symbols.end(),
                                         [&](int s) {
                                           return c.concepts.count(static_cast<std::size_t>(s)) > 0;
                                         })
                           : std::any_of(e.symbols.begin(), e.symbols.end(), [&](int s) {
                               return c.concepts.count(static_cast<std::size_t>(s)) > 0;
                             }));
        }
        const json* list = value(e.field, entry);
        if (!list) return T::unknown;
        std::vector<Coded> entries;
        for (const json& item : *list)
          if (!(item.is_object() && item.contains("present") && item["present"] == false))
            entries.push_back(coded(model_, item));
        // Each named concept: held by a coded entry (yes), possibly by an entry of
        // unknown coding (unknown), or by none (no); any = or, all = and.
        T out = e.all ? T::yes : T::no;
        for (int s : e.symbols) {
          T held = T::no;
          for (const Coded& c : entries)
            held = either(held, c.known ? truth(c.concepts.count(static_cast<std::size_t>(s)) > 0)
                                        : T::unknown);
          out = e.all ? both(out, held) : either(out, held);
        }
        return out;
      }
      case Op::Known: return truth(value(e.field, entry) != nullptr);
      case Op::Any: {
        const json* list = value(e.field, entry);
        if (!list) return T::unknown;
        T out = T::no;
        for (const json& item : *list) out = either(out, eval(e.kids[0], &item));
        return out;
      }
      case Op::Count: {
        const json* list = value(e.field, entry);
        if (!list) return T::unknown;
        int sure = 0, unsure = 0;
        for (const json& item : *list) {
          T t = e.kids.empty() ? T::yes : eval(e.kids[0], &item);
          sure += t == T::yes;
          unsure += t == T::unknown;
        }
        // Decided only if every possible count gives the same answer.
        bool first = compare(sure, e.cmp, e.number);
        for (int n = sure + 1; n <= sure + unsure; ++n)
          if (compare(n, e.cmp, e.number) != first) return T::unknown;
        return truth(first);
      }
    }
    return T::unknown;
  }

  // The absent fields (JSON Pointers) that leave an unknown expression unknown.
  void missing(const Expr& e, const json* entry, const std::string& at,
               std::set<std::string>& out) const {
    const Field* field =
        e.field >= 0 ? &model_.schema.fields[static_cast<std::size_t>(e.field)] : nullptr;
    switch (e.op) {
      case Op::Const:
      case Op::Known: return;
      case Op::And:
      case Op::Or:
      case Op::Not:
        for (const Expr& k : e.kids)
          if (eval(k, entry) == T::unknown) missing(k, entry, at, out);
        return;
      case Op::CodeHas:
      case Op::Any:
      case Op::Count: {
        if (field->type == FieldType::Coding) {
          out.insert(at + "/code");
          return;
        }
        const json* list = value(e.field, entry);
        const std::string path = (field->list >= 0 ? at : std::string()) + field->path;
        if (!list) {
          out.insert(path);
          return;
        }
        for (std::size_t i = 0; i < list->size(); ++i) {
          const json& item = (*list)[i];
          const std::string item_path = path + "/" + std::to_string(i);
          if (e.op == Op::CodeHas) {
            if (item.is_object() && item.contains("present") && item["present"] == false) continue;
            if (!coded(model_, item).known) out.insert(item_path + "/code");
          } else if (!e.kids.empty() && eval(e.kids[0], &item) == T::unknown) {
            missing(e.kids[0], &item, item_path, out);
          }
        }
        return;
      }
      default: out.insert(field->list >= 0 ? at + field->path : field->path);
    }
  }

 private:
  const json* value(int f, const json* entry) const {
    const Field& field = model_.schema.fields[static_cast<std::size_t>(f)];
    const json& base = field.list >= 0 ? *entry : profile_;
    json::json_pointer pointer(field.path);
    return base.contains(pointer) ? &base.at(pointer) : nullptr;
  }

  // An enum label, or an option or concept id (ident fields).
  std::string symbol_name(int f, int symbol) const {
    const Field& field = model_.schema.fields[static_cast<std::size_t>(f)];
    if (field.type == FieldType::Enum || field.type == FieldType::EnumSet)
      return field.labels[static_cast<std::size_t>(symbol)];
    auto s = static_cast<std::size_t>(symbol);
    return s < model_.options.size() ? model_.options[s].id
                                     : model_.concepts[s - model_.options.size()].id;
  }

  const Model& model_;
  const json& profile_;
};

int status_order(const std::string& status) {
  static const std::vector<std::string> order = {"recommended", "consider", "research_only",
                                                 "not_indicated", "excluded"};
  return static_cast<int>(std::find(order.begin(), order.end(), status) - order.begin());
}

}  // namespace

std::vector<Answer> evaluate(const Model& model, const std::string& profile_text) {
  const json profile = json::parse(profile_text);
  const Walker walker(model, profile);
  std::vector<T> rule_truth;
  for (const Rule& rule : model.rules) rule_truth.push_back(walker.eval(rule.condition, nullptr));

  struct Option {
    Answer answer;
    bool specific = false;
  };
  std::vector<Option> options(model.options.size());
  const Policy& policy = model.policy;
  for (std::size_t o = 0; o < model.options.size(); ++o) {
    Answer& a = options[o].answer;
    a.option = model.options[o].id;
    bool excluded = false, research = false, not_indicated_rule = false, indicated = false;
    bool held_back = false, all_unverified = true, specific = false;
    double combined = 0, best = 0, penalties = 0;
    std::vector<std::size_t> unknown;
    for (std::size_t r = 0; r < model.rules.size(); ++r) {
      const Rule& rule = model.rules[r];
      if (std::find(rule.options.begin(), rule.options.end(), static_cast<int>(o)) ==
          rule.options.end())
        continue;
      const T t = rule_truth[r];
      const std::string kind = to_string(rule.kind);
      if (t == T::unknown) {
        unknown.push_back(r);
        if (rule.kind == RuleKind::absolute_contraindication ||
            rule.kind == RuleKind::research_only || rule.kind == RuleKind::not_indicated ||
            rule.kind == RuleKind::prerequisite)
          held_back = true;
        continue;
      }
      if (rule.kind == RuleKind::prerequisite) {
        a.reasons.push_back(rule.id + " prerequisite " + (t == T::yes ? "met" : "unmet"));
        if (t == T::no) held_back = true;
        continue;
      }
      if (t == T::no) continue;
      a.reasons.push_back(rule.id + " " + kind);
      switch (rule.kind) {
        case RuleKind::absolute_contraindication: excluded = true; break;
        case RuleKind::research_only: research = true; break;
        case RuleKind::not_indicated: not_indicated_rule = true; break;
        case RuleKind::relative_contraindication:
          penalties += rule.penalty;
          held_back = true;
          break;
        case RuleKind::indication: {
          double weight = rule.weight ? *rule.weight : rule.grade ? rule.grade->weight : 0;
          if (rule.unverified) weight *= policy.unverified_weight;
          combined = policy.combine_sum ? combined + weight
                     : indicated        ? std::max(combined, weight)
                                        : weight;
          best = indicated ? std::max(best, weight) : weight;
          indicated = true;
          all_unverified = all_unverified && rule.unverified;
          specific = specific || (rule.specific && !rule.unverified);
          break;
        }
        default: break;
      }
    }
    bool candidate = false, blocked = false;
    if (excluded) {
      a.status = "excluded";
    } else if (research) {
      a.status = "research_only";
      blocked = true;
    } else if (not_indicated_rule || !indicated) {
      a.status = "not_indicated";
      blocked = not_indicated_rule;
    } else {
      candidate = true;
      a.score = combined - penalties;
      options[o].specific = specific;
      bool consider = held_back || best < policy.recommend_min_weight ||
                      (policy.unverified_consider && all_unverified);
      a.status = consider ? "consider" : "recommended";
    }
    // Missing data: what could change this status (docs/engine.md, "Explaining").
    if (!excluded) {
      std::set<std::string> paths;
      for (std::size_t r : unknown) {
        const Rule& rule = model.rules[r];
        bool relevant = blocked      ? rule.kind == RuleKind::absolute_contraindication
                        : !candidate ? rule.kind == RuleKind::indication
                                     : true;
        if (!relevant) continue;
        walker.missing(rule.condition, nullptr, "", paths);
        if (candidate && rule.kind != RuleKind::indication && rule.kind != RuleKind::caution)
          a.reasons.push_back(rule.id + " missing_data");
      }
      a.missing.assign(paths.begin(), paths.end());
    }
    std::sort(a.reasons.begin(), a.reasons.end());
  }

  // Ranking: the policy's keys in order, then the option id.
  std::vector<std::size_t> ranked;
  for (std::size_t o = 0; o < options.size(); ++o)
    if (options[o].answer.status == "recommended" || options[o].answer.status == "consider")
      ranked.push_back(o);
  auto key = [&](std::size_t o, RankKey k) -> std::variant<double, std::string> {
    const Answer& a = options[o].answer;
    switch (k) {
      case RankKey::status: return static_cast<double>(status_order(a.status));
      case RankKey::score: return a.score == 0 ? 0.0 : a.score;
      case RankKey::invasiveness: return static_cast<double>(model.options[o].invasiveness);
      case RankKey::family: return model.options[o].family;
      case RankKey::id: return model.options[o].id;
      case RankKey::declared: return static_cast<double>(o);
      case RankKey::specificity: return options[o].specific ? 1.0 : 0.0;
    }
    return 0.0;
  };
  std::sort(ranked.begin(), ranked.end(), [&](std::size_t x, std::size_t y) {
    for (const auto& [k, descending] : policy.rank) {
      auto a = key(x, k), b = key(y, k);
      if (a != b) return descending ? b < a : a < b;
    }
    return model.options[x].id < model.options[y].id;
  });
  std::vector<Answer> out;
  int rank = 0;
  for (std::size_t o : ranked) {
    options[o].answer.rank = ++rank;
    out.push_back(options[o].answer);
  }
  for (const char* status : {"research_only", "not_indicated", "excluded"})
    for (const Option& option : options)
      if (option.answer.status == status) out.push_back(option.answer);
  return out;
}

}  // namespace reference
