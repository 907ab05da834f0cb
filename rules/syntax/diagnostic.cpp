#include "stimrank/diagnostic.hpp"

#include <algorithm>
#include <string>

namespace stimrank {

const char* to_string(Severity severity) noexcept {
  switch (severity) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::note: return "note";
  }
  return "error";
}

std::string Diagnostic::format() const {
  std::string out;
  if (!location.file.empty()) {
    out += location.file;
    if (location.line > 0)
      out += ":" + std::to_string(location.line) + ":" + std::to_string(location.column);
    out += ": ";
  }
  out += std::string(to_string(severity)) + "[" + code + "]: " + message + "\n";
  if (location.line > 0 && !source_line.empty()) {
    std::string number = std::to_string(location.line);
    std::string gutter(number.size(), ' ');
    // A very long line (a minified or binary file) is shown as a window around the
    // column, cut at character boundaries, with `…` where text was left out.
    constexpr std::size_t kShown = 160;
    std::string line = source_line;
    int column = location.column;
    if (line.size() > kShown) {
      auto boundary = [&line](std::size_t at) {
        while (at > 0 && at < line.size() && (static_cast<unsigned char>(line[at]) & 0xC0) == 0x80)
          --at;
        return at;
      };
      const std::size_t at = static_cast<std::size_t>(std::max(0, column - 1));
      const std::size_t from = boundary(at > kShown / 2 ? at - kShown / 2 : 0);
      const std::size_t to = boundary(std::min(line.size(), from + kShown));
      std::string window =
          (from > 0 ? "…" : "") + line.substr(from, to - from) + (to < line.size() ? "…" : "");
      // The caret counts bytes of the window: `…` is three of them.
      column = column - static_cast<int>(from) + (from > 0 ? 3 : 0);
      line = std::move(window);
    }
    out += " " + number + " | " + line + "\n";
    out += " " + gutter + " | ";
    // Keep tabs so that the caret lines up under the column; columns count bytes,
    // the caret line one space per character (not per byte of one).
    for (int i = 0; i + 1 < column && i < static_cast<int>(line.size()); ++i) {
      const char c = line[static_cast<std::size_t>(i)];
      if ((static_cast<unsigned char>(c) & 0xC0) == 0x80) continue;  // inside a character
      out += c == '\t' ? '\t' : ' ';
    }
    int width = 1;
    if (location.end_line == location.line && location.end_column > location.column)
      width = std::min(location.end_column - location.column, 60);
    out += std::string(static_cast<std::size_t>(width), '^') + "\n";
  }
  if (!hint.empty()) out += " = help: " + hint + "\n";
  return out;
}

bool has_errors(const std::vector<Diagnostic>& diagnostics) noexcept {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::error; });
}

std::string format_all(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics) out += d.format();
  return out;
}

}  // namespace stimrank
