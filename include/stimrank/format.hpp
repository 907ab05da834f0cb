// Canonical formatting of rule files (`stimrank fmt`): idempotent, keeps comments.
#pragma once

#include <string>
#include <vector>

#include "stimrank/diagnostic.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank {

struct FormatResult {
  bool ok = false;
  std::string text;  // the formatted file, when ok
  std::vector<Diagnostic>
      diagnostics;  // syntax errors: a file that does not parse is not formatted
};

[[nodiscard]] FormatResult format_rules(const std::string& name, const std::string& text) noexcept;

}  // namespace stimrank
