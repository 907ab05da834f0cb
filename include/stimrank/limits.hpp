// How much a rule set or a profile may be: larger input is refused with a
// diagnostic or a profile error, never read without bound.
#pragma once

#include <cstddef>

namespace stimrank {

struct Limits {
  std::size_t max_file_bytes = 8u << 20;  // one rule file
  std::size_t max_files = 512;            // files reached through include
  int max_expression_depth = 64;          // nesting of and/or/not/parentheses, lets written out
  std::size_t max_let_nodes = 1u << 20;   // parts that lets add to conditions, written out
  std::size_t max_concept_members = 1u << 23;  // members of all concepts, includes written
                                               // out, each counted with its codes
  std::size_t max_rules = 200000;
  std::size_t max_profile_bytes = 4u << 20;  // one JSON profile
  int max_profile_depth = 32;
  std::size_t max_fhir_bytes = 64u << 20;       // one FHIR Bundle
  std::size_t max_test_file_bytes = 64u << 20;  // one vignette test file
  // Not an error when reached: what evaluate --fhir-bulk's index of the folder holds in
  // memory before it moves to a temporary file.
  std::size_t bulk_index_memory_bytes = 64u << 20;
};

}  // namespace stimrank
