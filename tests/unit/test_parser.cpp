// Parser: golden AST dumps and diagnostics, recovery, and message format.
#include "check.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;

namespace {
std::string parse_golden_output(const fs::path& path) {
  std::vector<stimrank::Diagnostic> diagnostics;
  std::string dump = stimrank::rules::parse_to_dump(
      path.filename().string(), testing::read_file(path), stimrank::Limits{}, diagnostics);
  if (diagnostics.empty()) return dump;
  return stimrank::format_all(diagnostics);
}
}  // namespace

TEST_CASE("parser golden files: rules → AST dump or diagnostics", "[parser][golden]") {
  fs::path dir = fs::path(STIMRANK_TEST_DIR) / "golden" / "parse";
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".rules") continue;
    ++files;
    SECTION(entry.path().filename().string()) {
      fs::path expected = entry.path();
      expected.replace_extension(".expected");
      testing::check_golden(expected, parse_golden_output(entry.path()));
    }
  }
  CHECK(files >= 4);
}

TEST_CASE("every syntax error in a file is reported, each at its line and column", "[parser]") {
  const std::string text =
      "ruleset \"x\" version \"1\";\n"
      "source s \"S\" doi \"10.1/x\"\n"  // 2: missing ;
      "option o \"O\" {\n"
      "  invasiveness noninvasive;\n"
      "  indication a when age >= 3 source s because \"a\"\n"  // 5: missing ;
      "  indication b when age >= source s because \"b\";\n"   // 6: missing number
      "  family ;\n"                                           // 7: missing name
      "}\n"
      "facts { age: int 0..130 }\n";  // 9: missing ; after field
  std::vector<stimrank::Diagnostic> diagnostics;
  stimrank::rules::parse_to_dump("broken.rules", text, stimrank::Limits{}, diagnostics);
  REQUIRE(diagnostics.size() == 5);
  CHECK(diagnostics[0].location.line == 2);  // a missing `;` is reported where it belongs
  CHECK(diagnostics[0].location.column == 26);
  CHECK(diagnostics[0].code == "E012");
  CHECK(diagnostics[0].message == "expected `;` after source, found `option`");
  CHECK(diagnostics[1].location.line == 5);
  CHECK(diagnostics[1].location.column == 50);
  CHECK(diagnostics[1].message.rfind("expected `;` after the rule", 0) == 0);
  CHECK(diagnostics[2].location.line == 6);
  CHECK(diagnostics[2].location.column == 28);
  CHECK(diagnostics[3].location.line == 7);
  CHECK(diagnostics[3].message == "expected an identifier, found `;`");
  CHECK(diagnostics[4].location.line == 9);
  CHECK(diagnostics[4].message == "expected `;` after the field, found `}`");
}

TEST_CASE("a diagnostic prints file:line:col, the line, a caret and the hint", "[parser]") {
  std::vector<stimrank::Diagnostic> diagnostics;
  stimrank::rules::parse_to_dump("f.rules", "ruleset \"x\" version \"1\"\n", stimrank::Limits{},
                                 diagnostics);
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics[0].format() ==
        "f.rules:1:24: error[E012]: expected `;` after the ruleset header, found end of file\n"
        " 1 | ruleset \"x\" version \"1\"\n"
        "   |                        ^\n");
  stimrank::Diagnostic d = diagnostics[0];
  d.location = {"f.rules", 1, 9, 1, 12};
  d.source_line = "ruleset \"x\" version";
  d.hint = "did you mean `y`?";
  CHECK(d.format() ==
        "f.rules:1:9: error[E012]: expected `;` after the ruleset header, found end of file\n"
        " 1 | ruleset \"x\" version\n"
        "   |         ^^^\n"
        " = help: did you mean `y`?\n");
}

TEST_CASE("deep nesting is refused with a diagnostic, not a stack overflow", "[parser]") {
  std::string deep(5000, '(');
  std::string text = "let x = " + deep + "true" + std::string(5000, ')') + ";\n";
  std::vector<stimrank::Diagnostic> diagnostics;
  stimrank::rules::parse_to_dump("deep.rules", text, stimrank::Limits{}, diagnostics);
  REQUIRE_FALSE(diagnostics.empty());
  CHECK(diagnostics[0].code == "E020");
  std::string nots;
  for (int i = 0; i < 5000; ++i) nots += "not ";
  diagnostics.clear();
  stimrank::rules::parse_to_dump("nots.rules", "let x = " + nots + "true;\n", stimrank::Limits{},
                                 diagnostics);
  REQUIRE_FALSE(diagnostics.empty());
  CHECK(diagnostics[0].code == "E020");
}

TEST_CASE("garbage input never crashes the parser", "[parser]") {
  const std::vector<std::string> inputs = {"",
                                           "\"",
                                           "/*",
                                           "{{{{",
                                           "}}}}",
                                           ";;;;",
                                           "option",
                                           "option o",
                                           "option o \"t\" {",
                                           "let = ;",
                                           "facts { a: list { b: list {} } }",
                                           std::string("\0\xff\xfe", 3),
                                           "indication x when (((",
                                           "\"\\"};
  for (const std::string& input : inputs) {
    std::vector<stimrank::Diagnostic> diagnostics;
    stimrank::rules::parse_to_dump("g.rules", input, stimrank::Limits{}, diagnostics);
    if (!input.empty()) CHECK_FALSE(diagnostics.empty());
  }
}
