// FHIR R4 → profile. Reads what a record states and nothing more: a list the record
// has no resource for stays unknown, and a negative is only what the record says
// (a refuted Condition, "not pregnant").
#include "stimrank/fhir.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "ascii.hpp"
#include "compiled.hpp"
#include "fhir_resources.hpp"
#include "profile.hpp"
#include "utf8.hpp"

namespace stimrank {

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

int days_in(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return days[month - 1] + (month == 2 && leap(year) ? 1 : 0);
}

// The day before or after a date.
Date next_day(Date date, int step) {
  date.day += step;
  if (date.day < 1) {
    if (--date.month < 1) date = {date.year - 1, 12, 31};
    date.day = days_in(date.year, date.month);
  } else if (date.day > days_in(date.year, date.month)) {
    date.day = 1;
    if (++date.month > 12) date = {date.year + 1, 1, 1};
  }
  return date;
}

// A dateTime's time of day in UTC, in minutes from midnight of its written date
// (below 0 or from 24 h on when the zone offset moves it to another day); none unless
// it has hh:mm and a zone offset (`…Z` is UTC already).
std::optional<int> utc_minutes(std::string_view text) {
  if (text.size() < 22 || text[10] != 'T' || text[13] != ':') return std::nullopt;
  const std::size_t zone = text.size() - 6;
  const char sign = text[zone];
  if ((sign != '+' && sign != '-') || text[zone + 3] != ':') return std::nullopt;
  auto two = [&](std::size_t at) {
    return ascii::is_digit(text[at]) && ascii::is_digit(text[at + 1])
               ? (text[at] - '0') * 10 + (text[at + 1] - '0')
               : -1;
  };
  const int hour = two(11), minute = two(14), zone_hours = two(zone + 1),
            zone_minutes = two(zone + 4);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || zone_hours < 0 || zone_minutes < 0)
    return std::nullopt;
  return hour * 60 + minute - (sign == '+' ? 1 : -1) * (zone_hours * 60 + zone_minutes);
}

// YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date; the missing parts of a partial
// date are taken as the earliest. A dateTime's time with a zone (`T09:30:00+10:00`,
// `…Z`) gives its date in UTC, the zone of the default as-of date: a drug prescribed
// at 09:00 in Sydney on the 8th is the 7th's in UTC, not after an as-of date of the 7th.
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
  if (date.year < 1 || date.month < 1 || date.month > 12 || date.day < 1) return std::nullopt;
  if (date.day > days_in(date.year, date.month)) return std::nullopt;
  if (auto utc = utc_minutes(text)) {
    if (*utc < 0) date = next_day(date, -1);
    if (*utc >= 24 * 60) date = next_day(date, 1);
  }
  return date;
}

// A dateTime as text that sorts in time order: one with a time and a zone offset in
// UTC (`2026-11-01T23:30:00-05:00` → `2026-11-02T04:30:00Z`), so that records written
// in two zones compare by the instant; any other text as it is (a date alone sorts
// before the same day's times).
std::string instant_key(std::string_view text) {
  auto utc = utc_minutes(text);
  auto date = parse_date(text, true);  // already the UTC date
  if (!utc || !date || text[16] != ':') return std::string(text);
  const int minutes = ((*utc % (24 * 60)) + 24 * 60) % (24 * 60);
  char head[32];
  std::snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d", date->year, date->month, date->day,
                minutes / 60, minutes % 60);
  // The seconds and any fraction, as written: a zone offset is whole minutes.
  return std::string(head) + std::string(text.substr(16, text.size() - 6 - 16)) + "Z";
}

int age_at(const Date& birth, const Date& at) {
  int age = at.year - birth.year;
  if (std::tie(at.month, at.day) < std::tie(birth.month, birth.day)) --age;
  return age;
}

// The last day a partial date (YYYY or YYYY-MM, as parse_date read it: `earliest`)
// may stand for; a full date stands for itself.
Date latest_of(std::string_view text, const Date& earliest) {
  if (text.size() > 7) return earliest;
  Date last = earliest;
  if (text.size() <= 4) last.month = 12;
  last.day = days_in(last.year, last.month);
  return last;
}

// A value of the record: a handle into simdjson's DOM (cheap to copy, valid while
// the parser that read the bundle lives). Arrays are walked with elements(), never by
// index (the DOM's index is a walk from the start).
using Node = simdjson::dom::element;
using MaybeNode = std::optional<Node>;

MaybeNode member(Node object, const char* key) {
  simdjson::dom::object fields;
  Node value;
  if (object.get_object().get(fields) || fields.at_key(key).get(value)) return std::nullopt;
  return value;
}

// A string value's text ("" when absent or not a string), valid while the parser lives.
std::string_view text_of(MaybeNode value) {
  std::string_view text;
  if (!value || value->get_string().get(text)) return {};
  return text;
}

// A string member's text ("" when absent or not a string).
std::string_view string_member(Node object, const char* key) {
  return text_of(member(object, key));
}

// The elements of an array (none for anything else).
simdjson::dom::array elements(Node value) {
  simdjson::dom::array items;
  if (value.get_array().get(items)) return {};
  return items;
}

// `text` as a JSON string (the bundle's text is valid UTF-8: simdjson checked it).
void append_json_string(std::string& out, std::string_view text) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      ((out += "\\u00") += hex[byte >> 4]) += hex[byte & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

// A number as nlohmann::json writes it, so the profile reads as it always has.
void append_json_number(std::string& out, double value) {
  out += ordered_json(value).dump();
}

// An array's elements with their index: for (auto [i, item] : indexed(array)).
struct Indexed {
  simdjson::dom::array items;
  struct iterator {
    simdjson::dom::array::iterator at;
    std::size_t index;
    std::pair<std::size_t, Node> operator*() const { return {index, *at}; }
    iterator& operator++() {
      ++at;
      ++index;
      return *this;
    }
    bool operator!=(const iterator& other) const { return at != other.at; }
  };
  [[nodiscard]] iterator begin() const { return {items.begin(), 0}; }
  [[nodiscard]] iterator end() const { return {items.end(), 0}; }
};
Indexed indexed(Node value) {
  return {elements(value)};
}

std::optional<double> number_of(Node value) {
  double number = 0;
  if (!value.is_number() || value.get_double().get(number)) return std::nullopt;
  return number;
}

// A value as the message quotes it: its JSON, cut at 40 characters.
std::string show(Node value) {
  std::string text = simdjson::minify(value);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return "`" + utf8::printable(text) + "`";
}

// The code of the first coding of a CodeableConcept in `system` ("" if none).
std::string code_in(MaybeNode concept_json, std::string_view system) {
  if (!concept_json) return {};
  MaybeNode codings = member(*concept_json, "coding");
  if (!codings) return {};
  for (Node coding : elements(*codings))
    if (string_member(coding, "system") == system)
      return std::string(string_member(coding, "code"));
  return {};
}

// The members of a resource the mapping reads, found in one pass over its fields
// (a lookup per member walks the fields each time).
struct Fields {
  MaybeNode resource_type;
  MaybeNode id;
  MaybeNode subject;
  MaybeNode patient;
  MaybeNode status;
  MaybeNode code;
  MaybeNode clinical_status;
  MaybeNode verification_status;
  MaybeNode body_site;
  MaybeNode effective_date_time;
  MaybeNode effective_instant;
  MaybeNode effective_period;
  MaybeNode value_quantity;
  MaybeNode value_integer;
  MaybeNode value_codeable_concept;
  MaybeNode medication_codeable_concept;
  MaybeNode type;
  MaybeNode performed_date_time;
  MaybeNode performed_period;
  MaybeNode birth_date;
  MaybeNode gender;
  MaybeNode onset_date_time;
  MaybeNode onset_period;
  MaybeNode recorded_date;
  MaybeNode authored_on;
  MaybeNode date_asserted;
  MaybeNode medication_reference;
  MaybeNode contained;
  MaybeNode abatement_date_time;
  MaybeNode abatement_period;
};

Fields fields_of(Node body) {
  Fields fields;
  simdjson::dom::object object;
  if (body.get_object().get(object)) return fields;
  for (simdjson::dom::key_value_pair field : object) {
    const std::string_view key = field.key;
    if (key == "resourceType")
      fields.resource_type = field.value;
    else if (key == "id")
      fields.id = field.value;
    else if (key == "subject")
      fields.subject = field.value;
    else if (key == "patient")
      fields.patient = field.value;
    else if (key == "status")
      fields.status = field.value;
    else if (key == "code")
      fields.code = field.value;
    else if (key == "clinicalStatus")
      fields.clinical_status = field.value;
    else if (key == "verificationStatus")
      fields.verification_status = field.value;
    else if (key == "bodySite")
      fields.body_site = field.value;
    else if (key == "effectiveDateTime")
      fields.effective_date_time = field.value;
    else if (key == "effectiveInstant")
      fields.effective_instant = field.value;
    else if (key == "effectivePeriod")
      fields.effective_period = field.value;
    else if (key == "valueQuantity")
      fields.value_quantity = field.value;
    else if (key == "valueInteger")
      fields.value_integer = field.value;
    else if (key == "valueCodeableConcept")
      fields.value_codeable_concept = field.value;
    else if (key == "medicationCodeableConcept")
      fields.medication_codeable_concept = field.value;
    else if (key == "type")
      fields.type = field.value;
    else if (key == "performedDateTime")
      fields.performed_date_time = field.value;
    else if (key == "performedPeriod")
      fields.performed_period = field.value;
    else if (key == "birthDate")
      fields.birth_date = field.value;
    else if (key == "gender")
      fields.gender = field.value;
    else if (key == "onsetDateTime")
      fields.onset_date_time = field.value;
    else if (key == "onsetPeriod")
      fields.onset_period = field.value;
    else if (key == "recordedDate")
      fields.recorded_date = field.value;
    else if (key == "authoredOn")
      fields.authored_on = field.value;
    else if (key == "dateAsserted")
      fields.date_asserted = field.value;
    else if (key == "medicationReference")
      fields.medication_reference = field.value;
    else if (key == "contained")
      fields.contained = field.value;
    else if (key == "abatementDateTime")
      fields.abatement_date_time = field.value;
    else if (key == "abatementPeriod")
      fields.abatement_period = field.value;
  }
  return fields;
}

// SNOMED CT device types the mapping reads, each as its source lists it:
// [IPS] HL7 IPS "Medical Devices - SNOMED CT IPS Free Set" 1.1.0
//   (http://hl7.org/fhir/uv/ips/ValueSet/medical-devices-snomed-ct-ips-free-set);
// [DICOM] DICOM CID 3777 "Cardiovascular Implant" (urn:oid:1.2.840.10008.6.1.263);
// [VSAC 3.526.3.1193] VSAC "Cardiac Pacer" (2.16.840.1.113883.3.526.3.1193, eCQM
//   Update 2021-05-06, CMS144/CMS145; read in github.com/canvas-medical/canvas-plugins,
//   canvas_sdk/value_set/v2022/device.py, with the display beside each code).
// An empty device name: an implant of a kind the code does not state, which may be one
// of the profile's devices (`unstated` says which); see map_device.
struct DeviceCode {
  const char* code;
  const char* device;
  const char* display;
  const char* unstated = "";
};
constexpr DeviceCode kDeviceCodes[] = {
    {"14106009", "cardiac_pacemaker", "Cardiac pacemaker"},                     // [DICOM]
    {"424921004", "cardiac_pacemaker", "Permanent cardiac pacemaker, device"},  // [IPS]
    {"56961003", "cardiac_pacemaker",
     "Cardiac transvenous pacemaker, device"},  // [VSAC 3.526.3.1193]
    {"360127006", "cardiac_pacemaker",
     "Intravenous cardiac pacemaker system"},  // [VSAC 3.526.3.1193]
    {"360128001", "cardiac_pacemaker",
     "Intravenous triggered cardiac pacemaker system"},                      // [VSAC 3.526.3.1193]
    {"72506001", "implantable_defibrillator", "Implantable defibrillator"},  // [IPS] [DICOM]
    {"43252007", "cochlear_implant", "Cochlear prosthesis"},                 // [IPS]
    {"25937001", "", "Neurostimulator", "which kind of neurostimulator"},    // [IPS]
    {"303618000", "", "Nervous system implant",
     "which kind of nervous system implant (a neurostimulator, a pump, a clip)"},  // [IPS]
    {"360041000", "", "Implanted drug delivery system",
     "whether the implanted drug delivery system is an intrathecal pump"},  // [IPS]
};

const DeviceCode* find_device_code(std::string_view code) {
  for (const DeviceCode& known : kDeviceCodes)
    if (code == known.code) return &known;
  return nullptr;
}

// Condition codes that state a device is in place (a status, not a disorder), from
// VSAC "Cardiac Pacer in Situ" (2.16.840.1.113883.3.526.3.368, eCQM Update 2021-05-06,
// CMS144/CMS145; read in github.com/canvas-medical/canvas-plugins,
// canvas_sdk/value_set/v2022/condition.py, with the display beside each code).
// ICD-10-CM codes with or without their dot.
struct DeviceStatusCode {
  const char* system;  // as profile_system names it
  const char* code;
  const char* device;
  const char* display;
};
constexpr DeviceStatusCode kDeviceStatusCodes[] = {
    {"icd10cm", "Z95.0", "cardiac_pacemaker", "Presence of cardiac pacemaker"},
    {"icd10cm", "Z95.810", "implantable_defibrillator",
     "Presence of automatic (implantable) cardiac defibrillator"},
    {"snomed", "441509002", "cardiac_pacemaker", "Cardiac pacemaker in situ"},
};

const DeviceStatusCode* find_device_status_code(std::string_view system, std::string_view code) {
  auto undotted = [](std::string_view text) {
    std::string out;
    for (char c : text)
      if (c != '.') out += c;
    return out;
  };
  for (const DeviceStatusCode& known : kDeviceStatusCodes)
    if (system == known.system &&
        (code == known.code || (system == "icd10cm" && undotted(code) == undotted(known.code))))
      return &known;
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
  Mapper(const detail::CompiledRuleSet& rules, const FhirOptions& options, FhirMapping& out,
         bool report)
      : rules_(rules), options_(options), out_(out), report_(report) {}
  Mapper(const Mapper&) = delete;
  Mapper& operator=(const Mapper&) = delete;
  ~Mapper() {  // a large bundle's list is not kept
    if (resources_.capacity() > 4096) std::vector<Entry>().swap(resources_);
  }

  void run(std::string_view text) {
    // A byte order mark (Windows editors write one) may be ignored by a JSON reader
    // (RFC 8259, 8.1), and the profile readers ignore it; simdjson does not.
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    if (text.size() > rules_.limits.max_fhir_bytes) {
      error("Bundle", "the bundle is larger than the limit of " +
                          std::to_string(rules_.limits.max_fhir_bytes) + " bytes");
      return;
    }
    if (!read_as_of()) return;
    // A typical record reuses its thread's parser (its buffers are the cost of a small
    // bundle); a large one gets its own, so no thread keeps the largest bundle's memory.
    // The same goes for the padded copy simdjson reads from.
    constexpr std::size_t kReusedUpTo = std::size_t{1} << 20;
    thread_local simdjson::dom::parser reused(kReusedUpTo);
    thread_local std::string reused_copy;
    std::optional<simdjson::dom::parser> own;
    std::optional<simdjson::padded_string> own_copy;
    const bool small = text.size() <= kReusedUpTo;
    simdjson::dom::parser& parser = small ? reused : own.emplace(rules_.limits.max_fhir_bytes);
    const char* copy = nullptr;
    if (small) {
      reused_copy.reserve(kReusedUpTo + simdjson::SIMDJSON_PADDING);
      reused_copy.assign(text);
      copy = reused_copy.data();
    } else {
      copy = own_copy.emplace(text).data();
    }
    Node document;
    if (auto failure = parser.parse(copy, text.size(), false).get(document)) {
      // The location comes from a second, slower reader, except for nesting too deep
      // to rebuild safely.
      std::string message = failure == simdjson::DEPTH_ERROR
                                ? std::string("invalid JSON: nested more than ") +
                                      std::to_string(simdjson::DEFAULT_MAX_DEPTH) + " levels deep"
                                : engine::json_error(text);
      if (message == "invalid JSON")  // the other reader took it: a number out of range
        message += std::string(": a number beyond a 64-bit integer or a double (") +
                   simdjson::error_message(failure) + ")";
      error("Bundle", message);
      return;
    }
    collect(document);
    finish();
  }

  // Resources another reader already parsed (the CDS Hooks service's prefetch), each
  // with the path its notes and errors name.
  void run(const std::vector<detail::FhirResource>& resources) {
    if (!read_as_of()) return;
    resources_.reserve(resources.size());
    for (std::size_t i = 0; i < resources.size(); ++i)
      add(resources[i].resource, i, false, {}, &resources[i].path);
    finish();
  }

 private:
  bool read_as_of() {
    auto as_of = parse_date(options_.as_of, true);
    if (!as_of) {
      error("as_of", "expected a date YYYY-MM-DD, got `" + utf8::printable(options_.as_of) + "`");
      return false;
    }
    as_of_ = *as_of;
    return true;
  }

  void finish() {
    if (!out_.errors.empty()) return;
    find_patient();
    if (!out_.errors.empty()) return;
    for (const Entry& entry : resources_) map(entry);
    if (!out_.errors.empty()) return;
    out_.profile = build();
    if (report_) out_.profile = ordered_json::parse(out_.profile).dump(2);  // for a person
  }

  // conditions[] and medications[] entries, procedures[] entries, as the profile has them.
  struct CodedEntry {
    std::string system, code, laterality;
    bool refuted = false;
    // An entry whose drug is not known has no system or code, only this text: the
    // engine then takes every test it could satisfy as unknown.
    std::string display;
  };
  struct ProcedureEntry {
    std::string option, kind;
  };

  // One resource of the record; the texts are views into the parsed bundle.
  struct Entry {
    Node body;
    std::size_t index;  // its place in Bundle.entry, or in a bare array
    bool in_array;
    std::string_view full_url, type, id;  // the entry's fullUrl, resourceType, id
    const std::string* given_path;        // the caller's path for it, or null
    // "Bundle.entry[3].resource" (or "[3]"), built only for a note or an error.
    [[nodiscard]] std::string path() const {
      if (given_path) return *given_path;
      return in_array ? "[" + std::to_string(index) + "]"
                      : "Bundle.entry[" + std::to_string(index) + "].resource";
    }
    [[nodiscard]] std::string name() const { return std::string(type) + "/" + std::string(id); }
  };
  // An entry being mapped, with the members the mapping reads (found once, here,
  // rather than kept for every entry of the bundle).
  struct Resource : Entry {
    explicit Resource(const Entry& entry)
        : Entry(entry), f(fields_of(entry.body)), stored(&entry) {}
    Fields f;
    const Entry* stored;  // the entry in resources_, which outlives this
  };

  static std::vector<Entry>& reused_entries() {
    thread_local std::vector<Entry> entries;
    entries.clear();
    return entries;
  }

  void error(std::string path, std::string message) {
    out_.errors.push_back({std::move(path), std::move(message)});
  }
  void used(const Entry& r, std::string path, std::string what) {
    out_.used.push_back({std::move(path), r.name(), std::move(what)});
  }
  void ignored(const Entry& r, std::string path, std::string why) {
    out_.ignored.push_back({std::move(path), r.name(), std::move(why)});
  }

  void collect(Node document) {
    if (document.is_array()) {  // a bulk export's resources, one patient's
      std::size_t i = 0;
      for (Node resource : elements(document)) add(resource, i++, true, {});
      return;
    }
    if (!document.is_object() || string_member(document, "resourceType") != "Bundle") {
      error("Bundle", "expected a FHIR Bundle (or an array of resources), got " +
                          (document.is_object()
                               ? "resourceType `" +
                                     utf8::printable(string_member(document, "resourceType")) + "`"
                               : show(document)));
      return;
    }
    static const std::set<std::string> types = {"collection", "transaction", "batch", "searchset"};
    std::string type(string_member(document, "type"));
    if (!types.count(type))
      out_.warnings.push_back("Bundle.type: `" + utf8::printable(type) +
                              "` is not a collection, transaction, batch or searchset; its "
                              "resources are read all the same");
    MaybeNode entries = member(document, "entry");
    if (!entries) return;
    if (!entries->is_array()) {
      error("Bundle.entry", "expected an array, got " + show(*entries));
      return;
    }
    resources_.reserve(elements(*entries).size());  // no-op for a typical record
    std::size_t i = 0;
    for (Node entry : elements(*entries)) {
      MaybeNode resource = member(entry, "resource");
      if (!resource) {
        out_.warnings.push_back("Bundle.entry[" + std::to_string(i++) +
                                "]: an entry without a resource was skipped");
        continue;
      }
      add(*resource, i++, false, string_member(entry, "fullUrl"));
    }
  }

  void add(Node body, std::size_t index, bool in_array, std::string_view full_url,
           const std::string* given_path = nullptr) {
    MaybeNode type = member(body, "resourceType");
    Entry resource{body,      index, in_array, full_url, text_of(type), string_member(body, "id"),
                   given_path};
    if (!body.is_object() || !type) {
      error(resource.path(), "expected a FHIR resource (an object with resourceType)");
      return;
    }
    resources_.push_back(resource);
  }

  void find_patient() {
    std::vector<const Entry*> patients;
    for (const Entry& r : resources_)
      if (r.type == "Patient") patients.push_back(&r);
    if (patients.empty()) {
      error("Bundle", "the bundle holds no Patient");
      return;
    }
    if (!options_.patient.empty()) {
      for (const Entry* p : patients)
        if (p->id == options_.patient) patient_ = p;
      if (!patient_)
        error("Bundle", "no Patient with id `" + utf8::printable(options_.patient) + "`");
      return;
    }
    if (patients.size() > 1) {
      std::string ids;
      for (const Entry* p : patients) (ids += ids.empty() ? "" : ", ") += p->id;
      error("Bundle", "the bundle holds " + std::to_string(patients.size()) + " Patients (" +
                          utf8::printable(ids) + "): name one with --patient");
      return;
    }
    patient_ = patients[0];
  }

  // Whether a reference (subject, patient) points at the patient.
  bool about_patient(MaybeNode reference) const {
    if (!reference) return false;
    std::string_view target = string_member(*reference, "reference");
    const std::string_view relative = patient_reference_;  // "Patient/ID"
    return target == relative || (!patient_->full_url.empty() && target == patient_->full_url) ||
           (target.size() > relative.size() && target[target.size() - relative.size() - 1] == '/' &&
            target.substr(target.size() - relative.size()) == relative);
  }

  void map(const Entry& entry) {
    if (patient_reference_.empty()) patient_reference_ = "Patient/" + std::string(patient_->id);
    if (entry.type == "Patient") {
      if (&entry == patient_) map_patient(Resource(entry));
      return;
    }
    static const std::set<std::string_view> mapped = {
        "Condition",           "Observation", "MedicationRequest",
        "MedicationStatement", "Device",      "Procedure"};
    if (!mapped.count(entry.type)) {
      // A Medication is read through the medicationReference that names it.
      if (entry.type != "Medication") ++unsupported_[std::string(entry.type)];
      return;
    }
    const Resource r(entry);
    const char* subject = r.type == "Device" ? "patient" : "subject";
    if (!about_patient(r.type == "Device" ? r.f.patient : r.f.subject)) {
      // Said in the warnings too: a record whose resources point nowhere is one to
      // look at before trusting the answer.
      ++not_about_patient_;
      if (report_)
        ignored(r, r.path() + "." + subject,
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
  // could be any neurostimulator, or whose status is unknown, leaves every device the
  // record does not name unknown (an open set, see build): a plain list would claim
  // that the specific ones are absent.
  void map_device(const Resource& r) {
    has_devices_resource_ = true;
    std::string status(text_of(r.f.status));
    if (status == "entered-in-error" || status == "inactive") {
      if (report_)
        ignored(
            r, r.path() + ".status",
            status == "inactive" ? "status `inactive`: no longer in place" : "entered in error");
      return;
    }
    MaybeNode type = r.f.type;
    MaybeNode codings = type ? member(*type, "coding") : std::nullopt;
    if (codings && codings->is_array())
      for (auto [i, coding] : indexed(*codings)) {
        if (string_member(coding, "system") != kSnomed) continue;
        std::string code(string_member(coding, "code"));
        auto at = [&r, i = i] { return r.path() + ".type.coding[" + std::to_string(i) + "]"; };
        const DeviceCode* known = find_device_code(code);
        if (!known) continue;
        if (*known->device == 0) {
          devices_unknown_ = true;
          out_.warnings.push_back(at() + ": snomed " + code + " (" + known->display +
                                  ") does not say " + known->unstated +
                                  ": devices the record does not name are left unknown, "
                                  "state them in the profile");
          if (report_)
            used(r, at(),
                 "devices: unknown (" + std::string(known->display) + ", kind not stated)");
          return;
        }
        if (status == "unknown") {
          devices_unknown_ = true;
          out_.warnings.push_back(r.path() + ".status: a " + std::string(known->device) +
                                  " whose status is unknown: devices left unknown");
          if (report_) used(r, r.path() + ".status", "devices: unknown (status unknown)");
          return;
        }
        devices_.insert(known->device);
        if (report_) used(r, at(), "devices: snomed " + code + " → " + known->device);
        return;
      }
    if (report_)
      ignored(r, r.path() + ".type",
              "no device type the mapping knows (" +
                  utf8::printable(type ? display_of(*type) : std::string("no type")) + ")");
  }

  // Procedure.code → procedures[].option through the rule set's concepts; the
  // outcome (relief) of a trial is not something FHIR records in a form we can read.
  // The date a resource took effect: the first of `dates` (a dateTime, or a Period's
  // start) that is there, with the element's name; "" when none is.
  static std::pair<std::string_view, const char*> first_date(
      std::initializer_list<std::pair<MaybeNode, const char*>> dates) {
    for (const auto& [node, name] : dates) {
      if (!node) continue;
      std::string_view text = node->is_object() ? string_member(*node, "start") : text_of(node);
      if (!text.empty()) return {text, name};
    }
    return {{}, ""};
  }

  // Whether a resource dated `date` (in element `element`) belongs to the record as it
  // stood at the as-of date; a date after it is ignored, one that is not a date an error.
  bool dated_by_as_of(const Resource& r, std::pair<std::string_view, const char*> date) {
    const auto [text, element] = date;
    if (text.empty()) return true;
    auto parsed = parse_date(text, false);
    if (!parsed) {
      error(r.path() + "." + element, "`" + utf8::printable(text) + "` is not a date");
      return false;
    }
    if (as_of_ < *parsed) {
      if (report_) ignored(r, r.path() + "." + element, "after the as-of date " + options_.as_of);
      return false;
    }
    return true;
  }

  void map_procedure(const Resource& r) {
    has_procedures_resource_ = true;
    std::string status(text_of(r.f.status));
    if (status != "completed") {
      if (report_)
        ignored(r, r.path() + ".status",
                status == "not-done"
                    ? "recorded as not done"
                    : "status `" + utf8::printable(status) + "`: not a completed procedure");
      return;
    }
    if (!dated_by_as_of(r, first_date({{r.f.performed_date_time, "performed[x]"},
                                       {r.f.performed_period, "performed[x]"}})))
      return;
    MaybeNode code = r.f.code;
    MaybeNode codings = code ? member(*code, "coding") : std::nullopt;
    if (codings && codings->is_array())
      for (auto [i, coding] : indexed(*codings)) {
        std::string system = profile_system(string_member(coding, "system"));
        std::string value(string_member(coding, "code"));
        if (system != "snomed" || value.empty()) continue;
        std::string concept_id = concepts_of(system, value, false);
        if (concept_id.empty()) continue;
        std::string kind = procedure_kind(concept_id);
        procedures_.push_back({concept_id, kind});
        if (report_)
          used(r, r.path() + ".code.coding[" + std::to_string(i) + "]",
               "procedures: snomed " + value + " → " + concept_id +
                   (kind.empty() ? std::string() : " (" + kind + ")"));
        return;
      }
    if (report_)
      ignored(r, r.path() + ".code",
              "no coding the rule set knows (" +
                  utf8::printable(code ? display_of(*code) : std::string("no code")) + ")");
  }

  void map_patient(const Resource& r) {
    id_ = r.id.empty() ? std::string("patient") : std::string(r.id);
    // The profile's id takes at most 128 characters (FHIR's ids have at most 64).
    if (std::size_t length = utf8::characters(id_); length > 128)
      error(r.path() + ".id", "a Patient id of " + std::to_string(length) +
                                  " characters: a profile's id has at most 128");
    std::string birth(text_of(r.f.birth_date));
    if (!birth.empty()) {
      auto date = parse_date(birth, false);
      if (!date) {
        error(r.path() + ".birthDate", "`" + utf8::printable(birth) + "` is not a date");
      } else if (as_of_ < *date) {
        error(r.path() + ".birthDate", "born after the as-of date " + options_.as_of);
      } else if (int age = age_at(*date, as_of_); age > 130) {  // the profile's age: 0..130
        error(r.path() + ".birthDate", "`" + utf8::printable(birth) + "` makes the patient " +
                                           std::to_string(age) + " at " + options_.as_of +
                                           ", older than 130");
      } else if (int youngest = age_at(std::min(latest_of(birth, *date), as_of_), as_of_);
                 youngest != age) {
        // A year or month alone that spans a birthday before the as-of date: either
        // age is possible, and choosing one would invent it.
        std::string why = "`" + utf8::printable(birth) + "` makes the patient " +
                          std::to_string(youngest) + " or " + std::to_string(age) + " at " +
                          options_.as_of + "; age left unknown";
        out_.warnings.push_back(r.path() + ".birthDate: " + why);
        if (report_) ignored(r, r.path() + ".birthDate", std::move(why));
      } else {
        age_ = age;
        if (report_)
          used(r, r.path() + ".birthDate",
               "age " + std::to_string(*age_) + " at " + options_.as_of);
      }
    }
    std::string gender(text_of(r.f.gender));
    static const std::map<std::string, std::string> sexes = {
        {"female", "female"}, {"male", "male"}, {"other", "other"}, {"unknown", "unknown"}};
    if (auto it = sexes.find(gender); it != sexes.end()) {
      sex_ = it->second;
      if (report_) used(r, r.path() + ".gender", "sex " + sex_);
    }
  }

  // Whether the rule set knows a code; the concepts it belongs to, for the report.
  // The concepts a code belongs to, comma-separated, "" if none; without `all`, only
  // the first (enough to know the rule set knows the code).
  std::string concepts_of(const std::string& system, const std::string& code, bool all) {
    engine::Entry& entry = match_scratch_;
    entry.concepts.assign(rules_.plan.concept_words, 0);
    if (!engine::match_code(rules_.plan, entry, system, code)) return {};
    std::string names;
    for (std::size_t c = 0; c < rules_.model.concepts.size(); ++c)
      if ((entry.concepts[c >> 6] >> (c & 63)) & 1u) {
        if (!names.empty()) names += ", ";
        names += rules_.model.concepts[c].id;
        if (!all) break;
      }
    return names;
  }

  // Laterality of a Condition from its bodySite: a laterality-qualifier extension
  // (mCODE, HL7 Europe) or a bodySite coding that is itself a laterality qualifier.
  // SNOMED CT qualifier values 7771000 Left, 24028007 Right, 51440002 Right and left,
  // as in mCODE's LateralityQualifierVS
  // (http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier).
  static std::string laterality_of(MaybeNode sites) {
    auto from = [](const std::string& code) -> std::string {
      if (code == "7771000") return "left";
      if (code == "24028007") return "right";
      if (code == "51440002") return "bilateral";
      return {};
    };
    if (!sites || !sites->is_array()) return {};
    std::string found;
    auto note = [&](const std::string& side) {
      if (side.empty()) return;
      found = found.empty() || found == side ? side : "bilateral";
    };
    for (Node site : elements(*sites)) {
      note(from(code_in(site, kSnomed)));
      if (MaybeNode extensions = member(site, "extension"); extensions && extensions->is_array())
        for (Node extension : elements(*extensions)) {
          std::string_view url = string_member(extension, "url");
          constexpr std::string_view kSuffix = "laterality-qualifier";
          if (url.size() >= kSuffix.size() &&
              std::string_view(url).substr(url.size() - kSuffix.size()) == kSuffix)
            note(from(code_in(member(extension, "valueCodeableConcept"), kSnomed)));
        }
    }
    return found;
  }

  void map_condition(const Resource& r) {
    has_conditions_resource_ = true;
    std::string verification = code_in(
        r.f.verification_status, "http://terminology.hl7.org/CodeSystem/condition-ver-status");
    std::string clinical =
        code_in(r.f.clinical_status, "http://terminology.hl7.org/CodeSystem/condition-clinical");
    if (verification == "entered-in-error") {
      if (report_) ignored(r, r.path() + ".verificationStatus", "entered in error");
      return;
    }
    const bool refuted = verification == "refuted";
    std::pair<std::string, const char*> abated_after;  // resolved after the as-of date
    if (!refuted && !clinical.empty() && clinical != "active" && clinical != "recurrence" &&
        clinical != "relapse") {
      // Resolved since: one that abated after the as-of date was current then.
      const auto [abated, element] = first_date({{r.f.abatement_date_time, "abatementDateTime"},
                                                 {r.f.abatement_period, "abatementPeriod"}});
      std::optional<Date> until;
      if (!abated.empty() && !(until = parse_date(abated, false))) {
        error(r.path() + "." + element, "`" + utf8::printable(abated) + "` is not a date");
        return;
      }
      if (!until || !(as_of_ < latest_of(abated, *until))) {
        if (report_)
          ignored(r, r.path() + ".clinicalStatus",
                  "clinical status `" + clinical + "`: not current");
        return;
      }
      abated_after = {std::string(abated), element};
    }
    // A condition that began (or was first recorded) after the as-of date was not
    // part of the record then.
    if (!dated_by_as_of(r, first_date({{r.f.onset_date_time, "onsetDateTime"},
                                       {r.f.onset_period, "onsetPeriod"},
                                       {r.f.recorded_date, "recordedDate"}})))
      return;
    if (!abated_after.first.empty() && report_)
      used(r, r.path() + "." + abated_after.second,
           "current at the as-of date " + options_.as_of + " (clinical status `" + clinical +
               "` since `" + utf8::printable(abated_after.first) + "`)");
    MaybeNode code = r.f.code;
    MaybeNode codings = code ? member(*code, "coding") : std::nullopt;
    if (!codings || !codings->is_array() || elements(*codings).size() == 0) {
      if (report_) ignored(r, r.path() + ".code", "no coding");
      return;
    }
    const std::string laterality = laterality_of(r.f.body_site);
    if (!laterality.empty() && report_) used(r, r.path() + ".bodySite", "laterality " + laterality);
    bool matched = false;
    for (auto [i, coding] : indexed(*codings)) {
      auto at = [&r, i = i] { return r.path() + ".code.coding[" + std::to_string(i) + "]"; };
      std::string system = profile_system(string_member(coding, "system"));
      std::string value(string_member(coding, "code"));
      if (system.empty() || system == "rxnorm" || system == "atc" || value.empty()) continue;
      // "Presence of cardiac pacemaker": a device in place, as a Device resource says.
      if (const DeviceStatusCode* device = find_device_status_code(system, value)) {
        matched = true;
        if (refuted) {
          if (report_)
            ignored(r, at(),
                    "a device recorded absent (refuted): the profile's devices list those "
                    "present, so this says nothing it can hold");
          continue;
        }
        devices_.insert(device->device);
        if (report_)
          used(r, at(),
               "devices: " + system + " " + value + " (" + device->display + ") → " +
                   device->device);
        continue;
      }
      std::string concepts = concepts_of(system, value, report_);
      if (concepts.empty()) continue;
      conditions_.push_back({system, value, laterality, refuted, {}});
      if (report_)
        used(r, at(),
             std::string(refuted ? "conditions, recorded absent (refuted): " : "conditions: ") +
                 system + " " + value + " → " + concepts);
      matched = true;
    }
    if (!matched && report_)
      ignored(r, r.path() + ".code",
              "no coding the rule set knows (" + utf8::printable(display_of(*code)) + ")");
  }

  static std::string display_of(Node concept_json) {
    std::string text(string_member(concept_json, "text"));
    if (!text.empty()) return text;
    MaybeNode codings = member(concept_json, "coding");
    if (codings && codings->is_array())
      for (Node coding : elements(*codings)) {
        std::string display(string_member(coding, "display"));
        if (!display.empty()) return display;
        std::string code(string_member(coding, "code"));
        if (!code.empty()) return std::string(string_member(coding, "system")) + "|" + code;
      }
    return "no text";
  }

  // The latest observation of a code so far.
  struct Latest {
    const Entry* resource = nullptr;
    std::string effective;
    std::vector<const Entry*> tied;  // others of the same effective[x]
  };

  // Whether an observation speaks of the as-of date: effective[x] on that day, or a
  // Period around it (without an end it is ongoing, as FHIR's Period says). A
  // pregnancy status of another day says nothing of this one.
  bool speaks_of_as_of(const Fields& f) const {
    for (MaybeNode at : {f.effective_date_time, f.effective_instant})
      if (std::string_view value = text_of(at); !value.empty()) {
        auto date = parse_date(value, true);
        return date && !(*date < as_of_) && !(as_of_ < *date);
      }
    MaybeNode period = f.effective_period;
    if (!period) return false;
    std::string_view start = string_member(*period, "start"), end = string_member(*period, "end");
    if (start.empty() && end.empty()) return false;
    if (!start.empty()) {
      auto from = parse_date(start, false);
      if (!from || as_of_ < *from) return false;
    }
    if (!end.empty()) {
      auto to = parse_date(end, false);
      if (!to || latest_of(end, *to) < as_of_) return false;
    }
    return true;
  }

  void map_observation(const Resource& r) {
    std::string loinc = code_in(r.f.code, kLoinc);
    static const std::set<std::string> read = {"72514-3", "82810-3", "4548-4", "39156-5"};
    if (!read.count(loinc)) {
      ++unread_observations_;
      return;
    }
    std::string status(text_of(r.f.status));
    if (status == "entered-in-error" || status == "cancelled" || status == "registered") {
      if (report_) ignored(r, r.path() + ".status", "status `" + status + "`");
      return;
    }
    const auto written = first_date({{r.f.effective_date_time, "effectiveDateTime"},
                                     {r.f.effective_instant, "effectiveInstant"},
                                     {r.f.effective_period, "effectivePeriod"}});
    if (!dated_by_as_of(r, written)) return;
    const std::string effective = instant_key(written.first);
    Latest& slot = latest_[loinc];
    if (slot.resource && effective == slot.effective) {  // which is latest: neither
      slot.tied.push_back(r.stored);
      return;
    }
    if (slot.resource && effective < slot.effective) {
      if (report_)
        ignored(r, r.path(), "an earlier " + loinc + " observation than " + slot.resource->path());
      return;
    }
    if (slot.resource && report_)
      for (const Entry* replaced : tied_and_first(slot))
        ignored(*replaced, replaced->path(), "a later one replaces it");
    slot = Latest{r.stored, effective, {}};
  }

  static std::vector<const Entry*> tied_and_first(const Latest& slot) {
    std::vector<const Entry*> all{slot.resource};
    all.insert(all.end(), slot.tied.begin(), slot.tied.end());
    return all;
  }

  static std::optional<double> numeric_value(const Resource& r) {
    if (MaybeNode quantity = r.f.value_quantity) {
      if (MaybeNode number = member(*quantity, "value")) return number_of(*number);
    } else if (MaybeNode integer = r.f.value_integer) {
      return number_of(*integer);
    }
    return std::nullopt;
  }

  // The unit a quantity states: its code (UCUM), else its unit text; "" if neither.
  static std::string_view unit_of(MaybeNode quantity) {
    if (!quantity) return {};
    std::string_view code = string_member(*quantity, "code");
    return code.empty() ? string_member(*quantity, "unit") : code;
  }

  // A value the profile cannot take as it is: reported, and said in the warnings (the
  // record holds a value the clinician may expect to count).
  void unusable_value(const Resource& r, const std::string& field, const std::string& why) {
    const std::string text = why + ": " + field + " left unknown";
    out_.warnings.push_back(r.path() + ".valueQuantity: " + text);
    if (report_) ignored(r, r.path() + ".valueQuantity", text);
  }

  // What an observation says, as text to compare: the SNOMED CT answer of a
  // pregnancy status, the number of the others ("" when there is none).
  static std::string said_by(const std::string& loinc, const Resource& r) {
    if (loinc == "82810-3") return code_in(r.f.value_codeable_concept, kSnomed);
    std::optional<double> value = numeric_value(r);
    if (!value) return {};
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", *value);
    return text;
  }

  // Observations of one code at the same latest time: one answer if they agree;
  // if they disagree none is the latest, and choosing by their order in the record
  // would make the answer depend on it.
  bool tied_observations_agree(const std::string& loinc, const Latest& latest) {
    if (latest.tied.empty()) return true;
    const std::string first = said_by(loinc, Resource(*latest.resource));
    bool agree = true;
    for (const Entry* other : latest.tied)
      agree = agree && said_by(loinc, Resource(*other)) == first;
    static const std::map<std::string, std::string> fields = {
        {"72514-3", "pain.nrs"},
        {"82810-3", "pregnant"},
        {"4548-4", "assessments.hba1c_percent"},
        {"39156-5", "assessments.bmi"}};
    const std::string& field = fields.at(loinc);
    if (!agree) {
      std::string why = std::to_string(latest.tied.size() + 1) + " LOINC " + loinc +
                        " observations of the same time `" + utf8::printable(latest.effective) +
                        "` disagree: " + field + " left unknown";
      out_.warnings.push_back(latest.resource->path() + ": " + why);
      if (report_)
        for (const Entry* each : tied_and_first(latest)) ignored(*each, each->path(), why);
    } else if (report_) {
      for (const Entry* other : latest.tied)
        ignored(*other, other->path(),
                "says what " + latest.resource->path() + " of the same time says");
    }
    return agree;
  }

  void finish_observations() {
    for (auto& [loinc, latest] : latest_) {
      if (!tied_observations_agree(loinc, latest)) continue;
      const Resource r(*latest.resource);
      if (loinc == "82810-3") {
        std::string answer = code_in(r.f.value_codeable_concept, kSnomed);
        std::optional<bool> stated;
        if (answer == "77386006")
          stated = true;
        else if (answer == "60001007")
          stated = false;
        if (stated && !speaks_of_as_of(r.f)) {
          std::string why =
              std::string("pregnancy status `") + (*stated ? "pregnant" : "not pregnant") +
              "` recorded for " +
              (latest.effective.empty() ? std::string("no date")
                                        : "`" + utf8::printable(latest.effective) + "`") +
              ", not for the as-of date " + options_.as_of + ": pregnant left unknown";
          out_.warnings.push_back(r.path() + ": " + why);
          if (report_) ignored(r, r.path(), std::move(why));
          continue;
        }
        pregnant_ = stated;
        if (!report_) continue;
        if (pregnant_)
          used(r, r.path() + ".valueCodeableConcept",
               std::string("pregnant: ") + (*pregnant_ ? "true" : "false") + " (LOINC 82810-3)");
        else
          ignored(r, r.path() + ".valueCodeableConcept", "pregnancy status unknown or not coded");
        continue;
      }
      // The date of the value taken, for the reader to judge how current it is.
      const std::string_view written = first_date({{r.f.effective_date_time, ""},
                                                   {r.f.effective_instant, ""},
                                                   {r.f.effective_period, ""}})
                                           .first;
      const std::string of_date =
          written.empty() ? std::string(", undated") : ", of `" + utf8::printable(written) + "`";
      // A value taken however old it is: one of more than a year before the as-of date
      // is said in the warnings, for whoever reads the result to judge.
      const std::string& code = loinc;  // a structured binding: clang 14 cannot capture it
      auto say_if_old = [&](const char* field, double taken) {
        auto date = parse_date(written, false);
        Date year_before{as_of_.year - 1, as_of_.month, as_of_.day};
        if (year_before.month == 2 && year_before.day == 29) year_before.day = 28;
        if (!date || !(latest_of(written, *date) < year_before)) return;
        // Named by the resource, not its place: the result does not depend on entry order.
        std::string text = r.name() + ": " + field + " ";
        append_json_number(text, taken);
        text += " is from LOINC " + code + " of `" + utf8::printable(written) +
                "`, more than a year before the as-of date " + options_.as_of;
        out_.warnings.push_back(std::move(text));
      };
      std::optional<double> value = numeric_value(r);
      if (!value) {
        if (report_) ignored(r, r.path() + ".value[x]", "no numeric value");
        continue;
      }
      if (loinc == "72514-3") {
        if (*value < 0 || *value > 10) {
          if (report_) ignored(r, r.path() + ".valueQuantity", "pain severity outside 0-10");
          continue;
        }
        pain_nrs_ = value;
        say_if_old("pain.nrs", *value);
        if (report_)
          used(r, r.path() + ".valueQuantity",
               "pain.nrs (LOINC 72514-3, the latest" + of_date + ")");
      } else if (loinc == "4548-4") {
        // LOINC 4548-4 is HbA1c in % (NGSP); IFCC's mmol/mol is another code (59261-8).
        const std::string_view unit = unit_of(r.f.value_quantity);
        if (!unit.empty() && unit != "%") {
          unusable_value(r, "assessments.hba1c_percent",
                         "HbA1c in `" + utf8::printable(unit) + "`, not %");
          continue;
        }
        if (*value < 0 || *value > 100) {
          unusable_value(r, "assessments.hba1c_percent", "HbA1c outside 0-100 %");
          continue;
        }
        hba1c_ = value;
        say_if_old("assessments.hba1c_percent", *value);
        if (report_)
          used(r, r.path() + ".valueQuantity",
               "assessments.hba1c_percent (LOINC 4548-4, the latest" + of_date + ")");
      } else {
        const std::string_view unit = unit_of(r.f.value_quantity);
        if (!unit.empty() && unit != "kg/m2" && unit != "kg/m^2" && unit != "kg/m\u00b2") {
          unusable_value(r, "assessments.bmi", "BMI in `" + utf8::printable(unit) + "`, not kg/m2");
          continue;
        }
        if (*value <= 0) {
          unusable_value(r, "assessments.bmi", "BMI not above 0");
          continue;
        }
        bmi_ = value;
        say_if_old("assessments.bmi", *value);
        if (report_)
          used(r, r.path() + ".valueQuantity",
               "assessments.bmi (LOINC 39156-5, the latest" + of_date + ")");
      }
    }
  }

  void map_medication(const Resource& r) {
    has_medications_resource_ = true;
    std::string status(text_of(r.f.status));
    MaybeNode concept_json = r.f.medication_codeable_concept;
    if (status != "active") {
      if (report_)
        ignored(r, r.path() + ".status",
                "status `" + status +
                    "`: not a current medication, and the record does not say how it worked "
                    "(a tried treatment needs its response)");
      return;
    }
    // A medication prescribed, or taken from, after the as-of date was not taken then.
    if (!dated_by_as_of(r, first_date({{r.f.authored_on, "authoredOn"},
                                       {r.f.effective_date_time, "effectiveDateTime"},
                                       {r.f.effective_period, "effectivePeriod"},
                                       {r.f.date_asserted, "dateAsserted"}})))
      return;
    // The drug: its codeable concept, or the code of the Medication it refers to (one
    // contained in it, or one of the bundle).
    std::string concept_path = r.path() + ".medicationCodeableConcept";
    if (!concept_json && r.f.medication_reference) {
      if (auto medication = referenced_medication(r)) {
        concept_json = member(medication->first, "code");
        concept_path = medication->second + ".code";
      }
    }
    if (!concept_json) {
      const std::string reference =
          r.f.medication_reference
              ? utf8::printable(string_member(*r.f.medication_reference, "reference"))
              : std::string();
      unidentified_medication(
          r,
          r.f.medication_reference
              ? "its medicationReference `" + reference + "` is to no Medication of the record"
              : std::string("it has neither medicationCodeableConcept nor medicationReference"),
          r.f.medication_reference ? reference : std::string("no drug given"));
      return;
    }
    MaybeNode codings = member(*concept_json, "coding");
    bool matched = false, coded = false;
    if (codings && codings->is_array())
      for (auto [i, coding] : indexed(*codings)) {
        if (matched) break;
        std::string system = profile_system(string_member(coding, "system"));
        std::string value(string_member(coding, "code"));
        if ((system != "rxnorm" && system != "atc") || value.empty()) continue;
        coded = true;
        auto at = [&concept_path, i = i] {
          return concept_path + ".coding[" + std::to_string(i) + "]";
        };
        if (std::string concepts = concepts_of(system, value, report_); !concepts.empty()) {
          medications_.push_back({system, value, {}, false, {}});
          if (report_) used(r, at(), "medications: " + system + " " + value + " → " + concepts);
          matched = true;
          continue;
        }
        // A clinical drug whose ingredient the rule set names: matched by that name.
        std::string display(string_member(coding, "display"));
        std::string word;
        for (std::size_t k = 0; k <= display.size() && !matched; ++k) {
          char c = k < display.size() ? ascii::to_lower(display[k]) : ' ';
          if (ascii::is_lower(c)) {
            word += c;
            continue;
          }
          if (word.size() >= 4)
            if (std::string concepts = concepts_of("local", word, report_); !concepts.empty()) {
              medications_.push_back({"local", word, {}, false, {}});
              if (report_)
                used(r, at(),
                     "medications: `" + word + "` matched by name in \"" +
                         utf8::printable(display) + "\" → " + concepts);
              matched = true;
            }
          word.clear();
        }
      }
    if (!coded) {
      const std::string named = utf8::printable(display_of(*concept_json));
      unidentified_medication(r, "it is coded in neither RxNorm nor ATC (" + named + ")", named);
    } else if (!matched && report_)
      ignored(r, concept_path,
              "no coding the rule set knows (" + utf8::printable(display_of(*concept_json)) + ")");
  }

  // An active medication whose drug cannot be told is a medication all the same: it
  // is listed with its drug unknown (an entry without a code), so that a drug-class
  // test it could satisfy is unknown, never false. Said in the warnings.
  void unidentified_medication(const Resource& r, const std::string& why,
                               const std::string& known) {
    const std::string text =
        "an active medication whose drug cannot be told: " + why + "; listed with its drug unknown";
    out_.warnings.push_back(r.path() + ": " + text);
    if (report_) used(r, r.path(), "medications: " + text);
    CodedEntry entry;
    entry.display = r.name() + ": " + known + " (drug not identified)";
    unidentified_medications_.push_back(std::move(entry));
  }

  // The Medication a medicationReference names, with its path: "#id" among the
  // resource's contained ones, else a Medication of the bundle by "Medication/id"
  // (relative or absolute) or by fullUrl.
  std::optional<std::pair<Node, std::string>> referenced_medication(const Resource& r) const {
    const std::string_view target = string_member(*r.f.medication_reference, "reference");
    if (target.empty()) return std::nullopt;
    if (target[0] == '#') {
      if (!r.f.contained || !r.f.contained->is_array()) return std::nullopt;
      for (auto [i, contained] : indexed(*r.f.contained))
        if (string_member(contained, "resourceType") == "Medication" &&
            string_member(contained, "id") == target.substr(1))
          return std::pair{contained, r.path() + ".contained[" + std::to_string(i) + "]"};
      return std::nullopt;
    }
    for (const Entry& entry : resources_) {
      if (entry.type != "Medication") continue;
      const std::string relative = "Medication/" + std::string(entry.id);
      if ((!entry.full_url.empty() && target == entry.full_url) || target == relative ||
          (target.size() > relative.size() &&
           target.substr(target.size() - relative.size()) == relative &&
           target[target.size() - relative.size() - 1] == '/'))
        return std::pair{entry.body, entry.path()};
    }
    return std::nullopt;
  }

  // The derived profile as compact JSON text, written directly: building it as a
  // JSON document cost as much as the rest of the mapping.
  std::string build() {
    finish_observations();
    std::string text = "{\"id\":";
    append_json_string(text, id_);
    if (age_) text += ",\"age\":" + std::to_string(*age_);
    if (!sex_.empty()) {
      text += ",\"sex\":";
      append_json_string(text, sex_);
    }
    if (pregnant_) text += *pregnant_ ? ",\"pregnant\":true" : ",\"pregnant\":false";
    // A list is given only when the record has resources of its kind: no Condition
    // resource means the conditions are unknown, not none.
    if (has_conditions_resource_) append_codes(text, "conditions", conditions_);
    if (pain_nrs_) {
      text += ",\"pain\":{\"nrs\":";
      append_json_number(text, *pain_nrs_);
      text += '}';
    }
    if (has_medications_resource_) {
      // The drugs not identified come last, in an order of their own: the JSON paths of
      // the result's missing data (/medications/N/code) do not depend on entry order.
      std::sort(unidentified_medications_.begin(), unidentified_medications_.end(),
                [](const CodedEntry& a, const CodedEntry& b) { return a.display < b.display; });
      medications_.insert(medications_.end(), unidentified_medications_.begin(),
                          unidentified_medications_.end());
      append_codes(text, "medications", medications_);
    }
    // Beside an implant of unstated kind, or named only by a condition ("presence of
    // cardiac pacemaker") in a record without Device resources, the devices the record
    // names are an open set: present (their contraindications exclude), any other
    // device unknown.
    const bool devices_open = devices_unknown_ || !has_devices_resource_;
    if ((has_devices_resource_ || !devices_.empty()) && (!devices_open || !devices_.empty())) {
      text += devices_open ? ",\"devices\":{\"present\":[" : ",\"devices\":[";
      for (const std::string& device : devices_) {
        if (text.back() != '[') text += ',';
        append_json_string(text, device);
      }
      text += devices_open ? "],\"complete\":false}" : "]";
    }
    if (has_procedures_resource_) {
      text += ",\"procedures\":[";
      for (const ProcedureEntry& procedure : procedures_) {
        text += text.back() == '[' ? "{\"option\":" : ",{\"option\":";
        append_json_string(text, procedure.option);
        if (!procedure.kind.empty()) {
          text += ",\"kind\":";
          append_json_string(text, procedure.kind);
        }
        text += '}';
      }
      text += ']';
    }
    if (hba1c_ || bmi_) {
      text += ",\"assessments\":{";
      if (hba1c_) {
        text += "\"hba1c_percent\":";
        append_json_number(text, *hba1c_);
      }
      if (bmi_) {
        text += hba1c_ ? ",\"bmi\":" : "\"bmi\":";
        append_json_number(text, *bmi_);
      }
      text += '}';
    }
    text += '}';
    for (const auto& [type, count] : unsupported_)
      out_.warnings.push_back(std::to_string(count) + " " + type +
                              " resource(s) not read (not used by the rules)");
    if (unread_observations_)
      out_.warnings.push_back(std::to_string(unread_observations_) +
                              " Observation(s) with codes the mapping does not read");
    if (not_about_patient_)
      out_.warnings.push_back(std::to_string(not_about_patient_) +
                              " resource(s) not about this patient (another patient's, or "
                              "referring to no Patient of the bundle): not read");
    return text;
  }

  // conditions[] or medications[]: {"system", "code"[, "present": false][, "laterality"]}.
  static void append_codes(std::string& text, const char* field,
                           const std::vector<CodedEntry>& entries) {
    ((text += ",\"") += field) += "\":[";
    for (const CodedEntry& entry : entries) {
      if (entry.system.empty()) {
        text += text.back() == '[' ? "{\"display\":" : ",{\"display\":";
        append_json_string(text, entry.display);
        text += '}';
        continue;
      }
      text += text.back() == '[' ? "{\"system\":" : ",{\"system\":";
      append_json_string(text, entry.system);
      text += ",\"code\":";
      append_json_string(text, entry.code);
      if (entry.refuted) text += ",\"present\":false";
      if (!entry.laterality.empty()) {
        text += ",\"laterality\":";
        append_json_string(text, entry.laterality);
      }
      text += '}';
    }
    text += ']';
  }

  const detail::CompiledRuleSet& rules_;
  const FhirOptions& options_;
  FhirMapping& out_;
  const bool report_;  // the used/ignored notes; evaluate_fhir gives only the warnings
  Date as_of_;
  // The thread's list of entries, reused: allocating it anew cost as much as reading
  // a typical record's resources (the allocator tidies up before a large block).
  std::vector<Entry>& resources_ = reused_entries();
  const Entry* patient_ = nullptr;
  std::string patient_reference_;
  engine::Entry match_scratch_;  // reused by concepts_of
  std::string id_, sex_;
  std::optional<int> age_;
  std::optional<bool> pregnant_;
  std::optional<double> pain_nrs_, hba1c_, bmi_;
  std::vector<CodedEntry> conditions_, medications_, unidentified_medications_;
  bool has_conditions_resource_ = false, has_medications_resource_ = false;
  bool has_devices_resource_ = false, devices_unknown_ = false, has_procedures_resource_ = false;
  std::set<std::string> devices_;
  std::vector<ProcedureEntry> procedures_;
  std::map<std::string, Latest> latest_;
  std::map<std::string, int> unsupported_;
  int unread_observations_ = 0, not_about_patient_ = 0;
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

namespace {

// With `report`, the used/ignored notes and a pretty-printed profile, for a person;
// without, what evaluation needs: the profile, compact, and the warnings.
template <typename Record>
FhirMapping map_record(const RuleSet& rules, const Record& record, const FhirOptions& options,
                       bool report) noexcept {
  FhirMapping out;
  try {
    Mapper(detail::compiled(rules), options, out, report).run(record);
  } catch (std::exception const& e) {
    out.profile.clear();
    out.errors.push_back({"Bundle", std::string("internal error: ") + e.what()});
  }
  if (!out.errors.empty()) out.profile.clear();
  return out;
}

}  // namespace

FhirMapping map_fhir(const RuleSet& rules, std::string_view bundle_json,
                     const FhirOptions& options) noexcept {
  return map_record(rules, bundle_json, options, true);
}

namespace {

template <typename Record>
Evaluation evaluate_record(const RuleSet& rules, const Record& record,
                           const FhirOptions& options) noexcept {
  Evaluation evaluation;
  try {
    FhirMapping mapping = map_record(rules, record, options, false);
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

}  // namespace

Evaluation evaluate_fhir(const RuleSet& rules, std::string_view bundle_json,
                         const FhirOptions& options) noexcept {
  return evaluate_record(rules, bundle_json, options);
}

namespace detail {

Evaluation evaluate_fhir_resources(const RuleSet& rules, const std::vector<FhirResource>& resources,
                                   const FhirOptions& options) noexcept {
  return evaluate_record(rules, resources, options);
}

FhirMapping map_fhir_resources(const RuleSet& rules, const std::vector<FhirResource>& resources,
                               const FhirOptions& options) noexcept {
  return map_record(rules, resources, options, false);
}

}  // namespace detail

}  // namespace stimrank
