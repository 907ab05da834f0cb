// The lean half of an evaluation: which rules hold, each option's status and
// score, and the ranking, as indices into the plan. No strings are built here;
// renderers (the canonical TSV line, the full Result) read the plan for those.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plan.hpp"
#include "stimrank/result.hpp"

namespace stimrank::engine {

struct OptionOutcome {
  Status status = Status::not_indicated;
  double score = 0;
};

__extension__ typedef unsigned __int128 Packed;  // GCC and Clang; ranking keys

struct OptionTally {
  bool excluded = false, research = false, not_indicated = false, held_back = false;
  bool indicated = false, all_unverified = true;
  double combined = 0, penalties = 0, best_weight = -1e300;
};

struct Assessment {
  std::vector<Truth> truth;            // by plan rule; rules never visited are false
  std::vector<std::uint32_t> decided;  // rules visited and found true or unknown
  std::vector<OptionOutcome> options;  // by option
  std::vector<std::uint32_t> ranked;   // candidate options, best first
  // Scratch reused from one profile to the next.
  std::vector<std::uint32_t> visited;  // by plan rule: the epoch it was last visited in
  std::vector<std::uint32_t> touched;  // by option: the epoch it was last touched in
  std::vector<std::uint32_t> touched_list;
  std::vector<OptionTally> tallies;                       // by option, valid for touched options
  std::vector<std::uint64_t> fired_bits;                  // by rule id order
  std::vector<std::uint64_t> id_bits;                     // candidates, by option id order
  std::vector<std::uint64_t> concepts;                    // concepts of a list's entries
  std::vector<std::uint64_t> pass, unknown, any;          // the rule bitmap's rows
  std::vector<std::pair<Packed, std::uint32_t>> packed;   // ranking keys
  std::vector<std::pair<Packed, std::uint32_t>> sorting;  // radix sort buffer
  std::uint32_t epoch = 0;
};

// Which rules hold or are unknown: the rules a profile can reach through the
// plan's index (`truth`, `decided`); enough for an explained result.
void assess_truth(const rules::model::Model& model, const Plan& plan, const Facts& facts,
                  Assessment& out);
// The same, then statuses, scores and the ranking (`options`, `ranked`).
void assess(const rules::model::Model& model, const Plan& plan, const Facts& facts,
            Assessment& out);

// Appends the benchmark's canonical line: id TAB fired rule ids TAB option:score,…
void append_tsv(const rules::model::Model& model, const Plan& plan, const Facts& facts,
                Assessment& assessment, std::string& out);

// The order of statuses in a ranking: recommended, consider, research only, …
int status_order(Status status);

// Appends a number as the result JSON writes it: integral values without ".0".
void append_number(double value, std::string& out);

}  // namespace stimrank::engine
