// Declarations: the header, sources, grading schemes, concepts, options and lets.
#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <set>

#include "ascii.hpp"
#include "checker.hpp"
#include "codes.hpp"

namespace stimrank::rules::checking {

void Checker::check_header(const Item& item) {
  if (have_header_) {
    error(item, *item.node, "E101", "duplicate `ruleset` header",
          "a rule set has one header, in any one of its files");
    return;
  }
  have_header_ = true;
  model_.name = item.node->kids[0].text;
  model_.version = item.node->kids[1].text;
  if (model_.name.empty()) error(item, item.node->kids[0], "E104", "the rule-set name is empty");
  // `db:FILE#name@version` splits at these: a name or version holding one could be
  // published and never loaded again.
  for (int k = 0; k < 2; ++k) {
    const std::string& text = k == 0 ? model_.name : model_.version;
    if (text.find_first_of("@#") != std::string::npos)
      error(item, item.node->kids[static_cast<std::size_t>(k)], "E104",
            std::string("the rule-set ") + (k == 0 ? "name" : "version") +
                " may not contain `@` or `#`",
            "they separate the parts of a registry reference, db:FILE#name@version");
  }
}
std::vector<std::string> Checker::read_tags(const Item& item, const Node& attr) {
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
void Checker::declare_source(const Item& item) {
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
void Checker::declare_scheme(const Item& item) {
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
      error(item, d, "E101", "duplicate dimension `" + d.text + "` in scheme `" + scheme.id + "`");
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

void Checker::declare_concept(const Item& item) {
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
    if (list.text == "assessed") {          // its `when` concept is resolved with the includes
      if (entry.assessed) error(item, list, "E107", "`assessed` given twice");
      entry.assessed = true;
      continue;
    }
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
void Checker::resolve_includes(const Item& item) {
  const Node& n = *item.node;
  auto it = concept_index_.find(n.kids[0].text);
  if (it == concept_index_.end()) return;
  Concept& entry = model_.concepts[it->second];
  if (entry.location.line != location(item, n.kids[0]).line ||
      entry.location.file != item.file->name())
    return;  // a duplicate declaration, already reported
  for (std::size_t i = 2; i < n.kids.size(); ++i) {
    const Node& list = n.kids[i];
    if (list.text == "assessed" && !list.kids.empty()) {
      const Node& name = list.kids[0];
      auto found = concept_index_.find(name.text);
      if (found == concept_index_.end())
        error(item, name, "E100", "undefined concept `" + name.text + "`",
              suggest(name.text, [&] { return keys(concept_index_); }));
      else if (found->second == it->second)
        error(item, name, "E109", "a finding cannot be assessed only when it is itself present");
      else
        entry.assessed_when = found->second;
      continue;
    }
    if (list.text != "includes") continue;
    for (const Node& name : list.kids) {
      auto found = concept_index_.find(name.text);
      if (found == concept_index_.end()) {
        error(item, name, "E100", "undefined concept `" + name.text + "`",
              suggest(name.text, [&] { return keys(concept_index_); }));
        continue;
      }
      entry.includes.push_back(found->second);
    }
  }
}
// Both steps are linear in the graph of includes and in the members written out: a
// chain of 100,000 value sets is neither deep recursion nor a quadratic search, and
// the n²/2 members such a chain has are bounded by Limits::max_concept_members.
void Checker::resolve_concept_members() {
  std::vector<Concept>& concepts = model_.concepts;
  const int count = static_cast<int>(concepts.size());
  // Concepts on a cycle: the strongly connected components of more than one concept,
  // or of one that includes itself (Tarjan's algorithm, with an explicit stack).
  std::vector<int> order(count, -1), low(count, 0), component;
  std::vector<bool> on_stack(count, false), cyclic(count, false);
  std::vector<std::pair<int, std::size_t>> work;  // a concept and its next include
  int visited = 0;
  auto enter = [&](int c) {
    order[c] = low[c] = visited++;
    component.push_back(c);
    on_stack[c] = true;
    work.push_back({c, 0});
  };
  for (int root = 0; root < count; ++root) {
    if (order[root] >= 0) continue;
    enter(root);
    while (!work.empty()) {
      const int c = work.back().first;
      const std::vector<int>& includes = concepts[c].includes;
      if (work.back().second < includes.size()) {
        const int next = includes[work.back().second++];
        if (order[next] < 0)
          enter(next);
        else if (on_stack[next])
          low[c] = std::min(low[c], order[next]);
        continue;
      }
      work.pop_back();
      if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[c]);
      if (low[c] != order[c]) continue;
      const bool self = std::find(includes.begin(), includes.end(), c) != includes.end();
      const bool several = component.back() != c;
      int member;
      do {
        member = component.back();
        component.pop_back();
        on_stack[member] = false;
        cyclic[member] = several || self;
      } while (member != c);
    }
  }
  for (int c = 0; c < count; ++c) {
    if (!cyclic[c]) continue;
    Diagnostic d;
    d.code = "E112";
    d.location = concepts[c].location;
    d.message = "concept `" + concepts[c].id + "` includes itself through `includes`";
    diagnostics_.push_back(d);
    concepts[c].includes.clear();
  }
  // Members: a walk from each concept, its visits marked with the concept's number.
  std::vector<int> mark(count, -1), pending;
  std::size_t written = 0;
  for (int c = 0; c < count; ++c) {
    std::vector<int>& members = concepts[c].members;
    pending.assign(1, c);
    mark[c] = c;
    while (!pending.empty()) {
      const int member = pending.back();
      pending.pop_back();
      members.push_back(member);
      written += 1 + concepts[member].codes.size() + concepts[member].includes.size();
      if (written > limits_.max_concept_members) {
        diagnostics_.push_back(global_error(
            "E113",
            "the concepts' includes, written out, give more than " +
                std::to_string(limits_.max_concept_members) + " members and codes",
            "a value set that includes a chain of others holds each of them; include the "
            "codes directly, or fewer levels"));
        for (int k = 0; k < count; ++k) concepts[k].members.assign(1, k);
        return;
      }
      for (int included : concepts[member].includes)
        if (mark[included] != c) {
          mark[included] = c;
          pending.push_back(included);
        }
    }
    std::sort(members.begin(), members.end());
  }
}

void Checker::declare_option(const Item& item) {
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
int Checker::resolve_source(const Item& item, const Node& name) {
  auto it = source_index_.find(name.text);
  if (it == source_index_.end()) {
    error(item, name, "E100", "undefined source `" + name.text + "`",
          suggest(name.text, [&] { return keys(source_index_); }));
    return -1;
  }
  used_sources_.insert(it->second);
  return it->second;
}

void Checker::declare_let(const Item& item) {
  const Node& n = *item.node;
  if (!declare(let_index_, item, n.kids[0], static_cast<int>(lets_.size()), "let")) return;
  lets_.push_back({item, 0, {}});
}
namespace {

void measure(const Expr& expr, int depth, int& height, std::size_t& nodes) {
  ++nodes;
  height = std::max(height, depth + 1);
  for (const Expr& kid : expr.kids) measure(kid, depth + 1, height, nodes);
}

}  // namespace

const Checker::Let* Checker::resolve_let(const std::string& name) {
  auto it = let_index_.find(name);
  if (it == let_index_.end()) return nullptr;
  Let& let = lets_[it->second];
  if (let.state == 2) return &let;
  if (let.state == 1) {
    error(let.item, let.item.node->kids[0], "E112", "`" + name + "` is defined in terms of itself");
    let.state = 2;
    let.expr = unknown_expr();
    let.height = let.nodes = 1;
    return &let;
  }
  let.state = 1;
  Expr expr = check_condition(let.item, let.item.node->kids[1], -1, 0);
  Let& again = lets_[it->second];  // check_condition may have grown lets_? (no) keep safe
  if (again.state == 1) {
    again.expr = std::move(expr);
    again.state = 2;
    again.height = 0;
    again.nodes = 0;
    measure(again.expr, 0, again.height, again.nodes);
  }
  return &again;
}

bool Checker::count_let_nodes(const Item& item, const Node& at, std::size_t nodes) {
  if (let_nodes_ <= limits_.max_let_nodes) let_nodes_ += nodes;
  if (let_nodes_ <= limits_.max_let_nodes) return true;
  if (!let_nodes_reported_) {
    let_nodes_reported_ = true;
    error(item, at, "E113",
          "the lets, written out where they are used, add more than " +
              std::to_string(limits_.max_let_nodes) + " parts to the conditions",
          "a let used twice in another let doubles at each step; write the condition out "
          "without the repetition");
  }
  return false;
}

}  // namespace stimrank::rules::checking
