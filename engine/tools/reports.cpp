#include "stimrank/reports.hpp"

#include <map>
#include <nlohmann/json.hpp>

#include "compiled.hpp"

namespace stimrank {

using nlohmann::ordered_json;

namespace {

std::string dump(const ordered_json& value) {
  return value.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

ordered_json diagnostic_json(const Diagnostic& d) {
  ordered_json out = {
      {"code", d.code},
      {"severity", to_string(d.severity)},
      {"file", d.location.file},
      {"line", d.location.line},
      {"column", d.location.column},
      {"end",
       {{"line", d.location.end_line ? d.location.end_line : d.location.line},
        {"column", d.location.end_column ? d.location.end_column : d.location.column}}},
      {"message", d.message},
      {"hints", ordered_json::array()}};
  if (!d.hint.empty()) out["hints"].push_back(d.hint);
  return out;
}

}  // namespace

std::string diagnostics_json(const std::vector<Diagnostic>& diagnostics) {
  ordered_json list = ordered_json::array();
  int errors = 0, warnings = 0;
  for (const Diagnostic& d : diagnostics) {
    list.push_back(diagnostic_json(d));
    errors += d.severity == Severity::error;
    warnings += d.severity == Severity::warning;
  }
  return dump({{"diagnostics", list}, {"errors", errors}, {"warnings", warnings}});
}

std::string diagnostics_sarif(const std::vector<Diagnostic>& diagnostics,
                              const std::string& tool_version) {
  ordered_json rules = ordered_json::array(), results = ordered_json::array();
  std::map<std::string, int> rule_index;
  for (const Diagnostic& d : diagnostics) {
    auto [at, added] = rule_index.emplace(d.code, static_cast<int>(rules.size()));
    if (added) rules.push_back({{"id", d.code}});
    const char* level = d.severity == Severity::error     ? "error"
                        : d.severity == Severity::warning ? "warning"
                                                          : "note";
    std::string text = d.message + (d.hint.empty() ? "" : " (" + d.hint + ")");
    ordered_json result = {{"ruleId", d.code},
                           {"ruleIndex", at->second},
                           {"level", level},
                           {"message", {{"text", text}}}};
    if (!d.location.file.empty()) {
      ordered_json physical = {{"artifactLocation", {{"uri", d.location.file}}}};
      if (d.location.line > 0) {
        ordered_json region = {{"startLine", d.location.line},
                               {"startColumn", std::max(1, d.location.column)}};
        if (d.location.end_line >= d.location.line && d.location.end_column > 0) {
          region["endLine"] = d.location.end_line;
          region["endColumn"] = d.location.end_column;
        }
        physical["region"] = region;
      }
      result["locations"] = ordered_json::array({{{"physicalLocation", physical}}});
    }
    results.push_back(result);
  }
  ordered_json sarif = {
      {"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
      {"version", "2.1.0"},
      {"runs",
       ordered_json::array(
           {{{"tool",
              {{"driver", {{"name", "stimrank"}, {"version", tool_version}, {"rules", rules}}}}},
             {"columnKind", "unicodeCodePoints"},
             {"results", results}}})}};
  return dump(sarif);
}

std::string ruleset_info_json(const RuleSetInfo& info) {
  ordered_json out = {{"name", info.name}, {"version", info.version}, {"digest", info.digest}};
  out["policy"] = {{"rank", info.policy.rank},     {"because", info.policy.because},
                   {"source", info.policy.source}, {"doi", info.policy.doi},
                   {"url", info.policy.url},       {"tags", info.policy.tags}};
  out["sources"] = ordered_json::array();
  for (const SourceInfo& s : info.sources)
    out["sources"].push_back(
        {{"id", s.id}, {"citation", s.citation}, {"doi", s.doi}, {"url", s.url}, {"tags", s.tags}});
  out["options"] = ordered_json::array();
  for (const OptionInfo& o : info.options) {
    ordered_json details = ordered_json::object(), complications = ordered_json::array();
    for (const auto& [key, value] : o.details) details[key] = value;
    for (const ComplicationInfo& c : o.complications)
      complications.push_back({{"text", c.text},
                               {"rate", c.rate},
                               {"source", c.source},
                               {"doi", c.doi},
                               {"tags", c.tags}});
    out["options"].push_back({{"id", o.id},
                              {"title", o.title},
                              {"family", o.family},
                              {"invasiveness", o.invasiveness},
                              {"protocol", o.protocol},
                              {"notes", o.notes},
                              {"details", details},
                              {"complications", complications}});
  }
  out["rules"] = ordered_json::array();
  for (const RuleInfo& r : info.rules)
    out["rules"].push_back({{"id", r.id},
                            {"kind", r.kind},
                            {"options", r.options},
                            {"condition", r.condition},
                            {"label", r.label},
                            {"because", r.because},
                            {"scheme", r.scheme},
                            {"grade", r.grade},
                            {"weight", r.weight},
                            {"source", r.source},
                            {"doi", r.doi},
                            {"url", r.url},
                            {"tags", r.tags},
                            {"unverified", r.unverified},
                            {"location", r.location}});
  out["concepts"] = ordered_json::array();
  for (const ConceptInfo& c : info.concepts)
    out["concepts"].push_back({{"id", c.id},
                               {"title", c.title},
                               {"valueset", c.valueset},
                               {"codes", c.codes},
                               {"includes", c.includes}});
  return dump(out);
}

std::string test_report_json(const TestReport& report) {
  ordered_json cases = ordered_json::array();
  for (const TestCaseResult& c : report.cases)
    cases.push_back({{"file", c.file},
                     {"name", c.name},
                     {"passed", c.passed},
                     {"why", c.why},
                     {"problems", c.problems},
                     {"ranking", c.ranking},
                     {"fired_rules", c.fired_rules}});
  return dump({{"passed", report.passed},
               {"failed", report.failed},
               {"errors", report.errors},
               {"cases", cases}});
}

std::string coverage_json(const CoverageReport& coverage) {
  ordered_json rules = ordered_json::array();
  for (const RuleCoverage& r : coverage.rules)
    rules.push_back({{"rule", r.rule},
                     {"kind", r.kind},
                     {"options", r.options},
                     {"location", r.location},
                     {"fired", r.fired}});
  return dump({{"cases", coverage.cases},
               {"rules_total", coverage.rules.size()},
               {"covered", coverage.covered},
               {"percent", coverage.percent},
               {"indications", coverage.indications},
               {"indications_covered", coverage.indications_covered},
               {"contraindications", coverage.contraindications},
               {"contraindications_covered", coverage.contraindications_covered},
               {"rules", rules}});
}

std::string impact_json(const ImpactReport& report) {
  ordered_json changes = ordered_json::array(), by_rule = ordered_json::array();
  for (const OptionChange& c : report.changes)
    changes.push_back({{"profile", c.profile},
                       {"option", c.option},
                       {"old_status", c.old_status},
                       {"new_status", c.new_status},
                       {"old_rank", c.old_rank},
                       {"new_rank", c.new_rank},
                       {"rules", c.rules}});
  for (const RuleImpact& r : report.by_rule)
    by_rule.push_back({{"rule", r.rule},
                       {"change", r.change},
                       {"profiles", r.profiles},
                       {"patients", r.patients},
                       {"option_changes", r.option_changes}});
  return dump({{"profiles", report.profiles},
               {"changed_profiles", report.changed_profiles},
               {"invalid", report.invalid},
               {"changes", changes},
               {"unlisted_changes", report.unlisted_changes},
               {"by_rule", by_rule},
               {"errors", report.errors},
               {"unlisted_errors", report.unlisted_errors}});
}

namespace {

using rules::model::Field;
using rules::model::FieldType;
using rules::model::Schema;

const ordered_json kIdentifier = {{"type", "string"}, {"pattern", "^[a-z][a-z0-9_]*$"}};

ordered_json field_schema(const Schema& schema, const Field& field, bool codes_entry = false);

// An object of `fields` (an Object, or a List's or Codes' entry, with coding keys when
// one of the fields is a Coding and `present` in a Codes list).
ordered_json object_schema(const Schema& schema, const std::vector<int>& fields, bool codes_entry) {
  ordered_json properties = ordered_json::object(), required = ordered_json::array();
  const Field* coding = nullptr;
  for (int f : fields)
    if (schema.fields[static_cast<std::size_t>(f)].type == FieldType::Coding)
      coding = &schema.fields[static_cast<std::size_t>(f)];
  if (coding) {
    properties["system"] = {{"enum", coding->systems}};
    properties["code"] = {{"type", "string"}, {"minLength", 1}};
    properties["name"] = kIdentifier;
    properties["display"] = {{"type", "string"}};
  }
  if (codes_entry)
    properties["present"] = {{"type", "boolean"},
                             {"default", true},
                             {"description", "false: the finding was assessed and is absent"}};
  for (int f : fields) {
    const Field& child = schema.fields[static_cast<std::size_t>(f)];
    if (child.type == FieldType::Coding) continue;
    properties[child.name] = field_schema(schema, child);
    if (child.required) required.push_back(child.name);
  }
  ordered_json out = {{"type", "object"}, {"additionalProperties", false}};
  if (!required.empty()) out["required"] = required;
  out["properties"] = properties;
  return out;
}

ordered_json field_schema(const Schema& schema, const Field& field, bool) {
  ordered_json out;
  auto range = [&](ordered_json& value) {
    if (field.min) value["minimum"] = *field.min;
    if (field.max) value["maximum"] = *field.max;
  };
  switch (field.type) {
    case FieldType::Bool: out = {{"type", "boolean"}}; break;
    case FieldType::Int:
      out = {{"type", "integer"}};
      range(out);
      break;
    case FieldType::Number:
      out = {{"type", "number"}};
      range(out);
      break;
    case FieldType::String: out = {{"type", "string"}}; break;
    case FieldType::Ident: out = kIdentifier; break;
    case FieldType::Enum: out = {{"enum", field.labels}}; break;
    case FieldType::EnumSet: {
      // A list (complete), or an open set: the labels present, any other unknown.
      ordered_json list = {{"type", "array"}, {"items", {{"enum", field.labels}}}};
      ordered_json open = {
          {"type", "object"},
          {"required", ordered_json::array({"present", "complete"})},
          {"additionalProperties", false},
          {"properties", {{"present", list}, {"complete", {{"type", "boolean"}}}}}};
      out = {{"oneOf", ordered_json::array({list, open})}};
      break;
    }
    case FieldType::Codes: {
      // A concept id the rule set declares, or a coded entry.
      ordered_json coded = object_schema(schema, field.children, true);
      coded["required"] = ordered_json::array({"system", "code"});
      if (!coded["properties"].contains("system")) {
        coded["properties"]["system"] = {{"enum", field.systems}};
        coded["properties"]["code"] = {{"type", "string"}, {"minLength", 1}};
        coded["properties"]["display"] = {{"type", "string"}};
      }
      // An entry whose code is not known (a record's medication whose drug it does not
      // say): every test it could satisfy is unknown.
      ordered_json uncoded = {
          {"type", "object"},
          {"required", ordered_json::array({"display"})},
          {"additionalProperties", false},
          {"properties", {{"display", {{"type", "string"}}}}},
          {"description", "an entry whose code is not known: a test it could satisfy is unknown"}};
      out = {{"type", "array"},
             {"items", {{"oneOf", ordered_json::array({kIdentifier, coded, uncoded})}}}};
      break;
    }
    case FieldType::List:
      out = {{"type", "array"}, {"items", object_schema(schema, field.children, false)}};
      break;
    case FieldType::Object: out = object_schema(schema, field.children, false); break;
    case FieldType::Coding: out = {{"enum", field.systems}}; break;
  }
  return out;
}

}  // namespace

std::string profile_schema_json(const RuleSet& rules) {
  const auto& model = detail::compiled(rules).model;
  ordered_json properties = {{"id", {{"type", "string"}, {"minLength", 1}, {"maxLength", 128}}}};
  for (int f : model.schema.roots) {
    const Field& field = model.schema.fields[static_cast<std::size_t>(f)];
    properties[field.name] = field_schema(model.schema, field);
  }
  ordered_json concepts = ordered_json::array();
  for (const auto& c : model.concepts) concepts.push_back(c.id);
  ordered_json out = {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"title", "stimrank profile for " + rules.name() + " " + rules.version()},
      {"description",
       "Generated from the rule set's facts declaration (stimrank schema). A field left out "
       "is unknown, never false. Concept ids the rule set declares: see x-concepts."},
      {"type", "object"},
      {"required", ordered_json::array({"id"})},
      {"additionalProperties", false},
      {"properties", properties},
      {"x-concepts", concepts}};
  return dump(out);
}

}  // namespace stimrank
