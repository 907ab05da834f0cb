// Where every id of a rule set is declared and used, from the parsed files: what go
// to definition, find references, hover and completion read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "source_file.hpp"

namespace stimrank::lsp {

enum class SymbolKind { option, rule, source, concept_id, fact, scheme, let, dimension };
const char* to_string(SymbolKind kind) noexcept;

struct Occurrence {
  SymbolKind kind;
  std::string id;                    // fact paths dotted: "pain.nrs", "treatments.response"
  std::string file;                  // as the SourceFile names it
  std::uint32_t begin = 0, end = 0;  // bytes
  bool declaration = false;
  const rules::ast::Node* node = nullptr;  // the declaring node (declarations only)
};

// The parsed files of one rule set and every occurrence of every id in them.
class SymbolIndex {
 public:
  // `files`: path → text, parsed here (syntax errors only drop what failed to parse).
  void build(const std::vector<std::pair<std::string, std::string>>& files, int max_depth);

  [[nodiscard]] const Occurrence* at(const std::string& file, std::uint32_t offset) const;
  [[nodiscard]] const Occurrence* declaration(SymbolKind kind, const std::string& id) const;
  [[nodiscard]] std::vector<const Occurrence*> occurrences(SymbolKind kind,
                                                           const std::string& id) const;
  [[nodiscard]] std::vector<const Occurrence*> declarations() const;
  [[nodiscard]] const rules::SourceFile* file(const std::string& path) const;
  // The values a grading scheme's dimension takes (`GRADE` → strength → weak, strong).
  [[nodiscard]] std::map<std::string, std::vector<std::string>> dimensions(
      const std::string& scheme) const;

 private:
  std::vector<std::unique_ptr<rules::SourceFile>> files_;
  std::vector<Occurrence> occurrences_;
};

}  // namespace stimrank::lsp
