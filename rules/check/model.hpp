// The checked model: every name resolved, every expression typed. The engine
// compiles this (and only this) into an evaluation plan.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stimrank/diagnostic.hpp"

namespace stimrank::rules::model {

enum class FieldType {
  Bool,
  Int,
  Number,
  String,
  Ident,
  Enum,
  EnumSet,
  Codes,
  List,
  Coding,
  Object
};
const char* to_string(FieldType type) noexcept;

struct Field {
  std::string name;
  std::string path;  // JSON Pointer; inside a list, relative to the entry: "/response"
  FieldType type = FieldType::Bool;
  bool required = false;
  std::optional<double> min, max;
  std::vector<std::string> labels;   // Enum, EnumSet
  std::vector<std::string> systems;  // Codes, Coding
  std::vector<int> children;         // Object, List, Codes (entry fields)
  int parent = -1;
  int list = -1;    // the enclosing list field, for fields of list entries
  int slot = -1;    // scalar, list or entry-field slot: engine::lay_out_slots
  int coding = -1;  // List/Codes: the field holding each entry's coding
};

struct Schema {
  std::vector<Field> fields;
  std::vector<int> roots;  // top-level fields in declaration order
  int scalar_slots = 0;
  int list_slots = 0;
};

struct Code {
  std::string system;  // icd10 (also icd10cm), snomed, atc, rxnorm, local
  std::string code;    // normalised: upper case without dots for icd10/atc
};

struct Concept {
  std::string id, title;
  bool valueset = false;
  std::vector<Code> codes;
  std::vector<int> includes;  // other concepts whose members are members of this one
  // This concept and every concept it includes, directly or not (ascending).
  std::vector<int> members;
  // A finding known only when looked for (`assessed`): a list that does not name it
  // leaves it unknown unless it is recorded as absent ("present": false); with
  // `assessed when c`, only in profiles that have concept c (-1: in every profile).
  bool assessed = false;
  int assessed_when = -1;
  SourceLocation location;
};

struct Source {
  std::string id, citation, doi, url;
  std::vector<std::string> tags;
};

struct Scheme {
  struct Dimension {
    std::string name;
    std::vector<std::string> labels;
    std::vector<double> weights;
  };
  std::string id, title;
  std::vector<Dimension> dimensions;
};

struct Grade {
  int scheme = -1;
  std::vector<std::pair<int, int>> values;  // (dimension, label), in scheme order
  double weight = 0;
};

// "GRADE(direction for, line first)": a grade as the rule language writes it.
std::string grade_text(const std::vector<Scheme>& schemes, const Grade& grade);

enum class RuleKind {
  indication,
  absolute_contraindication,
  relative_contraindication,
  caution,
  prerequisite,
  research_only,
  not_indicated
};
const char* to_string(RuleKind kind) noexcept;

enum class Op : std::uint8_t {
  Const,  // truth
  And,
  Or,
  Not,
  BoolField,  // field
  NumCmp,     // field cmp number
  NumRange,   // field in number..number2 (has_lo/has_hi)
  SymEq,      // enum/ident field == symbols[0] (cmp Eq/Ne)
  SymIn,      // enum/ident field in symbols
  SetHas,     // enum-set field has any/all of symbols (label indices)
  CodeHas,    // list/codes/coding field has any/all of symbols (concept indices)
  Known,      // field present
  Any,        // any(list where kids[0])
  Count       // count(list [where kids[0]]) cmp number
};

enum class Cmp : std::uint8_t { Eq, Ne, Lt, Le, Gt, Ge };

enum class Truth : std::uint8_t { False, True, Unknown };

struct Expr {
  Op op = Op::Const;
  Cmp cmp = Cmp::Eq;
  Truth truth = Truth::True;  // Const
  bool all = false;           // SetHas/CodeHas: all instead of any
  bool has_lo = true, has_hi = true;
  int field = -1;
  double number = 0, number2 = 0;
  std::vector<int> symbols;
  std::vector<Expr> kids;
  std::string text;  // the source text, for explanations
};

struct Rule {
  std::string id;
  RuleKind kind = RuleKind::indication;
  std::vector<int> options;
  Expr condition;
  std::optional<Grade> grade;
  std::optional<double> weight;  // explicit indication weight
  double penalty = 0;            // relative contraindication
  int source = -1;
  std::vector<std::string> tags;  // verification tags
  bool unverified = false;
  // An indication for the patient's own condition (a guideline grade for FBSS, say),
  // as against a generic neuropathic-pain grade: the `specificity` ranking key.
  bool specific = false;
  std::string because;
  std::string label;  // what the recommendation is about
  SourceLocation location;
};

enum class Invasiveness { noninvasive, minimally_invasive, invasive };
const char* to_string(Invasiveness invasiveness) noexcept;

struct Complication {
  std::string text, rate;
  int source = -1;
  std::vector<std::string> tags;
};

struct Option {
  std::string id, title, family, protocol;
  Invasiveness invasiveness = Invasiveness::invasive;
  std::vector<std::string> notes;
  std::vector<std::pair<std::string, std::string>> details;  // e.g. ("levels", "C2-C7, …")
  std::vector<Complication> complications;
  SourceLocation location;
};

enum class RankKey { status, score, invasiveness, family, id, declared, specificity };

struct Policy {
  bool combine_sum = false;                    // combine several indications' weights: max or sum
  double recommend_min_weight = 0;             // below this, an indicated option is only `consider`
  bool unverified_consider = true;             // evidence that is all unverified → `consider`
  double unverified_weight = 1;                // factor on the weight of unverified indications
  std::vector<std::pair<RankKey, bool>> rank;  // key, descending
  int source = -1;                             // where the ranking order comes from
  std::string because;                         // why, in a sentence
};

struct Model {
  std::string name, version, digest;
  // Every rule file, by its name relative to the rule set's folder, in load order.
  std::vector<std::pair<std::string, std::string>> files;
  Schema schema;
  std::vector<Concept> concepts;
  std::vector<Source> sources;
  std::vector<Scheme> schemes;
  std::vector<Option> options;
  std::vector<Rule> rules;
  Policy policy;
  std::vector<Diagnostic> warnings;
};

}  // namespace stimrank::rules::model
