// How load_rules reaches rule sets in a registry ("db:FILE#name@version") without
// the core library depending on SQLite: the storage library, when it is linked,
// installs its loader here (engine/storage/storage.cpp).
#pragma once

#include <string>

#include "stimrank/ruleset.hpp"

namespace stimrank::detail {

using RegistryLoader = LoadResult (*)(const std::string& spec, const LoadOptions& options) noexcept;
void set_registry_loader(RegistryLoader loader) noexcept;

}  // namespace stimrank::detail
