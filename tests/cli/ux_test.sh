#!/usr/bin/env bash
# The command line as a new user meets it (issue 25): per-command help, short usage
# errors with did-you-mean, machine-readable output for every reporting command (JSON,
# SARIF), fmt on stdin and with --diff, the author's own folder as the default rule
# set, the profile schema, the man page and bash completion.
set -uo pipefail
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
ROOT="$2"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
run() {  # run CODE description command...: stdout in $TMP/out, stderr in $TMP/err
  local want="$1" what="$2"; shift 2
  "$@" > "$TMP/out" 2> "$TMP/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "$what: exit $got, expected $want ($(head -c 300 "$TMP/err"))"
}
json_ok() {  # json_ok FILE description: the file is one JSON document
  /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2> /dev/null || fail "$2: not JSON ($(head -c 200 "$1"))"
}
PROFILE="$ROOT/examples/profiles/phn_focal_elderly.json"

# Help: per command, with options and an example; the global help lists commands.
run 0 "evaluate --help" "$BIN" evaluate --help
grep -q "^usage:" "$TMP/out" && grep -q -- "--jsonl FILE|-" "$TMP/out" && grep -q "^examples:" "$TMP/out" ||
  fail "evaluate --help is the command's own help"
grep -q "publish" "$TMP/out" && fail "evaluate --help lists other commands"
run 0 "help lint" "$BIN" help lint
grep -q -- "--disable CHECK" "$TMP/out" || fail "help lint"
run 0 "--help" "$BIN" --help
for c in evaluate check lint test fmt explain schema serve; do
  grep -q "^  $c " "$TMP/out" || fail "--help lists $c"
done
run 0 "-V" "$BIN" -V
grep -q "^stimrank [0-9]" "$TMP/out" || fail "-V prints the version"

# Usage errors: two lines, a pointer to --help, did-you-mean.
run 2 "misspelt command" "$BIN" evalute x.json
grep -q "did you mean \`evaluate\`" "$TMP/err" || fail "did-you-mean for a command ($(cat "$TMP/err"))"
[ "$(wc -l < "$TMP/err")" -le 2 ] || fail "a usage error is short ($(wc -l < "$TMP/err") lines)"
grep -q "stimrank evalute --help\|stimrank --help" "$TMP/err" || fail "the usage error points at --help"
run 2 "misspelt option" "$BIN" evaluate --jsnl x
grep -q "did you mean \`--jsonl\`" "$TMP/err" || fail "did-you-mean for an option ($(cat "$TMP/err"))"
grep -q "stimrank evaluate --help" "$TMP/err" || fail "the usage error points at the command's help"
run 2 "another command's option" "$BIN" check --cohort x
grep -q "an option of \`stimrank diff\`" "$TMP/err" || fail "names the command an option belongs to"
for c in check lint test explain table diff coverage versions; do
  run 2 "$c with an unsupported format" "$BIN" $c --format yaml
  grep -q "format. takes" "$TMP/err" || fail "$c --format yaml is a usage error ($(cat "$TMP/err"))"
done
run 2 "tsv for one profile" "$BIN" evaluate --format tsv "$PROFILE"
# An input that cannot be read says why.
run 1 "evaluate a folder" "$BIN" evaluate "$TMP"
grep -q "cannot read \`$TMP\`: it is a folder" "$TMP/err" || fail "a folder is named as one ($(cat "$TMP/err"))"
run 1 "evaluate --jsonl a folder" "$BIN" evaluate --jsonl "$TMP"
grep -q "cannot read \`$TMP\`: it is a folder" "$TMP/err" || fail "--jsonl names a folder as one ($(cat "$TMP/err"))"
run 1 "evaluate a missing file" "$BIN" evaluate "$TMP/missing.json"
grep -q "cannot read \`$TMP/missing.json\`: No such file or directory" "$TMP/err" || fail "a missing file says so ($(cat "$TMP/err"))"
# An option given twice would keep only its last value: refused, but for those that add up.
run 2 "an option given twice" "$BIN" evaluate --jsonl a.jsonl --jsonl b.jsonl
grep -q "\`--jsonl\` is given twice; give it once" "$TMP/err" || fail "a repeated option is named ($(cat "$TMP/err"))"
run 2 "--threads out of range" "$BIN" evaluate --threads 0 --jsonl a.jsonl
grep -q "from 1 to 9999" "$TMP/err" || fail "--threads says its range ($(cat "$TMP/err"))"
run 0 "--limit adds up" "$BIN" evaluate --limit profile-bytes=100000 --limit profile-depth=20 "$PROFILE"

# Machine-readable output.
run 0 "check --format json" "$BIN" check --format json
json_ok "$TMP/out" "check --format json"
grep -q '"errors": 0' "$TMP/out" || fail "check json counts errors"
cat > "$TMP/broken.rules" <<'RULES'
ruleset "broken" version "1";
source s "S" doi "10.1/s";
facts { age: int 0..130; }
option o "O" {
  invasiveness noninvasive;
  indication a when agee >= 3 weight 1 source s because "a";
}
RULES
run 1 "check --format json, broken" "$BIN" check --rules "$TMP/broken.rules" --format json
json_ok "$TMP/out" "check json of a broken rule set"
/usr/bin/python3 - "$TMP/out" "$TMP/broken.rules" <<'PY' || fail "check json: the diagnostic's fields"
import json, sys
d = json.load(open(sys.argv[1]))
first = [x for x in d["diagnostics"] if x["severity"] == "error"][0]
assert first["file"] == sys.argv[2] and first["line"] == 6 and first["column"] > 1, first
assert first["code"].startswith("E") and "agee" in first["message"], first
assert first["hints"] and "age" in first["hints"][0], first
assert first["end"]["line"] == 6, first
assert d["errors"] >= 1
PY
run 1 "check --format sarif, broken" "$BIN" check --rules "$TMP/broken.rules" --format sarif
/usr/bin/python3 - "$TMP/out" <<'PY' || fail "check sarif"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["version"] == "2.1.0"
run = s["runs"][0]
assert run["tool"]["driver"]["name"] == "stimrank"
r = run["results"][0]
assert r["level"] == "error" and r["ruleId"] == run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"]
region = r["locations"][0]["physicalLocation"]["region"]
assert region["startLine"] == 6
PY
run 0 "lint --format sarif" "$BIN" lint --format sarif
json_ok "$TMP/out" "lint sarif"
run 0 "lint --list --format json" "$BIN" lint --list --format json
json_ok "$TMP/out" "lint --list json"
run 0 "test --format json" "$BIN" test --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["passed"] > 100 and d["failed"] == 0' "$TMP/out" || fail "test json"
run 0 "coverage --format json" "$BIN" coverage --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["rules"] and 0 < d["percent"] <= 100' "$TMP/out" || fail "coverage json"
run 0 "table --format json" "$BIN" table --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["options"]) > 10 and d["rules"][0]["doi"] is not None' "$TMP/out" || fail "table json"
run 0 "explain --format json --option" "$BIN" explain --format json --option scs_tonic "$PROFILE"
/usr/bin/python3 -c '
import json,sys
d = json.load(open(sys.argv[1]))
assert d["option"] == "scs_tonic" and d["result"]["options"]
assert "scs_tonic" in d["explanation"] and "\ntens_conventional —" not in d["explanation"]' "$TMP/out" || fail "explain json for one option"
run 1 "explain an unknown option" "$BIN" explain --option scs_tonc "$PROFILE"
grep -q "did you mean \`scs_tonic\`" "$TMP/err" || fail "explain --option suggests ($(cat "$TMP/err"))"
head -c 100 "$ROOT/examples/profiles/phn_focal_elderly.json" > /dev/null
echo '{"id":"x","age":"old"}' > "$TMP/bad.json"
run 1 "one invalid profile, json" "$BIN" evaluate "$TMP/bad.json"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["errors"][0]["path"] == "/age"' "$TMP/out" || fail "the error object on stdout ($(cat "$TMP/out"))"
mkdir -p "$TMP/a" "$TMP/b"; cp -r "$ROOT/knowledge/." "$TMP/a/"; cp -r "$ROOT/knowledge/." "$TMP/b/"
printf '{"id":"p1","age":70,"conditions":["postherpetic_neuralgia"]}\n' > "$TMP/cohort.jsonl"
run 0 "diff --format json" "$BIN" diff "$TMP/a" "$TMP/b" --cohort "$TMP/cohort.jsonl" --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["profiles"] == 1 and d["changed_profiles"] == 0' "$TMP/out" || fail "diff json"

# fmt: stdin to stdout, --check, --diff; nothing written that was not read.
printf 'ruleset "x" version "1";\nsource s "S" doi "10.1/s";\nfacts {   age: int; }\n' > "$TMP/messy.rules"
run 0 "fmt -" "$BIN" fmt - < "$TMP/messy.rules"
grep -q "^facts {" "$TMP/out" || fail "fmt - writes the formatted text on stdout"
[ -e "$TMP/-" ] || [ -e ./- ] && fail "fmt - wrote a file named -"
run 1 "fmt --check -" "$BIN" fmt --check - < "$TMP/messy.rules"
run 1 "fmt --diff" "$BIN" fmt --diff "$TMP/messy.rules"
grep -q "^--- a/.*messy.rules" "$TMP/out" && grep -q "^+facts {" "$TMP/out" || fail "fmt --diff prints a unified diff ($(head -c 300 "$TMP/out"))"
grep -q "   age" "$TMP/messy.rules" || fail "fmt --diff changed the file"
"$BIN" fmt - < "$TMP/messy.rules" > "$TMP/clean.rules"
run 0 "fmt --check - on formatted text" "$BIN" fmt --check - < "$TMP/clean.rules"

# The author's folder is the default rule set, and the command says so.
mkdir -p "$TMP/guideline"
cp "$TMP/broken.rules" "$TMP/guideline/mine.rules"
(cd "$TMP/guideline" && "$BIN" check > "$TMP/out" 2> "$TMP/err"); code=$?
[ "$code" -eq 1 ] || fail "check in an author's folder checks the author's files (exit $code)"
grep -q "current folder" "$TMP/err" && grep -q "mine.rules" "$TMP/err" || fail "check says which rule set ($(head -c 300 "$TMP/err"))"
# Evaluating patients never depends on the folder it was started in.
(cd "$TMP/guideline" && "$BIN" evaluate "$PROFILE" > "$TMP/out" 2> "$TMP/err") ||
  fail "evaluate in an author's folder uses the configured rule set, not the folder's"
(cd "$TMP/guideline" && "$BIN" fmt --check > "$TMP/out" 2> "$TMP/err"); code=$?
grep -q "mine.rules" "$TMP/out" "$TMP/err" || fail "fmt in an author's folder reads the author's files"

# The profile schema a rule set expects.
run 0 "schema" "$BIN" schema
/usr/bin/python3 - "$TMP/out" <<'PY' || fail "schema: the fields and their types"
import json, sys
s = json.load(open(sys.argv[1]))
p = s["properties"]
assert s["required"] == ["id"] and s["additionalProperties"] is False
assert p["age"] == {"type": "integer", "minimum": 0, "maximum": 130}, p["age"]
assert p["pregnant"] == {"type": "boolean"}
item = p["conditions"]["items"]["oneOf"][1]
assert set(item["properties"]["system"]["enum"]) == {"icd10cm", "icd10", "snomed", "local"}
assert item["properties"]["present"]["type"] == "boolean"
# an entry whose code is not known (the drug of a record's medication): its text alone
uncoded = p["medications"]["items"]["oneOf"][2]
assert uncoded["required"] == ["display"] and set(uncoded["properties"]) == {"display"}, uncoded
assert p["treatments"]["items"]["required"] == ["response"]
# a set of labels: a list, or open ({"present": [...], "complete": false})
plain, open_set = p["devices"]["oneOf"]
assert plain["type"] == "array" and "cardiac_pacemaker" in plain["items"]["enum"], plain
assert open_set["required"] == ["present", "complete"] and open_set["properties"]["present"] == plain, open_set
assert "postherpetic_neuralgia" in s["x-concepts"]
PY

# The repository's copy of the profile schema is the contract's (where the contract is
# beside the clone, as in this project's workspace).
CONTRACT="$ROOT/../shared/contracts/profile.schema.json"
if [ -f "$CONTRACT" ]; then
  cmp -s "$CONTRACT" "$ROOT/docs/profile.schema.json" || fail "docs/profile.schema.json differs from the contract"
fi
# An unknown concept id: a warning with a suggestion.
echo '{"id":"x","conditions":["postherpetic_neuralgiaa"]}' | "$BIN" evaluate - > "$TMP/out" 2> "$TMP/err"
grep -q "did you mean .postherpetic_neuralgia." "$TMP/out" || fail "unknown concept id: a suggestion"

# Man page and bash completion, from the same descriptions.
run 0 "help --man" "$BIN" help --man
grep -q "^\.TH STIMRANK 1" "$TMP/out" && grep -q "^\.SS evaluate" "$TMP/out" || fail "the man page"
if command -v man > /dev/null; then
  MANWIDTH=80 man -l "$TMP/out" > "$TMP/man.txt" 2> "$TMP/man.err" || fail "man renders the page ($(head -c 200 "$TMP/man.err"))"
fi
run 0 "completion bash" "$BIN" completion bash
bash -n "$TMP/out" || fail "the completion script is valid bash"
if [ -f /usr/share/bash-completion/bash_completion ]; then
  /usr/bin/env bash -c '
    source /usr/share/bash-completion/bash_completion
    source "$1"
    COMP_WORDS=(stimrank eval); COMP_CWORD=1; COMP_LINE="stimrank eval"; COMP_POINT=${#COMP_LINE}
    _stimrank; [ "${COMPREPLY[*]}" = "evaluate" ] || { echo "got ${COMPREPLY[*]}"; exit 1; }
    COMP_WORDS=(stimrank check --format ""); COMP_CWORD=3; COMP_LINE="stimrank check --format "; COMP_POINT=${#COMP_LINE}
    _stimrank; [ "${COMPREPLY[*]}" = "text json sarif" ] || { echo "got ${COMPREPLY[*]}"; exit 1; }' _ "$TMP/out" ||
    fail "bash completion completes commands and formats"
fi

# Colour: never when NO_COLOR is set or output is not a terminal.
NO_COLOR=1 "$BIN" check --rules "$TMP/broken.rules" 2> "$TMP/err" > /dev/null
grep -q $'\033' "$TMP/err" && fail "NO_COLOR: no escape codes"
if command -v script > /dev/null; then
  TERM=xterm script -qec "$BIN check --rules $TMP/broken.rules" /dev/null > "$TMP/tty.txt" 2>&1
  grep -q $'\033\[1;31merror' "$TMP/tty.txt" || fail "colour on a terminal"
  NO_COLOR=1 TERM=xterm script -qec "$BIN check --rules $TMP/broken.rules" /dev/null > "$TMP/tty.txt" 2>&1
  grep -q $'\033\[1;31m' "$TMP/tty.txt" && fail "NO_COLOR on a terminal"
fi

# versions has a header and JSON.
"$BIN" publish --db "$TMP/reg.db" > /dev/null 2>&1 || fail "publish"
run 0 "versions" "$BIN" versions --db "$TMP/reg.db"
head -1 "$TMP/out" | grep -q "^name	version	digest" || fail "versions header"
run 0 "versions json" "$BIN" versions --db "$TMP/reg.db" --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[0]["name"] == "neuromodulation-neuropathic-pain"' "$TMP/out" || fail "versions json"

# test without test files says where it looked.
printf 'ruleset "x" version "1";\nsource s "S" doi "10.1/s";\nfacts { age: int 0..130; }\n' > "$TMP/lonely.rules"
run 1 "test without test files" "$BIN" test --rules "$TMP/lonely.rules"
grep -q "no test files given, and the rule set has no .*tests. folder" "$TMP/out" || fail "test names the folder it looked for ($(cat "$TMP/out"))"

# batch: an empty cohort is an error with a hint; --store picks what is kept.
/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE profiles (id TEXT PRIMARY KEY, profile TEXT NOT NULL)"); c.commit()' "$TMP/empty.db"
run 1 "batch on an empty cohort" "$BIN" batch --db "$TMP/empty.db"
grep -q "no profiles.*profiles. table" "$TMP/err" || fail "an empty cohort says what to do ($(cat "$TMP/err"))"
/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("INSERT INTO profiles VALUES (?, ?)", ("p1", open(sys.argv[2]).read())); c.commit()' "$TMP/empty.db" "$PROFILE"
run 0 "batch --store full" "$BIN" batch --db "$TMP/empty.db" --store full
/usr/bin/python3 -c 'import sqlite3,sys,json; r=sqlite3.connect(sys.argv[1]).execute("SELECT stored, result_json FROM results").fetchone(); assert r[0] == "full" and json.loads(r[1])["options"][0]["reasons"]' "$TMP/empty.db" || fail "batch --store full keeps the whole result"
run 2 "batch --store everything" "$BIN" batch --db "$TMP/empty.db" --store everything
run 0 "publish --format json" "$BIN" publish --db "$TMP/reg.db" --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["already_published"] is True and d["digest"].startswith("sha256:")' "$TMP/out" || fail "publish json"
run 0 "batch --format json" "$BIN" batch --db "$TMP/empty.db" --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["total"] == 1 and d["already_done"] == 1' "$TMP/out" || fail "batch json"
STIMRANK_AUDIT_KEY=ux-test-key-0123456789 "$BIN" evaluate --audit "$TMP/audit.db" "$PROFILE" > /dev/null 2>&1
run 0 "audit verify --format json" "$BIN" audit verify --db "$TMP/audit.db" --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is True and d["records"] == 1' "$TMP/out" || fail "audit verify json"

[ "$failures" -eq 0 ] && echo "all UX checks passed"
exit $((failures > 0))
