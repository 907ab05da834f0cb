// The evidence tables rendered from a rule set's description (stimrank table).
#include "stimrank/tables.hpp"

#include <algorithm>
#include <map>

#include "markup.hpp"

namespace stimrank {

namespace {

class Table {
 public:
  Table(TableFormat format, std::vector<std::string> header)
      : format_(format), header_(std::move(header)) {}
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

  std::string render() const {
    std::string out;
    if (format_ == TableFormat::markdown) {
      out += line(header_);
      out += "|";
      for (std::size_t i = 0; i < header_.size(); ++i) out += "---|";
      out += "\n";
      for (const auto& r : rows_) out += line(r);
      return out;
    }
    out += "<table>\n<thead><tr>";
    for (const auto& h : header_) out += "<th>" + html(h) + "</th>";
    out += "</tr></thead>\n<tbody>\n";
    for (const auto& r : rows_) {
      out += "<tr>";
      for (const auto& c : r) out += "<td>" + html(c) + "</td>";
      out += "</tr>\n";
    }
    return out + "</tbody>\n</table>\n";
  }

 private:
  static std::string markdown(const std::string& text) {
    std::string out;
    for (char c : text) {
      if (c == '|')
        out += "\\|";
      else if (c == '\n')
        out += "<br>";
      else
        out += c;
    }
    return out;
  }
  static std::string html(const std::string& text) { return engine::escape_markup(text, true); }
  static std::string line(const std::vector<std::string>& cells) {
    std::string out = "|";
    for (const auto& c : cells) out += " " + markdown(c) + " |";
    return out + "\n";
  }

  TableFormat format_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string source_cell(const RuleInfo& rule) {
  std::string out = rule.source;
  if (!rule.doi.empty())
    out += " (doi:" + rule.doi + ")";
  else if (!rule.url.empty())
    out += " (" + rule.url + ")";
  return out;
}

std::string tags_cell(const std::vector<std::string>& tags, bool unverified) {
  std::string out = join(tags, ", ");
  if (unverified) out += out.empty() ? "unverified" : "; unverified";
  return out;
}

}  // namespace

std::string render_evidence_tables(const RuleSetInfo& info, TableFormat format) {
  auto heading = [&](const std::string& text, int level) {
    if (format == TableFormat::markdown)
      return std::string(static_cast<std::size_t>(level), '#') + " " + text + "\n\n";
    std::string h = "h" + std::to_string(level);
    return "<" + h + ">" + text + "</" + h + ">\n";
  };
  auto paragraph = [&](const std::string& text) {
    return format == TableFormat::markdown ? text + "\n\n" : "<p>" + text + "</p>\n";
  };
  std::map<std::string, const OptionInfo*> options;
  for (const auto& o : info.options) options[o.id] = &o;

  std::string out;
  if (format == TableFormat::html)
    out += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + info.name +
           "</title><style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px;"
           "vertical-align:top}</style></head><body>\n";
  out += heading(info.name + " " + info.version, 1);
  out += paragraph("Rendered from the rules; digest " + info.digest +
                   ". Verification tags: S confirmed, SEED seed only, R recalled, 2nd secondary, "
                   "CONFLICT sources disagree, EXTRAP extrapolated from another device.");

  out += heading("Ranking policy", 2);
  std::string policy = "Ranked options are ordered by " + info.policy.rank + ".";
  if (!info.policy.because.empty()) policy += " " + info.policy.because;
  if (!info.policy.source.empty())
    policy += " (source: " + info.policy.source +
              (info.policy.doi.empty() ? "" : ", doi:" + info.policy.doi) + ")";
  out += paragraph(policy);

  out += heading("Recommendations: options × conditions × grade × source", 2);
  Table recommendations(format,
                        {"option", "condition", "grade", "weight", "statement", "source", "tags"});
  for (const auto& o : info.options)
    for (const auto& r : info.rules)
      if (r.kind == "indication" &&
          std::find(r.options.begin(), r.options.end(), o.id) != r.options.end())
        recommendations.row({o.id, r.label.empty() ? r.condition : r.label,
                             r.grade.empty() ? "(no grade; explicit weight)" : r.grade,
                             std::to_string(static_cast<long long>(r.weight)), r.because,
                             source_cell(r), tags_cell(r.tags, r.unverified)});
  out += recommendations.render() + "\n";

  out += heading("Contraindications, prerequisites, cautions and restrictions", 2);
  Table restrictions(format, {"option(s)", "kind", "when", "statement", "source", "tags"});
  for (const auto& r : info.rules)
    if (r.kind != "indication")
      restrictions.row(
          {join(r.options, ", "),
           r.kind + (r.kind == "relative_contraindication"
                         ? " (penalty " + std::to_string(static_cast<long long>(r.weight)) + ")"
                         : ""),
           r.condition, r.because, source_cell(r), tags_cell(r.tags, r.unverified)});
  out += restrictions.render() + "\n";

  out += heading("Options", 2);
  Table catalogue(format,
                  {"option", "title", "family", "invasiveness", "protocol", "complications"});
  for (const auto& o : info.options) {
    std::vector<std::string> complications;
    for (const auto& c : o.complications)
      complications.push_back(c.text + (c.rate.empty() ? "" : " (" + c.rate + ")") +
                              (c.source.empty() ? "" : " [" + c.source + "]"));
    catalogue.row({o.id, o.title, o.family, o.invasiveness, o.protocol, join(complications, "; ")});
  }
  out += catalogue.render() + "\n";

  // Options that carry details (e.g. the SNRS approaches of seed 003, Table 1) get a
  // table per family with one column per detail, as a reviewer would lay them out.
  std::map<std::string, std::vector<const OptionInfo*>> detailed;
  for (const auto& o : info.options)
    if (!o.details.empty()) detailed[o.family].push_back(&o);
  for (const auto& [family, members] : detailed) {
    out += heading("Approaches: " + family, 2);
    std::vector<std::string> keys;
    for (const auto* o : members)
      for (const auto& [key, value] : o->details)
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    std::vector<std::string> header = {"approach", "procedure"};
    header.insert(header.end(), keys.begin(), keys.end());
    header.insert(header.end(),
                  {"indications (rules)", "contraindications (rules)", "complications"});
    Table approaches(format, header);
    for (const auto* o : members) {
      std::vector<std::string> row = {o->title, o->protocol};
      for (const auto& key : keys) {
        std::string value;
        for (const auto& [k, v] : o->details)
          if (k == key) value = v;
        row.push_back(value);
      }
      std::vector<std::string> indications, contraindications, complications;
      for (const auto& r : info.rules) {
        // Only the approach's own rules, not those shared with other options.
        if (r.options.size() != 1 || r.options[0] != o->id) continue;
        if (r.kind == "indication") indications.push_back(r.label.empty() ? r.because : r.label);
        if (r.kind == "absolute_contraindication" || r.kind == "not_indicated")
          contraindications.push_back(r.label.empty() ? r.because : r.label);
      }
      for (const auto& c : o->complications) complications.push_back(c.text);
      row.push_back(join(indications, "; "));
      row.push_back(join(contraindications, "; "));
      row.push_back(join(complications, "; "));
      approaches.row(row);
    }
    out += approaches.render() + "\n";
  }
  out += heading("Concepts and value sets", 2);
  out += paragraph(
      "A concept's id is also a local id a profile may use. ICD-10 (CM) and ATC codes are "
      "shown normalised (no dots, upper case) and match hierarchically.");
  Table concepts(format, {"id", "title", "kind", "codes", "includes"});
  for (const auto& c : info.concepts)
    concepts.row({c.id, c.title, c.valueset ? "value set" : "concept", join(c.codes, ", "),
                  join(c.includes, ", ")});
  out += concepts.render() + "\n";

  out += heading("Sources", 2);
  Table sources(format, {"id", "citation", "doi / url", "tags"});
  for (const auto& s : info.sources)
    sources.row({s.id, s.citation, s.doi.empty() ? s.url : "doi:" + s.doi, join(s.tags, ", ")});
  out += sources.render() + "\n";
  if (format == TableFormat::html) out += "</body></html>\n";
  return out;
}

}  // namespace stimrank
