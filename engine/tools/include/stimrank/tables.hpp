// The evidence tables of a rule set, for review and publication (stimrank table).
#pragma once

#include <string>

#include "stimrank/ruleset.hpp"

namespace stimrank {

enum class TableFormat { markdown, html };
// The evidence tables: options × conditions × grade × source, the contraindications,
// and every option's details (e.g. the SNRS approaches) as rendered from the rules.
[[nodiscard]] std::string render_evidence_tables(const RuleSetInfo& info, TableFormat format);

}  // namespace stimrank
