// The checker's two passes over a rule set, and how it reports.
#include "checker.hpp"

#include <algorithm>
#include <cassert>
#include <filesystem>
#include <future>
#include <map>
#include <set>

#include "ascii.hpp"
#include "check.hpp"
#include "codes.hpp"

namespace stimrank::rules::checking {

std::string with_article(FieldType type) {
  std::string name = to_string(type);
  bool vowel =
      name[0] == 'a' || name[0] == 'e' || name[0] == 'i' || name[0] == 'o' || name[0] == 'u';
  return (vowel ? "an " : "a ") + name;
}

std::optional<Model> Checker::run(const std::vector<std::unique_ptr<SourceFile>>& files) {
  // The digest covers file contents and names relative to the rule set's folder,
  // so the same rule set has the same digest wherever it is checked out.
  std::filesystem::path base = files.empty()
                                   ? std::filesystem::path()
                                   : std::filesystem::path(files[0]->name()).parent_path();
  for (const auto& file : files)
    while (!base.empty() && file->name().rfind(base.string() + "/", 0) != 0)
      base = base.parent_path();
  for (const auto& file : files) {
    std::string relative =
        base.empty() ? file->name()
                     : std::filesystem::path(file->name()).lexically_relative(base).string();
    model_.files.emplace_back(relative, file->text());
    for (const Node& node : file->root.kids) items_.push_back({&node, file.get()});
  }
  // Hashed beside the checking (the first digest of a process also initialises
  // OpenSSL, a few milliseconds); inline if no thread can be started. The future
  // is destroyed (waiting for the hash) before the files it reads.
  std::future<std::string> digest;
  try {
    digest = std::async(std::launch::async, [this] { return ruleset_digest(model_.files); });
  } catch (const std::system_error&) {
    model_.digest = ruleset_digest(model_.files);
  }

  // Pass 1: declarations that others refer to, in dependency order.
  for (const Item& item : items_) {
    switch (item.node->kind) {
      case Kind::Ruleset: check_header(item); break;
      case Kind::Source: declare_source(item); break;
      case Kind::Scheme: declare_scheme(item); break;
      case Kind::Facts: check_facts(item); break;
      case Kind::Concept: declare_concept(item); break;
      case Kind::Option: declare_option(item); break;
      case Kind::Let: declare_let(item); break;
      case Kind::Policy: check_policy(item); break;
      default: break;
    }
  }
  for (const Item& item : items_)
    if (item.node->kind == Kind::Concept) resolve_includes(item);
  resolve_concept_members();
  if (policy_source_)
    model_.policy.source = resolve_source(policy_source_->first, *policy_source_->second);
  if (!have_header_) {
    diagnostics_.push_back(
        global_error("E110", "the rule set has no `ruleset` header",
                     "add `ruleset \"name\" version \"1.0\";` to one of the files"));
  }
  if (!have_facts_) {
    diagnostics_.push_back(global_error("E111", "the rule set declares no `facts` block",
                                        "declare the profile fields the rules read"));
  }
  if (!have_policy_) model_.policy.rank = default_rank();

  // Pass 2: rules (inside options and at top level).
  for (const Item& item : items_) {
    if (item.node->kind == Kind::Option) {
      int option = option_index_.at(item.node->kids[0].text);
      for (std::size_t i = 2; i < item.node->kids.size(); ++i) {
        const Node& member = item.node->kids[i];
        if (member.kind == Kind::Rule) check_rule({&member, item.file}, option);
      }
    } else if (item.node->kind == Kind::Rule) {
      check_rule(item, -1);
    } else if (item.node->kind == Kind::Let) {
      resolve_let(item.node->kids[0].text);
    }
  }
  if (model_.rules.size() > limits_.max_rules) {
    diagnostics_.push_back(global_error(
        "E113", "the rule set has " + std::to_string(model_.rules.size()) +
                    " rules, more than the limit of " + std::to_string(limits_.max_rules)));
  }
  warn_unused_sources();
  if (digest.valid()) model_.digest = digest.get();
  if (has_errors(diagnostics_)) return std::nullopt;
  return std::move(model_);
}

void Checker::error(const Item& item, const Node& at, std::string code, std::string message,
                    std::string hint) {
  assert(find_diagnostic_code(code) && find_diagnostic_code(code)->severity == Severity::error);
  diagnostics_.push_back(item.file->make(Severity::error, std::move(code), at.begin, at.end,
                                         std::move(message), std::move(hint)));
}
void Checker::warning(const Item& item, const Node& at, std::string code, std::string message,
                      std::string hint) {
  assert(find_diagnostic_code(code) && find_diagnostic_code(code)->severity == Severity::warning);
  Diagnostic d = item.file->make(Severity::warning, std::move(code), at.begin, at.end,
                                 std::move(message), std::move(hint));
  model_.warnings.push_back(d);
  diagnostics_.push_back(std::move(d));
}
Diagnostic Checker::global_error(std::string code, std::string message, std::string hint) {
  Diagnostic d;
  d.code = std::move(code);
  d.message = std::move(message);
  d.hint = std::move(hint);
  d.location.file = items_.empty() ? std::string() : items_.front().file->name();
  return d;
}
SourceLocation Checker::location(const Item& item, const Node& node) const {
  return item.file->locate(node.begin, node.end);
}

}  // namespace stimrank::rules::checking
