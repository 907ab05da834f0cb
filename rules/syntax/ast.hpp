// The parsed rule language as a homogeneous tree. Every node carries the byte span
// of the text it came from; the checker turns spans into file:line:column.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace stimrank::rules::ast {

enum class Kind : std::uint8_t {
  // declarations
  File,
  Ruleset,
  Include,
  Source,
  Scheme,
  Dimension,
  Label,
  Facts,
  Field,
  Type,
  Concept,
  CodeList,
  Let,
  Option,
  OptionProperty,
  Complication,
  Rule,
  RuleAttr,
  Grade,
  GradeValue,
  Policy,
  PolicyItem,
  RankKey,
  // leaves
  Name,
  String,
  Number,
  // expressions
  Or,
  And,
  Not,
  Bool,
  Known,
  Any,
  Count,
  Path,
  Compare,
  InRange,
  InSet,
  Has,
  NameSet
};

const char* to_string(Kind kind) noexcept;

struct Node {
  Kind kind = Kind::Name;
  std::string text;         // identifier, keyword variant, string contents or operator
  double number = 0;        // Number nodes
  std::uint32_t begin = 0;  // byte offsets into the file
  std::uint32_t end = 0;
  std::vector<Node> kids;

  Node() = default;
  Node(Kind k, std::string t = {}) : kind(k), text(std::move(t)) {}
};

// A string literal as the rule language writes it (escapes `"`, `\`, newline, tab).
std::string quote(const std::string& text);

// S-expression dump without locations: used by golden tests and `fmt` checks.
std::string dump(const Node& node);

}  // namespace stimrank::rules::ast
