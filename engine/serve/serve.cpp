// The CDS Hooks service: routes, calls, cards, feedback and the explanation page,
// over the Boost.Beast transport of http_server.cpp (cpp-httplib fetches what the EHR
// did not prefetch). docs/cds-hooks.md says what each endpoint answers and why.
#include "stimrank/serve.hpp"

#include <httplib.h>
#include <simdjson.h>

#include <array>
#include <chrono>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "fhir_resources.hpp"
#include "http_server.hpp"
#include "json_text.hpp"
#include "jwt.hpp"
#include "markup.hpp"
#include "stimrank/evaluator.hpp"
#include "stimrank/fhir.hpp"
#include "stimrank/jsonl.hpp"
#include "stimrank/storage.hpp"
#include "stimrank/version.hpp"

namespace stimrank {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr const char* kPatientView = "stimrank-patient-view";
constexpr const char* kOrderSelect = "stimrank-order-select";
constexpr const char* kOrderSign = "stimrank-order-sign";
// The coding an order names a neuromodulation option with (the option's id as code):
// no SNOMED CT or CPT code for these orders could be verified, so an integrator maps
// its order catalogue to option ids (docs/cds-hooks.md).
constexpr const char* kOptionSystem = "urn:stimrank:option";

// The hook a service answers, "" for no such service.
std::string hook_of(const std::string& id) {
  if (id == kPatientView) return "patient-view";
  if (id == kOrderSelect) return "order-select";
  if (id == kOrderSign) return "order-sign";
  return {};
}

// The error body CDS Hooks clients read: a FHIR OperationOutcome.
std::string operation_outcome(const std::string& code, const std::string& message) {
  ordered_json outcome = {
      {"resourceType", "OperationOutcome"},
      {"issue", json::array({{{"severity", "error"}, {"code", code}, {"diagnostics", message}}})}};
  return outcome.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

using serving::HttpRequest;
using serving::HttpResponse;

void fail(HttpResponse& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  res.set_content(operation_outcome(code, message), "application/fhir+json");
}

std::string today_utc() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[11];
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

std::string new_uuid() {
  thread_local std::mt19937_64 random(
      std::random_device{}() ^
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::uint64_t a = random(), b = random();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 1
  char text[37];
  std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return text;
}

// At most `limit` characters of UTF-8 text, cut at a character boundary.
std::string cut_utf8(const std::string& text, std::size_t limit) {
  std::size_t characters = 0, at = 0;
  while (at < text.size() && characters < limit) {
    auto byte = static_cast<unsigned char>(text[at]);
    at += byte < 0x80 ? 1 : byte < 0xe0 ? 2 : byte < 0xf0 ? 3 : 4;
    ++characters;
  }
  return text.substr(0, std::min(at, text.size()));
}

// Markdown text: characters that would be markup are escaped.
std::string escape_markdown(std::string_view text) {
  static constexpr auto markup = [] {
    std::array<bool, 256> table{};
    for (unsigned char c : std::string_view("\\`*_[]<>#|")) table[c] = true;
    return table;
  }();
  std::string out;
  out.reserve(text.size() + 8);
  std::size_t from = 0;
  for (std::size_t at = 0; at < text.size(); ++at) {
    if (!markup[static_cast<unsigned char>(text[at])]) continue;
    out.append(text, from, at - from);
    out += '\\';
    from = at;
  }
  out.append(text, from);
  return out;
}

std::string grade_text(const Evidence& e) {
  std::string grade;
  for (const GradeDimension& d : e.grade)
    grade += (grade.empty() ? "" : ", ") + d.name + " " + d.value;
  return e.scheme + (grade.empty() ? "" : " (" + grade + ")");
}

bool ranked(const OptionResult& o) {
  return o.status == Status::recommended || o.status == Status::consider;
}

// The card's detail: the ranking, each option's status, evidence and reasons with
// their DOIs, and the data that would change the answer.
std::string card_detail(const Result& result) {
  std::string md;
  md.reserve(4096);
  auto doi_link = [&md](const std::string& doi) {
    if (doi.empty()) return;
    md.append(" ([doi:").append(doi).append("](https://doi.org/").append(doi).append("))");
  };
  md.append("**Ranked options** (")
      .append(escape_markdown(result.ruleset_name))
      .append(" ")
      .append(escape_markdown(result.ruleset_version))
      .append(")\n\n");
  std::size_t others = 0;
  for (const OptionResult& o : result.options) {
    if (!ranked(o)) {
      ++others;
      continue;
    }
    md.append(std::to_string(o.rank.value_or(0)))
        .append(". **")
        .append(escape_markdown(o.title))
        .append("**: ")
        .append(to_string(o.status))
        .append(". ")
        .append(escape_markdown(o.summary))
        .append("\n");
    for (const Evidence& e : o.evidence) {
      md.append("   - evidence: ").append(escape_markdown(grade_text(e)));
      doi_link(e.doi);
      md.append(e.unverified ? " *unverified*\n" : "\n");
    }
    for (const Reason& r : o.reasons) {
      if (r.kind == "indication") continue;
      md.append("   - ").append(r.kind).append(": ").append(escape_markdown(r.text));
      doi_link(r.doi);
      md.append("\n");
    }
    if (!o.missing.empty()) {
      md.append("   - would change with: ");
      for (std::size_t i = 0; i < o.missing.size(); ++i)
        md.append(i ? ", `" : "`").append(o.missing[i]).append("`");
      md.append("\n");
    }
  }
  if (others)
    md.append("\n")
        .append(std::to_string(others))
        .append(" other options are excluded or not indicated: see the explanation.\n");
  return md;
}

// The explanation page: the whole result, readable on a ward computer and printable.
std::string explanation_page(const Result& result, const std::string& uuid) {
  std::string html =
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>stimrank: " +
      engine::escape_markup(result.profile) +
      "</title><style>body{font-family:sans-serif;max-width:90em;margin:1em auto;padding:0 1em}"
      "table{border-collapse:collapse;width:100%;table-layout:fixed}"
      "td,th{border:1px solid #999;padding:.3em;vertical-align:top;overflow-wrap:anywhere}"
      "th:nth-child(1){width:3em}th:nth-child(2){width:11em}th:nth-child(3){width:7em}"
      "th:nth-child(4){width:4em}th:nth-child(6){width:13em}th:nth-child(7){width:10em}"
      ".excluded{color:#900}@media print{a{color:black}}</style></head><body>";
  html += "<h1>Neuromodulation options</h1><p>Patient <code>" +
          engine::escape_markup(result.profile) + "</code>; rule set " +
          engine::escape_markup(result.ruleset_name) + " " +
          engine::escape_markup(result.ruleset_version) + " (<code>" +
          engine::escape_markup(result.ruleset_digest) + "</code>); card <code>" +
          engine::escape_markup(uuid) + "</code>.</p>";
  html +=
      "<table id=\"ranking\"><tr><th>rank</th><th>option</th><th>status</th><th>score</th>"
      "<th>reasons</th><th>evidence</th><th>data that would change it</th></tr>";
  for (const OptionResult& o : result.options) {
    html += "<tr class=\"" + std::string(to_string(o.status)) + "\"><td>" +
            (o.rank ? std::to_string(*o.rank) : "") + "</td><td>" + engine::escape_markup(o.title) +
            "</td><td>" + to_string(o.status) + "</td><td>" +
            (ranked(o) ? json(o.score).dump() : "") + "</td><td><ul>";
    for (const Reason& r : o.reasons) {
      html += "<li>" + engine::escape_markup(r.kind) + ": " + engine::escape_markup(r.text);
      if (!r.doi.empty())
        html += " <a class=\"doi\" href=\"https://doi.org/" + engine::escape_markup(r.doi) +
                "\">doi:" + engine::escape_markup(r.doi) + "</a>";
      if (r.unverified) html += " <em>(unverified)</em>";
      html += "</li>";
    }
    html += "</ul></td><td><ul>";
    for (const Evidence& e : o.evidence)
      html += "<li>" + engine::escape_markup(grade_text(e)) +
              (e.doi.empty()
                   ? ""
                   : " <a class=\"doi\" href=\"https://doi.org/" + engine::escape_markup(e.doi) +
                         "\">doi:" + engine::escape_markup(e.doi) + "</a>") +
              "</li>";
    html += "</ul></td><td>";
    for (const std::string& m : o.missing) html += "<code>" + engine::escape_markup(m) + "</code> ";
    html += "</td></tr>";
  }
  html += "</table>";
  if (!result.warnings.empty()) {
    html += "<h2>Warnings</h2><ul>";
    for (const std::string& w : result.warnings)
      html += "<li>" + engine::escape_markup(w) + "</li>";
    html += "</ul>";
  }
  html += "<p>stimrank " STIMRANK_VERSION ": decision support, not a decision.</p></body></html>";
  return html;
}

// The last explanations, by card uuid (bounded: a page older than the last 1,024
// cards is gone).
// What a card came from: its evaluation's audit record, for feedback to point at.
struct CardOrigin {
  std::int64_t audit_seq = 0;
  std::string patient, ruleset_digest;
};

// What a card's page is made from: the profile the record mapped to and the warnings
// of the call. The page evaluates the profile again when it is opened (the same rules
// give the same result): most cards are never opened, and keeping every explained
// result, or writing every page, cost more than the evaluation.
struct Kept {
  std::string profile;
  std::vector<std::string> warnings;
};

class Explanations {
 public:
  void add(const std::string& uuid, std::shared_ptr<const Kept> page, CardOrigin origin) {
    std::lock_guard<std::mutex> lock(mutex_);
    origins_[uuid] = std::move(origin);
    pages_[uuid] = std::move(page);
    order_.push_back(uuid);
    if (order_.size() > 1024) {
      pages_.erase(order_.front());
      origins_.erase(order_.front());
      order_.pop_front();
    }
  }
  CardOrigin origin(const std::string& uuid) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = origins_.find(uuid);
    return it == origins_.end() ? CardOrigin{} : it->second;
  }
  bool find(const std::string& uuid, std::shared_ptr<const Kept>& page) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = pages_.find(uuid);
    if (it == pages_.end()) return false;
    page = it->second;
    return true;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const Kept>> pages_;
  std::map<std::string, CardOrigin> origins_;
  std::deque<std::string> order_;
};

json discovery() {
  auto search = [](const std::string& query) { return query; };
  return {
      {"services",
       json::array(
           {{{"hook", "patient-view"},
             {"id", kPatientView},
             {"title", "Neuromodulation options for chronic neuropathic pain"},
             {"description",
              "Ranks the neuromodulation options for this patient, with the evidence "
              "and reasons behind each, and the data that would change the answer."},
             {"prefetch",
              {{"patient", search("Patient/{{context.patientId}}")},
               {"conditions", search("Condition?patient={{context.patientId}}")},
               {"observations",
                search(
                    "Observation?patient={{context.patientId}}&code=http://loinc.org|72514-3,http:/"
                    "/loinc.org|82810-3,http://loinc.org|4548-4,http://loinc.org|39156-5")},
               // with the Medications they name by reference (read by the mapping)
               {"medicationRequests", search("MedicationRequest?patient={{context.patientId}}"
                                             "&_include=MedicationRequest:medication")},
               {"medicationStatements", search("MedicationStatement?patient={{context.patientId}}"
                                               "&_include=MedicationStatement:medication")},
               {"devices", search("Device?patient={{context.patientId}}")},
               {"procedures", search("Procedure?patient={{context.patientId}}")}}}}})}};
}

// Discovery: the patient-view service, and the order services with the same prefetch.
json services() {
  json out = discovery();
  const json prefetch = out["services"][0]["prefetch"];
  for (const auto& [id, hook] :
       {std::pair{kOrderSelect, "order-select"}, std::pair{kOrderSign, "order-sign"}})
    out["services"].push_back(
        {{"hook", hook},
         {"id", id},
         {"title", "Neuromodulation order check"},
         {"description",
          "Checks a neuromodulation order (a ServiceRequest, DeviceRequest or Procedure coded "
          "with urn:stimrank:option) against the patient: critical when the option is "
          "excluded, warning when it is not indicated, research only or only to consider."},
         {"prefetch", prefetch}});
  return out;
}

// Per thread: an Evaluator for the rule set this thread used last, and one Result
// reused from call to call. The Evaluator holds its rule set, so a rule set's address
// cannot be taken over by another while it is remembered here.
struct Scratch {
  std::shared_ptr<const RuleSet> rules;
  std::optional<Evaluator> evaluator;
  Result result;
  std::vector<ProfileError> errors;
};

Scratch& scratch_for(const std::shared_ptr<const RuleSet>& rules) {
  thread_local Scratch scratch;
  if (scratch.rules != rules) {
    scratch.evaluator.emplace(rules);
    scratch.rules = rules;
  }
  return scratch;
}

class Service {
 public:
  Service(std::shared_ptr<const RuleSet> rules, const ServeOptions& options, std::string base)
      : rules_(std::move(rules)), options_(options), base_(std::move(base)) {}

  void call(const HttpRequest& req, HttpResponse& res, const std::string& id) {
    const std::string hook = hook_of(id);
    if (hook.empty()) {
      fail(res, 404, "not-found", "no CDS service `" + id + "` here; see GET /cds-services");
      return;
    }
    // The request is read once, with simdjson, and its prefetched resources go to the
    // mapper as they are: copying them into a Bundle and reading that again cost more
    // than the evaluation.
    thread_local simdjson::dom::parser parser;
    thread_local std::string body_copy;
    body_copy.reserve(req.body.size() + simdjson::SIMDJSON_PADDING);
    body_copy.assign(req.body);
    simdjson::dom::element request;
    if (parser.parse(body_copy.data(), body_copy.size(), false).get(request)) {
      std::string message = "the request is not JSON";
      try {
        const json parsed = json::parse(req.body);  // throws with the location
        (void)parsed;
      } catch (json::exception const& e) {
        std::string what = e.what();
        auto at = what.find("parse error");
        message += ": " + (at == std::string::npos ? what : what.substr(at));
      }
      fail(res, 400, "invalid", message);
      return;
    }
    if (!request.is_object()) {
      fail(res, 400, "invalid", "the request is not a JSON object");
      return;
    }
    auto text_at = [](simdjson::dom::element object,
                      const char* key) -> std::optional<std::string> {
      std::string_view text;
      if (object[key].get_string().get(text)) return std::nullopt;
      return std::string(text);
    };
    if (text_at(request, "hook") != hook) {
      fail(res, 400, "invalid", "service `" + id + "` answers the " + hook + " hook");
      return;
    }
    if (!text_at(request, "hookInstance")) {
      fail(res, 400, "required", "`hookInstance` is missing");
      return;
    }
    simdjson::dom::element context;
    std::optional<std::string> patient_id;
    if (!request["context"].get(context) && context.is_object())
      patient_id = text_at(context, "patientId");
    if (!patient_id) {
      fail(res, 400, "required", "`context.patientId` is missing");
      return;
    }
    std::vector<std::pair<std::string, std::string>> orders;  // (option id, order reference)
    if (hook != "patient-view") {  // the context alone, as a document (it is small)
      std::string problem =
          draft_orders(json{{"context", json::parse(simdjson::minify(context))}}, orders);
      if (!problem.empty()) {
        fail(res, 400, "invalid", problem);
        return;
      }
    }
    std::string patient = *patient_id;
    if (patient.rfind("Patient/", 0) == 0) patient = patient.substr(8);
    // The prefetched resources, each with its place in the request; a key the EHR
    // could not prefetch (null or absent) leaves that kind of data unknown.
    std::vector<detail::FhirResource> resources;
    bool has_patient = false;
    auto add_resource = [&](simdjson::dom::element resource, std::string path) {
      std::string_view type, rid;
      if (!resource.is_object() || resource["resourceType"].get_string().get(type)) return;
      if (type == "Patient" && !resource["id"].get_string().get(rid) && rid == patient)
        has_patient = true;
      resources.push_back({resource, std::move(path)});
    };
    auto add_value = [&](simdjson::dom::element value, const std::string& path) {
      std::string_view type;
      if (!value.is_object() || value["resourceType"].get_string().get(type)) return;
      if (type != "Bundle") {
        add_resource(value, path);
        return;
      }
      simdjson::dom::array entries;
      if (value["entry"].get_array().get(entries)) return;
      std::size_t i = 0;
      for (simdjson::dom::element entry : entries) {
        simdjson::dom::element resource;
        if (entry.is_object() && !entry["resource"].get(resource))
          add_resource(resource, path + ".entry[" + std::to_string(i) + "].resource");
        ++i;
      }
    };
    std::vector<std::string> not_prefetched;
    simdjson::dom::object prefetch;
    const bool has_prefetch = !request["prefetch"].get_object().get(prefetch);
    static const json templates = discovery()["services"][0]["prefetch"];
    for (const auto& [key, query] : templates.items()) {
      (void)query;
      simdjson::dom::element value;
      if (!has_prefetch || prefetch[key].get(value) || value.is_null()) {
        not_prefetched.push_back(key);
        continue;
      }
      add_value(value, "prefetch." + key);
    }
    // Prefetch under other keys (an EHR's own names) is read too.
    if (has_prefetch)
      for (auto field : prefetch)
        if (!templates.contains(std::string(field.key)))
          add_value(field.value, "prefetch." + std::string(field.key));
    // What was not prefetched is fetched from fhirServer with the request's token;
    // what cannot be had stays unknown (said in the result's warnings), except the
    // Patient, without whom there is nothing to answer (412).
    std::vector<std::string> fetch_warnings;
    std::string patient_problem = "not prefetched, and the request names no fhirServer";
    const std::string fhir_server = text_at(request, "fhirServer").value_or("");
    std::string token;
    simdjson::dom::element authorization;
    if (!request["fhirAuthorization"].get(authorization) && authorization.is_object())
      token = text_at(authorization, "access_token").value_or("");
    // The fetched resources, one JSON array read with a parser of their own.
    std::string fetched_text = "[";
    std::vector<std::string> fetched_paths;
    if (!fhir_server.empty() && options_.fetch_from_fhir_server)
      for (const std::string& key : not_prefetched) {
        std::string query = templates[key].get<std::string>();
        for (std::size_t at; (at = query.find("{{context.patientId}}")) != std::string::npos;)
          query.replace(at, 21, patient);
        json fetched = json::array();
        std::string problem = fetch(fhir_server, token, query, fetched);
        std::size_t i = 0;
        for (const json& entry : fetched) {
          const json& resource = entry["resource"];
          if (!resource.is_object() || !resource.contains("resourceType")) continue;
          if (fetched_paths.size()) fetched_text += ',';
          fetched_text += resource.dump(-1, ' ', false, json::error_handler_t::replace);
          fetched_paths.push_back("fhirServer " + key + "[" + std::to_string(i++) + "]");
        }
        if (problem.empty()) continue;
        if (key == "patient")
          patient_problem = "not prefetched, and fetching it failed: " + problem;
        else
          fetch_warnings.push_back(key + " could not be fetched from fhirServer (" + problem +
                                   "): that data is unknown");
      }
    fetched_text += ']';
    simdjson::dom::parser fetched_parser;
    if (!fetched_paths.empty()) {
      simdjson::dom::array fetched;
      if (fetched_parser.parse(fetched_text).get_array().get(fetched)) {
        fail(res, 500, "exception", "the resources fetched from fhirServer could not be read");
        return;
      }
      std::size_t i = 0;
      for (simdjson::dom::element resource : fetched)
        add_resource(resource, std::move(fetched_paths[i++]));
    }
    if (!has_patient) {
      fail(res, 412, "not-found",
           "the Patient `" + patient + "` was " + patient_problem +
               " (GET /cds-services lists the prefetch templates)");
      return;
    }
    // Mapped, then evaluated into this thread's reused Result: a call allocates next to
    // nothing for its explanation.
    FhirMapping mapping =
        detail::map_fhir_resources(*rules_, resources, FhirOptions{today_utc(), patient});
    Scratch& scratch = scratch_for(rules_);
    scratch.errors.clear();
    if (!mapping.ok() ||
        !scratch.evaluator->evaluate(mapping.profile, scratch.result, scratch.errors)) {
      std::string message;
      for (const ProfileError& e : mapping.ok() ? scratch.errors : mapping.errors)
        message += (message.empty() ? "" : "; ") + e.format();
      fail(res, 400, "invalid", "the prefetched record cannot be read: " + message);
      return;
    }
    for (std::string& w : fetch_warnings) mapping.warnings.push_back(std::move(w));
    Result& result = scratch.result;
    for (const std::string& w : mapping.warnings) result.warnings.push_back(w);
    std::shared_ptr<const Kept> kept;  // made once a card needs it
    auto keep = [&] {
      if (!kept)
        kept = std::make_shared<const Kept>(Kept{std::move(mapping.profile), mapping.warnings});
      return kept;
    };
    std::int64_t audit_seq = 0;
    if (options_.audit) {
      std::string error;
      // The record's input digest covers what the answer was computed from: the
      // request and what was fetched for it.
      const std::string input = fetched_text.size() > 2 ? req.body + "\n" + fetched_text : req.body;
      if (!options_.audit->append(result, input, error, audit_seq)) {
        fail(res, 500, "exception", "the audit record could not be written: " + error);
        return;
      }
    }
    if (hook != "patient-view") {
      order_cards(result, keep(), orders, audit_seq, res);
      return;
    }
    std::string body = "{\"cards\":[";
    const OptionResult* first = nullptr;
    std::size_t count = 0;
    for (const OptionResult& o : result.options)
      if (ranked(o)) {
        if (!first) first = &o;
        ++count;
      }
    if (first) {  // no indication, no card: the clinician is not interrupted
      const std::string uuid = new_uuid();
      explanations_.add(uuid, keep(), CardOrigin{audit_seq, result.profile, result.ruleset_digest});
      std::string summary = "Neuromodulation: " + first->title + " (" + to_string(first->status) +
                            ")" +
                            (count > 1 ? ", first of " + std::to_string(count) + " options" : "");
      append_card(body, uuid, cut_utf8(summary, 140), "info", card_detail(result), result);
    }
    body += "]}";
    res.status = 200;
    res.set_content(std::move(body), "application/json");
  }

  // The orders to check: draftOrders entries (for order-select, the `selections`
  // only, when given) coded with kOptionSystem. "" or what is wrong with the request.
  static std::string draft_orders(const json& request,
                                  std::vector<std::pair<std::string, std::string>>& orders) {
    const json& context = request["context"];
    if (!context.is_object() || !context.contains("draftOrders") ||
        !context["draftOrders"].is_object())
      return "`context.draftOrders` (a Bundle) is missing";
    const json& drafts = context["draftOrders"];
    std::set<std::string> selected;
    if (context.contains("selections") && context["selections"].is_array())
      for (const json& s : context["selections"])
        if (s.is_string()) selected.insert(s.get<std::string>());
    if (!drafts.contains("entry") || !drafts["entry"].is_array()) return {};
    for (const json& entry : drafts["entry"]) {
      const json* resource =
          entry.is_object() && entry.contains("resource") ? &entry["resource"] : nullptr;
      if (!resource || !resource->is_object()) continue;
      const std::string reference =
          resource->value("resourceType", "") + "/" + resource->value("id", "");
      if (!selected.empty() && !selected.count(reference)) continue;
      for (const char* key : {"code", "codeCodeableConcept"}) {
        if (!resource->contains(key) || !(*resource)[key].is_object()) continue;
        const json& concept_json = (*resource)[key];
        if (!concept_json.contains("coding") || !concept_json["coding"].is_array()) continue;
        for (const json& coding : concept_json["coding"])
          if (coding.is_object() && coding.value("system", "") == kOptionSystem &&
              coding.contains("code") && coding["code"].is_string())
            orders.emplace_back(coding["code"].get<std::string>(), reference);
      }
    }
    return {};
  }

  // One card per ordered option: critical when excluded; warning when not indicated,
  // research only or only to consider; info when recommended. An order for an option
  // the rule set does not have gets a warning saying so.
  void order_cards(const Result& result, const std::shared_ptr<const Kept>& kept,
                   const std::vector<std::pair<std::string, std::string>>& orders,
                   std::int64_t audit_seq, HttpResponse& res) {
    std::string body = "{\"cards\":[";
    for (const auto& [option_id, reference] : orders) {
      const OptionResult* option = nullptr;
      for (const OptionResult& o : result.options)
        if (o.option == option_id) option = &o;
      const std::string uuid = new_uuid();
      std::string indicator = "warning", summary;
      if (!option) {
        summary =
            "Order " + reference + " names `" + option_id + "`, which this rule set does not know";
      } else if (option->status == Status::excluded) {
        indicator = "critical";
        summary = "Contraindicated for this patient: " + option->title;
      } else if (option->status == Status::recommended) {
        indicator = "info";
        summary = option->title + ": recommended for this patient";
      } else if (option->status == Status::consider) {
        summary = option->title + ": only to consider for this patient";
      } else if (option->status == Status::research_only) {
        summary = option->title + ": research only for this patient";
      } else {
        summary = option->title + ": not indicated for this patient";
      }
      std::string detail = "Order `" + escape_markdown(reference) + "`.\n\n";
      if (option) {
        detail += "**" + escape_markdown(option->title) + "**: " + to_string(option->status) +
                  ". " + escape_markdown(option->summary) + "\n\n";
        for (const Reason& r : option->reasons)
          detail += "- " + r.kind + ": " + escape_markdown(r.text) +
                    (r.doi.empty() ? "" : " ([doi:" + r.doi + "](https://doi.org/" + r.doi + "))") +
                    "\n";
        if (!option->missing.empty()) {
          detail += "\nWould change with: ";
          for (std::size_t i = 0; i < option->missing.size(); ++i)
            detail += (i ? ", " : "") + std::string("`") + option->missing[i] + "`";
          detail += "\n";
        }
      }
      explanations_.add(uuid, kept, CardOrigin{audit_seq, result.profile, result.ruleset_digest});
      if (body.back() == '}') body += ',';
      append_card(body, uuid, cut_utf8(summary, 140), indicator, detail, result);
    }
    body += "]}";
    res.status = 200;
    res.set_content(std::move(body), "application/json");
  }

  // One card, as JSON text appended to `out`.
  void append_card(std::string& out, const std::string& uuid, std::string_view summary,
                   std::string_view indicator, std::string_view detail,
                   const Result& result) const {
    const std::string url = base_ + "/explain/" + uuid;
    detail::append_json_field(out, "{\"uuid\":", uuid);
    detail::append_json_field(out, ",\"summary\":", summary);
    detail::append_json_field(out, ",\"indicator\":", indicator);
    detail::append_json_field(out, ",\"detail\":", detail);
    detail::append_json_field(out, ",\"source\":{\"label\":",
                              "stimrank " + result.ruleset_name + " " + result.ruleset_version);
    detail::append_json_field(out, ",\"url\":", url);
    out +=
        R"(},"overrideReasons":[{"code":"clinical-judgement","system":"urn:stimrank:override-reason",)"
        R"("display":"Clinical judgement differs"},{"code":"patient-preference",)"
        R"("system":"urn:stimrank:override-reason","display":"Patient preference"}],)"
        R"("links":[{"label":"Full explanation",)";
    detail::append_json_field(out, "\"url\":", url);
    out += R"(,"type":"absolute"}]})";
  }

  // GET fhirServer/query: a resource, or a searchset Bundle whose `next` pages (on the
  // same server, at most 20) are followed; entries appended. Bounded in time (5 s to
  // connect, 10 s a read) and in size (--limit fhir-bytes). "" or why it failed.
  std::string fetch(const std::string& server, const std::string& token, const std::string& query,
                    json& entries) const {
    static const std::regex url(R"((https?://[^/]+)(/.*)?)");
    std::smatch parts;
    if (!std::regex_match(server, parts, url))
      return "fhirServer `" + server + "` is not an http(s) URL";
    const std::string origin = parts[1], prefix = parts[2];
    httplib::Client client(origin);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(10, 0);
    client.set_follow_location(false);
    httplib::Headers headers = {{"Accept", "application/fhir+json"}};
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    std::string path = prefix + "/" + query;
    for (int page = 0; page < 20 && !path.empty(); ++page) {
      std::string body;
      bool too_large = false;
      auto response = client.Get(path, headers, [&](const char* data, std::size_t length) {
        body.append(data, length);
        too_large = body.size() > options_.max_body_bytes;
        return !too_large;
      });
      if (too_large) return "the answer is larger than the limit";
      if (!response) return httplib::to_string(response.error());
      if (response->status != 200) return "HTTP " + std::to_string(response->status);
      json answer = json::parse(body, nullptr, false);
      if (!answer.is_object()) return "the answer is not a FHIR resource";
      path.clear();
      if (answer.value("resourceType", "") != "Bundle") {
        entries.push_back({{"resource", std::move(answer)}});
        break;
      }
      if (answer.contains("entry") && answer["entry"].is_array())
        for (const json& entry : answer["entry"])
          if (entry.is_object() && entry.contains("resource")) entries.push_back(entry);
      if (answer.contains("link") && answer["link"].is_array())
        for (const json& link : answer["link"])
          if (link.is_object() && link.value("relation", "") == "next") {
            std::string next = link.value("url", "");
            if (next.rfind(origin + "/", 0) == 0) path = next.substr(origin.size());
          }
    }
    return {};
  }

  void feedback(const HttpRequest& req, HttpResponse& res, const std::string& id) {
    if (hook_of(id).empty()) {
      fail(res, 404, "not-found", "no CDS service `" + id + "` here");
      return;
    }
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("feedback") ||
        !body["feedback"].is_array()) {
      fail(res, 400, "invalid", "feedback is {\"feedback\": [{\"card\", \"outcome\", …}]}");
      return;
    }
    for (const json& item : body["feedback"])
      if (!item.is_object() || !item.contains("card") || !item.contains("outcome") ||
          (item["outcome"] != "accepted" && item["outcome"] != "overridden")) {
        fail(res, 400, "invalid",
             "each feedback item has `card` and `outcome` (accepted or overridden)");
        return;
      }
    // Each answer goes into the audit trail, next to the evaluation its card came from.
    if (options_.audit)
      for (const json& item : body["feedback"]) {
        const std::string card = item["card"].is_string() ? item["card"].get<std::string>() : "";
        CardOrigin origin = explanations_.origin(card);
        std::string error;
        std::int64_t seq = 0;
        if (!options_.audit->append_feedback(origin.ruleset_digest, origin.patient, card,
                                             origin.audit_seq, item.dump(), error, seq)) {
          fail(res, 500, "exception", "the feedback could not be recorded: " + error);
          return;
        }
      }
    res.status = 200;
    res.set_content("{}", "application/json");
  }

  void explain(const HttpRequest&, HttpResponse& res, const std::string& uuid) {
    std::shared_ptr<const Kept> kept;
    Evaluation again;
    if (explanations_.find(uuid, kept)) again = rules_->evaluate_json(kept->profile);
    if (!again.result) {
      res.status = 404;
      res.set_content("<!DOCTYPE html><p>No explanation `" + engine::escape_markup(uuid) +
                          "` here (pages are kept for the last 1,024 cards).</p>",
                      "text/html; charset=utf-8");
      return;
    }
    for (const std::string& w : kept->warnings) again.result->warnings.push_back(w);
    res.status = 200;
    res.set_content(explanation_page(*again.result, uuid), "text/html; charset=utf-8");
  }

 private:
  std::shared_ptr<const RuleSet> rules_;
  const ServeOptions& options_;
  std::string base_;
  Explanations explanations_;
};

}  // namespace

std::string serve_cds_hooks(std::shared_ptr<const RuleSet> rules, const ServeOptions& options,
                            const std::atomic<bool>& stop) noexcept {
  try {
    if (!rules) return "no rule set";
    if (options.trusted_issuers.empty() && !options.allow_unauthenticated)
      return "no trusted issuer: give --issuer ISS --jwks FILE (CDS Hooks bearer tokens), or "
             "--allow-unauthenticated (loopback or behind an authenticating proxy only)";
    std::vector<serving::TrustedIssuer> issuers;
    for (const auto& [iss, jwks] : options.trusted_issuers) issuers.push_back({iss, jwks});
    serving::TokenVerifier verifier(issuers);
    if (std::string problem = verifier.check_keys(); !problem.empty()) return problem;
    const bool authenticate = !options.trusted_issuers.empty();
    serving::HttpServerOptions http;
    http.host = options.host;
    http.port = options.port;
    http.threads =
        options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    http.max_body_bytes = options.max_body_bytes;
    http.log = options.log;
    std::string base;
    std::optional<Service> service;  // made once the port is known: cards link to it
    http.on_listening = [&](int port) {
      base = options.public_url.empty() ? "http://" + options.host + ":" + std::to_string(port)
                                        : options.public_url;
      service.emplace(rules, options, base);
      if (options.on_listening) options.on_listening(port);
    };
    // What the transport could not read (not HTTP, too large) gets the spec's body.
    http.reject = [](int status, HttpResponse& res) {
      if (status == 413)
        fail(res, 413, "too-costly", "the request body is larger than the limit");
      else if (status == 431)
        fail(res, 431, "too-costly", "the request's header is larger than the limit");
      else if (status == 400)
        fail(res, 400, "structure", "the request is not well-formed HTTP/1.1");
      else
        fail(res, status, "exception", "the request could not be answered");
      res.set_header("Access-Control-Allow-Origin", "*");
    };
    // A call or feedback needs a valid bearer token whose `aud` is the URL called.
    auto authorized = [&](const HttpRequest& req, HttpResponse& res) {
      if (!authenticate) return true;
      std::string problem = verifier.verify(req.header("Authorization"), base + req.path);
      if (problem.empty()) return true;
      fail(res, 401, "login", "unauthorized: " + problem);
      res.set_header("WWW-Authenticate", "Bearer");
      return false;
    };
    static const std::string discovery_text = services().dump();
    http.handle = [&](const HttpRequest& req, HttpResponse& res) {
      res.set_header("Access-Control-Allow-Origin", "*");
      const std::string_view path = req.path;
      constexpr std::string_view services_root = "/cds-services";
      const bool under_services =
          path.substr(0, services_root.size()) == services_root &&
          (path.size() == services_root.size() || path[services_root.size()] == '/');
      if (req.method == "OPTIONS" && under_services) {
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", "Content-Type, Authorization");
        res.status = 204;
        return;
      }
      if (req.method == "GET" && path == services_root) {
        res.set_content(discovery_text, "application/json");
        return;
      }
      // /cds-services/{id} and /cds-services/{id}/feedback
      if (req.method == "POST" && under_services && path.size() > services_root.size() + 1) {
        std::string_view rest = path.substr(services_root.size() + 1);
        constexpr std::string_view feedback = "/feedback";
        const bool is_feedback =
            rest.size() > feedback.size() && rest.substr(rest.size() - feedback.size()) == feedback;
        if (is_feedback) rest.remove_suffix(feedback.size());
        if (rest.find('/') == std::string_view::npos) {
          if (!authorized(req, res)) return;
          if (is_feedback)
            service->feedback(req, res, std::string(rest));
          else
            service->call(req, res, std::string(rest));
          return;
        }
      }
      constexpr std::string_view explain_root = "/explain/";
      if (req.method == "GET" && path.substr(0, explain_root.size()) == explain_root &&
          path.size() == explain_root.size() + 36 &&
          path.find_first_not_of("0123456789abcdef-", explain_root.size()) ==
              std::string_view::npos) {
        service->explain(req, res, std::string(path.substr(explain_root.size())));
        return;
      }
      fail(res, 404, "not-found", "nothing at `" + req.path + "`; see GET /cds-services");
    };
    return serving::run_http_server(http, stop);
  } catch (std::exception const& e) {
    return std::string("internal error: ") + e.what();
  }
}

CdsAnswer answer_cds_call(std::shared_ptr<const RuleSet> rules, const ServeOptions& options,
                          const std::string& service_id, const std::string& body) noexcept {
  CdsAnswer answer;
  try {
    if (!rules) {
      answer.body = operation_outcome("exception", "no rule set");
      return answer;
    }
    const std::string base = options.public_url.empty()
                                 ? "http://" + options.host + ":" + std::to_string(options.port)
                                 : options.public_url;
    Service service(std::move(rules), options, base);
    HttpRequest request;
    request.method = "POST";
    request.path = "/cds-services/" + service_id;
    request.body = body;
    HttpResponse response;
    if (body.size() > options.max_body_bytes)
      fail(response, 413, "too-costly", "the request body is larger than the limit");
    else
      service.call(request, response, service_id);
    answer.status = response.status;
    answer.body = std::move(response.body);
  } catch (std::exception const& e) {
    answer.status = 500;
    answer.body = operation_outcome("exception", std::string("internal error: ") + e.what());
  }
  return answer;
}

}  // namespace stimrank
