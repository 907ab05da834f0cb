// SQLite storage: a rule-set registry, a tamper-evident audit trail, and cohort
// batches that survive being killed. Nothing here throws; failures come back as data.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stimrank/jsonl.hpp"
#include "stimrank/result.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank {

// ---- registry --------------------------------------------------------------
struct PublishOutcome {
  bool ok = false;
  bool already_published = false;  // the same name, version and content: a no-op
  std::string name, version, digest;
  std::string error;  // when !ok
};
// Checks the rule set at `rules_path`, then stores all its files in `db_path`.
[[nodiscard]] PublishOutcome publish_rules(const std::string& db_path,
                                           const std::string& rules_path,
                                           const std::string& author = {},
                                           const std::string& note = {}) noexcept;

struct RegistryEntry {
  std::string name, version, digest, published_at, author, note;
  int files = 0;
  // Empty when the stored files load and hash to `digest`; otherwise why not (E116
  // when they were changed after publishing): such a version is never loaded.
  std::string problem;
};
[[nodiscard]] std::vector<RegistryEntry> list_rule_versions(const std::string& db_path,
                                                            std::string& error) noexcept;
// `load_rules("db:FILE#name@version")` (or `db:FILE#name` for the latest) reads from a registry.

// ---- audit trail -------------------------------------------------------------
// One record per evaluation, chained by SHA-256 so that editing, deleting or
// reordering an earlier record is detected. The patient id is stored only as an
// HMAC-SHA256 under the caller's key; the key is never stored.
class AuditLog : public ResultRecorder {
 public:
  // Opens (creating if needed) the audit database; null and `error` on failure.
  [[nodiscard]] static std::shared_ptr<AuditLog> open(const std::string& db_path, std::string key,
                                                      std::string& error) noexcept;
  // Appends one record, in its own transaction; safe from many threads and processes.
  [[nodiscard]] bool append(const Result& result, std::string_view profile_json,
                            std::string& error) noexcept override;
  // The same, giving the record's sequence number (what feedback will point at).
  [[nodiscard]] bool append(const Result& result, std::string_view profile_json, std::string& error,
                            std::int64_t& seq) noexcept;
  // A clinician's answer to a card (CDS Hooks feedback: accepted or overridden, and
  // why), chained like every record: `answers` is the seq of the evaluation the card
  // came from (0 if unknown), `patient` is pseudonymised as evaluations are.
  [[nodiscard]] bool append_feedback(const std::string& ruleset_digest, const std::string& patient,
                                     const std::string& card, std::int64_t answers,
                                     const std::string& feedback_json, std::string& error,
                                     std::int64_t& seq) noexcept;
  ~AuditLog() override;

 private:
  struct Impl;
  explicit AuditLog(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

struct AuditVerification {
  bool ok = false;
  std::int64_t records = 0;
  std::optional<std::int64_t> first_broken;  // seq of the first record that fails
  std::string message;
};
[[nodiscard]] AuditVerification verify_audit(const std::string& db_path) noexcept;

// ---- cohort batches ----------------------------------------------------------
struct BatchProgress {
  std::int64_t total = 0, done = 0, evaluated_now = 0;
  double seconds = 0;  // since this run started
};
// What a batch keeps per profile: a summary (each option's status, rank and score,
// its leading evidence, how many fields are missing; about 2.5 KB a profile), or the
// full explained result (30-40 KB).
enum class BatchStore { summary, full };

struct BatchOptions {
  unsigned threads = 0;                                // 0 = every core
  std::size_t chunk = 1000;                            // profiles per committed transaction
  BatchStore store = BatchStore::summary;
  std::function<void(const BatchProgress&)> progress;  // called after each chunk
};
struct BatchReport {
  bool ok = false;
  std::int64_t total = 0, already_done = 0, evaluated = 0, invalid = 0;
  std::string error;
};
// Evaluates every profile of table `profiles(id, profile)` that has no row in
// `results` yet, committing chunk by chunk; a killed run resumes where it stopped.
// An empty `profiles` table is an error.
[[nodiscard]] BatchReport run_batch(const RuleSet& rules, const std::string& db_path,
                                    const BatchOptions& options = {}) noexcept;

}  // namespace stimrank
