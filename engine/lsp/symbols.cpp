#include "symbols.hpp"

#include <algorithm>
#include <set>

namespace stimrank::lsp {

using rules::ast::Kind;
using rules::ast::Node;

const char* to_string(SymbolKind kind) noexcept {
  switch (kind) {
    case SymbolKind::option: return "option";
    case SymbolKind::rule: return "rule";
    case SymbolKind::source: return "source";
    case SymbolKind::concept_id: return "concept";
    case SymbolKind::fact: return "fact";
    case SymbolKind::scheme: return "grading scheme";
    case SymbolKind::let: return "let";
    case SymbolKind::dimension: return "grade dimension";
  }
  return "symbol";
}

namespace {

// Walks one file twice: declarations first (for every file), then references, which
// are classified by what the declarations say a name is.
class Walker {
 public:
  Walker(std::vector<Occurrence>& out, const rules::SourceFile& file) : out_(out), file_(file) {}

  void declarations(const Node& root) {
    for (const Node& node : root.kids) {
      switch (node.kind) {
        case Kind::Source: declare(SymbolKind::source, first_name(node), &node); break;
        case Kind::Scheme: declare(SymbolKind::scheme, first_name(node), &node); break;
        case Kind::Concept: declare(SymbolKind::concept_id, first_name(node), &node); break;
        case Kind::Let: declare(SymbolKind::let, first_name(node), &node); break;
        case Kind::Facts:
          for (const Node& field : node.kids) fields(field, "");
          break;
        case Kind::Option:
          declare(SymbolKind::option, first_name(node), &node);
          for (const Node& member : node.kids)
            if (member.kind == Kind::Rule) declare(SymbolKind::rule, first_name(member), &member);
          break;
        case Kind::Rule: declare(SymbolKind::rule, first_name(node), &node); break;
        default: break;
      }
    }
  }

  void references(const Node& root, const std::set<std::string>& facts,
                  const std::set<std::string>& concepts, const std::set<std::string>& options,
                  const std::set<std::string>& lets) {
    facts_ = &facts;
    concepts_ = &concepts;
    options_ = &options;
    lets_ = &lets;
    for (const Node& node : root.kids) {
      switch (node.kind) {
        case Kind::Concept:
          for (const Node& list : node.kids)
            if (list.kind == Kind::CodeList && list.text == "includes")
              for (const Node& name : list.kids) reference(SymbolKind::concept_id, name);
          break;
        case Kind::Let:
          for (std::size_t i = 1; i < node.kids.size(); ++i) expression(node.kids[i], "");
          break;
        case Kind::Option:
          for (const Node& member : node.kids) {
            if (member.kind == Kind::Rule) rule(member);
            if (member.kind == Kind::Complication) attributes(member);
          }
          break;
        case Kind::Rule: rule(node); break;
        default: break;
      }
    }
  }

 private:
  static const Node* first_name(const Node& node) {
    return !node.kids.empty() && node.kids[0].kind == Kind::Name ? &node.kids[0] : nullptr;
  }

  void declare(SymbolKind kind, const Node* name, const Node* node) {
    if (!name || name->text.empty()) return;
    out_.push_back({kind, name->text, file_.name(), name->begin, name->end, true, node});
  }

  // A field's span is its name: the node starts there.
  void fields(const Node& field, const std::string& prefix) {
    if (field.kind != Kind::Field || field.text.empty()) return;
    const std::string id = prefix + field.text;
    out_.push_back({SymbolKind::fact, id, file_.name(), field.begin,
                    field.begin + static_cast<std::uint32_t>(field.text.size()), true, &field});
    for (const Node& kid : field.kids) {
      if (kid.kind == Kind::Field) fields(kid, id + ".");
      if (kid.kind == Kind::Type)
        for (const Node& entry : kid.kids)
          if (entry.kind == Kind::Field) fields(entry, id + ".");
    }
  }

  void reference(SymbolKind kind, const Node& name) {
    if (name.kind != Kind::Name || name.text.empty()) return;
    out_.push_back({kind, name.text, file_.name(), name.begin, name.end, false, nullptr});
  }

  void rule(const Node& node) {
    for (std::size_t i = 1; i < node.kids.size(); ++i) {
      const Node& kid = node.kids[i];
      if (kid.kind == Kind::NameSet)
        for (const Node& name : kid.kids) reference(SymbolKind::option, name);
      else if (kid.kind == Kind::RuleAttr)
        attribute(kid);
      else
        expression(kid, "");
    }
  }

  void attributes(const Node& node) {
    for (const Node& kid : node.kids)
      if (kid.kind == Kind::RuleAttr) attribute(kid);
  }

  void attribute(const Node& attr) {
    if (attr.text == "source" && !attr.kids.empty()) reference(SymbolKind::source, attr.kids[0]);
    if (attr.text == "grade" && !attr.kids.empty() && attr.kids[0].kind == Kind::Grade) {
      const Node& grade = attr.kids[0];
      out_.push_back({SymbolKind::scheme, grade.text, file_.name(), grade.begin,
                      grade.begin + static_cast<std::uint32_t>(grade.text.size()), false, nullptr});
    }
  }

  // `list`: the enclosing list's fact path inside count(...)/any(...), else "".
  void expression(const Node& node, const std::string& list) {
    switch (node.kind) {
      case Kind::Path: path(node, list); return;
      case Kind::Name:
        if (concepts_->count(node.text))
          reference(SymbolKind::concept_id, node);
        else if (options_->count(node.text))
          reference(SymbolKind::option, node);
        return;
      case Kind::Count:
      case Kind::Any: {
        if (node.kids.empty()) return;
        const std::string inner = path(node.kids[0], list);
        for (std::size_t i = 1; i < node.kids.size(); ++i) expression(node.kids[i], inner);
        return;
      }
      default:
        for (const Node& kid : node.kids) expression(kid, list);
    }
  }

  // Each component of a path refers to the fact it names so far; returns the whole
  // path's fact id ("" when it is not a fact: a let, or an unknown name).
  std::string path(const Node& node, const std::string& list) {
    if (node.kind != Kind::Path || node.kids.empty()) return {};
    if (node.kids.size() == 1 && list.empty() && lets_->count(node.kids[0].text)) {
      reference(SymbolKind::let, node.kids[0]);
      return {};
    }
    std::string base;
    for (const std::string& candidate : {list.empty() ? std::string() : list + ".", std::string()})
      if (facts_->count(candidate + node.kids[0].text)) {
        base = candidate;
        break;
      }
    std::string id = base;
    for (std::size_t i = 0; i < node.kids.size(); ++i) {
      id += (i ? "." : "") + node.kids[i].text;
      if (!facts_->count(id)) return {};
      out_.push_back({SymbolKind::fact, id, file_.name(), node.kids[i].begin, node.kids[i].end,
                      false, nullptr});
    }
    return id;
  }

  std::vector<Occurrence>& out_;
  const rules::SourceFile& file_;
  const std::set<std::string>* facts_ = nullptr;
  const std::set<std::string>* concepts_ = nullptr;
  const std::set<std::string>* options_ = nullptr;
  const std::set<std::string>* lets_ = nullptr;
};

}  // namespace

void SymbolIndex::build(const std::vector<std::pair<std::string, std::string>>& files,
                        int max_depth) {
  files_.clear();
  occurrences_.clear();
  std::vector<Diagnostic> ignored;  // the checker reports them; here only the tree matters
  for (const auto& [path, text] : files) {
    files_.push_back(std::make_unique<rules::SourceFile>(path, text));
    rules::parse_file(*files_.back(), max_depth, ignored);
  }
  for (const auto& file : files_) Walker(occurrences_, *file).declarations(file->root);
  std::set<std::string> facts, concepts, options, lets;
  for (const Occurrence& o : occurrences_) {
    if (o.kind == SymbolKind::fact) facts.insert(o.id);
    if (o.kind == SymbolKind::concept_id) concepts.insert(o.id);
    if (o.kind == SymbolKind::option) options.insert(o.id);
    if (o.kind == SymbolKind::let) lets.insert(o.id);
  }
  for (const auto& file : files_)
    Walker(occurrences_, *file).references(file->root, facts, concepts, options, lets);
}

const Occurrence* SymbolIndex::at(const std::string& file, std::uint32_t offset) const {
  const Occurrence* best = nullptr;
  for (const Occurrence& o : occurrences_)
    if (o.file == file && o.begin <= offset && offset <= o.end &&
        (!best || o.end - o.begin < best->end - best->begin))
      best = &o;
  return best;
}

const Occurrence* SymbolIndex::declaration(SymbolKind kind, const std::string& id) const {
  for (const Occurrence& o : occurrences_)
    if (o.declaration && o.kind == kind && o.id == id) return &o;
  return nullptr;
}

std::vector<const Occurrence*> SymbolIndex::occurrences(SymbolKind kind,
                                                        const std::string& id) const {
  std::vector<const Occurrence*> out;
  for (const Occurrence& o : occurrences_)
    if (o.kind == kind && o.id == id) out.push_back(&o);
  return out;
}

std::vector<const Occurrence*> SymbolIndex::declarations() const {
  std::vector<const Occurrence*> out;
  for (const Occurrence& o : occurrences_)
    if (o.declaration) out.push_back(&o);
  return out;
}

const rules::SourceFile* SymbolIndex::file(const std::string& path) const {
  for (const auto& f : files_)
    if (f->name() == path) return f.get();
  return nullptr;
}

std::map<std::string, std::vector<std::string>> SymbolIndex::dimensions(
    const std::string& scheme) const {
  std::map<std::string, std::vector<std::string>> out;
  const Occurrence* declared = declaration(SymbolKind::scheme, scheme);
  if (!declared || !declared->node) return out;
  for (const Node& dimension : declared->node->kids)
    if (dimension.kind == Kind::Dimension)
      for (const Node& label : dimension.kids)
        if (label.kind == Kind::Label) out[dimension.text].push_back(label.text);
  return out;
}

}  // namespace stimrank::lsp
