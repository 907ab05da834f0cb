// Must not compile: the core (engine/api) may not see the storage library.
#include "stimrank/storage.hpp"
