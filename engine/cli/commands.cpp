#include "commands.hpp"

#include <algorithm>
#include <set>

#include "spelling.hpp"

namespace cli {
namespace {

const OptionSpec kRules{"--rules", "PATH",
                        "a rule file, a folder of them, or db:FILE#name[@version]; default: "
                        "$STIMRANK_RULES, else the shipped knowledge base"};
// Authoring commands default to the author's own files.
const OptionSpec kAuthorRules{
    "--rules", "PATH",
    "a rule file, a folder of them, or db:FILE#name[@version]; default: the .rules files of "
    "the current folder, else $STIMRANK_RULES, else the shipped knowledge base"};
const OptionSpec kLimit{"--limit", "NAME=N",
                        "a resource limit: rule-file-bytes, rule-files, expression-depth, "
                        "let-nodes, concept-members, rules, profile-bytes, profile-depth, "
                        "fhir-bytes, test-file-bytes, bulk-index-bytes (memory --fhir-bulk's index "
                        "holds before it moves to a temporary file)"};
const OptionSpec kHelp{"--help", "", "this help"};

OptionSpec format_option(const std::vector<std::string>& formats) {
  std::string list;
  for (const std::string& f : formats) list += (list.empty() ? "" : "|") + f;
  return {"--format", list, "output format (default: " + formats.front() + ")"};
}

std::vector<CommandSpec> build() {
  std::vector<CommandSpec> all = {
      {"evaluate",
       "rank the options for one patient, a JSON Lines batch or FHIR records",
       {"[--rules PATH] [--format json|text] [--pretty] PROFILE.json|-",
        "[--rules PATH] [--format json|tsv] [--threads N] [--stats FILE] --jsonl FILE|-",
        "[--rules PATH] [--format json|text] [--as-of DATE] [--patient ID] --fhir BUNDLE.json|-",
        "[--rules PATH] [--as-of DATE] [--threads N] --fhir-bulk DIR"},
       "Evaluates a profile (the JSON of docs/profile.md) against the rule set and prints the "
       "ranked, explained result. With --jsonl, one result per input line (errors as JSON "
       "objects on their line); with --fhir, a FHIR R4 Bundle is mapped first (docs/fhir.md); "
       "with --fhir-bulk, a bulk-export folder gives one result line per Patient. With "
       "--audit, every evaluation is recorded in a hash-chained audit trail.",
       {kRules,
        {"--jsonl", "FILE|-", "JSON Lines in, JSON Lines (or TSV) out"},
        {"--fhir", "BUNDLE|-", "a FHIR R4 Bundle for one patient"},
        {"--fhir-bulk", "DIR", "a FHIR bulk-export folder (NDJSON), one result per Patient"},
        {"--as-of", "DATE",
         "FHIR: the date the record is read at: ages, what is current, nothing dated after it "
         "(default: today, UTC)"},
        {"--patient", "ID", "FHIR: the Patient to evaluate when the Bundle holds several"},
        {"--pretty", "", "indent the JSON result"},
        {"--header", "", "TSV: a first line naming the columns"},
        {"--threads", "N", "worker threads for --jsonl and --fhir-bulk (default: all cores)"},
        {"--stats", "FILE", "--jsonl: write the load and evaluation times as JSON"},
        {"--audit", "DB", "record every evaluation in this audit trail (SQLite)"},
        {"--audit-key-file", "FILE", "the key pseudonymising patient ids (or $STIMRANK_AUDIT_KEY)"},
        kLimit},
       {"json", "text", "tsv"},
       {"stimrank evaluate examples/profiles/phn_elderly.json",
        "stimrank evaluate --format text examples/profiles/phn_elderly.json",
        "stimrank evaluate --jsonl cohort.jsonl --threads 4 > results.jsonl"}},
      {"check",
       "check a rule set: every diagnostic, exit 1 on an error",
       {"[--rules PATH] [--format text|json|sarif]"},
       "Parses, checks and compiles the rule set and reports every error and warning with its "
       "file, line and column. --format json gives the diagnostics as data (docs/cli.md), "
       "--format sarif as SARIF 2.1.0 for code-scanning annotations in CI.",
       {kAuthorRules, kLimit},
       {"text", "json", "sarif"},
       {"stimrank check --rules my-guideline/", "stimrank check --format sarif > check.sarif"}},
      {"lint",
       "clinical-safety and style checks beyond the checker",
       {"[--rules PATH] [--disable CHECK,...] [--format text|json|sarif]", "--list"},
       "Runs the lint checks (stimrank lint --list names them) over a rule set that checks "
       "clean; exit 1 when any warns.",
       {kAuthorRules,
        {"--disable", "CHECK,...", "checks to skip, by name or code"},
        {"--list", "", "list the checks"},
        kLimit},
       {"text", "json", "sarif"},
       {"stimrank lint --rules my-guideline/", "stimrank lint --disable L004 --format json"}},
      {"test",
       "run vignette test files against a rule set",
       {"[--rules PATH] [--format text|json|junit] [TESTS.json|DIR ...]"},
       "Runs each case of the vignette test files (default: the rule set's tests/ folder) and "
       "reports every failing case with expected and actual statuses and the rules that fired.",
       {kAuthorRules, kLimit},
       {"text", "json", "junit"},
       {"stimrank test", "stimrank test --rules my-guideline/ my-guideline/tests/"}},
      {"coverage",
       "which rules the vignette tests exercise",
       {"[--rules PATH] [--format markdown|lcov|json] [--min PCT] [TESTS.json|DIR ...]"},
       "Runs the tests as `stimrank test` does and reports, per rule, the cases in which it "
       "fired; --min fails below a percentage.",
       {kAuthorRules, {"--min", "PCT", "exit 1 when rule coverage is below PCT percent"}, kLimit},
       {"markdown", "lcov", "json"},
       {"stimrank coverage --min 90"}},
      {"explain",
       "the full reasoning for one patient and what would change it",
       {"[--rules PATH] [--option ID] [--format text|json] PROFILE.json|-"},
       "Every option with every rule's truth and its parts' values; for options not ranked "
       "first, the facts whose change would move them; for missing data, the ranking under each "
       "value the rules name. --option limits it to one option.",
       {kAuthorRules, {"--option", "ID", "explain this option only"}, kLimit},
       {"text", "json"},
       {"stimrank explain examples/profiles/phn_elderly.json",
        "stimrank explain --option scs_conventional profile.json"}},
      {"fmt",
       "format rule files canonically",
       {"[--check] [--diff] [FILE.rules|DIR ...]", "-"},
       "Rewrites rule files in the canonical layout (default: the .rules files of the current "
       "folder, else the shipped knowledge base). `-` reads stdin and writes stdout. --check "
       "changes nothing and exits 1 when a file would change; --diff prints the changes as a "
       "unified diff. A file is written only after it was read and formatted whole.",
       {{"--check", "", "change nothing; exit 1 if a file is not formatted"},
        {"--diff", "", "print what would change, as a unified diff (implies --check)"},
        kLimit},
       {},
       {"stimrank fmt", "stimrank fmt --check --diff my-guideline/",
        "stimrank fmt - < draft.rules"}},
      {"table",
       "evidence tables rendered from the rules",
       {"[--rules PATH] [--format markdown|html|json]"},
       "The options, their evidence in each grading scheme with sources and DOIs, and the "
       "rules, as a reviewer reads them; --format json gives the same description as data.",
       {kAuthorRules, {"--html", "", "the same as --format html"}, kLimit},
       {"markdown", "html", "json"},
       {"stimrank table > evidence.md"}},
      {"schema",
       "the profile JSON schema a rule set expects",
       {"[--rules PATH]"},
       "Prints a JSON Schema (draft 2020-12) of the profiles the rule set reads: every fact "
       "path with its type, and the concept ids a list accepts.",
       {kAuthorRules, kLimit},
       {},
       {"stimrank schema > profile.schema.json"}},
      {"diff",
       "how a rule-set change moves a cohort",
       {"OLD_RULES NEW_RULES --cohort PROFILES.jsonl [--max-changes N] [--format text|json]"},
       "Evaluates every profile of the cohort under both rule sets and groups the patients whose "
       "statuses or ranks change by the rules responsible. The counts cover the whole cohort; "
       "the first N option changes are listed.",
       {{"--cohort", "FILE", "the profiles, JSON Lines"},
        {"--max-changes", "N", "option changes to list (default: 10000)"},
        kLimit},
       {"text", "json"},
       {"stimrank diff knowledge/ my-change/ --cohort cohort.jsonl"}},
      {"from-fhir",
       "the profile a FHIR record gives, and the mapping report",
       {"[--rules PATH] [--as-of DATE] [--patient ID] [--report FILE] BUNDLE.json|-"},
       "Maps a FHIR R4 Bundle to a profile and prints it; --report writes which resources and "
       "codings were used, and which were ignored and why.",
       {kRules,
        {"--as-of", "DATE",
         "the date the record is read at: ages, what is current, nothing dated after it (default: "
         "today, UTC)"},
        {"--patient", "ID", "the Patient to map when the Bundle holds several"},
        {"--report", "FILE", "write the mapping report (JSON) here"},
        kLimit},
       {},
       {"stimrank from-fhir --report report.json bundle.json"}},
      {"serve",
       "the CDS Hooks service",
       {"[--rules PATH] [--host ADDR] [--port N] [--threads N] [--public-url URL] [--audit DB]\n"
        "               (--issuer ISS --jwks FILE)... | --allow-unauthenticated"},
       "Serves CDS Hooks 2.0 (docs/cds-hooks.md): discovery, patient-view and order "
       "services, feedback and explanation pages. Bearer tokens are verified against each "
       "issuer's JWKS; without one the server refuses to start unless "
       "--allow-unauthenticated. SIGTERM finishes requests in flight and exits 0.",
       {kRules,
        {"--host", "ADDR", "address to listen on (default: 127.0.0.1)"},
        {"--port", "N", "port (default: 8080; 0: any free port)"},
        {"--threads", "N", "request threads (default: all cores)"},
        {"--public-url", "URL", "the service's base URL as the EHR calls it (token audience)"},
        {"--issuer", "ISS", "a trusted token issuer; pair each with --jwks"},
        {"--jwks", "FILE", "the issuer's JSON Web Key Set"},
        {"--allow-unauthenticated", "", "accept calls without tokens (loopback only)"},
        {"--audit", "DB", "record evaluations and feedback in this audit trail"},
        {"--audit-key-file", "FILE", "the key pseudonymising patient ids (or $STIMRANK_AUDIT_KEY)"},
        kLimit},
       {},
       {"stimrank serve --port 8080 --issuer https://ehr.example --jwks ehr-jwks.json"}},
      {"publish",
       "store a rule set, by name and version, in a registry",
       {"--db FILE [--rules PATH] [--author NAME] [--note TEXT] [--format text|json]"},
       "Stores every source file of the rule set with its digest in a SQLite registry; a "
       "version once published is never changed. Load it with --rules db:FILE#name@version.",
       {{"--db", "FILE", "the registry (SQLite; created if missing)"},
        kRules,
        {"--author", "NAME", "who publishes"},
        {"--note", "TEXT", "why"},
        kLimit},
       {"text", "json"},
       {"stimrank publish --db registry.sqlite --author 'A. Author' --note 'EAN 2024 update'"}},
      {"versions",
       "the rule sets of a registry",
       {"--db FILE [--format text|json]"},
       "Lists every published rule set and version with its digest, date, files, author and "
       "note; exit 1 when one can no longer be loaded.",
       {{"--db", "FILE", "the registry"}},
       {"text", "json"},
       {"stimrank versions --db registry.sqlite"}},
      {"batch",
       "evaluate a SQLite cohort, resumably",
       {"--db COHORT.sqlite [--rules PATH] [--threads N] [--chunk N] [--store summary|full]\n"
        "               [--format text|json]"},
       "Evaluates every profile of the cohort database's `profiles` table that has no result "
       "yet, in chunks; a batch stopped at any point resumes where it stopped. --store full "
       "keeps each explained result; the default keeps a summary per option.",
       {{"--db", "FILE", "the cohort database"},
        kRules,
        {"--threads", "N", "worker threads (default: all cores)"},
        {"--chunk", "N", "profiles per transaction (default: 1000)"},
        {"--store", "summary|full", "what is stored per profile (default: summary)"},
        kLimit},
       {"text", "json"},
       {"stimrank batch --db cohort.sqlite --threads 4"}},
      {"audit",
       "verify an audit trail",
       {"verify --db FILE [--format text|json]"},
       "Checks the hash chain of every record of an audit trail; exit 1 at the first broken "
       "record.",
       {{"--db", "FILE", "the audit trail"}},
       {"text", "json"},
       {"stimrank audit verify --db audit.sqlite"}},
      {"lsp",
       "the language server for editors (stdio)",
       {"[--debounce MS]"},
       "Speaks the Language Server Protocol on stdin and stdout for .rules files and vignette "
       "test files: diagnostics (parse, check, lint, failing test cases), hover, go to "
       "definition, references, completion, formatting, did-you-mean fixes and a `run this "
       "case` lens. Editors start it; docs/editors.md shows VS Code, Neovim and Emacs.",
       {{"--debounce", "MS", "wait this long after the last edit before diagnostics (default 150)"},
        kLimit},
       {},
       {"stimrank lsp"}},
      {"help",
       "help on a command",
       {"[COMMAND]"},
       "The same as `stimrank COMMAND --help`.",
       {},
       {},
       {"stimrank help evaluate"}},
      {"version",
       "the version",
       {""},
       "Prints `stimrank VERSION` (also -V, --version).",
       {},
       {},
       {"stimrank --version"}},
      {"completion",
       "shell completion",
       {"bash"},
       "Prints a bash completion script (installed as "
       "share/bash-completion/completions/stimrank).",
       {},
       {},
       {"source <(stimrank completion bash)"}},
  };
  for (CommandSpec& c : all) {
    if (!c.formats.empty()) c.options.insert(c.options.begin(), format_option(c.formats));
    c.options.push_back(kHelp);
  }
  return all;
}

std::vector<std::string> names_of(const std::vector<CommandSpec>& all) {
  std::vector<std::string> names;
  for (const CommandSpec& c : all) names.push_back(c.name);
  return names;
}

// roff text: a leading dot or quote would be a request, a backslash an escape.
std::string roff(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else
      out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

// Wraps `text` at `width`, each line after the first indented by `indent`.
std::string wrap(const std::string& text, std::size_t width, const std::string& indent) {
  std::string out, line;
  std::size_t from = 0;
  while (from < text.size()) {
    std::size_t space = text.find(' ', from);
    if (space == std::string::npos) space = text.size();
    const std::string word = text.substr(from, space - from);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = indent;
    } else if (!line.empty() && line != indent) {
      line += ' ';
    }
    line += word;
    from = space + 1;
  }
  return out + line;
}

}  // namespace

const std::vector<CommandSpec>& commands() {
  static const std::vector<CommandSpec> all = build();
  return all;
}

const CommandSpec* find_command(const std::string& name) {
  for (const CommandSpec& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

const OptionSpec* find_option(const CommandSpec& command, const std::string& flag) {
  for (const OptionSpec& o : command.options)
    if (o.flag == flag) return &o;
  return nullptr;
}

std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
  return stimrank::rules::did_you_mean(word, candidates);
}

std::string global_help() {
  std::string out =
      "stimrank: ranked, explained neuromodulation options for chronic neuropathic pain\n\n"
      "usage: stimrank COMMAND [OPTIONS]\n\ncommands:\n";
  for (const CommandSpec& c : commands()) {
    std::string name = "  " + c.name;
    name.resize(14, ' ');
    out += name + c.summary + "\n";
  }
  out +=
      "\n`stimrank COMMAND --help` gives a command's options and examples; "
      "`man stimrank` all of them.\n"
      "Environment: STIMRANK_RULES (the default rule set), STIMRANK_AUDIT_KEY, NO_COLOR.\n"
      "Exit codes: 0 success, 1 rule or input errors, 2 usage errors.\n";
  return out;
}

std::string command_help(const CommandSpec& command) {
  std::string out = command.summary + "\n\nusage:";
  for (const std::string& line : command.synopsis)
    out += "\n  stimrank " + command.name + (line.empty() ? "" : " " + line);
  out += "\n\n" + wrap(command.description, 80, "") + "\n";
  if (!command.options.empty()) {
    out += "\noptions:\n";
    for (const OptionSpec& o : command.options) {
      std::string left = "  " + o.flag + (o.value.empty() ? "" : " " + o.value);
      if (left.size() < 26)
        left.resize(26, ' ');
      else
        left += "\n" + std::string(26, ' ');
      std::string help = wrap(o.help, 54, "");
      for (std::size_t at = 0; (at = help.find('\n', at)) != std::string::npos; at += 27)
        help.insert(at + 1, std::string(26, ' '));
      out += left + help + "\n";
    }
  }
  if (!command.examples.empty()) {
    out += "\nexamples:\n";
    for (const std::string& e : command.examples) out += "  " + e + "\n";
  }
  return out;
}

std::string man_page(const std::string& version) {
  std::string out = ".TH STIMRANK 1 \"\" \"stimrank " + version +
                    "\" \"User Commands\"\n"
                    ".SH NAME\nstimrank \\- ranked, explained neuromodulation options for "
                    "chronic neuropathic pain\n"
                    ".SH SYNOPSIS\n.B stimrank\n.I COMMAND\n[\\fIOPTIONS\\fR]\n"
                    ".SH DESCRIPTION\nA clinical decision-support rules engine: guideline "
                    "authors write rule sets; stimrank evaluates patient profiles into a "
                    "ranked list of options, each traced to its rules, sources and DOIs.\n"
                    ".SH COMMANDS\n";
  for (const CommandSpec& c : commands()) {
    out += ".SS " + c.name + "\n" + roff(c.summary) + ".\n";
    for (const std::string& line : c.synopsis)
      out += ".br\n.B stimrank " + c.name + "\n" + roff(line) + "\n";
    out += ".PP\n" + roff(c.description) + "\n";
    for (const OptionSpec& o : c.options)
      out += ".TP\n.B " + roff(o.flag) + (o.value.empty() ? "" : " \\fI" + roff(o.value) + "\\fR") +
             "\n" + roff(o.help) + "\n";
    for (const std::string& e : c.examples) out += ".PP\n.EX\n" + roff(e) + "\n.EE\n";
  }
  out +=
      ".SH ENVIRONMENT\n.TP\n.B STIMRANK_RULES\nThe rule set used when \\-\\-rules is not given "
      "and the current folder holds no .rules files.\n.TP\n.B STIMRANK_AUDIT_KEY\nThe key "
      "pseudonymising patient ids in audit trails.\n.TP\n.B NO_COLOR\nWhen set, diagnostics "
      "are never coloured.\n"
      ".SH EXIT STATUS\n0 success, 1 rule or input errors, 2 usage errors.\n"
      ".SH SEE ALSO\nThe docs/ folder of the source: language.md, cli.md, profile.md, fhir.md, "
      "cds\\-hooks.md.\n";
  return out;
}

std::string bash_completion() {
  std::string out =
      "# bash completion for stimrank (generated by `stimrank completion bash`)\n"
      "_stimrank() {\n"
      "  local cur prev words cword\n"
      "  _init_completion || return\n"
      "  if [[ $cword -eq 1 ]]; then\n"
      "    COMPREPLY=($(compgen -W '";
  for (const std::string& name : names_of(commands())) out += name + " ";
  out +=
      "--help --version' -- \"$cur\"))\n"
      "    return\n"
      "  fi\n"
      "  case $prev in\n"
      "    --format)\n"
      "      case ${words[1]} in\n";
  for (const CommandSpec& c : commands()) {
    if (c.formats.empty()) continue;
    out += "        " + c.name + ") COMPREPLY=($(compgen -W '";
    for (const std::string& f : c.formats) out += f + " ";
    out += "' -- \"$cur\")) ;;\n";
  }
  out +=
      "      esac\n"
      "      return ;;\n"
      "    --rules|--fhir-bulk) _filedir -d; [[ $prev == --rules ]] && _filedir rules; return ;;\n"
      "    --jsonl|--fhir|--db|--audit|--stats|--report|--audit-key-file|--jwks|--cohort)\n"
      "      _filedir; return ;;\n"
      "    --threads|--port|--chunk|--min|--host|--public-url|--issuer|--patient|--as-of|"
      "--author|--note|--option|--limit|--disable|--store|--max-changes)\n"
      "      return ;;\n"
      "  esac\n"
      "  if [[ $cur == -* ]]; then\n"
      "    case ${words[1]} in\n";
  for (const CommandSpec& c : commands()) {
    out += "      " + c.name + ") COMPREPLY=($(compgen -W '";
    for (const OptionSpec& o : c.options) out += o.flag + " ";
    out += "' -- \"$cur\")) ;;\n";
  }
  out +=
      "    esac\n"
      "    return\n"
      "  fi\n"
      "  case ${words[1]} in\n"
      "    help) COMPREPLY=($(compgen -W '";
  for (const std::string& name : names_of(commands())) out += name + " ";
  out +=
      "' -- \"$cur\")) ;;\n"
      "    completion) COMPREPLY=($(compgen -W 'bash' -- \"$cur\")) ;;\n"
      "    audit) [[ $cword -eq 2 ]] && COMPREPLY=($(compgen -W 'verify' -- \"$cur\")) ;;\n"
      "    fmt|check|lint) _filedir rules ;;\n"
      "    *) _filedir ;;\n"
      "  esac\n"
      "} &&\n"
      "  complete -F _stimrank stimrank\n";
  return out;
}

}  // namespace cli
