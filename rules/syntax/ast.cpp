#include "ast.hpp"

#include <cstdio>

namespace stimrank::rules::ast {

const char* to_string(Kind kind) noexcept {
  switch (kind) {
    case Kind::File: return "file";
    case Kind::Ruleset: return "ruleset";
    case Kind::Include: return "include";
    case Kind::Source: return "source";
    case Kind::Scheme: return "scheme";
    case Kind::Dimension: return "dimension";
    case Kind::Label: return "label";
    case Kind::Facts: return "facts";
    case Kind::Field: return "field";
    case Kind::Type: return "type";
    case Kind::Concept: return "concept";
    case Kind::CodeList: return "codes";
    case Kind::Let: return "let";
    case Kind::Option: return "option";
    case Kind::OptionProperty: return "property";
    case Kind::Complication: return "complication";
    case Kind::Rule: return "rule";
    case Kind::RuleAttr: return "attr";
    case Kind::Grade: return "grade";
    case Kind::GradeValue: return "grade-value";
    case Kind::Policy: return "policy";
    case Kind::PolicyItem: return "policy-item";
    case Kind::RankKey: return "rank-key";
    case Kind::Name: return "name";
    case Kind::String: return "string";
    case Kind::Number: return "number";
    case Kind::Or: return "or";
    case Kind::And: return "and";
    case Kind::Not: return "not";
    case Kind::Bool: return "bool";
    case Kind::Known: return "known";
    case Kind::Any: return "any";
    case Kind::Count: return "count";
    case Kind::Path: return "path";
    case Kind::Compare: return "compare";
    case Kind::InRange: return "in-range";
    case Kind::InSet: return "in-set";
    case Kind::Has: return "has";
    case Kind::NameSet: return "set";
  }
  return "?";
}

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\t') {
      out += "\\t";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

namespace {

void dump_into(const Node& node, std::string& out, int indent) {
  out.append(static_cast<std::size_t>(indent) * 2, ' ');
  out += '(';
  out += to_string(node.kind);
  if (node.kind == Kind::Number) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, " %g", node.number);
    out += buffer;
  } else if (node.kind == Kind::String) {
    out += ' ' + quote(node.text);
  } else if (!node.text.empty()) {
    out += ' ' + node.text;
  }
  if (node.kind == Kind::Label) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, " %g", node.number);
    out += buffer;
  }
  bool leaves_only = true;
  for (const Node& kid : node.kids)
    if (!kid.kids.empty()) leaves_only = false;
  if (leaves_only && node.kids.size() <= 4) {
    for (const Node& kid : node.kids) {
      std::string inner;
      dump_into(kid, inner, 0);
      out += ' ' + inner;
    }
    out += ')';
    return;
  }
  for (const Node& kid : node.kids) {
    out += '\n';
    dump_into(kid, out, indent + 1);
  }
  out += ')';
}
}  // namespace

std::string dump(const Node& node) {
  std::string out;
  dump_into(node, out, 0);
  return out + "\n";
}

}  // namespace stimrank::rules::ast
