// The decision: which rules hold for a profile, and from them each option's
// status, score and rank. This is the only place the rule set's policy is
// applied; every output (the TSV line, the explained Result, its JSON) reads the
// decision made here and only puts it into words.
#pragma once

#include <cstdint>
#include <vector>

#include "plan.hpp"
#include "stimrank/result.hpp"

namespace stimrank::engine {

// What the policy made of one option, with what a reader needs to say why.
struct OptionOutcome {
  Status status = Status::not_indicated;
  double score = 0;
  // not_indicated: a not_indicated rule held (false: no indication held).
  bool by_not_indicated_rule = false;
  // consider: the policy's own reasons to hold the option back, besides its rules.
  bool below_recommend_weight = false;
  bool only_unverified_evidence = false;
  // A `specific` indication held: one for the patient's own condition.
  bool specific = false;
};

__extension__ typedef unsigned __int128 Packed;  // GCC and Clang; ranking keys

// One option's tally while the rules that decided are added up.
struct OptionTally {
  bool excluded = false, research = false, not_indicated = false, held_back = false;
  bool indicated = false, all_unverified = true, specific = false;
  double combined = 0, penalties = 0;
  double best_weight = 0;  // the largest weight, once `indicated`
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

// Clears the previous profile's traces (and sizes the buffers for this rule set).
void begin_profile(const rules::model::Model& model, const Plan& plan, Assessment& out);
// Which rules hold or are unknown: the rules a profile can reach through the
// plan's index (`truth`, `decided`).
void assess_truth(const rules::model::Model& model, const Plan& plan, const Facts& facts,
                  Assessment& out);
// Statuses, scores and the ranking (`options`, `ranked`) from `truth` and `decided`.
void decide(const rules::model::Model& model, const Plan& plan, Assessment& out);
// assess_truth, then decide.
void assess(const rules::model::Model& model, const Plan& plan, const Facts& facts,
            Assessment& out);
// decide() from a truth value for every plan rule, found some other way (tests
// evaluate every rule in full and compare).
void decide_from_truth(const rules::model::Model& model, const Plan& plan,
                       const std::vector<Truth>& truth, Assessment& out);

// The order of statuses in a ranking: recommended, consider, research only, …
int status_order(Status status);

}  // namespace stimrank::engine
