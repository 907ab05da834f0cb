// SQLite storage: registry round trip, audit chain and tamper detection,
// concurrent writers, and batch bookkeeping.
#include <sqlite3.h>
#include <unistd.h>

#include <thread>

#include "helpers.hpp"
#include "stimrank/bulk_index.hpp"
#include "stimrank/storage.hpp"

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("stimrank_storage_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void sql(const std::string& db_path, const std::string& statement) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error);
  INFO((error ? error : ""));
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

std::int64_t count(const std::string& db_path, const std::string& query) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, query.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  std::int64_t value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

const std::string kKey = "a-secret-key-of-at-least-16-bytes";

std::string profile_json(int i) {
  return R"({"id": "patient-)" + std::to_string(i) +
         R"(", "age": 60, "conditions": ["postherpetic_neuralgia"], "devices": []})";
}

}  // namespace

TEST_CASE("registry: publish, no-op republish, version conflicts, load back", "[storage]") {
  TempDir dir;
  std::string db = dir.file("registry.db");
  auto first = stimrank::publish_rules(db, STIMRANK_KNOWLEDGE_DIR, "author", "note");
  INFO(first.error);
  REQUIRE(first.ok);
  CHECK_FALSE(first.already_published);
  auto again = stimrank::publish_rules(db, STIMRANK_KNOWLEDGE_DIR);
  REQUIRE(again.ok);
  CHECK(again.already_published);

  // Same name and version, different content: refused.
  fs::path copy = dir.path / "changed";
  fs::copy(STIMRANK_KNOWLEDGE_DIR, copy, fs::copy_options::recursive);
  testing::write_file(copy / "facts.rules",
                      testing::read_file(copy / "facts.rules") + "// changed\n");
  auto conflict = stimrank::publish_rules(db, copy.string());
  CHECK_FALSE(conflict.ok);
  CHECK(conflict.error.find("already published with different content") != std::string::npos);

  std::string error;
  auto versions = stimrank::list_rule_versions(db, error);
  REQUIRE(error.empty());
  REQUIRE(versions.size() == 1);
  CHECK(versions[0].author == "author");
  CHECK(versions[0].files == 9);
  CHECK(versions[0].problem.empty());

  auto original = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR);
  auto stored = stimrank::load_rules("db:" + db + "#" + first.name + "@" + first.version);
  INFO(stimrank::format_all(stored.diagnostics));
  REQUIRE(stored.ok());
  CHECK(stored.ruleset->digest() == original.ruleset->digest());
  auto latest = stimrank::load_rules("db:" + db + "#" + first.name);
  REQUIRE(latest.ok());
  std::string p = profile_json(1);
  CHECK(stored.ruleset->evaluate_json(p).result->to_json() ==
        original.ruleset->evaluate_json(p).result->to_json());
  auto missing = stimrank::load_rules("db:" + db + "#no_such_rules");
  CHECK_FALSE(missing.ok());
  CHECK(missing.diagnostics[0].code == "E105");
}

// A registry is a file anyone with write access can edit: what it loads must be
// what was published, or nothing.
TEST_CASE("registry: files changed after publishing are refused, not loaded", "[storage]") {
  TempDir dir;
  std::string db = dir.file("registry.db");
  auto published = stimrank::publish_rules(db, STIMRANK_KNOWLEDGE_DIR);
  REQUIRE(published.ok);
  const std::string spec = "db:" + db + "#" + published.name + "@" + published.version;
  REQUIRE(stimrank::load_rules(spec).ok());

  SECTION("a contraindication's text edited") {
    sql(db,
        "UPDATE ruleset_files SET content = replace(content, 'absolute_contraindication', "
        "'relative_contraindication') WHERE path = 'transcranial.rules'");
  }
  SECTION("a file dropped whose rules nothing includes by name") {
    sql(db, "DELETE FROM ruleset_files WHERE path = 'implants.rules'");
    sql(db,
        "UPDATE ruleset_files SET content = replace(content, 'include \"implants.rules\";', '') "
        "WHERE path = 'neuromodulation.rules'");
  }
  // Stored text that no longer compiles is reported as an altered registry (E116),
  // not as compile errors in text the author never wrote.
  SECTION("a file edited so that it no longer parses") {
    sql(db,
        "UPDATE ruleset_files SET content = replace(content, 'absolute_contraindication', "
        "'absolute_contra') WHERE path = 'transcranial.rules'");
  }
  SECTION("a file dropped that another includes") {
    sql(db, "DELETE FROM ruleset_files WHERE path = 'implants.rules'");
  }
  stimrank::LoadResult loaded = stimrank::load_rules(spec);
  INFO(stimrank::format_all(loaded.diagnostics));
  CHECK_FALSE(loaded.ok());
  REQUIRE(loaded.diagnostics.size() == 1);
  const stimrank::Diagnostic& d = loaded.diagnostics[0];
  CHECK(d.code == "E116");
  CHECK(d.message.find("is not what was published: its files hash to `sha256:") !=
        std::string::npos);
  CHECK(d.message.find("published as `" + published.digest + "`") != std::string::npos);
  CHECK(d.hint.find("restore it from a copy") != std::string::npos);

  // The listing says so too, for whoever looks after the registry.
  std::string error;
  auto versions = stimrank::list_rule_versions(db, error);
  REQUIRE(error.empty());
  REQUIRE(versions.size() == 1);
  CHECK(versions[0].problem.rfind("E116: rule set `" + published.name + "` version `", 0) == 0);
}

TEST_CASE("registry: names and versions are data, never SQL", "[storage]") {
  TempDir dir;
  std::string rules = dir.file("odd.rules");
  testing::write_file(
      rules, std::string("ruleset \"x'); DROP TABLE rulesets; --\" version \"1' OR '1'='1\";\n") +
                 "source s \"S\" doi \"10.1/s\";\nfacts { flag: bool; }\n"
                 "option o \"O\" { invasiveness noninvasive;\n"
                 "  indication a when flag weight 1 source s because \"a\"; }\n");
  std::string db = dir.file("registry.db");
  auto outcome = stimrank::publish_rules(db, rules);
  INFO(outcome.error);
  REQUIRE(outcome.ok);
  std::string error;
  auto versions = stimrank::list_rule_versions(db, error);
  REQUIRE(versions.size() == 1);
  CHECK(versions[0].name == "x'); DROP TABLE rulesets; --");
  CHECK(stimrank::load_rules("db:" + db + "#x'); DROP TABLE rulesets; --@1' OR '1'='1").ok());
}

TEST_CASE("audit: records chain, pseudonymise the patient, and verify", "[storage]") {
  TempDir dir;
  std::string db = dir.file("audit.db");
  auto rules = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR).ruleset;
  std::string error;
  CHECK_FALSE(stimrank::AuditLog::open(db, "short", error));
  auto log = stimrank::AuditLog::open(db, kKey, error);
  REQUIRE(log);
  for (int i = 0; i < 10; ++i) {
    std::string p = profile_json(i);
    REQUIRE(log->append(*rules->evaluate_json(p).result, p, error));
  }
  auto verified = stimrank::verify_audit(db);
  CHECK(verified.ok);
  CHECK(verified.records == 10);
  // The patient id is not stored, only its keyed hash.
  CHECK(count(db, "SELECT COUNT(*) FROM audit_log WHERE patient_pseudonym LIKE '%patient%'") == 0);
  CHECK(count(db, "SELECT COUNT(*) FROM audit_log WHERE length(patient_pseudonym) = 64") == 10);
  CHECK(count(db, "SELECT COUNT(DISTINCT patient_pseudonym) FROM audit_log") == 10);

  SECTION("a modified record is named") {
    sql(db,
        "UPDATE audit_log SET result_json = replace(result_json, '\"status\":\"', "
        "'\"status\":\"x') WHERE seq = 4");
    auto v = stimrank::verify_audit(db);
    CHECK_FALSE(v.ok);
    CHECK(v.first_broken == 4);
  }
  SECTION("one changed byte is enough") {
    sql(db,
        "UPDATE audit_log SET patient_pseudonym = 'f' || substr(patient_pseudonym, 2) WHERE seq = "
        "7");
    auto v = stimrank::verify_audit(db);
    CHECK_FALSE(v.ok);
    CHECK(v.first_broken == 7);
  }
  SECTION("a deleted record is named") {
    sql(db, "DELETE FROM audit_log WHERE seq = 5");
    auto v = stimrank::verify_audit(db);
    CHECK_FALSE(v.ok);
    CHECK(v.first_broken == 5);
  }
  SECTION("deleting the last records is detected") {
    sql(db, "DELETE FROM audit_log WHERE seq >= 9");
    auto v = stimrank::verify_audit(db);
    CHECK_FALSE(v.ok);
    CHECK(v.first_broken == 9);
  }
  SECTION("reordered records are detected") {
    sql(db,
        "UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3;"
        " UPDATE audit_log SET seq = 3 WHERE seq = -1");
    auto v = stimrank::verify_audit(db);
    CHECK_FALSE(v.ok);
    CHECK(v.first_broken == 2);
  }
}

TEST_CASE("audit: several writers at once never corrupt the chain", "[storage]") {
  TempDir dir;
  std::string db = dir.file("audit.db");
  auto rules = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR).ruleset;
  constexpr int kWriters = 4, kRecords = 40;
  std::vector<int> failures(kWriters, 0);
  std::vector<std::string> errors(kWriters);  // the last error of each writer
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w)
    writers.emplace_back([&, w] {
      auto slot = static_cast<std::size_t>(w);
      std::string error;
      // One connection each, like separate processes, all opening a new file at once.
      auto log = stimrank::AuditLog::open(db, kKey, error);
      if (!log) {
        ++failures[slot];
        errors[slot] = "open: " + error;
        return;
      }
      for (int i = 0; i < kRecords; ++i) {
        std::string p = profile_json(w * 1000 + i);
        if (!log->append(*rules->evaluate_json(p).result, p, error)) {
          ++failures[slot];
          errors[slot] = "append: " + error;
        }
      }
    });
  for (auto& t : writers) t.join();
  for (std::size_t w = 0; w < failures.size(); ++w) {
    INFO("writer " << w << ": " << errors[w]);
    CHECK(failures[w] == 0);
  }
  auto v = stimrank::verify_audit(db);
  INFO(v.message);
  CHECK(v.ok);
  CHECK(v.records == kWriters * kRecords);
}

TEST_CASE("batch: one result per profile, invalid ones recorded, resumable", "[storage]") {
  TempDir dir;
  std::string db = dir.file("cohort.db");
  sql(db, "CREATE TABLE profiles (id TEXT PRIMARY KEY, profile TEXT NOT NULL)");
  std::string inserts;
  for (int i = 0; i < 50; ++i)
    inserts += "INSERT INTO profiles VALUES ('patient-" + std::to_string(i) + "', '" +
               profile_json(i) + "');";
  inserts += "INSERT INTO profiles VALUES ('bad', '{\"id\": \"bad\", \"age\": \"old\"}');";
  sql(db, inserts);
  auto rules = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR).ruleset;
  stimrank::BatchOptions options;
  options.chunk = 7;
  int calls = 0;
  options.progress = [&](const stimrank::BatchProgress& p) {
    ++calls;
    CHECK(p.total == 51);
  };
  auto report = stimrank::run_batch(*rules, db, options);
  INFO(report.error);
  REQUIRE(report.ok);
  CHECK(report.evaluated == 51);
  CHECK(report.invalid == 1);
  CHECK(calls == 8);
  CHECK(count(db, "SELECT COUNT(*) FROM results") == 51);
  CHECK(
      count(db, "SELECT COUNT(*) FROM results WHERE outcome = 'invalid' AND error LIKE '/age:%'") ==
      1);
  CHECK(count(db, "SELECT SUM(ranked_first) FROM batch_summary") == 50);

  // Lose the last results, as a killed run would; the next run does only those.
  sql(db, "DELETE FROM results WHERE rowid > 30");
  auto resumed = stimrank::run_batch(*rules, db, options);
  REQUIRE(resumed.ok);
  CHECK(resumed.already_done == 30);
  CHECK(resumed.evaluated == 21);
  CHECK(count(db, "SELECT COUNT(*) FROM results") == 51);
  CHECK(count(db, "SELECT COUNT(DISTINCT profile_id) FROM results") == 51);

  // Results from other rules are never mixed in.
  auto other =
      stimrank::compile_rules({{"o.rules", std::string(testing::base_rules()) +
                                               "option o \"O\" { invasiveness noninvasive; }\n"}});
  REQUIRE(other.ok());
  sql(db, "DELETE FROM results WHERE rowid > 40");
  auto mixed = stimrank::run_batch(*other.ruleset, db, options);
  CHECK_FALSE(mixed.ok);
  CHECK(mixed.error.find("another rule set") != std::string::npos);
}

// A row over the profile size limit is refused by its size, as `evaluate` refuses it,
// without being copied out of SQLite; a profile of multi-byte characters is measured
// in bytes; the rows beside it are answered.
TEST_CASE("batch: a row over the profile size limit is an invalid result, said why", "[storage]") {
  TempDir dir;
  std::string db = dir.file("cohort.db");
  sql(db, "CREATE TABLE profiles (id TEXT PRIMARY KEY, profile TEXT)");
  // Stored as a BLOB, a number, NULL: read as SQLite gives them.
  sql(db, "INSERT INTO profiles VALUES ('blob', CAST('" + profile_json(2) + "' AS BLOB));" +
              "INSERT INTO profiles VALUES ('number', 42); INSERT INTO profiles VALUES ('null', "
              "NULL);");
  const std::string big =
      "{\"id\": \"big\", \"age\": 50, \"x\": \"" + std::string(3000, 'a') + "\"}";
  std::string accents;
  for (int i = 0; i < 700; ++i) accents += "\xc3\xa9";  // 700 characters, 1,400 bytes
  sql(db, "INSERT INTO profiles VALUES ('ok', '" + profile_json(1) + "');" +
              "INSERT INTO profiles VALUES ('big', '" + big + "');" +
              "INSERT INTO profiles VALUES ('wide', '{\"id\": \"" + accents + "\"}');");
  stimrank::LoadOptions load;
  load.limits.max_profile_bytes = 1200;
  auto rules = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR, load).ruleset;
  REQUIRE(rules);
  auto report = stimrank::run_batch(*rules, db, {});
  INFO(report.error);
  REQUIRE(report.ok);
  CHECK(report.evaluated == 6);
  CHECK(report.invalid == 4);
  CHECK(count(db,
              "SELECT COUNT(*) FROM results WHERE outcome = 'ok' AND profile_id IN ('ok', "
              "'blob')") == 2);
  CHECK(count(db,
              "SELECT COUNT(*) FROM results WHERE profile_id = 'number' AND error LIKE "
              "'%expected a JSON object%'") == 1);
  CHECK(
      count(db,
            "SELECT COUNT(*) FROM results WHERE outcome = 'invalid' AND error = 'profile: the "
            "profile is larger than the limit of 1200 bytes' AND profile_id IN ('big', 'wide')") ==
      2);
}

// A cohort made by hand: a `profiles` table without the columns, or a table of one
// of stimrank's names that another program made, is said as such.
TEST_CASE("batch: a profiles table of another shape, a foreign results table", "[storage]") {
  TempDir dir;
  auto rules = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR).ruleset;
  REQUIRE(rules);
  const std::string columns = dir.file("columns.db"), foreign = dir.file("foreign.db");
  sql(columns,
      "CREATE TABLE profiles (patient TEXT, json TEXT); INSERT INTO profiles VALUES ('a', '{}')");
  auto report = stimrank::run_batch(*rules, columns, {});
  CHECK_FALSE(report.ok);
  CHECK(report.error ==
        "the `profiles` table has no column `id`: it needs id TEXT PRIMARY KEY and profile TEXT "
        "(one profile JSON a row; docs/storage.md)");
  sql(foreign,
      "CREATE TABLE profiles (id TEXT PRIMARY KEY, profile TEXT); CREATE TABLE results (x TEXT)");
  report = stimrank::run_batch(*rules, foreign, {});
  CHECK_FALSE(report.ok);
  CHECK(report.error.find("cannot add the cohort batches tables: sqlite: table results already "
                          "exists, made by another program") != std::string::npos);
}

TEST_CASE("bulk index: in memory and moved to disk, the same places in the same order",
          "[storage][bulk]") {
  using Place = stimrank::BulkIndex::Place;
  // 3,000 patients, each with lines in three files, added file by file as a bulk
  // folder is read; one patient id with a quote, one empty-looking id.
  auto fill = [](stimrank::BulkIndex& index) {
    for (std::uint32_t file = 0; file < 3; ++file)
      for (std::uint64_t n = 0; n < 3000; ++n)
        REQUIRE(index.add("patient-" + std::to_string(n % 1000) + (n == 7 ? "'\"" : ""),
                          {file, file * 1000000 + n}));
  };
  stimrank::BulkIndex memory, disk(4096);
  fill(memory);
  fill(disk);
  CHECK_FALSE(memory.on_disk());
  CHECK(disk.on_disk());
  std::vector<Place> a, b;
  for (int n = 0; n < 1000; ++n) {
    const std::string patient = "patient-" + std::to_string(n);
    REQUIRE(memory.find(patient, a));
    REQUIRE(disk.find(patient, b));
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].file == b[i].file);
      CHECK(a[i].offset == b[i].offset);
    }
    if (n == 7) CHECK(a.size() == 6);  // n % 1000 == 7 twice per file, minus the quoted one's
    if (n == 8) {
      REQUIRE(a.size() == 9);
      CHECK(a.front().offset == 8);
      CHECK(a.back().offset == 2000000 + 2008);
    }
  }
  REQUIRE(disk.find("patient-7'\"", b));
  CHECK(b.size() == 3);
  REQUIRE(disk.find("nobody", b));
  CHECK(b.empty());
  // Added after a lookup: found too.
  REQUIRE(disk.add("late", {9, 99}));
  REQUIRE(disk.find("late", b));
  REQUIRE(b.size() == 1);
  CHECK(b[0].file == 9);
  CHECK(disk.error().empty());
}

// A temporary folder that cannot be written: tests/cli/fhir_test.sh (SQLite reads
// $SQLITE_TMPDIR once per process).
