// Vignette tests: read a test file, evaluate each case, compare with expectations.
#include "stimrank/testing.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "bounded_read.hpp"
#include "compiled.hpp"
#include "explanation.hpp"
#include "markup.hpp"
#include "profile.hpp"
#include "utf8.hpp"

namespace stimrank {

// Ordered: a test file's problems are reported in the order of the file.
using json = nlohmann::ordered_json;

namespace {

const std::set<std::string> kNeverRanked = {"snrs_transspinal", "tus"};

// `base` merged with `overlay`: objects merge key by key, anything else replaces.
json merged(const json& base, const json& overlay) {
  if (!base.is_object() || !overlay.is_object()) return overlay;
  json out = base;
  for (auto it = overlay.begin(); it != overlay.end(); ++it)
    out[it.key()] = out.contains(it.key()) ? merged(out[it.key()], it.value()) : it.value();
  return out;
}

std::string rank_text(const OptionResult& o) {
  return o.rank ? std::to_string(*o.rank) : std::string("none");
}

class CaseChecker {
 public:
  CaseChecker(const Result& result, TestCaseResult& out) : result_(result), out_(out) {}

  void invariants() {
    std::set<std::string> seen;
    int expected_rank = 1;
    for (const OptionResult& o : result_.options) {
      if (!seen.insert(o.option).second) problem("option " + o.option + " is listed twice");
      if (o.rank) {
        if (*o.rank != expected_rank) problem("ranks are not 1..n at " + o.option);
        ++expected_rank;
      }
      if (o.status == Status::excluded && o.rank) problem(o.option + " is excluded but ranked");
      if (kNeverRanked.count(o.option) && o.rank) problem(o.option + " must never be ranked");
      for (const Reason& r : o.reasons)
        if (r.rule.empty() || r.source.empty())
          problem(o.option + ": a reason without a rule or a source");
    }
  }

  void expectations(const json& expect) {
    for_each_option(expect, "status", [&](const OptionResult& o, const json& want) {
      if (to_string(o.status) != want.get<std::string>())
        problem(o.option + ": expected status " + want.get<std::string>() + ", got " +
                to_string(o.status) + " (" + o.summary + ")");
    });
    for_each_option(expect, "rank", [&](const OptionResult& o, const json& want) {
      if (!o.rank || *o.rank != want.get<int>())
        problem(o.option + ": expected rank " + std::to_string(want.get<int>()) + ", got " +
                rank_text(o));
    });
    for_each_listed(expect, "top3", [&](const OptionResult& o) {
      if (!o.rank || *o.rank > 3)
        problem(o.option + ": expected in the top 3, got rank " + rank_text(o) + " (" +
                to_string(o.status) + ")");
    });
    for_each_listed(expect, "ranked", [&](const OptionResult& o) {
      if (!o.rank)
        problem(o.option + ": expected ranked, got " + to_string(o.status) + " (" + o.summary +
                ")");
    });
    for_each_listed(expect, "excluded", [&](const OptionResult& o) {
      if (o.status != Status::excluded)
        problem(o.option + ": expected excluded, got " + to_string(o.status));
    });
    if (expect.contains("ranked_count")) {
      int ranked = 0;
      for (const OptionResult& o : result_.options) ranked += o.rank ? 1 : 0;
      if (ranked != expect["ranked_count"].get<int>())
        problem("expected " + std::to_string(expect["ranked_count"].get<int>()) +
                " ranked options, got " + std::to_string(ranked));
    }
    for_each_option(expect, "reason_rules", [&](const OptionResult& o, const json& want) {
      for (const auto& rule : want) {
        bool found = false;
        for (const Reason& r : o.reasons) found = found || r.rule == rule.get<std::string>();
        if (!found)
          problem(o.option + ": expected reason " + rule.get<std::string>() + ", got " +
                  reason_list(o));
      }
    });
    for (bool wanted : {true, false})
      for_each_option(expect, wanted ? "missing_includes" : "missing_excludes",
                      [&](const OptionResult& o, const json& paths) {
                        for (const auto& path : paths) {
                          const std::string text = path.get<std::string>();
                          bool listed = std::find(o.missing.begin(), o.missing.end(), text) !=
                                        o.missing.end();
                          if (listed != wanted)
                            problem(o.option + ": expected " + text +
                                    (wanted ? " in missing" : " not in missing") + ", got [" +
                                    join(o.missing) + "]");
                        }
                      });
    if (expect.contains("warning_contains")) {
      std::string text = expect["warning_contains"].get<std::string>();
      bool found = false;
      for (const std::string& w : result_.warnings)
        found = found || w.find(text) != std::string::npos;
      if (!found)
        problem("expected a warning containing `" + text + "`, got [" + join(result_.warnings) +
                "]");
    }
  }

 private:
  static std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out;
  }
  static std::string reason_list(const OptionResult& o) {
    std::vector<std::string> rules;
    for (const Reason& r : o.reasons) rules.push_back(r.rule);
    return "[" + join(rules) + "]";
  }
  const OptionResult* find(const std::string& id) {
    for (const OptionResult& o : result_.options)
      if (o.option == id) return &o;
    problem("unknown option `" + id + "`");
    return nullptr;
  }
  template <typename F>
  void for_each_option(const json& expect, const char* key, F check) {
    if (!expect.contains(key)) return;
    for (auto it = expect[key].begin(); it != expect[key].end(); ++it)
      if (const OptionResult* o = find(it.key())) {
        named_.insert(o->option);
        check(*o, it.value());
      }
  }
  template <typename F>
  void for_each_listed(const json& expect, const char* key, F check) {
    if (!expect.contains(key)) return;
    for (const auto& id : expect[key])
      if (const OptionResult* o = find(id.get<std::string>())) {
        named_.insert(o->option);
        check(*o);
      }
  }
  void problem(std::string text) { out_.problems.push_back(std::move(text)); }

 public:
  std::set<std::string> named_;

 private:
  const Result& result_;
  TestCaseResult& out_;
};

// A JSON Pointer step: `~` and `/` in a key escaped (RFC 6901).
std::string pointer_step(const std::string& key) {
  std::string out = "/";
  for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

// A value as the profile loader's messages quote it.
std::string quoted(const json& value) {
  return engine::show_value(nlohmann::json(value));
}

// Checks a test file's shape before any case runs, reporting every problem at its
// JSON path: a misspelt expectation or a status that does not exist is an error,
// never a case that passes because it checks nothing.
class TestFileShape {
 public:
  explicit TestFileShape(std::vector<std::string>& errors) : errors_(errors) {}

  // The cases to run, or null when the document's shape is wrong.
  const json* check(const json& document) {
    const json* cases = &document;
    std::string prefix;
    if (document.is_object()) {
      for (auto it = document.begin(); it != document.end(); ++it)
        if (it.key() != "base" && it.key() != "cases" && it.key() != "about")
          error(pointer_step(it.key()), "unknown key `" + it.key() +
                                            "` (a table of cases has `about`, `base` and `cases`)");
      if (document.contains("base") && !document["base"].is_object())
        error("/base", "expected a profile (an object), got " + quoted(document["base"]));
      if (!document.contains("cases")) {
        error("", "a table of cases needs `cases`, a list of cases");
        return nullptr;
      }
      cases = &document["cases"];
      prefix = "/cases";
    }
    if (!cases->is_array()) {
      error(prefix, (prefix.empty() ? "expected a list of cases or {\"base\": …, \"cases\": […]}"
                                    : "expected a list of cases") +
                        std::string(", got ") + quoted(*cases));
      return nullptr;
    }
    std::map<std::string, std::string> named;  // name → the case that has it first
    for (std::size_t i = 0; i < cases->size(); ++i) {
      const std::string at = prefix + "/" + std::to_string(i);
      const json& c = (*cases)[i];
      check_case(c, at);
      // Results are reported by name: two cases of one name could not be told apart.
      if (c.is_object() && c.contains("name") && c["name"].is_string()) {
        auto [first, added] = named.emplace(c["name"].get<std::string>(), at);
        if (!added)
          error(at + "/name", "the case name `" + first->first + "` is also the name of " +
                                  first->second + "; each case needs its own");
      }
    }
    return errors_.empty() ? cases : nullptr;
  }

 private:
  void check_case(const json& c, const std::string& at) {
    if (!c.is_object()) {
      error(at,
            "expected a case (an object with `name`, `profile` and `expect`), got " + quoted(c));
      return;
    }
    for (auto it = c.begin(); it != c.end(); ++it) {
      const std::string& key = it.key();
      const std::string here = at + pointer_step(key);
      if (key == "name" || key == "why") {
        if (!it->is_string()) error(here, "expected a string, got " + quoted(*it));
      } else if (key == "profile") {
        if (!it->is_object()) error(here, "expected a profile (an object), got " + quoted(*it));
      } else if (key == "expect") {
        check_expect(*it, here);
      } else {
        error(here, "unknown key `" + key + "` (a case has `name`, `why`, `profile` and `expect`)");
      }
    }
    // A case that expects nothing passes whatever the rule set does.
    if (!c.contains("expect"))
      error(at, "a case needs `expect`: without an expectation it checks nothing");
    else if (c["expect"].is_object() && c["expect"].empty())
      error(at + "/expect", "no expectation: a case that expects nothing checks nothing");
  }

  void check_expect(const json& expect, const std::string& at) {
    if (!expect.is_object()) {
      error(at, "expected an object of expectations, got " + quoted(expect));
      return;
    }
    for (auto it = expect.begin(); it != expect.end(); ++it) {
      const std::string& key = it.key();
      const std::string here = at + pointer_step(key);
      if (key == "status") {
        by_option(*it, here, [&](const json& v, const std::string& where) {
          static const std::set<std::string> statuses = {"recommended", "consider", "research_only",
                                                         "not_indicated", "excluded"};
          if (!v.is_string() || !statuses.count(v.get<std::string>()))
            error(where,
                  "expected a status (recommended, consider, research_only, not_indicated or "
                  "excluded), got " +
                      quoted(v));
        });
      } else if (key == "rank") {
        by_option(*it, here, [&](const json& v, const std::string& where) {
          if (!v.is_number_integer() || v.get<long long>() < 1)
            error(where, "expected a rank (a whole number from 1), got " + quoted(v));
        });
      } else if (key == "top3" || key == "ranked" || key == "excluded") {
        strings(*it, here, "option ids");
        option_list(*it, here, key == "top3" ? 3 : 0);
      } else if (key == "ranked_count") {
        if (!it->is_number_integer() || it->get<long long>() < 0)
          error(here, "expected a count (a whole number from 0), got " + quoted(*it));
      } else if (key == "reason_rules" || key == "missing_includes" || key == "missing_excludes") {
        by_option(*it, here, [&](const json& v, const std::string& where) {
          strings(v, where, key == "reason_rules" ? "rule ids" : "JSON paths");
        });
      } else if (key == "warning_contains") {
        if (!it->is_string()) error(here, "expected a string, got " + quoted(*it));
      } else {
        error(here, "unknown expectation `" + key +
                        "` (status, rank, top3, ranked, excluded, ranked_count, reason_rules, "
                        "missing_includes, missing_excludes or warning_contains)");
      }
    }
  }

  template <typename F>
  void by_option(const json& value, const std::string& at, F check_value) {
    if (!value.is_object()) {
      error(at, "expected an object of option ids, got " + quoted(value));
      return;
    }
    for (auto it = value.begin(); it != value.end(); ++it)
      check_value(*it, at + pointer_step(it.key()));
  }

  void strings(const json& value, const std::string& at, const char* what) {
    bool ok = value.is_array();
    if (ok)
      for (const json& item : value) ok = ok && item.is_string();
    if (!ok)
      error(at, std::string("expected a list of ") + what + " (strings), got " + quoted(value));
  }

  // A list of option ids names each once, and `top3` at most three.
  void option_list(const json& value, const std::string& at, std::size_t at_most) {
    if (!value.is_array()) return;
    if (at_most && value.size() > at_most)
      error(at, "lists " + std::to_string(value.size()) + " options; `top3` holds at most " +
                    std::to_string(at_most));
    std::set<std::string> seen;
    for (std::size_t i = 0; i < value.size(); ++i)
      if (value[i].is_string() && !seen.insert(value[i].get<std::string>()).second)
        error(at + "/" + std::to_string(i),
              "`" + value[i].get<std::string>() + "` is listed twice");
  }

  void error(const std::string& at, const std::string& message) {
    errors_.push_back((at.empty() ? "" : at + ": ") + utf8::printable(message));
  }

  std::vector<std::string>& errors_;
};

}  // namespace

TestReport run_test_file(const RuleSet& rules, const std::string& path,
                         const Limits& limits) noexcept {
  TestReport report;
  try {
    std::error_code error;
    if (std::filesystem::is_directory(path, error)) {
      report.errors.push_back(path + ": a folder, not a test file");
      return report;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      report.errors.push_back(path + ": cannot read the test file");
      return report;
    }
    // Read up to one byte over the limit, never the whole of `/dev/zero`.
    const std::size_t limit = limits.max_test_file_bytes;
    std::string text;
    if (!read_bounded(in, text, limit)) {
      report.errors.push_back(path + ": cannot read the test file to its end");
      return report;
    }
    if (text.size() > limit) {
      report.errors.push_back(path + ": the test file is larger than the limit of " +
                              std::to_string(limit) + " bytes");
      return report;
    }
    return run_test_text(rules, path, text);
  } catch (std::exception const& e) {
    report.errors.push_back(path + ": " + e.what());
  }
  return report;
}

TestReport run_test_text(const RuleSet& rules, const std::string& path,
                         std::string_view text) noexcept {
  TestReport report;
  try {
    json document = json::parse(text.begin(), text.end(), nullptr, false);
    if (document.is_discarded()) {
      report.errors.push_back(path + ": " + engine::json_error(text));
      return report;
    }
    // A list of cases, or {"base": profile, "cases": [...]} where each case's
    // profile is merged onto the base (table-driven tests).
    std::vector<std::string> shape_errors;
    const json* checked = TestFileShape(shape_errors).check(document);
    for (const std::string& e : shape_errors) report.errors.push_back(path + ": " + e);
    if (!checked) return report;
    const json& cases = *checked;
    const json base =
        document.is_object() ? document.value("base", json::object()) : json::object();
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const json& c = cases[i];
      TestCaseResult out;
      out.file = path;
      out.name = c.value("name", "case " + std::to_string(i + 1));
      out.why = c.value("why", "");
      json profile = merged(base, c.value("profile", json::object()));
      if (!profile.contains("id")) profile["id"] = out.name;
      Evaluation evaluation = rules.evaluate_json(profile.dump());
      if (!evaluation.ok()) {
        for (const auto& e : evaluation.errors)
          out.problems.push_back("profile rejected: " + e.format());
      } else {
        const Result& result = *evaluation.result;
        CaseChecker checker(result, out);
        checker.invariants();
        if (c.contains("expect")) checker.expectations(c["expect"]);
        for (const OptionResult& o : result.options) {
          for (const Reason& r : o.reasons)
            if (r.kind != "missing_data" &&
                !(r.kind == "prerequisite" && r.met != std::optional<bool>(true)))
              out.all_fired.push_back(r.rule);
          if (o.rank && *o.rank <= 5)
            out.ranking += (out.ranking.empty() ? "" : ", ") + std::to_string(*o.rank) + ". " +
                           o.option + " (" + to_string(o.status) + ")";
          if (!checker.named_.count(o.option)) continue;
          for (const Reason& r : o.reasons)
            if (r.kind != "missing_data")
              out.fired_rules.push_back(o.option + ": " + r.rule + " (" + r.kind + ")");
        }
      }
      out.passed = out.problems.empty();
      (out.passed ? report.passed : report.failed) += 1;
      report.cases.push_back(std::move(out));
    }
  } catch (std::exception const& e) {
    report.errors.push_back(path + ": " + e.what());
  }
  return report;
}

std::string junit_xml(const TestReport& report) {
  // XML 1.0 has no place for C0 control characters other than tab and line ends, nor
  // for bytes that are not UTF-8: shown as `?`, so that a CI server can read the file.
  auto escape = [](const std::string& text) {
    std::string safe;
    const char* end = text.data() + text.size();
    for (const char* p = text.data(); p < end;) {
      const std::size_t size = utf8::length(p, end);
      const auto byte = static_cast<unsigned char>(*p);
      if (size == 0 || (size == 1 && byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r')) {
        safe += '?';
        ++p;
      } else {
        safe.append(p, size);
        p += size;
      }
    }
    return engine::escape_markup(safe);
  };
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"stimrank\" tests=\"" +
      std::to_string(report.passed + report.failed + static_cast<int>(report.errors.size())) +
      "\" failures=\"" + std::to_string(report.failed) + "\" errors=\"" +
      std::to_string(report.errors.size()) + "\">\n";
  for (const TestCaseResult& c : report.cases) {
    out += "  <testcase classname=\"" + escape(c.file) + "\" name=\"" + escape(c.name) + "\"";
    if (c.passed) {
      out += "/>\n";
      continue;
    }
    std::string details;
    for (const auto& p : c.problems) details += p + "\n";
    details += "ranking: " + c.ranking + "\n";
    out += ">\n    <failure message=\"" + escape(c.problems.front()) + "\">" + escape(details) +
           "</failure>\n  </testcase>\n";
  }
  for (const std::string& e : report.errors)
    out += "  <testcase classname=\"stimrank\" name=\"" + escape(e) + "\">\n    <error message=\"" +
           escape(e) + "\"/>\n  </testcase>\n";
  return out + "</testsuite>\n";
}

CoverageReport rule_coverage(const RuleSet& rules, const TestReport& report) {
  CoverageReport out;
  std::map<std::string, int> fired;
  for (const TestCaseResult& c : report.cases) {
    std::set<std::string> once(c.all_fired.begin(), c.all_fired.end());
    for (const std::string& r : once) ++fired[r];
  }
  out.cases = static_cast<int>(report.cases.size());
  for (const RuleInfo& r : rules.describe().rules) {
    RuleCoverage rc;
    rc.rule = r.id;
    rc.kind = r.kind;
    for (const auto& o : r.options) rc.options += (rc.options.empty() ? "" : ", ") + o;
    rc.location = r.location;
    rc.fired = fired.count(r.id) ? fired[r.id] : 0;
    bool covered = rc.fired > 0;
    out.covered += covered ? 1 : 0;
    if (r.kind == "indication") {
      ++out.indications;
      out.indications_covered += covered ? 1 : 0;
    }
    if (r.kind == "absolute_contraindication" || r.kind == "relative_contraindication") {
      ++out.contraindications;
      out.contraindications_covered += covered ? 1 : 0;
    }
    out.rules.push_back(std::move(rc));
  }
  out.percent =
      out.rules.empty() ? 100.0 : 100.0 * out.covered / static_cast<double>(out.rules.size());
  return out;
}

namespace {
std::string percent_text(int part, int whole) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f%%", whole ? 100.0 * part / whole : 100.0);
  return buffer;
}
}  // namespace

std::string coverage_markdown(const CoverageReport& c) {
  std::string out = "# Rule coverage\n\n";
  out += std::to_string(c.covered) + " of " + std::to_string(c.rules.size()) + " rules fired in " +
         std::to_string(c.cases) + " test cases (" +
         percent_text(c.covered, static_cast<int>(c.rules.size())) + "); indications " +
         percent_text(c.indications_covered, c.indications) + ", contraindications " +
         percent_text(c.contraindications_covered, c.contraindications) + ".\n\n";
  // Per option: how many of its rules fired at least once.
  std::map<std::string, std::pair<int, int>> per_option;  // option → (covered, total)
  std::vector<std::string> order;
  for (const RuleCoverage& r : c.rules) {
    std::size_t start = 0;
    while (start <= r.options.size()) {
      std::size_t comma = r.options.find(", ", start);
      std::string option =
          r.options.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!option.empty()) {
        if (!per_option.count(option)) order.push_back(option);
        auto& [covered, total] = per_option[option];
        ++total;
        covered += r.fired > 0 ? 1 : 0;
      }
      if (comma == std::string::npos) break;
      start = comma + 2;
    }
  }
  out += "| option | rules fired | coverage |\n|---|--:|--:|\n";
  for (const std::string& option : order) {
    auto [covered, total] = per_option[option];
    out += "| " + option + " | " + std::to_string(covered) + " of " + std::to_string(total) +
           " | " + percent_text(covered, total) + " |\n";
  }
  out += "\n| rule | kind | options | fired in | location |\n|---|---|---|--:|---|\n";
  for (const RuleCoverage& r : c.rules)
    out += "| " + r.rule + " | " + r.kind + " | " + r.options + " | " +
           (r.fired ? std::to_string(r.fired) : std::string("**never** (evaluated only)")) + " | " +
           r.location + " |\n";
  return out;
}

std::string coverage_lcov(const CoverageReport& c) {
  // One LCOV "line" per rule, at the rule's line; hits = test cases in which it fired.
  std::map<std::string, std::vector<std::pair<int, int>>> by_file;
  for (const RuleCoverage& r : c.rules) {
    auto last = r.location.rfind(':');
    auto mid = r.location.rfind(':', last - 1);
    if (last == std::string::npos || mid == std::string::npos) continue;
    by_file[r.location.substr(0, mid)].emplace_back(
        std::stoi(r.location.substr(mid + 1, last - mid - 1)), r.fired);
  }
  std::string out = "TN:stimrank\n";
  for (auto& [file, lines] : by_file) {
    std::sort(lines.begin(), lines.end());
    out += "SF:" + file + "\n";
    int hit = 0;
    for (const auto& [line, count] : lines) {
      out += "DA:" + std::to_string(line) + "," + std::to_string(count) + "\n";
      hit += count > 0 ? 1 : 0;
    }
    out +=
        "LF:" + std::to_string(lines.size()) + "\nLH:" + std::to_string(hit) + "\nend_of_record\n";
  }
  return out;
}

}  // namespace stimrank
