// The fast way in for valid profiles: simdjson's DOM, read straight into the
// plan's slots. It accepts only what the validating loader (profile.cpp) would
// accept without an error or a warning, and builds the same facts; anything else
// (an error, a warning, a limit) makes it give up, and the validating loader then
// reports every problem with its JSON Pointer. Tests compare the two on every
// shipped profile and on mutated ones.
#include <simdjson.h>

#include <algorithm>
#include <cctype>

#include "profile.hpp"
#include "utf8.hpp"

namespace stimrank::engine {

using namespace rules::model;
namespace dom = simdjson::dom;

namespace {

class FastLoader {
 public:
  FastLoader(const Model& model, const Plan& plan, Facts& facts, int max_depth)
      : model_(model), plan_(plan), facts_(facts), seen_(seen_buffer()), max_depth_(max_depth) {
    seen_.assign(model.schema.fields.size(), 0);
  }

  bool load(dom::element document) {
    dom::object root;
    if (document.get_object().get(root)) return false;
    const Schema& schema = model_.schema;
    facts_.scalars.assign(static_cast<std::size_t>(schema.scalar_slots), Scalar{});
    facts_.lists.resize(static_cast<std::size_t>(schema.list_slots));
    for (ListFact& list : facts_.lists) {
      list.known = false;
      list.refuted.clear();
      release_entries(list);
    }
    facts_.warnings.clear();
    warned_field_ = -1;
    bool has_id = false;
    if (!load_object(root, schema.roots, true, nullptr, &has_id)) return false;
    return has_id;
  }

 private:
  // Fields of one object; keys usually come in declaration order, so the search
  // starts after the field matched last.
  bool load_object(dom::object object, const std::vector<int>& fields, bool allow_id, Entry* entry,
                   bool* has_id) {
    Nest nest(*this);
    if (!nest.ok) return false;
    const Schema& schema = model_.schema;
    int coding = -1;
    for (int f : fields) {
      seen_[static_cast<std::size_t>(f)] = 0;
      if (schema.fields[static_cast<std::size_t>(f)].type == FieldType::Coding) coding = f;
    }
    std::size_t cursor = 0;
    for (auto [key, value] : object) {
      if (allow_id && key == "id") {
        std::string_view id;
        if (*has_id || value.get_string().get(id) || id.empty() || utf8::characters(id) > 128)
          return false;
        facts_.id.assign(id);
        *has_id = true;
        continue;
      }
      if (coding >= 0 && (key == "system" || key == "code" || key == "name" || key == "display"))
        continue;
      int found = -1;
      for (std::size_t step = 0; step < fields.size() && found < 0; ++step) {
        std::size_t at = (cursor + step) % fields.size();
        const Field& field = schema.fields[static_cast<std::size_t>(fields[at])];
        if (field.type != FieldType::Coding && field.name == key) {
          found = fields[at];
          cursor = at + 1;
        }
      }
      if (found < 0) return false;                                 // unknown field
      if (seen_[static_cast<std::size_t>(found)]++) return false;  // duplicate key
      if (!load_value(found, value, entry)) return false;
    }
    for (int f : fields) {
      const Field& field = schema.fields[static_cast<std::size_t>(f)];
      if (field.required && field.type != FieldType::Coding && !seen_[static_cast<std::size_t>(f)])
        return false;
    }
    if (coding >= 0 && entry) return load_coding(coding, object, *entry);
    return true;
  }

  Scalar& scalar_for(const Field& field, Entry* entry) {
    return entry ? entry->fields[static_cast<std::size_t>(field.slot)]
                 : facts_.scalars[static_cast<std::size_t>(field.slot)];
  }

  int label_of(int f, dom::element value) const {
    std::string_view text;
    if (value.get_string().get(text)) return -1;
    const LabelIndex& labels = plan_.labels[static_cast<std::size_t>(f)];
    auto it = labels.find(text);
    return it == labels.end() ? -1 : it->second;
  }

  bool load_value(int f, dom::element value, Entry* entry) {
    const Field& field = model_.schema.fields[static_cast<std::size_t>(f)];
    switch (field.type) {
      case FieldType::Object: {
        dom::object object;
        if (value.get_object().get(object)) return false;
        return load_object(object, field.children, false, entry, nullptr);
      }
      case FieldType::Bool: {
        bool flag = false;
        if (value.get_bool().get(flag)) return false;
        Scalar& s = scalar_for(field, entry);
        s.known = true;
        s.number = flag ? 1 : 0;
        return true;
      }
      case FieldType::Int:
      case FieldType::Number: {
        double number = 0;
        if (!value.is_number() || value.get_double().get(number)) return false;
        if ((field.type == FieldType::Int && !whole_number(number)) ||
            (field.min && number < *field.min) || (field.max && number > *field.max))
          return false;
        Scalar& s = scalar_for(field, entry);
        s.known = true;
        s.number = number;
        return true;
      }
      case FieldType::String:
        if (!value.is_string()) return false;
        scalar_for(field, entry).known = true;
        return true;
      case FieldType::Ident: {
        std::string_view text;
        if (value.get_string().get(text) || !local_id_syntax(text)) return false;
        auto it = plan_.symbol_index.find(text);
        if (it == plan_.symbol_index.end()) return false;  // a warning: leave it to the full loader
        Scalar& s = scalar_for(field, entry);
        s.known = true;
        s.symbol = it->second;
        return true;
      }
      case FieldType::Enum: {
        int label = label_of(f, value);
        if (label < 0) return false;
        Scalar& s = scalar_for(field, entry);
        s.known = true;
        s.symbol = label;
        return true;
      }
      case FieldType::EnumSet: {
        Nest nest(*this);
        if (!nest.ok) return false;
        dom::array items;
        if (value.get_array().get(items)) return false;
        std::uint64_t bits = 0;
        for (dom::element item : items) {
          int label = label_of(f, item);
          if (label < 0) return false;
          bits |= std::uint64_t{1} << label;
        }
        Scalar& s = scalar_for(field, entry);
        s.known = true;
        s.bits = bits;
        return true;
      }
      case FieldType::Codes:
      case FieldType::List: return load_list(field, value);
      case FieldType::Coding: return true;
    }
    return false;
  }

  bool load_list(const Field& field, dom::element value) {
    Nest nest(*this);
    if (!nest.ok) return false;
    dom::array items;
    if (value.get_array().get(items)) return false;
    ListFact& list = facts_.lists[static_cast<std::size_t>(field.slot)];
    release_entries(list);
    std::size_t entry_slots = 0;
    for (int c : field.children)
      if (model_.schema.fields[static_cast<std::size_t>(c)].type != FieldType::Coding)
        ++entry_slots;
    std::size_t index = 0;
    for (dom::element item : items) {
      Entry& entry = take_entry(list);
      entry.position = static_cast<std::uint32_t>(index);
      entry.fields.assign(entry_slots, Scalar{});
      entry.concepts.assign(plan_.concept_words, 0);
      std::string_view text;
      if (field.type == FieldType::Codes && !item.get_string().get(text)) {
        if (!local_id_syntax(text)) return false;
        entry.coding_known = true;
        if (!match_code(entry, "local", text)) {
          // Warned as the validating loader warns. It visits fields in another
          // order, so warnings of a second field are left to it.
          if (field.list >= 0 || (warned_field_ >= 0 && warned_field_ != field.slot)) return false;
          warned_field_ = field.slot;
          facts_.warnings.push_back(unknown_concept_warning(
              model_, field.path + "/" + std::to_string(index), text, facts_.warnings.size()));
        }
        ++index;
        continue;
      }
      ++index;
      dom::object object;
      if (item.get_object().get(object)) return false;
      if (!load_object(object, field.children, false, &entry, nullptr)) return false;
    }
    list.known = true;
    return true;
  }

  bool load_coding(int coding, dom::object object, Entry& entry) {
    const Field& field = model_.schema.fields[static_cast<std::size_t>(coding)];
    std::string_view system, code, name, display;
    bool has_system = false, has_code = false, has_name = false, has_display = false;
    for (auto [key, value] : object) {
      // A repeated key is left to the full loader, which keeps the last one.
      if (key == "system") {
        if (has_system || value.get_string().get(system)) return false;
        has_system = true;
      } else if (key == "code") {
        if (has_code || value.get_string().get(code)) return false;
        has_code = true;
      } else if (key == "name") {
        if (has_name || value.get_string().get(name)) return false;
        has_name = true;
      } else if (key == "display") {
        if (has_display || value.get_string().get(display)) return false;
        has_display = true;
      }
    }
    if (has_system &&
        std::find(field.systems.begin(), field.systems.end(), system) == field.systems.end())
      return false;
    if (has_code && (code.empty() || utf8::characters(code) > 32 || !has_system)) return false;
    if (has_name && !local_id_syntax(name)) return false;
    if (has_code) {
      entry.coding_known = true;
      bool matched = match_code(entry, system, code);
      if (!matched && system == "local") return false;  // a warning
    }
    if (has_name) {
      entry.coding_known = true;
      if (!match_code(entry, "local", name) && !has_code) return false;  // a warning
    }
    return true;
  }

  bool match_code(Entry& entry, std::string_view system, std::string_view code) {
    return engine::match_code(plan_, entry, system, code);
  }

  // Nesting of arrays and objects, held to the same limit as the full loader's.
  struct Nest {
    explicit Nest(FastLoader& loader) : loader(loader), ok(++loader.depth_ <= loader.max_depth_) {}
    ~Nest() { --loader.depth_; }
    FastLoader& loader;
    bool ok;
  };

  // One buffer per thread, so that reading a profile allocates nothing.
  static std::vector<unsigned char>& seen_buffer() {
    thread_local std::vector<unsigned char> buffer;
    return buffer;
  }

  // List entries of earlier profiles, kept (per thread) with their vectors' capacity.
  static std::vector<Entry>& spare_entries() {
    thread_local std::vector<Entry> spare;
    return spare;
  }
  static void release_entries(ListFact& list) {
    std::vector<Entry>& spare = spare_entries();
    for (Entry& entry : list.entries) spare.push_back(std::move(entry));
    list.entries.clear();
  }
  static Entry& take_entry(ListFact& list) {
    std::vector<Entry>& spare = spare_entries();
    if (spare.empty()) return list.entries.emplace_back();
    Entry& entry = list.entries.emplace_back(std::move(spare.back()));
    spare.pop_back();
    entry.coding_known = false;  // fields and concepts are assigned by the caller
    return entry;
  }

  const Model& model_;
  const Plan& plan_;
  Facts& facts_;
  int warned_field_ = -1;             // the list slot whose entries were warned about
  std::vector<unsigned char>& seen_;  // by schema field, within the object being read
  int depth_ = 0;
  int max_depth_;
};

}  // namespace

bool fast_load_profile(const Model& model, const Plan& plan, std::string_view text,
                       const Limits& limits, Facts& facts) {
  if (text.size() > limits.max_profile_bytes) return false;
  thread_local dom::parser parser;
  dom::element document;
  if (parser.parse(text.data(), text.size()).get(document)) return false;
  try {
    return FastLoader(model, plan, facts, limits.max_profile_depth).load(document);
  } catch (...) {
    return false;  // allocation failure and the like: the full loader reports it
  }
}

bool load_profile_any(const Model& model, const Plan& plan, std::string_view text,
                      const Limits& limits, Facts& facts, std::vector<ProfileError>& errors) {
  if (!fast_load_profile(model, plan, text, limits, facts)) {
    facts = Facts{};
    if (!load_profile(model, plan, text, limits, facts, errors)) return false;
  }
  cap_warnings(facts.warnings);
  return true;
}

}  // namespace stimrank::engine
