#include "codes.hpp"

#include "ascii.hpp"

namespace stimrank::rules {

using model::Code;

bool hierarchical(std::string_view system) {
  return system == "icd10" || system == "atc";
}

bool append_code_key(std::string_view system, std::string_view code, std::string& key) {
  std::string_view normal_system = system == "icd10cm" ? std::string_view("icd10") : system;
  const bool tree = hierarchical(normal_system);
  key += normal_system;
  key += '|';
  for (char c : code) {
    if (ascii::is_space(c)) continue;
    if (tree) {
      if (c == '.') continue;
      key += ascii::to_upper(c);
    } else {
      key += c;
    }
  }
  return tree;
}

Code normalise_code(const std::string& system, const std::string& code) {
  std::string key;
  append_code_key(system, code, key);
  std::size_t bar = key.find('|');
  return Code{key.substr(0, bar), key.substr(bar + 1)};
}

}  // namespace stimrank::rules
