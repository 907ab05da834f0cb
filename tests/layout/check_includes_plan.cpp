// Must not compile: the checker (rules/check) may not see the engine's plan.
#include "plan.hpp"
