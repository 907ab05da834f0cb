// The fact schema: the profile fields the rules may read.
#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <set>

#include "ascii.hpp"
#include "checker.hpp"
#include "codes.hpp"

namespace stimrank::rules::checking {

void Checker::check_facts(const Item& item) {
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
int Checker::add_field(const Item& item, const Node& decl, int parent, int list,
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
}  // namespace stimrank::rules::checking
