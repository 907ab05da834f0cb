#include "generator.hpp"

#include <nlohmann/json.hpp>
#include <vector>

namespace reference {

namespace {

struct Dice {
  std::mt19937_64& random;
  bool known = true;  // conditions may test known(field)
  int below(int n) { return static_cast<int>(random() % static_cast<std::uint64_t>(n)); }
  bool chance(int percent) { return below(100) < percent; }
  template <class T>
  const T& pick(const std::vector<T>& values) {
    return values[static_cast<std::size_t>(below(static_cast<int>(values.size())))];
  }
};

const std::vector<std::string> kConcepts = {"c0", "c1", "c2", "c3", "c4", "v0", "v1"};
const std::vector<std::string> kRegions = {"a", "b", "c", "d"};
const std::vector<std::string> kDevices = {"x", "y", "z"};
const std::vector<std::string> kCmps = {"==", "!=", "<", "<=", ">", ">="};

// A number a rule compares with: often one a profile takes, so ties are tested.
std::string number_text(Dice& d, int max, bool halves) {
  int n = d.below(max + 1);
  if (halves && d.chance(30)) return std::to_string(n) + ".5";
  return std::to_string(n);
}

std::string set_of(Dice& d, const std::vector<std::string>& values) {
  std::vector<std::string> chosen;
  for (const std::string& v : values)
    if (d.chance(45)) chosen.push_back(v);
  if (chosen.empty()) chosen.push_back(d.pick(values));
  std::string out = "{";
  for (std::size_t i = 0; i < chosen.size(); ++i) out += (i ? ", " : "") + chosen[i];
  return out + "}";
}

// A test on one field of a procs entry (inside any/count).
std::string entry_test(Dice& d, int depth) {
  if (depth < 2 && d.chance(25)) {
    std::string a = entry_test(d, depth + 1), b = entry_test(d, depth + 1);
    return "(" + a + (d.chance(50) ? " and " : " or ") + b + ")";
  }
  switch (d.below(5)) {
    case 0: return "option == " + d.pick(std::vector<std::string>{"o0", "o1", "c3", "c4"});
    case 1: return "kind == " + d.pick(std::vector<std::string>{"trial", "implant"});
    case 2: return "relief " + d.pick(kCmps) + " " + number_text(d, 100, false);
    case 3:
      return "relief in " + number_text(d, 50, false) + ".." + std::to_string(50 + d.below(51));
    default: return "not (kind == trial)";
  }
}

std::string condition(Dice& d, int depth) {
  if (depth < 3 && d.chance(depth == 0 ? 55 : 30)) {
    int parts = 2 + d.below(2);
    std::string joiner = d.chance(55) ? " and " : " or ";
    std::string out = "(";
    for (int i = 0; i < parts; ++i) out += (i ? joiner : "") + condition(d, depth + 1);
    return out + ")";
  }
  if (d.chance(8)) return "not " + condition(d, depth + 1);
  switch (d.below(d.known ? 14 : 13)) {
    case 0: return "f" + std::to_string(d.below(3)) + " == " + (d.chance(60) ? "true" : "false");
    case 1: return "f" + std::to_string(d.below(3));
    case 2: return "age " + d.pick(kCmps) + " " + number_text(d, 100, false);
    case 3: return "age in " + number_text(d, 50, false) + ".." + std::to_string(50 + d.below(60));
    case 4: return "nrs " + d.pick(kCmps) + " " + number_text(d, 10, true);
    case 5: return "nrs in " + number_text(d, 5, true) + "..";
    case 6:
      return "region " + d.pick(std::vector<std::string>{"==", "!="}) + " " + d.pick(kRegions);
    case 7: return "region in " + set_of(d, kRegions);
    case 8: return "devs has " + std::string(d.chance(60) ? "any " : "all ") + set_of(d, kDevices);
    case 9: return "conditions has " + d.pick(kConcepts);
    case 10:
      return "conditions has " + std::string(d.chance(60) ? "any " : "all ") + set_of(d, kConcepts);
    case 11: return "any(procs where " + entry_test(d, 0) + ")";
    case 12:
      return "count(procs" + std::string(d.chance(70) ? " where " + entry_test(d, 0) : "") + ") " +
             d.pick(kCmps) + " " + std::to_string(d.below(4));
    default:
      return "known(" +
             d.pick(std::vector<std::string>{"age", "nrs", "region", "devs", "procs", "conditions",
                                             "f0"}) +
             ")";
  }
}

std::string attributes(Dice& d, const std::string& kind) {
  std::string out;
  if (kind == "indication")
    out += " weight " + std::to_string(d.below(12)) +
           (d.chance(20)   ? ".25"
            : d.chance(10) ? ".1"
                           : "");
  if (kind == "relative_contraindication")
    out += " penalty " + std::to_string(d.below(6)) + (d.chance(15) ? ".5" : "");
  out += d.chance(70) ? " source s1" : " source s2";
  if (d.chance(20))
    out += " tag \"" + d.pick(std::vector<std::string>{"R", "2nd", "EXTRAP"}) + "\"";
  if (kind == "indication" && d.chance(25)) out += " specific";
  return out;
}

const std::vector<std::string> kKinds = {"indication",
                                         "indication",
                                         "indication",
                                         "indication",
                                         "absolute_contraindication",
                                         "relative_contraindication",
                                         "caution",
                                         "prerequisite",
                                         "research_only",
                                         "not_indicated"};

}  // namespace

std::string random_rules(std::mt19937_64& random, bool known) {
  Dice d{random, known};
  std::string text = R"(ruleset "generated" version "1";
source s1 "Source one" doi "10.1/one";
source s2 "Source two";
facts {
  age: int 0..130;
  nrs: number 0..10;
  f0: bool;
  f1: bool;
  f2: bool;
  region: enum {a, b, c, d};
  devs: set of enum {x, y, z};
  conditions: codes {icd10cm, local};
  procs: list {
    option: ident required;
    kind: enum {trial, implant};
    relief: number 0..100;
  };
}
concept c0 "Zero" { icd10cm "G90.5"; }
concept c1 "One" { icd10cm "G90"; }
concept c2 "Two" { icd10cm "M54.1"; local two_name; }
concept c3 "Three" {}
concept c4 "Four" { local four_name; }
valueset v0 "Zero or two" { includes c0, c2; }
valueset v1 "V0, three or B02" { includes v0, c3; icd10cm "B02"; }
)";
  const int options = 2 + d.below(5);
  // The policy.
  std::vector<std::string> keys = {"status",      "score", "invasiveness", "family", "declared",
                                   "specificity", "id"};
  std::shuffle(keys.begin(), keys.end(), random);
  keys.resize(static_cast<std::size_t>(1 + d.below(static_cast<int>(keys.size()))));
  std::string rank;
  for (const std::string& k : keys)
    rank += (rank.empty() ? "" : ", ") + k +
            (d.chance(30) ? (d.chance(50) ? " asc" : " desc") : std::string());
  text += "policy { combine " + std::string(d.chance(50) ? "sum" : "max") +
          "; recommend_min_weight " + std::to_string(d.below(8)) + "; unverified_evidence " +
          (d.chance(50) ? "consider" : "accept") + "; unverified_weight " +
          d.pick(std::vector<std::string>{"1", "0.5", "0.25", "0"}) + "; rank by " + rank + "; }\n";
  int rule = 0;
  for (int o = 0; o < options; ++o) {
    text += "option o" + std::to_string(o) + " \"Option " + std::to_string(o) + "\" {\n";
    text += "  family " + d.pick(std::vector<std::string>{"fa", "fb", "fc"}) + ";\n";
    text += "  invasiveness " +
            d.pick(std::vector<std::string>{"noninvasive", "minimally_invasive", "invasive"}) +
            ";\n";
    const int rules = 1 + d.below(6);
    for (int r = 0; r < rules; ++r) {
      const std::string& kind = d.pick(kKinds);
      text += "  " + kind + " r" + std::to_string(rule++) + " when " + condition(d, 0) +
              attributes(d, kind) + " because \"b\";\n";
    }
    text += "}\n";
  }
  // Rules for several options at once.
  for (int r = d.below(3); r > 0; --r) {
    std::string targets;
    for (int o = 0; o < options; ++o)
      if (d.chance(50))
        targets += (targets.empty() ? "" : ", ") + std::string("o") + std::to_string(o);
    if (targets.empty()) targets = "o0";
    const std::string& kind = d.pick(kKinds);
    text += kind + " r" + std::to_string(rule++) + " for {" + targets + "} when " +
            condition(d, 0) + attributes(d, kind) + " because \"b\";\n";
  }
  return text;
}

std::string random_condition(std::mt19937_64& random, bool known) {
  Dice d{random, known};
  return condition(d, 0);
}

std::string random_profile(std::mt19937_64& random, int id) {
  Dice d{random};
  nlohmann::json p;
  p["id"] = "p" + std::to_string(id);
  if (!d.chance(20)) p["age"] = d.below(101);
  if (!d.chance(20)) p["nrs"] = d.below(21) / 2.0;
  for (const char* flag : {"f0", "f1", "f2"})
    if (!d.chance(20)) p[flag] = d.chance(50);
  if (!d.chance(20)) p["region"] = d.pick(kRegions);
  if (!d.chance(20)) {
    nlohmann::json devs = nlohmann::json::array();
    for (const std::string& v : kDevices)
      if (d.chance(35)) devs.push_back(v);
    p["devs"] = devs;
    if (d.chance(20)) p["devs"] = {{"present", devs}, {"complete", d.chance(25)}};
  }
  if (!d.chance(20)) {
    nlohmann::json conditions = nlohmann::json::array();
    for (int n = d.below(4); n > 0; --n) {
      switch (d.below(9)) {
        case 0: conditions.push_back({{"system", "icd10cm"}, {"code", "G90.511"}}); break;
        case 1: conditions.push_back({{"system", "icd10cm"}, {"code", "G90.1"}}); break;
        case 2: conditions.push_back({{"system", "icd10cm"}, {"code", "M54.16"}}); break;
        case 3: conditions.push_back({{"system", "icd10cm"}, {"code", "B02.29"}}); break;
        case 4:
          conditions.push_back(
              d.pick(std::vector<std::string>{"c3", "c4", "c0", "two_name", "four_name"}));
          break;
        case 5: conditions.push_back({{"display", "a condition of unknown coding"}}); break;
        case 6:  // recorded absent
          conditions.push_back({{"system", "local"},
                                {"code", d.pick(std::vector<std::string>{"c3", "c4"})},
                                {"present", false}});
          break;
        case 7: conditions.push_back({{"system", "icd10cm"}, {"code", "Z99.9"}}); break;
        default: conditions.push_back({{"system", "local"}, {"code", "c2"}}); break;
      }
    }
    p["conditions"] = conditions;
  }
  if (!d.chance(20)) {
    nlohmann::json procs = nlohmann::json::array();
    for (int n = d.below(4); n > 0; --n) {
      nlohmann::json e;
      e["option"] = d.pick(std::vector<std::string>{"o0", "o1", "o2", "c3", "c4", "other"});
      if (!d.chance(25)) e["kind"] = d.chance(50) ? "trial" : "implant";
      if (!d.chance(25)) e["relief"] = d.below(11) * 10;
      procs.push_back(e);
    }
    p["procs"] = procs;
  }
  return p.dump();
}

}  // namespace reference
