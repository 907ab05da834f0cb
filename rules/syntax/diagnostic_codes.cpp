#include "diagnostic_codes.hpp"

#include <algorithm>
#include <array>

namespace stimrank::rules {

namespace {

constexpr auto E = Severity::error;
constexpr auto W = Severity::warning;

// In code order (find_diagnostic_code searches it by halves).
constexpr std::array kCodes{
    DiagnosticCode{"E000", E, "internal error (a defect in stimrank; please report it)"},
    DiagnosticCode{"E001", E, "a declaration / option member was expected"},
    DiagnosticCode{"E002", E, "a declaration / option member was expected"},
    DiagnosticCode{"E003", E, "the file is not UTF-8 (the first such byte of each line)"},
    DiagnosticCode{"E004", E,
                   "a control character in a string (as it is, not the escapes `\\n`, `\\t`)"},
    DiagnosticCode{"E010", E, "something else was expected (the message says what)"},
    DiagnosticCode{"E012", E, "missing `;`"},
    DiagnosticCode{"E013", E, "missing `when`"},
    DiagnosticCode{"E015", E, "unterminated string"},
    DiagnosticCode{"E017", E, "missing `}`"},
    DiagnosticCode{"E020", E,
                   "expression nested too deeply (limit `max_expression_depth`, 64, with each let "
                   "written out where it is used)"},
    DiagnosticCode{"E021", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E022", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E023", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E030", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E032", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E033", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E034", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E035", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E036", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E037", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E038", E, "other missing tokens (`)`, `(`, `where`, `version`, `{`, `:`, …)"},
    DiagnosticCode{"E100", E, "undefined name (with \"did you mean\")"},
    DiagnosticCode{"E101", E, "duplicate id"},
    DiagnosticCode{"E102", E, "type mismatch"},
    DiagnosticCode{"E103", E, "rule without a source"},
    DiagnosticCode{"E104", E, "value not in its domain"},
    DiagnosticCode{"E105", E, "include or rule file not found"},
    DiagnosticCode{"E106", E, "required part missing (rule text, grade or weight, invasiveness)"},
    DiagnosticCode{"E107", E, "attribute given twice"},
    DiagnosticCode{"E108", E, "unknown verification tag"},
    DiagnosticCode{"E109", E, "construct in the wrong place"},
    DiagnosticCode{"E110", E, "no `ruleset` header / no `facts`"},
    DiagnosticCode{"E111", E, "no `ruleset` header / no `facts`"},
    DiagnosticCode{"E112", E, "cycle (include, let, concept includes)"},
    DiagnosticCode{"E113", E,
                   "a limit exceeded (file size, file count, rule count, the parts lets add "
                   "written out, the members value sets hold through includes)"},
    DiagnosticCode{"E114", E, "invalid field declaration"},
    DiagnosticCode{"E115", E, "attribute not allowed for this kind"},
    DiagnosticCode{"E116", E,
                   "a rule set loaded from a registry (`db:FILE#name@version`) is not what was "
                   "published: its files no longer hash to the published digest"},
    DiagnosticCode{"W201", W, "source never cited / source without doi or url"},
    DiagnosticCode{"W203", W, "source never cited / source without doi or url"},
};

}  // namespace

std::span<const DiagnosticCode> diagnostic_codes() {
  return kCodes;
}

const DiagnosticCode* find_diagnostic_code(std::string_view code) {
  auto it = std::lower_bound(
      kCodes.begin(), kCodes.end(), code,
      [](const DiagnosticCode& entry, std::string_view key) { return entry.code < key; });
  return it != kCodes.end() && it->code == code ? &*it : nullptr;
}

}  // namespace stimrank::rules
