// Result → the contract's JSON, and a readable text view for terminals.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

#include "json_text.hpp"
#include "stimrank/result.hpp"
#include "utf8.hpp"

namespace stimrank {

using ordered_json = nlohmann::ordered_json;

const char* to_string(Status status) noexcept {
  switch (status) {
    case Status::recommended: return "recommended";
    case Status::consider: return "consider";
    case Status::not_indicated: return "not_indicated";
    case Status::excluded: return "excluded";
    case Status::research_only: return "research_only";
  }
  return "?";
}

std::string ProfileError::format() const {
  return (path.empty() ? std::string("profile") : path) + ": " + message;
}

namespace {

// Integral scores print as integers: 20, not 20.0.
ordered_json number(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15)
    return static_cast<long long>(value);
  return value;
}

ordered_json evidence_json(const Evidence& evidence) {
  ordered_json j;
  j["rule"] = evidence.rule;
  j["scheme"] = evidence.scheme;
  for (const GradeDimension& dim : evidence.grade) j[dim.name] = dim.value;
  j["weight"] = number(evidence.weight);
  j["condition"] = evidence.condition;
  j["source"] = evidence.source;
  j["doi"] = evidence.doi;
  j["tags"] = evidence.tags;
  j["unverified"] = evidence.unverified;
  return j;
}

}  // namespace

// The compact JSON is written directly: a result is written for every profile of
// a batch, and a DOM per result would cost more than the evaluation. Pretty output
// re-indents the compact text, so both have one source.
namespace {

// Most strings need no escaping: a table finds the bytes that might (controls,
// quotes, backslashes; non-ASCII bytes need a UTF-8 check, then go as they are).
bool plain_ascii(std::string_view text) {
  static const auto special = [] {
    std::array<unsigned char, 256> table{};
    for (int c = 0; c < 256; ++c)
      table[c] = c < 0x20 || c == '"' || c == '\\' ? 2 : c >= 0x80 ? 1 : 0;
    return table;
  }();
  unsigned char seen = 0;
  for (char c : text) seen |= special[static_cast<unsigned char>(c)];
  return seen == 0 || (seen == 1 && utf8::valid(text));
}

void append_escaped(std::string_view text, std::string& out) {
  if (!utf8::valid(text)) {  // nlohmann's replacement of ill-formed bytes, exactly
    out += ordered_json(std::string(text))
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  // Runs of bytes that need no escape are copied whole; most of a text is one run.
  auto needs_escape = [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  };
  std::size_t from = 0;
  for (std::size_t at = 0; at < text.size(); ++at) {
    // Eight bytes at a time while none is a quote, a backslash or a control byte.
    while (at + 8 <= text.size()) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + at, 8);
      constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
      auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
      const std::uint64_t below_space = (word - ones * 0x20) & ~word & highs;
      if (below_space | has_zero(word ^ (ones * '"')) | has_zero(word ^ (ones * '\\'))) break;
      at += 8;
    }
    if (at >= text.size()) break;
    const char c = text[at];
    if (!needs_escape(c)) continue;
    out.append(text, from, at - from);
    from = at + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        static const char* hex = "0123456789abcdef";
        out += "\\u00";
        out += hex[(c >> 4) & 0xF];
        out += hex[c & 0xF];
      }
    }
  }
  out.append(text, from);
  out += '"';
}

// `prefix` (a literal such as `,"title":`) and the quoted string, in one copy
// when the string needs no escaping.
void append_field(std::string& out, std::string_view prefix, std::string_view text) {
  if (!plain_ascii(text)) {
    out += prefix;
    append_escaped(text, out);
    return;
  }
  std::size_t at = out.size();
  out.resize(at + prefix.size() + text.size() + 2);
  char* p = out.data() + at;
  // memcpy from an empty view's null pointer is undefined, even for 0 bytes.
  if (!prefix.empty()) std::memcpy(p, prefix.data(), prefix.size());
  p += prefix.size();
  *p++ = '"';
  if (!text.empty()) std::memcpy(p, text.data(), text.size());
  p[text.size()] = '"';
}

void append_string(std::string_view text, std::string& out) {
  append_field(out, {}, text);
}

template <std::size_t N>
void append_literal(std::string& out, const char (&text)[N]) {
  out.append(text, N - 1);
}

void append_strings(const std::vector<std::string>& list, std::string& out) {
  out += '[';
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    append_string(list[i], out);
  }
  out += ']';
}

void append_number_value(double value, std::string& out) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    char buffer[24];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, static_cast<long long>(value));
    out.append(buffer, end);
    return;
  }
  out += number(value).dump();
}

void append_evidence(const Evidence& e, std::string& out) {
  static const char* const fixed[] = {"rule",   "scheme", "weight", "condition",
                                      "source", "doi",    "tags",   "unverified"};
  bool unusual = false;  // a dimension named like a fixed key, or twice
  for (std::size_t i = 0; i < e.grade.size() && !unusual; ++i) {
    for (const char* key : fixed) unusual = unusual || e.grade[i].name == key;
    for (std::size_t k = 0; k < i; ++k) unusual = unusual || e.grade[k].name == e.grade[i].name;
  }
  if (unusual) {
    out += evidence_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  append_field(out, "{\"rule\":", e.rule);
  append_field(out, ",\"scheme\":", e.scheme);
  for (const GradeDimension& dim : e.grade) {
    out += ',';
    append_string(dim.name, out);
    out += ':';
    append_string(dim.value, out);
  }
  append_literal(out, ",\"weight\":");
  append_number_value(e.weight, out);
  append_field(out, ",\"condition\":", e.condition);
  append_field(out, ",\"source\":", e.source);
  append_field(out, ",\"doi\":", e.doi);
  append_literal(out, ",\"tags\":");
  append_strings(e.tags, out);
  append_literal(out, ",\"unverified\":");
  out += e.unverified ? "true}" : "false}";
}

void append_reason(const Reason& r, std::string& out) {
  append_field(out, "{\"rule\":", r.rule);
  append_field(out, ",\"kind\":", r.kind);
  append_field(out, ",\"text\":", r.text);
  append_field(out, ",\"source\":", r.source);
  append_field(out, ",\"doi\":", r.doi);
  append_literal(out, ",\"tags\":");
  append_strings(r.tags, out);
  append_literal(out, ",\"unverified\":");
  out += r.unverified ? "true" : "false";
  if (r.kind == "prerequisite" || r.met.has_value()) {
    append_literal(out, ",\"met\":");
    out += !r.met ? "null" : *r.met ? "true" : "false";
  }
  if (r.kind == "missing_data") {
    append_literal(out, ",\"missing\":");
    append_strings(r.missing, out);
  }
  out += '}';
}

}  // namespace

namespace detail {
void append_json_string(std::string_view text, std::string& out) {
  append_string(text, out);
}
void append_json_field(std::string& out, std::string_view prefix, std::string_view text) {
  append_field(out, prefix, text);
}
void append_json_strings(const std::vector<std::string>& list, std::string& out) {
  append_strings(list, out);
}
void append_json_number(double value, std::string& out) {
  append_number_value(value, out);
}
void append_reason_json(const Reason& reason, std::string& out) {
  append_reason(reason, out);
}
void append_evidence_json(const Evidence& evidence, std::string& out) {
  append_evidence(evidence, out);
}
bool valid_utf8(std::string_view text) {
  return utf8::valid(text);
}
}  // namespace detail

void Result::append_json(std::string& out) const {
  append_field(out, "{\"profile\":", profile);
  out += ",\"ruleset\":{";
  append_field(out, "\"name\":", ruleset_name);
  append_field(out, ",\"version\":", ruleset_version);
  append_field(out, ",\"digest\":", ruleset_digest);
  out += "},\"options\":[";
  for (std::size_t i = 0; i < options.size(); ++i) {
    const OptionResult& o = options[i];
    if (i) out += ',';
    append_field(out, "{\"option\":", o.option);
    append_field(out, ",\"title\":", o.title);
    append_field(out, ",\"family\":", o.family);
    append_field(out, ",\"invasiveness\":", o.invasiveness);
    append_field(out, ",\"status\":", to_string(o.status));
    append_literal(out, ",\"rank\":");
    if (o.rank)
      out += std::to_string(*o.rank);
    else
      out += "null";
    append_literal(out, ",\"score\":");
    if (o.rank)
      append_number_value(o.score, out);
    else
      out += "null";
    append_field(out, ",\"summary\":", o.summary);
    out += ",\"evidence\":[";
    for (std::size_t k = 0; k < o.evidence.size(); ++k) {
      if (k) out += ',';
      append_evidence(o.evidence[k], out);
    }
    out += "],\"reasons\":[";
    for (std::size_t k = 0; k < o.reasons.size(); ++k) {
      if (k) out += ',';
      append_reason(o.reasons[k], out);
    }
    out += "],";
    append_literal(out, "\"missing\":");
    append_strings(o.missing, out);
    out += '}';
  }
  out += "],";
  append_literal(out, "\"warnings\":");
  append_strings(warnings, out);
  out += '}';
}

std::string Result::to_json(int indent) const {
  std::string compact;
  append_json(compact);
  if (indent < 0) return compact;
  return ordered_json::parse(compact).dump(indent, ' ', false,
                                           nlohmann::json::error_handler_t::replace);
}

namespace {
// Text from the profile (its id, warnings that quote it) as a terminal shows it
// safely: control characters (an ANSI escape, say) and invalid UTF-8 as `?`
// (utf8::printable), a tab as \x09.
std::string terminal_safe(std::string_view text) {
  std::string out;
  for (char c : utf8::printable(text)) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 15];
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

std::string Result::to_text() const {
  std::string out =
      "profile " + terminal_safe(profile) + " · " + ruleset_name + " " + ruleset_version + "\n";
  std::string ranked, others;
  for (const OptionResult& o : options) {
    if (o.rank) {
      std::string grade;
      for (const Evidence& e : o.evidence) {
        grade += (grade.empty() ? "" : "; ") + e.scheme + "(";
        for (std::size_t i = 0; i < e.grade.size(); ++i)
          grade += (i ? ", " : "") + e.grade[i].name + " " + e.grade[i].value;
        grade += ")";
        if (e.unverified) grade += " unverified";
      }
      ranked += "  " + std::to_string(*o.rank) + ". " + o.option + " — " + o.title + " [" +
                to_string(o.status) + "]\n";
      if (!grade.empty()) ranked += "     evidence: " + grade + "\n";
      ranked += "     " + o.summary + "\n";
    } else {
      others += "  " + o.option + " [" + to_string(o.status) + "] " + o.summary + "\n";
    }
  }
  out += "\nranked options\n" + (ranked.empty() ? "  (none)\n" : ranked);
  out += "\nnot ranked\n" + (others.empty() ? "  (none)\n" : others);
  std::vector<std::string> missing_all;
  for (const OptionResult& o : options)
    for (const std::string& m : o.missing)
      if (std::find(missing_all.begin(), missing_all.end(), m) == missing_all.end())
        missing_all.push_back(m);
  std::sort(missing_all.begin(), missing_all.end());
  if (!missing_all.empty()) {
    out += "\nmissing data that could change the result\n";
    for (const std::string& m : missing_all) out += "  " + m + "\n";
  }
  if (!warnings.empty()) {
    out += "\nwarnings\n";
    for (const std::string& w : warnings) out += "  " + terminal_safe(w) + "\n";
  }
  return out;
}

}  // namespace stimrank
