// The rule language: parse, check and compile any text; a file that parses is also
// formatted, and formatting must be idempotent and keep the checked model: `fmt`
// twice changes nothing, and the formatted file loads (or not) as the original
// does, into the same options, rules, concepts, sources and policy.
#include <stimrank/format.hpp>

#include "fuzz_common.hpp"

namespace {

std::string without_spaces(const std::string& text) {
  std::string out;
  for (char c : text)
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') out += c;
  return out;
}

// The checked model as text, without what formatting may move (locations, layout).
std::string model_of(const stimrank::RuleSet& rules) {
  stimrank::RuleSetInfo info = rules.describe();
  std::string out = info.name + "|" + info.version + "|" + info.policy.rank + "|" +
                    info.policy.because + "|" + info.policy.source + "\n";
  for (const auto& s : info.sources)
    out += "source " + s.id + "|" + s.citation + "|" + s.doi + "\n";
  for (const auto& o : info.options)
    out += "option " + o.id + "|" + o.title + "|" + o.family + "|" + o.invasiveness + "\n";
  for (const auto& r : info.rules) {
    out += "rule " + r.id + "|" + r.kind + "|" + without_spaces(r.condition) + "|" + r.because +
           "|" + r.grade + "|" + std::to_string(r.weight) + "|" + r.source +
           (r.unverified ? "|unverified" : "");
    for (const auto& o : r.options) out += "|" + o;
    for (const auto& t : r.tags) out += "|#" + t;
    out += "\n";
  }
  for (const auto& c : info.concepts) {
    out += "concept " + c.id + "|" + c.title + (c.valueset ? "|valueset" : "");
    for (const auto& code : c.codes) out += "|" + code;
    for (const auto& i : c.includes) out += "|<" + i;
    out += "\n";
  }
  return out;
}

// Limits far below the shipped defaults, as SQLite's OSS-Fuzz harness lowers
// SQLITE_LIMIT_VDBE_OP: an input that writes out a million let or concept parts
// costs 100 ms however it is mutated, and the fuzzer would spend its time there.
// The limit checks themselves run the same code at any value.
stimrank::LoadOptions fuzz_options() {
  stimrank::LoadOptions options;
  options.limits.max_let_nodes = 1u << 12;
  options.limits.max_concept_members = 1u << 14;
  return options;
}

}  // namespace

int fuzzing::one_rules(const unsigned char* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  stimrank::LoadResult loaded = stimrank::compile_rules({{"fuzz.rules", text}}, fuzz_options());
  stimrank::FormatResult formatted = stimrank::format_rules("fuzz.rules", text);
  if (!formatted.ok) return 0;
  stimrank::FormatResult again = stimrank::format_rules("fuzz.rules", formatted.text);
  if (!again.ok || again.text != formatted.text)
    fuzzing::property_failed("fmt is idempotent", formatted.text + "\n----\n" + again.text);
  stimrank::LoadResult reloaded =
      stimrank::compile_rules({{"fuzz.rules", formatted.text}}, fuzz_options());
  if (loaded.ok() != reloaded.ok())
    fuzzing::property_failed("fmt keeps a rule file loadable (or not)", formatted.text);
  if (loaded.ok() && model_of(*loaded.ruleset) != model_of(*reloaded.ruleset))
    fuzzing::property_failed("fmt keeps the checked model",
                             model_of(*loaded.ruleset) + "\n----\n" + model_of(*reloaded.ruleset));
  return 0;
}

#ifndef STIMRANK_FUZZ_NO_MAIN
extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  return fuzzing::one_rules(data, size);
}
#endif
