// Semantic checks: names, duplicates, types, sources, cycles. AST → model.
#include "check.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <unordered_map>

#include "ascii.hpp"
#include "utf8.hpp"

namespace stimrank::rules {

using ast::Kind;
using ast::Node;
using namespace model;

const char* model::to_string(FieldType type) noexcept {
  switch (type) {
    case FieldType::Bool: return "bool";
    case FieldType::Int: return "int";
    case FieldType::Number: return "number";
    case FieldType::String: return "string";
    case FieldType::Ident: return "ident";
    case FieldType::Enum: return "enum";
    case FieldType::EnumSet: return "set of enum";
    case FieldType::Codes: return "codes";
    case FieldType::List: return "list";
    case FieldType::Coding: return "coding";
    case FieldType::Object: return "object";
  }
  return "?";
}

namespace {
// "a bool", "an int": for messages that name a field's type.
std::string with_article(FieldType type) {
  std::string name = to_string(type);
  bool vowel =
      name[0] == 'a' || name[0] == 'e' || name[0] == 'i' || name[0] == 'o' || name[0] == 'u';
  return (vowel ? "an " : "a ") + name;
}
}  // namespace

const char* model::to_string(RuleKind kind) noexcept {
  switch (kind) {
    case RuleKind::indication: return "indication";
    case RuleKind::absolute_contraindication: return "absolute_contraindication";
    case RuleKind::relative_contraindication: return "relative_contraindication";
    case RuleKind::caution: return "caution";
    case RuleKind::prerequisite: return "prerequisite";
    case RuleKind::research_only: return "research_only";
    case RuleKind::not_indicated: return "not_indicated";
  }
  return "?";
}

std::string model::grade_text(const std::vector<Scheme>& schemes, const Grade& grade) {
  const Scheme& scheme = schemes[static_cast<std::size_t>(grade.scheme)];
  std::string out = scheme.id + "(";
  for (std::size_t i = 0; i < grade.values.size(); ++i) {
    const auto& dim = scheme.dimensions[static_cast<std::size_t>(grade.values[i].first)];
    out += (i ? ", " : "") + dim.name + " " +
           dim.labels[static_cast<std::size_t>(grade.values[i].second)];
  }
  return out + ")";
}

const char* model::to_string(Invasiveness invasiveness) noexcept {
  switch (invasiveness) {
    case Invasiveness::noninvasive: return "noninvasive";
    case Invasiveness::minimally_invasive: return "minimally_invasive";
    case Invasiveness::invasive: return "invasive";
  }
  return "?";
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    std::vector<std::size_t> row(candidate.size() + 1);
    for (std::size_t j = 0; j <= candidate.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= word.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= candidate.size(); ++j) {
        std::size_t above = row[j];
        row[j] = std::min(
            {row[j] + 1, row[j - 1] + 1, diagonal + (word[i - 1] == candidate[j - 1] ? 0u : 1u)});
        diagonal = above;
      }
    }
    if (row[candidate.size()] < best_distance) {
      best_distance = row[candidate.size()];
      best = candidate;
    }
  }
  return best;
}

namespace {

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best = closest_match(word, candidates);
  return best.empty() ? std::string() : "did you mean `" + best + "`?";
}

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

bool hierarchical(std::string_view system) {
  return system == "icd10" || system == "atc";
}

}  // namespace

// Codes are compared in one normal form: ICD-10 and ICD-10-CM share one namespace,
// and hierarchical systems drop dots and case so that prefixes line up. Appends
// "system|CODE" to `key`; returns whether the system is hierarchical.
bool append_code_key(std::string_view system, std::string_view code, std::string& key);
bool append_code_key(std::string_view system, std::string_view code, std::string& key) {
  std::string_view normal_system = system == "icd10cm" ? std::string_view("icd10") : system;
  const bool tree = hierarchical(normal_system);
  key += normal_system;
  key += '|';
  for (char c : code) {
    if (ascii::is_space(c)) continue;
    if (tree) {
      if (c == '.') continue;
      key += ascii::to_upper(c);
    } else {
      key += c;
    }
  }
  return tree;
}

Code normalise_code(const std::string& system, const std::string& code);
Code normalise_code(const std::string& system, const std::string& code) {
  std::string key;
  append_code_key(system, code, key);
  std::size_t bar = key.find('|');
  return Code{key.substr(0, bar), key.substr(bar + 1)};
}

namespace {

const std::vector<std::string> kCodeSystems = {"icd10cm", "icd10",  "snomed",
                                               "atc",     "rxnorm", "local"};
const std::set<std::string> kTags = {"S", "SEED", "R", "2nd", "CONFLICT", "EXTRAP"};
const std::set<std::string> kUnverifiedTags = {"R", "2nd", "EXTRAP"};

struct Item {
  const Node* node;
  const SourceFile* file;
};

class Checker {
 public:
  Checker(std::vector<Diagnostic>& diagnostics, const Limits& limits)
      : diagnostics_(diagnostics), limits_(limits) {}

  std::optional<Model> run(const std::vector<std::unique_ptr<SourceFile>>& files) {
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
    check_concept_cycles();
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
    assign_slots();
    if (digest.valid()) model_.digest = digest.get();
    if (has_errors(diagnostics_)) return std::nullopt;
    return std::move(model_);
  }

 private:
  // ---------------------------------------------------------------- helpers
  void error(const Item& item, const Node& at, std::string code, std::string message,
             std::string hint = {}) {
    diagnostics_.push_back(item.file->make(Severity::error, std::move(code), at.begin, at.end,
                                           std::move(message), std::move(hint)));
  }
  void warning(const Item& item, const Node& at, std::string code, std::string message,
               std::string hint = {}) {
    Diagnostic d = item.file->make(Severity::warning, std::move(code), at.begin, at.end,
                                   std::move(message), std::move(hint));
    model_.warnings.push_back(d);
    diagnostics_.push_back(std::move(d));
  }
  Diagnostic global_error(std::string code, std::string message, std::string hint = {}) {
    Diagnostic d;
    d.code = std::move(code);
    d.message = std::move(message);
    d.hint = std::move(hint);
    d.location.file = items_.empty() ? std::string() : items_.front().file->name();
    return d;
  }
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
  template <typename Map>
  static std::vector<std::string> keys(const Map& map) {
    std::vector<std::string> out;
    for (const auto& [key, value] : map) out.push_back(key);
    return out;
  }
  SourceLocation location(const Item& item, const Node& node) const {
    return item.file->locate(node.begin, node.end);
  }

  // ---------------------------------------------------------------- header, sources, schemes
  void check_header(const Item& item) {
    if (have_header_) {
      error(item, *item.node, "E101", "duplicate `ruleset` header",
            "a rule set has one header, in any one of its files");
      return;
    }
    have_header_ = true;
    model_.name = item.node->kids[0].text;
    model_.version = item.node->kids[1].text;
    if (model_.name.empty()) error(item, item.node->kids[0], "E104", "the rule-set name is empty");
  }

  std::vector<std::string> read_tags(const Item& item, const Node& attr) {
    std::vector<std::string> tags;
    for (const Node& tag : attr.kids) {
      if (!kTags.count(tag.text)) {
        error(item, tag, "E108", "unknown verification tag `" + tag.text + "`",
              "use S, SEED, R, 2nd, CONFLICT or EXTRAP");
        continue;
      }
      if (std::find(tags.begin(), tags.end(), tag.text) == tags.end()) tags.push_back(tag.text);
    }
    return tags;
  }

  void declare_source(const Item& item) {
    const Node& n = *item.node;
    if (!declare(source_index_, item, n.kids[0], static_cast<int>(model_.sources.size()), "source"))
      return;
    Source source;
    source.id = n.kids[0].text;
    source.citation = n.kids[1].text;
    std::set<std::string> seen;
    for (std::size_t i = 2; i < n.kids.size(); ++i) {
      const Node& attr = n.kids[i];
      if (!seen.insert(attr.text).second) {
        error(item, attr, "E107",
              "`" + attr.text + "` is given twice for source `" + source.id + "`");
        continue;
      }
      if (attr.text == "doi")
        source.doi = attr.kids[0].text;
      else if (attr.text == "url")
        source.url = attr.kids[0].text;
      else if (attr.text == "tag")
        source.tags = read_tags(item, attr);
      else
        error(item, attr, "E115", "`" + attr.text + "` does not apply to a source");
    }
    if (source.doi.empty() && source.url.empty())
      warning(item, n.kids[0], "W203", "source `" + source.id + "` has neither a doi nor a url",
              "a recommendation must trace to a DOI or an address");
    model_.sources.push_back(std::move(source));
  }

  void declare_scheme(const Item& item) {
    const Node& n = *item.node;
    if (!declare(scheme_index_, item, n.kids[0], static_cast<int>(model_.schemes.size()), "scheme"))
      return;
    Scheme scheme;
    scheme.id = n.kids[0].text;
    scheme.title = n.kids[1].text;
    std::set<std::string> dims;
    for (std::size_t i = 2; i < n.kids.size(); ++i) {
      const Node& d = n.kids[i];
      if (!dims.insert(d.text).second) {
        error(item, d, "E101",
              "duplicate dimension `" + d.text + "` in scheme `" + scheme.id + "`");
        continue;
      }
      Scheme::Dimension dim;
      dim.name = d.text;
      for (const Node& label : d.kids) {
        if (std::find(dim.labels.begin(), dim.labels.end(), label.text) != dim.labels.end()) {
          error(item, label, "E101",
                "duplicate value `" + label.text + "` in dimension `" + d.text + "`");
          continue;
        }
        dim.labels.push_back(label.text);
        dim.weights.push_back(label.number);
      }
      scheme.dimensions.push_back(std::move(dim));
    }
    model_.schemes.push_back(std::move(scheme));
  }

  // ---------------------------------------------------------------- facts
  void check_facts(const Item& item) {
    if (have_facts_) {
      error(item, *item.node, "E101", "duplicate `facts` block", "declare all fields in one block");
      return;
    }
    have_facts_ = true;
    std::set<std::string> names;
    for (const Node& field : item.node->kids) {
      if (field.text == "id") {
        error(item, field, "E109", "`id` is built in: every profile has a required string `id`");
        continue;
      }
      if (!names.insert(field.text).second) {
        error(item, field, "E101", "duplicate field `" + field.text + "`");
        continue;
      }
      int index = add_field(item, field, -1, -1, "");
      if (index >= 0) model_.schema.roots.push_back(index);
    }
  }

  int add_field(const Item& item, const Node& decl, int parent, int list,
                const std::string& prefix) {
    Schema& schema = model_.schema;
    int index = static_cast<int>(schema.fields.size());
    schema.fields.emplace_back();
    {
      Field& f = schema.fields.back();
      f.name = decl.text;
      f.path = prefix + "/" + decl.text;
      f.parent = parent;
      f.list = list;
    }
    bool nested_object = decl.kids.empty() || decl.kids[0].kind == Kind::Field;
    if (nested_object) {
      schema.fields[index].type = FieldType::Object;
      std::set<std::string> names;
      std::vector<int> children;
      for (const Node& child : decl.kids) {
        if (!names.insert(child.text).second) {
          error(item, child, "E101", "duplicate field `" + child.text + "`");
          continue;
        }
        std::string prefix_copy = schema.fields[index].path;  // add_field grows the vector
        int c = add_field(item, child, index, list, prefix_copy);
        if (c >= 0) children.push_back(c);
      }
      schema.fields[index].children = std::move(children);
      return index;
    }
    const Node& type = decl.kids[0];
    bool required = decl.kids.size() > 1;
    schema.fields[index].required = required;
    const std::string& t = type.text;
    auto set_range = [&](Field& f) {
      if (type.kids.size() >= 1) f.min = type.kids[0].number;
      if (type.kids.size() >= 2) f.max = type.kids[1].number;
      if (f.min && f.max && *f.min > *f.max)
        error(item, type, "E114", "the range of `" + f.name + "` is empty");
    };
    auto read_labels = [&](const Node& set, std::vector<std::string>& out) {
      for (const Node& label : set.kids) {
        if (std::find(out.begin(), out.end(), label.text) != out.end())
          error(item, label, "E101", "duplicate value `" + label.text + "`");
        else
          out.push_back(label.text);
      }
    };
    auto read_systems = [&](const Node& set, std::vector<std::string>& out) {
      for (const Node& system : set.kids) {
        if (std::find(kCodeSystems.begin(), kCodeSystems.end(), system.text) == kCodeSystems.end())
          error(item, system, "E104", "unknown code system `" + system.text + "`",
                "use icd10cm, icd10, snomed, atc, rxnorm or local");
        else
          out.push_back(system.text);
      }
    };
    if (t == "bool")
      schema.fields[index].type = FieldType::Bool;
    else if (t == "string")
      schema.fields[index].type = FieldType::String;
    else if (t == "ident")
      schema.fields[index].type = FieldType::Ident;
    else if (t == "int" || t == "number") {
      schema.fields[index].type = t == "int" ? FieldType::Int : FieldType::Number;
      set_range(schema.fields[index]);
    } else if (t == "enum" || t == "set") {
      schema.fields[index].type = t == "enum" ? FieldType::Enum : FieldType::EnumSet;
      std::vector<std::string> labels;
      read_labels(type.kids[0], labels);
      if (t == "set" && labels.size() > 64)
        error(item, type, "E113", "a set field may have at most 64 values");
      schema.fields[index].labels = std::move(labels);
    } else if (t == "coding") {
      schema.fields[index].type = FieldType::Coding;
      schema.fields[index].path = "/code";  // its JSON keys are system, code, name, display
      if (list < 0) {
        error(item, decl, "E109", "a `coding` field belongs inside a `list` entry");
      } else if (schema.fields[list].coding >= 0) {
        error(item, decl, "E101", "a list entry has at most one `coding` field");
      } else {
        schema.fields[list].coding = index;
      }
      std::vector<std::string> systems;
      read_systems(type.kids[0], systems);
      schema.fields[index].systems = std::move(systems);
    } else if (t == "codes" || t == "list") {
      if (list >= 0) {
        error(item, decl, "E109", "lists cannot be nested inside list entries");
        return -1;
      }
      schema.fields[index].type = t == "codes" ? FieldType::Codes : FieldType::List;
      std::vector<int> children;
      std::set<std::string> names;
      std::size_t first_child = 0;
      if (t == "codes") {
        std::vector<std::string> systems;
        read_systems(type.kids[0], systems);
        int coding = static_cast<int>(schema.fields.size());
        schema.fields.emplace_back();
        Field& c = schema.fields.back();
        c.name = "code";
        c.path = "/code";
        c.type = FieldType::Coding;
        c.parent = index;
        c.list = index;
        c.systems = std::move(systems);
        schema.fields[index].coding = coding;
        children.push_back(coding);
        names.insert("code");
        first_child = 1;
      }
      for (std::size_t i = first_child; i < type.kids.size(); ++i) {
        const Node& child = type.kids[i];
        if (!names.insert(child.text).second) {
          error(item, child, "E101", "duplicate field `" + child.text + "`");
          continue;
        }
        int c = add_field(item, child, index, index, "");
        if (c >= 0) children.push_back(c);
      }
      schema.fields[index].children = std::move(children);
    }
    return index;
  }

  // Storage layout for the engine: scalars and lists outside lists get slots in the
  // profile's flat vectors; fields of list entries get slots in each entry.
  void assign_slots() {
    Schema& schema = model_.schema;
    std::vector<int> entry_slots(schema.fields.size(), 0);
    for (Field& field : schema.fields) {
      if (field.type == FieldType::Object) continue;
      if (field.type == FieldType::Codes || field.type == FieldType::List)
        field.slot = schema.list_slots++;
      else if (field.list >= 0)
        field.slot = field.type == FieldType::Coding ? -1 : entry_slots[field.list]++;
      else
        field.slot = schema.scalar_slots++;
    }
  }

  // ---------------------------------------------------------------- concepts
  void declare_concept(const Item& item) {
    const Node& n = *item.node;
    if (!declare(concept_index_, item, n.kids[0], static_cast<int>(model_.concepts.size()),
                 "concept"))
      return;
    Concept entry;
    entry.valueset = n.text == "valueset";
    entry.id = n.kids[0].text;
    entry.title = n.kids[1].text;
    entry.location = location(item, n.kids[0]);
    for (std::size_t i = 2; i < n.kids.size(); ++i) {
      const Node& list = n.kids[i];
      if (list.text == "includes") continue;  // resolved once every concept is declared
      for (const Node& code : list.kids) {
        if (code.text.empty()) {
          error(item, code, "E104", "empty code");
          continue;
        }
        if (list.text == "local" && code.kind != Kind::Name) {
          error(item, code, "E104", "local ids are names like `pregabalin`, not strings");
          continue;
        }
        if (list.text != "local" && code.kind != Kind::String) {
          error(item, code, "E104",
                "write " + list.text + " codes as strings, e.g. `\"" + code.text + "\"`");
          continue;
        }
        entry.codes.push_back(normalise_code(list.text, code.text));
      }
    }
    model_.concepts.push_back(std::move(entry));
  }

  void resolve_includes(const Item& item) {
    const Node& n = *item.node;
    auto it = concept_index_.find(n.kids[0].text);
    if (it == concept_index_.end()) return;
    Concept& entry = model_.concepts[it->second];
    if (entry.location.line != location(item, n.kids[0]).line ||
        entry.location.file != item.file->name())
      return;  // a duplicate declaration, already reported
    for (std::size_t i = 2; i < n.kids.size(); ++i) {
      const Node& list = n.kids[i];
      if (list.text != "includes") continue;
      for (const Node& name : list.kids) {
        auto found = concept_index_.find(name.text);
        if (found == concept_index_.end()) {
          error(item, name, "E100", "undefined concept `" + name.text + "`",
                did_you_mean(name.text, keys(concept_index_)));
          continue;
        }
        entry.includes.push_back(found->second);
      }
    }
  }

  void check_concept_cycles() {
    std::vector<int> state(model_.concepts.size(), 0);
    std::function<bool(int)> visit = [&](int c) {
      if (state[c] == 1) return false;
      if (state[c] == 2) return true;
      state[c] = 1;
      for (int included : model_.concepts[c].includes)
        if (!visit(included)) {
          state[c] = 2;
          return false;
        }
      state[c] = 2;
      return true;
    };
    for (std::size_t c = 0; c < model_.concepts.size(); ++c) {
      std::fill(state.begin(), state.end(), 0);
      if (!visit(static_cast<int>(c))) {
        Diagnostic d;
        d.code = "E112";
        d.location = model_.concepts[c].location;
        d.message = "concept `" + model_.concepts[c].id + "` includes itself through `includes`";
        diagnostics_.push_back(d);
        model_.concepts[c].includes.clear();
      }
    }
  }

  // ---------------------------------------------------------------- options
  void declare_option(const Item& item) {
    const Node& n = *item.node;
    if (!declare(option_index_, item, n.kids[0], static_cast<int>(model_.options.size()), "option"))
      return;
    Option option;
    option.id = n.kids[0].text;
    option.title = n.kids[1].text;
    option.location = location(item, n.kids[0]);
    std::set<std::string> seen;
    bool have_invasiveness = false;
    for (std::size_t i = 2; i < n.kids.size(); ++i) {
      const Node& member = n.kids[i];
      if (member.kind == Kind::OptionProperty) {
        if (member.text == "detail") {
          const std::string& key = member.kids[0].text;
          if (!seen.insert("detail:" + key).second)
            error(item, member.kids[0], "E107",
                  "detail `" + key + "` is given twice for option `" + option.id + "`");
          else
            option.details.emplace_back(key, member.kids[1].text);
          continue;
        }
        if (member.text != "note" && !seen.insert(member.text).second) {
          error(item, member, "E107",
                "`" + member.text + "` is given twice for option `" + option.id + "`");
          continue;
        }
        const std::string& value = member.kids[0].text;
        if (member.text == "family")
          option.family = value;
        else if (member.text == "protocol")
          option.protocol = value;
        else if (member.text == "note")
          option.notes.push_back(value);
        else if (member.text == "invasiveness") {
          have_invasiveness = true;
          if (value == "noninvasive")
            option.invasiveness = Invasiveness::noninvasive;
          else if (value == "minimally_invasive")
            option.invasiveness = Invasiveness::minimally_invasive;
          else if (value == "invasive")
            option.invasiveness = Invasiveness::invasive;
          else
            error(item, member.kids[0], "E104", "unknown invasiveness `" + value + "`",
                  "use noninvasive, minimally_invasive or invasive");
        }
      } else if (member.kind == Kind::Complication) {
        Complication complication;
        complication.text = member.kids[0].text;
        for (std::size_t k = 1; k < member.kids.size(); ++k) {
          const Node& attr = member.kids[k];
          if (attr.text == "rate")
            complication.rate = attr.kids[0].text;
          else if (attr.text == "source")
            complication.source = resolve_source(item, attr.kids[0]);
          else if (attr.text == "tag")
            complication.tags = read_tags(item, attr);
          else
            error(item, attr, "E115", "`" + attr.text + "` does not apply to a complication");
        }
        option.complications.push_back(std::move(complication));
      }
    }
    if (!have_invasiveness)
      error(item, n.kids[0], "E106", "option `" + option.id + "` has no `invasiveness`",
            "add `invasiveness noninvasive;` (or minimally_invasive, invasive)");
    model_.options.push_back(std::move(option));
  }

  int resolve_source(const Item& item, const Node& name) {
    auto it = source_index_.find(name.text);
    if (it == source_index_.end()) {
      error(item, name, "E100", "undefined source `" + name.text + "`",
            did_you_mean(name.text, keys(source_index_)));
      return -1;
    }
    used_sources_.insert(it->second);
    return it->second;
  }

  // ---------------------------------------------------------------- policy
  static std::vector<std::pair<RankKey, bool>> default_rank() {
    return {{RankKey::status, false},
            {RankKey::score, true},
            {RankKey::invasiveness, false},
            {RankKey::id, false}};
  }

  void check_policy(const Item& item) {
    if (have_policy_) {
      error(item, *item.node, "E101", "duplicate `policy` block");
      return;
    }
    have_policy_ = true;
    Policy& policy = model_.policy;
    std::set<std::string> seen;
    for (const Node& setting : item.node->kids) {
      if (!seen.insert(setting.text).second) {
        error(item, setting, "E107", "`" + setting.text + "` is set twice in the policy");
        continue;
      }
      const Node& value = setting.kids[0];
      if (setting.text == "combine") {
        if (value.text == "sum")
          policy.combine_sum = true;
        else if (value.text != "max")
          error(item, value, "E104", "unknown combination `" + value.text + "`", "use max or sum");
      } else if (setting.text == "unverified_evidence") {
        if (value.text == "accept")
          policy.unverified_consider = false;
        else if (value.text != "consider")
          error(item, value, "E104", "unknown setting `" + value.text + "`",
                "use consider or accept");
      } else if (setting.text == "recommend_min_weight") {
        policy.recommend_min_weight = value.number;
      } else if (setting.text == "unverified_weight") {
        if (value.number < 0 || value.number > 1)
          error(item, value, "E104", "`unverified_weight` is a factor from 0 to 1");
        else
          policy.unverified_weight = value.number;
      } else if (setting.text == "rank") {
        static const std::map<std::string, RankKey> names = {
            {"status", RankKey::status},
            {"score", RankKey::score},
            {"invasiveness", RankKey::invasiveness},
            {"family", RankKey::family},
            {"id", RankKey::id},
            {"declared", RankKey::declared}};
        std::set<std::string> used;
        for (const Node& key : setting.kids) {
          auto it = names.find(key.text);
          if (it == names.end()) {
            error(item, key, "E104", "unknown ranking key `" + key.text + "`",
                  "use status, score, invasiveness, family, id or declared");
            continue;
          }
          if (!used.insert(key.text).second) {
            error(item, key, "E107", "ranking key `" + key.text + "` is used twice");
            continue;
          }
          bool descending = it->second == RankKey::score;
          if (!key.kids.empty()) descending = key.kids[0].text == "desc";
          policy.rank.emplace_back(it->second, descending);
        }
      }
    }
    if (policy.rank.empty()) policy.rank = default_rank();
  }

  // ---------------------------------------------------------------- lets
  void declare_let(const Item& item) {
    const Node& n = *item.node;
    if (!declare(let_index_, item, n.kids[0], static_cast<int>(lets_.size()), "let")) return;
    lets_.push_back({item, 0, {}});
  }

  // Returns the checked expression of a let, checking it on first use (cycles → E112).
  const Expr* resolve_let(const std::string& name) {
    auto it = let_index_.find(name);
    if (it == let_index_.end()) return nullptr;
    Let& let = lets_[it->second];
    if (let.state == 2) return &let.expr;
    if (let.state == 1) {
      error(let.item, let.item.node->kids[0], "E112",
            "`" + name + "` is defined in terms of itself");
      let.state = 2;
      let.expr = Expr{};
      let.expr.truth = Truth::Unknown;
      return &let.expr;
    }
    let.state = 1;
    Expr expr = check_condition(let.item, let.item.node->kids[1], -1, 0);
    Let& again = lets_[it->second];  // check_condition may have grown lets_? (no) keep safe
    if (again.state == 1) {
      again.expr = std::move(expr);
      again.state = 2;
    }
    return &again.expr;
  }

  // ---------------------------------------------------------------- expressions
  struct Resolved {
    int field = -1;
    const Expr* let = nullptr;
  };

  Resolved resolve_path(const Item& item, const Node& path, int list) {
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
        if (const Expr* let = resolve_let(first)) return {-1, let};
      }
      std::vector<std::string> names = keys(let_index_);
      for (int r : schema.roots) names.push_back(schema.fields[r].name);
      for (int c : level) names.push_back(schema.fields[c].name);
      error(item, path.kids[0], "E100", "undefined name `" + first + "`",
            did_you_mean(first, names));
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
        error(item, path.kids[i], "E100",
              "`" + f.name + "` has no field `" + path.kids[i].text + "`",
              did_you_mean(path.kids[i].text, names));
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

  static std::string path_text(const Node& path) {
    std::string out;
    for (const Node& part : path.kids) out += (out.empty() ? "" : ".") + part.text;
    return out;
  }

  static Expr unknown_expr() {
    Expr e;
    e.op = Op::Const;
    e.truth = Truth::Unknown;
    return e;
  }

  static bool parse_cmp(const std::string& text, Cmp& cmp) {
    static const std::map<std::string, Cmp> ops = {{"==", Cmp::Eq}, {"!=", Cmp::Ne},
                                                   {"<", Cmp::Lt},  {"<=", Cmp::Le},
                                                   {">", Cmp::Gt},  {">=", Cmp::Ge}};
    auto it = ops.find(text);
    if (it == ops.end()) return false;
    cmp = it->second;
    return true;
  }

  int symbol_index(const std::string& name) const {
    auto option = option_index_.find(name);
    if (option != option_index_.end()) return option->second;
    auto found_concept = concept_index_.find(name);
    if (found_concept != concept_index_.end())
      return static_cast<int>(model_.options.size()) + found_concept->second;
    return -1;
  }

  std::vector<std::string> symbol_names() const {
    std::vector<std::string> out = keys(option_index_);
    for (const auto& [name, index] : concept_index_) out.push_back(name);
    return out;
  }

  // Resolves a value name against the field's domain (enum labels, concepts, symbols).
  int resolve_value(const Item& item, const Field& field, const Node& value) {
    if (field.type == FieldType::Enum || field.type == FieldType::EnumSet) {
      auto it = std::find(field.labels.begin(), field.labels.end(), value.text);
      if (it == field.labels.end()) {
        std::string all;
        for (const std::string& l : field.labels) all += (all.empty() ? "" : ", ") + l;
        error(item, value, "E104", "`" + value.text + "` is not a value of `" + field.name + "`",
              did_you_mean(value.text, field.labels).empty()
                  ? "the values are: " + all
                  : did_you_mean(value.text, field.labels));
        return -1;
      }
      return static_cast<int>(it - field.labels.begin());
    }
    if (field.type == FieldType::Ident) {
      int symbol = symbol_index(value.text);
      if (symbol < 0)
        error(item, value, "E100", "undefined option or concept `" + value.text + "`",
              did_you_mean(value.text, symbol_names()));
      return symbol;
    }
    // codes, list, coding: concepts and value sets
    auto it = concept_index_.find(value.text);
    if (it == concept_index_.end()) {
      error(item, value, "E100", "undefined concept `" + value.text + "`",
            did_you_mean(value.text, keys(concept_index_)));
      return -1;
    }
    return it->second;
  }

  Expr check_condition(const Item& item, const Node& node, int list, int depth) {
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
          Expr inlined = *r.let;
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

  // Source text as one line: runs of whitespace become one space, ends trimmed
  // (X3 leaves the whitespace skipped before a failed look-ahead inside the span).
  static std::string condense(std::string_view text) {
    auto is_space = [](char c) {
      return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    };
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    // Written through a pointer: every node of every condition is condensed, and
    // a push_back per character was 6% of loading a 3,000-rule set.
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

  static std::string hint_for(const Field& f, const std::string& text) {
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

  Expr check_test(const Item& item, const Node& node, int list, Expr e) {
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
        if (value.kind != Kind::Name &&
            !(value.kind == Kind::String && f.type == FieldType::Enum)) {
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

  // ---------------------------------------------------------------- rules
  void check_rule(const Item& item, int option) {
    const Node& n = *item.node;
    Rule rule;
    rule.id = n.kids[0].text;
    rule.location = location(item, n.kids[0]);
    static const std::map<std::string, RuleKind> kinds = {
        {"indication", RuleKind::indication},
        {"absolute_contraindication", RuleKind::absolute_contraindication},
        {"relative_contraindication", RuleKind::relative_contraindication},
        {"caution", RuleKind::caution},
        {"prerequisite", RuleKind::prerequisite},
        {"research_only", RuleKind::research_only},
        {"not_indicated", RuleKind::not_indicated}};
    rule.kind = kinds.at(n.text);
    bool declared =
        declare(rule_index_, item, n.kids[0], static_cast<int>(model_.rules.size()), "rule");
    std::size_t next = 1;
    if (n.kids.size() > 1 && n.kids[1].kind == Kind::NameSet) {
      const Node& set = n.kids[1];
      next = 2;
      if (option >= 0) {
        error(
            item, set, "E109",
            "a rule inside an option applies to that option; `for {…}` belongs to top-level rules");
      } else {
        for (const Node& name : set.kids) {
          auto it = option_index_.find(name.text);
          if (it == option_index_.end()) {
            error(item, name, "E100", "undefined option `" + name.text + "`",
                  did_you_mean(name.text, keys(option_index_)));
            continue;
          }
          if (std::find(rule.options.begin(), rule.options.end(), it->second) == rule.options.end())
            rule.options.push_back(it->second);
        }
      }
    } else if (option < 0) {
      error(item, n.kids[0], "E109", "top-level rule `" + rule.id + "` names no options",
            "write `" + std::string(n.text) + " " + rule.id +
                " for {option_a, option_b} when …`, or move it into an option");
    }
    if (option >= 0) rule.options.push_back(option);
    rule.condition = check_condition(item, n.kids[next], -1, 0);
    std::set<std::string> seen;
    for (std::size_t i = next + 1; i < n.kids.size(); ++i) {
      const Node& attr = n.kids[i];
      if (!seen.insert(attr.text).second) {
        error(item, attr, "E107", "`" + attr.text + "` is given twice for rule `" + rule.id + "`");
        continue;
      }
      const std::string& a = attr.text;
      if (a == "source")
        rule.source = resolve_source(item, attr.kids[0]);
      else if (a == "because")
        rule.because = attr.kids[0].text;
      else if (a == "label")
        rule.label = attr.kids[0].text;
      else if (a == "tag")
        rule.tags = read_tags(item, attr);
      else if (a == "unverified")
        rule.unverified = true;
      else if (a == "grade") {
        if (rule.kind != RuleKind::indication)
          error(item, attr, "E115", "only indications carry a grade");
        else
          rule.grade = check_grade(item, attr.kids[0]);
      } else if (a == "weight") {
        if (rule.kind != RuleKind::indication)
          error(item, attr, "E115", "only indications carry a weight",
                "relative contraindications take a `penalty`");
        else
          rule.weight = attr.kids[0].number;
      } else if (a == "penalty") {
        if (rule.kind != RuleKind::relative_contraindication)
          error(item, attr, "E115", "only relative contraindications carry a penalty");
        else
          rule.penalty = attr.kids[0].number;
      }
    }
    for (const std::string& tag : rule.tags)
      if (kUnverifiedTags.count(tag)) rule.unverified = true;
    if (rule.source < 0 && !seen.count("source"))
      error(item, n.kids[0], "E103", "rule `" + rule.id + "` has no source",
            "every rule names the source it encodes: add `source <id>`");
    if (!seen.count("because"))
      error(item, n.kids[0], "E106", "rule `" + rule.id + "` has no `because` text",
            "say in a few words why the rule exists; clinicians read it in the result");
    if (rule.kind == RuleKind::indication && !seen.count("grade") && !seen.count("weight"))
      error(item, n.kids[0], "E106",
            "indication `" + rule.id + "` has neither a grade nor a weight",
            "add `grade <scheme>(…)` with the source's own grade, or an explicit `weight N`");
    if (declared) model_.rules.push_back(std::move(rule));
  }

  std::optional<Grade> check_grade(const Item& item, const Node& node) {
    auto it = scheme_index_.find(node.text);
    if (it == scheme_index_.end()) {
      error(item, node, "E100", "undefined grading scheme `" + node.text + "`",
            did_you_mean(node.text, keys(scheme_index_)));
      return std::nullopt;
    }
    const Scheme& scheme = model_.schemes[it->second];
    Grade grade;
    grade.scheme = it->second;
    bool ok = true;
    std::set<int> dims;
    for (const Node& value : node.kids) {
      int dim = -1;
      for (std::size_t d = 0; d < scheme.dimensions.size(); ++d)
        if (scheme.dimensions[d].name == value.text) dim = static_cast<int>(d);
      if (dim < 0) {
        std::vector<std::string> names;
        for (const auto& d : scheme.dimensions) names.push_back(d.name);
        error(item, value, "E100",
              "scheme `" + scheme.id + "` has no dimension `" + value.text + "`",
              did_you_mean(value.text, names));
        ok = false;
        continue;
      }
      if (!dims.insert(dim).second) {
        error(item, value, "E107", "dimension `" + value.text + "` is given twice");
        ok = false;
        continue;
      }
      const auto& labels = scheme.dimensions[dim].labels;
      const std::string& label = value.kids[0].text;
      auto found = std::find(labels.begin(), labels.end(), label);
      if (found == labels.end()) {
        error(item, value.kids[0], "E104",
              "`" + label + "` is not a value of `" + scheme.id + "." + value.text + "`",
              did_you_mean(label, labels));
        ok = false;
        continue;
      }
      int l = static_cast<int>(found - labels.begin());
      grade.values.emplace_back(dim, l);
      grade.weight += scheme.dimensions[dim].weights[l];
    }
    if (!ok) return std::nullopt;
    std::sort(grade.values.begin(), grade.values.end());
    return grade;
  }

  void warn_unused_sources() {
    for (const Item& item : items_) {
      if (item.node->kind != Kind::Source) continue;
      auto it = source_index_.find(item.node->kids[0].text);
      if (it != source_index_.end() && !used_sources_.count(it->second))
        warning(item, item.node->kids[0], "W201",
                "source `" + item.node->kids[0].text + "` is never cited");
    }
  }

  struct Let {
    Item item;
    int state;  // 0 unchecked, 1 being checked, 2 done
    Expr expr;
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
};

void sort_diagnostics(std::vector<Diagnostic>& diagnostics) {
  std::stable_sort(diagnostics.begin(), diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.location.file != b.location.file)
                       return a.location.file < b.location.file;
                     if (a.location.line != b.location.line)
                       return a.location.line < b.location.line;
                     return a.location.column < b.location.column;
                   });
}

}  // namespace

std::string ruleset_digest(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string input;
  for (const auto& [name, text] : files) {
    input += name;
    input += '\0';
    input += text;
    input += '\0';
  }
  return "sha256:" + sha256_hex(input);
}

CheckOutput load_and_check(const std::vector<std::string>& roots, const FileReader& reader,
                           const Limits& limits) {
  CheckOutput out;
  try {
    std::vector<std::unique_ptr<SourceFile>> files;
    std::set<std::string> loaded;
    std::vector<std::string> stack;  // the include chain, for cycle detection
    bool syntax_ok = true;
    std::function<void(const std::string&, const std::string&, const SourceFile*, const ast::Node*)>
        load = [&](const std::string& including, const std::string& name, const SourceFile* from,
                   const ast::Node* at) {
          std::string canonical, problem;
          std::optional<std::string> text = reader(including, name, canonical, problem);
          auto fail = [&](std::string code, std::string message) {
            if (from && at)
              out.diagnostics.push_back(from->make(Severity::error, std::move(code), at->begin,
                                                   at->end, std::move(message)));
            else {
              Diagnostic d;
              d.code = std::move(code);
              d.message = std::move(message);
              d.location.file = name;
              out.diagnostics.push_back(std::move(d));
            }
          };
          if (!text) {
            fail("E105",
                 "cannot read rule file `" + name + "`" + (problem.empty() ? "" : ": " + problem));
            return;
          }
          if (std::find(stack.begin(), stack.end(), canonical) != stack.end()) {
            std::string chain;
            for (const std::string& s : stack) chain += "`" + s + "` → ";
            fail("E112", "cyclic include: " + chain + "`" + canonical + "`");
            return;
          }
          if (loaded.count(canonical)) return;  // included twice: loaded once
          if (text->size() > limits.max_file_bytes) {
            fail("E113", "rule file `" + canonical + "` is larger than the limit of " +
                             std::to_string(limits.max_file_bytes) + " bytes");
            return;
          }
          if (files.size() >= limits.max_files) {
            fail("E113", "more than " + std::to_string(limits.max_files) + " rule files");
            return;
          }
          loaded.insert(canonical);
          files.push_back(std::make_unique<SourceFile>(canonical, std::move(*text)));
          SourceFile* file = files.back().get();
          std::size_t before = out.diagnostics.size();
          parse_file(*file, limits.max_expression_depth, out.diagnostics);
          if (out.diagnostics.size() != before) syntax_ok = false;
          stack.push_back(canonical);
          for (const ast::Node& node : file->root.kids)
            if (node.kind == ast::Kind::Include) load(canonical, node.kids[0].text, file, &node);
          stack.pop_back();
        };
    for (const std::string& root : roots) load("", root, nullptr, nullptr);
    if (syntax_ok && !has_errors(out.diagnostics)) {
      Checker checker(out.diagnostics, limits);
      out.model = checker.run(files);
    } else if (!files.empty()) {
      // Check what did parse too, so one run reports every error; names declared in
      // statements that failed to parse would only give follow-on errors, so drop those,
      // and W201: the rule that cites a source may be the statement that failed.
      std::vector<Diagnostic> semantic;
      Checker checker(semantic, limits);
      (void)checker.run(files);
      for (Diagnostic& d : semantic)
        if (d.code != "E100" && d.code != "E110" && d.code != "E111" && d.code != "E103" &&
            d.code != "W201")
          out.diagnostics.push_back(std::move(d));
    }
  } catch (std::exception const& e) {
    Diagnostic d;
    d.code = "E000";
    d.message = std::string("internal error while checking the rules: ") + e.what();
    out.diagnostics.push_back(d);
    out.model.reset();
  }
  // Some messages are made without a location (an include that is not found
  // quotes its string): every one readable, as SourceFile::make makes them.
  for (Diagnostic& d : out.diagnostics) {
    d.message = utf8::printable(d.message);
    d.hint = utf8::printable(d.hint);
  }
  sort_diagnostics(out.diagnostics);
  return out;
}

std::string parse_to_dump(const std::string& name, const std::string& text, const Limits& limits,
                          std::vector<Diagnostic>& diagnostics) {
  SourceFile file(name, text);
  parse_file(file, limits.max_expression_depth, diagnostics);
  return ast::dump(file.root);
}

}  // namespace stimrank::rules
