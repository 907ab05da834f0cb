// "Did you mean": the closest of some known words to a word that is not one of them.
#pragma once

#include <string>
#include <vector>

namespace stimrank::rules {

// The closest candidate within a small edit distance, or "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
// "did you mean `x`?" for the closest candidate, or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
// The same within a budget of edit-distance table cells, which the comparisons use up:
// "" once comparing every candidate would take more than is left (the budget is then 0).
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates,
                         std::size_t& budget);

}  // namespace stimrank::rules
