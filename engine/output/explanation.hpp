// The decision put into words: the explained Result, or its JSON written straight
// from the plan. Reads a decision (eval/decision.hpp); never re-decides.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "decision.hpp"
#include "stimrank/result.hpp"

namespace stimrank::engine {

// Pre-rendered pieces of the result JSON (by model rule and option), so that a
// batch's results are mostly copies of finished text. Built with the same writers
// as Result::to_json, so the two cannot drift apart.
struct JsonFragments {
  std::string ruleset;  // ,"ruleset":{…},"options":[
  // List elements, each starting with the comma that precedes it in a list:
  std::vector<std::string> option_head;  // ,{"option":…,"invasiveness":…
  std::vector<std::string> reason;  // the reason a rule gives when it holds (prerequisite: met)
  std::vector<std::string> reason_unmet;    // prerequisites: the reason when not met
  std::vector<std::string> evidence;        // graded indications: their evidence object
  std::vector<std::string> reason_unknown;  // the missing_data reason up to its "missing" list
  std::vector<std::string> unknown_text;    // the missing_data reason's text
  // Summary pieces: each rule's `because`, and with its grade as an indication
  // gives it; plain, and escaped for a JSON string (no quotes).
  std::vector<std::string> because_text, indication_text, because_json, indication_json;
  std::vector<bool> text_valid;  // both are valid UTF-8, so escaped pieces can be joined
};

// The explained result of a decision.
Result explain_result(const rules::model::Model& model, const Plan& plan, const Facts& facts,
                      const Assessment& decision);
// The same, into an existing Result whose strings and vectors are reused.
void fill_result(const rules::model::Model& model, const Plan& plan, const Facts& facts,
                 const Assessment& decision, Result& result);
// The same explanation written straight out as the result JSON (Result::to_json's
// bytes, without building the Result).
void append_result_json(const rules::model::Model& model, const Plan& plan, const Facts& facts,
                        const Assessment& decision, std::string& out);
JsonFragments json_fragments(const rules::model::Model& model, const Plan& plan);
// Decides and explains in one go (tools that evaluate one profile now and then).
Result evaluate_facts(const rules::model::Model& model, const Plan& plan, const Facts& facts);

// Writes a TSV field with tab, line breaks and backslash escaped (at most twice the
// text's length); returns the end.
char* append_tsv_text(std::string_view text, char* out);

// The benchmark's canonical line for a decision: id TAB fired rule ids TAB option:score,…
void append_tsv(const rules::model::Model& model, const Plan& plan, const Facts& facts,
                Assessment& decision, std::string& out);

}  // namespace stimrank::engine
