// Random well-typed rule files and profiles for differential testing against the
// reference evaluator (tests/reference/reference.hpp). One fixed `facts` schema
// (flags, an int, a number, an enum, an enum set, a coded list, a list of objects),
// concepts and value sets (hierarchical ICD-10-CM codes, local names, includes);
// random options, rules of every kind with nested and/or/not, comparisons, ranges,
// `in`, set and code tests (any/all), any/count over the list, known(); random
// policies (combine, thresholds, unverified evidence, every ranking key).
#pragma once

#include <random>
#include <string>

namespace reference {

// `known`: whether conditions may test known(field); known() is not monotone in
// the data (it turns false when a field is taken away), so the property that less
// data never hides an exclusion holds only for rules without it.
std::string random_rules(std::mt19937_64& random, bool known = true);
std::string random_profile(std::mt19937_64& random, int id);
// One random condition over the generated schema (for rules added by a test).
std::string random_condition(std::mt19937_64& random, bool known = true);

}  // namespace reference
