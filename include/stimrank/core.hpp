// stimrank's core API, the stable part: load and check a rule set, evaluate
// profiles, read results and diagnostics. Target stimrank::core; no SQLite.
#pragma once

#include "stimrank/diagnostic.hpp"
#include "stimrank/evaluator.hpp"
#include "stimrank/format.hpp"
#include "stimrank/jsonl.hpp"
#include "stimrank/limits.hpp"
#include "stimrank/result.hpp"
#include "stimrank/ruleset.hpp"
#include "stimrank/version.hpp"
