// The stimrank command line: a thin layer over the public API.
#include <malloc.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bounded_read.hpp"
#include "commands.hpp"
#include "stimrank/bulk_index.hpp"
#include "stimrank/lsp.hpp"
#include "stimrank/reports.hpp"
#include "stimrank/serve.hpp"
#include "stimrank/stimrank.hpp"
#include "stimrank/version.hpp"
#include "utf8.hpp"

namespace {

constexpr int kOk = 0, kInputError = 1, kUsage = 2;

// The command being run, for usage errors' pointer to its help.
std::string current_command;  // NOLINT: set once, in run()

// A usage error: one line saying what is wrong, one saying where help is.
int usage_error(const std::string& message) {
  std::cerr << "stimrank: " << message << "\n"
            << "Run `stimrank " << (current_command.empty() ? "" : current_command + " ")
            << "--help` for usage.\n";
  return kUsage;
}

struct Args {
  std::string command, rules, format, input, db, author, note, audit, audit_key_file, subcommand;
  std::size_t chunk = 1000;
  stimrank::Limits limits;                     // --limit NAME=VALUE
  std::string host = "127.0.0.1", public_url;  // serve
  int port = 8080;
  bool allow_unauthenticated = false;
  std::vector<std::string> issuers, jwks_files;  // serve: --issuer ISS --jwks FILE, in pairs
  std::vector<std::string> inputs;               // every positional argument
  std::vector<std::string> disabled;
  std::string cohort;
  std::size_t max_changes = stimrank::ImpactOptions{}.max_listed_changes;  // diff
  double min_percent = -1;
  bool list = false, check_only = false, show_diff = false, header = false;
  std::string option;             // explain --option
  int debounce_ms = 150;          // lsp --debounce
  std::string store = "summary";  // batch --store
  bool jsonl = false, pretty = false, have_input = false, html = false;
  unsigned threads = 0;
  std::string stats;       // evaluate --jsonl: where to write its timings
  bool fhir = false;       // evaluate --fhir: the input is a FHIR Bundle
  bool fhir_bulk = false;  // evaluate --fhir-bulk: a folder of a bulk export's NDJSON
  std::string as_of, patient, report;
};

// Taken during static initialisation, before main: `--stats` counts start-up as
// part of getting the rules ready.
const auto kProcessStart = std::chrono::steady_clock::now();

// Reads a file (or stdin for "-"), at most `limit` + 1 bytes: enough for the
// reader to say the input is over its limit, never all of /dev/zero.
bool read_all(const std::string& path, std::string& out, std::size_t limit) {
  errno = 0;  // unreadable() says why from it
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return false;
    in = &file;
  }
  return stimrank::read_bounded(*in, out, limit);
}

// --limit NAME=VALUE: the resource limits, each with a safe default (Limits).
bool set_limit(stimrank::Limits& limits, const std::string& setting) {
  auto equals = setting.find('=');
  if (equals == std::string::npos) return false;
  std::string name = setting.substr(0, equals), text = setting.substr(equals + 1);
  if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const auto value = std::stoull(text);
  if (value < 1) return false;
  auto as_int = [&](int& out) {
    if (value > 100000) return false;
    out = static_cast<int>(value);
    return true;
  };
  if (name == "rule-file-bytes")
    limits.max_file_bytes = value;
  else if (name == "rule-files")
    limits.max_files = value;
  else if (name == "expression-depth")
    return as_int(limits.max_expression_depth);
  else if (name == "rules")
    limits.max_rules = value;
  else if (name == "let-nodes")
    limits.max_let_nodes = value;
  else if (name == "concept-members")
    limits.max_concept_members = value;
  else if (name == "profile-bytes")
    limits.max_profile_bytes = value;
  else if (name == "profile-depth")
    return as_int(limits.max_profile_depth);
  else if (name == "fhir-bytes")
    limits.max_fhir_bytes = value;
  else if (name == "test-file-bytes")
    limits.max_test_file_bytes = value;
  else if (name == "bulk-index-bytes")
    limits.bulk_index_memory_bytes = value;
  else
    return false;
  return true;
}

// "cannot read `PATH`: why", after read_all failed on it.
std::string unreadable(const std::string& path) {
  const int error = errno;  // before the look at the path sets its own
  std::error_code ec;
  const char* why = std::filesystem::is_directory(path, ec) ? "it is a folder"
                    : error                                 ? std::strerror(error)
                                                            : nullptr;
  return "cannot read `" + path + "`" + (why ? std::string(": ") + why : std::string());
}

// The command's input (a file or `-`), read up to `limit` bytes and one more; false
// after saying why not.
bool read_input(const Args& args, std::size_t limit, std::string& text) {
  if (read_all(args.input, text, limit)) return true;
  std::cerr << "stimrank: " << unreadable(args.input) << "\n";
  return false;
}

// Colour for diagnostics on a terminal, never with NO_COLOR (no-color.org).
bool colour_on(int fd) {
  const char* no_colour = std::getenv("NO_COLOR");
  return isatty(fd) && !(no_colour && *no_colour) && std::getenv("TERM") &&
         std::string(std::getenv("TERM")) != "dumb";
}

// `file:1:2: error[E012]: …` with the severity coloured, when colour is on.
std::string coloured(const stimrank::Diagnostic& d, bool colour) {
  std::string text = d.format();
  if (!colour) return text;
  const std::string word = stimrank::to_string(d.severity);
  const char* code = d.severity == stimrank::Severity::error     ? "\033[1;31m"
                     : d.severity == stimrank::Severity::warning ? "\033[1;33m"
                                                                 : "\033[1;36m";
  if (auto at = text.find(word + "["); at != std::string::npos) {
    auto end = text.find("]:", at);
    if (end != std::string::npos) {
      text.insert(end + 1, "\033[0m");
      text.insert(at, code);
    }
  }
  return text;
}

// The rule set an authoring command works on: --rules, else the .rules files of the
// current folder (said on stderr: the author should know which rule set answered),
// else $STIMRANK_RULES or the shipped knowledge base.
std::string rules_path(const Args& args) {
  if (!args.rules.empty()) return args.rules;
  // Only for authoring: what evaluates patients (evaluate, batch, serve, from-fhir,
  // publish) never picks up rule files because of the folder it was started in.
  static const std::set<std::string> authoring = {"check", "lint",  "test",   "coverage",
                                                  "fmt",   "table", "schema", "explain"};
  if (!authoring.count(args.command)) return stimrank::default_rules_path();
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(".", ec))
    if (entry.path().extension() == ".rules" && entry.is_regular_file(ec)) {
      static bool said = false;
      if (!said) std::cerr << "stimrank: using the rule files of the current folder\n";
      said = true;
      return ".";
    }
  return stimrank::default_rules_path();
}

// The rule set, or null after reporting its errors. In a machine format (json,
// sarif) the diagnostics go to stdout as data instead of to stderr as text.
std::shared_ptr<const stimrank::RuleSet> load(
    const Args& args, bool print_warnings, std::vector<stimrank::Diagnostic>* collect = nullptr) {
  std::string path = rules_path(args);
  stimrank::LoadResult loaded = stimrank::load_rules(path, stimrank::LoadOptions{args.limits, {}});
  if (collect) {
    *collect = loaded.diagnostics;
    return loaded.ruleset;
  }
  const bool colour = colour_on(STDERR_FILENO);
  for (const stimrank::Diagnostic& d : loaded.diagnostics)
    if (d.severity == stimrank::Severity::error || print_warnings) std::cerr << coloured(d, colour);
  if (!loaded.ok()) {
    std::size_t errors =
        std::count_if(loaded.diagnostics.begin(), loaded.diagnostics.end(),
                      [](const auto& d) { return d.severity == stimrank::Severity::error; });
    std::cerr << "stimrank: the rule set `" << path << "` has " << errors
              << (errors == 1 ? " error\n" : " errors\n");
  }
  return loaded.ruleset;
}

// Diagnostics as data (--format json or sarif), on stdout.
void print_diagnostics(const Args& args, const std::vector<stimrank::Diagnostic>& diagnostics) {
  std::cout << (args.format == "sarif" ? stimrank::diagnostics_sarif(diagnostics, STIMRANK_VERSION)
                                       : stimrank::diagnostics_json(diagnostics));
}

bool machine_format(const Args& args) {
  return args.format == "json" || args.format == "sarif";
}

// {"errors": [{"path", "message"}, …]}: one input's errors as data.
std::string error_object(const std::vector<stimrank::ProfileError>& errors) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& e : errors) list.push_back({{"path", e.path}, {"message", e.message}});
  return nlohmann::ordered_json{{"errors", list}}.dump(
      -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

int schema(const Args& args) {
  auto ruleset = load(args, false);
  if (!ruleset) return kInputError;
  std::cout << stimrank::profile_schema_json(*ruleset);
  return kOk;
}

int table(const Args& args) {
  auto ruleset = load(args, false);
  if (!ruleset) return kInputError;
  if (args.format == "json") {
    std::cout << stimrank::ruleset_info_json(ruleset->describe());
    return kOk;
  }
  std::cout << stimrank::render_evidence_tables(
      ruleset->describe(),
      args.format == "html" ? stimrank::TableFormat::html : stimrank::TableFormat::markdown);
  return kOk;
}

int publish(const Args& args) {
  std::string path = rules_path(args);
  stimrank::PublishOutcome outcome = stimrank::publish_rules(args.db, path, args.author, args.note);
  if (!outcome.ok) {
    std::cerr << "stimrank: cannot publish: " << outcome.error << "\n";
    return kInputError;
  }
  if (args.format == "json") {
    std::cout << nlohmann::ordered_json{{"name", outcome.name},
                                        {"version", outcome.version},
                                        {"digest", outcome.digest},
                                        {"already_published", outcome.already_published}}
                     .dump()
              << "\n";
    return kOk;
  }
  std::cout << (outcome.already_published ? "already published: " : "published: ") << outcome.name
            << " " << outcome.version << " " << outcome.digest << "\n";
  return kOk;
}

int versions(const Args& args) {
  std::string error;
  auto entries = stimrank::list_rule_versions(args.db, error);
  if (!error.empty()) {
    std::cerr << "stimrank: " << error << "\n";
    return kInputError;
  }
  int broken = 0;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  if (args.format == "text") std::cout << "name\tversion\tdigest\tpublished\tfiles\tauthor\tnote\n";
  for (const auto& e : entries) {
    if (args.format == "json")
      list.push_back({{"name", e.name},
                      {"version", e.version},
                      {"digest", e.digest},
                      {"published_at", e.published_at},
                      {"files", e.files},
                      {"author", e.author},
                      {"note", e.note},
                      {"problem", e.problem}});
    else
      std::cout << e.name << "\t" << e.version << "\t" << e.digest << "\t" << e.published_at << "\t"
                << e.files << "\t" << e.author << "\t" << e.note << "\n";
    if (!e.problem.empty()) {
      std::cerr << "stimrank: " << e.name << " " << e.version << " cannot be loaded: " << e.problem
                << "\n";
      ++broken;
    }
  }
  if (args.format == "json")
    std::cout << list.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  return broken ? kInputError : kOk;
}

int audit_verify(const Args& args) {
  stimrank::AuditVerification v = stimrank::verify_audit(args.db);
  if (args.format == "json") {
    std::cout << nlohmann::ordered_json{{"ok", v.ok},
                                        {"records", v.records},
                                        {"first_broken",
                                         v.first_broken ? nlohmann::ordered_json(*v.first_broken)
                                                        : nlohmann::ordered_json()},
                                        {"message", v.message}}
                     .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
              << "\n";
    if (!v.ok)
      std::cerr << "stimrank: audit log `" << args.db << "` is broken: " << v.message << "\n";
    return v.ok ? kOk : kInputError;
  }
  if (!v.ok) {
    std::cerr << "stimrank: audit log `" << args.db << "` is broken: " << v.message << "\n";
    if (v.first_broken) std::cout << "first broken record: " << *v.first_broken << "\n";
    return kInputError;
  }
  std::cout << "ok: " << v.message << "\n";
  return kOk;
}

int batch(const Args& args) {
  auto ruleset = load(args, false);
  if (!ruleset) return kInputError;
  stimrank::BatchOptions options;
  options.threads = args.threads;
  options.chunk = args.chunk;
  options.store = args.store == "full" ? stimrank::BatchStore::full : stimrank::BatchStore::summary;
  bool tty = isatty(STDERR_FILENO) != 0;
  options.progress = [tty](const stimrank::BatchProgress& p) {
    double rate = p.seconds > 0 ? static_cast<double>(p.evaluated_now) / p.seconds : 0;
    double eta = rate > 0 ? static_cast<double>(p.total - p.done) / rate : 0;
    char line[160];
    if (tty) {
      int width = 30;
      int filled = p.total ? static_cast<int>(width * p.done / p.total) : width;
      std::string bar(static_cast<std::size_t>(filled), '=');
      bar += std::string(static_cast<std::size_t>(width - filled), ' ');
      std::snprintf(line, sizeof line, "\r[%s] %lld/%lld profiles  %.0f/s  ETA %.0fs ", bar.c_str(),
                    static_cast<long long>(p.done), static_cast<long long>(p.total), rate, eta);
    } else {
      std::snprintf(line, sizeof line, "progress: %lld/%lld profiles, %.0f/s, ETA %.0fs\n",
                    static_cast<long long>(p.done), static_cast<long long>(p.total), rate, eta);
    }
    std::cerr << line << std::flush;
  };
  stimrank::BatchReport report = stimrank::run_batch(*ruleset, args.db, options);
  if (tty) std::cerr << "\n";
  if (!report.ok) {
    std::cerr << "stimrank: batch failed: " << report.error << "\n";
    return kInputError;
  }
  if (args.format == "json") {
    std::cout << nlohmann::ordered_json{{"total", report.total},
                                        {"already_done", report.already_done},
                                        {"evaluated", report.evaluated},
                                        {"invalid", report.invalid}}
                     .dump()
              << "\n";
    return kOk;
  }
  std::cout << "done: " << report.total << " profiles (" << report.already_done << " already done, "
            << report.evaluated << " evaluated now, " << report.invalid
            << " invalid in this run)\n";
  return kOk;
}

// Files as given, and each folder's files with `extension`, in name order.
std::vector<std::string> expand_paths(const std::vector<std::string>& roots,
                                      const char* extension) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      files.push_back(root);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator(root, ec))
      if (entry.path().extension() == extension) found.push_back(entry.path().string());
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

// Test files: the paths given (files, or folders of *.json), or the rule set's tests/.
std::vector<std::string> test_files(const Args& args) {
  namespace fs = std::filesystem;
  std::vector<std::string> roots = args.inputs;
  if (roots.empty()) {
    fs::path rules = rules_path(args);
    roots.push_back(((fs::is_directory(rules) ? rules : rules.parent_path()) / "tests").string());
  }
  return expand_paths(roots, ".json");
}

stimrank::TestReport run_all_tests(const Args& args, const stimrank::RuleSet& ruleset) {
  stimrank::TestReport total;
  if (args.inputs.empty()) {  // the rule set's tests/ folder: say where it was looked for
    namespace fs = std::filesystem;
    fs::path rules = rules_path(args);
    fs::path folder = (fs::is_directory(rules) ? rules : rules.parent_path()) / "tests";
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) {
      total.errors.push_back("no test files given, and the rule set has no `" + folder.string() +
                             "` folder: name test files or folders (stimrank test --rules " +
                             rules.string() + " TESTS.json|DIR)");
      return total;
    }
  }
  for (const std::string& file : test_files(args)) {
    stimrank::TestReport report = stimrank::run_test_file(ruleset, file, args.limits);
    total.passed += report.passed;
    total.failed += report.failed;
    total.errors.insert(total.errors.end(), report.errors.begin(), report.errors.end());
    for (auto& c : report.cases) total.cases.push_back(std::move(c));
  }
  if (total.cases.empty() && total.errors.empty()) total.errors.push_back("no test cases found");
  return total;
}

int coverage(const Args& args) {
  auto ruleset = load(args, false);
  if (!ruleset) return kInputError;
  stimrank::TestReport report = run_all_tests(args, *ruleset);
  for (const auto& e : report.errors) std::cerr << "stimrank: " << e << "\n";
  stimrank::CoverageReport c = stimrank::rule_coverage(*ruleset, report);
  std::cout << (args.format == "lcov"   ? stimrank::coverage_lcov(c)
                : args.format == "json" ? stimrank::coverage_json(c)
                                        : stimrank::coverage_markdown(c));
  if (!report.errors.empty()) return kInputError;
  if (args.min_percent >= 0 && c.percent < args.min_percent) {
    std::fprintf(stderr, "stimrank: rule coverage %.1f%% is below the minimum of %.1f%%\n",
                 c.percent, args.min_percent);
    return kInputError;
  }
  return kOk;
}

int run_tests(const Args& args) {
  auto ruleset = load(args, false);
  if (!ruleset) return kInputError;
  stimrank::TestReport total = run_all_tests(args, *ruleset);
  if (args.format == "junit") {
    std::cout << stimrank::junit_xml(total);
  } else if (args.format == "json") {
    std::cout << stimrank::test_report_json(total);
  } else {
    // Names and messages come from the test files: no control character reaches
    // the terminal.
    using stimrank::utf8::printable;
    for (const auto& c : total.cases) {
      if (c.passed) continue;
      std::cout << "FAIL " << printable(c.file) << ": " << printable(c.name)
                << (c.why.empty() ? "" : " — " + printable(c.why)) << "\n";
      for (const auto& p : c.problems) std::cout << "  - " << printable(p) << "\n";
      std::cout << "  ranking: " << (c.ranking.empty() ? "(none)" : c.ranking) << "\n";
      if (!c.fired_rules.empty()) {
        std::cout << "  rules that fired:";
        for (const auto& r : c.fired_rules) std::cout << "\n    " << r;
        std::cout << "\n";
      }
    }
    for (const auto& e : total.errors) std::cout << "ERROR " << printable(e) << "\n";
    std::cout << total.passed << " passed, " << total.failed << " failed"
              << (total.errors.empty() ? ""
                  : total.errors.size() == 1
                      ? ", 1 error"
                      : ", " + std::to_string(total.errors.size()) + " errors")
              << "\n";
  }
  return total.failed == 0 && total.errors.empty() ? kOk : kInputError;
}

int lint(const Args& args) {
  if (args.list) {
    if (args.format == "text") {
      for (const auto& c : stimrank::lint_checks())
        std::cout << c.code << "  " << c.name << "  " << c.description << "\n";
    } else {
      nlohmann::ordered_json list = nlohmann::ordered_json::array();
      for (const auto& c : stimrank::lint_checks())
        list.push_back({{"code", c.code}, {"name", c.name}, {"description", c.description}});
      std::cout << list.dump(2) << "\n";
    }
    return kOk;
  }
  std::vector<stimrank::Diagnostic> diagnostics;
  auto ruleset = load(args, false, machine_format(args) ? &diagnostics : nullptr);
  if (!ruleset) {
    if (machine_format(args)) print_diagnostics(args, diagnostics);
    return kInputError;
  }
  stimrank::LintOptions options;
  options.disabled = args.disabled;
  auto warnings = stimrank::lint_rules(*ruleset, options);
  if (machine_format(args)) {
    print_diagnostics(args, warnings);
    return warnings.empty() ? kOk : kInputError;
  }
  const bool colour = colour_on(STDERR_FILENO);
  for (const auto& w : warnings) std::cerr << coloured(w, colour);
  std::cout << warnings.size() << (warnings.size() == 1 ? " warning\n" : " warnings\n");
  return warnings.empty() ? kOk : kInputError;
}

int explain(const Args& args) {
  auto ruleset = load(args, false);
  if (!ruleset) return kInputError;
  std::string text;
  if (!read_input(args, args.limits.max_profile_bytes, text)) return kInputError;
  stimrank::ExplainReport report = stimrank::explain_profile(*ruleset, text, args.option);
  if (!report.ok) {
    for (const auto& e : report.errors) std::cerr << args.input << ": " << e.format() << "\n";
    if (args.format == "json") std::cout << error_object(report.errors) << "\n";
    return kInputError;
  }
  if (args.format == "json") {
    nlohmann::ordered_json out = {
        {"option",
         args.option.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(args.option)},
        {"result", nlohmann::ordered_json::parse(report.result_json)},
        {"explanation", report.text}};
    std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    return kOk;
  }
  std::cout << report.text;
  return kOk;
}

// Writes `text` to a temporary file beside `path`, then renames it over `path`: a
// failed write (read-only folder, full disk) leaves the original whole. A symbolic
// link's target is replaced (the link stays); a FIFO or a device is written to in
// place. "" on success, otherwise why not.
std::string replace_file(const std::string& path_given, const std::string& text) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path path = path_given;
  if (fs::is_symlink(fs::symlink_status(path_given, error))) {
    // A symbolic link is followed: the file it names is replaced, and the link kept.
    path = fs::canonical(path_given, error);
    if (error) return error.message();  // a link to nowhere
  }
  const fs::file_status status = fs::status(path, error);
  if (fs::exists(status) && !fs::is_regular_file(status) && !fs::is_directory(status)) {
    // A FIFO or a device (/dev/stdout, /dev/full) is written to, never replaced.
    std::ofstream out(path, std::ios::binary);
    if (!out) return std::strerror(errno);
    out << text;
    out.flush();
    return out ? std::string() : std::strerror(errno);
  }
  const std::string temporary = path.string() + ".stimrank-fmt.tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return std::strerror(errno);
    out << text;
    out.flush();
    if (!out) {
      std::string why = std::strerror(errno);
      std::error_code ignored;
      fs::remove(temporary, ignored);
      return why;
    }
  }
  // The file's own permissions kept; a new file keeps the temporary's (the umask's).
  // (A file that does not exist has perms::unknown, every bit: never applied.)
  if (fs::is_regular_file(status)) fs::permissions(temporary, status.permissions(), error);
  fs::rename(temporary, path, error);
  if (error) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    return error.message();
  }
  return {};
}

// A unified diff of `before` and `after` by diffutils' `diff -u` (an essential
// Debian package), labelled with `name`; "" when they are equal or diff is missing.
std::string unified_diff(const std::string& name, const std::string& before,
                         const std::string& after) {
  namespace fs = std::filesystem;
  char folder_template[] = "/tmp/stimrank-fmt-XXXXXX";
  const char* folder = mkdtemp(folder_template);
  if (!folder) return {};
  const std::string old_path = std::string(folder) + "/old",
                    new_path = std::string(folder) + "/new";
  std::ofstream(old_path, std::ios::binary) << before;
  std::ofstream(new_path, std::ios::binary) << after;
  std::string command = "diff -u --label 'a/" + name + "' --label 'b/" + name + "' '" + old_path +
                        "' '" + new_path + "'";
  std::string out;
  bool quoted = name.find('\'') == std::string::npos;
  if (FILE* pipe = quoted ? popen(command.c_str(), "r") : nullptr) {
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
      out.append(buffer, n);
    pclose(pipe);
  }
  std::error_code ignored;
  fs::remove_all(folder, ignored);
  return out;
}

int fmt(const Args& args) {
  namespace fs = std::filesystem;
  // `-`: stdin to stdout (an editor's format-on-save), or checked with --check.
  if (args.inputs.size() == 1 && args.inputs[0] == "-") {
    std::string text;
    if (!read_all("-", text, args.limits.max_file_bytes) ||
        text.size() > args.limits.max_file_bytes) {
      std::cerr << "stimrank: cannot read stdin, or it is larger than the limit of "
                << args.limits.max_file_bytes << " bytes for a rule file\n";
      return kInputError;
    }
    stimrank::FormatResult result = stimrank::format_rules("<stdin>", text);
    if (!result.ok) {
      std::cerr << stimrank::format_all(result.diagnostics);
      return kInputError;
    }
    if (!args.check_only) {
      std::cout << result.text;
      return kOk;
    }
    if (args.show_diff) std::cout << unified_diff("<stdin>", text, result.text);
    return result.text == text ? kOk : kInputError;
  }
  for (const std::string& input : args.inputs)
    if (input == "-") return usage_error("`-` (stdin) cannot be mixed with files");
  std::vector<std::string> roots = args.inputs;
  if (roots.empty()) roots.push_back(rules_path(args));
  std::vector<std::string> files = expand_paths(roots, ".rules");
  int unformatted = 0, failed = 0;
  for (const std::string& file : files) {
    std::string text;
    if (!read_all(file, text, args.limits.max_file_bytes)) {
      std::cerr << "stimrank: " << unreadable(file) << "\n";
      ++failed;
      continue;
    }
    if (text.size() > args.limits.max_file_bytes) {
      std::cerr << "stimrank: `" << file << "` is larger than the limit of "
                << args.limits.max_file_bytes << " bytes for a rule file; not formatted\n";
      ++failed;
      continue;
    }
    stimrank::FormatResult result = stimrank::format_rules(file, text);
    if (!result.ok) {
      std::cerr << stimrank::format_all(result.diagnostics);
      ++failed;
      continue;
    }
    if (result.text == text) continue;
    ++unformatted;
    if (args.show_diff) {
      std::cout << unified_diff(file, text, result.text);
    } else if (args.check_only) {
      std::cout << "would reformat " << file << "\n";
    } else {
      std::string problem = replace_file(file, result.text);
      if (!problem.empty()) {
        std::cerr << "stimrank: cannot write `" << file << "`: " << problem
                  << " (the file is unchanged)\n";
        ++failed;
        continue;
      }
      std::cout << "formatted " << file << "\n";
    }
  }
  if (failed) return kInputError;
  return args.check_only && unformatted ? kInputError : kOk;
}

int check(const Args& args) {
  if (machine_format(args)) {
    std::vector<stimrank::Diagnostic> diagnostics;
    auto ruleset = load(args, true, &diagnostics);
    print_diagnostics(args, diagnostics);
    return ruleset ? kOk : kInputError;
  }
  auto ruleset = load(args, true);
  if (!ruleset) return kInputError;
  const std::size_t options = ruleset->option_ids().size(), warnings = ruleset->warnings().size();
  std::cout << "ok: " << ruleset->name() << " " << ruleset->version() << ", " << options
            << (options == 1 ? " option, " : " options, ") << warnings
            << (warnings == 1 ? " warning, " : " warnings, ") << ruleset->digest() << "\n";
  return kOk;
}

// The audit log, when --audit is given; the key comes from the caller only.
std::shared_ptr<stimrank::AuditLog> open_audit(const Args& args, bool& failed) {
  failed = false;
  if (args.audit.empty()) return nullptr;
  std::string key;
  if (!args.audit_key_file.empty()) {
    if (!read_all(args.audit_key_file, key, 1 << 20) || key.size() > (1 << 20)) {
      std::cerr << "stimrank: cannot read the audit key file `" << args.audit_key_file
                << "` (or it is larger than 1 MiB)\n";
      failed = true;
      return nullptr;
    }
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  } else if (const char* env = std::getenv("STIMRANK_AUDIT_KEY")) {
    key = env;
  } else {
    std::cerr
        << "stimrank: --audit needs a key: set STIMRANK_AUDIT_KEY or give --audit-key-file FILE\n";
    failed = true;
    return nullptr;
  }
  std::string error;
  auto log = stimrank::AuditLog::open(args.audit, key, error);
  if (!log) {
    std::cerr << "stimrank: cannot open the audit log: " << error << "\n";
    failed = true;
  }
  return log;
}

// JSON Lines: the library's pipeline (reading, evaluating and writing overlap).
int evaluate_jsonl(const Args& args, const std::shared_ptr<const stimrank::RuleSet>& ruleset,
                   stimrank::AuditLog* audit) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (args.input != "-") {
    errno = 0;
    file.open(args.input, std::ios::binary);
    std::error_code ec;
    if (!file || std::filesystem::is_directory(args.input, ec)) {
      std::cerr << "stimrank: " << unreadable(args.input) << "\n";
      return kInputError;
    }
    in = &file;
  }
  stimrank::JsonlOptions options;
  options.format =
      args.format == "tsv" ? stimrank::OutputFormat::tsv : stimrank::OutputFormat::json;
  options.threads = args.threads;
  options.label = args.input == "-" ? "stdin" : args.input;
  options.audit = audit;
  if (args.header) std::cout << "profile\tfired_rules\tranking\n";
  const auto ready = std::chrono::steady_clock::now();
  stimrank::JsonlSummary summary =
      stimrank::evaluate_jsonl(ruleset, *in, std::cout, std::cerr, options);
  std::cout.flush();
  if (!args.stats.empty()) {
    const auto done = std::chrono::steady_clock::now();
    std::ofstream stats(args.stats, std::ios::binary | std::ios::trunc);
    stats << "{\"profiles\":" << summary.lines << ",\"failed\":" << summary.failed
          << ",\"load_s\":" << std::chrono::duration<double>(ready - kProcessStart).count()
          << ",\"evaluate_s\":" << std::chrono::duration<double>(done - ready).count() << "}\n";
    stats.close();
    if (!stats) {
      std::cerr << "stimrank: cannot write `" << args.stats << "`\n";
      return kInputError;
    }
  }
  if (!summary.read_error.empty()) {
    std::cerr << "stimrank: " << options.label << ": " << summary.read_error << "\n";
    return kInputError;
  }
  if (!summary.write_error.empty()) return kInputError;  // main() says why
  if (summary.failed) {
    std::cerr << "stimrank: " << summary.failed << (summary.failed == 1 ? " profile" : " profiles")
              << " could not be evaluated\n";
    return kInputError;
  }
  return kOk;
}

// The options for reading a FHIR record: --as-of (default: today, UTC) and --patient.
stimrank::FhirOptions fhir_options(const Args& args) {
  stimrank::FhirOptions options;
  options.patient = args.patient;
  options.as_of = args.as_of;
  if (options.as_of.empty()) {
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char buffer[16];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%d", &utc);
    options.as_of = buffer;
  }
  return options;
}

void print_errors(const std::string& label, const std::vector<stimrank::ProfileError>& errors) {
  for (const auto& e : errors) std::cerr << label << ": " << e.format() << "\n";
}

int from_fhir(const Args& args) {
  auto ruleset = load(args, false);
  if (!ruleset) return kInputError;
  std::string text;
  if (!read_input(args, args.limits.max_fhir_bytes, text)) return kInputError;
  stimrank::FhirMapping mapping = stimrank::map_fhir(*ruleset, text, fhir_options(args));
  if (!args.report.empty()) {
    std::string problem = replace_file(args.report, mapping.report_json() + "\n");
    if (!problem.empty()) {
      std::cerr << "stimrank: cannot write `" << args.report << "`: " << problem << "\n";
      return kInputError;
    }
  }
  if (!mapping.ok()) {
    print_errors(args.input, mapping.errors);
    return kInputError;
  }
  for (const std::string& w : mapping.warnings)
    std::cerr << args.input << ": warning: " << w << "\n";
  std::cout << mapping.profile << "\n";
  return kOk;
}

// The lines of a file, read in blocks: each line of at most `limit` bytes, a longer
// one consumed and reported as too long (`too_long`), never held whole; offset() is
// where the next line starts, for seek() to come back to.
class LineReader {
 public:
  LineReader(const std::string& path, std::size_t block)
      : file_(std::fopen(path.c_str(), "rb")), buffer_(block), error_(file_ ? 0 : errno) {}
  ~LineReader() {
    if (file_) std::fclose(file_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  [[nodiscard]] std::uint64_t offset() const { return block_offset_ + begin_; }
  // The file could not be opened, a read failed, or a line ran away: the file was
  // not read to its end.
  [[nodiscard]] bool failed() const { return !file_ || std::ferror(file_) || runaway_; }

  // To the line that starts at `offset`: within the block read last, or read anew.
  void seek(std::uint64_t offset) {
    if (offset >= block_offset_ && offset <= block_offset_ + end_) {
      begin_ = offset - block_offset_;
      return;
    }
    if (file_) fseeko(file_, static_cast<off_t>(offset), SEEK_SET);
    block_offset_ = offset;
    begin_ = end_ = 0;
  }

  bool next(std::string& line, std::size_t limit, bool& too_long) {
    line.clear();
    too_long = false;
    if (runaway_) return false;
    // A file's first line may begin with a byte order mark (Windows editors write one),
    // which JSON readers may ignore (RFC 8259, 8.1), as the profile readers do.
    if (offset() == 0 && next_line(line, limit, too_long)) {
      if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
      return true;
    }
    return next_line(line, limit, too_long);
  }
  // Why the file was not read to its end (after failed()), as ": reason".
  [[nodiscard]] std::string why() const {
    if (runaway_)
      return ": a line is longer than " + std::to_string(kMaxLine) + " bytes without a line break";
    return ": " + std::string(std::strerror(error_));
  }
  static constexpr std::size_t kMaxLine = std::size_t{1} << 30;

 private:
  bool next_line(std::string& line, std::size_t limit, bool& too_long) {
    bool any = false;
    std::size_t consumed = 0;
    for (;;) {
      if (begin_ == end_) {
        block_offset_ += end_;
        begin_ = 0;
        end_ = file_ ? std::fread(buffer_.data(), 1, buffer_.size(), file_) : 0;
        if (end_ == 0) {
          if (file_ && std::ferror(file_)) error_ = errno;
          return any;
        }
      }
      any = true;
      const char* start = buffer_.data() + begin_;
      const auto* newline = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
      std::size_t length = newline ? static_cast<std::size_t>(newline - start) : end_ - begin_;
      std::size_t room = limit - std::min(limit, line.size());
      if (length > room) too_long = true;
      line.append(start, std::min(length, room));
      begin_ += length + (newline ? 1 : 0);
      consumed += length;
      if (newline) return true;
      if (consumed > kMaxLine) {  // no line break in sight (/dev/zero): read no further
        runaway_ = true;
        return true;
      }
    }
  }

  std::FILE* file_;
  std::vector<char> buffer_;
  std::uint64_t block_offset_ = 0;  // the file offset of buffer_[0]
  std::size_t begin_ = 0, end_ = 0;
  int error_ = 0;  // errno of a failed open or read
  bool runaway_ = false;
};

// diff: the cohort streamed, each line bounded by the profile size limit, so that
// memory holds the two rule sets and the listed changes, not the cohort.
int diff(const Args& args) {
  if (args.inputs.size() != 2 || args.cohort.empty())
    return usage_error(
        "the diff command is `stimrank diff OLD_RULES NEW_RULES --cohort PROFILES.jsonl`");
  auto load_one = [&args](const std::string& path) {
    stimrank::LoadResult loaded =
        stimrank::load_rules(path, stimrank::LoadOptions{args.limits, {}});
    for (const auto& d : loaded.diagnostics)
      if (d.severity == stimrank::Severity::error) std::cerr << d.format();
    return loaded.ruleset;
  };
  auto before = load_one(args.inputs[0]);
  auto after = load_one(args.inputs[1]);
  if (!before || !after) return kInputError;
  LineReader in(args.cohort, std::size_t{1} << 20);
  if (in.failed()) {
    std::cerr << "stimrank: cannot read `" << args.cohort << "`" << in.why() << "\n";
    return kInputError;
  }
  stimrank::ImpactOptions options;
  options.max_listed_changes = args.max_changes;
  stimrank::ImpactComparison comparison(*before, *after, options);
  const std::size_t limit = args.limits.max_profile_bytes;
  std::string line;
  bool too_long = false;
  for (std::size_t number = 1; in.next(line, limit, too_long); ++number) {
    if (too_long)
      comparison.add_unreadable("line " + std::to_string(number) +
                                " is larger than the profile limit of " + std::to_string(limit) +
                                " bytes");
    else if (line.find_first_not_of(" \t\r") != std::string::npos)
      comparison.add(line);
  }
  if (in.failed()) {  // never a report on part of the cohort
    std::cerr << "stimrank: cannot read `" << args.cohort << "` to its end" << in.why() << "\n";
    return kInputError;
  }
  const stimrank::ImpactReport report = comparison.finish();
  std::cout << (args.format == "json" ? stimrank::impact_json(report)
                                      : stimrank::render_impact(report, *before, *after));
  return report.errors.empty() && !report.unlisted_errors ? kOk : kInputError;
}

// The patient a bulk-export resource is about: the id after "Patient/" (or the
// whole reference) of its subject or patient; "" when it names none.
std::string patient_of(simdjson::dom::element resource) {
  for (const char* key : {"subject", "patient"}) {
    std::string_view text;
    if (resource[key]["reference"].get_string().get(text)) continue;
    std::size_t slash = text.rfind("Patient/");
    return std::string(slash == std::string_view::npos ? text : text.substr(slash + 8));
  }
  return {};
}

// The id of the Medication a MedicationRequest or MedicationStatement refers to
// (`Medication/id`, relative or absolute); "" when it names none.
std::string medication_of(simdjson::dom::parser& parser, const std::string& resource,
                          std::string& padded) {
  if (resource.find("\"medicationReference\"") == std::string::npos) return {};
  padded.reserve(resource.size() + simdjson::SIMDJSON_PADDING);
  padded.assign(resource);
  simdjson::dom::element element;
  std::string_view text;
  if (parser.parse(padded.data(), padded.size(), false).get(element) ||
      element["medicationReference"]["reference"].get_string().get(text))
    return {};
  std::size_t at = text.rfind("Medication/");
  if (at == std::string_view::npos || (at > 0 && text[at - 1] != '/')) return {};
  text.remove_prefix(at + 11);
  if (text.empty() || text.find('/') != std::string_view::npos) return {};
  return std::string(text);
}

// evaluate --fhir-bulk DIR: one JSON Lines answer per Patient, in Patient file
// order. The other files are indexed first (where each patient's lines are, and
// each Medication's; the index moves to a temporary file past --limit
// bulk-index-bytes), so memory holds one patient's resources at a time, not the
// folder. The Medications a patient's drugs refer to join that patient's resources.
int evaluate_fhir_bulk(const Args& args, const stimrank::RuleSet& ruleset) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(args.input, ec)) {
    std::cerr << "stimrank: `" << args.input << "` is not a folder of NDJSON files\n";
    return kInputError;
  }
  std::vector<std::string> patient_files, resource_files;
  for (const auto& entry : fs::directory_iterator(args.input, ec)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || entry.path().extension() != ".ndjson") continue;
    (name.rfind("Patient", 0) == 0 ? patient_files : resource_files)
        .push_back(entry.path().string());
  }
  std::sort(patient_files.begin(), patient_files.end());
  std::sort(resource_files.begin(), resource_files.end());
  if (patient_files.empty()) {
    std::cerr << "stimrank: `" << args.input << "` has no Patient*.ndjson file\n";
    return kInputError;
  }
  const std::size_t limit = args.limits.max_fhir_bytes;
  if (resource_files.size() > std::numeric_limits<std::uint32_t>::max()) {
    std::cerr << "stimrank: `" << args.input << "` has more files than can be indexed\n";
    return kInputError;
  }
  // Where each patient's lines are; and the lines that are no resource but name a
  // patient (that patient is an error), by line number.
  stimrank::BulkIndex places(args.limits.bulk_index_memory_bytes);
  stimrank::BulkIndex problems(args.limits.bulk_index_memory_bytes / 8 + 1);
  stimrank::BulkIndex medications(args.limits.bulk_index_memory_bytes / 8 + 1);
  auto index_failed = [&args](const stimrank::BulkIndex& index) {
    std::cerr << "stimrank: cannot index `" << args.input << "`: " << index.error() << "\n";
    return kInputError;
  };
  bool read_failed = false;  // a file not read to its end: never a silent partial answer
  auto unread = [&read_failed](const std::string& file, const LineReader& reader) {
    std::cerr << "stimrank: cannot read `" << file << "` to its end" << reader.why() << "\n";
    read_failed = true;
  };
  std::string line, padded;
  bool too_long = false;
  // The index reads every line of the folder: simdjson, from one padded buffer.
  simdjson::dom::parser parser(limit);
  for (std::size_t f = 0; f < resource_files.size(); ++f) {
    LineReader in(resource_files[f], std::size_t{1} << 20);
    std::size_t number = 0;
    for (std::uint64_t offset = in.offset(); in.next(line, limit, too_long); offset = in.offset()) {
      ++number;
      std::string where = resource_files[f] + ":" + std::to_string(number);
      if (too_long) {
        std::cerr << where << ": longer than " << limit << " bytes; skipped\n";
        continue;
      }
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      padded.reserve(line.size() + simdjson::SIMDJSON_PADDING);
      padded.assign(line);
      simdjson::dom::element resource;
      if (parser.parse(padded.data(), padded.size(), false).get(resource) ||
          !resource.is_object()) {
        // Whose line it was, if its text names a patient: that patient is an error.
        std::size_t at = line.find("Patient/");
        std::string id;
        if (at != std::string::npos)
          for (std::size_t i = at + 8; i < line.size() && line[i] != '"'; ++i) id += line[i];
        if (id.empty())
          std::cerr << where << ": not a JSON resource, and no patient named in it; skipped\n";
        else if (!problems.add(id, {static_cast<std::uint32_t>(f), number}))
          return index_failed(problems);
        continue;
      }
      std::string patient = patient_of(resource);
      if (!patient.empty() && !places.add(patient, {static_cast<std::uint32_t>(f), offset}))
        return index_failed(places);
      std::string_view type, id;
      if (patient.empty() && !resource["resourceType"].get_string().get(type) &&
          type == "Medication" && !resource["id"].get_string().get(id) && !id.empty() &&
          !medications.add(id, {static_cast<std::uint32_t>(f), offset}))
        return index_failed(medications);
    }
    if (in.failed()) unread(resource_files[f], in);
  }
  stimrank::FhirOptions options = fhir_options(args);
  // Read back in smaller blocks: a patient's lines are usually together, but not always.
  std::vector<std::unique_ptr<LineReader>> readers;
  for (const std::string& file : resource_files)
    readers.push_back(std::make_unique<LineReader>(file, std::size_t{64} << 10));
  std::size_t failed = 0, answered = 0;
  auto error_line = [&](const std::string& id, const std::vector<stimrank::ProfileError>& errors) {
    nlohmann::ordered_json out;
    out["patient"] = id;
    out["errors"] = nlohmann::ordered_json::array();
    for (const auto& e : errors)
      out["errors"].push_back({{"path", e.path}, {"message", e.message}});
    std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    for (const auto& e : errors) std::cerr << "patient " << id << ": " << e.format() << "\n";
    ++failed;
  };
  // Patients are mapped and evaluated a batch at a time on --threads threads, and
  // answered in order.
  struct Pending {
    std::string id, bundle;
    stimrank::Evaluation evaluation;
  };
  std::vector<Pending> pending;
  const unsigned threads = args.threads ? args.threads : 1;
  const std::size_t batch = 8 * std::size_t{threads};
  auto flush = [&] {
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t i; (i = next.fetch_add(1)) < pending.size();)
        if (!pending[i].bundle.empty())  // empty: answered already (an error)
          pending[i].evaluation = stimrank::evaluate_fhir(ruleset, pending[i].bundle, options);
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (std::thread& thread : pool) thread.join();
    for (Pending& p : pending) {
      if (!p.evaluation.ok())
        error_line(p.id, p.evaluation.errors);
      else
        std::cout << p.evaluation.result->to_json() << "\n";
    }
    pending.clear();
  };
  std::vector<stimrank::BulkIndex::Place> found;
  for (const std::string& file : patient_files) {
    LineReader in(file, std::size_t{1} << 20);
    std::size_t number = 0;
    while (in.next(line, limit, too_long)) {
      ++number;
      if (!too_long && line.find_first_not_of(" \t\r") == std::string::npos) continue;
      ++answered;
      std::string where = file + ":" + std::to_string(number);
      nlohmann::json patient =
          too_long ? nlohmann::json() : nlohmann::json::parse(line, nullptr, false);
      std::string id = patient.is_object() && patient.contains("id") && patient["id"].is_string()
                           ? patient["id"].get<std::string>()
                           : std::string();
      if (id.empty()) {
        pending.push_back({where, {}, {}});
        pending.back().evaluation.errors.push_back({where, "not a Patient resource with an id"});
        continue;
      }
      if (!problems.find(id, found)) return index_failed(problems);
      if (!found.empty()) {
        pending.push_back({id, {}, {}});
        for (const stimrank::BulkIndex::Place& problem : found)
          pending.back().evaluation.errors.push_back(
              {resource_files[problem.file] + ":" + std::to_string(problem.offset),
               "not a JSON resource"});
        continue;
      }
      // The patient's resources, read back from where the index found them.
      if (!places.find(id, found)) return index_failed(places);
      std::string bundle = "[" + line;
      std::vector<std::string> referenced;  // the Medications its drugs name, once each
      auto append = [&](const stimrank::BulkIndex::Place& place) {
        LineReader& reader = *readers[place.file];
        reader.seek(place.offset);
        std::string resource;
        bool long_line = false;
        reader.next(resource, limit, long_line);
        bundle += ",";
        bundle += resource;
        return resource;
      };
      for (const stimrank::BulkIndex::Place& place : found) {
        std::string medication = medication_of(parser, append(place), padded);
        if (!medication.empty() &&
            std::find(referenced.begin(), referenced.end(), medication) == referenced.end())
          referenced.push_back(std::move(medication));
        if (bundle.size() > limit) break;  // map_fhir reports the size
      }
      std::vector<stimrank::BulkIndex::Place> medication_places;
      for (const std::string& medication : referenced) {
        if (bundle.size() > limit) break;
        if (!medications.find(medication, medication_places)) return index_failed(medications);
        if (!medication_places.empty()) append(medication_places.front());
      }
      bundle += "]";
      pending.push_back({id, std::move(bundle), {}});
      if (pending.size() >= batch) flush();
    }
    if (in.failed()) unread(file, in);
  }
  flush();
  if (failed)
    std::cerr << "stimrank: " << failed << " of " << answered
              << " patients could not be evaluated\n";
  return failed || read_failed ? kInputError : kOk;
}

// serve: the CDS Hooks service until SIGTERM or SIGINT, which let the requests in
// flight finish and the audit trail close, then exit 0.
int serve(const Args& args) {
  auto ruleset = load(args, false);
  if (!ruleset) return kInputError;
  // Each connection is a file descriptor: the soft limit (often 1,024) raised to the
  // hard one, as servers do, so that it is not what caps the connections served.
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  std::vector<std::pair<std::string, std::string>> trusted;  // read before any thread starts
  if (args.issuers.size() != args.jwks_files.size())
    return usage_error("give each `--issuer ISS` its `--jwks FILE`, in pairs");
  for (std::size_t i = 0; i < args.issuers.size(); ++i) {
    std::string jwks;
    if (!read_all(args.jwks_files[i], jwks, 1u << 20)) {
      std::cerr << "stimrank serve: cannot read the JWKS `" << args.jwks_files[i] << "`\n";
      return kInputError;
    }
    trusted.emplace_back(args.issuers[i], jwks);
  }
  bool audit_failed = false;
  auto audit = open_audit(args, audit_failed);
  if (audit_failed) return kInputError;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts: they inherit it
  std::atomic<bool> stop{false};
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    stop.store(true);
  });
  stimrank::ServeOptions options;
  options.host = args.host;
  options.port = args.port;
  options.threads = args.threads;
  options.public_url = args.public_url;
  options.allow_unauthenticated = args.allow_unauthenticated;
  options.trusted_issuers = std::move(trusted);
  options.max_body_bytes = args.limits.max_fhir_bytes;
  options.audit = audit.get();
  std::mutex log_mutex;
  options.log = [&log_mutex](const std::string& line) {
    const std::string whole = line + "\n";  // one write: lines of threads never interleave
    std::lock_guard<std::mutex> lock(log_mutex);
    std::cerr.write(whole.data(), static_cast<std::streamsize>(whole.size()));
  };
  options.on_listening = [&](int port) {
    std::lock_guard<std::mutex> lock(log_mutex);
    std::cerr << "stimrank serve: CDS Hooks on http://" << args.host << ":" << port
              << "/cds-services (rule set " << ruleset->name() << " " << ruleset->version()
              << ")\n";
    if (args.allow_unauthenticated)
      std::cerr
          << "stimrank serve: WARNING: requests are not authenticated "
             "(--allow-unauthenticated): serve on loopback or behind an authenticating proxy\n";
  };
  std::string problem = stimrank::serve_cds_hooks(ruleset, options, stop);
  if (!stop.load()) kill(getpid(), SIGTERM);  // release the waiter
  waiter.join();
  if (!problem.empty()) {
    std::cerr << "stimrank serve: " << problem << "\n";
    return kInputError;
  }
  std::cerr << "stimrank serve: stopped\n";
  return kOk;
}

// One profile (or one FHIR record): evaluated, recorded in the audit trail when
// asked, printed.
int evaluate(const Args& args) {
  auto ruleset = load(args, false);
  if (!ruleset) return kInputError;
  bool audit_failed = false;
  auto audit = open_audit(args, audit_failed);
  if (audit_failed) return kInputError;
  if (args.jsonl) return evaluate_jsonl(args, ruleset, audit.get());
  if (args.fhir_bulk) return evaluate_fhir_bulk(args, *ruleset);
  std::string text;
  const std::size_t limit = args.fhir ? args.limits.max_fhir_bytes : args.limits.max_profile_bytes;
  if (!read_input(args, limit, text)) return kInputError;
  stimrank::Evaluation evaluation =
      args.fhir ? stimrank::evaluate_fhir(*ruleset, text, fhir_options(args))
                : ruleset->evaluate_json(text);
  if (!evaluation.ok()) {
    print_errors(args.input, evaluation.errors);
    // In JSON the errors are data too: the object a JSON Lines batch writes for a line.
    if (args.format == "json") std::cout << error_object(evaluation.errors) << "\n";
    return kInputError;
  }
  std::string audit_error;
  if (audit && !audit->append(*evaluation.result, text, audit_error)) {
    std::cerr << "stimrank: the audit record could not be written: " << audit_error << "\n";
    return kInputError;
  }
  if (args.format == "text")
    std::cout << evaluation.result->to_text();
  else
    std::cout << evaluation.result->to_json(args.pretty ? 2 : -1) << "\n";
  return kOk;
}

}  // namespace

// Loading a large rule set allocates some 10 MB of small objects; on a virtual
// machine each 4 KiB page fault costs microseconds. The main heap grows in large
// steps backed by transparent huge pages (where the kernel offers them on
// request), as glibc's `glibc.malloc.hugetlb=1` tunable would. Every thread
// allocates from that heap (one arena): a JSON Lines batch's threads would
// otherwise each fault in an arena of their own for their chunks' buffers, which
// cost a batch of 4,000 profiles at 3,200 rules about 1,000 page faults and a
// fifth of its evaluation time; the batch allocates little per profile, so the
// shared arena's lock is not contended. Process-wide settings, so they belong to
// the command-line tool, not to the library.
void prepare_heap() {
#if defined(__GLIBC__) && defined(__linux__)
  constexpr int kStep = 32 << 20;
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);  // blocks below it come from the main heap
  mallopt(M_TOP_PAD, kStep);
  mallopt(M_TRIM_THRESHOLD, 2 * kStep);
  auto* before = static_cast<char*>(sbrk(0));
  void* volatile block = std::malloc(256 << 10);  // grows the heap by a step now
  std::free(block);
  auto* after = static_cast<char*>(sbrk(0));
  const std::uintptr_t huge = 2 << 20;
  auto first = (reinterpret_cast<std::uintptr_t>(before) + huge - 1) & ~(huge - 1);
  auto last = reinterpret_cast<std::uintptr_t>(after) & ~(huge - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
}

int run(int argc, char** argv) {
  try {
    std::vector<std::string> argv_list(argv + 1, argv + argc);
    if (argv_list.empty()) return usage_error("missing command");
    Args args;
    args.command = argv_list[0];
    if (args.command == "--help" || args.command == "-h") {
      std::cout << cli::global_help();
      return kOk;
    }
    if (args.command == "version" || args.command == "--version" || args.command == "-V") {
      std::cout << "stimrank " << STIMRANK_VERSION << "\n";
      return kOk;
    }
    std::vector<std::string> command_names;
    for (const cli::CommandSpec& c : cli::commands()) command_names.push_back(c.name);
    const cli::CommandSpec* spec = cli::find_command(args.command);
    if (!spec) {
      std::string hint = cli::suggestion(args.command, command_names);
      return usage_error("unknown command `" + args.command + "`" +
                         (hint.empty() ? "" : " (" + hint + ")"));
    }
    current_command = args.command;
    if (args.command == "help") {
      if (argv_list.size() == 2 && argv_list[1] == "--man") {
        std::cout << cli::man_page(STIMRANK_VERSION);
        return kOk;
      }
      if (argv_list.size() == 1) {
        std::cout << cli::global_help();
        return kOk;
      }
      const cli::CommandSpec* about = cli::find_command(argv_list[1]);
      if (!about || argv_list.size() > 2) {
        std::string hint = cli::suggestion(argv_list[1], command_names);
        return usage_error("no command `" + argv_list[1] + "`" +
                           (hint.empty() ? "" : " (" + hint + ")"));
      }
      std::cout << cli::command_help(*about);
      return kOk;
    }
    if (args.command == "completion") {
      if (argv_list.size() == 2 && argv_list[1] == "bash") {
        std::cout << cli::bash_completion();
        return kOk;
      }
      if (argv_list.size() == 2 && (argv_list[1] == "--help" || argv_list[1] == "-h")) {
        std::cout << cli::command_help(*spec);
        return kOk;
      }
      return usage_error("the completion command is `stimrank completion bash`");
    }
    // Every option must be one of this command's: a misspelt or misplaced option is
    // an error, never silently ignored.
    for (std::size_t i = 1; i < argv_list.size(); ++i) {
      const std::string& a = argv_list[i];
      if (a == "-h" || a == "--help") {
        std::cout << cli::command_help(*spec);
        return kOk;
      }
      if (a.size() < 2 || a[0] != '-') continue;
      if (const cli::OptionSpec* option = cli::find_option(*spec, a)) {
        if (!option->value.empty()) ++i;  // its value may start with '-' (`--jsonl -`)
        continue;
      }
      std::vector<std::string> flags;
      for (const cli::OptionSpec& o : spec->options) flags.push_back(o.flag);
      std::string hint = cli::suggestion(a, flags);
      std::string elsewhere;
      if (hint.empty())
        for (const cli::CommandSpec& c : cli::commands())
          if (cli::find_option(c, a)) {
            elsewhere = " (it is an option of `stimrank " + c.name + "`)";
            break;
          }
      return usage_error("`" + args.command + "` has no option `" + a + "`" +
                         (hint.empty() ? elsewhere : " (" + hint + ")"));
    }
    // An option given twice would silently keep its last value (`--jsonl a --jsonl b`
    // reads only b): a usage error, but for the options that add up.
    static const std::set<std::string> kRepeatable = {"--issuer", "--jwks", "--limit", "--disable"};
    std::set<std::string> given;
    for (std::size_t i = 1; i < argv_list.size(); ++i) {
      const std::string& a = argv_list[i];
      if (a.size() > 2 && a.rfind("--", 0) == 0 && !kRepeatable.count(a) && !given.insert(a).second)
        return usage_error("`" + a + "` is given twice; give it once");
      auto value = [&](std::string& into) {
        if (i + 1 >= argv_list.size()) return false;
        into = argv_list[++i];
        return true;
      };
      if (a == "--rules") {
        if (!value(args.rules)) return usage_error("`--rules` needs a path");
      } else if (a == "--format") {
        if (!value(args.format)) return usage_error("`--format` needs a format");
        if (std::find(spec->formats.begin(), spec->formats.end(), args.format) ==
            spec->formats.end()) {
          std::string list;
          for (const std::string& f : spec->formats) list += (list.empty() ? "" : ", ") + f;
          return usage_error("`" + args.command + " --format` takes " + list + ", not `" +
                             args.format + "`");
        }
      } else if (a == "--db") {
        if (!value(args.db)) return usage_error("`--db` needs a file");
      } else if (a == "--author") {
        if (!value(args.author)) return usage_error("`--author` needs a name");
      } else if (a == "--note") {
        if (!value(args.note)) return usage_error("`--note` needs a text");
      } else if (a == "--audit") {
        if (!value(args.audit)) return usage_error("`--audit` needs a file");
      } else if (a == "--audit-key-file") {
        if (!value(args.audit_key_file)) return usage_error("`--audit-key-file` needs a file");
      } else if (a == "--host") {
        if (!value(args.host) || args.host.empty()) return usage_error("`--host` needs an address");
      } else if (a == "--port") {
        std::string n;
        if (!value(n) || n.empty() || n.size() > 5 ||
            n.find_first_not_of("0123456789") != std::string::npos || std::stoi(n) > 65535)
          return usage_error("`--port` takes a port number (0: any free port)");
        args.port = std::stoi(n);
      } else if (a == "--public-url") {
        if (!value(args.public_url) || args.public_url.empty())
          return usage_error("`--public-url` needs the service's base URL");
      } else if (a == "--issuer") {
        std::string iss;
        if (!value(iss) || iss.empty())
          return usage_error("`--issuer` needs the token issuer (iss)");
        args.issuers.push_back(iss);
      } else if (a == "--jwks") {
        std::string file;
        if (!value(file) || file.empty()) return usage_error("`--jwks` needs a JWKS file");
        args.jwks_files.push_back(file);
      } else if (a == "--allow-unauthenticated") {
        args.allow_unauthenticated = true;
      } else if (a == "--limit") {
        std::string setting;
        if (!value(setting) || !set_limit(args.limits, setting))
          return usage_error(
              "`--limit` takes NAME=N, N a positive number, NAME one of rule-file-bytes, "
              "rule-files, expression-depth, let-nodes, concept-members, rules, test-file-bytes, "
              "profile-bytes (also a JSON Lines line), profile-depth, fhir-bytes, "
              "bulk-index-bytes");
      } else if (a == "--debounce") {
        std::string n;
        if (!value(n) || n.empty() || n.size() > 5 ||
            n.find_first_not_of("0123456789") != std::string::npos)
          return usage_error("`--debounce` takes milliseconds (0 or more)");
        args.debounce_ms = std::stoi(n);
      } else if (a == "--chunk") {
        std::string n;
        if (!value(n) || n.empty() || n.find_first_not_of("0123456789") != std::string::npos ||
            n.size() > 7 || std::stoul(n) < 1)
          return usage_error("`--chunk` takes a positive number");
        args.chunk = std::stoul(n);
      } else if (a == "--disable") {
        std::string list;
        if (!value(list)) return usage_error("`--disable` needs check names or codes");
        for (std::size_t start = 0; start <= list.size();) {
          std::size_t comma = list.find(',', start);
          if (comma == std::string::npos) comma = list.size();
          if (comma > start) args.disabled.push_back(list.substr(start, comma - start));
          start = comma + 1;
        }
      } else if (a == "--min") {
        std::string n;
        if (!value(n)) return usage_error("`--min` needs a percentage");
        char* end = nullptr;
        args.min_percent = std::strtod(n.c_str(), &end);
        if (end == n.c_str() || *end != '\0' || args.min_percent < 0 || args.min_percent > 100)
          return usage_error("`--min` takes a percentage from 0 to 100");
      } else if (a == "--cohort") {
        if (!value(args.cohort)) return usage_error("`--cohort` needs a JSON Lines file");
      } else if (a == "--max-changes") {
        std::string n;
        if (!value(n) || n.empty() || n.find_first_not_of("0123456789") != std::string::npos ||
            n.size() > 9)
          return usage_error("`--max-changes` takes a number of option changes to list");
        args.max_changes = static_cast<std::size_t>(std::stoul(n));
      } else if (a == "--check") {
        args.check_only = true;
      } else if (a == "--diff") {
        args.check_only = args.show_diff = true;
      } else if (a == "--header") {
        args.header = true;
      } else if (a == "--option") {
        if (!value(args.option) || args.option.empty())
          return usage_error("`--option` needs an option id");
      } else if (a == "--store") {
        if (!value(args.store) || (args.store != "summary" && args.store != "full"))
          return usage_error("`--store` takes summary or full");
      } else if (a == "--list") {
        args.list = true;
      } else if (a == "--html") {
        args.html = true;
        args.format = "html";
      } else if (a == "--pretty") {
        args.pretty = true;
      } else if (a == "--threads") {
        std::string n;
        if (!value(n) || n.empty() || n.find_first_not_of("0123456789") != std::string::npos ||
            n.size() > 4 || std::stoi(n) < 1)
          return usage_error("`--threads` takes a number of threads from 1 to 9999");
        args.threads = static_cast<unsigned>(std::stoi(n));
      } else if (a == "--stats") {
        if (!value(args.stats) || args.stats.empty())
          return usage_error("`--stats` needs a file to write");
      } else if (a == "--fhir") {
        args.fhir = true;
        if (!value(args.input)) return usage_error("`--fhir` needs a Bundle file or `-`");
        args.have_input = true;
      } else if (a == "--fhir-bulk") {
        args.fhir_bulk = true;
        if (!value(args.input)) return usage_error("`--fhir-bulk` needs a folder");
        args.have_input = true;
      } else if (a == "--as-of") {
        if (!value(args.as_of)) return usage_error("`--as-of` needs a date YYYY-MM-DD");
      } else if (a == "--patient") {
        if (!value(args.patient) || args.patient.empty())
          return usage_error("`--patient` needs a Patient id");
      } else if (a == "--report") {
        if (!value(args.report) || args.report.empty())
          return usage_error("`--report` needs a file to write");
      } else if (a == "--jsonl") {
        args.jsonl = true;
        if (!value(args.input)) return usage_error("`--jsonl` needs a file or `-`");
        args.have_input = true;
      } else if (a.size() > 1 && a[0] == '-') {
        return usage_error("unknown option `" + a + "`");
      } else {
        args.inputs.push_back(a);
        if (args.command == "test" || args.command == "diff" || args.command == "coverage" ||
            args.command == "fmt")
          continue;
        if (args.have_input) return usage_error("more than one input: `" + a + "`");
        args.input = a;
        args.have_input = true;
      }
    }
    if (args.format.empty() && !spec->formats.empty()) args.format = spec->formats.front();
    if (args.command == "schema") {
      if (args.have_input) return usage_error("`schema` takes no input file; use `--rules PATH`");
      return schema(args);
    }
    if (args.command == "lsp") {
      if (args.have_input) return usage_error("`lsp` takes no file: it speaks on stdin and stdout");
      stimrank::LanguageServerOptions options;
      options.limits = args.limits;
      options.debounce_ms = args.debounce_ms;
      std::ios::sync_with_stdio(false);
      return stimrank::run_language_server(std::cin, std::cout, std::cerr, options);
    }
    if (args.command == "from-fhir") {
      if (!args.have_input) return usage_error("`from-fhir` needs a Bundle file or `-`");
      return from_fhir(args);
    }
    if (args.command == "serve") {
      if (args.have_input) return usage_error("`serve` takes no input file; use `--rules PATH`");
      return serve(args);
    }
    if (args.command == "diff") return diff(args);
    if (args.command == "fmt") return fmt(args);
    if (args.command == "explain") {
      if (!args.have_input) return usage_error("`explain` needs a profile file or `-`");
      return explain(args);
    }
    if (args.command == "coverage") return coverage(args);
    if (args.command == "lint") {
      if (args.have_input) return usage_error("`lint` takes no input file; use `--rules PATH`");
      return lint(args);
    }
    if (args.command == "test") return run_tests(args);
    if (args.command == "audit") {
      if (args.input != "verify")
        return usage_error("the audit command is `stimrank audit verify --db FILE`");
      if (args.db.empty()) return usage_error("`audit verify` needs `--db FILE`");
      return audit_verify(args);
    }
    if (args.command == "publish" || args.command == "versions" || args.command == "batch") {
      if (args.db.empty()) return usage_error("`" + args.command + "` needs `--db FILE`");
      if (args.have_input) return usage_error("unexpected argument `" + args.input + "`");
      return args.command == "publish"    ? publish(args)
             : args.command == "versions" ? versions(args)
                                          : batch(args);
    }
    if (args.command == "check" || args.command == "table") {
      if (args.have_input)
        return usage_error("`" + args.command + "` takes no input file; use `--rules PATH`");
      return args.command == "check" ? check(args) : table(args);
    }
    if (!args.have_input)
      return usage_error("`evaluate` needs a profile file, `-`, or `--jsonl FILE|-`");
    if (args.jsonl && args.format == "text")
      return usage_error("`--format text` is for one profile, not `--jsonl`");
    if (!args.jsonl && args.format == "tsv")
      return usage_error("`--format tsv` is for `--jsonl` batches (one line per profile)");
    if (args.header && args.format != "tsv") return usage_error("`--header` is for `--format tsv`");
    if (!args.stats.empty() && !args.jsonl)
      return usage_error("`--stats` is for `--jsonl` batches");
    if (args.fhir && args.jsonl) return usage_error("`--fhir` and `--jsonl` do not go together");
    if (args.fhir_bulk &&
        (args.fhir || args.jsonl || !args.patient.empty() || args.format != "json"))
      return usage_error("`--fhir-bulk` writes JSON Lines; it takes `--as-of` and `--threads`");
    if (!args.fhir && !args.fhir_bulk && (!args.as_of.empty() || !args.patient.empty()))
      return usage_error("`--as-of` and `--patient` are for FHIR input (`--fhir`, `from-fhir`)");
    if (!args.report.empty()) return usage_error("`--report` is for `from-fhir`");
    return evaluate(args);
  } catch (std::exception const& e) {
    std::cerr << "stimrank: internal error: " << e.what() << "\n";
    return kInputError;
  }
}

// Results that did not reach their file (a full disk, a closed descriptor) are an
// error, never a silent success with a cut output.
int main(int argc, char** argv) {
  prepare_heap();
  int code = run(argc, argv);
  if (!std::cout.flush()) {
    std::cerr << "stimrank: the output could not be written to its end (a full disk?)\n";
    return code == kOk ? kInputError : code;
  }
  return code;
}
