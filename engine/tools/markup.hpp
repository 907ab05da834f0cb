// Escaping for the HTML and XML the engine writes (evidence tables, JUnit).
#pragma once

#include <string>

namespace stimrank::engine {

inline std::string escape_markup(const std::string& text, bool newline_as_br = false) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\n': out += newline_as_br ? "<br>" : "\n"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace stimrank::engine
