// Must not compile: the core (engine/api) may not see the tools.
#include "markup.hpp"
