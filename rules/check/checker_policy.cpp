// The policy: how statuses combine and options rank.
#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <set>

#include "ascii.hpp"
#include "checker.hpp"
#include "codes.hpp"

namespace stimrank::rules::checking {

std::vector<std::pair<RankKey, bool>> Checker::default_rank() {
  return {{RankKey::status, false},
          {RankKey::score, true},
          {RankKey::invasiveness, false},
          {RankKey::id, false}};
}
void Checker::check_policy(const Item& item) {
  if (have_policy_) {
    error(item, *item.node, "E101", "duplicate `policy` block");
    return;
  }
  have_policy_ = true;
  Policy& policy = model_.policy;
  std::set<std::string> seen;
  for (const Node& setting : item.node->kids) {
    if (!seen.insert(setting.text).second) {
      error(item, setting, "E107", "`" + setting.text + "` is set twice in the policy");
      continue;
    }
    const Node& value = setting.kids[0];
    if (setting.text == "combine") {
      if (value.text == "sum")
        policy.combine_sum = true;
      else if (value.text != "max")
        error(item, value, "E104", "unknown combination `" + value.text + "`", "use max or sum");
    } else if (setting.text == "unverified_evidence") {
      if (value.text == "accept")
        policy.unverified_consider = false;
      else if (value.text != "consider")
        error(item, value, "E104", "unknown setting `" + value.text + "`",
              "use consider or accept");
    } else if (setting.text == "recommend_min_weight") {
      policy.recommend_min_weight = value.number;
    } else if (setting.text == "unverified_weight") {
      if (value.number < 0 || value.number > 1)
        error(item, value, "E104", "`unverified_weight` is a factor from 0 to 1");
      else
        policy.unverified_weight = value.number;
    } else if (setting.text == "source") {
      policy_source_ = {item, &value};  // resolved once every source is declared
    } else if (setting.text == "because") {
      policy.because = value.text;
    } else if (setting.text == "rank") {
      static const std::map<std::string, RankKey> names = {{"status", RankKey::status},
                                                           {"score", RankKey::score},
                                                           {"invasiveness", RankKey::invasiveness},
                                                           {"family", RankKey::family},
                                                           {"id", RankKey::id},
                                                           {"declared", RankKey::declared},
                                                           {"specificity", RankKey::specificity}};
      std::set<std::string> used;
      for (const Node& key : setting.kids) {
        auto it = names.find(key.text);
        if (it == names.end()) {
          error(item, key, "E104", "unknown ranking key `" + key.text + "`",
                "use status, specificity, score, invasiveness, family, id or declared");
          continue;
        }
        if (!used.insert(key.text).second) {
          error(item, key, "E107", "ranking key `" + key.text + "` is used twice");
          continue;
        }
        // Higher first for score and specificity (a specific indication first).
        bool descending = it->second == RankKey::score || it->second == RankKey::specificity;
        if (!key.kids.empty()) descending = key.kids[0].text == "desc";
        policy.rank.emplace_back(it->second, descending);
      }
    }
  }
  if (policy.rank.empty()) policy.rank = default_rank();
}

}  // namespace stimrank::rules::checking
