// Codes (ICD-10, SNOMED CT, ATC, RxNorm, local) in the one normal form that the
// checker, the plan and the profile reader compare them in.
#pragma once

#include <string>
#include <string_view>

#include "model.hpp"

namespace stimrank::rules {

// ICD-10 and ATC are hierarchies: a code contains the codes it prefixes.
bool hierarchical(std::string_view system);
// Appends "system|CODE" to `key` (ICD-10-CM shares ICD-10's namespace; hierarchical
// systems drop dots, spaces and case); returns whether the system is hierarchical.
bool append_code_key(std::string_view system, std::string_view code, std::string& key);
model::Code normalise_code(const std::string& system, const std::string& code);

}  // namespace stimrank::rules
