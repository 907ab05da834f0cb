// The result JSON's writers (result.cpp), shared with the explanation renderer,
// which writes results straight from the plan without building a Result.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "stimrank/result.hpp"

namespace stimrank::detail {
void append_json_string(std::string_view text, std::string& out);
// `prefix` (a literal such as `,"title":`) and the quoted string.
void append_json_field(std::string& out, std::string_view prefix, std::string_view text);
void append_json_strings(const std::vector<std::string>& list, std::string& out);
void append_json_number(double value, std::string& out);
void append_reason_json(const Reason& reason, std::string& out);
void append_evidence_json(const Evidence& evidence, std::string& out);
bool valid_utf8(std::string_view text);
}  // namespace stimrank::detail
