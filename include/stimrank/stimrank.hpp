// The whole public API of stimrank.
#pragma once

#include "stimrank/diagnostic.hpp"
#include "stimrank/evaluator.hpp"
#include "stimrank/result.hpp"
#include "stimrank/ruleset.hpp"

#define STIMRANK_VERSION "0.1.0"
#include "stimrank/explain.hpp"
#include "stimrank/format.hpp"
#include "stimrank/impact.hpp"
#include "stimrank/lint.hpp"
#include "stimrank/storage.hpp"
#include "stimrank/testing.hpp"
