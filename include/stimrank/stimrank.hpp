// The whole public API of stimrank: the core (stimrank/core.hpp) and the tools.
#pragma once

#include "stimrank/core.hpp"
#include "stimrank/explain.hpp"
#include "stimrank/fhir.hpp"
#include "stimrank/impact.hpp"
#include "stimrank/lint.hpp"
#include "stimrank/storage.hpp"
#include "stimrank/tables.hpp"
#include "stimrank/testing.hpp"
