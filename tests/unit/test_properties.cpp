// Properties over generated rule sets and profiles (tests/reference/generator.hpp):
// an added absolute contraindication never improves an option; making known data
// unknown (a field taken away, or a set opened) never turns an exclusion into a
// silent recommendation (for conditions
// without known(), which is meant to turn false on less data); the order of list
// entries and of JSON keys changes nothing.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "../reference/generator.hpp"
#include "helpers.hpp"

namespace {

using stimrank::Status;

int order(Status s) {
  switch (s) {
    case Status::recommended: return 0;
    case Status::consider: return 1;
    case Status::research_only: return 2;
    case Status::not_indicated: return 3;
    case Status::excluded: return 4;
  }
  return 5;
}

std::shared_ptr<const stimrank::RuleSet> compile(const std::string& text) {
  stimrank::LoadResult loaded = stimrank::compile_rules({{"generated.rules", text}});
  INFO(text << "\n" << stimrank::format_all(loaded.diagnostics));
  REQUIRE(loaded.ok());
  return loaded.ruleset;
}

const stimrank::OptionResult& option(const stimrank::Result& r, const std::string& id) {
  for (const auto& o : r.options)
    if (o.option == id) return o;
  throw std::runtime_error("no option " + id);
}

// A result without what list positions name: entry indices in missing paths.
std::string comparable(const stimrank::Result& r) {
  static const std::regex index("/[0-9]+/");
  std::string out;
  for (const auto& o : r.options) {
    out += o.option + " " + stimrank::to_string(o.status) + " " +
           (o.rank ? std::to_string(*o.rank) : "-") + " " + std::to_string(o.score) + " |";
    std::vector<std::string> reasons, missing;
    for (const auto& reason : o.reasons) {
      std::string text = reason.rule + ":" + reason.kind;
      std::vector<std::string> paths;
      for (const auto& m : reason.missing) paths.push_back(std::regex_replace(m, index, "/*/"));
      std::sort(paths.begin(), paths.end());
      for (const auto& m : paths) text += "," + m;
      reasons.push_back(text);
    }
    for (const auto& m : o.missing) missing.push_back(std::regex_replace(m, index, "/*/"));
    std::sort(reasons.begin(), reasons.end());
    std::sort(missing.begin(), missing.end());
    for (const auto& x : reasons) out += " " + x;
    out += " |";
    for (const auto& x : missing) out += " " + x;
    out += "\n";
  }
  return out;
}

constexpr int kRuleSets = 120, kProfiles = 60;

}  // namespace

TEST_CASE("property: an added absolute contraindication never improves an option", "[properties]") {
  for (int set = 0; set < kRuleSets; ++set) {
    std::mt19937_64 random(7000 + static_cast<std::uint64_t>(set));
    const std::string text = reference::random_rules(random);
    auto before = compile(text);
    const auto ids = before->option_ids();
    const std::string target = ids[random() % ids.size()];
    auto after = compile(text + "absolute_contraindication added for {" + target + "} when " +
                         reference::random_condition(random) + " source s1 because \"b\";\n");
    for (int p = 0; p < kProfiles; ++p) {
      const std::string profile = reference::random_profile(random, p);
      INFO("seed " << 7000 + set << ", profile " << profile);
      auto a = before->evaluate_json(profile), b = after->evaluate_json(profile);
      REQUIRE((a.ok() && b.ok()));
      for (const std::string& id : ids) {
        const auto &x = option(*a.result, id), &y = option(*b.result, id);
        INFO("option " << id);
        CHECK(order(y.status) >= order(x.status));
        if (order(y.status) <= 1 && order(x.status) <= 1) CHECK(y.score <= x.score);
      }
    }
  }
}

TEST_CASE("property: making known data unknown never hides an exclusion", "[properties]") {
  const std::vector<std::string> fields = {"age",    "nrs",  "f0",         "f1",   "f2",
                                           "region", "devs", "conditions", "procs"};
  for (int set = 0; set < kRuleSets; ++set) {
    std::mt19937_64 random(9000 + static_cast<std::uint64_t>(set));
    auto rules = compile(reference::random_rules(random, false));  // without known()
    for (int p = 0; p < kProfiles; ++p) {
      nlohmann::json profile = nlohmann::json::parse(reference::random_profile(random, p));
      auto full = rules->evaluate_json(profile.dump());
      nlohmann::json less = profile;
      const std::string& field = fields[random() % fields.size()];
      if (field == "devs" && less.contains("devs") && random() % 2 == 0) {
        // Opened instead of taken away: what it lists stays, anything else unknown.
        nlohmann::json listed = less["devs"].is_object() ? less["devs"]["present"] : less["devs"];
        less["devs"] = {{"present", listed}, {"complete", false}};
      } else {
        less.erase(field);
      }
      auto reduced = rules->evaluate_json(less.dump());
      INFO("seed " << 9000 + set << ", profile " << profile.dump()
                   << " without one field: " << less.dump());
      REQUIRE((full.ok() && reduced.ok()));
      for (const auto& x : full.result->options) {
        if (x.status != Status::excluded) continue;
        const auto& y = option(*reduced.result, x.option);
        INFO("option " << x.option << " was excluded; now " << stimrank::to_string(y.status));
        CHECK(y.status != Status::recommended);
        if (y.status == Status::consider)
          CHECK(std::any_of(y.reasons.begin(), y.reasons.end(),
                            [](const stimrank::Reason& r) { return r.kind == "missing_data"; }));
      }
    }
  }
}

TEST_CASE("property: the order of list entries and JSON keys changes nothing", "[properties]") {
  for (int set = 0; set < kRuleSets; ++set) {
    std::mt19937_64 random(11000 + static_cast<std::uint64_t>(set));
    auto rules = compile(reference::random_rules(random));
    for (int p = 0; p < kProfiles; ++p) {
      nlohmann::json profile = nlohmann::json::parse(reference::random_profile(random, p));
      nlohmann::ordered_json shuffled;
      std::vector<std::string> keys;
      for (auto it = profile.begin(); it != profile.end(); ++it) keys.push_back(it.key());
      std::shuffle(keys.begin(), keys.end(), random);
      for (const std::string& key : keys) {
        nlohmann::ordered_json value = profile[key];
        if (value.is_array()) {
          std::vector<nlohmann::ordered_json> items(value.begin(), value.end());
          std::shuffle(items.begin(), items.end(), random);
          value = items;
        }
        shuffled[key] = value;
      }
      INFO("seed " << 11000 + set << ": " << profile.dump() << " / " << shuffled.dump());
      auto a = rules->evaluate_json(profile.dump()), b = rules->evaluate_json(shuffled.dump());
      REQUIRE((a.ok() && b.ok()));
      CHECK(comparable(*a.result) == comparable(*b.result));
    }
  }
}
