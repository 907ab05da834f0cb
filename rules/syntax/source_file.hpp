// One rule file's text, its parsed tree, and offset → line:column mapping.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ast.hpp"
#include "stimrank/diagnostic.hpp"

namespace stimrank::rules {

class SourceFile {
 public:
  SourceFile(std::string name, std::string text);

  const std::string& name() const noexcept { return name_; }
  const std::string& text() const noexcept { return text_; }
  SourceLocation locate(std::uint32_t begin, std::uint32_t end) const;
  std::string line_text(int line) const;
  std::string slice(std::uint32_t begin, std::uint32_t end) const;
  std::string_view view(std::uint32_t begin, std::uint32_t end) const;
  Diagnostic make(Severity severity, std::string code, std::uint32_t begin, std::uint32_t end,
                  std::string message, std::string hint = {}) const;

  ast::Node root;  // filled by parse_file

 private:
  std::string name_;
  std::string text_;
  std::vector<std::uint32_t> line_starts_;
};

// Parses the whole file, recovering at statement boundaries so that every syntax
// error is reported. Never throws.
void parse_file(SourceFile& file, int max_depth, std::vector<Diagnostic>& diagnostics);

// Every keyword of the language (declarations, option members, rule attributes,
// expressions): for completion in editors.
const std::vector<std::string>& language_keywords();

}  // namespace stimrank::rules
