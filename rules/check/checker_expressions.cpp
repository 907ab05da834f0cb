// Conditions: paths, values and tests, typed against the fact schema.
#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <set>

#include "ascii.hpp"
#include "checker.hpp"
#include "codes.hpp"
#include "utf8.hpp"

namespace stimrank::rules::checking {

Checker::Resolved Checker::resolve_path(const Item& item, const Node& path, int list) {
  const Schema& schema = model_.schema;
  std::vector<int> level;
  if (list >= 0) level = schema.fields[list].children;
  const std::string& first = path.kids[0].text;
  auto find_in = [&](const std::vector<int>& candidates, const std::string& name) {
    for (int c : candidates)
      if (schema.fields[c].name == name) return c;
    return -1;
  };
  int current = list >= 0 ? find_in(level, first) : -1;
  if (current < 0) current = find_in(schema.roots, first);
  if (current < 0) {
    if (path.kids.size() == 1) {
      if (const Let* let = resolve_let(first)) return {-1, let};
    }
    error(item, path.kids[0], "E100", "undefined name `" + first + "`", suggest(first, [&] {
            std::vector<std::string> names = keys(let_index_);
            for (int r : schema.roots) names.push_back(schema.fields[r].name);
            for (int c : level) names.push_back(schema.fields[c].name);
            return names;
          }));
    return {};
  }
  for (std::size_t i = 1; i < path.kids.size(); ++i) {
    const Field& f = schema.fields[current];
    if (f.type != FieldType::Object) {
      error(item, path.kids[i], "E102",
            "`" + f.name + "` is " + with_article(f.type) + " and has no field `" +
                path.kids[i].text + "`");
      return {};
    }
    int next = find_in(f.children, path.kids[i].text);
    if (next < 0) {
      std::vector<std::string> names;
      for (int c : f.children) names.push_back(schema.fields[c].name);
      error(item, path.kids[i], "E100", "`" + f.name + "` has no field `" + path.kids[i].text + "`",
            suggest(path.kids[i].text, names));
      return {};
    }
    current = next;
  }
  if (schema.fields[current].type == FieldType::Object) {
    error(item, path, "E102", "`" + path_text(path) + "` is an object; name one of its fields");
    return {};
  }
  return {current, nullptr};
}
std::string Checker::path_text(const Node& path) {
  std::string out;
  for (const Node& part : path.kids) out += (out.empty() ? "" : ".") + part.text;
  return out;
}
Expr Checker::unknown_expr() {
  Expr e;
  e.op = Op::Const;
  e.truth = Truth::Unknown;
  return e;
}
bool Checker::parse_cmp(const std::string& text, Cmp& cmp) {
  static const std::map<std::string, Cmp> ops = {{"==", Cmp::Eq}, {"!=", Cmp::Ne}, {"<", Cmp::Lt},
                                                 {"<=", Cmp::Le}, {">", Cmp::Gt},  {">=", Cmp::Ge}};
  auto it = ops.find(text);
  if (it == ops.end()) return false;
  cmp = it->second;
  return true;
}
int Checker::symbol_index(const std::string& name) const {
  auto option = option_index_.find(name);
  if (option != option_index_.end()) return option->second;
  auto found_concept = concept_index_.find(name);
  if (found_concept != concept_index_.end())
    return static_cast<int>(model_.options.size()) + found_concept->second;
  return -1;
}
std::vector<std::string> Checker::symbol_names() const {
  std::vector<std::string> out = keys(option_index_);
  for (const auto& [name, index] : concept_index_) out.push_back(name);
  return out;
}
int Checker::resolve_value(const Item& item, const Field& field, const Node& value) {
  if (field.type == FieldType::Enum || field.type == FieldType::EnumSet) {
    auto it = std::find(field.labels.begin(), field.labels.end(), value.text);
    if (it == field.labels.end()) {
      std::string all;
      for (const std::string& l : field.labels) all += (all.empty() ? "" : ", ") + l;
      std::string hint = suggest(value.text, field.labels);
      error(item, value, "E104", "`" + value.text + "` is not a value of `" + field.name + "`",
            hint.empty() ? "the values are: " + all : hint);
      return -1;
    }
    return static_cast<int>(it - field.labels.begin());
  }
  if (field.type == FieldType::Ident) {
    int symbol = symbol_index(value.text);
    if (symbol < 0)
      error(item, value, "E100", "undefined option or concept `" + value.text + "`",
            suggest(value.text, [&] { return symbol_names(); }));
    return symbol;
  }
  // codes, list, coding: concepts and value sets
  auto it = concept_index_.find(value.text);
  if (it == concept_index_.end()) {
    error(item, value, "E100", "undefined concept `" + value.text + "`",
          suggest(value.text, [&] { return keys(concept_index_); }));
    return -1;
  }
  return it->second;
}
Expr Checker::check_condition(const Item& item, const Node& node, int list, int depth) {
  if (depth > limits_.max_expression_depth) {
    error(item, node, "E020", "the expression is nested too deeply");
    return unknown_expr();
  }
  Expr e;
  e.text = condense(item.file->view(node.begin, node.end));
  const Schema& schema = model_.schema;
  switch (node.kind) {
    case Kind::Or:
    case Kind::And:
    case Kind::Not: {
      e.op = node.kind == Kind::Or ? Op::Or : node.kind == Kind::And ? Op::And : Op::Not;
      for (const Node& kid : node.kids)
        e.kids.push_back(check_condition(item, kid, list, depth + 1));
      return e;
    }
    case Kind::Bool:
      e.op = Op::Const;
      e.truth = node.text == "true" ? Truth::True : Truth::False;
      return e;
    case Kind::Path: {
      Resolved r = resolve_path(item, node, list);
      if (r.let) {
        if (depth + r.let->height > limits_.max_expression_depth + 1) {
          error(item, node, "E020",
                "the expression is nested too deeply with `" + e.text + "` written out",
                "`" + e.text + "` is " + std::to_string(r.let->height) +
                    " levels deep; the limit is " + std::to_string(limits_.max_expression_depth));
          return unknown_expr();
        }
        if (!count_let_nodes(item, node, r.let->nodes)) return unknown_expr();
        Expr inlined = r.let->expr;
        inlined.text = e.text;
        return inlined;
      }
      if (r.field < 0) return unknown_expr();
      const Field& f = schema.fields[r.field];
      if (f.type != FieldType::Bool) {
        error(item, node, "E102",
              "`" + e.text + "` is " + with_article(f.type) + ", not a condition",
              hint_for(f, e.text));
        return unknown_expr();
      }
      e.op = Op::BoolField;
      e.field = r.field;
      return e;
    }
    case Kind::Known: {
      Resolved r = resolve_path(item, node.kids[0], list);
      if (r.let) {
        error(item, node.kids[0], "E102",
              "known() takes a field, not `" + node.kids[0].kids[0].text + "`");
        return unknown_expr();
      }
      if (r.field < 0) return unknown_expr();
      e.op = Op::Known;
      e.field = r.field;
      return e;
    }
    case Kind::Any:
    case Kind::Count: {
      if (list >= 0) {
        error(item, node, "E109",
              "any() and count() cannot be nested inside another any() or count()");
        return unknown_expr();
      }
      Resolved r = resolve_path(item, node.kids[0], list);
      if (r.field < 0) {
        if (r.let)
          error(item, node.kids[0], "E102", "`" + path_text(node.kids[0]) + "` is not a list");
        return unknown_expr();
      }
      const Field& f = schema.fields[r.field];
      if (f.type != FieldType::List && f.type != FieldType::Codes) {
        error(item, node.kids[0], "E102",
              "`" + path_text(node.kids[0]) + "` is " + with_article(f.type) + ", not a list");
        return unknown_expr();
      }
      e.field = r.field;
      if (node.kind == Kind::Any) {
        e.op = Op::Any;
        e.kids.push_back(check_condition(item, node.kids[1], r.field, depth + 1));
        return e;
      }
      e.op = Op::Count;
      parse_cmp(node.text, e.cmp);
      std::size_t number_at = 1;
      if (node.kids.size() == 3) {
        e.kids.push_back(check_condition(item, node.kids[1], r.field, depth + 1));
        number_at = 2;
      }
      e.number = node.kids[number_at].number;
      return e;
    }
    case Kind::Compare:
    case Kind::InRange:
    case Kind::InSet:
    case Kind::Has: return check_test(item, node, list, std::move(e));
    default:
      error(item, node, "E102", "`" + e.text + "` is not a condition");
      return unknown_expr();
  }
}
std::string Checker::condense(std::string_view text) {
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  // Written through a pointer: every node of every condition is condensed, and a
  // push_back per character is a noticeable part of loading a large rule set.
  std::string out(text.size(), '\0');
  char* to = out.data();
  bool space = false;
  for (char c : text) {
    if (is_space(c)) {
      space = true;
      continue;
    }
    if (space) *to++ = ' ';
    space = false;
    *to++ = c;
  }
  out.resize(static_cast<std::size_t>(to - out.data()));
  return out;
}
std::string Checker::hint_for(const Field& f, const std::string& text) {
  switch (f.type) {
    case FieldType::Int:
    case FieldType::Number: return "compare it, e.g. `" + text + " >= 5`";
    case FieldType::Enum:
      return f.labels.empty() ? std::string()
                              : "compare it, e.g. `" + text + " == " + f.labels[0] + "`";
    case FieldType::EnumSet:
    case FieldType::Codes:
    case FieldType::List:
    case FieldType::Coding: return "test membership, e.g. `" + text + " has …`";
    default: return "test whether it is present with `known(" + text + ")`";
  }
}
Expr Checker::check_test(const Item& item, const Node& node, int list, Expr e) {
  const Node& path = node.kids[0];
  Resolved r = resolve_path(item, path, list);
  if (r.let) {
    error(item, path, "E102", "`" + path_text(path) + "` is a condition, not a field to compare");
    return unknown_expr();
  }
  if (r.field < 0) return unknown_expr();
  const Field& f = model_.schema.fields[r.field];
  e.field = r.field;
  std::string subject = "`" + path_text(path) + "` is " + with_article(f.type);
  bool numeric = f.type == FieldType::Int || f.type == FieldType::Number;
  if (node.kind == Kind::Compare) {
    const Node& value = node.kids[1];
    parse_cmp(node.text, e.cmp);
    bool equality = e.cmp == Cmp::Eq || e.cmp == Cmp::Ne;
    if (numeric) {
      if (value.kind != Kind::Number) {
        error(item, value, "E102",
              subject + "; compare it with a number, not `" +
                  item.file->slice(value.begin, value.end) + "`");
        return unknown_expr();
      }
      e.op = Op::NumCmp;
      e.number = value.number;
      return e;
    }
    if (f.type == FieldType::Bool) {
      if (value.kind != Kind::Bool || !equality) {
        error(item, value, "E102", subject + "; compare it with `== true` or `== false`");
        return unknown_expr();
      }
      Expr field;
      field.op = Op::BoolField;
      field.field = r.field;
      field.text = path_text(path);
      bool positive = (value.text == "true") == (e.cmp == Cmp::Eq);
      if (positive) {
        field.text = e.text;
        return field;
      }
      e.op = Op::Not;
      e.kids.push_back(std::move(field));
      return e;
    }
    if (f.type == FieldType::Enum || f.type == FieldType::Ident) {
      if (!equality) {
        error(item, node, "E102", subject + "; only `==` and `!=` apply");
        return unknown_expr();
      }
      if (value.kind != Kind::Name && !(value.kind == Kind::String && f.type == FieldType::Enum)) {
        error(item, value, "E102",
              subject + "; compare it with a name, not `" +
                  item.file->slice(value.begin, value.end) + "`");
        return unknown_expr();
      }
      int symbol = resolve_value(item, f, value);
      if (symbol < 0) return unknown_expr();
      e.op = Op::SymEq;
      e.symbols.push_back(symbol);
      return e;
    }
    error(item, node, "E102", subject + " and cannot be compared", hint_for(f, path_text(path)));
    return unknown_expr();
  }
  if (node.kind == Kind::InRange) {
    if (!numeric) {
      error(item, node, "E102", subject + "; ranges apply to numbers");
      return unknown_expr();
    }
    e.op = Op::NumRange;
    e.number = node.kids[1].number;
    e.has_hi = node.kids.size() > 2;
    if (e.has_hi) e.number2 = node.kids[2].number;
    return e;
  }
  const Node& set = node.kids[1];
  std::vector<const Node*> names;
  if (set.kind == Kind::NameSet)
    for (const Node& n : set.kids) names.push_back(&n);
  else
    names.push_back(&set);
  if (node.kind == Kind::InSet) {
    if (f.type != FieldType::Enum && f.type != FieldType::Ident) {
      error(item, node, "E102", subject + "; `in {…}` applies to enum and ident fields",
            hint_for(f, path_text(path)));
      return unknown_expr();
    }
    e.op = Op::SymIn;
  } else {
    if (f.type == FieldType::EnumSet)
      e.op = Op::SetHas;
    else if (f.type == FieldType::Codes || f.type == FieldType::Coding ||
             (f.type == FieldType::List && f.coding >= 0))
      e.op = Op::CodeHas;
    else {
      error(item, node, "E102", subject + "; `has` applies to sets, codes and coded lists",
            hint_for(f, path_text(path)));
      return unknown_expr();
    }
    e.all = node.text == "all";
  }
  bool ok = true;
  for (const Node* name : names) {
    int symbol = resolve_value(item, f, *name);
    if (symbol < 0)
      ok = false;
    else
      e.symbols.push_back(symbol);
  }
  if (!ok) return unknown_expr();
  return e;
}

}  // namespace stimrank::rules::checking
