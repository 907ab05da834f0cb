// Profile JSON → facts, validated against the rule set's fact schema. Every
// problem is reported with its JSON Pointer; nothing is silently dropped.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "ascii.hpp"
#include "codes.hpp"
#include "profile.hpp"
#include "spelling.hpp"
#include "utf8.hpp"

namespace stimrank::engine {

using nlohmann::json;
using namespace rules::model;

std::string show_value(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return "`" + text + "`";
}

namespace {

std::string format_number(double value) {
  std::string text = json(value).dump();
  if (text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0) text.resize(text.size() - 2);
  return text;
}

// Deepest nesting of arrays and objects, without building the document.
int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{')
      deepest = std::max(deepest, ++depth);
    else if (c == ']' || c == '}')
      --depth;
  }
  return deepest;
}

class Loader {
 public:
  Loader(const Model& model, const Plan& plan, Facts& facts, std::vector<ProfileError>& errors)
      : model_(model), plan_(plan), facts_(facts), errors_(errors) {}

  void load(const json& document) {
    const Schema& schema = model_.schema;
    facts_.scalars.assign(static_cast<std::size_t>(schema.scalar_slots), Scalar{});
    facts_.lists.assign(static_cast<std::size_t>(schema.list_slots), ListFact{});
    if (!document.is_object()) {
      error("", "expected a JSON object (one patient profile), got " + show_value(document));
      return;
    }
    auto id = document.find("id");
    if (id == document.end()) {
      error("/id", "required field is missing");
    } else if (!id->is_string() || id->get_ref<const std::string&>().empty() ||
               utf8::characters(id->get_ref<const std::string&>()) > 128) {
      error("/id", "expected a string of 1 to 128 characters, got " + show_value(*id));
    } else {
      facts_.id = id->get<std::string>();
    }
    load_object(document, schema.roots, "", true, nullptr);
  }

 private:
  void error(std::string path, std::string message) {
    errors_.push_back({std::move(path), std::move(message)});
  }

  void unknown_field(const std::string& path, const std::string& key,
                     const std::vector<int>& fields, bool allow_id, bool coding_keys) {
    std::vector<std::string> names;
    for (int f : fields)
      if (model_.schema.fields[f].type != FieldType::Coding)
        names.push_back(model_.schema.fields[f].name);
    if (allow_id) names.emplace_back("id");
    if (coding_keys) names.insert(names.end(), {"system", "code", "name", "display"});
    if (coding_keys && in_codes_list_) names.emplace_back("present");
    std::string hint = rules::closest_match(key, names);
    error(path + "/" + key,
          "unknown field `" + key + "`" + (hint.empty() ? "" : ", did you mean `" + hint + "`?"));
  }

  void load_object(const json& object, const std::vector<int>& fields, const std::string& path,
                   bool allow_id, Entry* entry) {
    const Schema& schema = model_.schema;
    int coding = -1;
    for (int f : fields)
      if (schema.fields[f].type == FieldType::Coding) coding = f;
    for (auto it = object.begin(); it != object.end(); ++it) {
      const std::string& key = it.key();
      if (allow_id && key == "id") continue;
      if (coding >= 0 && (key == "system" || key == "code" || key == "name" || key == "display"))
        continue;
      if (coding >= 0 && in_codes_list_ && key == "present") continue;  // load_list reads it
      auto found = std::find_if(fields.begin(), fields.end(), [&](int f) {
        return schema.fields[f].name == key && schema.fields[f].type != FieldType::Coding;
      });
      if (found == fields.end()) {
        unknown_field(path, key, fields, allow_id, coding >= 0);
        continue;
      }
      load_value(*found, it.value(), path + "/" + key, entry);
    }
    for (int f : fields) {
      const Field& field = schema.fields[f];
      if (field.required && field.type != FieldType::Coding && !object.contains(field.name))
        error(path + "/" + field.name, "required field is missing");
    }
    if (coding >= 0 && entry) load_coding(coding, object, path, *entry);
  }

  Scalar& scalar_for(const Field& field, Entry* entry) {
    return entry ? entry->fields[static_cast<std::size_t>(field.slot)]
                 : facts_.scalars[static_cast<std::size_t>(field.slot)];
  }

  std::string range_text(const Field& field) const {
    if (field.min && field.max)
      return " from " + format_number(*field.min) + " to " + format_number(*field.max);
    if (field.min) return " of at least " + format_number(*field.min);
    if (field.max) return " of at most " + format_number(*field.max);
    return "";
  }

  static std::string labels_text(const Field& field) {
    std::string out;
    for (const std::string& label : field.labels) out += (out.empty() ? "" : ", ") + label;
    return out;
  }

  void load_value(int f, const json& value, const std::string& path, Entry* entry) {
    const Field& field = model_.schema.fields[f];
    std::string null_hint = value.is_null() ? " (leave a field out when it is unknown)" : "";
    switch (field.type) {
      case FieldType::Object:
        if (!value.is_object()) {
          error(path, "expected an object, got " + show_value(value) + null_hint);
          return;
        }
        load_object(value, field.children, path, false, entry);
        return;
      case FieldType::Bool: {
        if (!value.is_boolean()) {
          error(path, "expected true or false, got " + show_value(value) + null_hint);
          return;
        }
        Scalar& s = scalar_for(field, entry);
        s.known = true;
        s.number = value.get<bool>() ? 1 : 0;
        return;
      }
      case FieldType::Int:
      case FieldType::Number: {
        bool is_int = field.type == FieldType::Int;
        std::string expected = std::string(is_int ? "an integer" : "a number") + range_text(field);
        if (!value.is_number()) {
          error(path, "expected " + expected + ", got " + show_value(value) + null_hint);
          return;
        }
        double number = value.get<double>();
        if ((is_int && !whole_number(number)) || (field.min && number < *field.min) ||
            (field.max && number > *field.max)) {
          error(path, "expected " + expected + ", got " + show_value(value));
          return;
        }
        Scalar& s = scalar_for(field, entry);
        s.known = true;
        s.number = number;
        return;
      }
      case FieldType::String:
        if (!value.is_string()) {
          error(path, "expected a string, got " + show_value(value) + null_hint);
          return;
        }
        scalar_for(field, entry).known = true;
        return;
      case FieldType::Ident: {
        if (!value.is_string() || !local_id_syntax(value.get_ref<const std::string&>())) {
          error(path, "expected an id like `scs_tonic` (lower case, digits, `_`), got " +
                          show_value(value));
          return;
        }
        Scalar& s = scalar_for(field, entry);
        s.known = true;
        auto it = plan_.symbol_index.find(value.get_ref<const std::string&>());
        if (it == plan_.symbol_index.end()) {
          facts_.warnings.push_back(path + ": unknown id `" + value.get<std::string>() +
                                    "` matches no option or concept of the rule set");
          s.symbol = -1;
        } else {
          s.symbol = it->second;
        }
        return;
      }
      case FieldType::Enum: {
        int label = enum_label(field, value, path);
        if (label < 0) return;
        Scalar& s = scalar_for(field, entry);
        s.known = true;
        s.symbol = label;
        return;
      }
      case FieldType::EnumSet: {
        // A list (complete: what it does not name is absent), or an open set
        // {"present": [...], "complete": false}: what it names is present, any other
        // label unknown (a record that names one implant beside one of unstated kind).
        const json* labels = &value;
        std::string labels_path = path;
        bool open = false;
        if (value.is_object()) {
          bool ok = true;
          for (const auto& [key, member] : value.items())
            if (key != "present" && key != "complete") {
              error(path + "/" + key,
                    "unknown key `" + key + "`: an open set has `present` and `complete`");
              ok = false;
            }
          auto present = value.find("present");
          auto complete = value.find("complete");
          if (present == value.end()) {
            error(path, "an open set needs `present`: the labels known to be present");
            ok = false;
          }
          if (complete == value.end() || !complete->is_boolean()) {
            error(
                path + "/complete",
                complete == value.end()
                    ? std::string(
                          "an open set needs `complete`: false when labels not listed are unknown")
                    : "expected true or false, got " + show_value(*complete));
            ok = false;
          }
          if (!ok) return;
          labels = &*present;
          labels_path = path + "/present";
          open = !complete->get<bool>();
        }
        if (!labels->is_array()) {
          error(labels_path, "expected a list of " + labels_text(field) + ", got " +
                                 show_value(*labels) + null_hint);
          return;
        }
        std::uint64_t bits = 0;
        bool ok = true;
        for (std::size_t i = 0; i < labels->size(); ++i) {
          int label = enum_label(field, (*labels)[i], labels_path + "/" + std::to_string(i));
          if (label < 0)
            ok = false;
          else
            bits |= std::uint64_t{1} << label;
        }
        if (!ok) return;
        Scalar& s = scalar_for(field, entry);
        s.known = true;
        s.bits = bits;
        s.open = open;
        return;
      }
      case FieldType::Codes:
      case FieldType::List: load_list(field, value, path); return;
      case FieldType::Coding: return;  // read with its entry
    }
  }

  int enum_label(const Field& field, const json& value, const std::string& path) {
    if (value.is_string()) {
      const std::string& text = value.get_ref<const std::string&>();
      auto it = std::find(field.labels.begin(), field.labels.end(), text);
      if (it != field.labels.end()) return static_cast<int>(it - field.labels.begin());
      std::string hint = rules::closest_match(text, field.labels);
      error(path, "expected one of " + labels_text(field) + ", got " + show_value(value) +
                      (hint.empty() ? "" : ", did you mean `" + hint + "`?"));
      return -1;
    }
    error(path, "expected one of " + labels_text(field) + ", got " + show_value(value));
    return -1;
  }

  void load_list(const Field& field, const json& value, const std::string& path) {
    if (!value.is_array()) {
      error(path, "expected a list, got " + show_value(value) +
                      (value.is_null() ? " (leave a field out when it is unknown)" : ""));
      return;
    }
    ListFact& list = facts_.lists[static_cast<std::size_t>(field.slot)];
    std::size_t entry_slots = 0;
    for (int c : field.children)
      if (model_.schema.fields[c].type != FieldType::Coding) ++entry_slots;
    std::size_t errors_before = errors_.size();
    list.entries.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
      std::string entry_path = path + "/" + std::to_string(i);
      const json& item = value[i];
      Entry entry;
      entry.position = static_cast<std::uint32_t>(i);
      entry.fields.assign(entry_slots, Scalar{});
      entry.concepts.assign(plan_.concept_words, 0);
      if (field.type == FieldType::Codes && item.is_string()) {
        const std::string& text = item.get_ref<const std::string&>();
        if (!local_id_syntax(text)) {
          error(entry_path,
                "expected a concept id (lower case, digits, `_`) or a coded entry "
                "{\"system\", \"code\"}, got " +
                    show_value(item));
          continue;
        }
        entry.coding_known = true;
        if (!match_code(entry, "local", text))
          facts_.warnings.push_back(
              unknown_concept_warning(model_, entry_path, text, facts_.warnings.size()));
        list.entries.push_back(std::move(entry));
        continue;
      }
      if (!item.is_object()) {
        error(entry_path,
              std::string("expected ") +
                  (field.type == FieldType::Codes ? "a concept id or a coded entry" : "an object") +
                  ", got " + show_value(item));
        continue;
      }
      // "present": false records a finding that was looked for and is absent: its
      // concepts are refuted, and it is no entry of the list.
      bool absent = false;
      if (field.type == FieldType::Codes) {
        auto present = item.find("present");
        if (present != item.end()) {
          if (!present->is_boolean())
            error(entry_path + "/present",
                  "expected true or false (false: looked for and absent), got " +
                      show_value(*present));
          else
            absent = !present->get<bool>();
        }
      }
      in_codes_list_ = field.type == FieldType::Codes;
      load_object(item, field.children, entry_path, false, &entry);
      in_codes_list_ = false;
      if (absent) {
        if (!entry.coding_known) {
          error(entry_path, "an entry recorded as absent needs its code or name");
          continue;
        }
        if (list.refuted.empty()) list.refuted.assign(plan_.concept_words, 0);
        for (std::size_t w = 0; w < entry.concepts.size(); ++w)
          list.refuted[w] |= entry.concepts[w];
        continue;
      }
      list.entries.push_back(std::move(entry));
    }
    list.known = errors_.size() == errors_before;
  }

  // Reads system / code / name / display into the entry's concept bits.
  void load_coding(int coding, const json& object, const std::string& path, Entry& entry) {
    const Field& field = model_.schema.fields[coding];
    auto system = object.find("system");
    auto code = object.find("code");
    auto name = object.find("name");
    auto display = object.find("display");
    bool ok = true;
    if (display != object.end() && !display->is_string()) {
      error(path + "/display", "expected a string, got " + show_value(*display));
      ok = false;
    }
    std::string system_text;
    if (system != object.end()) {
      if (!system->is_string() || std::find(field.systems.begin(), field.systems.end(),
                                            system->get<std::string>()) == field.systems.end()) {
        std::string all;
        for (const std::string& s : field.systems) all += (all.empty() ? "" : ", ") + s;
        error(path + "/system", "expected one of " + all + ", got " + show_value(*system));
        ok = false;
      } else {
        system_text = system->get<std::string>();
      }
    }
    if (code != object.end() &&
        (!code->is_string() || code->get_ref<const std::string&>().empty() ||
         utf8::characters(code->get_ref<const std::string&>()) > 32)) {
      error(path + "/code", "expected a code of 1 to 32 characters, got " + show_value(*code));
      ok = false;
    }
    if (name != object.end() &&
        (!name->is_string() || !local_id_syntax(name->get<std::string>()))) {
      error(path + "/name",
            "expected a lower-case name like `pregabalin`, got " + show_value(*name));
      ok = false;
    }
    if (!ok) return;
    bool has_code = code != object.end();
    if (has_code && system_text.empty()) {
      error(path + "/system", "a coded entry needs its `system` (one of the code systems)");
      return;
    }
    if (has_code) {
      entry.coding_known = true;
      const std::string& text = code->get_ref<const std::string&>();
      bool matched = match_code(entry, system_text, text);
      if (!matched && system_text == "local")
        facts_.warnings.push_back(path + "/code: unknown local code `" + text + "` was ignored");
    }
    if (name != object.end()) {
      entry.coding_known = true;
      if (!match_code(entry, "local", name->get<std::string>()) && !has_code)
        facts_.warnings.push_back(path + "/name: unknown name `" + name->get<std::string>() +
                                  "` was ignored (the rule set does not declare it)");
    }
  }

  bool match_code(Entry& entry, const std::string& system, const std::string& code) {
    return engine::match_code(plan_, entry, system, code);
  }

  bool in_codes_list_ = false;  // reading an entry of a `codes` list: `present` allowed
  const Model& model_;
  const Plan& plan_;
  Facts& facts_;
  std::vector<ProfileError>& errors_;
};

}  // namespace

bool local_id_syntax(std::string_view text) {
  if (text.empty() || !ascii::is_lower(text[0])) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return ascii::is_lower(c) || ascii::is_digit(c) || c == '_'; });
}

std::string unknown_concept_warning(const Model& model, std::string_view entry_path,
                                    std::string_view id, std::size_t earlier_warnings) {
  std::string text(entry_path);
  text += ": unknown concept id `";
  text += id;
  text += "` was ignored (the rule set does not declare it)";
  constexpr std::size_t kSuggestedWarnings = 16, kLongestSuggestedId = 64;
  if (earlier_warnings >= kSuggestedWarnings || id.size() > kLongestSuggestedId) return text;
  std::vector<std::string> ids;
  ids.reserve(model.concepts.size());
  for (const auto& c : model.concepts) ids.push_back(c.id);
  std::string hint = rules::did_you_mean(std::string(id), ids);
  if (!hint.empty()) text += "; " + hint;
  return text;
}

void cap_warnings(std::vector<std::string>& warnings) {
  if (warnings.size() <= kMaxListedWarnings) return;
  const std::size_t all = warnings.size();
  warnings.resize(kMaxListedWarnings);
  warnings.push_back("and " + std::to_string(all - kMaxListedWarnings) + " more warnings (" +
                     std::to_string(all) + " in all) not listed");
}

bool match_code(const Plan& plan, Entry& entry, std::string_view system, std::string_view code) {
  thread_local std::string key;  // "system|CODE"; a hierarchical code matches each prefix
  key.clear();
  bool hierarchical = rules::append_code_key(system, code, key);
  const std::size_t code_at = key.find('|') + 1;
  bool matched = false;
  std::size_t shortest = hierarchical ? code_at + 1 : key.size();
  for (std::size_t length = key.size(); length >= shortest && length > code_at; --length) {
    auto it = plan.code_index.find(std::string_view(key.data(), length));
    if (it == plan.code_index.end()) continue;
    matched = true;
    for (int c : it->second)
      entry.concepts[static_cast<std::size_t>(c) >> 6] |= std::uint64_t{1} << (c & 63);
  }
  return matched;
}

std::string json_error(std::string_view text) {
  // Parse again with exceptions only to learn where it went wrong.
  try {
    json reparsed = json::parse(text.begin(), text.end());
    (void)reparsed;
    return "invalid JSON";
  } catch (json::parse_error const& e) {
    std::string message = e.what();
    auto colon = message.find("parse error");
    message = colon == std::string::npos ? message : message.substr(colon);
    for (char& c : message) c = ascii::to_lower(c);
    while (!message.empty() && (message.back() == '.' || message.back() == ' ')) message.pop_back();
    return "invalid JSON at byte " + std::to_string(e.byte) + ": " + utf8::printable(message);
  } catch (json::exception const& e) {
    // A number beyond a double (1e400) is out of range, not a syntax error.
    std::string message = e.what();
    auto end = message.find("] ");
    message = end == std::string::npos ? message : message.substr(end + 2);
    for (char& c : message)
      if (c == '\'') c = '`';
    return "invalid JSON: " + utf8::printable(message);
  }
}

namespace {

// A JSON Pointer step: `~` and `/` escaped (RFC 6901).
void append_pointer_step(std::string_view key, std::string& out) {
  out += '/';
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
}

// Finds keys given twice in one object while nlohmann/json parses (it keeps the
// last one silently: `"pregnant": true, "pregnant": false` would read as not
// pregnant, and a contraindication would vanish).
class DuplicateKeys {
 public:
  explicit DuplicateKeys(std::vector<ProfileError>& errors) : errors_(errors) {}

  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: stack_.push_back(Level{true, 0, {}, {}}); break;
      case json::parse_event_t::array_start: stack_.push_back(Level{false, 0, {}, {}}); break;
      case json::parse_event_t::key: {
        Level& level = stack_.back();
        level.key = parsed.get<std::string>();
        if (!level.keys.insert(level.key).second) {
          std::string path = pointer();
          errors_.push_back({path, "duplicate key `" + level.key +
                                       "`: a key may appear once in an object (which one "
                                       "counts would be a guess)"});
        }
        break;
      }
      case json::parse_event_t::value: element_done(); break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        stack_.pop_back();
        element_done();
        break;
    }
    return true;
  }

 private:
  struct Level {
    bool object;
    std::size_t index;  // arrays: the element being read
    std::string key;    // objects: the key being read
    std::set<std::string> keys;
  };
  void element_done() {
    if (!stack_.empty() && !stack_.back().object) ++stack_.back().index;
  }
  std::string pointer() const {
    std::string out;
    for (const Level& level : stack_) {
      if (level.object)
        append_pointer_step(level.key, out);
      else
        out += "/" + std::to_string(level.index);
    }
    return out;
  }

  std::vector<Level> stack_;
  std::vector<ProfileError>& errors_;
};

}  // namespace

bool load_profile(const Model& model, const Plan& plan, std::string_view text, const Limits& limits,
                  Facts& facts, std::vector<ProfileError>& errors) {
  if (text.size() > limits.max_profile_bytes) {
    errors.push_back({"", "the profile is larger than the limit of " +
                              std::to_string(limits.max_profile_bytes) + " bytes"});
    return false;
  }
  if (json_depth(text) > limits.max_profile_depth) {
    errors.push_back({"", "the profile is nested more than " +
                              std::to_string(limits.max_profile_depth) + " levels deep"});
    return false;
  }
  // nlohmann/json stops at a NUL byte as if the text ended there: what follows it
  // would be ignored unread.
  if (std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    errors.push_back({"", "invalid JSON at byte " + std::to_string(nul + 1) +
                              ": a NUL byte (JSON text has none; the profile may be cut or "
                              "binary)"});
    return false;
  }
  std::vector<ProfileError> duplicates;
  json document = json::parse(text.begin(), text.end(), DuplicateKeys(duplicates), false);
  if (document.is_discarded()) {
    errors.push_back({"", json_error(text)});
    return false;
  }
  if (!duplicates.empty()) {
    errors.insert(errors.end(), duplicates.begin(), duplicates.end());
  } else {
    Loader(model, plan, facts, errors).load(document);
  }
  for (ProfileError& e : errors) {
    e.path = utf8::printable(e.path);  // messages quote the input
    e.message = utf8::printable(e.message);
  }
  return errors.empty();
}

}  // namespace stimrank::engine
