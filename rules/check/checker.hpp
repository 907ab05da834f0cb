// The semantic checker: a parsed rule set's declarations, names, types, policy and
// grades → the checked model. Internal to rules/check; one class whose parts live
// in checker_*.cpp by responsibility.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "diagnostic_codes.hpp"
#include "model.hpp"
#include "source_file.hpp"
#include "spelling.hpp"
#include "stimrank/limits.hpp"

namespace stimrank::rules::checking {

using ast::Kind;
using ast::Node;
using namespace model;

inline const std::vector<std::string> kCodeSystems = {"icd10cm", "icd10",  "snomed",
                                                      "atc",     "rxnorm", "local"};
inline const std::set<std::string> kTags = {"S", "SEED", "R", "2nd", "CONFLICT", "EXTRAP"};
inline const std::set<std::string> kUnverifiedTags = {"R", "2nd", "EXTRAP"};

struct Item {
  const Node* node;
  const SourceFile* file;
};

// "a number", "an enum", … for messages.
std::string with_article(FieldType type);

class Checker {
 public:
  Checker(std::vector<Diagnostic>& diagnostics, const Limits& limits)
      : diagnostics_(diagnostics), limits_(limits) {}

  std::optional<Model> run(const std::vector<std::unique_ptr<SourceFile>>& files);

 private:
  // ---------------------------------------------------------------- helpers
  void error(const Item& item, const Node& at, std::string code, std::string message,
             std::string hint = {});
  void warning(const Item& item, const Node& at, std::string code, std::string message,
               std::string hint = {});
  Diagnostic global_error(std::string code, std::string message, std::string hint = {});
  template <typename Map>
  bool declare(Map& map, const Item& item, const Node& name, int index, const char* what) {
    auto [it, inserted] = map.emplace(name.text, index);
    std::string key = std::string(what) + ":" + name.text;
    if (!inserted) {
      // Located only now: a large rule set declares thousands of names, once each.
      const auto& [file, first] = first_declared_[key];
      SourceLocation loc = file->locate(first->begin, first->end);
      error(item, name, "E101", std::string("duplicate ") + what + " `" + name.text + "`",
            "the first one is at " + loc.file + ":" + std::to_string(loc.line) + ":" +
                std::to_string(loc.column));
      return false;
    }
    first_declared_.emplace(std::move(key), std::pair{item.file, &name});
    return true;
  }
  // "did you mean `x`?" for a name that is none of `candidates` (the names, or a callable
  // making them only while hints are still given). The comparisons of a whole rule set
  // share one budget, as compilers stop correcting typos after a number of them: a file
  // of thousands of unknown names against thousands of declared ones is still checked in
  // bounded time, its later diagnostics without the hint.
  template <typename Candidates>
  std::string suggest(const std::string& word, Candidates&& candidates) {
    if (spelling_budget_ == 0) return {};
    if constexpr (std::is_invocable_v<Candidates>)
      return did_you_mean(word, candidates(), spelling_budget_);
    else
      return did_you_mean(word, candidates, spelling_budget_);
  }
  template <typename Map>
  static std::vector<std::string> keys(const Map& map) {
    std::vector<std::string> out;
    for (const auto& [key, value] : map) out.push_back(key);
    return out;
  }
  SourceLocation location(const Item& item, const Node& node) const;

  // ---------------------------------------------------------------- header, sources, schemes
  void check_header(const Item& item);

  std::vector<std::string> read_tags(const Item& item, const Node& attr);

  void declare_source(const Item& item);

  void declare_scheme(const Item& item);

  // ---------------------------------------------------------------- facts
  void check_facts(const Item& item);

  int add_field(const Item& item, const Node& decl, int parent, int list,
                const std::string& prefix);

  // ---------------------------------------------------------------- concepts
  void declare_concept(const Item& item);

  void resolve_includes(const Item& item);

  // E112 for concepts on a cycle of includes (then dropped), and Concept::members.
  void resolve_concept_members();

  // ---------------------------------------------------------------- options
  void declare_option(const Item& item);

  int resolve_source(const Item& item, const Node& name);

  // ---------------------------------------------------------------- policy
  static std::vector<std::pair<RankKey, bool>> default_rank();

  void check_policy(const Item& item);

  // ---------------------------------------------------------------- lets
  struct Let;
  void declare_let(const Item& item);

  // Returns the checked let, checking it on first use (cycles → E112).
  const Let* resolve_let(const std::string& name);
  // Counts `nodes` more parts that a let adds; false (after one E113) past the limit.
  bool count_let_nodes(const Item& item, const Node& at, std::size_t nodes);

  // ---------------------------------------------------------------- expressions
  struct Resolved {
    int field = -1;
    const Let* let = nullptr;
  };

  Resolved resolve_path(const Item& item, const Node& path, int list);

  static std::string path_text(const Node& path);

  static Expr unknown_expr();

  static bool parse_cmp(const std::string& text, Cmp& cmp);

  int symbol_index(const std::string& name) const;

  std::vector<std::string> symbol_names() const;

  // Resolves a value name against the field's domain (enum labels, concepts, symbols).
  int resolve_value(const Item& item, const Field& field, const Node& value);

  Expr check_condition(const Item& item, const Node& node, int list, int depth);

  // Source text as one line: runs of whitespace become one space, ends trimmed
  // (X3 leaves the whitespace skipped before a failed look-ahead inside the span).
  static std::string condense(std::string_view text);

  static std::string hint_for(const Field& f, const std::string& text);

  Expr check_test(const Item& item, const Node& node, int list, Expr e);

  // ---------------------------------------------------------------- rules
  void check_rule(const Item& item, int option);

  std::optional<Grade> check_grade(const Item& item, const Node& node);

  void warn_unused_sources();

  struct Let {
    Item item;
    int state;  // 0 unchecked, 1 being checked, 2 done
    Expr expr;
    int height = 0;         // of expr: how much deeper it makes a condition using it
    std::size_t nodes = 0;  // in expr: what writing it out in a condition adds
  };

  std::vector<Diagnostic>& diagnostics_;
  const Limits& limits_;
  Model model_;
  std::vector<Item> items_;
  std::unordered_map<std::string, int> source_index_, scheme_index_, concept_index_, option_index_,
      let_index_, rule_index_;
  // Where each name was first declared (the AST outlives the checker's run).
  std::unordered_map<std::string, std::pair<const SourceFile*, const Node*>> first_declared_;
  std::set<int> used_sources_;
  std::vector<Let> lets_;
  bool have_header_ = false, have_facts_ = false, have_policy_ = false;
  std::optional<std::pair<Item, const Node*>> policy_source_;  // the policy's `source`
  // Parts that writing lets out has added to the conditions so far (Limits::max_let_nodes:
  // lets defined in terms of each other twice over would otherwise double at each step).
  std::size_t let_nodes_ = 0;
  bool let_nodes_reported_ = false;
  // Edit-distance table cells left for "did you mean" hints (well under a second).
  std::size_t spelling_budget_ = 50'000'000;
};

}  // namespace stimrank::rules::checking
