// Diagnostics are data: severity, stable code, location, message, optional hint.
#pragma once

#include <string>
#include <vector>

namespace stimrank {

enum class Severity { error, warning, note };

struct SourceLocation {
  std::string file;  // path as given to the loader
  int line = 0;      // 1-based; 0 when the diagnostic has no location
  int column = 0;    // 1-based, in bytes
  int end_line = 0;
  int end_column = 0;
};

struct Diagnostic {
  Severity severity = Severity::error;
  std::string code;  // stable, e.g. "E012"
  SourceLocation location;
  std::string message;      // lower case, no final period, user text in backticks
  std::string hint;         // optional, e.g. "did you mean `rtms_m1_hf`?"
  std::string source_line;  // the text of the line, for the caret display

  // `file:line:col: error[E012]: message` plus the line, a caret and the hint.
  [[nodiscard]] std::string format() const;
};

[[nodiscard]] const char* to_string(Severity severity) noexcept;
[[nodiscard]] bool has_errors(const std::vector<Diagnostic>& diagnostics) noexcept;
[[nodiscard]] std::string format_all(const std::vector<Diagnostic>& diagnostics);

}  // namespace stimrank
