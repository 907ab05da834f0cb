// Every diagnostic code the rule language's tools report: the one table that
// docs/language.md lists (a test keeps the two equal) and that the tools check
// their codes against.
#pragma once

#include <span>
#include <string_view>

#include "stimrank/diagnostic.hpp"

namespace stimrank::rules {

struct DiagnosticCode {
  std::string_view code;     // "E101"
  Severity severity;         // errors are E…, warnings W…
  std::string_view meaning;  // one line, as docs/language.md gives it
};

std::span<const DiagnosticCode> diagnostic_codes();
// The table's entry for `code`, or null for a code that is not in it.
const DiagnosticCode* find_diagnostic_code(std::string_view code);

}  // namespace stimrank::rules
