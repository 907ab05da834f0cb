// A CDS Hooks 2.0 service (docs/cds-hooks.md): discovery, patient-view calls with
// prefetched FHIR data, cards with the ranking, an explanation page per card. An
// HTTP/1.1 server (Boost.Beast) an integrator can embed; `stimrank serve` starts it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stimrank/ruleset.hpp"

namespace stimrank {

class AuditLog;

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                        // 0: any free port (reported to on_listening)
  unsigned threads = 0;                   // request threads; 0 = one per core
  std::size_t max_body_bytes = 8u << 20;  // a request body over this is 413
  std::string public_url;                 // base of the links in cards; default http://host:port
  // CDS Hooks bearer tokens: each trusted issuer (`iss`) with the text of its JWKS.
  // With none, the server refuses to start unless allow_unauthenticated.
  std::vector<std::pair<std::string, std::string>> trusted_issuers;
  bool allow_unauthenticated = false;
  AuditLog* audit = nullptr;  // when set, every evaluation and every feedback is recorded
  // Whether data the EHR did not prefetch is fetched from the request's fhirServer.
  bool fetch_from_fhir_server = true;
  std::function<void(int port)> on_listening;        // called once the socket is bound
  std::function<void(const std::string& line)> log;  // one line per request
};

// Serves until `stop` turns true (checked several times a second) or the socket
// fails; then finishes the requests in flight. Returns "" or why it could not serve.
// Never throws.
[[nodiscard]] std::string serve_cds_hooks(std::shared_ptr<const RuleSet> rules,
                                          const ServeOptions& options,
                                          const std::atomic<bool>& stop) noexcept;

// One CDS Hooks service call answered without HTTP (POST /cds-services/{service_id}
// with `body`): for an integrator with an HTTP stack of their own, and for the
// fuzzer. The status and body are what the server would send (200 with cards, or an
// OperationOutcome); bearer tokens are the caller's to check. Never throws.
struct CdsAnswer {
  int status = 500;
  std::string body;
};
[[nodiscard]] CdsAnswer answer_cds_call(std::shared_ptr<const RuleSet> rules,
                                        const ServeOptions& options, const std::string& service_id,
                                        const std::string& body) noexcept;

}  // namespace stimrank
