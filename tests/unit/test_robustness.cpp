// The shipped knowledge base, damaged at random (bytes dropped, doubled or
// replaced, words swapped, lines dropped or moved, files cut short): every load
// ends in a rule set or in error diagnostics, never a crash; every diagnostic has
// a stable code, a place inside the file and a message in the house style; a
// damaged rule set that still loads evaluates every profile with all fast paths
// agreeing with the plain evaluation; a file that still parses formats
// idempotently to the same AST. The seeds are fixed, so a failure reproduces;
// STIMRANK_ROBUSTNESS_MUTANTS sets how many rule sets are tried (default 300),
// STIMRANK_ROBUSTNESS_SEED shifts the seeds.
#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "check.hpp"
#include "differential.hpp"
#include "helpers.hpp"
#include "json_text.hpp"
#include "stimrank/explain.hpp"
#include "stimrank/impact.hpp"
#include "stimrank/lint.hpp"
#include "utf8.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  for (std::size_t end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1)
    lines.push_back(text.substr(begin, end - begin));
  lines.push_back(text.substr(begin));
  return lines;
}

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> lines = lines_of(text);
  std::sort(lines.begin(), lines.end());
  return lines;
}

// The house style of a message: lower case, no final period, valid UTF-8, user
// text between backticks.
void check_message_style(const std::string& message) {
  INFO("message: " << message);
  REQUIRE_FALSE(message.empty());
  CHECK(stimrank::utf8::valid(message));
  CHECK_FALSE((message.front() >= 'A' && message.front() <= 'Z'));
  CHECK(message.back() != '.');
  CHECK(std::count(message.begin(), message.end(), '`') % 2 == 0);
}

// Every diagnostic well formed and placed inside the file it names.
void check_diagnostics(const std::vector<stimrank::Diagnostic>& diagnostics,
                       const std::vector<stimrank::SourceText>& files) {
  static const std::regex code("[EWL][0-9]{3}");  // L: lint
  // In the order of the files and their text.
  CHECK(std::is_sorted(diagnostics.begin(), diagnostics.end(), [](const auto& a, const auto& b) {
    return std::tie(a.location.file, a.location.line, a.location.column) <
           std::tie(b.location.file, b.location.line, b.location.column);
  }));
  for (const stimrank::Diagnostic& d : diagnostics) {
    INFO(d.format());
    CHECK(std::regex_match(d.code, code));
    CHECK((d.severity == stimrank::Severity::error) == (d.code[0] == 'E'));
    check_message_style(d.message);
    if (!d.hint.empty()) CHECK(stimrank::utf8::valid(d.hint));
    CHECK(stimrank::utf8::valid(d.format()));
    if (d.location.line == 0) continue;  // about the rule set as a whole
    auto file = std::find_if(files.begin(), files.end(),
                             [&](const auto& f) { return f.name == d.location.file; });
    REQUIRE(file != files.end());
    std::vector<std::string> lines = lines_of(file->text);
    REQUIRE(d.location.line >= 1);
    REQUIRE(d.location.line <= static_cast<int>(lines.size()));
    CHECK(d.location.column >= 1);
    CHECK(d.location.column <= static_cast<int>(lines[d.location.line - 1].size()) + 1);
  }
}

// One to three changes to one file, each of a kind a slip of the hand or of an
// editor makes.
void damage(std::vector<stimrank::SourceText>& files, std::mt19937& random,
            const std::vector<std::string>& words) {
  std::size_t total = 0;
  for (const auto& f : files) total += f.text.size();
  std::size_t pick = random() % total, which = 0;
  while (pick >= files[which].text.size()) pick -= files[which++].text.size();
  std::string& text = files[which].text;
  static const std::vector<std::string> tokens = {"{",
                                                  "}",
                                                  "(",
                                                  ")",
                                                  ";",
                                                  ",",
                                                  "\"",
                                                  "/*",
                                                  "//",
                                                  "..",
                                                  "0",
                                                  "-1",
                                                  "1e400",
                                                  "0.5",
                                                  "and",
                                                  "or",
                                                  "not",
                                                  "when",
                                                  "has",
                                                  "any",
                                                  "in",
                                                  "option",
                                                  "include",
                                                  "let",
                                                  "weight",
                                                  "grade",
                                                  "source",
                                                  "\xc3\xa9",
                                                  "\xff",
                                                  "\n",
                                                  std::string(1, '\0')};
  const int changes = 1 + static_cast<int>(random() % 3);
  for (int c = 0; c < changes && !text.empty(); ++c) {
    std::size_t at = random() % text.size();
    switch (random() % 10) {
      case 0: text.erase(at, 1 + random() % 40); break;
      case 1: text.insert(at, text.substr(at, 1 + random() % 40)); break;
      case 2: text[at] = "{}();,\"./\\*#_ az09\n\t\x80"[random() % 22]; break;
      case 3: text.insert(at, " " + tokens[random() % tokens.size()] + " "); break;
      case 4: {  // drop a line
        std::size_t begin = text.rfind('\n', at), end = text.find('\n', at);
        begin = begin == std::string::npos ? 0 : begin;
        text.erase(begin, (end == std::string::npos ? text.size() : end) - begin);
        break;
      }
      case 5: {  // move a line elsewhere
        std::vector<std::string> lines = lines_of(text);
        std::size_t from = random() % lines.size(), to = random() % lines.size();
        std::string line = lines[from];
        lines.erase(lines.begin() + static_cast<long>(from));
        lines.insert(lines.begin() + static_cast<long>(std::min(to, lines.size())), line);
        text.clear();
        for (std::size_t i = 0; i < lines.size(); ++i) text += (i ? "\n" : "") + lines[i];
        break;
      }
      case 6: text.resize(at); break;
      case 8: {  // a number for another, in or far out of any range
        static const char* numbers[] = {"0",  "-1",  "1",           "2.5",   "0.001",  "-0",
                                        "10", "131", "99999999999", "1e308", "1e-300", "7"};
        std::size_t digit = text.find_first_of("0123456789", at);
        if (digit == std::string::npos) break;
        std::size_t end = text.find_first_not_of("0123456789.", digit);
        text.replace(digit, (end == std::string::npos ? text.size() : end) - digit,
                     numbers[random() % std::size(numbers)]);
        break;
      }
      case 9: {  // an operator for another
        static const std::vector<std::string> operators = {
            ">=",   "<=",    "==",    "!=",    " < ",  " > ", " and ",
            " or ", " any ", " all ", " not ", " in ", ".."};
        std::size_t best = std::string::npos, length = 0;
        for (const std::string& op : operators) {
          std::size_t found = text.find(op, at);
          if (found < best) best = found, length = op.size();
        }
        if (best != std::string::npos)
          text.replace(best, length, operators[random() % operators.size()]);
        break;
      }
      default: {  // a word for another word of the rule set
        static const std::regex word("[a-z_][a-z0-9_]*");
        std::smatch match;
        std::string tail = text.substr(at);
        if (std::regex_search(tail, match, word))
          text.replace(at + static_cast<std::size_t>(match.position(0)),
                       static_cast<std::size_t>(match.length(0)), words[random() % words.size()]);
        break;
      }
    }
  }
}

// Damages `intact` `mutants` times (one to three changes each) and checks every
// outcome; the counts of each outcome, for the caller to check that both happen.
struct Outcomes {
  int loaded = 0, refused = 0, evaluated = 0, formatted = 0;
};
Outcomes damage_and_check(const std::vector<stimrank::SourceText>& intact,
                          const std::vector<std::string>& profiles, unsigned seed, int mutants) {
  std::set<std::string> vocabulary;
  static const std::regex word("[a-z_][a-z0-9_]*");
  for (const auto& f : intact)
    for (std::sregex_iterator it(f.text.begin(), f.text.end(), word), end; it != end; ++it)
      vocabulary.insert(it->str());
  const std::vector<std::string> words(vocabulary.begin(), vocabulary.end());
  std::mt19937 random(seed);
  Outcomes outcomes;
  const std::shared_ptr<const stimrank::RuleSet> intact_rules =
      stimrank::compile_rules(intact).ruleset;
  REQUIRE(intact_rules);
  for (int m = 0; m < mutants; ++m) {
    std::vector<stimrank::SourceText> files = intact;
    damage(files, random, words);
    INFO("mutant " << m);
    stimrank::LoadResult loaded = stimrank::compile_rules(files);
    check_diagnostics(loaded.diagnostics, files);
    CHECK(loaded.ok() == !stimrank::has_errors(loaded.diagnostics));
    if (!loaded.ok()) {
      ++outcomes.refused;
    } else {
      ++outcomes.loaded;
      // The authors' tools take whatever loads: lint, the evidence tables, the
      // impact of the change against the intact rules, one patient's reasoning.
      check_diagnostics(stimrank::lint_rules(*loaded.ruleset), files);
      const stimrank::RuleSetInfo info = loaded.ruleset->describe();
      for (auto format : {stimrank::TableFormat::markdown, stimrank::TableFormat::html}) {
        const std::string tables = stimrank::render_evidence_tables(info, format);
        CHECK_FALSE(tables.empty());
        CHECK(stimrank::utf8::valid(tables));
      }
      const stimrank::ImpactReport impact =
          stimrank::compare_rule_sets(*intact_rules, *loaded.ruleset, profiles);
      CHECK(impact.profiles == static_cast<int>(profiles.size()));
      CHECK(stimrank::utf8::valid(stimrank::render_impact(impact, *intact_rules, *loaded.ruleset)));
      const stimrank::ExplainReport explained =
          stimrank::explain_profile(*loaded.ruleset, profiles[m % profiles.size()]);
      CHECK(explained.ok == explained.errors.empty());
      CHECK(stimrank::utf8::valid(explained.text));
      for (const std::string& profile : profiles) {
        stimrank::Evaluation evaluation = loaded.ruleset->evaluate_json(profile);
        CHECK(evaluation.ok() == evaluation.errors.empty());
        for (const stimrank::ProfileError& error : evaluation.errors) {
          CHECK((error.path.empty() || error.path.front() == '/'));
          check_message_style(error.message);
        }
        if (!evaluation.ok()) continue;  // the damage changed what a profile may hold
        ++outcomes.evaluated;
        CHECK(nlohmann::json::accept(evaluation.result->to_json()));
        testing::check_same(loaded.ruleset, profile);
      }
    }
    // The formatter takes each file alone: a file that parses formats to itself.
    for (std::size_t f = 0; f < files.size(); ++f) {
      const stimrank::SourceText& file = files[f];
      if (file.text == intact[f].text) continue;
      stimrank::FormatResult once = stimrank::format_rules(file.name, file.text);
      if (!once.ok) {
        CHECK(stimrank::has_errors(once.diagnostics));
        check_diagnostics(once.diagnostics, files);
        continue;
      }
      ++outcomes.formatted;
      stimrank::FormatResult twice = stimrank::format_rules(file.name, once.text);
      REQUIRE(twice.ok);
      CHECK(twice.text == once.text);
      // The same AST but for the order of a rule's attributes, which formatting
      // makes canonical (label and because last): the same dump lines.
      std::vector<stimrank::Diagnostic> d1, d2;
      CHECK(sorted_lines(stimrank::rules::parse_to_dump("x", file.text, stimrank::Limits{}, d1)) ==
            sorted_lines(stimrank::rules::parse_to_dump("x", once.text, stimrank::Limits{}, d2)));
    }
  }
  return outcomes;
}

// STIMRANK_ROBUSTNESS_SEED shifts every seed, for longer searches than CI's.
unsigned seed(unsigned base) {
  const char* n = std::getenv("STIMRANK_ROBUSTNESS_SEED");
  return base + (n ? static_cast<unsigned>(std::strtoul(n, nullptr, 10)) : 0u);
}

int mutant_count() {
  const char* n = std::getenv("STIMRANK_ROBUSTNESS_MUTANTS");
  return n ? std::max(1, std::atoi(n)) : 300;
}

std::vector<stimrank::SourceText> files_of(const fs::path& dir) {
  std::vector<stimrank::SourceText> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".rules")
      files.push_back({entry.path().filename().string(), testing::read_file(entry.path())});
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return files;
}

}  // namespace

TEST_CASE("a damaged knowledge base loads or is refused with clear diagnostics, never crashes",
          "[robustness]") {
  const std::vector<stimrank::SourceText> intact = files_of(STIMRANK_KNOWLEDGE_DIR);
  REQUIRE(intact.size() >= 5);
  REQUIRE(stimrank::compile_rules(intact).ok());
  const int mutants = mutant_count();
  Outcomes outcomes =
      damage_and_check(intact, testing::knowledge_profiles(-1, 6), seed(20261125), mutants);
  // Both outcomes are exercised, and loaded damaged rule sets are evaluated.
  CHECK(outcomes.loaded > mutants / 10);
  CHECK(outcomes.refused > mutants / 3);
  CHECK(outcomes.evaluated > outcomes.loaded);
  CHECK(outcomes.formatted > mutants / 10);
}

// The golden rule set uses what the knowledge base does not: top-level rules,
// lets, counts over lists, value sets, several grading schemes.
TEST_CASE("a damaged golden rule set loads or is refused with clear diagnostics", "[robustness]") {
  const fs::path dir = fs::path(STIMRANK_TEST_DIR) / "golden" / "eval";
  const std::vector<stimrank::SourceText> intact = files_of(dir / "rules");
  REQUIRE(stimrank::compile_rules(intact).ok());
  std::vector<std::string> profiles;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 5 && name.ends_with(".json") && !name.ends_with(".expected.json") &&
        name.find("invalid") == std::string::npos)
      profiles.push_back(testing::read_file(entry.path()));
  }
  REQUIRE(profiles.size() >= 4);
  const int mutants = mutant_count();
  Outcomes outcomes = damage_and_check(intact, profiles, seed(1125), mutants);
  CHECK(outcomes.loaded > mutants / 20);
  CHECK(outcomes.refused > mutants / 3);
  CHECK(outcomes.evaluated > outcomes.loaded);
  CHECK(outcomes.formatted > mutants / 10);
}

TEST_CASE("damaged profiles are answered or refused with clear errors by every path",
          "[robustness]") {
  stimrank::LoadResult loaded = stimrank::compile_rules(files_of(STIMRANK_KNOWLEDGE_DIR));
  REQUIRE(loaded.ok());
  // Pretty-printed, so that damage falls on line breaks and indentation too.
  const std::vector<std::string> profiles = testing::knowledge_profiles(1);
  std::mt19937 random(seed(7));
  stimrank::Evaluator evaluator(loaded.ruleset);
  int answered = 0, refused = 0;
  const int damaged = 10 * mutant_count();
  std::string batch;
  std::vector<std::string> batch_answers;
  for (int i = 0; i < damaged; ++i) {
    std::string profile = profiles[random() % profiles.size()];
    for (int c = 1 + static_cast<int>(random() % 2); c > 0; --c) {
      std::size_t at = random() % profile.size();
      switch (random() % 8) {
        case 0: profile.erase(at, 1 + random() % 12); break;
        case 1: profile.insert(at, profile.substr(at, 1 + random() % 12)); break;
        case 2: profile[at] = "{}[]\",:0-e.\\ tfn\x80"[random() % 18]; break;
        case 3: profile.insert(at, " null "); break;
        case 4: profile.insert(at, "\"zz\": [1, {}], "); break;
        case 5: {  // another digit: a value changes, and may leave its range
          std::size_t digit = profile.find_first_of("0123456789", at);
          if (digit != std::string::npos) profile[digit] = static_cast<char>('0' + random() % 10);
          break;
        }
        default: {  // a flag flipped
          std::size_t word = profile.find(random() % 2 ? "true" : "false", at);
          if (word != std::string::npos)
            profile.replace(word, profile[word] == 't' ? 4 : 5,
                            profile[word] == 't' ? "false" : "true");
          break;
        }
      }
    }
    // The same damage as one line of a JSON Lines batch (newlines made spaces).
    std::string line = profile;
    std::replace(line.begin(), line.end(), '\n', ' ');
    batch += line + "\n";
    std::string answer;
    std::vector<stimrank::ProfileError> line_errors;
    if (!evaluator.append(line, stimrank::OutputFormat::json, answer, line_errors))
      answer = stimrank::jsonl_error_line(static_cast<std::size_t>(i) + 1, line_errors);
    batch_answers.push_back(answer);

    INFO("profile: " << profile);
    stimrank::Evaluation evaluation = loaded.ruleset->evaluate_json(profile);
    if (i % 10 == 0) {  // one patient's reasoning, as `stimrank explain` gives it
      const stimrank::ExplainReport explained = stimrank::explain_profile(*loaded.ruleset, profile);
      CHECK(explained.ok == evaluation.ok());
      CHECK(stimrank::utf8::valid(explained.text));
    }
    std::string json;
    std::vector<stimrank::ProfileError> errors;
    bool appended = evaluator.append(profile, stimrank::OutputFormat::json, json, errors);
    CHECK(appended == evaluation.ok());
    CHECK(errors.size() == evaluation.errors.size());
    if (evaluation.ok()) {
      ++answered;
      CHECK(json == evaluation.result->to_json());
      testing::check_same(loaded.ruleset, profile);
      continue;
    }
    ++refused;
    REQUIRE_FALSE(evaluation.errors.empty());
    for (std::size_t e = 0; e < evaluation.errors.size(); ++e) {
      CHECK((evaluation.errors[e].path.empty() || evaluation.errors[e].path.front() == '/'));
      check_message_style(evaluation.errors[e].message);
      if (e < errors.size()) CHECK(errors[e].format() == evaluation.errors[e].format());
    }
  }
  CHECK(answered > damaged / 5);
  CHECK(refused > damaged / 5);

  // The batch on two threads: each line's answer or error line, in order.
  std::istringstream in(batch);
  std::ostringstream out, messages;
  stimrank::JsonlOptions options;
  options.threads = 2;
  stimrank::JsonlSummary summary =
      stimrank::evaluate_jsonl(loaded.ruleset, in, out, messages, options);
  CHECK(summary.read_error.empty());
  CHECK(summary.write_error.empty());
  std::vector<std::string> lines = testing::output_lines(out.str());
  REQUIRE(lines.size() == batch_answers.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO("line " << i + 1);
    CHECK(lines[i] == batch_answers[i]);
  }
}

// The result writer's JSON strings (copied eight bytes at a time where nothing needs an
// escape) and the UTF-8 check (eight ASCII bytes at a time) against plain references:
// nlohmann's writer and a character-by-character walk.
TEST_CASE("JSON string writing and UTF-8 checking agree with plain references", "[robustness]") {
  std::mt19937 random(20261207);
  const std::vector<std::string> pieces = {"a",
                                           "plain text ",
                                           "\"",
                                           "\\",
                                           "\n",
                                           "\t",
                                           "\x01",
                                           "\x1f",
                                           "é",
                                           "—",
                                           "😀",
                                           "\xC3",
                                           "\xFF",
                                           "\xED\xA0\x80",
                                           "0123456789abcdef",
                                           " "};
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const int count = static_cast<int>(random() % 24);
    for (int i = 0; i < count; ++i) text += pieces[random() % pieces.size()];
    INFO("text: " << nlohmann::json(text).dump(-1, ' ', true,
                                               nlohmann::json::error_handler_t::replace));
    bool walked = true;
    for (const char *p = text.data(), *end = p + text.size(); p < end;) {
      const std::size_t size = stimrank::utf8::length(p, end);
      if (size == 0) {
        walked = false;
        break;
      }
      p += size;
    }
    REQUIRE(stimrank::utf8::valid(text) == walked);
    std::string written;
    stimrank::detail::append_json_string(text, written);
    REQUIRE(written ==
            nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
}

// A diagnostic on a very long line (a minified or binary file) shows a window of the
// line around the column, and the caret still stands under the word.
TEST_CASE("a diagnostic on a very long line shows a window with the caret in place",
          "[robustness]") {
  std::string line = "let a = ";
  for (int i = 0; i < 400; ++i) line += "age > " + std::to_string(i) + " or é ";
  const std::size_t at = line.size();
  line += "agee > 3;";
  stimrank::Diagnostic d;
  d.code = "E100";
  d.message = "undefined name `agee`";
  d.location = {"long.rules", 4, static_cast<int>(at) + 1, 4, static_cast<int>(at) + 5};
  d.source_line = line;
  const std::string text = d.format();
  std::vector<std::string> lines = lines_of(text);
  REQUIRE(lines.size() >= 3);
  CHECK(stimrank::utf8::valid(text));
  CHECK(lines[1].size() < 220);
  CHECK(lines[1].find("…") != std::string::npos);
  // The caret's column (in characters) is the column of `agee` in the shown line.
  auto characters = [](const std::string& s, std::size_t bytes) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < bytes && i < s.size(); ++i)
      n += (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    return n;
  };
  const std::size_t word = lines[1].find("agee");
  const std::size_t caret = lines[2].find('^');
  REQUIRE(word != std::string::npos);
  REQUIRE(caret != std::string::npos);
  CHECK(characters(lines[1], word) == characters(lines[2], caret));
  CHECK(lines[2].substr(caret) == "^^^^");
}
