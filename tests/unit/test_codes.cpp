// The diagnostic code table (rules/syntax/diagnostic_codes.cpp) is the one list of
// codes: every code the sources report is in it, and docs/language.md lists each
// with the same meaning.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "diagnostic_codes.hpp"

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "E021–E023, E030" → E021, E022, E023, E030.
std::vector<std::string> expand(const std::string& cell) {
  std::vector<std::string> codes;
  std::regex item(R"(([EW])(\d{3})(?:–[EW](\d{3}))?)");
  for (std::sregex_iterator it(cell.begin(), cell.end(), item), end; it != end; ++it) {
    int first = std::stoi((*it)[2]), last = (*it)[3].matched ? std::stoi((*it)[3]) : first;
    for (int n = first; n <= last; ++n) {
      char code[8];
      std::snprintf(code, sizeof code, "%s%03d", (*it)[1].str().c_str(), n);
      codes.push_back(code);
    }
  }
  return codes;
}

}  // namespace

TEST_CASE("docs/language.md lists every diagnostic code with the table's meaning") {
  std::istringstream doc(
      read_file(std::filesystem::path(STIMRANK_SOURCE_DIR) / "docs/language.md"));
  std::map<std::string, std::string> documented;
  std::regex row(R"(^\| ([EW]\d{3}[^|]*) \| (.*) \|$)");
  for (std::string line; std::getline(doc, line);) {
    std::smatch m;
    if (!std::regex_match(line, m, row)) continue;
    for (const std::string& code : expand(m[1])) documented[code] = m[2];
  }
  std::set<std::string> in_table;
  for (const auto& entry : stimrank::rules::diagnostic_codes()) {
    INFO(entry.code);
    in_table.insert(std::string(entry.code));
    REQUIRE(documented.count(std::string(entry.code)) == 1);
    CHECK(documented[std::string(entry.code)] == entry.meaning);
    CHECK((entry.code[0] == 'E') == (entry.severity == stimrank::Severity::error));
  }
  for (const auto& [code, meaning] : documented) {
    INFO(code << " is documented but not in the table");
    CHECK(in_table.count(code) == 1);
  }
}

TEST_CASE("every diagnostic code the sources report is in the table") {
  std::regex code(R"re("([EW]\d{3})[|"])re");
  std::set<std::string> used;
  for (const char* folder : {"rules", "engine"})
    for (const auto& entry : std::filesystem::recursive_directory_iterator(
             std::filesystem::path(STIMRANK_SOURCE_DIR) / folder)) {
      if (entry.path().extension() != ".cpp" && entry.path().extension() != ".hpp") continue;
      if (entry.path().filename() == "diagnostic_codes.cpp") continue;
      std::string text = read_file(entry.path());
      for (std::sregex_iterator it(text.begin(), text.end(), code), end; it != end; ++it)
        used.insert((*it)[1]);
    }
  REQUIRE(used.size() > 30);
  for (const std::string& c : used) {
    INFO(c);
    CHECK(stimrank::rules::find_diagnostic_code(c) != nullptr);
  }
  CHECK(stimrank::rules::find_diagnostic_code("E999") == nullptr);
}
