// FHIR R4 → profile. Reads what a record states and nothing more: a list the record
// has no resource for stays unknown, and a negative is only what the record says
// (a refuted Condition, "not pregnant").
#include "stimrank/fhir.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "ascii.hpp"
#include "compiled.hpp"
#include "profile.hpp"
#include "utf8.hpp"

namespace stimrank {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr std::string_view kSnomed = "http://snomed.info/sct";
constexpr std::string_view kIcd10Cm = "http://hl7.org/fhir/sid/icd-10-cm";
constexpr std::string_view kIcd10 = "http://hl7.org/fhir/sid/icd-10";
constexpr std::string_view kLoinc = "http://loinc.org";
constexpr std::string_view kRxNorm = "http://www.nlm.nih.gov/research/umls/rxnorm";
constexpr std::string_view kAtc = "http://www.whocc.no/atc";

// The profile's name for a FHIR code system, or "".
std::string profile_system(std::string_view fhir_system) {
  if (fhir_system == kSnomed) return "snomed";
  if (fhir_system == kIcd10Cm) return "icd10cm";
  if (fhir_system == kIcd10) return "icd10";
  if (fhir_system == kRxNorm) return "rxnorm";
  if (fhir_system == kAtc) return "atc";
  return {};
}

struct Date {
  int year = 0, month = 0, day = 0;
  bool operator<(const Date& other) const {
    return std::tie(year, month, day) < std::tie(other.year, other.month, other.day);
  }
};

bool leap(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

// YYYY, YYYY-MM or YYYY-MM-DD (a dateTime's date part), a real calendar date; the
// missing parts of a partial date are taken as the earliest.
std::optional<Date> parse_date(std::string_view text, bool full_only) {
  auto digits = [&](std::size_t at, std::size_t count, int& out) {
    if (text.size() < at + count) return false;
    out = 0;
    for (std::size_t i = at; i < at + count; ++i) {
      if (!ascii::is_digit(text[i])) return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  Date date{0, 1, 1};
  if (!digits(0, 4, date.year)) return std::nullopt;
  bool has_month = text.size() > 4, has_day = text.size() > 7;
  if (full_only && !has_day) return std::nullopt;
  if (has_month && (text[4] != '-' || !digits(5, 2, date.month))) return std::nullopt;
  if (has_day && (text[7] != '-' || !digits(8, 2, date.day))) return std::nullopt;
  if (text.size() > 10 && text[10] != 'T') return std::nullopt;
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (date.year < 1 || date.month < 1 || date.month > 12 || date.day < 1) return std::nullopt;
  int last = days[date.month - 1] + (date.month == 2 && leap(date.year) ? 1 : 0);
  if (date.day > last) return std::nullopt;
  return date;
}

int age_at(const Date& birth, const Date& at) {
  int age = at.year - birth.year;
  if (std::tie(at.month, at.day) < std::tie(birth.month, birth.day)) --age;
  return age;
}

const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string string_member(const json& object, const char* key) {
  const json* value = member(object, key);
  return value && value->is_string() ? value->get<std::string>() : std::string();
}

// The code of the first coding of a CodeableConcept in `system` ("" if none).
std::string code_in(const json* concept_json, std::string_view system) {
  if (!concept_json) return {};
  const json* codings = member(*concept_json, "coding");
  if (!codings || !codings->is_array()) return {};
  for (const json& coding : *codings)
    if (string_member(coding, "system") == system) return string_member(coding, "code");
  return {};
}

// SNOMED CT device types the mapping reads, each as its source lists it:
// [IPS] HL7 IPS "Medical Devices - SNOMED CT IPS Free Set" 1.1.0
//   (http://hl7.org/fhir/uv/ips/ValueSet/medical-devices-snomed-ct-ips-free-set);
// [DICOM] DICOM CID 3777 "Cardiovascular Implant" (urn:oid:1.2.840.10008.6.1.263).
// An empty device name: a neurostimulator of unstated kind (see map_device).
struct DeviceCode {
  const char* code;
  const char* device;
  const char* display;
};
constexpr DeviceCode kDeviceCodes[] = {
    {"14106009", "cardiac_pacemaker", "Cardiac pacemaker"},                    // [DICOM]
    {"424921004", "cardiac_pacemaker", "Permanent cardiac pacemaker, device"},  // [IPS]
    {"72506001", "implantable_defibrillator", "Implantable defibrillator"},     // [IPS] [DICOM]
    {"43252007", "cochlear_implant", "Cochlear prosthesis"},                    // [IPS]
    {"25937001", "", "Neurostimulator"},                                        // [IPS]
};

const DeviceCode* find_device_code(std::string_view code) {
  for (const DeviceCode& known : kDeviceCodes)
    if (code == known.code) return &known;
  return nullptr;
}

// The kind of a procedure concept of the knowledge base (procedures[].kind).
std::string procedure_kind(std::string_view concept_id) {
  if (concept_id == "spine_surgery") return "surgery";
  if (concept_id == "diagnostic_nerve_block") return "diagnostic_block";
  return {};
}

class Mapper {
 public:
  Mapper(const detail::CompiledRuleSet& rules, const FhirOptions& options, FhirMapping& out)
      : rules_(rules), options_(options), out_(out) {}

  void run(std::string_view text) {
    if (text.size() > rules_.limits.max_fhir_bytes) {
      error("Bundle", "the bundle is larger than the limit of " +
                          std::to_string(rules_.limits.max_fhir_bytes) + " bytes");
      return;
    }
    auto as_of = parse_date(options_.as_of, true);
    if (!as_of) {
      error("as_of", "expected a date YYYY-MM-DD, got `" + utf8::printable(options_.as_of) + "`");
      return;
    }
    as_of_ = *as_of;
    json document = json::parse(text.begin(), text.end(), nullptr, false);
    if (document.is_discarded()) {
      error("Bundle", engine::json_error(text));
      return;
    }
    collect(document);
    if (!out_.errors.empty()) return;
    find_patient();
    if (!out_.errors.empty()) return;
    for (const Resource& resource : resources_) map(resource);
    if (!out_.errors.empty()) return;
    out_.profile = build().dump(2);
  }

 private:
  struct Resource {
    const json* body;
    std::string path;      // "Bundle.entry[3].resource"
    std::string full_url;  // the entry's fullUrl
    std::string type, id;
  };

  void error(std::string path, std::string message) {
    out_.errors.push_back({std::move(path), std::move(message)});
  }
  void used(const Resource& r, std::string path, std::string what) {
    out_.used.push_back({std::move(path), r.type + "/" + r.id, std::move(what)});
  }
  void ignored(const Resource& r, std::string path, std::string why) {
    out_.ignored.push_back({std::move(path), r.type + "/" + r.id, std::move(why)});
  }

  void collect(const json& document) {
    if (document.is_array()) {  // a bulk export's resources, one patient's
      for (std::size_t i = 0; i < document.size(); ++i)
        add(document[i], "[" + std::to_string(i) + "]", "");
      return;
    }
    if (!document.is_object() || string_member(document, "resourceType") != "Bundle") {
      error("Bundle", "expected a FHIR Bundle (or an array of resources), got " +
                          (document.is_object()
                               ? "resourceType `" +
                                     utf8::printable(string_member(document, "resourceType")) + "`"
                               : engine::show_value(document)));
      return;
    }
    static const std::set<std::string> types = {"collection", "transaction", "batch", "searchset"};
    std::string type = string_member(document, "type");
    if (!types.count(type))
      out_.warnings.push_back("Bundle.type: `" + utf8::printable(type) +
                              "` is not a collection, transaction, batch or searchset; its "
                              "resources are read all the same");
    const json* entries = member(document, "entry");
    if (!entries) return;
    if (!entries->is_array()) {
      error("Bundle.entry", "expected an array, got " + engine::show_value(*entries));
      return;
    }
    for (std::size_t i = 0; i < entries->size(); ++i) {
      const json& entry = (*entries)[i];
      std::string at = "Bundle.entry[" + std::to_string(i) + "]";
      const json* resource = member(entry, "resource");
      if (!resource) {
        out_.warnings.push_back(at + ": an entry without a resource was skipped");
        continue;
      }
      add(*resource, at + ".resource", string_member(entry, "fullUrl"));
    }
  }

  void add(const json& resource, std::string path, std::string full_url) {
    if (!resource.is_object() || !member(resource, "resourceType")) {
      error(path, "expected a FHIR resource (an object with resourceType)");
      return;
    }
    resources_.push_back({&resource, std::move(path), std::move(full_url),
                          string_member(resource, "resourceType"), string_member(resource, "id")});
  }

  void find_patient() {
    std::vector<const Resource*> patients;
    for (const Resource& r : resources_)
      if (r.type == "Patient") patients.push_back(&r);
    if (patients.empty()) {
      error("Bundle", "the bundle holds no Patient");
      return;
    }
    if (!options_.patient.empty()) {
      for (const Resource* p : patients)
        if (p->id == options_.patient) patient_ = p;
      if (!patient_)
        error("Bundle", "no Patient with id `" + utf8::printable(options_.patient) + "`");
      return;
    }
    if (patients.size() > 1) {
      std::string ids;
      for (const Resource* p : patients) ids += (ids.empty() ? "" : ", ") + p->id;
      error("Bundle", "the bundle holds " + std::to_string(patients.size()) + " Patients (" +
                          utf8::printable(ids) + "): name one with --patient");
      return;
    }
    patient_ = patients[0];
  }

  // Whether a reference (subject, patient) points at the patient.
  bool about_patient(const json& resource, const char* key) const {
    const json* reference = member(resource, key);
    if (!reference) return false;
    std::string target = string_member(*reference, "reference");
    return target == "Patient/" + patient_->id ||
           (!patient_->full_url.empty() && target == patient_->full_url) ||
           (target.size() >= patient_->id.size() + 9 &&
            target.compare(target.size() - patient_->id.size() - 9, std::string::npos,
                           "/Patient/" + patient_->id) == 0);
  }

  void map(const Resource& r) {
    const json& body = *r.body;
    if (r.type == "Patient") {
      if (&r == patient_) map_patient(r);
      return;
    }
    static const std::set<std::string> mapped = {
        "Condition",           "Observation", "MedicationRequest",
        "MedicationStatement", "Device",      "Procedure"};
    if (!mapped.count(r.type)) {
      ++unsupported_[r.type];
      return;
    }
    const char* subject = r.type == "Device" ? "patient" : "subject";
    if (!about_patient(body, subject)) {
      ignored(r, r.path + "." + subject,
              "not about this patient (another patient, or a reference to nowhere)");
      return;
    }
    if (r.type == "Condition") map_condition(r);
    if (r.type == "Observation") map_observation(r);
    if (r.type == "MedicationRequest" || r.type == "MedicationStatement") map_medication(r);
    if (r.type == "Device") map_device(r);
    if (r.type == "Procedure") map_procedure(r);
  }

  // Device.type (SNOMED CT) → the profile's device names. A Device of a kind that
  // could be any neurostimulator, or whose status is unknown, leaves `devices`
  // unknown: listing the others would claim that the specific ones are absent.
  void map_device(const Resource& r) {
    const json& body = *r.body;
    has_devices_resource_ = true;
    std::string status = string_member(body, "status");
    if (status == "entered-in-error" || status == "inactive") {
      ignored(r, r.path + ".status",
              status == "inactive" ? "status `inactive`: no longer in place" : "entered in error");
      return;
    }
    const json* type = member(body, "type");
    const json* codings = type ? member(*type, "coding") : nullptr;
    if (codings && codings->is_array())
      for (std::size_t i = 0; i < codings->size(); ++i) {
        const json& coding = (*codings)[i];
        if (string_member(coding, "system") != kSnomed) continue;
        std::string code = string_member(coding, "code");
        std::string at = r.path + ".type.coding[" + std::to_string(i) + "]";
        const DeviceCode* known = find_device_code(code);
        if (!known) continue;
        if (*known->device == 0) {
          devices_unknown_ = true;
          out_.warnings.push_back(at + ": snomed " + code + " (" + known->display +
                                  ") does not say which kind of neurostimulator: devices left "
                                  "unknown, state them in the profile");
          used(r, at, "devices: unknown (" + std::string(known->display) + ", kind not stated)");
          return;
        }
        if (status == "unknown") {
          devices_unknown_ = true;
          out_.warnings.push_back(r.path + ".status: a " + std::string(known->device) +
                                  " whose status is unknown: devices left unknown");
          used(r, r.path + ".status", "devices: unknown (status unknown)");
          return;
        }
        devices_.insert(known->device);
        used(r, at, "devices: snomed " + code + " → " + known->device);
        return;
      }
    ignored(r, r.path + ".type",
            "no device type the mapping knows (" +
                utf8::printable(type ? display_of(*type) : std::string("no type")) + ")");
  }

  // Procedure.code → procedures[].option through the rule set's concepts; the
  // outcome (relief) of a trial is not something FHIR records in a form we can read.
  void map_procedure(const Resource& r) {
    const json& body = *r.body;
    has_procedures_resource_ = true;
    std::string status = string_member(body, "status");
    if (status != "completed") {
      ignored(r, r.path + ".status",
              status == "not-done" ? "recorded as not done"
                                   : "status `" + utf8::printable(status) +
                                         "`: not a completed procedure");
      return;
    }
    std::string performed = string_member(body, "performedDateTime");
    if (performed.empty())
      if (const json* period = member(body, "performedPeriod"))
        performed = string_member(*period, "start");
    if (!performed.empty()) {
      auto date = parse_date(performed, false);
      if (!date) {
        error(r.path + ".performed[x]", "`" + utf8::printable(performed) + "` is not a date");
        return;
      }
      if (as_of_ < *date) {
        ignored(r, r.path + ".performed[x]", "after the as-of date " + options_.as_of);
        return;
      }
    }
    const json* code = member(body, "code");
    const json* codings = code ? member(*code, "coding") : nullptr;
    if (codings && codings->is_array())
      for (std::size_t i = 0; i < codings->size(); ++i) {
        const json& coding = (*codings)[i];
        std::string system = profile_system(string_member(coding, "system"));
        std::string value = string_member(coding, "code");
        if (system != "snomed" || value.empty()) continue;
        std::string concept_id = first_concept_of(system, value);
        if (concept_id.empty()) continue;
        ordered_json entry = {{"option", concept_id}};
        std::string kind = procedure_kind(concept_id);
        if (!kind.empty()) entry["kind"] = kind;
        procedures_.push_back(std::move(entry));
        used(r, r.path + ".code.coding[" + std::to_string(i) + "]",
             "procedures: snomed " + value + " → " + concept_id +
                 (kind.empty() ? std::string() : " (" + kind + ")"));
        return;
      }
    ignored(r, r.path + ".code",
            "no coding the rule set knows (" +
                utf8::printable(code ? display_of(*code) : std::string("no code")) + ")");
  }

  void map_patient(const Resource& r) {
    const json& body = *r.body;
    id_ = r.id.empty() ? std::string("patient") : r.id;
    std::string birth = string_member(body, "birthDate");
    if (!birth.empty()) {
      auto date = parse_date(birth, false);
      if (!date) {
        error(r.path + ".birthDate", "`" + utf8::printable(birth) + "` is not a date");
      } else if (as_of_ < *date) {
        error(r.path + ".birthDate", "born after the as-of date " + options_.as_of);
      } else {
        age_ = age_at(*date, as_of_);
        used(r, r.path + ".birthDate", "age " + std::to_string(*age_) + " at " + options_.as_of);
      }
    }
    std::string gender = string_member(body, "gender");
    static const std::map<std::string, std::string> sexes = {
        {"female", "female"}, {"male", "male"}, {"other", "other"}, {"unknown", "unknown"}};
    if (auto it = sexes.find(gender); it != sexes.end()) {
      sex_ = it->second;
      used(r, r.path + ".gender", "sex " + sex_);
    }
  }

  // Whether the rule set knows a code; the concepts it belongs to, for the report.
  std::string concepts_of(const std::string& system, const std::string& code) const {
    engine::Entry entry;
    entry.concepts.assign(rules_.plan.concept_words, 0);
    if (!engine::match_code(rules_.plan, entry, system, code)) return {};
    std::string names;
    for (std::size_t c = 0; c < rules_.model.concepts.size(); ++c)
      if ((entry.concepts[c >> 6] >> (c & 63)) & 1u)
        names += (names.empty() ? "" : ", ") + rules_.model.concepts[c].id;
    return names;
  }

  // The first concept a code belongs to, "" if none.
  std::string first_concept_of(const std::string& system, const std::string& code) const {
    std::string names = concepts_of(system, code);
    return names.substr(0, names.find(','));
  }

  // Laterality of a Condition from its bodySite: a laterality-qualifier extension
  // (mCODE, HL7 Europe) or a bodySite coding that is itself a laterality qualifier.
  // SNOMED CT qualifier values 7771000 Left, 24028007 Right, 51440002 Right and left,
  // as in mCODE's LateralityQualifierVS
  // (http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier).
  static std::string laterality_of(const json& body) {
    auto from = [](const std::string& code) -> std::string {
      if (code == "7771000") return "left";
      if (code == "24028007") return "right";
      if (code == "51440002") return "bilateral";
      return {};
    };
    const json* sites = member(body, "bodySite");
    if (!sites || !sites->is_array()) return {};
    std::string found;
    auto note = [&](const std::string& side) {
      if (side.empty()) return;
      found = found.empty() || found == side ? side : "bilateral";
    };
    for (const json& site : *sites) {
      note(from(code_in(&site, kSnomed)));
      if (const json* extensions = member(site, "extension"); extensions && extensions->is_array())
        for (const json& extension : *extensions) {
          std::string url = string_member(extension, "url");
          constexpr std::string_view kSuffix = "laterality-qualifier";
          if (url.size() >= kSuffix.size() &&
              std::string_view(url).substr(url.size() - kSuffix.size()) == kSuffix)
            note(from(code_in(member(extension, "valueCodeableConcept"), kSnomed)));
        }
    }
    return found;
  }

  void map_condition(const Resource& r) {
    const json& body = *r.body;
    has_conditions_resource_ = true;
    std::string verification =
        code_in(member(body, "verificationStatus"),
                "http://terminology.hl7.org/CodeSystem/condition-ver-status");
    std::string clinical = code_in(member(body, "clinicalStatus"),
                                   "http://terminology.hl7.org/CodeSystem/condition-clinical");
    if (verification == "entered-in-error") {
      ignored(r, r.path + ".verificationStatus", "entered in error");
      return;
    }
    const bool refuted = verification == "refuted";
    if (!refuted && !clinical.empty() && clinical != "active" && clinical != "recurrence" &&
        clinical != "relapse") {
      ignored(r, r.path + ".clinicalStatus", "clinical status `" + clinical + "`: not current");
      return;
    }
    const json* code = member(body, "code");
    const json* codings = code ? member(*code, "coding") : nullptr;
    if (!codings || !codings->is_array() || codings->empty()) {
      ignored(r, r.path + ".code", "no coding");
      return;
    }
    const std::string laterality = laterality_of(body);
    if (!laterality.empty()) used(r, r.path + ".bodySite", "laterality " + laterality);
    bool matched = false;
    for (std::size_t i = 0; i < codings->size(); ++i) {
      const json& coding = (*codings)[i];
      std::string at = r.path + ".code.coding[" + std::to_string(i) + "]";
      std::string system = profile_system(string_member(coding, "system"));
      std::string value = string_member(coding, "code");
      if (system.empty() || system == "rxnorm" || system == "atc" || value.empty()) continue;
      std::string concepts = concepts_of(system, value);
      if (concepts.empty()) continue;
      ordered_json entry = {{"system", system}, {"code", value}};
      if (refuted) entry["present"] = false;
      if (!laterality.empty()) entry["laterality"] = laterality;
      conditions_.push_back(std::move(entry));
      used(r, at,
           std::string(refuted ? "conditions, recorded absent (refuted): " : "conditions: ") +
               system + " " + value + " → " + concepts);
      matched = true;
    }
    if (!matched)
      ignored(r, r.path + ".code",
              "no coding the rule set knows (" + utf8::printable(display_of(*code)) + ")");
  }

  static std::string display_of(const json& concept_json) {
    std::string text = string_member(concept_json, "text");
    if (!text.empty()) return text;
    const json* codings = member(concept_json, "coding");
    if (codings && codings->is_array())
      for (const json& coding : *codings) {
        std::string display = string_member(coding, "display");
        if (!display.empty()) return display;
        std::string code = string_member(coding, "code");
        if (!code.empty()) return string_member(coding, "system") + "|" + code;
      }
    return "no text";
  }

  // effective[x] as a sortable text ("" when absent).
  static std::string effective_of(const json& body) {
    for (const char* key : {"effectiveDateTime", "effectiveInstant"}) {
      std::string value = string_member(body, key);
      if (!value.empty()) return value;
    }
    if (const json* period = member(body, "effectivePeriod"))
      return string_member(*period, "start");
    return {};
  }

  void map_observation(const Resource& r) {
    const json& body = *r.body;
    std::string loinc = code_in(member(body, "code"), kLoinc);
    static const std::set<std::string> read = {"72514-3", "82810-3", "4548-4", "39156-5"};
    if (!read.count(loinc)) {
      ++unread_observations_;
      return;
    }
    std::string status = string_member(body, "status");
    if (status == "entered-in-error" || status == "cancelled" || status == "registered") {
      ignored(r, r.path + ".status", "status `" + status + "`");
      return;
    }
    std::string effective = effective_of(body);
    if (!effective.empty()) {
      auto date = parse_date(effective, false);
      if (!date) {
        error(r.path + ".effectiveDateTime", "`" + utf8::printable(effective) + "` is not a date");
        return;
      }
      if (as_of_ < *date) {
        ignored(r, r.path + ".effectiveDateTime", "after the as-of date " + options_.as_of);
        return;
      }
    }
    Latest& slot = latest_[loinc];
    if (slot.resource && effective < slot.effective) {
      ignored(r, r.path, "an earlier " + loinc + " observation than " + slot.resource->path);
      return;
    }
    if (slot.resource) ignored(*slot.resource, slot.resource->path, "a later one replaces it");
    slot = Latest{&r, effective};
  }

  void finish_observations() {
    for (auto& [loinc, latest] : latest_) {
      const Resource& r = *latest.resource;
      const json& body = *r.body;
      if (loinc == "82810-3") {
        std::string answer = code_in(member(body, "valueCodeableConcept"), kSnomed);
        if (answer == "77386006")
          pregnant_ = true;
        else if (answer == "60001007")
          pregnant_ = false;
        if (pregnant_)
          used(r, r.path + ".valueCodeableConcept",
               std::string("pregnant: ") + (*pregnant_ ? "true" : "false") + " (LOINC 82810-3)");
        else
          ignored(r, r.path + ".valueCodeableConcept", "pregnancy status unknown or not coded");
        continue;
      }
      std::optional<double> value;
      if (const json* quantity = member(body, "valueQuantity")) {
        if (const json* number = member(*quantity, "value"); number && number->is_number())
          value = number->get<double>();
      } else if (const json* integer = member(body, "valueInteger");
                 integer && integer->is_number()) {
        value = integer->get<double>();
      }
      if (!value) {
        ignored(r, r.path + ".value[x]", "no numeric value");
        continue;
      }
      if (loinc == "72514-3") {
        if (*value < 0 || *value > 10) {
          ignored(r, r.path + ".valueQuantity", "pain severity outside 0-10");
          continue;
        }
        pain_nrs_ = value;
        used(r, r.path + ".valueQuantity", "pain.nrs (LOINC 72514-3, the latest)");
      } else if (loinc == "4548-4") {
        hba1c_ = value;
        used(r, r.path + ".valueQuantity", "assessments.hba1c_percent (LOINC 4548-4)");
      } else {
        bmi_ = value;
        used(r, r.path + ".valueQuantity", "assessments.bmi (LOINC 39156-5)");
      }
    }
  }

  void map_medication(const Resource& r) {
    const json& body = *r.body;
    has_medications_resource_ = true;
    std::string status = string_member(body, "status");
    const json* concept_json = member(body, "medicationCodeableConcept");
    if (status != "active") {
      ignored(r, r.path + ".status",
              "status `" + status +
                  "`: not a current medication, and the record does not say how it worked "
                  "(a tried treatment needs its response)");
      return;
    }
    if (!concept_json) {
      ignored(r, r.path, "no medicationCodeableConcept (a Medication reference is not read)");
      return;
    }
    const json* codings = member(*concept_json, "coding");
    bool matched = false;
    if (codings && codings->is_array())
      for (std::size_t i = 0; i < codings->size() && !matched; ++i) {
        const json& coding = (*codings)[i];
        std::string system = profile_system(string_member(coding, "system"));
        std::string value = string_member(coding, "code");
        if ((system != "rxnorm" && system != "atc") || value.empty()) continue;
        std::string at = r.path + ".medicationCodeableConcept.coding[" + std::to_string(i) + "]";
        if (std::string concepts = concepts_of(system, value); !concepts.empty()) {
          medications_.push_back({{"system", system}, {"code", value}});
          used(r, at, "medications: " + system + " " + value + " → " + concepts);
          matched = true;
          continue;
        }
        // A clinical drug whose ingredient the rule set names: matched by that name.
        std::string display = string_member(coding, "display");
        std::string word;
        for (std::size_t k = 0; k <= display.size() && !matched; ++k) {
          char c = k < display.size() ? ascii::to_lower(display[k]) : ' ';
          if (ascii::is_lower(c)) {
            word += c;
            continue;
          }
          if (word.size() >= 4)
            if (std::string concepts = concepts_of("local", word); !concepts.empty()) {
              medications_.push_back({{"system", "local"}, {"code", word}});
              used(r, at,
                   "medications: `" + word + "` matched by name in \"" + utf8::printable(display) +
                       "\" → " + concepts);
              matched = true;
            }
          word.clear();
        }
      }
    if (!matched)
      ignored(r, r.path + ".medicationCodeableConcept",
              "no coding the rule set knows (" + utf8::printable(display_of(*concept_json)) + ")");
  }

  ordered_json build() {
    finish_observations();
    ordered_json profile;
    profile["id"] = id_;
    if (age_) profile["age"] = *age_;
    if (!sex_.empty()) profile["sex"] = sex_;
    if (pregnant_) profile["pregnant"] = *pregnant_;
    // A list is given only when the record has resources of its kind: no Condition
    // resource means the conditions are unknown, not none.
    if (has_conditions_resource_) profile["conditions"] = conditions_;
    if (pain_nrs_) profile["pain"]["nrs"] = *pain_nrs_;
    if (has_medications_resource_) profile["medications"] = medications_;
    if (has_devices_resource_ && !devices_unknown_) profile["devices"] = devices_;
    if (has_procedures_resource_) profile["procedures"] = procedures_;
    if (hba1c_) profile["assessments"]["hba1c_percent"] = *hba1c_;
    if (bmi_) profile["assessments"]["bmi"] = *bmi_;
    for (const auto& [type, count] : unsupported_)
      out_.warnings.push_back(std::to_string(count) + " " + type +
                              " resource(s) not read (not used by the rules)");
    if (unread_observations_)
      out_.warnings.push_back(std::to_string(unread_observations_) +
                              " Observation(s) with codes the mapping does not read");
    return profile;
  }

  const detail::CompiledRuleSet& rules_;
  const FhirOptions& options_;
  FhirMapping& out_;
  Date as_of_;
  std::vector<Resource> resources_;
  const Resource* patient_ = nullptr;
  std::string id_, sex_;
  std::optional<int> age_;
  std::optional<bool> pregnant_;
  std::optional<double> pain_nrs_, hba1c_, bmi_;
  ordered_json conditions_ = ordered_json::array(), medications_ = ordered_json::array();
  bool has_conditions_resource_ = false, has_medications_resource_ = false;
  bool has_devices_resource_ = false, devices_unknown_ = false, has_procedures_resource_ = false;
  std::set<std::string> devices_;
  ordered_json procedures_ = ordered_json::array();
  struct Latest {
    const Resource* resource = nullptr;
    std::string effective;
  };
  std::map<std::string, Latest> latest_;
  std::map<std::string, int> unsupported_;
  int unread_observations_ = 0;
};

ordered_json notes_json(const std::vector<FhirNote>& notes) {
  ordered_json out = ordered_json::array();
  for (const FhirNote& n : notes)
    out.push_back({{"path", n.path}, {"resource", n.resource}, {"what", n.what}});
  return out;
}

}  // namespace

std::string FhirMapping::report_json() const {
  ordered_json report;
  report["used"] = notes_json(used);
  report["ignored"] = notes_json(ignored);
  report["warnings"] = warnings;
  ordered_json errs = ordered_json::array();
  for (const ProfileError& e : errors) errs.push_back({{"path", e.path}, {"message", e.message}});
  report["errors"] = errs;
  return report.dump(2, ' ', false, ordered_json::error_handler_t::replace);
}

FhirMapping map_fhir(const RuleSet& rules, std::string_view bundle_json,
                     const FhirOptions& options) noexcept {
  FhirMapping out;
  try {
    Mapper(detail::compiled(rules), options, out).run(bundle_json);
  } catch (std::exception const& e) {
    out.profile.clear();
    out.errors.push_back({"Bundle", std::string("internal error: ") + e.what()});
  }
  if (!out.errors.empty()) out.profile.clear();
  return out;
}

Evaluation evaluate_fhir(const RuleSet& rules, std::string_view bundle_json,
                         const FhirOptions& options) noexcept {
  Evaluation evaluation;
  try {
    FhirMapping mapping = map_fhir(rules, bundle_json, options);
    if (!mapping.ok()) {
      evaluation.errors = std::move(mapping.errors);
      return evaluation;
    }
    evaluation = rules.evaluate_json(mapping.profile);
    if (evaluation.result)
      for (const std::string& w : mapping.warnings) evaluation.result->warnings.push_back(w);
  } catch (std::exception const& e) {
    evaluation = Evaluation{};
    evaluation.errors.push_back({"Bundle", std::string("internal error: ") + e.what()});
  }
  return evaluation;
}

}  // namespace stimrank
