#include "spelling.hpp"

#include <algorithm>
#include <limits>

namespace stimrank::rules {

namespace {

std::string closest_within(const std::string& word, const std::vector<std::string>& candidates,
                           std::size_t& budget) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    // The distance is at least the difference in length: such a candidate cannot win,
    // and a very long word is not compared at its full cost.
    const std::size_t gap = word.size() > candidate.size() ? word.size() - candidate.size()
                                                           : candidate.size() - word.size();
    const std::size_t cost = gap >= best_distance ? 1 : (word.size() + 1) * (candidate.size() + 1);
    if (cost > budget) {
      budget = 0;
      return {};
    }
    budget -= cost;
    if (gap >= best_distance) continue;
    std::vector<std::size_t> row(candidate.size() + 1);
    for (std::size_t j = 0; j <= candidate.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= word.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= candidate.size(); ++j) {
        std::size_t above = row[j];
        row[j] = std::min(
            {row[j] + 1, row[j - 1] + 1, diagonal + (word[i - 1] == candidate[j - 1] ? 0u : 1u)});
        diagonal = above;
      }
    }
    if (row[candidate.size()] < best_distance) {
      best_distance = row[candidate.size()];
      best = candidate;
    }
  }
  return best;
}

std::string hint_text(const std::string& best) {
  return best.empty() ? std::string() : "did you mean `" + best + "`?";
}

}  // namespace

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::size_t unlimited = std::numeric_limits<std::size_t>::max();
  return closest_within(word, candidates, unlimited);
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  return hint_text(closest_match(word, candidates));
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates,
                         std::size_t& budget) {
  return hint_text(closest_within(word, candidates, budget));
}

}  // namespace stimrank::rules
