// Result → the contract's JSON, and a readable text view for terminals.
#include "stimrank/result.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

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

ordered_json reason_json(const Reason& reason) {
  ordered_json j;
  j["rule"] = reason.rule;
  j["kind"] = reason.kind;
  j["text"] = reason.text;
  j["source"] = reason.source;
  j["doi"] = reason.doi;
  j["tags"] = reason.tags;
  j["unverified"] = reason.unverified;
  if (reason.kind == "prerequisite" || reason.met.has_value())
    j["met"] = reason.met.has_value() ? ordered_json(*reason.met) : ordered_json(nullptr);
  if (reason.kind == "missing_data") j["missing"] = reason.missing;
  return j;
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

std::string Result::to_json(int indent) const {
  ordered_json j;
  j["profile"] = profile;
  j["ruleset"] = {{"name", ruleset_name}, {"version", ruleset_version}, {"digest", ruleset_digest}};
  ordered_json list = ordered_json::array();
  for (const OptionResult& o : options) {
    ordered_json item;
    item["option"] = o.option;
    item["title"] = o.title;
    item["family"] = o.family;
    item["invasiveness"] = o.invasiveness;
    item["status"] = to_string(o.status);
    item["rank"] = o.rank ? ordered_json(*o.rank) : ordered_json(nullptr);
    item["score"] = o.rank ? number(o.score) : ordered_json(nullptr);
    item["summary"] = o.summary;
    item["evidence"] = ordered_json::array();
    for (const Evidence& e : o.evidence) item["evidence"].push_back(evidence_json(e));
    item["reasons"] = ordered_json::array();
    for (const Reason& r : o.reasons) item["reasons"].push_back(reason_json(r));
    item["missing"] = o.missing;
    list.push_back(std::move(item));
  }
  j["options"] = std::move(list);
  j["warnings"] = warnings;
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Result::to_tsv() const {
  std::vector<std::string> fired;
  for (const OptionResult& o : options)
    for (const Reason& r : o.reasons)
      if (r.kind != "missing_data" &&
          !(r.kind == "prerequisite" && r.met != std::optional<bool>(true)))
        fired.push_back(r.rule);
  std::sort(fired.begin(), fired.end());
  fired.erase(std::unique(fired.begin(), fired.end()), fired.end());
  std::string out = profile + "\t";
  for (std::size_t i = 0; i < fired.size(); ++i) out += (i ? "," : "") + fired[i];
  out += "\t";
  bool first = true;
  for (const OptionResult& o : options) {
    if (!o.rank) continue;
    out += (first ? "" : ",") + o.option + ":" + number(o.score).dump();
    first = false;
  }
  return out;
}

std::string Result::to_text() const {
  std::string out = "profile " + profile + " · " + ruleset_name + " " + ruleset_version + "\n";
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
    for (const std::string& w : warnings) out += "  " + w + "\n";
  }
  return out;
}

}  // namespace stimrank
