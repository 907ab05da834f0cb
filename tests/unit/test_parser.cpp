// Parser: golden AST dumps and diagnostics, recovery, and message format.
#include "check.hpp"
#include "helpers.hpp"
#include "json_text.hpp"
#include "utf8.hpp"

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

// err_characters.rules: a letter outside ASCII is quoted whole; a byte that is not
// UTF-8 is E003 (once a line, in strings too), and the source line shows it as `?`.
TEST_CASE("diagnostics are valid UTF-8 whatever the bytes of the rule file", "[parser]") {
  std::string text =
      "facts { age: int; }\n\xc3\xa9\n\xff\xfe;\n\xed\xa0\x80;\noption o \"\xe9t\xe9\";\nopt\xc3";
  std::vector<stimrank::Diagnostic> diagnostics;
  stimrank::rules::parse_to_dump("bytes.rules", text, stimrank::Limits{}, diagnostics);
  std::vector<std::string> seen;
  for (const auto& d : diagnostics) {
    INFO(d.format());
    CHECK(stimrank::detail::valid_utf8(d.format()));
    seen.push_back(std::to_string(d.location.line) + ":" + std::to_string(d.location.column) + " " +
                   d.code + " " + d.source_line);
  }
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::string>{
                    "2:1 E001 \xc3\xa9",            // found `é`
                    "3:1 E003 ??;",                 // 0xFF, once for the line
                    "4:1 E003 ???;",                // a surrogate is not UTF-8 either
                    "5:11 E003 option o \"?t?\";",  // Latin-1 text in a string
                    "5:15 E032 option o \"?t?\";",  // (no `{`: the option's own error)
                    "6:1 E001 opt?",
                    "6:4 E003 opt?",  // a character cut short by the end
                });
  auto first = std::find_if(diagnostics.begin(), diagnostics.end(),
                            [](const stimrank::Diagnostic& d) { return d.code == "E001"; });
  REQUIRE(first != diagnostics.end());
  CHECK(first->message == "expected a declaration, found `\xc3\xa9` (U+00E9)");
}

// Windows editors start a UTF-8 file with a byte order mark; it is not a token.
TEST_CASE("a byte order mark at the start of a file is skipped", "[parser]") {
  stimrank::LoadResult loaded = stimrank::compile_rules(
      {{"bom.rules",
        "\xef\xbb\xbfruleset \"b\" version \"1\";\r\nsource s \"S\" doi \"10.1/s\";\r\n"
        "facts { age: int; }\r\noption o \"O\" { invasiveness noninvasive;\r\n"
        "  indication i when age > 1 weight 5 source s because \"b\"; }\r\n"}});
  INFO(stimrank::format_all(loaded.diagnostics));
  CHECK(loaded.ok());
  stimrank::FormatResult formatted = stimrank::format_rules("bom.rules",
                                                            "\xef\xbb\xbf"
                                                            "facts { age: int; }\n");
  REQUIRE(formatted.ok);
  CHECK(formatted.text == "facts {\n  age: int;\n}\n");
}

// Pasted from a word processor: curled quotes and spaces that do not show.
TEST_CASE("characters a word processor puts in are named, with what to do", "[parser]") {
  auto first_error = [](const std::string& text) {
    std::vector<stimrank::Diagnostic> diagnostics;
    stimrank::rules::parse_to_dump("pasted.rules", text, stimrank::Limits{}, diagnostics);
    REQUIRE_FALSE(diagnostics.empty());
    return diagnostics[0].message + " | " + diagnostics[0].hint;
  };
  CHECK(first_error("source s \xe2\x80\x9cS\xe2\x80\x9d doi \"10.1/s\";\n") ==
        "expected a string in double quotes, found `\xe2\x80\x9c` (U+201C) | strings take "
        "straight double quotes `\"`; a word processor may have curled them");
  CHECK(first_error("facts { age: int;\xc2\xa0}\n") ==
        "expected `}` closing the facts, found a no-break space (U+00A0) | replace it with a "
        "plain space, or delete it");
  CHECK(first_error("\xe2\x80\x8b"
                    "facts { b: int; }\n") ==
        "expected a declaration, found a zero-width space (U+200B) | replace it with a plain "
        "space, or delete it");
}

// An unterminated `/*` is reported where it starts. After it every later `/*` is
// unterminated too; the skipper knows so from the text's last `*/` instead of scanning
// to the end at each one (200,000 such lines, 2.8 MB, took minutes: quadratic).
TEST_CASE("unterminated block comments are found without rescanning the text", "[parser]") {
  std::string text = "ruleset \"x\" version \"1\"; /* closed */\n";
  for (int i = 0; i < 200000; ++i) text += "option a /* x\n";
  std::vector<stimrank::Diagnostic> diagnostics;
  stimrank::rules::parse_to_dump("open.rules", text, stimrank::Limits{}, diagnostics);
  REQUIRE(diagnostics.size() == 200000);
  CHECK(diagnostics.front().location.line == 2);
  CHECK(diagnostics.front().location.column == 10);
  CHECK(diagnostics.back().location.line == 200001);

  // A comment closed later in the text is still skipped, and one after the last `*/`
  // is still unterminated.
  diagnostics.clear();
  std::string dump = stimrank::rules::parse_to_dump(
      "mixed.rules", "facts { /* a */ age: int 0..130; /* b\n */ }\nfacts { /* c }\n",
      stimrank::Limits{}, diagnostics);
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics[0].location.line == 3);
  CHECK(diagnostics[0].location.column == 9);
  CHECK(dump.find("(field age") != std::string::npos);
}

// err_invisible.rules has the same after other errors. An invisible character where
// a statement starts is reported once and the statement after it is still read: its
// own errors are reported and its declarations reach the checker.
TEST_CASE("a statement after an invisible character is still read", "[parser]") {
  auto parse = [](const std::string& text, std::vector<std::string>& seen) {
    std::vector<stimrank::Diagnostic> diagnostics;
    std::string dump =
        stimrank::rules::parse_to_dump("pasted.rules", text, stimrank::Limits{}, diagnostics);
    for (const auto& d : diagnostics)
      seen.push_back(std::to_string(d.location.line) + ":" + std::to_string(d.location.column) +
                     " " + d.code);
    return dump;
  };
  std::vector<std::string> seen;
  std::string dump = parse("facts { a: bool; }\n\xe2\x80\x8b\xc2\xa0 facts { b: int; }\n", seen);
  CHECK(seen == std::vector<std::string>{"2:1 E001"});
  CHECK(dump.find("(field b") != std::string::npos);

  // Also after an error, when recovery looks for the next statement.
  seen.clear();
  dump = parse(
      "facts { a: bool;\xc2\xa0}\n\xe2\x80\x8b"
      "facts { b: int }\noption o \"O\" {\n\xc2\xa0note \"n\";\n}\n",
      seen);
  // (Columns count bytes: the zero-width space is three.)
  CHECK(seen == std::vector<std::string>{"1:17 E017", "2:1 E001", "2:18 E012", "4:1 E002"});
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

TEST_CASE("fmt: idempotent, keeps comments, and parse(format(x)) has x's AST", "[fmt]") {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(STIMRANK_KNOWLEDGE_DIR))
    if (entry.path().extension() == ".rules") files.push_back(entry.path());
  files.push_back(fs::path(STIMRANK_TEST_DIR) / "golden" / "parse" / "ok_all_constructs.rules");
  files.push_back(fs::path(STIMRANK_TEST_DIR) / "golden" / "eval" / "rules" / "main.rules");
  for (const fs::path& file : files) {
    INFO(file.string());
    std::string text = testing::read_file(file);
    stimrank::FormatResult once = stimrank::format_rules(file.string(), text);
    REQUIRE(once.ok);
    stimrank::FormatResult twice = stimrank::format_rules(file.string(), once.text);
    REQUIRE(twice.ok);
    CHECK(twice.text == once.text);
    std::vector<stimrank::Diagnostic> d1, d2;
    CHECK(stimrank::rules::parse_to_dump("x", text, stimrank::Limits{}, d1) ==
          stimrank::rules::parse_to_dump("x", once.text, stimrank::Limits{}, d2));
    CHECK(d2.empty());
    // every comment survives
    auto count_comments = [](const std::string& t) {
      std::size_t n = 0;
      for (std::size_t at = 0; (at = t.find("//", at)) != std::string::npos; at += 2) ++n;
      return n;
    };
    CHECK(count_comments(once.text) == count_comments(text));
  }
}

TEST_CASE("fmt: a canonical layout", "[fmt]") {
  stimrank::FormatResult r = stimrank::format_rules(
      "x.rules",
      "ruleset   \"x\"   version \"1\" ;  // header\n\n\n"
      "option o \"O\" {  invasiveness noninvasive ;\n"
      "  // why this rule\n"
      "  indication a when (x and y) or not (z or w) weight 2 source s because \"a\" ; }\n");
  REQUIRE(r.ok);
  CHECK(r.text ==
        "ruleset \"x\" version \"1\";  // header\n"
        "\n"
        "option o \"O\" {\n"
        "  invasiveness noninvasive;\n"
        "  // why this rule\n"
        "  indication a\n"
        "    when (x and y) or not (z or w)\n"
        "    weight 2 source s\n"
        "    because \"a\";\n"
        "}\n");
  CHECK_FALSE(stimrank::format_rules("bad.rules", "option o {").ok);
}

// A title in Latin-1 would reach a clinician as U+FFFD; the rule set is not loaded.
TEST_CASE("a rule set with text that is not UTF-8 is refused", "[parser]") {
  stimrank::LoadResult loaded =
      testing::compile("option latin \"Stimulation \xe9pidurale\" { invasiveness noninvasive; }\n");
  CHECK_FALSE(loaded.ok());
  std::vector<std::string> errors;
  for (const auto& d : loaded.diagnostics)
    if (d.severity == stimrank::Severity::error) errors.push_back(d.code);
  CHECK(errors == std::vector<std::string>{"E003"});
}

// A title or text with a control character as it is (ESC [ 31m, CSI, DEL) would
// reach a terminal; the escapes `\n` and `\t`, a tab as it is, and a control
// character in a comment are fine.
TEST_CASE("a control character in a string is E004, once a string", "[parser]") {
  auto codes = [](const std::string& text) {
    std::vector<std::string> seen;
    for (const auto& d :
         stimrank::compile_rules({{"c.rules", "ruleset \"x\" version \"1\";\n" + text}})
             .diagnostics)
      if (d.severity == stimrank::Severity::error)
        seen.push_back(std::to_string(d.location.line) + ":" + std::to_string(d.location.column) +
                       " " + d.code);
    return seen;
  };
  CHECK(codes("option a \"A \x1b[31mred\x1b[0m\" { invasiveness noninvasive; }\n") ==
        std::vector<std::string>{"2:13 E004"});
  CHECK(codes("option a \"A \xc2\x9b"
              "2J\" { invasiveness noninvasive; }\n"
              "option b \"B\x7f\" { invasiveness noninvasive; }\n"
              "option c \"C\x01\x02\" { invasiveness noninvasive; }\n") ==
        std::vector<std::string>{"2:13 E004", "3:12 E004", "4:12 E004"});
  const auto fine = codes(
      "// a comment with \x1b[2J in it\n"
      "option a \"A\\tb\\n\tc\" { invasiveness noninvasive; }\n");
  CHECK(std::find_if(fine.begin(), fine.end(), [](const std::string& seen) {
          return seen.find("E004") != std::string::npos;
        }) == fine.end());
  // Outside a string, an unexpected control character is named by its code point.
  for (const auto& [text, found] :
       {std::pair<std::string, std::string>{std::string("\0facts { a: bool; }\n", 20),
                                            "a NUL byte (U+0000)"},
        {"\x1b[2Jfacts { a: bool; }\n", "a control character (U+001B)"}}) {
    const auto diagnostics = stimrank::compile_rules({{"c.rules", text}}).diagnostics;
    REQUIRE_FALSE(diagnostics.empty());
    CHECK(diagnostics.front().message == "expected a declaration, found " + found);
    CHECK(diagnostics.front().hint == "delete it");
  }
  // Its message shows neither the character nor anything that is not UTF-8.
  for (const auto& d :
       stimrank::compile_rules({{"c.rules", "option a \"\xc2\x9b\x1b\" {}\n"}}).diagnostics) {
    CHECK(d.format().find('\x1b') == std::string::npos);
    CHECK(d.format().find("\xc2\x9b") == std::string::npos);
  }
}

// The one rule citing `s` fails to parse: "never cited" would be a follow-on.
TEST_CASE("a source cited only by a statement that failed to parse is not W201", "[parser]") {
  std::string text =
      "ruleset \"x\" version \"1\";\n"
      "source s \"S\" doi \"10.1/s\";\n"
      "facts { age: int; }\n"
      "option o \"O\" { invasiveness noninvasive;\n"
      "  indication i when age > 1 weight 5 source s because \"b\" }\n";
  stimrank::LoadResult loaded = stimrank::compile_rules({{"w201.rules", text}});
  std::vector<std::string> codes = testing::codes(loaded.diagnostics);
  CHECK(std::find(codes.begin(), codes.end(), "E012") != codes.end());
  CHECK(std::find(codes.begin(), codes.end(), "W201") == codes.end());
}

// Found by tests/unit/test_robustness.cpp: a tag with a byte that is not UTF-8 was
// quoted raw in E108, so the message itself was not UTF-8.
TEST_CASE("a message quoting text that is not UTF-8 shows the bad byte as `?`", "[parser]") {
  stimrank::LoadResult loaded = testing::compile(
      "option o \"O\" { invasiveness noninvasive;\n"
      "  indication i when true weight 5 source s1 tag \"\xff S\" because \"b\"; }\n");
  CHECK_FALSE(loaded.ok());
  std::vector<std::string> messages;
  for (const auto& d : loaded.diagnostics) {
    CHECK(stimrank::utf8::valid(d.format()));
    messages.push_back(d.code + " " + d.message);
  }
  CHECK(std::find(messages.begin(), messages.end(), "E108 unknown verification tag `? S`") !=
        messages.end());
}

TEST_CASE("an unexpected backtick is named, not quoted in backticks", "[parser]") {
  std::vector<stimrank::Diagnostic> diagnostics;
  stimrank::rules::parse_to_dump("b.rules", "`x`\n", stimrank::Limits{}, diagnostics);
  REQUIRE_FALSE(diagnostics.empty());
  CHECK(diagnostics[0].message == "expected a declaration, found a backtick");
}

// Found by tests/unit/test_robustness.cpp: a rule given two labels (an error for the
// checker, E107) lost one when formatted, so `fmt` deleted the author's text.
TEST_CASE("fmt keeps a repeated attribute for the checker to report", "[fmt]") {
  const std::string text =
      "option o \"O\" {\n"
      "  invasiveness noninvasive;\n"
      "  indication i\n"
      "    when true\n"
      "    weight 5 source s1\n"
      "    label \"first\"\n"
      "    label \"second\"\n"
      "    because \"one\"\n"
      "    because \"two\";\n"
      "}\n";
  stimrank::FormatResult formatted = stimrank::format_rules("twice.rules", text);
  REQUIRE(formatted.ok);
  CHECK(formatted.text == text);
}

// Found by the `rules` fuzz target's long run: the grammar ends a line comment at a CR,
// the formatter ended it at the LF only, so the statement after a lone CR was printed
// once inside the comment and once as code, one more copy on each pass.
TEST_CASE("fmt ends a line comment at a lone CR as the parser does", "[fmt]") {
  const std::string text = "// a\rsource s1 \"x\" doi \"10.1/x\";\n";
  stimrank::FormatResult once = stimrank::format_rules("cr.rules", text);
  REQUIRE(once.ok);
  CHECK(once.text == "// a\nsource s1 \"x\" doi \"10.1/x\";\n");
  stimrank::FormatResult twice = stimrank::format_rules("cr.rules", once.text);
  REQUIRE(twice.ok);
  CHECK(twice.text == once.text);
  // A trailing comment ended by a CR keeps the code after it as code.
  stimrank::FormatResult trailing = stimrank::format_rules(
      "cr.rules", "source s1 \"x\" doi \"10.1/x\"; // b\rsource s2 \"y\";\n");
  REQUIRE(trailing.ok);
  CHECK(trailing.text == "source s1 \"x\" doi \"10.1/x\";  // b\nsource s2 \"y\";\n");
}

// Found by the `rules` fuzz target's long run: a scheme's value has no span of its own
// to be copied from, and was printed into 40 characters: 1.2e41 lost its last digits
// (another number on each pass), 0.0000001 became 0.
TEST_CASE("fmt writes a scheme value of any size as the same number, once and for all", "[fmt]") {
  for (const std::string value : {"123456789012345678901234567890123456789012", "0.0000001"}) {
    const std::string text = "scheme S \"s\" {\n  certainty { low " + value + " }\n}\n";
    stimrank::FormatResult once = stimrank::format_rules("s.rules", text);
    REQUIRE(once.ok);
    stimrank::FormatResult twice = stimrank::format_rules("s.rules", once.text);
    REQUIRE(twice.ok);
    CHECK(twice.text == once.text);
    std::vector<stimrank::Diagnostic> d1, d2;
    CHECK(stimrank::rules::parse_to_dump("x", text, stimrank::Limits{}, d1) ==
          stimrank::rules::parse_to_dump("x", once.text, stimrank::Limits{}, d2));
  }
}
