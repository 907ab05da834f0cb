// Semantic checks: every problem is found, with a stable code and a location.
#include <unistd.h>

#include <random>

#include "helpers.hpp"

namespace fs = std::filesystem;
using testing::codes;

namespace {
std::string check_output(const fs::path& path) {
  stimrank::LoadResult loaded = stimrank::load_rules(path.string());
  std::string out = stimrank::format_all(loaded.diagnostics);
  // Paths differ between machines; golden files keep the file name only.
  std::string prefix = path.parent_path().string() + "/";
  for (std::size_t at; (at = out.find(prefix)) != std::string::npos;) out.erase(at, prefix.size());
  return out + (loaded.ok() ? "ok\n" : "failed\n");
}

const stimrank::Diagnostic* find_code(const std::vector<stimrank::Diagnostic>& ds,
                                      const std::string& code) {
  for (const auto& d : ds)
    if (d.code == code) return &d;
  return nullptr;
}
}  // namespace

TEST_CASE("checker golden files: rules → diagnostics", "[checker][golden]") {
  fs::path dir = fs::path(STIMRANK_TEST_DIR) / "golden" / "check";
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".rules" ||
        entry.path().filename().string().rfind("inc_", 0) == 0)
      continue;
    ++files;
    SECTION(entry.path().filename().string()) {
      fs::path expected = entry.path();
      expected.replace_extension(".expected");
      testing::check_golden(expected, check_output(entry.path()));
    }
  }
  CHECK(files >= 3);
}

TEST_CASE("undefined names are errors with a did-you-mean hint", "[checker]") {
  auto loaded = testing::compile(
      "option o \"O\" { invasiveness noninvasive;\n"
      "  indication a when agee >= 3 weight 1 source s1 because \"a\"; }\n");
  REQUIRE_FALSE(loaded.ok());
  const auto* d = find_code(loaded.diagnostics, "E100");
  REQUIRE(d);
  CHECK(d->message == "undefined name `agee`");
  CHECK(d->hint == "did you mean `age`?");
  CHECK(d->location.line == 19);
  CHECK(d->location.column == 21);
}

TEST_CASE("thousands of misspelt names are all reported; the hints stop at a budget", "[checker]") {
  // 4,000 concepts of 31 letters and 3,000 references, each one letter away from one of
  // them. Every reference is an error; the first ones carry the hint and the later ones
  // not: the comparisons of a rule set share one budget, so such a file is checked in
  // bounded time instead of comparing every unknown name with every declared one.
  std::mt19937 random(7);
  std::vector<std::string> names;
  std::string text;
  for (int i = 0; i < 4000; ++i) {
    std::string name = "c";
    for (int k = 0; k < 30; ++k) name += static_cast<char>('a' + random() % 20);
    text += "concept " + name + " \"C\" {}\n";
    names.push_back(std::move(name));
  }
  text += "option o \"O\" { invasiveness noninvasive;\n";
  for (int i = 0; i < 3000; ++i) {
    std::string misspelt = names[i];
    misspelt.back() = 'z';  // the names use a..t only
    text += "  indication i" + std::to_string(i) + " when conditions has " + misspelt +
            " weight 1 source s1 because \"b\";\n";
  }
  text += "}\n";
  auto loaded = testing::compile(text);
  REQUIRE_FALSE(loaded.ok());
  std::vector<const stimrank::Diagnostic*> undefined;
  for (const auto& d : loaded.diagnostics)
    if (d.code == "E100") undefined.push_back(&d);
  REQUIRE(undefined.size() == 3000);
  CHECK(undefined.front()->hint == "did you mean `" + names[0] + "`?");
  CHECK(undefined.back()->hint.empty());
  CHECK(undefined.back()->message == "undefined concept `" + names[2999].substr(0, 30) + "z`");
}

TEST_CASE("duplicate ids are errors that point at the first one", "[checker]") {
  auto loaded = testing::compile(
      "option o \"O\" { invasiveness noninvasive; }\n"
      "option o \"O again\" { invasiveness noninvasive; }\n");
  REQUIRE_FALSE(loaded.ok());
  const auto* d = find_code(loaded.diagnostics, "E101");
  REQUIRE(d);
  CHECK(d->message == "duplicate option `o`");
  CHECK(d->hint == "the first one is at test.rules:18:8");
}

TEST_CASE("type mismatches are compile-time errors", "[checker]") {
  auto check = [](const std::string& condition) {
    auto loaded =
        testing::compile("option o \"O\" { invasiveness noninvasive;\n  indication a when " +
                         condition + " weight 1 source s1 because \"a\"; }\n");
    INFO(condition << "\n" << stimrank::format_all(loaded.diagnostics));
    CHECK_FALSE(loaded.ok());
    return find_code(loaded.diagnostics, "E102") != nullptr ||
           find_code(loaded.diagnostics, "E104") != nullptr;
  };
  CHECK(check("age == \"seventy\""));
  CHECK(check("age"));
  CHECK(check("sex == unicorn"));
  CHECK(check("sex >= female"));
  CHECK(check("flag == 1"));
  CHECK(check("devices has unicorn"));
  CHECK(check("age has c1"));
  CHECK(check("conditions >= 2"));
  CHECK(check("count(age) >= 1"));
  CHECK(check("sex in 1..3"));
}

TEST_CASE("a rule without a source or without a text is refused", "[checker]") {
  auto loaded = testing::compile(
      "option o \"O\" { invasiveness noninvasive;\n"
      "  indication a when flag weight 1 because \"a\";\n"
      "  absolute_contraindication b when flag source s1; }\n");
  REQUIRE_FALSE(loaded.ok());
  CHECK(find_code(loaded.diagnostics, "E103"));
  CHECK(find_code(loaded.diagnostics, "E106"));
}

TEST_CASE("an indication needs a grade or an explicit weight; grades are checked", "[checker]") {
  auto loaded = testing::compile(
      "option o \"O\" { invasiveness noninvasive;\n"
      "  indication a when flag source s1 because \"a\";\n"
      "  indication b when flag grade LEVEL(level D) source s1 because \"b\";\n"
      "  indication c when flag grade LEVEL(strength A) source s1 because \"c\";\n"
      "  indication d when flag grade NOPE(level A) source s1 because \"d\"; }\n");
  REQUIRE_FALSE(loaded.ok());
  auto all = codes(loaded.diagnostics);
  CHECK(std::count(all.begin(), all.end(), "E106") == 1);
  CHECK(std::count(all.begin(), all.end(), "E104") == 1);
  CHECK(std::count(all.begin(), all.end(), "E100") == 2);
}

TEST_CASE("cyclic includes and self-referring lets are reported", "[checker]") {
  auto loaded = stimrank::compile_rules(
      {{"a.rules", "include \"b.rules\";\n"}, {"b.rules", "include \"a.rules\";\n"}});
  REQUIRE_FALSE(loaded.ok());
  const auto* d = find_code(loaded.diagnostics, "E112");
  REQUIRE(d);
  CHECK(d->message == "cyclic include: `a.rules` → `b.rules` → `a.rules`");
  CHECK(d->location.file == "b.rules");

  auto lets = testing::compile("let x = y;\nlet y = x;\n");
  REQUIRE_FALSE(lets.ok());
  CHECK(find_code(lets.diagnostics, "E112"));

  auto missing = stimrank::compile_rules({{"a.rules", "include \"nope.rules\";\n"}});
  REQUIRE_FALSE(missing.ok());
  CHECK(find_code(missing.diagnostics, "E105"));
}

TEST_CASE("a file included twice is loaded once", "[checker]") {
  auto loaded = stimrank::compile_rules(
      {{"main.rules", std::string("include \"shared.rules\";\ninclude \"shared.rules\";\n") +
                          testing::base_rules()},
       {"shared.rules",
        "source s3 \"three\" doi \"10.1/3\";\n"
        "option o \"O\" { invasiveness noninvasive; indication a when flag weight 1 source s3 "
        "because \"a\"; }\n"}});
  INFO(stimrank::format_all(loaded.diagnostics));
  CHECK(loaded.ok());
}

TEST_CASE("top-level rules name their options; rules inside options do not", "[checker]") {
  auto loaded = testing::compile(
      "option o \"O\" { invasiveness noninvasive;\n"
      "  caution a for {o} when flag source s1 because \"a\"; }\n"
      "caution b when flag source s1 because \"b\";\n"
      "caution c for {nope} when flag source s1 because \"c\";\n");
  REQUIRE_FALSE(loaded.ok());
  auto all = codes(loaded.diagnostics);
  CHECK(std::count(all.begin(), all.end(), "E109") == 2);
  CHECK(std::count(all.begin(), all.end(), "E100") == 1);
}

TEST_CASE("the shipped knowledge base checks cleanly", "[checker]") {
  stimrank::LoadResult loaded = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR);
  INFO(stimrank::format_all(loaded.diagnostics));
  REQUIRE(loaded.ok());
  CHECK(loaded.ruleset->name() == "neuromodulation-neuropathic-pain");
  CHECK(loaded.ruleset->digest().rfind("sha256:", 0) == 0);
  CHECK(loaded.ruleset->digest().size() == 7 + 64);
}

TEST_CASE("limits are options: rule count", "[checker]") {
  stimrank::LoadOptions options;
  options.limits.max_rules = 1;
  auto loaded = testing::compile(
      "option o \"O\" { invasiveness noninvasive;\n"
      "  caution a when flag source s1 because \"a\";\n"
      "  caution b when flag source s1 because \"b\"; }\n",
      options);
  REQUIRE_FALSE(loaded.ok());
  CHECK(find_code(loaded.diagnostics, "E113"));
}

TEST_CASE("lets that double at each step are refused before they exhaust memory", "[checker]") {
  // l1 = l0 and l0, l2 = l1 and l1, …: written out, l39 would have 2^40 parts.
  std::string text = "let l0 = age > 3;\n";
  for (int k = 1; k < 40; ++k)
    text += "let l" + std::to_string(k) + " = l" + std::to_string(k - 1) + " and l" +
            std::to_string(k - 1) + ";\n";
  text +=
      "option o \"O\" { invasiveness noninvasive;\n"
      "  indication i when l39 weight 1 source s1 because \"b\"; }\n";
  auto loaded = testing::compile(text);
  REQUIRE_FALSE(loaded.ok());
  int limit_errors = 0;
  for (const auto& d : loaded.diagnostics)
    if (d.code == "E113") {
      ++limit_errors;
      CHECK(d.message == "the lets, written out where they are used, add more than " +
                             std::to_string(stimrank::Limits{}.max_let_nodes) +
                             " parts to the conditions");
    }
  CHECK(limit_errors == 1);
}

TEST_CASE("a let nests its uses: the depth limit counts it written out", "[checker]") {
  // Each let one level deeper than the last: l70 written out is 71 levels deep.
  std::string text = "let l0 = age > 3;\n";
  for (int k = 1; k <= 70; ++k)
    text += "let l" + std::to_string(k) + " = l" + std::to_string(k - 1) + " and flag;\n";
  auto loaded = testing::compile(text +
                                 "option o \"O\" { invasiveness noninvasive;\n"
                                 "  indication i when l70 weight 1 source s1 because \"b\"; }\n");
  REQUIRE_FALSE(loaded.ok());
  const auto* d = find_code(loaded.diagnostics, "E020");
  REQUIRE(d);
  CHECK(d->message == "the expression is nested too deeply with `l64` written out");
  // Within the limit, the same chain loads.
  stimrank::LoadOptions options;
  options.limits.max_expression_depth = 80;
  CHECK(testing::compile(text + "option o \"O\" { invasiveness noninvasive;\n"
                                "  indication i when l70 weight 1 source s1 because \"b\"; }\n",
                         options)
            .ok());
}

TEST_CASE("concepts on a cycle of includes are E112; a concept leading into one is not",
          "[checker]") {
  auto loaded = testing::compile(
      "valueset va \"A\" { includes vb; }\n"
      "valueset vb \"B\" { includes vc; }\n"
      "valueset vc \"C\" { includes vb; }\n"
      "valueset vd \"D\" { includes vd; }\n");
  REQUIRE_FALSE(loaded.ok());
  std::vector<std::string> cyclic;
  for (const auto& d : loaded.diagnostics)
    if (d.code == "E112") cyclic.push_back(d.message);
  CHECK(cyclic == std::vector<std::string>{"concept `vb` includes itself through `includes`",
                                           "concept `vc` includes itself through `includes`",
                                           "concept `vd` includes itself through `includes`"});
}

TEST_CASE("a long chain of value sets is checked in one pass and bounded", "[checker]") {
  // v0 includes v1, which includes v2, …: v0 holds all 3,000, and all of them together
  // n²/2 members (each counted with its code and include), past
  // Limits::max_concept_members.
  std::string chain;
  for (int k = 0; k < 3000; ++k)
    chain += "valueset v" + std::to_string(k) + " \"V\" { snomed \"" + std::to_string(100000 + k) +
             "\";" + (k + 1 < 3000 ? " includes v" + std::to_string(k + 1) + ";" : "") + " }\n";
  auto loaded = testing::compile(chain);
  REQUIRE_FALSE(loaded.ok());
  const auto* d = find_code(loaded.diagnostics, "E113");
  REQUIRE(d);
  CHECK(d->message == "the concepts' includes, written out, give more than " +
                          std::to_string(stimrank::Limits{}.max_concept_members) +
                          " members and codes");
  // Within a raised limit the chain loads, and a code of the last is one of the first.
  stimrank::LoadOptions options;
  options.limits.max_concept_members = 1u << 25;
  auto raised = testing::compile(chain +
                                     "option o \"O\" { invasiveness noninvasive;\n"
                                     "  indication i when conditions has v0 weight 1 source s1 "
                                     "because \"b\"; }\n",
                                 options);
  INFO(stimrank::format_all(raised.diagnostics));
  REQUIRE(raised.ok());
  stimrank::Evaluation e = raised.ruleset->evaluate_json(
      R"({"id":"p","conditions":[{"system":"snomed","code":"102999"}]})");
  REQUIRE(e.result);
  CHECK(e.result->options[0].rank.has_value());  // the indication fired
}

TEST_CASE("lint follows includes through many shared paths without retracing them", "[checker]") {
  // 40 diamonds: a_i includes l_i and r_i, both include a_{i+1}; 2^40 paths from a0
  // to a40. a0 and the unrelated z share a code (L006), which asks whether one
  // includes the other.
  std::string text;
  for (int i = 0; i < 40; ++i) {
    std::string n = std::to_string(i), next = std::to_string(i + 1);
    text += "valueset a" + n + " \"A\" { " + (i == 0 ? "snomed \"123456\"; " : "") + "includes l" +
            n + ", r" + n + "; }\n";
    text += "valueset l" + n + " \"L\" { includes a" + next + "; }\n";
    text += "valueset r" + n + " \"R\" { includes a" + next + "; }\n";
  }
  text += "concept a40 \"A\" { snomed \"654321\"; }\nconcept z \"Z\" { snomed \"123456\"; }\n";
  auto loaded = testing::compile(text);
  INFO(stimrank::format_all(loaded.diagnostics));
  REQUIRE(loaded.ok());
  bool overlap = false;
  for (const auto& d : stimrank::lint_rules(*loaded.ruleset))
    overlap = overlap || (d.code == "L006" && d.message.find("123456") != std::string::npos);
  CHECK(overlap);
}

TEST_CASE("the digest depends on the rule files, not on where they are", "[checker]") {
  namespace fs = std::filesystem;
  fs::path copy = fs::temp_directory_path() / ("stimrank_digest_" + std::to_string(::getpid()));
  fs::remove_all(copy);
  fs::copy(STIMRANK_KNOWLEDGE_DIR, copy, fs::copy_options::recursive);
  auto original = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR);
  auto moved = stimrank::load_rules(copy.string());
  REQUIRE(original.ok());
  REQUIRE(moved.ok());
  CHECK(original.ruleset->digest() == moved.ruleset->digest());
  testing::write_file(copy / "facts.rules",
                      testing::read_file(copy / "facts.rules") + "\n// edited\n");
  auto edited = stimrank::load_rules(copy.string());
  REQUIRE(edited.ok());
  CHECK(edited.ruleset->digest() != original.ruleset->digest());
  fs::remove_all(copy);
}
