// The rules stage's entry point: text → AST → checked model, with diagnostics.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model.hpp"
#include "source_file.hpp"
#include "stimrank/diagnostic.hpp"
#include "stimrank/limits.hpp"

namespace stimrank::rules {

// Reads a rule file by the name an include gives (relative to the including file).
// Returns nullopt when there is no such file; sets `canonical` to a stable name.
using FileReader = std::function<std::optional<std::string>(
    const std::string& including_file, const std::string& name, std::string& canonical,
    std::string& error)>;

struct CheckOutput {
  std::optional<model::Model> model;    // set when there were no errors
  std::vector<Diagnostic> diagnostics;  // sorted by file, line, column
};

// Loads the root files and everything they include, parses and checks them.
CheckOutput load_and_check(const std::vector<std::string>& roots, const FileReader& reader,
                           const Limits& limits);

// A rule set's digest, "sha256:" and 64 hex digits: of its files (names relative to
// the rule set's folder, and texts) in load order, as a checked Model records it.
// The registry recomputes it from the files it stores before compiling them.
std::string ruleset_digest(const std::vector<std::pair<std::string, std::string>>& files);

// Bytes as lower-case hex, and the SHA-256 of some data in hex (OpenSSL). The
// registry and the audit trail hash with these too.
std::string to_hex(const unsigned char* data, std::size_t length);
std::string sha256_hex(std::string_view data);

// Parse only: the AST dump of one file, or its diagnostics (golden tests, tools).
std::string parse_to_dump(const std::string& name, const std::string& text, const Limits& limits,
                          std::vector<Diagnostic>& diagnostics);

}  // namespace stimrank::rules
