// SQLite storage: registry, audit trail, cohort batches. Every statement is
// prepared with bound parameters; every write is a transaction. docs/storage.md
// documents the tables.
#include "stimrank/storage.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "check.hpp"
#include "compiled.hpp"
#include "registry_seam.hpp"
#include "sqlite_statement.hpp"
#include "stimrank/jsonl.hpp"

namespace stimrank {

namespace {

using storage_detail::Statement;

int busy_timeout_ms() {
  const char* text = std::getenv("STIMRANK_DB_BUSY_TIMEOUT_MS");
  if (!text || !*text) return 30000;
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  return *end == '\0' && value >= 0 && value <= 3600000 ? static_cast<int>(value) : 30000;
}

class Database {
 public:
  explicit Database(const std::string& path, bool read_only = false) {
    int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw std::runtime_error("cannot open database `" + path + "`: " + message);
    }
    // Concurrent writers wait instead of failing: 30 s, or STIMRANK_DB_BUSY_TIMEOUT_MS.
    sqlite3_busy_timeout(db_, busy_timeout_ms());
    try {
      if (!read_only) {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=NORMAL");
      }
      exec("PRAGMA foreign_keys=ON");
      if (read_only) recover_if_needed(path);
    } catch (...) {
      // A constructor that throws runs no destructor: close the connection here (a
      // database locked by another writer used to leak it, LeakSanitizer found).
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }
  ~Database() { sqlite3_close(db_); }
  Database(const Database&) = delete;

 private:
  // A writer killed mid-write leaves a hot journal (or a WAL) only a writer may
  // recover: a read-only connection then fails every read with SQLITE_READONLY_*.
  // A read-write connection, opened once, recovers it; the read-only one then reads.
  void recover_if_needed(const std::string& path) {
    auto probe = [this] {
      return sqlite3_exec(db_, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
    };
    if (probe() == SQLITE_OK) return;
    const int code = sqlite3_extended_errcode(db_);
    if (code != SQLITE_READONLY_RECOVERY && code != SQLITE_READONLY_ROLLBACK &&
        code != SQLITE_READONLY_CANTINIT)
      return;  // any other problem shows where the database is read
    sqlite3* writer = nullptr;
    const int opened = sqlite3_open_v2(path.c_str(), &writer, SQLITE_OPEN_READWRITE, nullptr);
    if (opened == SQLITE_OK) {
      sqlite3_busy_timeout(writer, busy_timeout_ms());
      sqlite3_exec(writer, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
    }
    sqlite3_close(writer);
    if (opened != SQLITE_OK || probe() != SQLITE_OK)
      throw std::runtime_error("database `" + path +
                               "` was left mid-write by a process that stopped, and recovering "
                               "it needs write access to it and its folder");
  }

 public:
  Database& operator=(const Database&) = delete;

  void exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : "unknown error";
      sqlite3_free(message);
      throw std::runtime_error("sqlite: " + text);
    }
  }
  Statement prepare(const char* sql) { return Statement(db_, sql); }
  sqlite3* handle() const { return db_; }

  // Opened to read: the table must be there, or this is no database of that kind
  // (nothing was published or recorded in it, or a write was cut off at its start).
  void require_table(const char* table, const std::string& path, const char* what) {
    Statement q(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
    q.bind(1, std::string(table));
    if (!q.step())
      throw std::runtime_error("`" + path + "` holds no " + what + " (no table `" + table + "`)");
  }

 private:
  sqlite3* db_ = nullptr;
};

// A transaction that rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Database& db, const char* begin = "BEGIN IMMEDIATE") : db_(db) {
    db_.exec(begin);
  }
  void commit() {
    db_.exec("COMMIT");
    done_ = true;
  }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  Database& db_;
  bool done_ = false;
};

std::string now_utc() {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t seconds = system_clock::to_time_t(now);
  auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[96];  // room for any int the format could print
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

std::string sha256(std::string_view data) {
  return rules::sha256_hex(data);
}

std::string hmac_sha256(const std::string& key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  return rules::to_hex(digest, length);
}

// Versioned schema: each migration runs once, recorded in schema_migrations.
void migrate(Database& db) {
  static const std::pair<const char*, const char*> migrations[] = {
      {"rule-set registry",
       "CREATE TABLE rulesets (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL,"
       " digest TEXT NOT NULL, published_at TEXT NOT NULL, author TEXT, note TEXT, UNIQUE (name, "
       "version));"
       "CREATE TABLE ruleset_files (ruleset_id INTEGER NOT NULL REFERENCES rulesets(id), path TEXT "
       "NOT NULL,"
       " content TEXT NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (ruleset_id, path));"},
      {"audit trail",
       "CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL,"
       " ruleset_digest TEXT NOT NULL, patient_pseudonym TEXT NOT NULL, profile_digest TEXT NOT "
       "NULL,"
       " result_json TEXT NOT NULL, prev_hash TEXT NOT NULL, record_hash TEXT NOT NULL);"
       "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,"
       " record_hash TEXT NOT NULL);"},
      {"cohort batches",
       "CREATE TABLE IF NOT EXISTS profiles (id TEXT PRIMARY KEY, profile TEXT NOT NULL);"
       "CREATE TABLE results (profile_id TEXT PRIMARY KEY, outcome TEXT NOT NULL CHECK (outcome IN "
       "('ok', 'invalid')),"
       " ruleset_digest TEXT NOT NULL, top_option TEXT, result_json TEXT, error TEXT, evaluated_at "
       "TEXT NOT NULL);"
       "CREATE TABLE batch_summary (ruleset_digest TEXT NOT NULL, option TEXT NOT NULL, status "
       "TEXT NOT NULL,"
       " profiles INTEGER NOT NULL, ranked_first INTEGER NOT NULL, PRIMARY KEY (ruleset_digest, "
       "option, status));"},
      {"what a result row stores",
       "ALTER TABLE results ADD COLUMN stored TEXT NOT NULL DEFAULT 'full'"
       " CHECK (stored IN ('full', 'summary'));"},
  };
  Transaction tx(db);
  db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
      " description TEXT NOT NULL, applied_at TEXT NOT NULL)");
  std::int64_t current = 0;
  {
    Statement q = db.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (q.step()) current = q.integer(0);
  }
  std::int64_t version = 0;
  for (const auto& [description, sql] : migrations) {
    if (++version <= current) continue;
    try {
      db.exec(sql);
    } catch (std::runtime_error const& e) {
      const std::string message = e.what();
      if (message.find("already exists") == std::string::npos) throw;
      // A table of one of our names that another program made: say so, not just
      // SQLite's "table results already exists".
      throw std::runtime_error("cannot add the " + std::string(description) +
                               " tables: " + message +
                               ", made by another program (stimrank keeps its own tables in "
                               "databases it creates or migrates; docs/storage.md)");
    }
    Statement insert = db.prepare(
        "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)");
    insert.bind(1, version).bind(2, description).bind(3, now_utc());
    insert.step();
  }
  tx.commit();
}

// Opening a new database from several processes at once can meet a lock that the
// busy timeout does not cover (switching to WAL needs the file to itself), so the
// open and the migrations are retried, within the busy timeout in all: a lock held
// longer than that is an error, not a wait without end.
std::unique_ptr<Database> open_migrated(const std::string& path) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms());
  for (int attempt = 0;; ++attempt) {
    try {
      auto db = std::make_unique<Database>(path);
      migrate(*db);
      return db;
    } catch (std::runtime_error const& e) {
      std::string message = e.what();
      bool contended =
          message.find("locked") != std::string::npos || message.find("busy") != std::string::npos;
      if (!contended || std::chrono::steady_clock::now() >= deadline)
        throw std::runtime_error(contended ? message + " (another process holds the database)"
                                           : message);
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + attempt % 20));
    }
  }
}

}  // namespace

// ================================================================== registry

PublishOutcome publish_rules(const std::string& db_path, const std::string& rules_path,
                             const std::string& author, const std::string& note) noexcept {
  PublishOutcome out;
  try {
    LoadResult loaded = load_rules(rules_path);
    if (!loaded.ok()) {
      out.error = "the rule set has errors; run `stimrank check --rules " + rules_path + "`:\n" +
                  format_all(loaded.diagnostics);
      return out;
    }
    const auto& model = detail::compiled(*loaded.ruleset).model;
    out.name = model.name;
    out.version = model.version;
    out.digest = model.digest;
    auto db = open_migrated(db_path);
    Transaction tx(*db);
    Statement find = db->prepare("SELECT digest FROM rulesets WHERE name = ? AND version = ?");
    find.bind(1, model.name).bind(2, model.version);
    if (find.step()) {
      if (find.text(0) == model.digest) {
        out.ok = true;
        out.already_published = true;
        return out;
      }
      out.error = "`" + model.name + "` version `" + model.version +
                  "` is already published with different content (" + find.text(0) +
                  "); give the new rules a new version";
      return out;
    }
    Statement insert = db->prepare(
        "INSERT INTO rulesets (name, version, digest, published_at, author, note) VALUES (?, ?, ?, "
        "?, ?, ?)");
    insert.bind(1, model.name).bind(2, model.version).bind(3, model.digest).bind(4, now_utc());
    if (author.empty())
      insert.bind_null(5);
    else
      insert.bind(5, author);
    if (note.empty())
      insert.bind_null(6);
    else
      insert.bind(6, note);
    insert.step();
    std::int64_t id = sqlite3_last_insert_rowid(db->handle());
    Statement file = db->prepare(
        "INSERT INTO ruleset_files (ruleset_id, path, content, position) VALUES (?, ?, ?, ?)");
    std::int64_t position = 0;
    for (const auto& [path, content] : model.files) {
      file.reset();
      file.bind(1, id).bind(2, path).bind(3, content).bind(4, position++);
      file.step();
    }
    tx.commit();
    out.ok = true;
  } catch (std::exception const& e) {
    out.ok = false;
    out.error = e.what();
  }
  return out;
}

namespace {
LoadResult load_rules_from_registry(const std::string& spec, const LoadOptions& options) noexcept;
// load_rules("db:…") reaches the registry through this seam: the core library
// knows nothing of SQLite.
const bool registry_loader_set = (detail::set_registry_loader(&load_rules_from_registry), true);
}  // namespace

std::vector<RegistryEntry> list_rule_versions(const std::string& db_path,
                                              std::string& error) noexcept {
  std::vector<RegistryEntry> out;
  try {
    Database db(db_path, true);
    db.require_table("rulesets", db_path, "published rule set");
    Statement q = db.prepare(
        "SELECT r.name, r.version, r.digest, r.published_at, COALESCE(r.author, ''), "
        "COALESCE(r.note, ''),"
        " (SELECT COUNT(*) FROM ruleset_files f WHERE f.ruleset_id = r.id) FROM rulesets r ORDER "
        "BY r.name, r.id");
    while (q.step())
      out.push_back({q.text(0),
                     q.text(1),
                     q.text(2),
                     q.text(3),
                     q.text(4),
                     q.text(5),
                     static_cast<int>(q.integer(6)),
                     {}});
  } catch (std::exception const& e) {
    error = e.what();
  }
  // Each version as loading would see it: one edited since publishing is flagged.
  for (RegistryEntry& entry : out) {
    LoadResult loaded =
        load_rules_from_registry("db:" + db_path + "#" + entry.name + "@" + entry.version, {});
    if (loaded.ok()) continue;
    for (const Diagnostic& d : loaded.diagnostics)
      if (d.severity == Severity::error) {
        entry.problem = d.code + ": " + d.message;
        break;
      }
  }
  return out;
}

namespace {
// Used by load_rules for "db:FILE#name@version".
LoadResult load_rules_from_registry(const std::string& spec, const LoadOptions& options) noexcept {
  auto fail = [&](std::string message, std::string code = "E105", std::string hint = {}) {
    LoadResult out;
    Diagnostic d;
    d.code = std::move(code);
    d.location.file = spec;
    d.message = std::move(message);
    d.hint = std::move(hint);
    out.diagnostics.push_back(std::move(d));
    return out;
  };
  try {
    std::string rest = spec.substr(3);  // after "db:"
    auto hash = rest.rfind('#');
    if (hash == std::string::npos || hash + 1 >= rest.size())
      return fail(
          "a registry reference is `db:FILE#name@version` (or `db:FILE#name` for the latest)");
    std::string file = rest.substr(0, hash);
    std::string name = rest.substr(hash + 1);
    std::string version;
    if (auto at = name.find('@'); at != std::string::npos) {
      version = name.substr(at + 1);
      name = name.substr(0, at);
    }
    Database db(file, true);
    db.require_table("rulesets", file, "published rule set");
    Statement find = db.prepare(
        version.empty()
            ? "SELECT id, version, digest FROM rulesets WHERE name = ? ORDER BY id DESC LIMIT 1"
            : "SELECT id, version, digest FROM rulesets WHERE name = ? AND version = ?");
    find.bind(1, name);
    if (!version.empty()) find.bind(2, version);
    if (!find.step())
      return fail("no rule set `" + name + "`" +
                  (version.empty() ? "" : " version `" + version + "`") + " in registry `" + file +
                  "`");
    std::int64_t id = find.integer(0);
    const std::string found_version = find.text(1), published = find.text(2);
    Statement files = db.prepare(
        "SELECT path, content FROM ruleset_files WHERE ruleset_id = ? ORDER BY position");
    files.bind(1, id);
    std::vector<std::pair<std::string, std::string>> stored;
    while (files.step()) stored.emplace_back(files.text(0), files.text(1));
    // The files stored must be the files published: a registry edited since (a
    // contraindication changed, a file dropped) is refused, never evaluated under
    // the published name and version. Checked before compiling, so that stored text
    // that no longer compiles is reported as what it is, not as compile errors in
    // text the author never wrote; and after, on the files the compiler read.
    auto altered = [&](const std::string& digest) {
      return fail("rule set `" + name + "` version `" + found_version + "` in registry `" + file +
                      "` is not what was published: its files hash to `" + digest +
                      "`, published as `" + published + "`",
                  "E116",
                  "the registry was changed after publishing; restore it from a copy, or "
                  "publish the rules under a new version");
    };
    if (std::string digest = rules::ruleset_digest(stored); digest != published)
      return altered(digest);
    std::vector<SourceText> sources;
    for (auto& [path, content] : stored) sources.push_back({std::move(path), std::move(content)});
    LoadResult loaded = compile_rules(sources, options);
    if (loaded.ok() && loaded.ruleset->digest() != published)
      return altered(loaded.ruleset->digest());
    return loaded;
  } catch (std::exception const& e) {
    return fail(e.what());
  }
}

}  // namespace

// ================================================================== audit trail

struct AuditLog::Impl {
  std::string key;
  std::unique_ptr<Database> db;
  std::mutex mutex;  // one connection, one writer at a time within the process
  // One record appended to the chain, in its own transaction; its seq in seq_out.
  bool append_record(const std::string& ruleset_digest, const std::string& pseudonym,
                     const std::string& profile_digest, const std::string& result_json,
                     std::string& error, std::int64_t& seq_out) noexcept;
};

AuditLog::AuditLog(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
AuditLog::~AuditLog() = default;

namespace {
// The chained hash covers every field, each prefixed with its length.
std::string record_hash(const std::string& prev, std::int64_t seq, const std::string& at,
                        const std::string& digest, const std::string& pseudonym,
                        const std::string& profile_digest, const std::string& result) {
  std::string data;
  for (const std::string* field : {&prev, &at, &digest, &pseudonym, &profile_digest, &result})
    data += std::to_string(field->size()) + ":" + *field + ";";
  data += std::to_string(seq);
  return sha256(data);
}
const char* const kGenesis = "0000000000000000000000000000000000000000000000000000000000000000";
}  // namespace

std::shared_ptr<AuditLog> AuditLog::open(const std::string& db_path, std::string key,
                                         std::string& error) noexcept {
  try {
    if (key.size() < 16) {
      error = "the audit key must have at least 16 bytes";
      return nullptr;
    }
    auto impl = std::make_unique<Impl>();
    impl->key = std::move(key);
    impl->db = open_migrated(db_path);
    return std::shared_ptr<AuditLog>(new AuditLog(std::move(impl)));
  } catch (std::exception const& e) {
    error = e.what();
    return nullptr;
  }
}

bool AuditLog::append(const Result& result, std::string_view profile_json,
                      std::string& error) noexcept {
  std::int64_t seq = 0;
  return append(result, profile_json, error, seq);
}

bool AuditLog::append(const Result& result, std::string_view profile_json, std::string& error,
                      std::int64_t& seq) noexcept {
  try {
    return impl_->append_record(result.ruleset_digest, hmac_sha256(impl_->key, result.profile),
                                sha256(profile_json), result.to_json(), error, seq);
  } catch (std::exception const& e) {
    error = e.what();
    return false;
  }
}

bool AuditLog::append_feedback(const std::string& ruleset_digest, const std::string& patient,
                               const std::string& card, std::int64_t answers,
                               const std::string& feedback_json, std::string& error,
                               std::int64_t& seq) noexcept {
  try {
    nlohmann::ordered_json record = {{"kind", "feedback"}, {"card", card}};
    record["answers_record"] =
        answers > 0 ? nlohmann::ordered_json(answers) : nlohmann::ordered_json();
    record["feedback"] = nlohmann::ordered_json::parse(feedback_json);
    return impl_->append_record(ruleset_digest, hmac_sha256(impl_->key, patient),
                                sha256(feedback_json), record.dump(), error, seq);
  } catch (std::exception const& e) {
    error = e.what();
    return false;
  }
}

bool AuditLog::Impl::append_record(const std::string& ruleset_digest, const std::string& pseudonym,
                                   const std::string& profile_digest,
                                   const std::string& result_json, std::string& error,
                                   std::int64_t& seq_out) noexcept {
  try {
    std::lock_guard<std::mutex> lock(mutex);
    Database& db = *this->db;
    std::string at = now_utc();
    Transaction tx(db);  // BEGIN IMMEDIATE: writers from other processes wait their turn
    std::int64_t seq = 1;
    std::string prev = kGenesis;
    {
      Statement last =
          db.prepare("SELECT seq, record_hash FROM audit_log ORDER BY seq DESC LIMIT 1");
      if (last.step()) {
        seq = last.integer(0) + 1;
        prev = last.text(1);
      }
    }
    std::string hash =
        record_hash(prev, seq, at, ruleset_digest, pseudonym, profile_digest, result_json);
    Statement insert = db.prepare(
        "INSERT INTO audit_log (seq, recorded_at, ruleset_digest, patient_pseudonym, "
        "profile_digest, result_json,"
        " prev_hash, record_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, seq)
        .bind(2, at)
        .bind(3, ruleset_digest)
        .bind(4, pseudonym)
        .bind(5, profile_digest);
    insert.bind(6, result_json).bind(7, prev).bind(8, hash);
    insert.step();
    Statement head = db.prepare(
        "INSERT INTO audit_head (id, seq, record_hash) VALUES (1, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, record_hash = excluded.record_hash");
    head.bind(1, seq).bind(2, hash);
    head.step();
    tx.commit();
    seq_out = seq;
    return true;
  } catch (std::exception const& e) {
    error = e.what();
    return false;
  }
}

AuditVerification verify_audit(const std::string& db_path) noexcept {
  AuditVerification out;
  try {
    Database db(db_path, true);
    db.require_table("audit_log", db_path, "audit log");
    Statement q = db.prepare(
        "SELECT seq, recorded_at, ruleset_digest, patient_pseudonym, profile_digest, result_json, "
        "prev_hash,"
        " record_hash FROM audit_log ORDER BY seq");
    std::string prev = kGenesis;
    std::int64_t expected_seq = 1;
    while (q.step()) {
      std::int64_t seq = q.integer(0);
      auto broken = [&](std::string why) {
        out.first_broken = seq;
        out.message = "record " + std::to_string(seq) + ": " + why;
      };
      if (seq != expected_seq) {
        out.first_broken = expected_seq;
        out.message = "record " + std::to_string(expected_seq) +
                      " is missing (the next record is " + std::to_string(seq) + ")";
        return out;
      }
      if (q.text(6) != prev) {
        broken("its previous-hash does not match record " + std::to_string(seq - 1));
        return out;
      }
      std::string hash =
          record_hash(prev, seq, q.text(1), q.text(2), q.text(3), q.text(4), q.text(5));
      if (hash != q.text(7)) {
        broken("its content does not match its hash (the record was modified)");
        return out;
      }
      prev = hash;
      ++expected_seq;
      ++out.records;
    }
    Statement head = db.prepare("SELECT seq, record_hash FROM audit_head WHERE id = 1");
    if (head.step()) {
      if (head.integer(0) != out.records || head.text(1) != prev) {
        out.first_broken = out.records + 1;
        out.message = "the log ends at record " + std::to_string(out.records) +
                      " but its head says record " + std::to_string(head.integer(0)) +
                      " (records were deleted at the end)";
        return out;
      }
    } else if (out.records > 0) {
      out.message = "the audit head is missing";
      out.first_broken = 1;
      return out;
    }
    out.ok = true;
    out.message = std::to_string(out.records) + " records, chain intact";
  } catch (std::exception const& e) {
    out.ok = false;
    out.message = e.what();
  }
  return out;
}

// ================================================================== cohort batches

namespace {

// A result as a batch keeps it by default: per option its status, rank, score, the
// leading evidence (scheme and grade) and how many fields are missing; the keys the
// full result has, so batch_summary reads both alike.
std::string result_summary(const Result& result) {
  nlohmann::ordered_json options = nlohmann::ordered_json::array();
  for (const OptionResult& o : result.options) {
    nlohmann::ordered_json option = {
        {"option", o.option},
        {"status", to_string(o.status)},
        {"rank", o.rank ? nlohmann::ordered_json(*o.rank) : nlohmann::ordered_json()},
        {"score", o.score}};
    if (!o.evidence.empty()) {
      std::string grade;
      for (const GradeDimension& d : o.evidence.front().grade)
        grade += (grade.empty() ? "" : ", ") + d.name + " " + d.value;
      option["scheme"] = o.evidence.front().scheme;
      option["grade"] = grade;
    } else {
      option["scheme"] = option["grade"] = nullptr;
    }
    option["missing"] = o.missing.size();
    options.push_back(std::move(option));
  }
  return nlohmann::ordered_json{
      {"profile", result.profile}, {"options", options}, {"warnings", result.warnings.size()}}
      .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

namespace {

// A cohort row's profile, read with sqlite3_blob_* (TEXT or BLOB alike): false when
// it is larger than `limit` bytes, which are then not read. A NULL profile reads as
// "" (the profile reader's error then says it is not JSON).
class ProfileReader {
 public:
  explicit ProfileReader(sqlite3* db) : db_(db) {}
  ~ProfileReader() { sqlite3_blob_close(blob_); }
  ProfileReader(const ProfileReader&) = delete;
  ProfileReader& operator=(const ProfileReader&) = delete;

  bool read(std::int64_t rowid, std::size_t limit, std::string& out) {
    out.clear();
    const int opened =
        blob_ ? sqlite3_blob_reopen(blob_, rowid)
              : sqlite3_blob_open(db_, "main", "profiles", "profile", rowid, 0, &blob_);
    if (opened != SQLITE_OK) {
      // A NULL (or a number) cannot be opened as a blob: read it as a value.
      sqlite3_blob_close(blob_);
      blob_ = nullptr;
      Statement value(db_, "SELECT profile FROM profiles WHERE rowid = ?");
      value.bind(1, rowid);
      if (value.step()) out = value.text(0);
      return out.size() <= limit;
    }
    const auto size = static_cast<std::size_t>(sqlite3_blob_bytes(blob_));
    if (size > limit) return false;
    out.resize(size);
    if (sqlite3_blob_read(blob_, out.data(), static_cast<int>(size), 0) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
    return true;
  }

 private:
  sqlite3* db_;
  sqlite3_blob* blob_ = nullptr;
};

}  // namespace

BatchReport run_batch(const RuleSet& rules, const std::string& db_path,
                      const BatchOptions& options) noexcept {
  BatchReport report;
  try {
    auto db = open_migrated(db_path);
    const std::string& digest = rules.digest();
    {
      Statement counts = db->prepare(
          "SELECT (SELECT COUNT(*) FROM profiles), (SELECT COUNT(*) FROM results),"
          " (SELECT COUNT(*) FROM results WHERE ruleset_digest <> ?)");
      counts.bind(1, digest);
      counts.step();
      report.total = counts.integer(0);
      report.already_done = counts.integer(1);
      if (counts.integer(2) > 0) {
        report.error =
            "this cohort already has results from another rule set; use a fresh `results` table"
            " (DELETE FROM results) to re-run it with these rules";
        return report;
      }
    }
    // Each profile is read through SQLite's incremental I/O: its size first, then the
    // bytes only if it is within the profile size limit. A 300 MB row is refused by
    // its size without being loaded (a SELECT of it would hold it twice).
    const std::size_t limit = detail::compiled(rules).limits.max_profile_bytes;
    {  // The caller made `profiles`: a missing column is said as such.
      Statement columns = db->prepare("SELECT name FROM pragma_table_info('profiles')");
      std::set<std::string> names;
      while (columns.step()) names.insert(columns.text(0));
      for (const char* needed : {"id", "profile"})
        if (!names.count(needed)) {
          report.error = std::string("the `profiles` table has no column `") + needed +
                         "`: it needs id TEXT PRIMARY KEY and profile TEXT (one profile JSON a "
                         "row; docs/storage.md)";
          return report;
        }
    }
    Statement pending = db->prepare(
        "SELECT p.id, p.rowid FROM profiles p LEFT JOIN results r ON r.profile_id = p.id"
        " WHERE r.profile_id IS NULL ORDER BY p.rowid LIMIT ?");
    ProfileReader profile_reader(db->handle());
    if (report.total == 0) {
      report.error =
          "the cohort has no profiles: fill its `profiles` table (id TEXT PRIMARY KEY, profile "
          "TEXT: one profile JSON a row) first; docs/storage.md shows how";
      return report;
    }
    const bool full = options.store == BatchStore::full;
    Statement insert = db->prepare(
        "INSERT INTO results (profile_id, outcome, ruleset_digest, top_option, result_json, error, "
        "evaluated_at, stored)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    // The rule set outlives the call, so it is not owned here.
    const std::shared_ptr<const RuleSet> shared(std::shared_ptr<const RuleSet>{}, &rules);
    std::size_t chunk = std::max<std::size_t>(1, options.chunk);
    auto start = std::chrono::steady_clock::now();
    std::int64_t done = report.already_done;
    for (;;) {
      std::vector<std::string> ids, profiles;
      std::vector<bool> oversized;
      pending.reset();
      pending.bind(1, static_cast<std::int64_t>(chunk));
      while (pending.step()) {
        ids.push_back(pending.text(0));
        profiles.emplace_back();
        oversized.push_back(!profile_reader.read(pending.integer(1), limit, profiles.back()));
      }
      if (ids.empty()) break;
      std::vector<Evaluation> evaluations = evaluate_many(shared, profiles, options.threads);
      if (evaluations.size() != profiles.size()) {
        report.error = "out of memory for a chunk's results; try a smaller `--chunk`";
        return report;
      }
      for (std::size_t i = 0; i < ids.size(); ++i)
        if (oversized[i]) {  // as the profile reader says it
          evaluations[i] = Evaluation{};
          evaluations[i].errors.push_back(
              {"", "the profile is larger than the limit of " + std::to_string(limit) + " bytes"});
        }
      // One transaction per chunk: a kill leaves whole chunks or nothing.
      Transaction tx(*db);
      std::string at = now_utc();
      for (std::size_t i = 0; i < ids.size(); ++i) {
        insert.reset();
        insert.bind(1, ids[i]).bind(3, digest).bind(7, at).bind(8, full ? "full" : "summary");
        const Evaluation& e = evaluations[i];
        if (e.ok()) {
          std::string top;
          for (const auto& o : e.result->options)
            if (o.rank && *o.rank == 1) top = o.option;
          insert.bind(2, "ok")
              .bind(5, full ? e.result->to_json() : result_summary(*e.result))
              .bind_null(6);
          if (top.empty())
            insert.bind_null(4);
          else
            insert.bind(4, top);
        } else {
          std::string message;
          for (const auto& error : e.errors)
            message += (message.empty() ? "" : "; ") + error.format();
          insert.bind(2, "invalid").bind_null(4).bind_null(5).bind(6, message);
          ++report.invalid;
        }
        insert.step();
      }
      tx.commit();
      report.evaluated += static_cast<std::int64_t>(ids.size());
      done += static_cast<std::int64_t>(ids.size());
      if (options.progress) {
        BatchProgress progress;
        progress.total = report.total;
        progress.done = done;
        progress.evaluated_now = report.evaluated;
        progress.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        options.progress(progress);
      }
    }
    // The summary is rebuilt from the results, so it is right however often the run restarted.
    Transaction tx(*db);
    Statement clear = db->prepare("DELETE FROM batch_summary WHERE ruleset_digest = ?");
    clear.bind(1, digest);
    clear.step();
    Statement summary = db->prepare(
        "INSERT INTO batch_summary (ruleset_digest, option, status, profiles, ranked_first)"
        " SELECT r.ruleset_digest, json_extract(o.value, '$.option'), json_extract(o.value, "
        "'$.status'), COUNT(*),"
        " SUM(CASE WHEN json_extract(o.value, '$.rank') = 1 THEN 1 ELSE 0 END)"
        " FROM results r, json_each(r.result_json, '$.options') o"
        " WHERE r.outcome = 'ok' AND r.ruleset_digest = ? GROUP BY 1, 2, 3");
    summary.bind(1, digest);
    summary.step();
    tx.commit();
    report.ok = true;
  } catch (std::exception const& e) {
    report.ok = false;
    report.error = e.what();
  }
  return report;
}

}  // namespace stimrank
