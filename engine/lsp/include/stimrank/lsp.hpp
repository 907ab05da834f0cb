// The rule language in an editor: a Language Server Protocol server (JSON-RPC over
// a byte stream, usually stdio) for `.rules` files and vignette test files. See
// docs/editors.md for what it offers and how editors start it (`stimrank lsp`).
#pragma once

#include <iosfwd>
#include <string>

#include "stimrank/limits.hpp"

namespace stimrank {

struct LanguageServerOptions {
  Limits limits;
  int debounce_ms = 150;  // diagnostics wait this long after the last change
  // Messages larger than this are refused (and skipped), never buffered whole.
  std::size_t max_message_bytes = std::size_t{64} << 20;
};

// Serves until the client sends `exit` or the input ends; returns the process exit
// code the protocol asks for (0 after `shutdown`, 1 otherwise). `log` receives one
// line per problem worth a look (malformed messages, internal errors). Never throws.
[[nodiscard]] int run_language_server(std::istream& in, std::ostream& out, std::ostream& log,
                                      const LanguageServerOptions& options) noexcept;

}  // namespace stimrank
